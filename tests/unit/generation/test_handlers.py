"""The generation handlers on in-memory fakes of storage, provider and publisher: one paid job per model
and inputs, republish on redelivery, failures with reasons. tests/integration/generation runs the same
handlers against SeaweedFS, the local reconstructor and a Tencent-protocol server."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import trimesh
from PIL import Image

from photo3d_common.events import (
    VIEWS,
    BackgroundRemoved,
    GenerationOptions,
    GenerationRequested,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    Stage,
)
from photo3d_common.storage import cutout_key
from photo3d_common.wiring import inject_dependencies
from photo3d_generation import handlers
from photo3d_generation.bootstrap import Deps
from photo3d_generation.jobs import JobRecord, JobStore
from photo3d_generation.providers.base import GenerationInputs, JobHandle
from photo3d_generation.providers.errors import ProviderJobFailed
from photo3d_generation.providers.local import LocalReconstructionProvider, LocalSettings
from photo3d_generation.settings import GenerationServiceSettings
from tests.fakes.ports import InMemoryProvider, InMemoryStorage, RecordingPublisher, png
from tests.support.solids import chair, cutouts, with_backdrop_block


def _deps(provider: InMemoryProvider | None = None) -> Deps:
    storage = InMemoryStorage()
    return Deps(
        storage=storage,
        jobs=JobStore(storage),
        providers={"fake": provider or InMemoryProvider()},
        publish=RecordingPublisher(),
        settings=GenerationServiceSettings(preview_size=64),
    )


async def _cutouts(deps: Deps, model_id: uuid.UUID) -> dict:
    keys = {view: cutout_key(model_id, view) for view in VIEWS}
    for key in keys.values():
        await deps.storage.put_bytes(key, png(), content_type="image/png")
    return keys


def _removed(model_id: uuid.UUID, keys: dict, provider: str | None = "fake") -> BackgroundRemoved:
    return BackgroundRemoved(
        model_id=model_id, producer="test", cutout_keys=keys, source_fingerprint="f", provider=provider
    )


async def test_a_provider_job_is_stored_as_assets_and_announced():
    provider = InMemoryProvider()
    deps, model_id = _deps(provider), uuid.uuid4()
    keys = await _cutouts(deps, model_id)

    await inject_dependencies(handlers.on_background_removed, deps)(_removed(model_id, keys))

    started = deps.publish.of(GenerationStarted)
    assert [(s.provider, s.resumed) for s in started] == [("fake", False)]
    (done,) = deps.publish.of(ModelGenerated)
    assert deps.publish[-1] is done and done.job_id == "job-1"
    assert {"glb", "obj", "stl", "preview"} <= set(done.asset_keys)
    glb = await deps.storage.head(done.asset_keys["glb"])
    assert glb is not None and glb.content_type == "model/gltf-binary" and glb.size == done.file_sizes["glb"]
    stored = trimesh.load(io.BytesIO(await deps.storage.get_bytes(done.asset_keys["glb"])), file_type="glb")
    assert sum(len(mesh.faces) for mesh in stored.dump()) == done.face_count


async def test_a_redelivered_event_republishes_and_never_pays_twice():
    provider = InMemoryProvider()
    deps, model_id = _deps(provider), uuid.uuid4()
    keys = await _cutouts(deps, model_id)
    await inject_dependencies(handlers.on_background_removed, deps)(_removed(model_id, keys))

    await inject_dependencies(handlers.on_generation_requested, deps)(
        GenerationRequested(
            model_id=model_id, producer="test", cutout_keys=keys, provider="fake", requested_by="a"
        )
    )

    assert len(provider.submitted) == 1
    first, second = deps.publish.of(ModelGenerated)
    assert second.asset_keys == first.asset_keys and second.job_id == first.job_id


async def test_a_provider_that_is_not_enabled_fails_with_what_to_do():
    deps, model_id = _deps(), uuid.uuid4()
    keys = await _cutouts(deps, model_id)

    await inject_dependencies(handlers.on_background_removed, deps)(_removed(model_id, keys, "tencent"))

    (failed,) = deps.publish
    assert isinstance(failed, ModelFailed) and failed.stage is Stage.GENERATION
    assert failed.error_code == "provider_not_enabled" and failed.retryable is False


async def test_a_missing_cutout_fails_with_what_to_do():
    deps, model_id = _deps(), uuid.uuid4()
    keys = await _cutouts(deps, model_id)
    await deps.storage.delete_keys([keys["back"]])

    await inject_dependencies(handlers.on_background_removed, deps)(_removed(model_id, keys))

    (failed,) = deps.publish
    assert isinstance(failed, ModelFailed) and failed.error_code == "cutout_missing"
    assert "back cut-out is missing" in failed.reason


async def test_a_failed_job_is_forgotten_so_a_rerun_submits_anew():
    provider = InMemoryProvider(fail_with=ProviderJobFailed("InvalidImage", "no object", provider="fake"))
    deps, model_id = _deps(provider), uuid.uuid4()
    keys = await _cutouts(deps, model_id)
    handle = inject_dependencies(handlers.on_background_removed, deps)
    await handle(_removed(model_id, keys))
    (failed,) = deps.publish.of(ModelFailed)
    assert failed.error_code == "provider_job_failed" and failed.retryable is False
    assert "no object" in failed.reason

    provider.fail_with = None
    await handle(_removed(model_id, keys))

    assert [h.job_id for h in provider.submitted] == ["job-1", "job-2"]
    (done,) = deps.publish.of(ModelGenerated)
    assert done.job_id == "job-2"


async def _hung_job_past_its_deadline(deps: Deps, model_id: uuid.UUID, keys: dict) -> str:
    """An earlier run's job, remembered, that never finishes and is older than the provider's deadline."""
    provider = deps.providers["fake"]
    assert isinstance(provider, InMemoryProvider)
    images = {view: await deps.storage.get_bytes(key) for view, key in keys.items()}
    fingerprint = provider.fingerprint(GenerationInputs(images=images, options=GenerationOptions()))
    submitted_at = datetime.now(UTC) - timedelta(seconds=provider.default_deadline_s + 1)
    await deps.jobs.save(
        model_id,
        fingerprint,
        JobRecord(handle=JobHandle(provider="fake", job_id="hung", submitted_at=submitted_at)),
    )
    provider.hung_jobs.add("hung")
    return fingerprint


async def test_a_users_rerun_replaces_a_remembered_job_that_outlived_its_deadline():
    provider = InMemoryProvider()
    deps, model_id = _deps(provider), uuid.uuid4()
    keys = await _cutouts(deps, model_id)
    fingerprint = await _hung_job_past_its_deadline(deps, model_id, keys)

    rerun = GenerationRequested(
        model_id=model_id, producer="test", cutout_keys=keys, provider="fake", requested_by="user-1"
    )
    await inject_dependencies(handlers.on_generation_requested, deps)(rerun)

    assert [h.job_id for h in provider.submitted] == ["job-1"]
    (done,) = deps.publish.of(ModelGenerated)
    assert done.job_id == "job-1" and not deps.publish.of(ModelFailed)
    record = await deps.jobs.load(model_id, fingerprint)
    assert record is not None and record.completed and record.handle.job_id == "job-1"


async def test_a_redelivered_trigger_times_out_on_an_expired_job_and_forgets_it():
    provider = InMemoryProvider()
    deps, model_id = _deps(provider), uuid.uuid4()
    keys = await _cutouts(deps, model_id)
    fingerprint = await _hung_job_past_its_deadline(deps, model_id, keys)

    await inject_dependencies(handlers.on_background_removed, deps)(_removed(model_id, keys))

    assert provider.submitted == []  # no new paid job without a user's re-run
    (failed,) = deps.publish.of(ModelFailed)
    assert failed.error_code == "provider_timeout" and failed.retryable
    assert await deps.jobs.load(model_id, fingerprint) is None


async def test_forgetting_a_job_keeps_a_newer_one_of_the_same_inputs():
    storage = InMemoryStorage()
    jobs, model_id = JobStore(storage), uuid.uuid4()
    newer = JobHandle(provider="fake", job_id="newer", submitted_at=datetime.now(UTC))
    await jobs.save(model_id, "inputs", JobRecord(handle=newer))

    await jobs.discard(model_id, "inputs", job_id="older")
    record = await jobs.load(model_id, "inputs")
    assert record is not None and record.handle.job_id == "newer"

    await jobs.discard(model_id, "inputs", job_id="newer")
    assert await jobs.load(model_id, "inputs") is None


def _local_deps() -> Deps:
    storage = InMemoryStorage()
    local = LocalReconstructionProvider(
        LocalSettings(voxel_resolution=32, smoothing_iterations=0, texture_size=0)
    )
    return Deps(
        storage=storage,
        jobs=JobStore(storage),
        providers={"local": local},
        publish=RecordingPublisher(),
        settings=GenerationServiceSettings(preview_size=64),
    )


async def test_the_local_reconstructors_reason_reaches_the_user():
    deps, model_id = _local_deps(), uuid.uuid4()
    keys = await _cutouts(deps, model_id)
    await deps.storage.put_bytes(keys["left"], png(colour=(0, 0, 0, 0)), content_type="image/png")  # empty

    await inject_dependencies(handlers.on_background_removed, deps)(
        _removed(model_id, keys, provider="local")
    )

    (failed,) = deps.publish.of(ModelFailed)
    assert failed.stage is Stage.GENERATION and not failed.retryable
    assert failed.error_code == "empty_silhouette" and "left" in failed.reason


async def test_what_the_local_reconstructor_noticed_reaches_the_users_page():
    deps, model_id = _local_deps(), uuid.uuid4()
    photos = cutouts(chair())
    photos["left"] = with_backdrop_block(photos["left"])
    keys = {view: cutout_key(model_id, view) for view in VIEWS}
    for view, image in photos.items():
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        await deps.storage.put_bytes(keys[view], buffer.getvalue(), content_type="image/png")

    await inject_dependencies(handlers.on_background_removed, deps)(
        _removed(model_id, keys, provider="local")
    )

    (done,) = deps.publish.of(ModelGenerated)
    assert done.detail is not None and "retake the left photo" in done.detail


async def test_a_local_job_of_a_dead_worker_is_run_again_not_resumed():
    deps, model_id = _local_deps(), uuid.uuid4()
    keys = await _cutouts(deps, model_id)
    local = deps.providers["local"]
    options = GenerationOptions(target_faces=2000)
    images = {view: await deps.storage.get_bytes(key) for view, key in keys.items()}
    inputs = GenerationInputs(images=images, options=options)
    # an earlier worker submitted this job, recorded it and died: its thread is gone with it
    gone = JobHandle(provider="local", job_id="local-gone", submitted_at=datetime.now(UTC))
    await deps.jobs.save(model_id, local.fingerprint(inputs), JobRecord(handle=gone))

    removed = _removed(model_id, keys, provider="local").model_copy(update={"options": options})
    await inject_dependencies(handlers.on_background_removed, deps)(removed)

    (started,) = deps.publish.of(GenerationStarted)
    assert not started.resumed and started.job_id is None and started.options == options
    (done,) = deps.publish.of(ModelGenerated)
    assert done.job_id != "local-gone" and 1800 <= done.face_count <= 2200


def _png(text: dict[str, str] | None = None) -> bytes:
    from photo3d_bgremoval.cutout import encode_png

    return encode_png(Image.new("RGBA", (8, 8), (200, 0, 0, 255)), text=text)


def test_a_stand_in_is_not_sent_to_a_hosted_service_as_a_view_of_its_own():
    from photo3d_common.storage import STAND_IN_FOR_TEXT

    stand_in = _png({STAND_IN_FOR_TEXT: "left"})
    inputs = GenerationInputs(images={"front": _png(), "left": _png(), "right": stand_in, "back": _png()})
    assert sorted(inputs.own_views()) == ["back", "front", "left"]
    front_stood_in = GenerationInputs(images={"front": _png({STAND_IN_FOR_TEXT: "back"}), "back": _png()})
    assert sorted(front_stood_in.own_views()) == ["back", "front"]  # the front is always sent


class _NotResumable(InMemoryProvider):
    resumable = False  # a job of this process, as the built-in reconstructor's


async def test_a_job_that_cannot_be_resumed_is_remembered_only_once_finished():
    deps, model_id = _deps(_NotResumable()), uuid.uuid4()
    keys = await _cutouts(deps, model_id)
    writes: list[str] = []
    put = deps.storage.put_bytes

    async def recording_put(key: str, data: bytes, **options) -> None:
        writes.append(key)
        await put(key, data, **options)

    deps.storage.put_bytes = recording_put  # type: ignore[method-assign]
    await inject_dependencies(handlers.on_background_removed, deps)(_removed(model_id, keys))

    (done,) = deps.publish.of(ModelGenerated)
    job_writes = [key for key in writes if "/generation/job-" in key]
    assert len(job_writes) == 1  # no record of the running job: nothing could resume it
    record = JobRecord.model_validate_json(await deps.storage.get_bytes(job_writes[0]))
    assert record.completed and record.handle.job_id == done.job_id

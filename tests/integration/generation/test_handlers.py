"""The generation handlers against a real S3 store: the local reconstructor end to end to stored assets,
and the hosted Hunyuan 3D provider against a local server that follows Tencent's protocol (signatures
verified), for the properties the service adds: never a second paid job, resume after a restart,
failures with reasons, and a provider that is not enabled."""

from __future__ import annotations

import io
import uuid

import pytest
import trimesh
from PIL import Image, ImageDraw
from threadpoolctl import threadpool_info, threadpool_limits

from photo3d_common.events import (
    VIEWS,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    Stage,
    StageProgressed,
)
from photo3d_common.storage import ObjectStorage, cutout_key
from photo3d_common.wiring import inject_dependencies
from photo3d_generation import bootstrap as bootstrap_module
from photo3d_generation import handlers, meshio
from photo3d_generation import warm_up as warm_up_module
from photo3d_generation.bootstrap import Deps
from photo3d_generation.jobs import JobRecord, JobStore
from photo3d_generation.providers.base import GenerationInputs
from photo3d_generation.providers.tencent import TencentHunyuanProvider
from photo3d_generation.resources import build_providers
from photo3d_generation.settings import GenerationServiceSettings, LocalSettings
from tests.fakes.tencent import FakeTencentAi3d, ScriptedJob

COLOURS = {"front": (220, 40, 40), "left": (40, 200, 40), "right": (40, 40, 220), "back": (230, 200, 30)}


def box_cutout(colour, *, width=120, height=180, size=240) -> bytes:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    left, top = (size - width) // 2, (size - height) // 2
    ImageDraw.Draw(image).rectangle([left, top, left + width - 1, top + height - 1], fill=(*colour, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Recorder(list):
    async def __call__(self, event) -> None:
        self.append(event)

    def of(self, kind):
        return [event for event in self if isinstance(event, kind)]


async def _store_cutouts(storage: ObjectStorage, model_id: uuid.UUID) -> dict[str, str]:
    keys = {}
    for view in VIEWS:
        keys[view] = cutout_key(model_id, view)
        await storage.put_bytes(keys[view], box_cutout(COLOURS[view]), content_type="image/png")
    return keys


def _settings(**overrides) -> GenerationServiceSettings:
    local = LocalSettings(voxel_resolution=48, target_faces=2000, smoothing_iterations=2)
    return GenerationServiceSettings(local=local, **overrides)


@pytest.fixture
def fake_tencent():
    with FakeTencentAi3d() as server:
        yield server


def _tencent(fake: FakeTencentAi3d, **overrides) -> TencentHunyuanProvider:
    return fake.provider(**{"deadline_s": 5.0, "max_attempts": 3, "max_backoff_s": 0.02, **overrides})


def _deps(storage, publish, providers=None, **settings) -> Deps:
    chosen = _settings(**settings)
    return Deps(
        storage=storage,
        jobs=JobStore(storage),
        providers=providers if providers is not None else build_providers(chosen),
        publish=publish,
        settings=chosen,
    )


async def test_local_provider_stores_a_coloured_watertight_glb(object_storage):
    model_id = uuid.uuid4()
    keys = await _store_cutouts(object_storage, model_id)
    published = Recorder()

    await handlers.generate(model_id, keys, None, _deps(object_storage, published))

    assert isinstance(published[0], GenerationStarted) and published[0].provider == "local"
    assert all(p.stage is Stage.GENERATION for p in published.of(StageProgressed))
    (done,) = published.of(ModelGenerated)
    assert published[-1] is done and not published.of(ModelFailed)
    assert {"glb", "obj", "stl", "preview"} <= set(done.asset_keys)
    glb = await object_storage.get_bytes(done.asset_keys["glb"])
    assert done.file_sizes["glb"] == len(glb)
    mesh = trimesh.load(io.BytesIO(glb), file_type="glb", force="mesh")
    assert meshio.welded(mesh).is_watertight and len(mesh.faces) == done.face_count
    assert mesh.bounds[0][1] == pytest.approx(0.0, abs=1e-6)  # resting on y = 0
    colours = mesh.visual.to_color().vertex_colors[:, :3].astype(float)
    front = mesh.vertices[:, 2] > mesh.bounds[1][2] * 0.9  # the +Z side wears the front photo's red
    assert colours[front].mean(axis=0)[0] > 150 and colours[front].mean(axis=0)[2] < 100
    preview = Image.open(io.BytesIO(await object_storage.get_bytes(done.asset_keys["preview"])))
    assert preview.format == "PNG"


async def test_missing_cutout_fails_with_what_to_do(object_storage):
    model_id = uuid.uuid4()
    keys = await _store_cutouts(object_storage, model_id)
    await object_storage.delete_keys([keys["right"]])
    published = Recorder()
    await handlers.generate(model_id, keys, None, _deps(object_storage, published))
    (failed,) = published.of(ModelFailed)
    assert failed.error_code == "cutout_missing" and "right cut-out is missing" in failed.reason


async def test_provider_not_enabled_fails_clearly(object_storage):
    model_id = uuid.uuid4()
    keys = await _store_cutouts(object_storage, model_id)
    published = Recorder()
    await handlers.generate(model_id, keys, "tencent", _deps(object_storage, published))
    (failed,) = published.of(ModelFailed)
    assert failed.error_code == "provider_not_enabled" and not failed.retryable


async def test_tencent_job_result_is_stored_and_never_paid_twice(object_storage, fake_tencent):
    model_id = uuid.uuid4()
    keys = await _store_cutouts(object_storage, model_id)
    fake_tencent.script_job(ScriptedJob(wait_polls=1, run_polls=2))
    deps = _deps(object_storage, Recorder(), {"tencent": _tencent(fake_tencent)})

    await handlers.generate(model_id, keys, "tencent", deps)
    (done,) = deps.publish.of(ModelGenerated)
    assert done.provider == "tencent" and done.job_id
    mesh = trimesh.load(
        io.BytesIO(await object_storage.get_bytes(done.asset_keys["glb"])), file_type="glb", force="mesh"
    )
    assert mesh.bounds[0][1] == pytest.approx(0.0, abs=1e-6)

    # The same event again (a redelivery): the finished job is republished, not submitted again.
    again = _deps(object_storage, Recorder(), {"tencent": _tencent(fake_tencent)})
    await handlers.generate(model_id, keys, "tencent", again)
    assert len(fake_tencent.calls("SubmitHunyuanTo3DProJob")) == 1
    assert [type(e) for e in again.publish] == [ModelGenerated]
    assert again.publish[0].asset_keys == done.asset_keys


async def test_restarted_worker_resumes_the_submitted_job(object_storage, fake_tencent):
    model_id = uuid.uuid4()
    keys = await _store_cutouts(object_storage, model_id)
    fake_tencent.script_job(ScriptedJob(run_polls=3))
    provider = _tencent(fake_tencent)
    # A worker submitted the job and recorded it, then died before the result came.
    images = {view: await object_storage.get_bytes(key) for view, key in keys.items()}
    inputs = GenerationInputs(images=images)
    handle = await provider.submit(inputs)
    await JobStore(object_storage).save(model_id, provider.fingerprint(inputs), JobRecord(handle=handle))

    deps = _deps(object_storage, Recorder(), {"tencent": provider})
    await handlers.generate(model_id, keys, "tencent", deps)

    assert len(fake_tencent.calls("SubmitHunyuanTo3DProJob")) == 1
    started = deps.publish.of(GenerationStarted)[0]
    assert started.resumed and started.job_id == handle.job_id
    assert deps.publish.of(ModelGenerated)[0].job_id == handle.job_id


async def test_failed_job_fails_the_model_and_a_rerun_submits_again(object_storage, fake_tencent):
    model_id = uuid.uuid4()
    keys = await _store_cutouts(object_storage, model_id)
    fake_tencent.script_job(
        ScriptedJob(
            outcome="FAIL", error_code="FailedOperation.GenerateFailed", error_message="no object recognised"
        ),
        ScriptedJob(),
    )
    deps = _deps(object_storage, Recorder(), {"tencent": _tencent(fake_tencent)})
    await handlers.generate(model_id, keys, "tencent", deps)
    (failed,) = deps.publish.of(ModelFailed)
    assert failed.stage is Stage.GENERATION and failed.reason

    retry = _deps(object_storage, Recorder(), {"tencent": _tencent(fake_tencent)})
    await handlers.generate(model_id, keys, "tencent", retry)
    assert len(fake_tencent.calls("SubmitHunyuanTo3DProJob")) == 2
    assert retry.publish.of(ModelGenerated)


async def test_job_that_never_finishes_times_out_with_minutes_in_the_reason(object_storage, fake_tencent):
    model_id = uuid.uuid4()
    keys = await _store_cutouts(object_storage, model_id)
    fake_tencent.script_job(ScriptedJob(outcome="NEVER"))
    deps = _deps(object_storage, Recorder(), {"tencent": _tencent(fake_tencent, deadline_s=0.5)})
    await handlers.generate(model_id, keys, "tencent", deps)
    (failed,) = deps.publish.of(ModelFailed)
    assert "timed out after 0.5 s" in failed.reason  # minutes for real deadlines: "after 15 min"
    assert failed.retryable


async def test_a_replayed_background_removed_republishes_the_model_and_rewrites_no_asset(object_storage):
    """Issue 9, defect 3: background.removed again for a completed model (a replay, or bgremoval
    republishing its answer to a replayed photos.uploaded) gets the earlier model.generated again."""
    from photo3d_common.events import BackgroundRemoved

    model_id = uuid.uuid4()
    keys = await _store_cutouts(object_storage, model_id)
    trigger = BackgroundRemoved(model_id=model_id, producer="test", cutout_keys=keys, source_fingerprint="f")
    first = Recorder()
    await inject_dependencies(handlers.on_background_removed, _deps(object_storage, first))(trigger)
    (done,) = first.of(ModelGenerated)
    before = {fmt: (await object_storage.head(key)).etag for fmt, key in done.asset_keys.items()}
    for key in done.asset_keys.values():  # were the assets rewritten, the ETags would come back
        await object_storage.put_bytes(key, b"marker", content_type="application/octet-stream")
    marked = {fmt: (await object_storage.head(key)).etag for fmt, key in done.asset_keys.items()}
    assert marked != before

    replayed = Recorder()
    await inject_dependencies(handlers.on_background_removed, _deps(object_storage, replayed))(trigger)

    assert replayed == [done]  # no generation.started, no progress, the same model.generated
    assert {fmt: (await object_storage.head(key)).etag for fmt, key in done.asset_keys.items()} == marked


@pytest.mark.parametrize(
    ("served", "enabled", "warmed"),
    [(["local"], True, True), (["local"], False, False), (["tencent"], True, False)],
)
async def test_a_worker_serving_the_local_reconstructor_warms_it_before_its_first_event(
    common_s3_settings, monkeypatch, served, enabled, warmed
) -> None:
    calls: list[int] = []

    def recorded(preview_size: int) -> float:
        calls.append(preview_size)
        return 0.0

    monkeypatch.setattr(bootstrap_module, "warm_up", recorded)
    settings = GenerationServiceSettings(
        s3=common_s3_settings, providers=served, default_provider=served[0], warm_up=enabled, preview_size=128
    )
    # bootstrap only looks at which providers are served, and closes them at the end
    providers = {name: _Closable() for name in served}
    async with bootstrap_module.bootstrap(settings, providers=providers, publish=Recorder()):
        assert calls == ([128] if warmed else [])


class _Closable:
    async def aclose(self) -> None:
        return None


def test_the_warm_up_runs_every_step_a_model_takes(monkeypatch) -> None:
    """Each step whose first call a fresh process pays: the camera fit, decimation, the texture with its
    seams levelled, the fit to the options and every export."""
    from photo3d_generation.local import reconstructor, texturing

    seen: list[str] = []

    def counting(name, module, attribute):
        original = getattr(module, attribute)

        def wrapper(*args, **kwargs):
            seen.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, attribute, wrapper)

    counting("fit", reconstructor, "fit_poses")
    counting("decimate", reconstructor, "_decimate")
    counting("texture", reconstructor, "textured_mesh")
    counting("seams", texturing, "seam_corrections")
    counting("options", warm_up_module, "fit_to_options")
    counting("export", warm_up_module.meshio, "export_assets")
    assert warm_up_module.warm_up(128) > 0
    assert sorted(seen) == sorted(["fit", "decimate", "texture", "seams", "options", "export"])


async def test_a_worker_keeps_numpys_blas_to_its_setting(common_s3_settings) -> None:
    """More BLAS threads only spin beside the other worker's work (``limit_blas_threads``)."""

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    settings = GenerationServiceSettings(
        s3=common_s3_settings, providers=["tencent"], default_provider="tencent"
    )
    try:
        async with bootstrap_module.bootstrap(settings, providers={}, publish=Recorder()):
            assert blas_threads() and set(blas_threads()) == {1}
    finally:
        threadpool_limits(limits=max(before), user_api="blas")  # the other tests' numpy as it was

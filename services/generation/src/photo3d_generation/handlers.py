"""3D generation for one model: plain async functions of the event and named dependencies."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping

import trimesh

from photo3d_common.concurrency import run_blocking
from photo3d_common.errors import Photo3DError, dependency_failure
from photo3d_common.events import (
    VIEWS,
    BackgroundRemoved,
    Event,
    GenerationOptions,
    GenerationRequested,
    GenerationStarted,
    ModelGenerated,
    Stage,
    StageProgressed,
    View,
)
from photo3d_common.failures import failure_event
from photo3d_common.logging import bound_model, get_logger
from photo3d_common.outcomes import answer_once
from photo3d_common.ports import Publisher, Storage
from photo3d_common.storage import ObjectNotFound, asset_key

from . import meshio
from .bootstrap import Deps
from .fitting import FittedMesh, fit_to_options
from .jobs import JobRecord, JobStore
from .providers.base import GeneratedAssets, GenerationInputs, GenerationProvider, JobHandle, run_job
from .providers.errors import ProviderError, ProviderTimeout
from .settings import GenerationServiceSettings

log = get_logger(__name__)
PRODUCER = "generation"


class GenerationFailure(Photo3DError):
    retryable = False


async def on_cutouts_ready(
    event: BackgroundRemoved | GenerationRequested,
    *,
    storage: Storage,
    jobs: JobStore,
    providers: Mapping[str, GenerationProvider],
    publish: Publisher,
    settings: GenerationServiceSettings,
) -> None:
    """Both triggers carry the four cut-outs, the provider and the options the model asked for."""
    deps = Deps(storage=storage, jobs=jobs, providers=providers, publish=publish, settings=settings)
    await _answer_once(event, event.cutout_keys, event.provider, deps, event.options)


# One name per topic, so the subscribers read like the contract's table.
on_background_removed = on_cutouts_ready
on_generation_requested = on_cutouts_ready


async def _answer_once(
    trigger: Event,
    cutout_keys: dict[View, str],
    provider_name: str | None,
    deps: Deps,
    options: GenerationOptions | None,
) -> None:
    """A redelivered or replayed trigger gets its earlier answer again: no second job, no asset rewritten."""
    await answer_once(
        trigger,
        service=PRODUCER,
        storage=deps.storage,
        publish=deps.publish,
        handle=lambda answer: generate(
            trigger.model_id,
            cutout_keys,
            provider_name,
            dataclasses.replace(deps, publish=answer),
            options=options,
            rerun=isinstance(trigger, GenerationRequested),
        ),
    )


async def generate(
    model_id: uuid.UUID,
    cutout_keys: dict[View, str],
    provider_name: str | None,
    deps: Deps,
    *,
    options: GenerationOptions | None = None,
    rerun: bool = False,
) -> None:
    """Run the model's provider (the built-in reconstructor is one of them) and store what it made, fitted
    to the model's options. An event from before options existed gets the defaults. ``rerun``: a user
    asked for this run (``GenerationRequested``), so a remembered job past its deadline is replaced."""
    name = provider_name or deps.settings.default_provider
    options = options or GenerationOptions()
    with bound_model(model_id):
        started = time.perf_counter()
        try:
            cutouts = await _load_cutouts(cutout_keys, deps.storage)
            provider = deps.providers.get(name)
            if provider is None:
                raise GenerationFailure(
                    f"the {name!r} generator is not enabled on this server: choose another one or ask "
                    "an administrator",
                    code="provider_not_enabled",
                )
            inputs = GenerationInputs(images=cutouts, options=options)
            outcome = await _run_provider_job(model_id, provider, inputs, deps, rerun=rerun)
            if isinstance(outcome, ModelGenerated):  # finished earlier: republish, never pay twice
                await deps.publish(outcome)
                return
            mesh, handle, fingerprint = outcome
            generated = await _store_assets(model_id, mesh, options, name, handle.job_id, started, deps)
            await deps.jobs.save(
                model_id,
                fingerprint,
                JobRecord(
                    handle=handle,
                    completed=True,
                    result=generated.model_dump(mode="json", include=_RESULT_FIELDS),
                ),
            )
        except Exception as error:  # every failure ends the stage with a reason, or waits (outage)
            if dependency_failure(error) is not None:
                raise  # not the work's fault: the consumer waits for the dependency and runs this again
            await deps.publish(failure_event(error, Stage.GENERATION, model_id=model_id, producer=PRODUCER))
            return
        log.info(
            "model generated",
            provider=name,
            faces=generated.face_count,
            target_faces=options.target_faces,
            dimensions_m=generated.dimensions_m.model_dump() if generated.dimensions_m else None,
            seconds=round(time.perf_counter() - started, 2),
        )
        await deps.publish(generated)


_RESULT_FIELDS = {
    "provider",
    "asset_keys",
    "vertex_count",
    "face_count",
    "file_sizes",
    "timings",
    "job_id",
    "options",
    "dimensions_m",
    "detail",
}


async def _load_cutouts(cutout_keys: dict[View, str], storage: Storage) -> dict[View, bytes]:
    cutouts: dict[View, bytes] = {}
    for view in VIEWS:
        key = cutout_keys.get(view)
        try:
            if key is None:
                raise ObjectNotFound(f"<{view}>")
            cutouts[view] = await storage.get_bytes(key)
        except ObjectNotFound as error:
            raise GenerationFailure(
                f"the {view} cut-out is missing: run background removal again",
                code="cutout_missing",
                detail={"view": view},
            ) from error
    return cutouts


async def _run_provider_job(
    model_id: uuid.UUID, provider: GenerationProvider, inputs: GenerationInputs, deps: Deps, *, rerun: bool
) -> ModelGenerated | tuple[trimesh.Trimesh, JobHandle, str]:
    fingerprint = provider.fingerprint(inputs)
    record = await deps.jobs.load(model_id, fingerprint)
    if record is not None and record.completed and record.result:
        log.info("job already finished for these inputs: republishing", job_id=record.handle.job_id)
        return ModelGenerated(model_id=model_id, producer=PRODUCER, **record.result)
    # A job of this process (the built-in reconstructor) died with it: start it again, free of charge.
    existing = record.handle if record is not None and provider.resumable else None
    # A user's re-run does not wait again on a job that outlived its deadline (the watchdog failed the
    # model meanwhile): the job is polled once, for a result that may have come in, then replaced.
    replace_expired = rerun and existing is not None and existing.age_s() >= provider.default_deadline_s
    await deps.publish(
        GenerationStarted(
            model_id=model_id,
            producer=PRODUCER,
            provider=provider.name,
            job_id=existing.job_id if existing else None,
            resumed=existing is not None,
            options=inputs.options,
        )
    )

    submitted: list[JobHandle] = []

    async def remember(handle: JobHandle) -> None:
        submitted.append(handle)
        if provider.resumable:  # a job of this process (resumable = False) is never resumed from its record
            await deps.jobs.save(model_id, fingerprint, JobRecord(handle=handle))

    async def progress(fraction: float, detail: str) -> None:
        await deps.publish(
            StageProgressed(
                model_id=model_id, producer=PRODUCER, stage=Stage.GENERATION, progress=fraction, detail=detail
            )
        )

    async def run(handle: JobHandle | None) -> GeneratedAssets:
        try:
            return await run_job(
                provider, inputs, existing_handle=handle, on_submitted=remember, on_progress=progress
            )
        except ProviderError as error:
            used = submitted[-1] if submitted else handle
            if error.discard_job and used is not None and provider.resumable:  # dead, or its results gone
                await deps.jobs.discard(model_id, fingerprint, job_id=used.job_id)
            raise

    try:
        assets = await run(existing)
    except ProviderTimeout:
        if not replace_expired:
            raise
        log.info("the remembered job outlived its deadline: submitting a new one")
        assets = await run(None)
    used = submitted[-1] if submitted else existing
    if used is None:  # pragma: no cover - run_job submits whenever it resumes nothing
        raise AssertionError("a finished job without a handle")
    return _mesh_from(assets), used, fingerprint


def _mesh_from(assets: GeneratedAssets) -> trimesh.Trimesh:
    if isinstance(assets.mesh, trimesh.Trimesh):  # made in this process, already in the convention
        return assets.mesh
    for fmt in ("glb", "gltf", "obj", "ply", "stl"):
        found = assets.get(fmt)
        if found is not None:
            # Providers already face +Z with +Y up (glTF convention); normalising centres and grounds it.
            return meshio.normalize_mesh(meshio.load_mesh(found.data, fmt))
    raise GenerationFailure(
        "the 3D generation service returned no model file we can read; try again",
        code="provider_no_model",
        detail={"formats": [f.format for f in assets.files]},
    )


def _asset_name(filename: str) -> str:
    stem, _, ext = filename.rpartition(".")
    return ext if stem == "model" else stem


def _fitted_assets(
    mesh: trimesh.Trimesh, options: GenerationOptions, preview_size: int
) -> tuple[FittedMesh, dict[str, bytes]]:
    fitted = fit_to_options(mesh, options)
    return fitted, meshio.export_assets(fitted.mesh, preview_size=preview_size)


async def _store_assets(
    model_id: uuid.UUID,
    mesh: trimesh.Trimesh,
    options: GenerationOptions,
    provider: str,
    job_id: str | None,
    started: float,
    deps: Deps,
) -> ModelGenerated:
    export_started = time.perf_counter()
    fitted, files = await run_blocking(
        _fitted_assets, mesh, options, deps.settings.preview_size, abandon_on_cancel=True
    )
    mesh = fitted.mesh
    exported = time.perf_counter()
    asset_keys: dict[str, str] = {}
    for filename, data in files.items():
        key = asset_key(model_id, filename)
        await deps.storage.put_bytes(key, data, content_type=_content_type(filename))
        asset_keys[_asset_name(filename)] = key
    return ModelGenerated(
        model_id=model_id,
        producer=PRODUCER,
        provider=provider,
        asset_keys=asset_keys,
        vertex_count=len(mesh.vertices),
        face_count=len(mesh.faces),
        file_sizes={_asset_name(name): len(data) for name, data in files.items()},
        timings={
            "generate_s": round(export_started - started, 3),
            "export_s": round(exported - export_started, 3),
            "store_s": round(time.perf_counter() - exported, 3),
        },
        job_id=job_id,
        options=options,
        dimensions_m=fitted.dimensions,
        detail=fitted.detail,
    )


_CONTENT_TYPES = {
    "glb": "model/gltf-binary",
    "obj": "model/obj",
    "mtl": "model/mtl",
    "stl": "model/stl",
    "usdz": "model/vnd.usdz+zip",
    "png": "image/png",
    "jpg": "image/jpeg",
}


def _content_type(filename: str) -> str:
    return _CONTENT_TYPES.get(filename.rpartition(".")[2], "application/octet-stream")

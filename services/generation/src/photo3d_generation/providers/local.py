"""The built-in CPU reconstructor (``photo3d_generation.local``) as a generation provider like the others.

A job is the reconstruction running in a worker thread of this process: ``submit`` starts it, ``poll``
reports the reconstructor's own progress, ``fetch_result`` hands over the mesh. The model's options go in
as the reconstructor's settings: its face budget is the decimation target (the worker fits what is left
over, e.g. a hull coarser than the budget, see ``fitting.py``), and a model with its texture off is
coloured per vertex instead of painting an atlas, which the worker then strips. The job lives in memory,
so a restarted worker starts it again instead of resuming it (``resumable = False``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import trimesh
from PIL import Image
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from photo3d_common.concurrency import run_blocking
from photo3d_common.events import GenerationOptions

from ..local import ReconstructionSettings, reconstruct
from .base import GeneratedAssets, GenerationInputs, JobHandle, JobState, JobStatus, job_fingerprint
from .errors import ResultExpired


class LocalSettings(BaseSettings):
    """``GENERATION_LOCAL_*``: the built-in CPU reconstructor."""

    model_config = SettingsConfigDict(env_prefix="GENERATION_LOCAL_", extra="ignore")

    voxel_resolution: int = Field(128, ge=16, le=512)
    smoothing_iterations: int = Field(8, ge=0)
    target_faces: int = Field(
        20_000, ge=0, description="face budget of the reconstruct command; models bring their own"
    )
    camera_distance: float | None = Field(
        2.5, description="assumed camera distance in object heights (phone photos); None = orthographic"
    )
    max_photo_side: int = Field(1024, ge=64)
    fit_cameras: bool = Field(
        True, description="fit each photo's zoom, centre and tilt so the four silhouettes agree"
    )
    texture_size: int = Field(2048, ge=0, le=8192, description="texture atlas side; 0 = vertex colours only")
    height: float = Field(
        1.0, gt=0, description="model height in glTF units (metres) when a model gives no size"
    )
    deadline_s: float = Field(
        600.0, gt=0, description="a local reconstruction takes seconds; this is a guard"
    )
    expected_duration_s: float = Field(20.0, gt=0, description="typical reconstruction time")

    def reconstruction(self, options: GenerationOptions | None = None) -> ReconstructionSettings:
        """The reconstructor's settings, for a model's options when given."""
        settings = ReconstructionSettings(
            voxel_resolution=self.voxel_resolution,
            smoothing_iterations=self.smoothing_iterations,
            target_faces=self.target_faces,
            camera_distance=self.camera_distance,
            max_photo_side=self.max_photo_side,
            fit_cameras=self.fit_cameras,
            texture_size=self.texture_size,
            height=self.height,
        )
        if options is None:
            return settings
        return dataclasses.replace(
            settings,
            target_faces=options.target_faces,
            texture_size=self.texture_size if options.texture else 0,
        )


@dataclass
class _Job:
    task: asyncio.Task[trimesh.Trimesh]
    started: float
    progress: float = 0.0
    detail: str = "starting the reconstruction"


class LocalReconstructionProvider:
    """Silhouette carving on this machine's CPU: free, offline, seconds per model."""

    name = "local"
    resumable = False
    poll_interval_s = 0.1
    max_poll_interval_s = 0.5
    poll_backoff = 1.5

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.default_deadline_s = settings.deadline_s
        self.expected_duration_s = settings.expected_duration_s
        self._jobs: dict[str, _Job] = {}

    def validate(self) -> None:
        """Nothing to check: no credentials, no network."""

    def options(self, wanted: GenerationOptions) -> dict[str, Any]:
        return dataclasses.asdict(self.settings.reconstruction(wanted))

    def fingerprint(self, inputs: GenerationInputs) -> str:
        return job_fingerprint(self.name, inputs, self.options(inputs.options))

    async def submit(self, inputs: GenerationInputs) -> JobHandle:
        self._forget_finished()
        settings = self.settings.reconstruction(inputs.options)
        job_id = f"local-{uuid.uuid4()}"

        def report(fraction: float, detail: str) -> None:  # called from the worker thread
            job = self._jobs.get(job_id)
            if job is not None:
                job.progress, job.detail = fraction, detail

        def work() -> trimesh.Trimesh:
            images = {view: Image.open(io.BytesIO(data)) for view, data in inputs.images.items()}
            return reconstruct(images, settings, progress=report)

        # abandoned when the job is cancelled: the reconstruction thread cannot be interrupted
        task = asyncio.create_task(run_blocking(work, abandon_on_cancel=True), name=job_id)
        self._jobs[job_id] = _Job(task=task, started=time.monotonic())
        return JobHandle(
            provider=self.name,
            job_id=job_id,
            submitted_at=datetime.now(UTC),
            fingerprint=self.fingerprint(inputs),
        )

    def _job(self, handle: JobHandle) -> _Job:
        job = self._jobs.get(handle.job_id)
        if job is None:
            raise ResultExpired(
                f"the local reconstruction {handle.job_id} is not running in this worker", provider=self.name
            )
        return job

    async def poll(self, handle: JobHandle) -> JobState:
        job = self._job(handle)
        if not job.task.done():
            return JobState(status=JobStatus.RUNNING, progress=job.progress, detail=job.detail)
        error = job.task.exception()
        if error is not None:
            self._jobs.pop(handle.job_id, None)
            raise error  # ReconstructionError says what to change in the photos
        return JobState(status=JobStatus.SUCCEEDED, progress=1.0, detail="done", result=job.task.result())

    async def fetch_result(self, handle: JobHandle, state: JobState) -> GeneratedAssets:
        self._jobs.pop(handle.job_id, None)
        mesh = state.result
        if not isinstance(mesh, trimesh.Trimesh):
            raise ResultExpired(f"the local reconstruction {handle.job_id} has no mesh", provider=self.name)
        return GeneratedAssets(provider=self.name, job_id=handle.job_id, files=[], mesh=mesh)

    def _forget_finished(self) -> None:
        """Drop jobs nobody fetched (their run timed out): a thread cannot be stopped, its result can go."""
        horizon = time.monotonic() - 2 * self.default_deadline_s
        for job_id, job in list(self._jobs.items()):
            if job.task.done() and job.started < horizon:
                self._jobs.pop(job_id, None)
                if not job.task.cancelled():
                    job.task.exception()  # retrieved, so asyncio does not log it as never retrieved

    async def aclose(self) -> None:
        for job in self._jobs.values():
            job.task.cancel()  # the thread finishes on its own; nobody waits for it
        self._jobs.clear()

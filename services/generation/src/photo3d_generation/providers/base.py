"""What every generation provider offers, and the driver that runs one job to the end.

A provider turns the four cut-outs into model files in three steps, so a worker that restarts halfway can
resume instead of paying for a second job:

1. ``submit(inputs) -> JobHandle``: starts the (possibly paid) job. The handle is small and serialisable
   (``handle.model_dump_json()``): store it (``on_submitted``) before polling.
2. ``poll(handle) -> JobState``: asks how the job is doing; never starts anything.
3. ``fetch_result(handle, state) -> GeneratedAssets``: downloads the finished files.

``run_job`` drives the three with polling backoff inside one deadline, and resumes from ``existing_handle``
when one was stored earlier. Transient faults (network, 5xx, throttling) are retried inside the providers
with exponential backoff and jitter (tenacity); what outlasts the retries surfaces as one of the errors in
``errors.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from photo3d_common.events import VIEWS, GenerationOptions, View
from photo3d_common.storage import STAND_IN_FOR_TEXT

from .errors import ProviderJobFailed, ProviderTimeout, ProviderUnavailable

logger = logging.getLogger(__name__)


class GenerationInputs(BaseModel):
    """The cut-outs to generate from: encoded images (PNG or JPEG bytes) keyed by view; front is required.
    ``options`` are the model's (face budget, texture, size): each provider asks its service for what it
    can of them, and the worker fits the result to the rest (``fitting.py``)."""

    model_config = ConfigDict(frozen=True)

    images: dict[View, bytes]
    options: GenerationOptions = Field(default_factory=GenerationOptions)

    @field_validator("images")
    @classmethod
    def _front_required(cls, images: dict[View, bytes]) -> dict[View, bytes]:
        if "front" not in images:
            raise ValueError("the front view is required")
        empty = [view for view, data in images.items() if not data]
        if empty:
            raise ValueError(f"empty image for view(s): {', '.join(empty)}")
        return images

    def digests(self) -> dict[str, str]:
        return {view: hashlib.sha256(self.images[view]).hexdigest() for view in VIEWS if view in self.images}

    def own_views(self) -> dict[View, bytes]:
        """The images that show their own side: a stand-in (another photo's outline, mirrored, when that
        side's photo could not be cut out) is left out, except for the required front."""
        return {view: data for view, data in self.images.items() if view == "front" or not is_stand_in(data)}


def is_stand_in(data: bytes) -> bool:
    """Whether a cut-out PNG is bgremoval's stand-in for an unusable photo (``STAND_IN_FOR_TEXT``)."""
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header chunks only
            return STAND_IN_FOR_TEXT in image.info
    except (OSError, ValueError):
        return False


def job_fingerprint(provider: str, inputs: GenerationInputs, options: Mapping[str, Any]) -> str:
    """A stable id of "this provider, these images, these options": the same fingerprint means the same job
    (and the same delivered model: the model's own options are part of it)."""
    material = json.dumps(
        {
            "provider": provider,
            "images": inputs.digests(),
            "options": dict(options),
            "model_options": inputs.options.model_dump(mode="json"),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32]


class JobHandle(BaseModel):
    """Everything needed to resume polling a submitted job after a restart (store it as JSON)."""

    model_config = ConfigDict(frozen=True)

    provider: str
    job_id: str
    submitted_at: datetime
    fingerprint: str | None = None
    # Where the job lives (endpoint, region, mode): a resumed job is polled where it was submitted.
    extra: dict[str, str] = Field(default_factory=dict)

    @field_validator("submitted_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def age_s(self, now: datetime | None = None) -> float:
        return max(0.0, ((now or datetime.now(UTC)) - self.submitted_at).total_seconds())


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class JobState:
    status: JobStatus
    progress: float | None = None  # 0..1 when the provider reports it
    detail: str = ""
    result: Any = None  # provider specific: what fetch_result needs (file URLs, inline model bytes)
    error_code: str | None = None
    error_message: str | None = None
    error_retryable: bool = False
    raw_status: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)


@dataclass(frozen=True)
class GeneratedFile:
    format: str  # lower case as the provider labels it: "glb", "obj", "stl", "fbx", "usdz", ...
    data: bytes
    source_url: str | None = None

    @property
    def is_zip(self) -> bool:
        """Providers may pack a format with its side files (OBJ + MTL + textures) into a zip."""
        return self.data[:4] == b"PK\x03\x04"


@dataclass(frozen=True)
class GeneratedAssets:
    provider: str
    job_id: str
    files: list[GeneratedFile]
    preview: bytes | None = None  # a rendered preview image (PNG/JPEG) when the provider gives one
    metadata: dict[str, Any] = field(default_factory=dict)
    mesh: Any = None  # a trimesh.Trimesh already in the output convention (in-process providers)

    def get(self, fmt: str) -> GeneratedFile | None:
        fmt = fmt.lower()
        return next((f for f in self.files if f.format == fmt), None)

    @property
    def glb(self) -> bytes | None:
        found = self.get("glb")
        return found.data if found else None


@runtime_checkable
class GenerationProvider(Protocol):
    name: str
    default_deadline_s: float
    poll_interval_s: float
    max_poll_interval_s: float
    poll_backoff: float
    expected_duration_s: float
    #: Whether a stored job handle can be polled again after the worker restarts (a remote job), or the
    #: job lived in this process and must be started anew (the built-in reconstructor).
    resumable: bool

    def validate(self) -> None:
        """Raise ProviderConfigError when the provider cannot work as configured (call at startup)."""

    def fingerprint(self, inputs: GenerationInputs) -> str: ...

    async def submit(self, inputs: GenerationInputs) -> JobHandle: ...

    async def poll(self, handle: JobHandle) -> JobState: ...

    async def fetch_result(self, handle: JobHandle, state: JobState) -> GeneratedAssets: ...

    async def aclose(self) -> None: ...


class HttpProvider:
    """What the HTTP providers share: polling knobs from their settings, an httpx client (owned unless one
    is given), and the job fingerprint over the provider's generation options."""

    name: str
    resumable = True

    def __init__(self, settings: Any, *, http_client: Any = None, follow_redirects: bool = False) -> None:
        import httpx

        self.settings = settings
        self.default_deadline_s = settings.deadline_s
        self.poll_interval_s = settings.poll_interval_s
        self.max_poll_interval_s = settings.max_poll_interval_s
        self.poll_backoff = settings.poll_backoff
        self.expected_duration_s = settings.expected_duration_s
        self._policy = settings.retry_policy()
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.request_timeout_s), follow_redirects=follow_redirects
        )

    def options(self, wanted: GenerationOptions) -> dict[str, Any]:
        """The request's generation parameters for a model's options: with the images, what the job is."""
        raise NotImplementedError

    def fingerprint(self, inputs: GenerationInputs) -> str:
        return job_fingerprint(self.name, inputs, self.options(inputs.options))

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


# --- retries -------------------------------------------------------------------------------------------


class TransientError(Exception):
    """A fault worth retrying (network, 5xx, throttling). Providers raise it inside ``with_retries``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 20.0
    max_elapsed_s: float = 120.0


T = TypeVar("T")


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    what: str,
    provider: str,
) -> T:
    """Run ``operation``, retrying TransientError with exponential backoff and jitter.

    What still fails after the policy's attempts becomes ProviderUnavailable; other errors pass through.
    """

    def _log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s: %s failed (attempt %d/%d): %s; retrying in %.2fs",
            provider,
            what,
            state.attempt_number,
            policy.max_attempts,
            error,
            state.next_action.sleep if state.next_action else 0.0,
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_elapsed_s),
        wait=wait_exponential_jitter(
            multiplier=policy.initial_backoff_s, max=policy.max_backoff_s, jitter=policy.initial_backoff_s
        ),
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        return await retrying(operation)
    except TransientError as error:
        raise ProviderUnavailable(
            f"{what} failed after {policy.max_attempts} attempts: {error.reason}", provider=provider
        ) from error


# --- the driver ------------------------------------------------------------------------------------------

_FINAL_POLL_GRACE_S = 5.0
#: A change of the job's status is reported at once, a change of its progress alone at most this often:
#: each report is a message, a broker write and a status-service transaction, and the page shows no finer
#: steps (the local reconstructor, polled every 0.1-0.5 s, sent 6 reports in 1.5 s)
PROGRESS_REPORT_INTERVAL_S = 1.0

OnSubmitted = Callable[[JobHandle], Awaitable[None] | None]
OnProgress = Callable[[float, str], Awaitable[None] | None]


async def _call(callback: Callable[..., Any] | None, *args: Any) -> None:
    if callback is None:
        return
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


def _estimate_progress(state: JobState, age_s: float, expected_duration_s: float) -> float:
    """The provider's own progress when it reports one, else an estimate from the time spent so far.

    Capped at 0.9: only the downloaded result completes a stage.
    """
    if state.progress is not None:
        return max(0.0, min(0.9, state.progress))
    if state.status is JobStatus.QUEUED:
        return 0.05
    return round(0.1 + 0.8 * min(1.0, age_s / max(expected_duration_s, 1.0)), 3)


def _worth_reporting(
    last: tuple[JobStatus, float] | None, status: JobStatus, progress: float, last_at: float
) -> bool:
    if last is None or last[0] != status:
        return True
    return last[1] != progress and time.monotonic() - last_at >= PROGRESS_REPORT_INTERVAL_S


async def run_job(
    provider: GenerationProvider,
    inputs: GenerationInputs,
    *,
    deadline_s: float | None = None,
    existing_handle: JobHandle | None = None,
    on_submitted: OnSubmitted | None = None,
    on_progress: OnProgress | None = None,
    poll_interval_s: float | None = None,
    max_poll_interval_s: float | None = None,
    poll_backoff: float | None = None,
) -> GeneratedAssets:
    """Submit (or resume) one job, poll it until it finishes, and download its result.

    - ``existing_handle``: a handle stored by an earlier attempt; the job is resumed, never resubmitted.
    - ``on_submitted(handle)``: awaited right after submission, before the first poll: persist the handle
      there. If it raises, the error propagates (the job id is logged so it is not lost).
    - ``on_progress(progress, detail)``: called when the reported status changes, or its progress (at most
      every ``PROGRESS_REPORT_INTERVAL_S``).
    - ``deadline_s`` counts from the job's ``submitted_at``, so a resumed job does not get a fresh deadline;
      a job resumed after its deadline is still polled once (it may have finished meanwhile).

    Raises the errors of ``errors.py``: ProviderJobFailed when the job failed, ProviderTimeout at the
    deadline, ProviderUnavailable when transient faults outlast the retries, ...
    """
    deadline_s = provider.default_deadline_s if deadline_s is None else deadline_s
    interval = provider.poll_interval_s if poll_interval_s is None else poll_interval_s
    max_interval = provider.max_poll_interval_s if max_poll_interval_s is None else max_poll_interval_s
    max_interval = max(max_interval, interval)
    backoff = provider.poll_backoff if poll_backoff is None else poll_backoff

    handle = existing_handle
    if handle is not None and handle.provider != provider.name:
        raise ValueError(f"job handle of provider {handle.provider!r} given to provider {provider.name!r}")
    if handle is None:
        try:
            async with asyncio.timeout(deadline_s):
                handle = await provider.submit(inputs)
        except TimeoutError:
            raise ProviderTimeout(deadline_s, provider=provider.name) from None
        logger.info("%s: submitted job %s", provider.name, handle.job_id)
        try:
            await _call(on_submitted, handle)
        except Exception:
            logger.exception(
                "%s: job %s was submitted but could not be recorded", provider.name, handle.job_id
            )
            raise
    else:
        logger.info("%s: resuming job %s submitted at %s", provider.name, handle.job_id, handle.submitted_at)

    deadline = time.monotonic() + max(0.0, deadline_s - handle.age_s())
    last_report: tuple[JobStatus, float] | None = None
    last_report_at = 0.0
    while True:
        # A poll at or after the deadline (the last one, or the first of a late-resumed job) still gets a
        # short grace to answer: the job may have finished meanwhile.
        poll_timeout = max(deadline - time.monotonic(), _FINAL_POLL_GRACE_S)
        try:
            async with asyncio.timeout(poll_timeout):
                state = await provider.poll(handle)
        except TimeoutError:
            raise ProviderTimeout(deadline_s, provider=provider.name, job_id=handle.job_id) from None

        if state.status is JobStatus.FAILED:
            raise ProviderJobFailed(
                state.error_code or "Unknown",
                state.error_message or "",
                provider=provider.name,
                retryable=state.error_retryable,
            )
        if state.status is JobStatus.SUCCEEDED:
            break

        progress = _estimate_progress(state, handle.age_s(), provider.expected_duration_s)
        if _worth_reporting(last_report, state.status, progress, last_report_at):
            last_report, last_report_at = (state.status, progress), time.monotonic()
            await _call(on_progress, progress, state.detail or state.status.value)

        time_left = deadline - time.monotonic()
        if time_left <= 0:
            raise ProviderTimeout(deadline_s, provider=provider.name, job_id=handle.job_id)
        # Sleep at most until the deadline, then poll one last time.
        await asyncio.sleep(min(interval, time_left))
        interval = min(interval * backoff, max_interval)

    await _call(on_progress, 0.95, "downloading the generated model")
    assets = await provider.fetch_result(handle, state)
    logger.info(
        "%s: job %s done: %s",
        provider.name,
        handle.job_id,
        ", ".join(f"{f.format} ({len(f.data)} B)" for f in assets.files),
    )
    return assets

"""A self-hosted Hunyuan3D-2 server (``api_server.py`` of github.com/Tencent-Hunyuan/Hunyuan3D-2).

Its protocol, as that file implements it:
- ``POST /send`` JSON ``{"image": <base64>, "texture": bool, "face_count", "seed", "octree_resolution",
  "num_inference_steps", "guidance_scale", "type": "glb"}`` -> ``{"uid": "..."}``; the job runs in a thread.
- ``GET /status/{uid}`` -> ``{"status": "processing"}`` until ``{uploads}/{uid}.glb`` exists, then
  ``{"status": "completed", "model_base64": <base64 GLB>}``.
- ``POST /generate`` (same JSON) blocks until done and answers the GLB file itself, or HTTP 404
  ``{"text": ..., "error_code": 1}`` on any error.

What follows for this client:
- One image only: the server's pipeline takes a single picture, so the **front** cut-out is sent as
  ``image``. (Builds started with ``--mv`` also read ``image_left``/``image_right``/``image_back``;
  ``send_multiview=True`` adds them for such servers.)
- A job that crashes on the server never reports failure (``/status`` says ``processing`` forever), so the
  client's own deadline is the only way out: ``run_job`` turns it into ProviderTimeout.
- ``type`` is always ``glb``: ``/status`` only looks for a ``.glb`` file.
- The server is not paid per job, so a lost ``/send`` answer is simply sent again.
- ``mode="sync"`` uses ``POST /generate``: the model comes back in the submit call and is kept in memory
  until ``fetch_result``; a worker that restarts in between cannot resume it (ResultExpired: re-run).
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from photo3d_common.events import GenerationOptions

from .base import (
    GeneratedAssets,
    GeneratedFile,
    GenerationInputs,
    HttpProvider,
    JobHandle,
    JobState,
    JobStatus,
    RetryPolicy,
    TransientError,
    with_retries,
)
from .errors import ProviderConfigError, ProviderJobFailed, ProviderProtocolError, ResultExpired

logger = logging.getLogger(__name__)

GLB_MAGIC = b"glTF"


class SelfHostedSettings(BaseSettings):
    """``GENERATION_SELFHOSTED_*``: a Hunyuan3D-2 ``api_server.py`` you run yourself."""

    model_config = SettingsConfigDict(env_prefix="GENERATION_SELFHOSTED_", extra="ignore")

    base_url: str | None = Field(None, description="e.g. http://gpu-box:8081")
    mode: Literal["async", "sync"] = Field("async", description="async: /send + /status; sync: /generate")
    texture: bool = Field(
        True,
        description="the server paints textures (runs with --enable_tex); a model with its texture off is "
        "sent texture=false either way",
    )
    face_count: int | None = Field(
        None, ge=1000, description="a face_count for every job; None = each model's face budget"
    )
    seed: int = 1234
    octree_resolution: int | None = Field(None, description="None = the server's default")
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    send_multiview: bool = Field(False, description="also send image_left/right/back (servers run with --mv)")
    auth_token: SecretStr | None = Field(None, description="sent as a Bearer token (for a reverse proxy)")
    poll_interval_s: float = Field(2.0, gt=0)
    poll_backoff: float = Field(1.5, ge=1.0, description="each poll interval is the previous one times this")
    max_poll_interval_s: float = Field(10.0, gt=0)
    expected_duration_s: float = Field(120.0, gt=0)
    deadline_s: float = Field(15 * 60, gt=0)
    request_timeout_s: float = Field(60.0, gt=0)
    max_attempts: int = Field(5, ge=1)
    initial_backoff_s: float = Field(1.0, gt=0)
    max_backoff_s: float = Field(20.0, gt=0)
    max_retry_elapsed_s: float = Field(120.0, gt=0)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            initial_backoff_s=self.initial_backoff_s,
            max_backoff_s=self.max_backoff_s,
            max_elapsed_s=self.max_retry_elapsed_s,
        )


class SelfHostedHunyuanProvider(HttpProvider):
    """Hunyuan3D-2 ``api_server.py``: ``/send`` + ``/status/{uid}``, or ``/generate``."""

    name = "selfhosted"

    def __init__(self, settings: SelfHostedSettings, *, http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__(settings, http_client=http_client)
        headers = {}
        if settings.auth_token:
            headers["Authorization"] = f"Bearer {settings.auth_token.get_secret_value()}"
        self._headers = headers
        self._sync_results: dict[str, bytes] = {}

    def validate(self) -> None:
        url = self.settings.base_url
        parts = urlsplit(url or "")
        if not url or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProviderConfigError(
                f"the selfhosted provider needs GENERATION_SELFHOSTED_BASE_URL (an http(s) URL), got {url!r}",
                provider=self.name,
            )

    def _url(self, path: str) -> str:
        return f"{(self.settings.base_url or '').rstrip('/')}{path}"

    def options(self, wanted: GenerationOptions) -> dict[str, Any]:
        s = self.settings
        return {
            "texture": s.texture and wanted.texture,
            "face_count": self.face_count(wanted),
            "seed": s.seed,
            "octree_resolution": s.octree_resolution,
            "num_inference_steps": s.num_inference_steps,
            "guidance_scale": s.guidance_scale,
            "multiview": s.send_multiview,
        }

    def face_count(self, wanted: GenerationOptions) -> int:
        """api_server.py's ``face_count`` is the most faces its face reducer leaves; the worker then fits
        the result to the budget (subdividing a shape that came out coarser)."""
        return self.settings.face_count if self.settings.face_count is not None else wanted.target_faces

    def _payload(self, inputs: GenerationInputs) -> dict[str, Any]:
        s = self.settings
        payload: dict[str, Any] = {
            "image": base64.b64encode(inputs.images["front"]).decode("ascii"),
            "texture": s.texture and inputs.options.texture,
            "face_count": self.face_count(inputs.options),
            "seed": s.seed,
            "type": "glb",
        }
        if s.send_multiview:
            own = inputs.own_views()
            for view in ("left", "right", "back"):
                if view in own:
                    payload[f"image_{view}"] = base64.b64encode(own[view]).decode("ascii")
        for key in ("octree_resolution", "num_inference_steps", "guidance_scale"):
            if getattr(s, key) is not None:
                payload[key] = getattr(s, key)
        return payload

    async def _request(
        self, method: str, path: str, *, what: str, timeout: float | None = None, **kwargs: Any
    ):
        async def attempt() -> httpx.Response:
            try:
                response = await self._client.request(
                    method,
                    self._url(path),
                    headers=self._headers,
                    timeout=httpx.Timeout(timeout or self.settings.request_timeout_s),
                    **kwargs,
                )
            except httpx.TransportError as error:
                raise TransientError(f"{what}: {error!r}") from error
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(f"{what}: HTTP {response.status_code}")
            return response

        return await with_retries(attempt, policy=self._policy, what=what, provider=self.name)

    def _handle(self, job_id: str, inputs: GenerationInputs, mode: str) -> JobHandle:
        return JobHandle(
            provider=self.name,
            job_id=job_id,
            submitted_at=datetime.now(UTC),
            fingerprint=self.fingerprint(inputs),
            extra={"mode": mode, "base_url": self.settings.base_url or ""},
        )

    async def submit(self, inputs: GenerationInputs) -> JobHandle:
        if self.settings.mode == "sync":
            return await self._generate_now(inputs)
        response = await self._request("POST", "/send", what="POST /send", json=self._payload(inputs))
        try:
            uid = response.json()["uid"]
        except (ValueError, KeyError, TypeError) as error:
            raise ProviderProtocolError(
                f"POST /send answered HTTP {response.status_code}: {response.text[:200]!r}",
                provider=self.name,
            ) from error
        return self._handle(str(uid), inputs, "async")

    async def _generate_now(self, inputs: GenerationInputs) -> JobHandle:
        response = await self._request(
            "POST",
            "/generate",
            what="POST /generate",
            timeout=self.settings.deadline_s,
            json=self._payload(inputs),
        )
        if response.status_code != 200:
            try:
                text = str(response.json().get("text", ""))
            except ValueError:
                text = response.text[:200]
            # api_server.py answers 404 for every failure, including CUDA errors: worth another try later.
            raise ProviderJobFailed(f"http_{response.status_code}", text, provider=self.name, retryable=True)
        handle = self._handle(f"sync-{uuid.uuid4()}", inputs, "sync")
        self._sync_results[handle.job_id] = response.content
        return handle

    async def poll(self, handle: JobHandle) -> JobState:
        if handle.extra.get("mode") == "sync":
            if handle.job_id not in self._sync_results:
                raise ResultExpired(
                    f"synchronous result of {handle.job_id} is gone (worker restarted)", provider=self.name
                )
            return JobState(
                status=JobStatus.SUCCEEDED, progress=1.0, result=self._sync_results[handle.job_id]
            )
        response = await self._request("GET", f"/status/{handle.job_id}", what="GET /status")
        try:
            answer = response.json()
            status = answer["status"]
        except (ValueError, KeyError, TypeError) as error:
            raise ProviderProtocolError(
                f"GET /status answered HTTP {response.status_code}: {response.text[:200]!r}",
                provider=self.name,
            ) from error
        if status == "processing":
            return JobState(
                status=JobStatus.RUNNING, raw_status=status, detail="the Hunyuan3D server is generating"
            )
        if status == "completed":
            return JobState(
                status=JobStatus.SUCCEEDED, raw_status=status, progress=1.0, result=answer.get("model_base64")
            )
        raise ProviderProtocolError(f"GET /status: unknown status {status!r}", provider=self.name)

    async def fetch_result(self, handle: JobHandle, state: JobState) -> GeneratedAssets:
        result = state.result
        if isinstance(result, str):
            try:
                data = base64.b64decode(result, validate=True)
            except (binascii.Error, ValueError) as error:
                raise ProviderProtocolError("model_base64 is not valid base64", provider=self.name) from error
        elif isinstance(result, bytes | bytearray):
            data = bytes(result)
        else:
            raise ProviderProtocolError("the completed job carries no model", provider=self.name)
        if data[:4] != GLB_MAGIC:
            raise ProviderProtocolError(
                f"the server's model is not a GLB (starts with {data[:4]!r})", provider=self.name
            )
        self._sync_results.pop(handle.job_id, None)
        return GeneratedAssets(
            provider=self.name,
            job_id=handle.job_id,
            files=[GeneratedFile(format="glb", data=data)],
            metadata={"mode": handle.extra.get("mode", "async")},
        )

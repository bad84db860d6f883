"""Tencent Cloud Hunyuan 3D (ai3d, API version 2025-05-13) over httpx, signed with TC3-HMAC-SHA256.

Protocol (Tencent Cloud API docs, product 1804: SubmitHunyuanTo3DProJob / QueryHunyuanTo3DProJob, and
the official SDK's ``tencentcloud/ai3d/v20250513/models.py``):
- ``POST https://ai3d.tencentcloudapi.com/`` with JSON body and headers ``X-TC-Action``, ``X-TC-Version:
  2025-05-13``, ``X-TC-Region``, ``X-TC-Timestamp`` and a TC3 ``Authorization``.
- Submit: ``ImageBase64`` (the front cut-out), ``MultiViewImages: [{"ViewType": "left"|"right"|"back",
  "ViewImageBase64": ...}]``, optional ``Model``, ``EnablePBR``, ``FaceCount``, ``GenerateType``,
  ``PolygonType``, ``ResultFormat``; answers ``{"Response": {"JobId", "RequestId"}}``. Images: jpg/png,
  each side 128..5000 px, all images together at most 8 MB base64-encoded.
- Query ``{"JobId"}``: ``Status`` WAIT | RUN | FAIL | DONE, ``ErrorCode``/``ErrorMessage`` on FAIL,
  ``ResultFile3Ds: [{"Type", "Url", "PreviewImageUrl"}]`` on DONE (URLs valid 24 h).
- API errors come as HTTP 200 with ``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}``.

No double charge: a submit is retried only when Tencent cannot have started a job (the connection was never
made, a 5xx, or an error answer such as throttling); when a submit request was sent and its answer was lost,
the client does not resend it and reports ProviderUnavailable instead.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from PIL import Image
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from photo3d_common.concurrency import run_blocking
from photo3d_common.events import GenerationOptions, View

from . import tc3
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
from .errors import (
    ProviderAccountError,
    ProviderAuthError,
    ProviderConfigError,
    ProviderError,
    ProviderInputError,
    ProviderJobFailed,
    ProviderLimitError,
    ProviderProtocolError,
    ProviderUnavailable,
    ResultExpired,
)

logger = logging.getLogger(__name__)

API_VERSION = "2025-05-13"
SERVICE = "ai3d"
SUBMIT_ACTION = "SubmitHunyuanTo3DProJob"
QUERY_ACTION = "QueryHunyuanTo3DProJob"
MULTIVIEW_TYPES = ("left", "right", "back")
MAX_IMAGES_BASE64_BYTES = 8 * 1024 * 1024
MIN_IMAGE_SIDE = 128
MAX_IMAGE_SIDE = 5000
#: FaceCount's documented range (API 1804/123447): 10 000-1 500 000, from 3 000 with GenerateType LowPoly.
#: A smaller budget is asked as the minimum and the worker simplifies the result to it.
FACE_COUNT_RANGE = (10_000, 1_500_000)


class TencentSettings(BaseSettings):
    """``GENERATION_TENCENT_*``: the hosted Hunyuan 3D (ai3d) provider."""

    model_config = SettingsConfigDict(env_prefix="GENERATION_TENCENT_", extra="ignore")

    endpoint: str = Field(
        "ai3d.tencentcloudapi.com",
        description="API host (https), or a full URL such as http://127.0.0.1:9000 for a local server",
    )
    region: str = Field("ap-guangzhou", description="X-TC-Region")
    secret_id: SecretStr | None = None
    secret_key: SecretStr | None = None
    token: SecretStr | None = Field(None, description="X-TC-Token of temporary (STS) credentials")
    language: Literal["en-US", "zh-CN"] = Field("en-US", description="X-TC-Language of error messages")
    model: str | None = Field(
        None, description="Hunyuan 3D model version ('3.0', '3.1'); None = Tencent's default"
    )
    enable_pbr: bool = Field(False, description="EnablePBR: generate PBR materials")
    face_count: int | None = Field(
        None,
        ge=3000,
        le=1_500_000,
        description="a FaceCount for every job; None = each model's face budget (within Tencent's range)",
    )
    generate_type: Literal["Normal", "LowPoly", "Geometry"] = Field(
        "Normal",
        description="GenerateType (a model with its texture off asks for Geometry instead of Normal)",
    )
    polygon_type: Literal["triangle", "quadrilateral"] | None = Field(
        None, description="PolygonType (LowPoly only)"
    )
    result_format: Literal["STL", "USDZ", "FBX"] | None = Field(
        None, description="ResultFormat: one extra format besides the default OBJ and GLB"
    )
    send_multiview: bool = Field(True, description="send left/right/back as MultiViewImages")
    max_images_base64_bytes: int = Field(MAX_IMAGES_BASE64_BYTES, gt=0)
    max_image_side: int = Field(
        4096, ge=MIN_IMAGE_SIDE, lt=MAX_IMAGE_SIDE, description="larger images are downscaled"
    )
    jpeg_quality: int = Field(92, ge=50, le=100)
    poll_interval_s: float = Field(5.0, gt=0)
    poll_backoff: float = Field(1.5, ge=1.0, description="each poll interval is the previous one times this")
    max_poll_interval_s: float = Field(20.0, gt=0)
    expected_duration_s: float = Field(180.0, gt=0, description="typical job length, for progress estimates")
    deadline_s: float = Field(15 * 60, gt=0, description="a job not finished after this fails with a timeout")
    request_timeout_s: float = Field(30.0, gt=0)
    download_timeout_s: float = Field(180.0, gt=0)
    max_download_bytes: int = Field(512 * 1024 * 1024, gt=0)
    max_attempts: int = Field(5, ge=1, description="tries of one API call or download on transient faults")
    initial_backoff_s: float = Field(1.0, gt=0)
    max_backoff_s: float = Field(20.0, gt=0)
    max_retry_elapsed_s: float = Field(120.0, gt=0)

    @property
    def base_url(self) -> str:
        return self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}/"

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            initial_backoff_s=self.initial_backoff_s,
            max_backoff_s=self.max_backoff_s,
            max_elapsed_s=self.max_retry_elapsed_s,
        )


# --- images ----------------------------------------------------------------------------------------------


def _b64_len(n: int) -> int:
    return 4 * ((n + 2) // 3)


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        if image.mode in ("RGBA", "LA", "P"):
            # Cut-outs are transparent around the object: JPEG has no alpha, so composite on white.
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        elif image.mode != "RGB":
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=quality, optimize=True)
    else:
        image.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def prepare_images(
    images: Mapping[View, bytes],
    *,
    max_total_base64_bytes: int = MAX_IMAGES_BASE64_BYTES,
    max_side: int = 4096,
    jpeg_quality: int = 92,
) -> dict[View, tuple[bytes, str]]:
    """Fit the images into Tencent's limits: jpg/png, 128..5000 px a side, at most N bytes base64 in total.

    Images already within limits are sent as they are. Otherwise, step by step: re-encode other formats as
    PNG and downscale sides over ``max_side``; then JPEG on white; then downscale by 15 % steps.
    Returns ``{view: (bytes, "PNG"|"JPEG")}``; raises ProviderLimitError when nothing fits.
    """
    opened: dict[View, Image.Image] = {}
    result: dict[View, tuple[bytes, str]] = {}
    for view, data in images.items():
        try:
            image: Image.Image = Image.open(io.BytesIO(data))
            image.load()
        except Exception as error:  # Pillow raises many types for broken files
            raise ProviderInputError(
                f"{view} image cannot be decoded: {error}",
                user_message=f"The {view} cut-out is not a readable image; run background removal again.",
            ) from error
        width, height = image.size
        if min(width, height) < MIN_IMAGE_SIDE:
            raise ProviderLimitError(
                f"{view} image is {width}x{height} px; at least {MIN_IMAGE_SIDE} px per side needed",
                user_message=f"The {view} photo is too small ({width}x{height} px) for 3D generation: "
                f"upload one with at least {MIN_IMAGE_SIDE} px per side.",
            )
        if max(width, height) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            result[view] = (_encode(image, "PNG", jpeg_quality), "PNG")
        elif image.format in ("PNG", "JPEG"):
            result[view] = (data, image.format)
        else:
            result[view] = (_encode(image, "PNG", jpeg_quality), "PNG")
        opened[view] = image

    def total() -> int:
        return sum(_b64_len(len(data)) for data, _ in result.values())

    if total() <= max_total_base64_bytes:
        return result
    result = {view: (_encode(image, "JPEG", jpeg_quality), "JPEG") for view, image in opened.items()}
    scale = 1.0
    while total() > max_total_base64_bytes:
        scale *= 0.85
        for view, image in opened.items():
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            if min(size) < MIN_IMAGE_SIDE:
                raise ProviderLimitError(
                    f"images do not fit in {max_total_base64_bytes} base64 bytes even downscaled",
                    user_message="The photos are too large for the 3D generation service even after compression.",
                )
            result[view] = (
                _encode(image.resize(size, Image.Resampling.LANCZOS), "JPEG", jpeg_quality),
                "JPEG",
            )
    logger.info(
        "tencent: images re-encoded as JPEG at scale %.2f to fit %d bytes", scale, max_total_base64_bytes
    )
    return result


# --- API errors -------------------------------------------------------------------------------------------

_TRANSIENT_PREFIXES = (
    "RequestLimitExceeded",
    "LimitExceeded",
    "InternalError",
    "ServiceUnavailable",
    "ResourceInUse",
    "FailedOperation.InnerError",
)
_LIMIT_MARKERS = (
    "SizeLimit",
    "SizeExceed",
    "TooLarge",
    "ImageSize",
    "Resolution",
    "RequestSizeLimitExceeded",
)
_INPUT_PREFIXES = ("InvalidParameter", "MissingParameter", "UnknownParameter", "InvalidRequest")
_ACCOUNT_PREFIXES = (
    "ResourceInsufficient",
    "ResourceUnavailable",
    "OperationDenied",
    "UnsupportedRegion",
    "NoSuchProduct",
)
_CONFIG_PREFIXES = ("InvalidAction", "NoSuchVersion", "ActionOffline", "UnsupportedProtocol")


def is_transient_code(code: str) -> bool:
    return code.startswith(_TRANSIENT_PREFIXES)


def classify_api_error(code: str, message: str, *, request_id: str | None = None) -> Exception:
    """Map a Tencent Cloud error code to a TransientError (retry) or a ProviderError."""
    detail = f"{code}: {message}" + (f" (RequestId {request_id})" if request_id else "")
    if code.startswith(("AuthFailure", "UnauthorizedOperation")):
        hint = " (check the server clock)" if code == "AuthFailure.SignatureExpire" else ""
        return ProviderAuthError(f"Tencent rejected the credentials: {detail}{hint}", provider="tencent")
    if is_transient_code(code):
        return TransientError(detail)
    if any(marker in code for marker in _LIMIT_MARKERS):
        return ProviderLimitError(f"Tencent rejected the input size: {detail}", provider="tencent")
    if code.startswith(_INPUT_PREFIXES):
        return ProviderInputError(
            f"Tencent rejected the input: {detail}",
            user_message=f"The 3D generation service rejected the photos: {message}",
            provider="tencent",
        )
    if code.startswith(_ACCOUNT_PREFIXES):
        return ProviderAccountError(f"Tencent account cannot run jobs: {detail}", provider="tencent")
    if code.startswith(_CONFIG_PREFIXES):
        return ProviderConfigError(
            f"Tencent does not offer this API as configured: {detail}", provider="tencent"
        )
    if code.startswith("ResourceNotFound"):
        return ResultExpired(f"Tencent does not know the job: {detail}", provider="tencent")
    return ProviderJobFailed(code, message, provider="tencent")


# --- the provider -----------------------------------------------------------------------------------------

_STATUS = {
    "WAIT": JobStatus.QUEUED,
    "RUN": JobStatus.RUNNING,
    "DONE": JobStatus.SUCCEEDED,
    "FAIL": JobStatus.FAILED,
}
_EXPIRED_HTTP = (401, 403, 404, 410)


class TencentHunyuanProvider(HttpProvider):
    """Tencent Cloud ai3d ``SubmitHunyuanTo3DProJob`` / ``QueryHunyuanTo3DProJob``."""

    name = "tencent"

    def __init__(self, settings: TencentSettings, *, http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__(settings, http_client=http_client, follow_redirects=True)

    def validate(self) -> None:
        missing = [
            f"GENERATION_TENCENT_{name.upper()}"
            for name in ("secret_id", "secret_key")
            if not (getattr(self.settings, name) and getattr(self.settings, name).get_secret_value().strip())
        ]
        if missing:
            raise ProviderConfigError(
                f"the tencent provider needs {' and '.join(missing)}", provider=self.name
            )
        if not self.settings.region:
            raise ProviderConfigError(
                "the tencent provider needs GENERATION_TENCENT_REGION", provider=self.name
            )
        parts = urlsplit(self.settings.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProviderConfigError(f"invalid GENERATION_TENCENT_ENDPOINT {self.settings.endpoint!r}")

    def generate_type(self, wanted: GenerationOptions) -> str:
        """Untextured geometry (``Geometry``) for a model with its texture off, else the configured type."""
        if not wanted.texture and self.settings.generate_type == "Normal":
            return "Geometry"
        return self.settings.generate_type

    def face_count(self, wanted: GenerationOptions) -> int | None:
        """FaceCount to ask for: the configured one, else the model's budget within the documented range
        (LowPoly decides its own face count)."""
        if self.generate_type(wanted) == "LowPoly":
            return None
        if self.settings.face_count is not None:
            return self.settings.face_count
        low, high = FACE_COUNT_RANGE
        return min(max(wanted.target_faces, low), high)

    def options(self, wanted: GenerationOptions) -> dict[str, Any]:
        s = self.settings
        return {
            "model": s.model,
            "enable_pbr": s.enable_pbr,
            "face_count": self.face_count(wanted),
            "generate_type": self.generate_type(wanted),
            "polygon_type": s.polygon_type,
            "result_format": s.result_format,
            "multiview": s.send_multiview,
        }

    # --- API calls ---

    async def _api(
        self, action: str, params: Mapping[str, Any], *, region: str, may_resend: bool
    ) -> dict[str, Any]:
        settings = self.settings
        secret_id = settings.secret_id.get_secret_value() if settings.secret_id else ""
        secret_key = settings.secret_key.get_secret_value() if settings.secret_key else ""
        token = settings.token.get_secret_value() if settings.token else None

        async def attempt() -> dict[str, Any]:
            signed = tc3.sign_json_request(
                secret_id=secret_id,
                secret_key=secret_key,
                service=SERVICE,
                host=settings.host,
                action=action,
                version=API_VERSION,
                region=region,
                params=params,
                timestamp=int(time.time()),
                token=token,
                language=settings.language,
            )
            try:
                response = await self._client.post(
                    settings.base_url, content=signed.body, headers=signed.headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                raise TransientError(f"{action}: cannot connect: {error!r}") from error
            except httpx.TransportError as error:
                if may_resend:
                    raise TransientError(f"{action}: {error!r}") from error
                raise ProviderUnavailable(
                    f"{action}: the answer was lost ({error!r}); not resent, as Tencent may have started a "
                    "paid job",
                    provider=self.name,
                ) from error
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(f"{action}: HTTP {response.status_code}")
            try:
                payload = response.json()["Response"]
            except (ValueError, KeyError, TypeError) as error:
                raise ProviderProtocolError(
                    f"{action}: HTTP {response.status_code} without a Tencent API answer: {response.text[:200]!r}",
                    provider=self.name,
                ) from error
            if "Error" in payload:
                api_error = payload["Error"] or {}
                raise classify_api_error(
                    str(api_error.get("Code", "")),
                    str(api_error.get("Message", "")),
                    request_id=payload.get("RequestId"),
                )
            answer: dict[str, Any] = payload
            return answer

        return await with_retries(attempt, policy=self._policy, what=action, provider=self.name)

    async def submit(self, inputs: GenerationInputs) -> JobHandle:
        prepared = await run_blocking(
            functools.partial(
                prepare_images,
                inputs.own_views() if self.settings.send_multiview else {"front": inputs.images["front"]},
                max_total_base64_bytes=self.settings.max_images_base64_bytes,
                max_side=self.settings.max_image_side,
                jpeg_quality=self.settings.jpeg_quality,
            ),
            abandon_on_cancel=True,
        )
        params: dict[str, Any] = {"ImageBase64": base64.b64encode(prepared["front"][0]).decode("ascii")}
        views = [
            {"ViewType": view, "ViewImageBase64": base64.b64encode(prepared[view][0]).decode("ascii")}
            for view in MULTIVIEW_TYPES
            if view in prepared
        ]
        if views:
            params["MultiViewImages"] = views
        s = self.settings
        generate_type = self.generate_type(inputs.options)
        face_count = self.face_count(inputs.options)
        if s.model:
            params["Model"] = s.model
        if generate_type != "Geometry":  # PBR materials mean nothing on untextured geometry
            params["EnablePBR"] = s.enable_pbr
        if face_count is not None:
            params["FaceCount"] = face_count
        if generate_type != "Normal":
            params["GenerateType"] = generate_type
        if s.polygon_type and generate_type == "LowPoly":
            params["PolygonType"] = s.polygon_type
        if s.result_format:
            params["ResultFormat"] = s.result_format

        answer = await self._api(SUBMIT_ACTION, params, region=s.region, may_resend=False)
        job_id = answer.get("JobId")
        if not job_id:
            raise ProviderProtocolError(
                f"{SUBMIT_ACTION} answered without a JobId: {answer!r}", provider=self.name
            )
        return JobHandle(
            provider=self.name,
            job_id=str(job_id),
            submitted_at=datetime.now(UTC),
            fingerprint=self.fingerprint(inputs),
            extra={"region": s.region, "request_id": str(answer.get("RequestId", ""))},
        )

    async def poll(self, handle: JobHandle) -> JobState:
        region = handle.extra.get("region") or self.settings.region
        answer = await self._api(QUERY_ACTION, {"JobId": handle.job_id}, region=region, may_resend=True)
        raw = answer.get("Status")
        status = _STATUS.get(str(raw))
        if status is None:
            raise ProviderProtocolError(f"{QUERY_ACTION}: unknown Status {raw!r}", provider=self.name)
        if status is JobStatus.FAILED:
            code = str(answer.get("ErrorCode") or "Unknown")
            return JobState(
                status=status,
                raw_status=raw,
                error_code=code,
                error_message=str(answer.get("ErrorMessage") or ""),
                error_retryable=is_transient_code(code),
            )
        if status is JobStatus.SUCCEEDED:
            files = [f for f in answer.get("ResultFile3Ds") or [] if isinstance(f, dict) and f.get("Url")]
            if not files:
                raise ProviderProtocolError(f"{QUERY_ACTION}: DONE without result files", provider=self.name)
            return JobState(status=status, raw_status=raw, progress=1.0, detail="done", result=files)
        detail = (
            "queued at Tencent Hunyuan 3D"
            if status is JobStatus.QUEUED
            else "Tencent Hunyuan 3D is generating"
        )
        return JobState(status=status, raw_status=raw, detail=detail)

    async def _download(self, url: str, what: str) -> bytes:
        limit = self.settings.max_download_bytes

        async def attempt() -> bytes:
            try:
                async with self._client.stream(
                    "GET", url, timeout=httpx.Timeout(self.settings.download_timeout_s)
                ) as response:
                    if response.status_code in _EXPIRED_HTTP:
                        raise ResultExpired(
                            f"{what} download answered HTTP {response.status_code} (URL expired or broken)",
                            provider=self.name,
                        )
                    if response.status_code >= 500 or response.status_code == 429:
                        raise TransientError(f"{what} download: HTTP {response.status_code}")
                    if response.status_code != 200:
                        raise ResultExpired(
                            f"{what} download answered HTTP {response.status_code}", provider=self.name
                        )
                    chunks = bytearray()
                    async for chunk in response.aiter_bytes():
                        chunks.extend(chunk)
                        if len(chunks) > limit:
                            raise ProviderProtocolError(
                                f"{what} is larger than {limit} bytes", provider=self.name
                            )
                    return bytes(chunks)
            except httpx.TransportError as error:  # downloads are safe to repeat
                raise TransientError(f"{what} download: {error!r}") from error

        return await with_retries(attempt, policy=self._policy, what=f"download {what}", provider=self.name)

    async def fetch_result(self, handle: JobHandle, state: JobState) -> GeneratedAssets:
        files: list[GeneratedFile] = []
        preview: bytes | None = None
        for entry in state.result or []:
            fmt = str(entry.get("Type") or "bin").lower()
            data = await self._download(entry["Url"], fmt.upper())
            files.append(GeneratedFile(format=fmt, data=data, source_url=entry["Url"]))
            preview_url = entry.get("PreviewImageUrl")
            if preview is None and preview_url:
                try:
                    preview = await self._download(preview_url, "preview image")
                except ProviderError as error:  # the model matters; a missing preview does not fail the job
                    logger.warning("tencent: job %s: preview not downloaded: %s", handle.job_id, error)
        return GeneratedAssets(
            provider=self.name,
            job_id=handle.job_id,
            files=files,
            preview=preview,
            metadata={"region": handle.extra.get("region"), "api_version": API_VERSION},
        )

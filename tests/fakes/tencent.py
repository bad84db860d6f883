"""A local stand-in for Tencent Cloud ai3d (API 2025-05-13), following the published protocol.

- ``POST /`` with ``X-TC-Action`` SubmitHunyuanTo3DProJob | QueryHunyuanTo3DProJob, ``X-TC-Version:
  2025-05-13``, ``X-TC-Region``, ``X-TC-Timestamp`` and a TC3-HMAC-SHA256 ``Authorization`` that is
  verified with an implementation of its own (hashlib/hmac, independent of the client's signer); answers
  ``{"Response": {...}}``, errors as ``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}``.
- Submit checks the payload as the docs describe it: ``ImageBase64`` (jpg/png, 128..5000 px a side),
  ``MultiViewImages`` items ``{"ViewType": left|right|back, "ViewImageBase64"}`` (one per view), and at
  most 8 MB of base64 images in total (over it: ``RequestSizeLimitExceeded``).
- Query answers ``Status`` WAIT/RUN/FAIL/DONE; DONE carries ``ResultFile3Ds`` whose URLs this server serves
  itself under ``/files/...`` (or answers 403/404 for expired/broken ones, as object storage does).

Script it per test: ``server.script_job(ScriptedJob(...))`` for the next submitted job(s), and
``server.inject(action, Fault...)`` for request-level faults (5xx, dropped connections, API error codes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from PIL import Image

from ._server import FAST_POLLING, FakeService
from .assets import box_glb, box_obj_zip, preview_png

API_VERSION = "2025-05-13"
SERVICE = "ai3d"
SUBMIT = "SubmitHunyuanTo3DProJob"
QUERY = "QueryHunyuanTo3DProJob"
MAX_IMAGES_BASE64 = 8 * 1024 * 1024

_AUTH = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/]+)/tc3_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass
class ResultFile:
    type: str  # "GLB", "OBJ", ...
    data: bytes
    http_status: int = 200  # 403: an expired URL, 404: a broken one
    preview: bytes | None = None


def default_files() -> list[ResultFile]:
    return [ResultFile("GLB", box_glb(), preview=preview_png()), ResultFile("OBJ", box_obj_zip())]


@dataclass
class ScriptedJob:
    """How a submitted job behaves: ``wait_polls`` WAIT answers, then ``run_polls`` RUN, then the outcome."""

    wait_polls: int = 0
    run_polls: int = 1
    outcome: Literal["DONE", "FAIL", "NEVER"] = "DONE"
    error_code: str = "FailedOperation"
    error_message: str = "generation failed"
    files: list[ResultFile] = field(default_factory=default_files)


@dataclass
class Fault:
    """A request-level fault: ``http`` status with no API body, a ``drop``ped connection, or an API ``error``."""

    kind: Literal["http", "drop", "error"]
    status: int = 500
    code: str = ""
    message: str = ""
    http_status: int = 200  # the HTTP status an API error is sent with

    @classmethod
    def http_error(cls, status: int = 503) -> Fault:
        return cls("http", status=status)

    @classmethod
    def dropped(cls) -> Fault:
        return cls("drop")

    @classmethod
    def api_error(cls, code: str, message: str = "", http_status: int = 200) -> Fault:
        return cls("error", code=code, message=message or code, http_status=http_status)


@dataclass
class RecordedRequest:
    action: str
    params: dict[str, Any]
    headers: dict[str, str]
    outcome: str  # "ok", an error code, "http 5xx", "dropped"


@dataclass
class _Job:
    job_id: str
    script: ScriptedJob
    polls: int = 0


class FakeTencentAi3d(FakeService):
    def __init__(
        self,
        *,
        secret_id: str = "AKIDfake0123456789",
        secret_key: str = "fake-secret-key-0123456789",
        max_images_base64_bytes: int = MAX_IMAGES_BASE64,
        max_clock_skew_s: int = 300,
    ) -> None:
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.max_images_base64_bytes = max_images_base64_bytes
        self.max_clock_skew_s = max_clock_skew_s
        self.requests: list[RecordedRequest] = []
        self.file_requests: list[str] = []
        self.jobs: dict[str, _Job] = {}
        self._scripts: deque[ScriptedJob] = deque()
        self.default_script = ScriptedJob()
        self._faults: dict[str, deque[Fault]] = {SUBMIT: deque(), QUERY: deque(), "files": deque()}
        self._files: dict[str, ResultFile | tuple[bytes, int]] = {}
        self._lock = threading.Lock()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/", self._api)
        app.router.add_get("/files/{name}", self._file)
        self._serve(app)

    def provider(self, **overrides: Any) -> Any:
        """A TencentHunyuanProvider pointed at this server, with its credentials and fast polling."""
        from photo3d_generation.providers.tencent import TencentHunyuanProvider, TencentSettings

        values = {"endpoint": self.url, "secret_id": self.secret_id, "secret_key": self.secret_key}
        return TencentHunyuanProvider(TencentSettings(**{**values, **FAST_POLLING, **overrides}))

    # --- scripting ---

    def script_job(self, *jobs: ScriptedJob) -> None:
        """The next submitted jobs follow these scripts, in order; later ones follow ``default_script``."""
        with self._lock:
            self._scripts.extend(jobs)

    def inject(self, action: str, *faults: Fault) -> None:
        """The next requests of ``action`` (SUBMIT, QUERY or "files") meet these faults, in order."""
        with self._lock:
            self._faults[action].extend(faults)

    def calls(self, action: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.action == action]

    # --- handlers ---

    def _error(self, code: str, message: str, status: int = 200) -> web.Response:
        body = {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}
        return web.json_response(body, status=status)

    def _verify(self, request: web.Request, body: bytes) -> tuple[str, str] | None:
        """None when the request is properly signed, else (error code, message)."""
        headers = request.headers
        match = _AUTH.match(headers.get("Authorization", ""))
        if not match:
            return "AuthFailure.InvalidAuthorization", "Authorization header is not TC3-HMAC-SHA256"
        if match["secret_id"] != self.secret_id:
            return "AuthFailure.SecretIdNotFound", "The SecretId is not found"
        try:
            timestamp = int(headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return "MissingParameter", "X-TC-Timestamp is missing"
        if abs(time.time() - timestamp) > self.max_clock_skew_s:
            return "AuthFailure.SignatureExpire", "Signature expired"
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        if match["date"] != date or match["service"] != SERVICE:
            return "AuthFailure.SignatureFailure", "Credential scope does not match the request"
        signed = match["signed"].split(";")
        if "content-type" not in signed or "host" not in signed or signed != sorted(signed):
            return "AuthFailure.SignatureFailure", "SignedHeaders must include content-type and host, sorted"
        canonical_headers = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed)
        canonical = "\n".join(
            [
                request.method,
                request.path,
                request.query_string,
                canonical_headers,
                match["signed"],
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{date}/{SERVICE}/tc3_request"
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        key = ("TC3" + self.secret_key).encode()
        for part in (date, SERVICE, "tc3_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["signature"]):
            return "AuthFailure.SignatureFailure", "The provided credentials could not be validated"
        return None

    async def _api(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        action = request.headers.get("X-TC-Action", "")
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        record = RecordedRequest(action=action, params=params, headers=dict(request.headers), outcome="ok")
        with self._lock:
            self.requests.append(record)
            fault = self._faults[action].popleft() if self._faults.get(action) else None
        if fault is not None:
            if fault.kind == "drop":
                record.outcome = "dropped"
                request.transport.close()
                raise web.HTTPInternalServerError()  # never written: the connection is gone
            if fault.kind == "http":
                record.outcome = f"http {fault.status}"
                return web.Response(
                    status=fault.status, text="<html>gateway error</html>", content_type="text/html"
                )
            record.outcome = fault.code
            return self._error(fault.code, fault.message, fault.http_status)

        if request.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            record.outcome = "InvalidParameter"
            return self._error("InvalidParameter", "Content-Type must be application/json")
        if action not in (SUBMIT, QUERY):
            record.outcome = "InvalidAction"
            return self._error("InvalidAction", f"action {action!r} does not exist")
        if request.headers.get("X-TC-Version") != API_VERSION:
            record.outcome = "NoSuchVersion"
            return self._error(
                "NoSuchVersion", f"version {request.headers.get('X-TC-Version')!r} does not exist"
            )
        if not request.headers.get("X-TC-Region"):
            record.outcome = "MissingParameter"
            return self._error("MissingParameter", "X-TC-Region is required")
        problem = self._verify(request, body)
        if problem:
            record.outcome = problem[0]
            return self._error(*problem)
        if not isinstance(params, dict):
            record.outcome = "InvalidParameter"
            return self._error("InvalidParameter", "the body must be a JSON object")
        answer = self._submit(params) if action == SUBMIT else self._query(params)
        if "Error" in answer:
            record.outcome = answer["Error"]["Code"]
        answer["RequestId"] = str(uuid.uuid4())
        return web.json_response({"Response": answer})

    @staticmethod
    def _err(code: str, message: str) -> dict[str, Any]:
        return {"Error": {"Code": code, "Message": message}}

    def _check_image(self, what: str, encoded: Any) -> str | None:
        if not isinstance(encoded, str):
            return f"{what} must be a base64 string"
        try:
            data = base64.b64decode(encoded, validate=True)
            image = Image.open(io.BytesIO(data))
            image.load()
        except (binascii.Error, ValueError, OSError):
            return f"{what} is not a base64 encoded image"
        if image.format not in ("PNG", "JPEG"):
            return f"{what} must be jpg or png, got {image.format}"
        if min(image.size) < 128 or max(image.size) > 5000:
            return f"{what} is {image.size[0]}x{image.size[1]}; each side must be within 128..5000"
        return None

    def _submit(self, params: dict[str, Any]) -> dict[str, Any]:
        if "ImageBase64" not in params and "ImageUrl" not in params and "Prompt" not in params:
            return self._err("MissingParameter", "one of ImageBase64, ImageUrl, Prompt is required")
        total = len(params.get("ImageBase64", ""))
        problem = self._check_image("ImageBase64", params.get("ImageBase64"))
        if problem:
            return self._err("InvalidParameterValue", problem)
        views = params.get("MultiViewImages", [])
        if not isinstance(views, list):
            return self._err("InvalidParameter", "MultiViewImages must be an array of ViewImage")
        seen = set()
        for item in views:
            if not isinstance(item, dict) or set(item) - {"ViewType", "ViewImageUrl", "ViewImageBase64"}:
                return self._err("UnknownParameter", f"unknown ViewImage fields in {sorted(item)}")
            view = item.get("ViewType")
            if view not in ("left", "right", "back") or view in seen:
                return self._err("InvalidParameterValue", f"ViewType {view!r} is invalid or repeated")
            seen.add(view)
            problem = self._check_image(f"MultiViewImages[{view}]", item.get("ViewImageBase64"))
            if problem:
                return self._err("InvalidParameterValue", problem)
            total += len(item["ViewImageBase64"])
        if total > self.max_images_base64_bytes:
            return self._err("RequestSizeLimitExceeded", f"images are {total} bytes; the limit is 8M")
        face_count = params.get("FaceCount")
        if face_count is not None and not (isinstance(face_count, int) and 3000 <= face_count <= 1_500_000):
            return self._err("InvalidParameterValue", "FaceCount must be within [3000, 1500000]")
        if "EnablePBR" in params and not isinstance(params["EnablePBR"], bool):
            return self._err("InvalidParameter", "EnablePBR must be a Boolean")
        job_id = str(1_300_000_000_000_000_000 + len(self.jobs))
        with self._lock:
            script = self._scripts.popleft() if self._scripts else self.default_script
            self.jobs[job_id] = _Job(job_id, script)
        return {"JobId": job_id}

    def _query(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.get(str(params.get("JobId", "")))
        if job is None:
            return self._err("ResourceNotFound", f"job {params.get('JobId')!r} does not exist")
        job.polls += 1
        script = job.script
        base = {"ErrorCode": "", "ErrorMessage": "", "ResultFile3Ds": []}
        if script.outcome == "NEVER" or job.polls <= script.wait_polls + script.run_polls:
            return {**base, "Status": "WAIT" if job.polls <= script.wait_polls else "RUN"}
        if script.outcome == "FAIL":
            return {
                **base,
                "Status": "FAIL",
                "ErrorCode": script.error_code,
                "ErrorMessage": script.error_message,
            }
        files = []
        for index, result in enumerate(script.files):
            name = f"{job.job_id}-{index}.{result.type.lower()}"
            self._files[name] = result
            entry = {"Type": result.type, "Url": f"{self.url}/files/{name}"}
            if result.preview is not None:
                self._files[f"{name}.png"] = (result.preview, result.http_status)
                entry["PreviewImageUrl"] = f"{self.url}/files/{name}.png"
            files.append(entry)
        return {**base, "Status": "DONE", "ResultFile3Ds": files}

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        with self._lock:
            self.file_requests.append(name)
            fault = self._faults["files"].popleft() if self._faults["files"] else None
        if fault is not None:
            if fault.kind == "drop":
                request.transport.close()
                raise web.HTTPInternalServerError()
            return web.Response(status=fault.status, text="busy")
        found = self._files.get(name)
        if found is None:
            return _cos_error(404, "NoSuchKey", "The specified key does not exist.")
        data, status = (found.data, found.http_status) if isinstance(found, ResultFile) else found
        if status == 403:
            return _cos_error(403, "AccessDenied", "Request has expired")
        if status != 200:
            return _cos_error(status, "NoSuchKey", "The specified key does not exist.")
        return web.Response(body=data, content_type="application/octet-stream")


def _cos_error(status: int, code: str, message: str) -> web.Response:
    xml = f"<?xml version='1.0' encoding='utf-8' ?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return web.Response(status=status, text=xml, content_type="application/xml")

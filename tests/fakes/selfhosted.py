"""A local stand-in for the self-hosted Hunyuan3D-2 ``api_server.py`` (github.com/Tencent-Hunyuan/Hunyuan3D-2).

- ``POST /send`` JSON with ``image`` (base64) -> ``{"uid"}``;
- ``GET /status/{uid}`` -> ``{"status": "processing"}`` or ``{"status": "completed", "model_base64"}``;
  unknown uids are "processing" too, exactly like the real server (it only checks whether a file exists);
- ``POST /generate`` -> the GLB bytes, or HTTP 404 ``{"text", "error_code": 1}`` on failure.

Like the real one it never reports a failed job: a job scripted with ``never_completes`` stays processing.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from ._server import FAST_POLLING, FakeService
from .assets import box_glb

SERVER_ERROR_TEXT = "**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**"


@dataclass
class ScriptedJob:
    processing_polls: int = 1  # "processing" answers before "completed"
    never_completes: bool = False
    model: bytes = field(default_factory=box_glb)


@dataclass
class Fault:
    kind: str  # "http" or "drop"
    status: int = 500

    @classmethod
    def http_error(cls, status: int = 502) -> Fault:
        return cls("http", status)

    @classmethod
    def dropped(cls) -> Fault:
        return cls("drop")


@dataclass
class _Job:
    uid: str
    params: dict[str, Any]
    script: ScriptedJob
    polls: int = 0


class FakeHunyuanServer(FakeService):
    def __init__(self) -> None:
        self.jobs: dict[str, _Job] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.generate_params: list[dict[str, Any]] = []
        self.default_script = ScriptedJob()
        self.generate_fails = False
        self._scripts: deque[ScriptedJob] = deque()
        self._faults: dict[str, deque[Fault]] = {"send": deque(), "status": deque(), "generate": deque()}
        self._lock = threading.Lock()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/send", self._send)
        app.router.add_get("/status/{uid}", self._status)
        app.router.add_post("/generate", self._generate)
        self._serve(app)

    def provider(self, **overrides: Any) -> Any:
        """A SelfHostedHunyuanProvider pointed at this server, with fast polling."""
        from photo3d_generation.providers.selfhosted import SelfHostedHunyuanProvider, SelfHostedSettings

        return SelfHostedHunyuanProvider(
            SelfHostedSettings(**{"base_url": self.url, **FAST_POLLING, **overrides})
        )

    def script_job(self, *jobs: ScriptedJob) -> None:
        with self._lock:
            self._scripts.extend(jobs)

    def inject(self, endpoint: str, *faults: Fault) -> None:
        """The next requests to ``endpoint`` ("send", "status" or "generate") meet these faults."""
        with self._lock:
            self._faults[endpoint].extend(faults)

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(prefix))

    def _fault(self, endpoint: str, request: web.Request) -> web.Response | None:
        with self._lock:
            self.requests.append((request.method, request.path))
            fault = self._faults[endpoint].popleft() if self._faults[endpoint] else None
        if fault is None:
            return None
        if fault.kind == "drop":
            request.transport.close()
            raise web.HTTPInternalServerError()  # never written: the connection is gone
        return web.Response(status=fault.status, text="Bad Gateway")

    @staticmethod
    def _decode_image(params: Any) -> str | None:
        if not isinstance(params, dict) or not isinstance(params.get("image"), str):
            return "No input image or text provided"
        try:
            Image.open(io.BytesIO(base64.b64decode(params["image"], validate=True))).load()
        except (binascii.Error, ValueError, OSError):
            return "cannot identify image file"
        return None

    async def _send(self, request: web.Request) -> web.StreamResponse:
        params = json.loads(await request.read())
        faulty = self._fault("send", request)
        if faulty is not None:
            return faulty
        uid = str(uuid.uuid4())
        with self._lock:
            script = self._scripts.popleft() if self._scripts else self.default_script
            # The real server starts a thread; a job whose input is broken dies there, silently.
            if self._decode_image(params) is not None:
                script = ScriptedJob(never_completes=True)
            self.jobs[uid] = _Job(uid, params, script)
        return web.json_response({"uid": uid})

    async def _status(self, request: web.Request) -> web.StreamResponse:
        faulty = self._fault("status", request)
        if faulty is not None:
            return faulty
        job = self.jobs.get(request.match_info["uid"])
        if job is None:
            return web.json_response({"status": "processing"})
        job.polls += 1
        if job.script.never_completes or job.polls <= job.script.processing_polls:
            return web.json_response({"status": "processing"})
        return web.json_response(
            {"status": "completed", "model_base64": base64.b64encode(job.script.model).decode()}
        )

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        params = json.loads(await request.read())
        faulty = self._fault("generate", request)
        if faulty is not None:
            return faulty
        self.generate_params.append(params)
        if self.generate_fails or self._decode_image(params) is not None:
            return web.json_response({"text": SERVER_ERROR_TEXT, "error_code": 1}, status=404)
        return web.Response(body=self.default_script.model, content_type="model/gltf-binary")

"""The smoke test: the plan's full workflow against a deployed environment, as a smoke-test user would
do it over HTTP: create a model, upload the four sample photos that ship with this package, wait for
``completed``, download the GLB and check it loads, delete the model. Each step is printed with its time."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import httpx

from .environment import Environment

VIEWS = ("front", "left", "right", "back")
SMOKE_USER = "photo3d-smoke-test"


class SmokeFailed(RuntimeError):
    pass


@dataclass
class SmokeResult:
    passed: bool
    skipped: str | None = None
    model_id: str | None = None
    failed_step: str | None = None
    reason: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sample_photos() -> dict[str, bytes]:
    folder = resources.files("photo3d_devstack.deploy") / "smoke_photos"
    return {view: (folder / f"{view}.jpg").read_bytes() for view in VIEWS}


def smoke_token(environment: Environment, user: str = SMOKE_USER) -> str:
    """DEPLOY_SMOKE_TOKEN, else an HS256 token signed with the environment's AUTH_JWT_SECRET."""
    if environment.smoke_token:
        return environment.smoke_token
    import jwt

    secret = environment.settings.get("AUTH_JWT_SECRET")
    if not secret:
        raise SmokeFailed(
            "no token for the smoke-test user: set DEPLOY_SMOKE_TOKEN (tokens come from AUTH_JWKS_URL)"
        )
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user, "iat": now, "nbf": now, "exp": now + 3600}
    if environment.settings.get("AUTH_AUDIENCE"):
        claims["aud"] = environment.settings["AUTH_AUDIENCE"]
    if environment.settings.get("AUTH_ISSUER"):
        claims["iss"] = environment.settings["AUTH_ISSUER"]
    return jwt.encode(claims, secret, algorithm="HS256")


def run_smoke_test(environment: Environment, say: Callable[[str], None]) -> SmokeResult:
    result = SmokeResult(passed=False)
    status_url, upload_url = environment.status_url, environment.upload_url
    deadline_s = environment.smoke_timeout_s

    def step(name: str, action: Callable[[], str]) -> None:
        started = time.monotonic()
        try:
            detail = action()
        except SmokeFailed as error:
            seconds = time.monotonic() - started
            result.steps.append(
                {"name": name, "ok": False, "seconds": round(seconds, 2), "detail": str(error)}
            )
            say(f"  smoke: {name:<18} FAILED after {seconds:.1f}s: {error}")
            result.failed_step, result.reason = name, str(error)
            raise
        seconds = time.monotonic() - started
        result.steps.append({"name": name, "ok": True, "seconds": round(seconds, 2), "detail": detail})
        say(f"  smoke: {name:<18} ok in {seconds:5.1f}s  {detail}")

    with httpx.Client(timeout=30) as http:
        try:
            config = _json(http.get(f"{status_url}/config.json"), "GET /config.json")
        except (SmokeFailed, httpx.HTTPError) as error:
            result.failed_step, result.reason = "read config", f"the status service does not answer: {error}"
            say(f"  smoke: FAILED: {result.reason}")
            return result
        if config.get("creationEnabled") is False:
            result.skipped = "model creation is switched off (photo3d deploy ENV --ui-on turns it back on)"
            say(f"  smoke: skipped: {result.skipped}")
            return result
        headers = {"Authorization": f"Bearer {smoke_token(environment)}"}
        try:
            step("create model", lambda: _create(http, status_url, headers, result))
            step("upload 4 photos", lambda: _upload(http, upload_url, headers, result.model_id or ""))
            step(
                "wait completed", lambda: _wait(http, status_url, headers, result.model_id or "", deadline_s)
            )
            step("download glb", lambda: _glb(http, status_url, headers, result.model_id or ""))
            step("delete model", lambda: _delete(http, status_url, headers, result.model_id or ""))
        except SmokeFailed:
            if result.model_id and result.failed_step != "delete model":
                _cleanup(http, status_url, headers, result.model_id)
            return result
    result.passed = True
    return result


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise SmokeFailed(f"{what} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def _create(http: httpx.Client, status_url: str, headers: dict[str, str], result: SmokeResult) -> str:
    try:
        response = http.post(f"{status_url}/api/models", json={"name": "smoke test"}, headers=headers)
    except httpx.HTTPError as error:
        raise SmokeFailed(f"the status service cannot be reached: {error}") from error
    if response.status_code != 201:
        raise SmokeFailed(f"POST /api/models answered {response.status_code}: {response.text[:300]}")
    result.model_id = response.json()["id"]
    return f"model {result.model_id}"


def _upload(http: httpx.Client, upload_url: str, headers: dict[str, str], model_id: str) -> str:
    total = 0
    for view, data in sample_photos().items():
        try:
            response = http.post(
                f"{upload_url}/api/upload-photo",
                data={"model_id": model_id, "view": view},
                files={"file": (f"{view}.jpg", data, "image/jpeg")},
                headers=headers,
            )
        except httpx.HTTPError as error:
            raise SmokeFailed(f"the upload service cannot be reached: {error}") from error
        if response.status_code != 201:
            raise SmokeFailed(
                f"uploading the {view} photo answered {response.status_code}: {response.text[:300]}"
            )
        total += len(data)
    return f"{total // 1024} KiB"


def _wait(
    http: httpx.Client, status_url: str, headers: dict[str, str], model_id: str, deadline_s: float
) -> str:
    deadline = time.monotonic() + deadline_s
    seen: list[str] = []
    while True:
        model = _json(http.get(f"{status_url}/api/models/{model_id}", headers=headers), "GET the model")
        if not seen or seen[-1] != model["status"]:
            seen.append(model["status"])
        if model["status"] == "completed":
            return " → ".join(seen)
        if model["status"] == "failed":
            raise SmokeFailed(
                f"the model failed in {model.get('error_stage')} ({model.get('error_code')}): {model.get('error_message')}"
            )
        if time.monotonic() > deadline:
            raise SmokeFailed(
                f"not completed within {deadline_s:.0f}s (status {model['status']}; {' → '.join(seen)})"
            )
        time.sleep(0.5)


def _glb(http: httpx.Client, status_url: str, headers: dict[str, str], model_id: str) -> str:
    import trimesh

    response = http.get(f"{status_url}/api/models/{model_id}/files/assets/model.glb", headers=headers)
    if response.status_code != 200:
        raise SmokeFailed(f"downloading model.glb answered {response.status_code}: {response.text[:200]}")
    try:
        mesh = trimesh.load(io.BytesIO(response.content), file_type="glb", force="mesh")
    except Exception as error:
        raise SmokeFailed(f"model.glb does not load: {error}") from error
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise SmokeFailed("model.glb loads but has no faces")
    return f"{len(response.content) // 1024} KiB, {len(mesh.faces)} faces"


def _delete(http: httpx.Client, status_url: str, headers: dict[str, str], model_id: str) -> str:
    response = http.delete(f"{status_url}/api/models/{model_id}", headers=headers)
    if response.status_code != 204:
        raise SmokeFailed(f"DELETE answered {response.status_code}: {response.text[:200]}")
    if http.get(f"{status_url}/api/models/{model_id}", headers=headers).status_code != 404:
        raise SmokeFailed("the model is still there after DELETE")
    return "gone"


def _cleanup(http: httpx.Client, status_url: str, headers: dict[str, str], model_id: str) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the environment is being rolled back anyway
        http.delete(f"{status_url}/api/models/{model_id}", params={"force": "true"}, headers=headers)

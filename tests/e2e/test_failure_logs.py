"""Error logging as an operator reads it: the JSON lines of the four real services for a model that fails.
The failure is logged once at error level, with the model id, the reason and the exception; every line
carries its service and version; no line holds the user's token, a secret or a presigned URL."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from photo3d_common.events import VIEWS
from tests.support.photos import blank_photo, make_photo
from tests.system import SYSTEM_VERSION

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "services"
LOGS = "running-system-*.log"  # the session's running system (tests/system.py), JSON lines


def jpeg(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def service_lines() -> list[dict]:
    """Every JSON line the running system's service processes wrote."""
    lines: list[dict] = []
    for path in ARTIFACTS.glob(LOGS):
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            _, _, text = raw.partition("| ")
            if text.startswith("{"):
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(text))
    return lines


def raw_text() -> str:
    return "\n".join(p.read_text(errors="replace") for p in ARTIFACTS.glob(LOGS))


async def test_a_failed_model_is_logged_once_with_its_id_and_reason_and_no_secret(alice, infra_env) -> None:
    model = await alice.create_model(name="nothing on the left")
    photo = make_photo("vase", size=(800, 600), seed=3).jpeg()
    blank = jpeg(blank_photo((800, 600)))  # on opposite sides: no outline can stand in for either
    images = dict.fromkeys(VIEWS, photo) | {"left": blank, "right": blank}
    for view, data in images.items():
        assert (await alice.upload(model["id"], view, data)).status_code == 201
    failed = await alice.wait_for(model["id"], {"failed"})
    assert (await alice.file(model["id"], "originals/front")).status_code == 200

    lines = service_lines()
    errors = [line for line in lines if line.get("level") == "error" and line.get("model_id") == model["id"]]
    assert len(errors) == 1, errors
    (error,) = errors
    assert error["service"] == "bgremoval" and error["reason"] == failed["error_message"]
    assert "Traceback" in error.get("exception", "") or error.get("exc_info")  # the exception, with its stack
    # no second error line with the reason, bound to this model or to none (other models may fail alike)
    unbound_or_mine = [
        line for line in lines if line.get("level") == "error" and line.get("model_id") in (None, model["id"])
    ]
    assert sum(failed["error_message"] in json.dumps(line) for line in unbound_or_mine) == 1

    mine = [line for line in lines if line.get("model_id") == model["id"]]
    assert {line["service"] for line in mine} >= {"status", "upload", "bgremoval"}
    assert all(line.get("version") == SYSTEM_VERSION for line in mine)
    assert any(line.get("event_id") for line in mine if line["service"] == "bgremoval")

    text = raw_text()
    token = alice.headers["Authorization"].removeprefix("Bearer ")
    assert token not in text
    assert "X-Amz-Signature" not in text and "X-Amz-Credential=" not in text
    for secret in ("AUTH_JWT_SECRET", "S3_SECRET_ACCESS_KEY"):
        assert infra_env[secret] not in text, secret

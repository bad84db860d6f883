"""Error logging and metrics shared by every service: masked secrets, stage durations and failures from the
published events, optional Sentry reporting (a real sentry-sdk sending to a local ingest endpoint)."""

from __future__ import annotations

import gzip
import http.server
import json
import subprocess
import sys
import threading
import uuid
from typing import ClassVar

from prometheus_client import REGISTRY

from photo3d_common.events import (
    BackgroundRemovalStarted,
    BackgroundRemoved,
    GenerationStarted,
    ModelFailed,
    Stage,
)
from photo3d_common.logging import redact_secrets
from photo3d_common.metrics import StageClock

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
PRESIGNED = (
    "https://s3.example.org/photo3d/models/x/assets/model.glb?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20261201%2Fauto%2Fs3%2Faws4_request&X-Amz-Signature=0123456789abcdef"
)


def test_tokens_presigned_urls_and_secret_fields_are_masked() -> None:
    line = redact_secrets(
        None,
        "error",
        {
            "event": f"fetch failed for {PRESIGNED} with Bearer {TOKEN}",
            "aws_secret_access_key": "hunter2",
            "authorization": f"Bearer {TOKEN}",
            "model_id": "m-1",
        },
    )
    text = json.dumps(line)
    assert TOKEN not in text and "0123456789abcdef" not in text and "AKIAEXAMPLE" not in text
    assert "hunter2" not in text
    assert line["model_id"] == "m-1" and "model.glb" in line["event"]  # the rest stays readable


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_stage_durations_and_failures_come_from_published_events() -> None:
    now = [100.0]
    clock = StageClock(clock=lambda: now[0])
    model = uuid.uuid4()
    before = sample("photo3d_stage_duration_seconds_count", stage="background_removal")
    clock.published(BackgroundRemovalStarted(model_id=model, producer="bgremoval"))
    now[0] += 7.5
    clock.published(
        BackgroundRemoved(
            model_id=model,
            producer="bgremoval",
            source_fingerprint="f",
            cutout_keys=dict.fromkeys(("front", "left", "right", "back"), "k"),
        )
    )
    assert sample("photo3d_stage_duration_seconds_count", stage="background_removal") == before + 1

    failures = sample("photo3d_stage_failures_total", stage="generation", code="generation_timeout")
    clock.published(GenerationStarted(model_id=model, producer="generation", provider="local"))
    clock.published(
        ModelFailed(
            model_id=model, producer="generation", stage=Stage.GENERATION, reason="took too long",
            retryable=True, error_code="generation_timeout",
        )
    )  # fmt: skip
    assert (
        sample("photo3d_stage_failures_total", stage="generation", code="generation_timeout") == failures + 1
    )


class _Ingest(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_sentry_reports_error_lines_when_a_dsn_is_set_and_nothing_without() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ingest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = (
        "import sentry_sdk\n"
        "from photo3d_common.logging import configure_logging, get_logger\n"
        "configure_logging('generation')\n"
        f"get_logger('t').error('generation failed', model_id='m-42', error='Bearer {TOKEN}')\n"
        "sentry_sdk.flush(5)\n"
    )
    try:
        for dsn, expect_event in (("", False), (f"http://public@127.0.0.1:{server.server_port}/1", True)):
            _Ingest.received = []
            env = {"PATH": "/usr/bin:/bin", "SENTRY_DSN": dsn, "PHOTO3D_VERSION": "v9.9.9"}
            subprocess.run(
                [sys.executable, "-c", script], env=env, check=True, capture_output=True, timeout=60
            )
            bodies = b"".join(_Ingest.received).decode("utf-8", "replace")
            assert ("generation failed" in bodies) is expect_event
            if expect_event:
                assert '"release":"v9.9.9"' in bodies.replace(" ", "") and "m-42" in bodies
                assert TOKEN not in bodies
    finally:
        server.shutdown()

"""Both HTTP services against their own OpenAPI documents (issue 9): schemathesis generates requests from
each document (valid and invalid ones, a few per operation, capped in time) against the services running
as processes on the real infrastructure, and fails on any 5xx, any undocumented status code or content type,
and any body that does not match its documented schema (the error envelope included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from photo3d_common.auth import mint_dev_token
from photo3d_common.settings import AuthSettings
from tests.infra import ARTIFACTS, TEST_JWT_SECRET, ServiceProcesses, free_port

pytestmark = pytest.mark.e2e

#: Test cases per operation and phase: enough to reach every documented error, few enough for `make test`.
MAX_EXAMPLES = int(os.environ.get("PHOTO3D_SCHEMATHESIS_EXAMPLES", "6"))
#: The cap on one service's run (seconds): exceeding it fails the test rather than stalling the suite.
TIME_CAP_S = 240
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
    "response_schema_conformance,negative_data_rejection,missing_required_header,ignored_auth"
)


@pytest.fixture(scope="module")
def services(infra_env, kafka_topic_prefix, request) -> Iterator[dict[str, str]]:
    status_port, upload_port = free_port(), free_port()
    env = {**infra_env, "KAFKA_TOPIC_PREFIX": f"{kafka_topic_prefix}contracts."}
    processes = ServiceProcesses(request.node.nodeid)
    try:
        processes("photo3d_status", env | {"STATUS_PORT": str(status_port)}, port=status_port)
        processes(
            "photo3d_upload",
            env | {"UPLOAD_PORT": str(upload_port), "UPLOAD_STATUS_URL": f"http://127.0.0.1:{status_port}"},
            port=upload_port,
        )
        yield {"status": f"http://127.0.0.1:{status_port}", "upload": f"http://127.0.0.1:{upload_port}"}
    finally:
        processes.stop_all()


def run_schemathesis(base_url: str, name: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """``st run`` against one service; returns the finished process and how many requests it sent."""
    reports = ARTIFACTS / "schemathesis"
    reports.mkdir(parents=True, exist_ok=True)
    har = reports / f"{name}.har"
    har.unlink(missing_ok=True)
    token = mint_dev_token(AuthSettings(jwt_secret=TEST_JWT_SECRET), "schemathesis")
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{base_url}/schema/openapi.json",
        "--url",
        base_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",  # one: with two, hypothesis' lambda descriptions raced in ast on Python 3.11 (a tool error)
        "--request-timeout",
        "15",
        "--seed",
        "9",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--report",
        "har",
        "--report-har-path",
        str(har),
    ]
    finished = subprocess.run(  # in the reports folder: st keeps its own .schemathesis/ state there
        command, cwd=reports, capture_output=True, text=True, timeout=TIME_CAP_S, check=False
    )
    (reports / f"{name}.txt").write_text(finished.stdout + finished.stderr, encoding="utf-8")
    requests = len(json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]) if har.exists() else 0
    return finished, requests


@pytest.mark.parametrize("service", ["status", "upload"])
def test_every_response_matches_the_openapi_document(services, service):
    finished, requests = run_schemathesis(services[service], service)
    print(f"schemathesis: {requests} requests against the {service} service")
    assert finished.returncode == 0, (
        f"schemathesis found problems ({requests} requests):\n{finished.stdout[-12000:]}"
    )
    assert requests >= 50, (
        f"only {requests} requests: the run did not exercise the API\n{finished.stdout[-4000:]}"
    )

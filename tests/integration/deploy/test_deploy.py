"""`photo3d deploy` and `photo3d rollback` on a real staging environment (local runtime, the session's real
Postgres, Kafka and S3). One environment goes through a history, in order: a first deploy, a deploy that
resets the database, a deploy whose smoke test fails and rolls back on its own, a rollback by hand, the
creation switch. Each test checks what its step must have done."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from photo3d_devstack.cli import main
from photo3d_devstack.deploy import backups, records
from photo3d_devstack.deploy.store import OpsStore

from .conftest import Staging, create_model, model_status_code, user_headers

# each step deploys the four services, and a failing one rolls back (a second roll-out and smoke test)
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


def deploy(staging: Staging, *args: str, env_file=None) -> int:
    return main(["deploy", staging.name, "--env-file", str(env_file or staging.env_file), *args])


def rollback(staging: Staging, *args: str) -> int:
    return main(["rollback", staging.name, "--env-file", str(staging.env_file), *args])


def history(staging: Staging) -> list[records.DeploymentRecord]:
    return records.history(OpsStore(staging.environment()))


@pytest.fixture(scope="module")
def staging(make_staging) -> Staging:
    staging = make_staging()
    for version in ("test-v1", "test-v2", "test-v3"):
        staging.add_release(version)
    return staging


@pytest.fixture(scope="module")
def models() -> dict[str, str]:
    """Model ids created along the history, by the step that created them."""
    return {}


def test_first_deploy_runs_all_six_steps(staging: Staging, models: dict[str, str], capsys) -> None:
    assert deploy(staging, "--version", "test-v1") == 0
    out = capsys.readouterr().out
    for number, step in enumerate(
        ("pre-flight", "backup", "database reset", "roll out", "smoke test", "record"), start=1
    ):
        assert f"[{number}/6] {step}" in out
    for step in ("create model", "upload 4 photos", "wait completed", "download glb", "delete model"):
        assert f"smoke: {step}" in out and "ok in" in out
    (record,) = history(staging)
    assert (record.version, record.outcome, record.previous_version) == ("test-v1", "succeeded", None)
    assert record.smoke is not None and record.smoke["passed"]
    assert staging.running_versions() == dict.fromkeys(
        ("status", "upload", "bgremoval", "generation"), "test-v1"
    )
    models["before v2"] = create_model(staging, "alice", "made under v1")


def test_deploy_backs_up_then_resets_the_database(staging: Staging, models: dict[str, str], capsys) -> None:
    assert deploy(staging, "--version", "test-v2") == 0
    _first, second = history(staging)
    assert (second.version, second.outcome, second.previous_version) == ("test-v2", "succeeded", "test-v1")
    assert second.smoke is not None and second.smoke["passed"]
    assert [s.name for s in second.steps] == [
        "pre-flight", "backup", "database reset", "roll out", "smoke test", "record",
    ]  # fmt: skip

    # the backup: named after the environment, its time and the version it was taken from; a manifest
    store = OpsStore(staging.environment())
    assert second.backup_key is not None
    assert (
        second.backup_key.startswith(f"ops/backups/{staging.name}/") and "--test-v1.dump" in second.backup_key
    )
    backup = backups.get_backup(store, second.backup_key)
    stored = store.client.get_object(Bucket=store.bucket, Key=second.backup_key)["Body"].read()
    assert backup.manifest["version"] == "test-v1"
    assert backup.manifest["migration_level"] >= 6
    assert backup.manifest["size_bytes"] == len(stored)
    assert backup.manifest["sha256"] == backups.hashlib.sha256(stored).hexdigest()
    assert stored.startswith(b"PGDMP")  # pg_dump's custom format

    # the reset: the model made under v1 is gone, and v2 runs
    assert model_status_code(staging, "alice", models["before v2"]) == 404
    assert set(staging.running_versions().values()) == {"test-v2"}
    models["before v3"] = create_model(staging, "alice", "made under v2")


def test_failed_smoke_test_rolls_back_on_its_own(staging: Staging, models: dict[str, str], capsys) -> None:
    # a broken generation setting: no model can finish in a millisecond
    broken = staging.write(GENERATION_LOCAL_DEADLINE_S="0.001")
    assert deploy(staging, "--version", "test-v3", env_file=broken) == 1
    out = capsys.readouterr().out
    assert "smoke test: FAILED" in out and "rolling back" in out and "rolled back to test-v2" in out

    *_, failed = history(staging)
    assert (failed.version, failed.outcome) == ("test-v3", "rolled_back")
    assert "generation" in (failed.error or "")
    # the data from before the deploy is back, and the previous version answers with its own settings
    assert model_status_code(staging, "alice", models["before v3"]) == 200
    assert set(staging.running_versions().values()) == {"test-v2"}
    assert records.current(history(staging)).version == "test-v2"
    build = httpx.get(f"{staging.status_url}/metrics", timeout=10).text
    expected = f'photo3d_build_info{{environment="{staging.name}",service="status",version="test-v2"}} 1.0'
    assert expected in build
    assert "smoke test passed" in (failed.error or "")


def test_rollback_by_hand_restores_the_backup(staging: Staging, models: dict[str, str], capsys) -> None:
    assert rollback(staging) == 0
    out = capsys.readouterr().out
    assert "undoing test-v2" in out and "back to test-v1" in out
    *_, record = history(staging)
    assert (record.kind, record.version, record.outcome) == ("rollback", "test-v1", "succeeded")
    assert record.restored_backup_key is not None and "--test-v1.dump" in record.restored_backup_key
    # the data v1 left: the model made under v1 is back, the one made under v2 is not there
    assert model_status_code(staging, "alice", models["before v2"]) == 200
    assert model_status_code(staging, "alice", models["before v3"]) == 404
    assert set(staging.running_versions().values()) == {"test-v1"}

    assert main(["deploy", "status", staging.name, "--env-file", str(staging.env_file)]) == 0
    listing = capsys.readouterr().out
    assert "running: test-v1" in listing and listing.count("rolled_back") == 1


def test_creation_switch_turns_uploads_away_and_back_on_a_model_completes(staging: Staging, capsys) -> None:
    model_id = create_model(staging, "bob", "made while creation is on")
    notice = "Maintenance until 18:00: creating models is paused."
    assert deploy(staging, "--ui-off", "--notice", notice) == 0
    config = httpx.get(f"{staging.status_url}/config.json", timeout=10).json()
    assert config["creationEnabled"] is False and config["creationNotice"] == notice

    headers = user_headers(staging, "bob")
    time.sleep(1.0)  # the upload service trusts what it read for UPLOAD_CREATION_SWITCH_TTL_S (0.5 s)
    from photo3d_devstack.deploy.smoke import sample_photos

    photo = sample_photos()["front"]
    upload = httpx.post(
        f"{staging.upload_url}/api/upload-photo",
        data={"model_id": model_id, "view": "front"},
        files={"file": ("front.jpg", photo, "image/jpeg")},
        headers=headers,
        timeout=30,
    )
    assert upload.status_code == 503, upload.text
    assert upload.json()["error"]["code"] == "creation_disabled"
    assert upload.json()["error"]["message"] == notice
    rerun = httpx.post(
        f"{staging.upload_url}/api/remove-background",
        json={"model_id": model_id},
        headers=headers,
        timeout=10,
    )
    assert (rerun.status_code, rerun.json()["error"]["code"]) == (503, "creation_disabled")
    created = httpx.post(f"{staging.status_url}/api/models", json={"name": "x"}, headers=headers, timeout=10)
    assert (created.status_code, created.json()["error"]["code"]) == (503, "creation_disabled")
    # existing models stay readable
    assert model_status_code(staging, "bob", model_id) == 200

    assert deploy(staging, "--ui-on") == 0
    assert httpx.get(f"{staging.status_url}/config.json", timeout=10).json()["creationEnabled"] is True
    time.sleep(1.0)
    for view, data in sample_photos().items():
        response = httpx.post(
            f"{staging.upload_url}/api/upload-photo",
            data={"model_id": model_id, "view": view},
            files={"file": (f"{view}.jpg", data, "image/jpeg")},
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 201, response.text
    deadline = time.monotonic() + 240
    while (
        model := httpx.get(f"{staging.status_url}/api/models/{model_id}", headers=headers, timeout=10).json()
    )["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, model
        time.sleep(0.5)
    assert model["status"] == "completed", json.dumps(model)

    # what happened is in the metrics: HTTP answers (the 503s among them), the stages' durations
    status_metrics = httpx.get(f"{staging.status_url}/metrics", timeout=10).text
    upload_metrics = httpx.get(f"{staging.upload_url}/metrics", timeout=10).text
    assert "photo3d_http_request_duration_seconds_bucket" in status_metrics
    assert 'status_code="503"' in upload_metrics and "faststream_published_messages_total" in upload_metrics
    generation = staging.lines["GENERATION_METRICS_PORT"]
    worker_metrics = httpx.get(f"http://127.0.0.1:{generation}/metrics", timeout=10).text
    assert 'photo3d_stage_duration_seconds_count{stage="generation"}' in worker_metrics
    assert "photo3d_consumer_lag_messages{" in worker_metrics

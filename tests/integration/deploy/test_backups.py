"""Backups on the real Postgres and object store, without services: dump and restore checked against the
manifest, retention, and the refusals of a rollback that has nothing to restore."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from photo3d_devstack.cli import main
from photo3d_devstack.deploy import backups, database
from photo3d_devstack.deploy.environment import Environment
from photo3d_devstack.deploy.records import DeploymentRecord, save
from photo3d_devstack.deploy.store import OpsStore
from photo3d_devstack.infra._util import run_coroutine
from photo3d_status.migrate import migrate


@pytest.fixture
def environment(tmp_path: Path, infra_env: dict[str, str], make_database) -> Environment:
    run = secrets.token_hex(3)
    settings = {
        "DEPLOY_STATE_DIR": str(tmp_path),
        "DATABASE_URL": make_database(f"backup_{run}"),
        "KAFKA_BOOTSTRAP_SERVERS": infra_env["KAFKA_BOOTSTRAP_SERVERS"],
        **{k: v for k, v in infra_env.items() if k.startswith("S3_")},
        "AUTH_JWT_SECRET": infra_env["AUTH_JWT_SECRET"],
    }
    return Environment(f"bk-{run}", settings)


def execute(url: str, sql: str, *args: object) -> object:
    async def run() -> object:
        connection = await asyncpg.connect(url)
        try:
            return await connection.fetchval(sql, *args)
        finally:
            await connection.close()

    return run_coroutine(run())


def test_a_backup_restores_what_was_there_and_is_checked_against_its_manifest(
    environment: Environment,
) -> None:
    url = environment.settings["DATABASE_URL"]
    run_coroutine(migrate(url))
    model_id = execute(
        url,
        "INSERT INTO models (id, owner, name) VALUES (gen_random_uuid(), 'alice', 'kept') RETURNING id::text",
    )
    store = OpsStore(environment)
    backup = backups.take_backup(environment, store, version="v7", work_dir=environment.state_dir / "tmp")
    assert backup.manifest["migration_level"] == database.migration_level(url) >= 6
    assert backup.key.startswith(f"ops/backups/{environment.name}/") and backup.key.endswith("--v7.dump")

    database.reset_schema(url)
    assert database.migration_level(url) == 0
    backups.restore_backup(
        environment, store, backups.get_backup(store, backup.key), work_dir=environment.state_dir
    )
    assert execute(url, "SELECT name FROM models WHERE id = $1::uuid", model_id) == "kept"

    # a dump that does not match its manifest is refused before anything is touched
    tampered = backups.Backup(backup.key, {**backup.manifest, "sha256": "0" * 64})
    with pytest.raises(backups.BackupError, match="does not match its manifest"):
        backups.restore_backup(environment, store, tampered, work_dir=environment.state_dir)
    assert execute(url, "SELECT count(*) FROM models") == 1


def test_retention_prunes_old_backups_but_never_the_newest(environment: Environment) -> None:
    store = OpsStore(environment)
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    ages_days = [40, 30, 20, 10, 1]
    for age in ages_days:
        taken = now - timedelta(days=age)
        key = backups.backup_key(environment.name, taken, f"v{age}")
        store.client.put_object(Bucket=store.bucket, Key=key, Body=b"PGDMP")
        store.put_json(key.removesuffix(".dump") + ".manifest.json", {"taken_at": taken.isoformat()})

    deleted = backups.prune(store, retention_days=14, keep=3, now=now)
    assert [key.rsplit("--", 1)[1] for key in deleted] == ["v40.dump", "v30.dump"]
    kept = [b.key.rsplit("--", 1)[1] for b in backups.list_backups(store)]
    assert kept == ["v20.dump", "v10.dump", "v1.dump"]  # v20 is older than 14 days: one of the newest 3
    assert backups.prune(store, retention_days=0, keep=3, now=now) == []


def test_rollback_refuses_with_its_reason(environment: Environment, tmp_path: Path, capsys) -> None:
    env_file = tmp_path / "bk.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in environment.settings.items()))

    def rollback() -> str:
        assert main(["rollback", environment.name, "--env-file", str(env_file)]) == 1
        return capsys.readouterr().out

    assert "no successful deployment is recorded for this environment: nothing to roll back" in rollback()

    store = OpsStore(environment)
    first = DeploymentRecord(
        environment.name, "deploy", "v1", "2026-12-01T10:00:00+00:00", outcome="succeeded"
    )
    save(store, first)
    assert "is the first that succeeded: there is no previous version to go back to" in rollback()

    second = DeploymentRecord(
        environment.name, "deploy", "v2", "2026-12-01T11:00:00+00:00", outcome="succeeded",
        backup_key=f"ops/backups/{environment.name}/20261201T110000Z--v1.dump",
    )  # fmt: skip
    save(store, second)
    assert "has no manifest" in rollback()  # the backup it would restore is gone

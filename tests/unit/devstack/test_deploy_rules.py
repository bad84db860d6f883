"""The deploy tool's rules that need no servers: pre-flight's settings checks, the production guard, what a
rollback goes back to, and the commands of the compose runtime."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from photo3d_devstack import config
from photo3d_devstack.deploy import pipeline
from photo3d_devstack.deploy.environment import Environment, load_environment, redacted
from photo3d_devstack.deploy.records import DeploymentRecord, rollback_plan
from photo3d_devstack.deploy.releases import Release
from photo3d_devstack.deploy.runtimes import ComposeRuntime

GOOD = {
    "DEPLOY_RUNTIME": "local",
    "DATABASE_URL": "postgresql://photo3d:pw-0123456789@db:5432/photo3d",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "S3_ENDPOINT_URL": "https://s3.example.org",
    "S3_BUCKET": "photo3d-staging",
    "S3_ACCESS_KEY_ID": "AKIA-staging",
    "S3_SECRET_ACCESS_KEY": "a-real-staging-secret-of-some-length",
    "AUTH_JWT_SECRET": "staging-jwt-secret-" + "7f3a9c" * 4,
}


def env(tmp_path: Path, **settings: str) -> Environment:
    values = {**GOOD, "DEPLOY_STATE_DIR": str(tmp_path), **settings}
    return Environment("staging", {k: v for k, v in values.items() if v is not None})


def test_good_settings_pass(tmp_path: Path) -> None:
    assert pipeline.settings_problems(env(tmp_path), reset_db=True) == []


def test_preflight_refuses_a_missing_secret(tmp_path: Path) -> None:
    problems = pipeline.settings_problems(
        env(tmp_path, S3_SECRET_ACCESS_KEY="", AUTH_JWT_SECRET=""), reset_db=True
    )
    assert "S3_SECRET_ACCESS_KEY is not set" in problems
    assert any("AUTH_JWT_SECRET or AUTH_JWKS_URL must be set" in p for p in problems)


def test_preflight_refuses_development_defaults_and_placeholders(tmp_path: Path) -> None:
    problems = pipeline.settings_problems(
        env(
            tmp_path,
            AUTH_JWT_SECRET=config.DEV_JWT_SECRET,
            S3_SECRET_ACCESS_KEY=config.DEV_S3_SECRET_ACCESS_KEY,
            POSTGRES_PASSWORD="change-me",
            AUTH_DEV_TOKENS_ENABLED="true",
        ),
        reset_db=False,
    )
    assert "AUTH_JWT_SECRET is the development JWT secret: a deployment needs its own secret" in problems
    assert "S3_SECRET_ACCESS_KEY is the development S3 secret: a deployment needs its own secret" in problems
    assert "POSTGRES_PASSWORD is still the placeholder 'change-me' of the example file" in problems
    assert any("AUTH_DEV_TOKENS_ENABLED is on" in p for p in problems)


def test_the_example_file_as_it_ships_is_refused() -> None:
    example = config.project_root() / "deploy" / "envs" / "staging.env.example"
    environment = load_environment("staging", env_file=example, environ={})
    problems = pipeline.settings_problems(environment, reset_db=True)
    assert any("AUTH_JWT_SECRET is still the placeholder" in p for p in problems)


def test_production_guard_refuses_a_database_reset(tmp_path: Path) -> None:
    production = env(tmp_path, DEPLOY_PRODUCTION="true")
    assert production.reset_db_default is False
    assert pipeline.settings_problems(production, reset_db=False) == []
    (problem,) = pipeline.settings_problems(production, reset_db=True)
    assert "marked production" in problem and "reset is refused" in problem


def test_deploy_with_reset_on_production_stops_before_touching_anything(tmp_path: Path) -> None:
    lines: list[str] = []
    with pytest.raises(pipeline.DeployFailed, match=r"refused at pre-flight: .*database reset is refused"):
        pipeline.deploy(env(tmp_path, DEPLOY_PRODUCTION="true"), reset_db=True, say=lines.append)
    assert "[2/6] backup" not in lines


def test_secrets_never_reach_a_record(tmp_path: Path) -> None:
    environment = env(tmp_path)
    recorded = environment.recordable_settings()
    assert "AUTH_JWT_SECRET" not in recorded and "S3_SECRET_ACCESS_KEY" not in recorded
    assert recorded["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert redacted(environment.settings)["S3_SECRET_ACCESS_KEY"] == "***"
    # a rollback runs the earlier settings with today's secrets
    rerun = environment.with_settings({"KAFKA_BOOTSTRAP_SERVERS": "old:9092", "AUTH_JWT_SECRET": "forged"})
    assert rerun.settings["KAFKA_BOOTSTRAP_SERVERS"] == "old:9092"
    assert rerun.settings["AUTH_JWT_SECRET"] == GOOD["AUTH_JWT_SECRET"]


def record(version: str, outcome: str, backup: str | None, at: str) -> DeploymentRecord:
    return DeploymentRecord("staging", "deploy", version, at, outcome=outcome, backup_key=backup)  # type: ignore[arg-type]


def test_rollback_goes_to_the_previous_success_with_the_backup_taken_after_it() -> None:
    history = [
        record("v1", "succeeded", "b0", "2026-01-01T00:00:00+00:00"),
        record("v2", "succeeded", "b1", "2026-01-02T00:00:00+00:00"),
        record("v3", "rolled_back", "b2", "2026-01-03T00:00:00+00:00"),
        record("v4", "succeeded", "b3", "2026-01-04T00:00:00+00:00"),
    ]
    now, target, backup = rollback_plan(history)
    assert (now.version, target.version, backup) == ("v4", "v2", "b2")  # b2: taken while v2 ran
    now, target, backup = rollback_plan(history, "v1")
    assert (target.version, backup) == ("v1", "b1")


def test_rollback_refuses_without_a_history_or_a_previous_version() -> None:
    with pytest.raises(LookupError, match="no successful deployment is recorded"):
        rollback_plan([])
    with pytest.raises(LookupError, match="no previous version"):
        rollback_plan([record("v1", "succeeded", "b0", "2026-01-01T00:00:00+00:00")])
    with pytest.raises(LookupError, match="version v9 never ran"):
        rollback_plan(
            [record("v1", "succeeded", "b0", "2026-01-01T00:00:00+00:00"),
             record("v2", "succeeded", "b1", "2026-01-02T00:00:00+00:00")],
            "v9",
        )  # fmt: skip


def test_compose_runtime_drains_workers_then_brings_services_up_one_by_one(tmp_path: Path) -> None:
    commands: list[list[str]] = []
    environment = env(
        tmp_path, DEPLOY_RUNTIME="compose", DEPLOY_DRAIN_TIMEOUT_S="120", POSTGRES_PASSWORD="pw-x"
    )
    runtime = ComposeRuntime(environment, runner=lambda argv, _env: commands.append(argv))
    release = Release("v1.2.0", config.project_root(), "python")
    runtime.migrate(release, environment)
    runtime.roll_out(release, environment, lambda _line: None)

    tails = [c[c.index("--env-file") + 2 :] for c in commands]
    assert all(c[:4] == ["docker", "compose", "-p", "photo3d-staging"] for c in commands)
    assert tails == [
        ["run", "--rm", "migrate"],
        ["pull", "status", "upload", "bgremoval", "generation"],
        ["stop", "--timeout", "120", "bgremoval", "generation"],
        ["up", "-d", "--no-deps", "--wait", "--wait-timeout", "180", "status"],
        ["up", "-d", "--no-deps", "--wait", "--wait-timeout", "180", "upload"],
        ["up", "-d", "--no-deps", "--wait", "--wait-timeout", "180", "bgremoval"],
        ["up", "-d", "--no-deps", "--wait", "--wait-timeout", "180", "generation"],
    ]
    env_file = Path(commands[0][commands[0].index("--env-file") + 1])
    text = env_file.read_text()
    assert 'PHOTO3D_VERSION="v1.2.0"' in text and "DEPLOY_" not in text  # image tags = the version
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # it holds secrets


def test_compose_file_gives_every_service_its_version_and_a_health_check_to_wait_for() -> None:
    import yaml

    compose = yaml.safe_load((config.project_root() / "deploy" / "compose.yaml").read_text())
    dockerfiles = config.project_root() / "deploy" / "docker"
    for name in ("status", "upload", "bgremoval", "generation"):
        service = compose["services"][name]
        assert service["image"] == f"photo3d/{name}:${{PHOTO3D_VERSION:-latest}}"
        assert service["environment"]["PHOTO3D_VERSION"] == "${PHOTO3D_VERSION:-latest}"
        # `docker compose up --wait` waits for the image's HEALTHCHECK or the service's healthcheck
        has_check = (
            "healthcheck" in service or "HEALTHCHECK" in (dockerfiles / f"{name}.Dockerfile").read_text()
        )
        assert has_check, name

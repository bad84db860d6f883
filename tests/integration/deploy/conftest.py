"""A staging environment of its own for the deploy tests: the session's real Postgres (a database of its
own), Kafka (a topic prefix of its own) and S3 (the session bucket; backups and records under
``ops/<env>/``), services on free ports, run by the local runtime from release directories that point at
this checkout (``test-v1``, ``test-v2``, ...: distinct versions of the same code)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from photo3d_devstack.deploy.environment import Environment, load_environment
from photo3d_devstack.deploy.runtimes import LocalRuntime
from photo3d_devstack.infra._util import free_ports

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Staging:
    name: str
    env_file: Path
    state_dir: Path
    lines: dict[str, str]

    def environment(self) -> Environment:
        return load_environment(self.name, env_file=self.env_file, environ={})

    def write(self, **overrides: str) -> Path:
        """The env file with ``overrides`` (a variant of the settings, e.g. a broken one)."""
        merged = {**self.lines, **overrides}
        path = self.env_file.with_name(f"{self.name}-{secrets.token_hex(2)}.env")
        path.write_text("".join(f"{k}={v}\n" for k, v in merged.items()))
        return path

    def add_release(self, version: str) -> None:
        releases = self.state_dir / "releases"
        releases.mkdir(parents=True, exist_ok=True)
        (releases / version).symlink_to(ROOT, target_is_directory=True)

    @property
    def status_url(self) -> str:
        return self.environment().status_url

    @property
    def upload_url(self) -> str:
        return self.environment().upload_url

    def running_versions(self) -> dict[str, str]:
        return LocalRuntime(self.environment()).running_versions()


def staging_settings(
    name: str, state_dir: Path, infra_env: dict[str, str], database_url: str, topic_prefix: str
) -> dict[str, str]:
    status_port, upload_port, *worker_ports = free_ports(6)
    return {
        "DEPLOY_RUNTIME": "local",
        "DEPLOY_RESET_DB": "true",
        "DEPLOY_STATE_DIR": str(state_dir),
        "DEPLOY_SMOKE_TIMEOUT_S": "240",
        "DEPLOY_READY_TIMEOUT_S": "240",
        "DEPLOY_DRAIN_TIMEOUT_S": "60",
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra_env["KAFKA_BOOTSTRAP_SERVERS"],
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        **{k: v for k, v in infra_env.items() if k.startswith("S3_")},
        "AUTH_JWT_SECRET": infra_env["AUTH_JWT_SECRET"],
        "AUTH_DEV_TOKENS_ENABLED": "false",
        "STATUS_PORT": str(status_port),
        "UPLOAD_PORT": str(upload_port),
        "BGREMOVAL_METRICS_PORT": str(worker_ports[0]),
        "GENERATION_METRICS_PORT": str(worker_ports[1]),
        "BGREMOVAL_PROBE_PORT": str(worker_ports[2]),
        "GENERATION_PROBE_PORT": str(worker_ports[3]),
        "UPLOAD_CREATION_SWITCH_TTL_S": "0.5",
        "BGREMOVAL_MODEL_DIR": str(ROOT / "var" / "models" / "u2net"),
        "BGREMOVAL_MAX_SIDE_PX": "1024",
        "GENERATION_LOCAL_VOXEL_RESOLUTION": "96",
        "LOG_FORMAT": "json",
    }


@pytest.fixture(scope="module")
def make_staging(
    tmp_path_factory: pytest.TempPathFactory,
    infra_env: dict[str, str],
    make_database,
    kafka_topic_prefix: str,
) -> Iterator[Callable[[], Staging]]:
    """``make_staging()`` -> a new environment (stopped at the end of the module)."""
    made: list[Staging] = []

    def make() -> Staging:
        run = secrets.token_hex(3)
        name = f"test-{run}"
        state_dir = tmp_path_factory.mktemp(f"staging-{run}")
        lines = staging_settings(
            name, state_dir, infra_env, make_database(f"staging_{run}"), f"{kafka_topic_prefix}stg{run}."
        )
        env_file = state_dir / f"{name}.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        staging = Staging(name, env_file, state_dir, lines)
        made.append(staging)
        return staging

    yield make
    for staging in made:
        LocalRuntime(staging.environment()).down(lambda _line: None)


def user_headers(staging: Staging, user: str) -> dict[str, str]:
    from photo3d_devstack.cli import make_dev_token

    return {"Authorization": f"Bearer {make_dev_token(user, secret=staging.lines['AUTH_JWT_SECRET'])}"}


def create_model(staging: Staging, user: str, name: str) -> str:
    response = httpx.post(
        f"{staging.status_url}/api/models",
        json={"name": name},
        headers=user_headers(staging, user),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def model_status_code(staging: Staging, user: str, model_id: str) -> int:
    return httpx.get(
        f"{staging.status_url}/api/models/{model_id}", headers=user_headers(staging, user), timeout=10
    ).status_code

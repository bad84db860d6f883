"""The infrastructure of a local run: start whatever the environment does not already point at, and hand
back the environment (names of docs/contracts.md) that every service process gets."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

from . import config
from .infra import EmbeddedPostgres, S3Storage, SeaweedFS, SeaweedPorts, TansuBroker

log = logging.getLogger(__name__)

KafkaStorage = Literal["auto", "s3", "memory"]
LOCAL_SESSION_TIMEOUT_MS = 6000


class Server(Protocol):
    startup_seconds: float | None

    def stop(self) -> None: ...


@dataclass
class Infrastructure:
    """The servers this run started (in start order) and the environment pointing at all of them."""

    env: dict[str, str] = field(default_factory=dict)
    servers: list[tuple[str, Server]] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    def stop(self) -> None:
        for name, server in reversed(self.servers):
            log.info("stopping %s", name)
            try:
                server.stop()
            except Exception:  # keep stopping the others
                log.exception("stopping %s failed", name)
        self.servers.clear()


def start_infrastructure(
    environ: Mapping[str, str] | None = None,
    *,
    var_dir: Path | None = None,
    kafka_storage: KafkaStorage = "auto",
    s3_port: int = config.S3_PORT,
    seaweedfs_port_base: int = config.SEAWEEDFS_PORT_BASE,
    kafka_port: int = config.KAFKA_PORT,
    postgres_port: int = config.POSTGRES_PORT,
    output: IO[str] | None = None,
) -> Infrastructure:
    """Start SeaweedFS, Tansu and Postgres unless S3_ENDPOINT_URL, KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL
    say where they already are. Data lives under ``var_dir`` (default ``var/``) and survives restarts."""
    environ = dict(os.environ if environ is None else environ)
    var_dir = (var_dir or config.state_dir()).resolve()
    infra = Infrastructure()
    env = infra.env
    try:
        # S3 first: the broker keeps its log in it
        access_key = (
            environ.get("S3_ACCESS_KEY_ID") or environ.get("AWS_ACCESS_KEY_ID") or config.DEV_S3_ACCESS_KEY_ID
        )
        secret_key = (
            environ.get("S3_SECRET_ACCESS_KEY")
            or environ.get("AWS_SECRET_ACCESS_KEY")
            or config.DEV_S3_SECRET_ACCESS_KEY
        )
        region = environ.get("S3_REGION") or config.DEV_S3_REGION
        bucket = environ.get("S3_BUCKET") or config.DEV_S3_BUCKET
        seaweed: SeaweedFS | None = None
        if environ.get("S3_ENDPOINT_URL"):
            infra.external.append(f"S3 at {environ['S3_ENDPOINT_URL']}")
            env["S3_ENDPOINT_URL"] = environ["S3_ENDPOINT_URL"]
        else:
            buckets = (bucket, config.TANSU_BUCKET) if kafka_storage != "memory" else (bucket,)
            seaweed = SeaweedFS(
                var_dir / "seaweedfs",
                ports=SeaweedPorts.from_base(s3_port, seaweedfs_port_base),
                access_key_id=access_key,
                secret_access_key=secret_key,
                region=region,
                buckets=buckets,
                output=output,
            )
            log.info("starting SeaweedFS (S3) on %s, data in %s", seaweed.endpoint_url, seaweed.data_dir)
            infra.servers.append(("seaweedfs", seaweed.start()))
            env["S3_ENDPOINT_URL"] = seaweed.endpoint_url
        env |= {
            "S3_ACCESS_KEY_ID": access_key,
            "S3_SECRET_ACCESS_KEY": secret_key,
            "S3_REGION": region,
            "S3_BUCKET": bucket,
        }

        if environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            infra.external.append(f"Kafka at {environ['KAFKA_BOOTSTRAP_SERVERS']}")
            env["KAFKA_BOOTSTRAP_SERVERS"] = environ["KAFKA_BOOTSTRAP_SERVERS"]
        else:
            storage: S3Storage | None = None
            if kafka_storage == "s3" and seaweed is None:
                raise RuntimeError("--kafka-storage=s3 needs the local SeaweedFS (unset S3_ENDPOINT_URL)")
            if seaweed is not None and kafka_storage in ("auto", "s3"):
                storage = S3Storage(seaweed.endpoint_url, access_key, secret_key, region, config.TANSU_BUCKET)
            elif kafka_storage == "auto":
                log.warning("S3 is external: the local Kafka broker keeps events in memory (lost on restart)")
            broker = TansuBroker(port=kafka_port, storage=storage, output=output)
            log.info("starting Tansu (Kafka) on %s, storage %s", broker.bootstrap_servers, broker.storage_url)
            infra.servers.append(("kafka", broker.start()))
            env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
            # Tansu makes every group join wait half the session timeout: keep local start-ups quick
            env["KAFKA_SESSION_TIMEOUT_MS"] = environ.get(
                "KAFKA_SESSION_TIMEOUT_MS", str(LOCAL_SESSION_TIMEOUT_MS)
            )

        if environ.get("DATABASE_URL"):
            infra.external.append("Postgres at DATABASE_URL")
            env["DATABASE_URL"] = environ["DATABASE_URL"]
        else:
            postgres = EmbeddedPostgres(var_dir / "postgres", port=postgres_port, output=output)
            log.info("starting Postgres on 127.0.0.1:%s, data in %s", postgres.port, postgres.data_dir)
            infra.servers.append(("postgres", postgres.start()))
            env["DATABASE_URL"] = postgres.url
    except BaseException:
        infra.stop()
        raise
    return infra


def service_environment(environ: Mapping[str, str], infra_env: Mapping[str, str]) -> dict[str, str]:
    """What each service process gets: the caller's environment, the local infrastructure, and the
    development defaults (dev JWT secret, dev tokens on) unless the caller set them."""
    env = dict(environ)
    env.update(infra_env)
    env.setdefault("AUTH_JWT_SECRET", config.DEV_JWT_SECRET)
    env.setdefault("AUTH_DEV_TOKENS_ENABLED", "true")
    env.setdefault("KAFKA_TOPIC_PREFIX", "")
    env.setdefault("LOG_FORMAT", "console")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("ORT_DISABLE_TELEMETRY", "1")  # onnxruntime >= 1.29 phones home otherwise
    return env

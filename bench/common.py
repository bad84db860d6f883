"""Shared helpers of the benchmarks: the local infrastructure and service processes as real processes
(no pytest), memory sampling of process trees, percentiles and writing results.

Import from a bench script with ``sys.path.insert(0, str(REPO_ROOT))`` first; then ``from bench.common import ...``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
LOG_DIR = REPO_ROOT / "test-artifacts" / "bench"
MODEL_DIR = REPO_ROOT / "var" / "models" / "u2net"
NUMBA_CACHE_DIR = REPO_ROOT / "var" / "cache" / "numba"
KAFKA_SESSION_TIMEOUT_MS = 6000  # Tansu makes a group join wait half the session timeout

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


# --- numbers ------------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": statistics.fmean(values) if values else None,
        "max": max(values) if values else None,
    }


def fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def machine() -> str:
    import onnxruntime

    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"onnxruntime {onnxruntime.__version__}"
    )


def now_utc() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def write_results(name: str, report: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """``bench/results/<name>.json`` and ``.md``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS_DIR / f"{name}.json", RESULTS_DIR / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=2, default=str))
    md_path.write_text(markdown)
    return json_path, md_path


def run_child(script: str, args: list[str], env: dict[str, str]) -> dict[str, Any] | None:
    """Run ``python script *args`` in a fresh process (clean peak memory) and return the JSON it prints
    last; None (with its stderr shown) when it failed."""
    proc = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, env=env, check=False, cwd=REPO_ROOT
    )
    if proc.returncode != 0:
        print(proc.stderr[-4000:], file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_rss_mib_self() -> float:
    """Peak RSS of this process since its exec (VmHWM). Not ``ru_maxrss``: that survives exec, so a child
    started by a big parent would report at least the parent's size at fork."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib_self() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- memory of process trees --------------------------------------------------------------------------
class TreeMemorySampler:
    """Samples the RSS of named process trees (a process and all its descendants) every ``interval`` s
    in a background thread; keeps the idle value (first sample) and the peak, and the CPU seconds (user +
    system) each tree used between the first and the last sample."""

    def __init__(self, pids: Mapping[str, int], interval: float = 0.2) -> None:
        import psutil

        self._psutil = psutil
        self.interval = interval
        self.roots = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.first: dict[str, float] = {}
        self.peak: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.cpu_first: dict[str, float] = {}
        self.cpu_last: dict[str, float] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _tree(self, root: Any) -> tuple[float, float]:
        """(RSS MiB, CPU seconds) of the tree."""
        rss, cpu = 0, 0.0
        try:
            procs = [root, *root.children(recursive=True)]
        except self._psutil.Error:
            return 0.0, 0.0
        for proc in procs:
            with contextlib.suppress(self._psutil.Error):
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu += times.user + times.system
        return rss / 2**20, cpu

    def sample(self) -> None:
        for name, root in self.roots.items():
            rss, cpu = self._tree(root)
            self.first.setdefault(name, rss)
            self.peak[name] = max(self.peak[name], rss)
            self.cpu_first.setdefault(name, cpu)
            self.cpu_last[name] = cpu
        self.samples += 1

    def cpu_seconds(self) -> dict[str, float]:
        return {name: self.cpu_last[name] - self.cpu_first[name] for name in self.cpu_last}

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample()


# --- the local system as processes --------------------------------------------------------------------
@dataclass
class LocalInfra:
    """Postgres (``DATABASE_URL``'s server with a database of this run, or embedded), Kafka
    (``KAFKA_BOOTSTRAP_SERVERS`` or Tansu in memory) and S3 (SeaweedFS), in temp dirs on free ports.

    ``with LocalInfra(kafka=..., postgres=...) as infra: infra.env`` gives the docs/contracts.md
    variables for a service process; everything this started is stopped (and its data removed) on exit."""

    postgres: bool = True
    kafka: bool = True
    name: str = "bench"
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    env: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    s3: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"photo3d-{self.name}-{self.run_id}-"))

    def _log(self, what: str) -> IO[str]:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        return self._stack.enter_context(
            open(LOG_DIR / f"{self.name}-{what}.log", "w", buffering=1, encoding="utf-8")
        )

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        from photo3d_devstack.infra import EmbeddedPostgres, SeaweedFS, SeaweedPorts, TansuBroker
        from photo3d_devstack.infra._util import free_port, run_coroutine
        from photo3d_devstack.infra.postgres import create_database, drop_database, with_database

        self._stack.callback(shutil.rmtree, self.tmp, True)
        if self.postgres:
            admin_url = os.environ.get("DATABASE_URL")
            if not admin_url:
                server = EmbeddedPostgres(
                    self.tmp / "postgres", port=free_port(), durable=False, output=self._log("postgres")
                )
                self._stack.enter_context(server)
                admin_url = server.admin_url
                if server.process is not None and server.process.pid:
                    self.pids["postgres"] = server.process.pid
            database = f"photo3d_bench_{self.run_id}"
            run_coroutine(create_database(admin_url, database))
            self._stack.callback(lambda: run_coroutine(drop_database(admin_url, database)))
            self.env["DATABASE_URL"] = with_database(admin_url, database)
        if self.kafka:
            bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            if not bootstrap:
                broker = TansuBroker(port=free_port(), output=self._log("kafka"))
                self._stack.enter_context(broker)
                bootstrap = broker.bootstrap_servers
                if broker.process is not None and broker.process.pid:
                    self.pids["kafka (tansu)"] = broker.process.pid
            self.env.update(
                {
                    "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                    "KAFKA_TOPIC_PREFIX": f"b{self.run_id}.",
                    "KAFKA_SESSION_TIMEOUT_MS": str(KAFKA_SESSION_TIMEOUT_MS),
                }
            )
        access_key, secret_key = "photo3d-bench", f"photo3d-bench-secret-{self.run_id}"
        bucket = f"photo3d-bench-{self.run_id}"
        store = SeaweedFS(
            self.tmp / "seaweedfs",
            ports=SeaweedPorts.free(),
            access_key_id=access_key,
            secret_access_key=secret_key,
            buckets=(bucket,),
            output=self._log("seaweedfs"),
        )
        self._stack.enter_context(store)
        if store.process is not None and store.process.pid:
            self.pids["s3 (seaweedfs)"] = store.process.pid
        self.s3 = {
            "endpoint_url": store.endpoint_url,
            "access_key_id": access_key,
            "secret_access_key": secret_key,
            "region": store.region,
            "bucket": bucket,
        }
        self.env.update(
            {
                "S3_ENDPOINT_URL": store.endpoint_url,
                "S3_ACCESS_KEY_ID": access_key,
                "S3_SECRET_ACCESS_KEY": secret_key,
                "S3_REGION": store.region,
                "S3_BUCKET": bucket,
                "AUTH_JWT_SECRET": f"photo3d-bench-secret-{self.run_id}",
                "AUTH_DEV_TOKENS_ENABLED": "true",
                "LOG_LEVEL": "INFO",
                "LOG_FORMAT": "console",
                "ORT_DISABLE_TELEMETRY": "1",
                "NUMBA_CACHE_DIR": str(NUMBA_CACHE_DIR),
                "PYTHONUNBUFFERED": "1",
            }
        )

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


@dataclass(frozen=True)
class ServiceAddresses:
    """Where the status and upload services listen, and the environment that wires the four services to
    each other and to the infrastructure (``LocalInfra.env``)."""

    status_port: int
    upload_port: int

    @classmethod
    def free(cls) -> ServiceAddresses:
        from photo3d_devstack.infra._util import free_port

        return cls(status_port=free_port(), upload_port=free_port())

    @property
    def status_url(self) -> str:
        return f"http://127.0.0.1:{self.status_port}"

    @property
    def upload_url(self) -> str:
        return f"http://127.0.0.1:{self.upload_port}"

    def env(self, infra_env: Mapping[str, str]) -> dict[str, str]:
        return {
            **infra_env,
            "STATUS_PORT": str(self.status_port),
            "STATUS_PUBLIC_UPLOAD_URL": self.upload_url,
            "UPLOAD_PORT": str(self.upload_port),
            "UPLOAD_STATUS_URL": self.status_url,
            "UPLOAD_CORS_ORIGINS": f'["{self.status_url}"]',
            "BGREMOVAL_MODEL_DIR": str(MODEL_DIR),
            "BGREMOVAL_NUMBA_CACHE_DIR": str(NUMBA_CACHE_DIR),
        }


class ServiceProcesses:
    """``python -m <module>`` service processes (output to test-artifacts/bench/), stopped in reverse order."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.started: dict[str, Any] = {}
        self._logs: list[IO[str]] = []

    def start(
        self,
        module: str,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        ready_line: str | None = None,
        timeout: float = 180.0,
        name: str | None = None,
        command: list[str] | None = None,
    ) -> Any:
        """``command`` replaces ``python -m <module>`` (e.g. a wrapper that runs the module)."""
        from photo3d_devstack.process import ManagedProcess

        name = name or module.removeprefix("photo3d_")
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(LOG_DIR / f"{self.prefix}-{name}.log", "w", buffering=1, encoding="utf-8")  # noqa: SIM115
        self._logs.append(log)
        process = ManagedProcess(
            name,
            command or [sys.executable, "-m", module],
            env={**os.environ, **env},
            cwd=REPO_ROOT,
            output=log,
        )
        self.started[name] = process
        process.start()
        process.wait_ready(port=port, ready_line=ready_line, timeout=timeout)
        return process

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.started.items() if p.pid}

    def stop_all(self) -> None:
        for process in reversed(list(self.started.values())):
            process.stop(timeout=20)
        for log in self._logs:
            log.close()
        self.started.clear()
        self._logs.clear()


def wait_healthy(*urls: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} never became healthy")
            time.sleep(0.2)


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    started = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - started

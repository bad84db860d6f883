"""Where a version runs. Two runtimes, one interface:

- ``local``: the processes of `make run` on this machine, each started detached (it outlives the deploy
  command) with its pid in ``<state>/run/<service>.json`` and its log in ``<state>/logs/<service>.log``;
  with ``DEPLOY_LOCAL_INFRA=true`` the environment also gets its own Postgres, Kafka (Tansu) and S3
  (SeaweedFS) under ``<state>/data`` on its own ports (one detached ``photo3d infra``).
- ``compose``: Docker Compose on a server (``deploy/compose.yaml``, image tags = the version).

Roll-out order (both): workers are drained first (SIGTERM: they stop consuming and finish the message in
hand, up to DEPLOY_DRAIN_TIMEOUT_S), then status and upload are replaced one by one, each behind its health
check, then the workers start again and must report ready."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import config
from .environment import Environment
from .releases import Release

Say = Callable[[str], None]


class RolloutError(RuntimeError):
    """A service did not come up (or go down) as it should."""


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    http: bool
    drain: bool  # a worker: finish the current job before stopping


SERVICES = (
    Service("status", "photo3d_status", http=True, drain=False),
    Service("upload", "photo3d_upload", http=True, drain=False),
    Service("bgremoval", "photo3d_bgremoval", http=False, drain=True),
    Service("generation", "photo3d_generation", http=False, drain=True),
)
WORKERS = [s for s in SERVICES if s.drain]
HTTP_SERVICES = [s for s in SERVICES if s.http]
WORKER_READY_LINE = "started successfully"  # FastStream's line once the broker consumes


class ServiceRuntime(Protocol):
    def ensure_infrastructure(self, say: Say) -> None: ...
    def migrate(self, release: Release, environment: Environment) -> None: ...
    def stop_services(self, say: Say) -> None: ...
    def roll_out(self, release: Release, environment: Environment, say: Say) -> None: ...
    def down(self, say: Say) -> None: ...


def http_ready(base_url: str, timeout: float = 5) -> tuple[bool, str]:
    """(ready?, what answered): ``/ready`` when the service has it, else ``/health``."""
    for path in ("/ready", "/health"):
        try:
            with urllib.request.urlopen(f"{base_url}{path}", timeout=timeout) as response:
                if "json" not in response.headers.get("content-type", ""):
                    continue  # the web page's client-side routes answer any path: not a health check
                return response.status == 200, f"{path} {response.status}"
        except urllib.error.HTTPError as error:
            if error.code == 404 and path == "/ready":
                continue
            return False, f"{path} {error.code}"
        except OSError as error:
            return False, f"{path}: {error}"
    return False, "no health endpoint"


# local ------------------------------------------------------------------------------------------------
def _base_env() -> dict[str, str]:
    """The little of this shell a service needs; nothing that could point it at another stack."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "USER", "UV_PYTHON_DOWNLOADS")
    return {k: os.environ[k] for k in keep if k in os.environ}


class DetachedProcess:
    """A process started in its own session that outlives its starter; found again by its pid file."""

    def __init__(self, name: str, state_dir: Path) -> None:
        self.name = name
        self.pid_file = state_dir / "run" / f"{name}.json"
        self.log_file = state_dir / "logs" / f"{name}.log"

    def start(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, extra: dict | None = None
    ) -> None:
        if self.alive():
            raise RolloutError(f"{self.name} is already running (pid {self.info()['pid']})")
        import psutil

        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(
                f"--- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} start {' '.join(argv)}\n".encode()
            )
            log.flush()
            offset = log.tell()
            process = subprocess.Popen(
                list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        info = {"pid": process.pid, "create_time": psutil.Process(process.pid).create_time(),
                "argv": list(argv), "log_offset": offset, **(extra or {})}  # fmt: skip
        self.pid_file.write_text(json.dumps(info))
        self._popen = process

    def info(self) -> dict:
        try:
            return json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return {}

    def _process(self):
        import psutil

        info = self.info()
        if not info:
            return None
        try:
            process = psutil.Process(info["pid"])
            if (
                abs(process.create_time() - info["create_time"]) > 1
                or process.status() == psutil.STATUS_ZOMBIE
            ):
                return None  # the pid was reused, or it has ended
            return process
        except psutil.Error:
            return None

    def alive(self) -> bool:
        return self._process() is not None

    def log_since_start(self) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(int(self.info().get("log_offset", 0)))
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_since_start().splitlines()[-lines:])

    def stop(self, timeout: float) -> bool:
        """SIGTERM its process group, wait up to ``timeout``, then SIGKILL. True when it ended by itself."""
        process = self._process()
        if process is None:
            self.pid_file.unlink(missing_ok=True)
            return True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        ended = _wait_gone(process, timeout)
        if not ended:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            _wait_gone(process, 10)
        popen = getattr(self, "_popen", None)
        if popen is not None:
            popen.poll()  # reap our own child
        self.pid_file.unlink(missing_ok=True)
        return ended


def _wait_gone(process, timeout: float) -> bool:
    import psutil

    try:
        process.wait(timeout)
        return True
    except psutil.TimeoutExpired:
        return False
    except psutil.NoSuchProcess:
        return True


class LocalRuntime:
    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.state = environment.state_dir

    def process(self, name: str) -> DetachedProcess:
        return DetachedProcess(name, self.state)

    # infrastructure -----------------------------------------------------------------------------
    def ensure_infrastructure(self, say: Say) -> None:
        if not self.environment.local_infra:
            return
        infra = self.process("infrastructure")
        if infra.alive():
            say(
                f"local infrastructure already running (pid {infra.info()['pid']}, data in {self.state / 'data'})"
            )
            return
        env = self.environment
        s = env.settings
        argv = [
            sys.executable, "-m", "photo3d_devstack", "infra",
            "--var-dir", str(self.state / "data"),
            "--postgres-port", str(env.local_port("POSTGRES", 54339)),
            "--kafka-port", str(env.local_port("KAFKA", 19102)),
            "--s3-port", str(env.local_port("S3", 8343)),
            "--seaweedfs-port-base", str(env.seaweedfs_port_base),
            "--kafka-storage", "s3",
        ]  # fmt: skip
        infra_env = _base_env() | {
            "S3_ACCESS_KEY_ID": s["S3_ACCESS_KEY_ID"],
            "S3_SECRET_ACCESS_KEY": s["S3_SECRET_ACCESS_KEY"],
            "S3_REGION": s["S3_REGION"],
            "S3_BUCKET": s["S3_BUCKET"],
            "PHOTO3D_ROOT": str(config.project_root()),
        }
        started = time.monotonic()
        infra.start(argv, env=infra_env, cwd=config.project_root())
        deadline = started + env.ready_timeout_s
        while "the local infrastructure is up" not in infra.log_since_start():
            if not infra.alive():
                raise RolloutError(f"the local infrastructure did not start:\n{infra.tail()}")
            if time.monotonic() > deadline:
                infra.stop(30)
                raise RolloutError(
                    f"the local infrastructure was not up within {env.ready_timeout_s:.0f}s:\n{infra.tail()}"
                )
            time.sleep(0.3)
        say(
            f"local infrastructure started in {time.monotonic() - started:.1f}s (data in {self.state / 'data'})"
        )

    # services -----------------------------------------------------------------------------------
    def service_env(self, service: Service, release: Release, environment: Environment) -> dict[str, str]:
        settings = environment.service_settings()
        env = _base_env() | settings
        env |= {
            "PHOTO3D_VERSION": release.version,
            "PHOTO3D_ENVIRONMENT": environment.name,
            "PYTHONPATH": release.python_path(),
            "PYTHONUNBUFFERED": "1",
            "ORT_DISABLE_TELEMETRY": "1",
        }
        defaults = {
            "status": {
                "STATUS_PORT": str(environment.status_port),
                "STATUS_PUBLIC_UPLOAD_URL": environment.upload_url,
                "STATUS_MIGRATE_ON_START": "false",  # the deploy migrated (or reset) already
            },
            "upload": {
                "UPLOAD_PORT": str(environment.upload_port),
                "UPLOAD_STATUS_URL": environment.status_url,
                "UPLOAD_CORS_ORIGINS": json.dumps([environment.status_url]),
            },
            "bgremoval": {"BGREMOVAL_MODEL_DIR": str(self.state / "models" / "u2net")},
            "generation": {},
        }[service.name]
        if service.name == "status" and release.frontend_dir.joinpath("index.html").is_file():
            defaults["STATUS_FRONTEND_DIR"] = str(release.frontend_dir)
        for key, value in defaults.items():
            env.setdefault(key, value)
        return env

    def migrate(self, release: Release, environment: Environment) -> None:
        """``python -m photo3d_status migrate`` of the version being deployed (its migrations)."""
        env = self.service_env(SERVICES[0], release, environment)
        result = subprocess.run(
            [release.python, "-m", "photo3d_status", "migrate"], env=env, cwd=release.source,
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RolloutError(
                f"migrations of {release.version} failed:\n{(result.stderr or result.stdout)[-2000:]}"
            )

    def stop_services(self, say: Say) -> None:
        for service in [*WORKERS, *reversed(HTTP_SERVICES)]:
            self._stop(service, say)

    def _stop(self, service: Service, say: Say) -> None:
        process = self.process(service.name)
        if not process.alive():
            process.pid_file.unlink(missing_ok=True)
            return
        version = process.info().get("version", "?")
        timeout = self.environment.drain_timeout_s if service.drain else 30
        started = time.monotonic()
        clean = process.stop(timeout)
        what = "drained and stopped" if service.drain else "stopped"
        note = "" if clean else f" (killed after {timeout:.0f}s)"
        say(f"{service.name} {version} {what} in {time.monotonic() - started:.1f}s{note}")

    def roll_out(self, release: Release, environment: Environment, say: Say) -> None:
        self._install_model_files()
        for worker in WORKERS:
            self._stop(worker, say)
        for service in HTTP_SERVICES:
            self._stop(service, say)
            self._start(service, release, environment, say)
        for worker in WORKERS:
            self._start(worker, release, environment, say)

    def _install_model_files(self) -> None:
        from photo3d_bgremoval import model_files

        model_files.install(self.state / "models" / "u2net")

    def _start(self, service: Service, release: Release, environment: Environment, say: Say) -> None:
        process = self.process(service.name)
        env = self.service_env(service, release, environment)
        started = time.monotonic()
        process.start(
            [release.python, "-m", service.module], env=env, cwd=release.source,
            extra={"version": release.version, "service": service.name},
        )  # fmt: skip
        deadline = started + environment.ready_timeout_s
        url = {"status": environment.status_url, "upload": environment.upload_url}.get(service.name)
        while True:
            if not process.alive():
                raise RolloutError(
                    f"{service.name} {release.version} exited while starting:\n{process.tail()}"
                )
            probe = env.get(f"{service.name.upper()}_PROBE_PORT")
            if url is not None:
                ready, answer = http_ready(url)
            elif probe:  # the worker's own readiness probe: started, object store and broker answer
                ready, answer = http_ready(f"http://127.0.0.1:{probe}")
            else:
                ready, answer = WORKER_READY_LINE in process.log_since_start(), "consuming"
            if ready:
                break
            if time.monotonic() > deadline:
                process.stop(10)
                raise RolloutError(
                    f"{service.name} {release.version} not ready within {environment.ready_timeout_s:.0f}s "
                    f"(last answer: {answer}):\n{process.tail()}"
                )
            time.sleep(0.3)
        say(f"{service.name} {release.version} up in {time.monotonic() - started:.1f}s ({answer})")

    def running_versions(self) -> dict[str, str]:
        return {
            s.name: self.process(s.name).info().get("version", "?")
            for s in SERVICES
            if self.process(s.name).alive()
        }

    def down(self, say: Say) -> None:
        self.stop_services(say)
        infra = self.process("infrastructure")
        if infra.alive():
            started = time.monotonic()
            infra.stop(90)
            say(
                f"local infrastructure stopped in {time.monotonic() - started:.1f}s (data kept in {self.state / 'data'})"
            )


# compose ----------------------------------------------------------------------------------------------
CommandRunner = Callable[[list[str], Mapping[str, str]], None]


def run_command(argv: list[str], env: Mapping[str, str]) -> None:
    result = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RolloutError(
            f"{' '.join(argv)} failed (exit {result.returncode}):\n{(result.stderr or result.stdout)[-2000:]}"
        )


class ComposeRuntime:
    """Docker Compose: the images ``photo3d/<service>:<version>`` (pulled, or built with
    DEPLOY_COMPOSE_BUILD=true), settings through a generated env file (mode 0600) in the state dir."""

    def __init__(self, environment: Environment, runner: CommandRunner = run_command) -> None:
        self.environment = environment
        self.runner = runner
        self.compose_file = config.project_root() / "deploy" / "compose.yaml"
        self.env_file = environment.state_dir / "compose.env"

    def _compose(self, *args: str) -> list[str]:
        return ["docker", "compose", "-p", self.environment.compose_project, "-f", str(self.compose_file),
                "--env-file", str(self.env_file), *args]  # fmt: skip

    def _write_env_file(self, release: Release | None, environment: Environment) -> None:
        settings = environment.service_settings()
        if release is not None:
            settings["PHOTO3D_VERSION"] = release.version
        self.env_file.parent.mkdir(parents=True, exist_ok=True)
        self.env_file.touch(mode=0o600, exist_ok=True)
        self.env_file.chmod(0o600)
        self.env_file.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in sorted(settings.items())))

    def ensure_infrastructure(self, say: Say) -> None:
        say("compose: Postgres and Kafka are services of the compose project; S3 is external")

    def migrate(self, release: Release, environment: Environment) -> None:
        self._write_env_file(release, environment)
        self.runner(self._compose("run", "--rm", "migrate"), {})

    def stop_services(self, say: Say) -> None:
        drain = str(int(self.environment.drain_timeout_s))
        self.runner(self._compose("stop", "--timeout", drain, *(w.name for w in WORKERS)), {})
        say("workers drained and stopped")
        self.runner(self._compose("stop", "--timeout", "30", *(s.name for s in reversed(HTTP_SERVICES))), {})
        say("status and upload stopped")

    def roll_out(self, release: Release, environment: Environment, say: Say) -> None:
        self._write_env_file(release, environment)
        names = [s.name for s in SERVICES]
        if environment.settings.get("DEPLOY_COMPOSE_BUILD", "").lower() in ("1", "true", "yes"):
            self.runner(self._compose("build", *names), {})
        else:
            self.runner(self._compose("pull", *names), {})
        drain = str(int(environment.drain_timeout_s))
        self.runner(self._compose("stop", "--timeout", drain, *(w.name for w in WORKERS)), {})
        say("workers drained")
        wait = str(int(environment.ready_timeout_s))
        for service in SERVICES:
            self.runner(
                self._compose("up", "-d", "--no-deps", "--wait", "--wait-timeout", wait, service.name), {}
            )
            say(f"{service.name} {release.version} up (compose health check)")

    def down(self, say: Say) -> None:
        self.runner(self._compose("down"), {})
        say("compose project stopped (volumes kept)")


def runtime_for(environment: Environment) -> LocalRuntime | ComposeRuntime:
    return LocalRuntime(environment) if environment.runtime == "local" else ComposeRuntime(environment)

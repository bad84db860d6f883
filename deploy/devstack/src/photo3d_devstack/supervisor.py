"""Runs the service processes of a local stack: each one's output prefixed with its name, nothing restarted
behind anyone's back (a service or an infrastructure server that exits stops the whole run, loudly),
everything stopped in order on Ctrl-C or SIGTERM."""

from __future__ import annotations

import functools
import logging
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from . import config
from .config import ServiceSpec
from .infra._util import port_open
from .process import ManagedProcess, ProcessFailed, wait_until

log = logging.getLogger("photo3d_devstack")


class StackFailed(RuntimeError):
    pass


def run_migrations(env: Mapping[str, str], *, command: Sequence[str] = config.MIGRATE_COMMAND) -> bool:
    """Apply the status service's migrations before any service starts (``python -m photo3d_status migrate``),
    skipped while that service is not runnable yet. Raises when they fail."""
    if not config.SERVICES[0].available():
        log.info("the status service is not runnable yet: skipping migrations")
        return False
    log.info("running migrations: python -m %s", " ".join(command))
    proc = ManagedProcess(
        "migrate", [sys.executable, "-m", *command], env=env, cwd=config.project_root()
    ).start()
    popen = proc.popen
    if popen is None:  # start() returned, so the process exists
        raise RuntimeError("the migration process did not start")
    try:
        code = popen.wait(600)
    finally:
        proc.stop(10)
    if code != 0:
        raise StackFailed(f"migrations failed (exit code {code}): see the 'migrate' lines above")
    return True


class Supervisor:
    """Starts the available services of ``specs`` with ``env``, waits until their ports answer, then watches."""

    def __init__(
        self,
        env: Mapping[str, str],
        specs: Sequence[ServiceSpec] = config.SERVICES,
        *,
        output: IO[str] | None = None,
        ready_timeout: float = 180.0,
        infrastructure: Sequence[tuple[str, Any]] = (),
    ) -> None:
        """``infrastructure``: (name, server) pairs this run started (servers with a ``process``), watched
        like the services: one that dies stops the run with its name and exit code."""
        self.env = dict(env)
        self.infrastructure = list(infrastructure)
        self.specs = list(specs)
        self.output = output
        self.ready_timeout = ready_timeout
        self.processes: list[tuple[ServiceSpec, ManagedProcess]] = []

    def start(self) -> list[ServiceSpec]:
        started: list[ServiceSpec] = []
        for spec in self.specs:
            if not spec.available():
                log.warning("skipping %s: `python -m %s` is not runnable yet (no %s.__main__)",
                            spec.name, spec.module, spec.module)  # fmt: skip
                continue
            env = dict(self.env)
            for key, value in spec.env.items():
                if key in env:
                    continue  # the caller's setting wins
                value = value.replace("{root}", str(config.project_root()))
                if key.endswith("_DIR") and not Path(value).is_dir():
                    continue  # e.g. the web page not built (yet): the service runs without it
                env[key] = value
            if spec.port_env and spec.port:
                env.setdefault(spec.port_env, str(spec.port))
            if spec.port and port_open("127.0.0.1", spec.port):
                raise StackFailed(
                    f"port {spec.port} for {spec.name} is already in use: is another run going?"
                )
            log.info(
                "starting %s: python -m %s%s",
                spec.name,
                spec.module,
                f" on :{spec.port}" if spec.port else "",
            )
            # relative paths in the services' settings (var/models/...) are relative to the checkout
            proc = ManagedProcess(
                spec.name,
                [sys.executable, *spec.argv],
                env=env,
                cwd=config.project_root(),
                output=self.output,
            )
            self.processes.append((spec, proc.start()))
            started.append(spec)
        for spec, proc in self.processes:
            if spec.port:
                waited = wait_until(
                    functools.partial(port_open, "127.0.0.1", spec.port),
                    timeout=self.ready_timeout,
                    what=f"{spec.name} on port {spec.port}",
                    process=proc,
                    interval=0.2,
                )
                health = self._health(spec)
                log.info("%s is up at %s after %.1fs%s", spec.name, spec.url, waited, health)
        return started

    @staticmethod
    def _health(spec: ServiceSpec) -> str:
        if not spec.health_path:
            return ""
        try:
            with urllib.request.urlopen(f"{spec.url}{spec.health_path}", timeout=5) as response:
                return f" ({spec.health_path}: {response.status})"
        except urllib.error.HTTPError as exc:
            return f" ({spec.health_path}: {exc.code})"
        except OSError as exc:
            return f" ({spec.health_path}: {exc})"

    def watch(self, poll_interval: float = 0.5) -> None:
        """Return when interrupted (KeyboardInterrupt propagates); raise when a service exits by itself."""
        while True:
            for name, server in self.infrastructure:
                proc = getattr(server, "process", None)
                if proc is not None and proc.poll() is not None:
                    raise StackFailed(
                        f"{name} (infrastructure) exited (code {proc.poll()}): the services cannot work "
                        f"without it, stopping everything; its last lines:\n{proc.tail()}"
                    )
            for spec, proc in self.processes:
                try:
                    proc.ensure_running()
                except ProcessFailed as exc:
                    raise StackFailed(
                        f"{spec.name} exited (code {proc.poll()}): stopping everything, nothing is restarted"
                    ) from exc
            time.sleep(poll_interval)

    def stop(self) -> None:
        for spec, proc in reversed(self.processes):
            if proc.running():
                log.info("stopping %s", spec.name)
            code = proc.stop()
            if code not in (0, None, -15, 143):
                log.info("%s exited with code %s", spec.name, code)
        self.processes.clear()

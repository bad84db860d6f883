"""What every local server launcher shares: start a process, wait until it really answers, stop it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Any, Self

from ..process import ManagedProcess, wait_until
from ._util import port_open


class LocalServer:
    """``start()`` returns once the server answers (``_answers``); ``stop()`` ends it; a context manager."""

    what = "server"  # how messages name it

    def __init__(self, output: IO[str] | None = None) -> None:
        self.output = output
        self.process: ManagedProcess | None = None
        self.startup_seconds: float | None = None

    def start(self, timeout: float = 90.0) -> Self:
        raise NotImplementedError

    def _answers(self) -> bool:
        raise NotImplementedError

    @staticmethod
    def _refuse_busy_port(host: str, port: int, *, occupant: str, alternative: str) -> None:
        if port_open(host, port):
            raise RuntimeError(
                f"port {host}:{port} is already in use: another photo3d run or {occupant}? "
                f"Stop it, or set {alternative}."
            )

    def _launch(
        self,
        process: ManagedProcess,
        *,
        started: float,
        timeout: float,
        when_ready: Callable[[], Any] | None = None,
    ) -> None:
        """Start ``process`` and wait until the server answers (then ``when_ready``); stop it on failure."""
        self.process = process.start()
        try:
            wait_until(self._answers, timeout=timeout, what=self.what, process=self.process)
            if when_ready is not None:
                when_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""One child process the dev stack owns: started in its own session, its output prefixed with its name,
stopped gracefully (then forcefully), and killed by the kernel if the parent itself dies."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1
_output_lock = threading.Lock()
_COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93", "95", "92")

_prctl: Callable[..., int] | None
try:  # resolved before any fork: the pre-exec hook must not import or allocate much
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _prctl = _libc.prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM it when the supervisor dies, even by SIGKILL,
    so a crashed ``photo3d run`` never leaves servers holding the ports."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def print_prefixed(name: str, line: str, output: IO[str]) -> None:
    """Write ``line`` as ``name | line`` (the name coloured on a terminal); whole lines only, from any thread."""
    prefix = f"{name:<11}|"
    try:
        if output.isatty():
            prefix = f"\x1b[{_COLOURS[sum(name.encode()) % len(_COLOURS)]}m{prefix}\x1b[0m"
    except (ValueError, AttributeError):
        pass
    with _output_lock:
        try:
            output.write(f"{prefix} {line}\n")
            output.flush()
        except (ValueError, OSError):  # output closed (interpreter shutdown, pytest capture ended)
            pass


class ProcessFailed(RuntimeError):
    """A managed process exited while it was expected to be starting or running."""


class ManagedProcess:
    """``subprocess.Popen`` with a name, prefixed log lines, a recent-output buffer for error messages,
    and an orderly stop: ``stop_signal``, then SIGKILL after ``stop_timeout`` seconds."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 20.0,
        output: IO[str] | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.env = dict(os.environ if env is None else env)
        self.cwd = str(cwd) if cwd is not None else None
        self.user = user
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.output = output if output is not None else sys.stdout
        self.on_line = on_line
        self.recent: deque[str] = deque(maxlen=60)
        self.popen: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lines_seen = threading.Condition()

    # lifecycle -----------------------------------------------------------------------------------
    def start(self) -> ManagedProcess:
        """Start the process. Call from a long-lived thread (the main one): the parent-death signal fires
        when the *thread* that started the child ends."""
        if self.popen is not None:
            raise RuntimeError(f"{self.name} already started")
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            user=self.user,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C in the terminal reaches only the supervisor, which then stops
            # everything in order (services before the infrastructure they use).
            start_new_session=True,
            # only a prctl() call, resolved before the fork: safe despite the log threads
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        self._reader = threading.Thread(target=self._pump, name=f"log-{self.name}", daemon=True)
        self._reader.start()
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def poll(self) -> int | None:
        """The exit code, or None while the process runs."""
        if self.popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.popen.poll()

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def ensure_running(self) -> None:
        code = self.poll()
        if code is not None:
            raise ProcessFailed(f"{self.name} exited with code {code}:\n{self.tail()}")

    def stop(self, timeout: float | None = None) -> int | None:
        """Signal the whole process group, wait, and SIGKILL what is left. Returns the exit code."""
        if self.popen is None:
            return None
        timeout = self.stop_timeout if timeout is None else timeout
        if self.popen.poll() is None:
            self._signal_group(self.stop_signal)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.log(
                    f"did not stop within {timeout:.0f}s after {signal.Signals(self.stop_signal).name}: killing"
                )
                self._signal_group(signal.SIGKILL)
                self.popen.wait(10)
        # Children of the process (if any) share its group: make sure none outlives it.
        self._signal_group(signal.SIGKILL, quiet=True)
        if self._reader is not None:
            self._reader.join(5)
        return self.popen.returncode

    def _signal_group(self, sig: int, quiet: bool = False) -> None:
        assert self.popen is not None
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            if not quiet:
                raise

    # output --------------------------------------------------------------------------------------
    def _pump(self) -> None:
        assert self.popen is not None and self.popen.stdout is not None
        for raw in iter(self.popen.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._emit(line)
        self.popen.stdout.close()

    def _emit(self, line: str) -> None:
        with self._lines_seen:
            self.recent.append(line)
            self._lines_seen.notify_all()
        if self.on_line is not None:
            self.on_line(line)
        self.log(line)

    def log(self, line: str) -> None:
        print_prefixed(self.name, line, self.output)

    def tail(self, lines: int = 30) -> str:
        with self._lines_seen:
            return "\n".join(list(self.recent)[-lines:])

    def wait_for_line(self, needle: str, timeout: float) -> None:
        """Block until a line containing ``needle`` has been printed (raises if the process exits)."""
        deadline = time.monotonic() + timeout
        with self._lines_seen:
            while not any(needle in line for line in self.recent):
                self.ensure_running()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{self.name}: no line with {needle!r} within {timeout:.0f}s:\n{self.tail()}"
                    )
                self._lines_seen.wait(min(remaining, 0.2))

    def wait_ready(self, *, port: int | None = None, ready_line: str | None = None, timeout: float) -> None:
        """Block until ``port`` on 127.0.0.1 accepts connections and/or ``ready_line`` was printed."""
        if port is not None:
            from .infra._util import port_open  # the infra package imports this module

            wait_until(
                lambda: port_open("127.0.0.1", port),
                timeout=timeout,
                what=f"{self.name} on :{port}",
                process=self,
            )
        if ready_line is not None:
            self.wait_for_line(ready_line, timeout)


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    process: ManagedProcess | None = None,
    interval: float = 0.1,
) -> float:
    """Poll ``check`` until it returns True; fail early when ``process`` dies. Returns seconds waited."""
    started = time.monotonic()
    last_error: BaseException | None = None
    while True:
        if process is not None:
            process.ensure_running()
        try:
            if check():
                return time.monotonic() - started
        except Exception as exc:  # noqa: BLE001 - not ready yet: remember why, for the timeout message
            last_error = exc
        if time.monotonic() - started > timeout:
            detail = f" (last error: {last_error!r})" if last_error else ""
            tail = f"\n{process.tail()}" if process is not None else ""
            raise TimeoutError(f"{what} not ready within {timeout:.0f}s{detail}{tail}")
        time.sleep(interval)
        interval = min(interval * 1.5, 1.0)


class PrefixedLogHandler(logging.Handler):
    """Prints the supervisor's own log records in the same ``name | line`` layout as its children."""

    def __init__(self, name: str = "photo3d", output: IO[str] | None = None) -> None:
        super().__init__()
        self.prefix_name = name
        self.output = output
        self.setFormatter(logging.Formatter("%(levelname)-7s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print_prefixed(self.prefix_name, self.format(record), self.output or sys.stdout)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)

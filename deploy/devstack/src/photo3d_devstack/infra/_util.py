"""Small helpers the launchers share."""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


# Ports for the servers we start come from below the kernel's ephemeral range (32768-60999 on Linux):
# a port the kernel handed out once is soon handed out again as the source port of some outgoing
# connection, and a server started a moment later then finds it taken.
_SERVER_PORTS = range(20000, 32000)
_random = random.SystemRandom()


def _bindable(sock: socket.socket, host: str, port: int) -> bool:
    try:
        sock.bind((host, port))
    except OSError:
        return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now, outside the ephemeral range."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports (all held open while choosing, so none is picked twice)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            for _attempt in range(200):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                if _bindable(sock, host, _random.choice(_SERVER_PORTS)):
                    sockets.append(sock)
                    break
                sock.close()
            else:
                raise OSError(f"no free port in {_SERVER_PORTS} on {host}")
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, even when called inside a running event loop
    (e.g. from a pytest fixture of an async test session): then it runs on a fresh loop in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()

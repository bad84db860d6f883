"""The one way photo3d runs blocking work (decoding, inference, meshing) off the event loop, the one
way a service keeps a background loop (the outbox sweeper, the watchdog) running beside its consumers,
and the one way a request bounds its wait for a dependency (``answer_within``).

Every service calls ``run_blocking``: a worker thread from anyio's pool, bounded by a ``CapacityLimiter``
(the caller's, sized from its settings, else anyio's default of 40 threads), so a burst of work queues
instead of starting a thread each. Keyword arguments of ``func`` go through ``functools.partial``.
Inside such a thread, ``side_by_side`` spreads independent pieces of one computation over the cores.
The numeric libraries' own thread pools (BLAS, OpenMP) are capped per process with ``limit_blas_threads``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, TypeVarTuple, Unpack

import anyio.to_thread
from anyio import CapacityLimiter
from threadpoolctl import threadpool_limits

R = TypeVar("R")
Ts = TypeVarTuple("Ts")

__all__ = [
    "CapacityLimiter",
    "answer_within",
    "in_background",
    "limit_blas_threads",
    "run_blocking",
    "side_by_side",
]

#: Calls given up by ``answer_within``, still cleaning up (kept referenced until they end).
_abandoned: set[asyncio.Task[Any]] = set()


async def run_blocking(
    func: Callable[[Unpack[Ts]], R],
    *args: *Ts,
    limiter: CapacityLimiter | None = None,
    abandon_on_cancel: bool = False,
) -> R:
    """``func(*args)`` in a worker thread, awaited without blocking the loop.

    ``abandon_on_cancel=True``: a cancelled caller (e.g. a deadline) returns at once and leaves the thread
    to finish on its own; the default waits for the thread, so what it holds is released before the
    caller goes on."""
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter, abandon_on_cancel=abandon_on_cancel)


def side_by_side(calls: Sequence[Callable[[], R]], threads: int) -> list[R]:
    """Each of ``calls``' results, in order, ``threads`` of them running at once: for pieces of CPU work
    whose libraries let go of the GIL (numpy, scipy's filters and transforms, Pillow's resizing and
    encoding). The first exception raised is raised, after every call has ended."""
    if threads <= 1 or len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=min(threads, len(calls)), thread_name_prefix="side-by-side") as pool:
        futures = [pool.submit(call) for call in calls]
    return [future.result() for future in futures]


async def answer_within(seconds: float, call: Awaitable[R], *, gone: Callable[[], Exception]) -> R:
    """``await call``, or raise ``gone()`` after ``seconds`` at the latest. A plain timeout waits for the
    cancelled call to clean up, and a client library's clean-up may itself wait on the hung dependency
    (asyncpg waits for a query's cancellation): here the call is cancelled and left to finish alone."""
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task in done:
        return task.result()
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_abandoned.discard)
    task.add_done_callback(lambda ended: ended.cancelled() or ended.exception())  # retrieved, not logged
    raise gone()


@contextlib.asynccontextmanager
async def in_background(run: Callable[[], Coroutine[Any, Any, None]], *, name: str) -> AsyncIterator[None]:
    """``run()`` as a task while the block runs; cancelled and awaited when it ends."""
    task = asyncio.create_task(run(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def limit_blas_threads(threads: int) -> None:
    """Cap the BLAS and OpenMP thread pools of the numeric libraries loaded in this process (numpy's and
    SciPy's OpenBLAS, ...) at ``threads``, for the rest of its life.

    A worker's numpy work is many small products, which a second BLAS thread does not speed up; but its
    threads spin while they wait, and beside another busy process on the same cores that spinning is CPU
    taken from it: the local reconstruction with its export took 2.05-2.41 CPU s with two OpenBLAS
    threads beside two busy processes on 2 cores, 1.57-1.72 with one, and 1.74-1.97 against 1.56-1.70
    alone, at the same wall time (four runs each). Call it after the libraries are imported."""
    threadpool_limits(limits=threads)

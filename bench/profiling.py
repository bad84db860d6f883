"""Sampling profiles of the live services (py-spy, attached by pid) and where their CPU goes, by category.

``Profiler`` attaches ``py-spy record --format raw`` to each process while a benchmark runs; py-spy
counts only samples where a thread is running Python or native code (idle threads are left out), so
samples / rate approximate CPU seconds. ``categorise`` turns the collapsed stacks into seconds per
category (ONNX inference, PNG encoding, S3 client, Kafka client, JSON, ...): the first category that
matches, walking from the innermost frame outwards, gets the sample.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

RATE_HZ = 50

WAITING = "waking from a wait (epoll, locks)"

#: (category, alternatives): a frame ("function (file:line)", full file names) belongs to a category when
#: it holds every substring of one alternative; categories are checked innermost frame first
CATEGORIES: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("onnx inference", (("onnxruntime",),)),
    # a thread that just woke up is runnable while still in its wait call: on a loaded machine py-spy
    # catches many such samples; they are waiting for a core, not work of that process
    (
        WAITING,
        (("select (", "selectors.py"), ("wait (", "threading.py"), ("_worker (", "concurrent/futures")),
    ),
    ("image encode (PNG)", (("encode_png",), ("_encode_tile (", "/PIL/"), ("_save (", "/PIL/"))),
    ("image decode", (("decode_photo",), ("load (", "/PIL/"), ("open (", "/PIL/"))),
    ("rembg pre/post-processing (resize, normalise)", (("/rembg/",),)),
    ("cut-out numpy (crop, check)", (("photo3d_bgremoval/cutout.py",),)),
    ("cross-view consistency", (("photo3d_bgremoval/consistency.py",),)),
    ("upload validation", (("photo3d_upload/validation.py",),)),
    ("reconstruct (local)", (("photo3d_generation/local/",),)),
    ("export assets (glb/obj/stl/preview)", (("photo3d_generation/meshio.py",), ("/trimesh/exchange/",))),
    ("S3 client (aioboto3/botocore)", (("/botocore/",), ("/aiobotocore/",), ("/boto3/",), ("/s3transfer/",))),
    ("Kafka client (aiokafka/FastStream)", (("/aiokafka/",), ("/faststream/",))),
    ("Postgres client (asyncpg)", (("/asyncpg/",),)),
    ("JSON / pydantic", (("/json/",), ("/pydantic",), ("msgspec",))),
    ("logging", (("/structlog/",), ("/logging/",))),
    (
        "HTTP (litestar/uvicorn/httpx)",
        (("/litestar/",), ("/uvicorn/",), ("/httpx/",), ("/httpcore/",), ("/h11/",)),
    ),
    (
        "event loop / threads",
        (("/asyncio/",), ("threading.py",), ("/concurrent/",), ("selectors.py",), ("/anyio/",)),
    ),
)
#: checked only when no frame of the stack is in one of CATEGORIES
GENERIC: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("image libraries (Pillow/numpy/scipy)", (("/PIL/",), ("/numpy/",), ("/scipy/",), ("/skimage/",))),
    ("event loop / threads", (("/asyncio/",), ("threading.py",), ("/concurrent/",), ("/anyio/",))),
)
OTHER = "other"


def _category(frame: str, categories=CATEGORIES) -> str | None:
    for name, alternatives in categories:
        if any(all(part in frame for part in alternative) for alternative in alternatives):
            return name
    return None


def categorise(collapsed: str) -> dict[str, int]:
    """Samples per category of py-spy's raw (collapsed) output: ``frame;frame;...;frame count`` lines."""
    counts: dict[str, int] = {}
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")[::-1]  # innermost first
        category = next((found for frame in frames if (found := _category(frame)) is not None), None)
        if category is None:
            category = next((found for frame in frames if (found := _category(frame, GENERIC))), OTHER)
        counts[category] = counts.get(category, 0) + int(count)
    return counts


def top_functions(collapsed: str, limit: int = 12) -> list[tuple[str, int]]:
    """The innermost frames with the most samples (self time)."""
    counts: dict[str, int] = {}
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            leaf = stack.split(";")[-1]
            counts[leaf] = counts.get(leaf, 0) + int(count)
    return sorted(counts.items(), key=lambda item: -item[1])[:limit]


def py_spy() -> str | None:
    """The py-spy of this environment (a dev dependency), or None."""
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.is_file() else shutil.which("py-spy")


class Profiler:
    """``with Profiler(pids, folder):`` samples every named process until the block ends."""

    def __init__(self, pids: Mapping[str, int], folder: Path, *, rate: int = RATE_HZ) -> None:
        self.pids = dict(pids)
        self.folder = folder
        self.rate = rate
        self.binary = py_spy()
        self._running: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Self:
        if self.binary is None:
            print(
                "   profiling skipped: py-spy is not installed (uv sync installs the dev group)", flush=True
            )
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            out = self.folder / f"{name}.txt"
            command = [self.binary, "record", "--pid", str(pid), "--rate", str(self.rate), "--format", "raw"]
            command += ["--nonblocking", "--subprocesses", "--full-filenames", "--output", str(out)]
            self._running[name] = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self._running.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for process in self._running.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def report(self) -> dict[str, Any]:
        """CPU seconds per category and the top self-time frames, per process."""
        result: dict[str, Any] = {"rate_hz": self.rate, "processes": {}}
        for name in self._running:
            path = self.folder / f"{name}.txt"
            if not path.is_file():
                continue
            collapsed = path.read_text(errors="replace")
            counts = categorise(collapsed)
            result["processes"][name] = {
                "cpu_s_by_category": {
                    k: round(v / self.rate, 2) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
                },
                "sampled_cpu_s": round(sum(counts.values()) / self.rate, 2),
                "top_self": [(frame, round(n / self.rate, 2)) for frame, n in top_functions(collapsed)],
                "raw": str(path),
            }
        return result

"""Runs one service module (``python bench/requests/counted.py photo3d_status``) with every request it makes
to its dependencies counted: S3 API calls by operation (aiobotocore), Postgres statements by kind and table
(asyncpg, BEGIN/COMMIT and the pool's connection resets included), Kafka messages produced by topic
(aiokafka). The counts are written as JSON to ``$PHOTO3D_COUNT_FILE`` every 0.2 s and at exit, for
``bench/requests/run.py`` to take the difference over one model.

Nothing of this is in the services: the hooks wrap the client libraries' entry points from outside."""

from __future__ import annotations

import atexit
import collections
import functools
import json
import os
import re
import runpy
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

COUNTS: collections.Counter[str] = collections.Counter()
_LOCK = threading.Lock()

_TABLE = re.compile(r"\b(?:INTO|UPDATE|FROM)\s+(\w+)", re.IGNORECASE)


def sql_label(query: str) -> str:
    """``sql SELECT models``, ``sql INSERT outbox``, ``sql BEGIN``, ``sql reset`` (the pool's release)."""
    text = " ".join(query.split()).rstrip(";")
    if "pg_advisory_unlock_all" in text:
        return "sql reset (pool release)"
    verb = text.split(" ", 1)[0].upper().rstrip(";") if text else "?"
    if verb in {"BEGIN", "COMMIT", "ROLLBACK"}:
        return f"sql {verb}"
    if "pg_notify" in text and verb == "SELECT":
        return "sql SELECT pg_notify"
    if "pg_advisory_xact_lock" in text:
        return "sql SELECT pg_advisory_xact_lock"
    found = _TABLE.search(text)
    return f"sql {verb} {found.group(1) if found else ''}".rstrip()


def count(label: str) -> None:
    with _LOCK:
        COUNTS[label] += 1


def _wrap_async(owner: Any, name: str, label_of: Callable[..., str]) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def counted(*args: Any, **kwargs: Any) -> Any:
        count(label_of(*args, **kwargs))
        return await original(*args, **kwargs)

    setattr(owner, name, counted)


def install() -> None:
    import aiobotocore.client
    import aiokafka
    import asyncpg.connection

    _wrap_async(
        aiobotocore.client.AioBaseClient,
        "_make_api_call",
        lambda self, operation_name, api_params: f"s3 {operation_name}",
    )
    for method in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        _wrap_async(asyncpg.connection.Connection, method, lambda self, query, *a, **k: sql_label(str(query)))
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", "")
    _wrap_async(
        aiokafka.AIOKafkaProducer,
        "send",
        lambda self, topic, *a, **k: f"kafka produce {topic.removeprefix(prefix)}",
    )


def _dump(path: Path) -> None:
    with _LOCK:
        data = json.dumps(dict(COUNTS))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(data)
    tmp.replace(path)


def _dump_forever(path: Path) -> None:
    while True:
        _dump(path)
        time.sleep(0.2)


def main() -> None:
    module = sys.argv[1]
    path = Path(os.environ["PHOTO3D_COUNT_FILE"])
    install()
    threading.Thread(target=_dump_forever, args=(path,), daemon=True, name="request-counts").start()
    atexit.register(_dump, path)
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

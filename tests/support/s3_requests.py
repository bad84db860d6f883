"""Counts the S3 requests an ``ObjectStorage`` sends (botocore's ``before-call`` event, one per API call,
retries not counted twice): how many round trips a handler costs is deterministic, so tests can hold it."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

from photo3d_common.storage import ObjectStorage


@contextlib.contextmanager
def counted_requests(storage: ObjectStorage) -> Iterator[Counter[str]]:
    """``with counted_requests(storage) as sent: ...`` then ``sent == {"GetObject": 4, ...}``."""
    sent: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        sent[model.name] += 1

    events = storage.client.meta.events
    events.register("before-call.s3", count, unique_id="photo3d-test-count")
    try:
        yield sent
    finally:
        events.unregister("before-call.s3", unique_id="photo3d-test-count")

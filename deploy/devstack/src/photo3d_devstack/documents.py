"""Writing generated contract documents (docs/asyncapi/, docs/openapi/): one JSON file per service."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path


def write_documents(folder: Path, services: Iterable[str], render: Callable[[str], str]) -> list[Path]:
    """``folder/<service>.json`` with ``render(service)`` for each service; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for service in services:
        path = folder / f"{service}.json"
        path.write_text(render(service), encoding="utf-8")
        written.append(path)
    return written

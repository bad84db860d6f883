"""The OpenAPI documents of the two HTTP services, generated from each service's own Litestar app
(built with ``create_app()``, never started, so nothing connects): ``photo3d openapi`` writes them to
docs/openapi/, and the web page's API types (frontend/src/api/generated/) are generated from those files."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .config import DEV_JWT_SECRET, project_root
from .documents import write_documents

# The documents must not depend on the caller's environment. Dev tokens are on so the document also
# covers POST /api/dev/token, which the page calls on local runs (it answers 404 where they are off).
_DOCUMENT_ENVIRONMENT = {
    "AUTH_JWT_SECRET": DEV_JWT_SECRET,  # the apps refuse to build without a way to verify tokens
    "AUTH_DEV_TOKENS_ENABLED": "true",
    "KAFKA_TOPIC_PREFIX": "",
}


def _status() -> dict[str, Any]:
    from photo3d_status.app import create_app

    return create_app().openapi_schema.to_schema()


def _upload() -> dict[str, Any]:
    from photo3d_upload.app import create_app

    return create_app().openapi_schema.to_schema()


DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {"status": _status, "upload": _upload}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def render(service: str) -> str:
    """One service's OpenAPI document as stable JSON text."""
    with _environment(_DOCUMENT_ENVIRONMENT):
        document = DOCUMENTS[service]()
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_all(folder: Path | None = None) -> list[Path]:
    return write_documents(folder or project_root() / "docs" / "openapi", DOCUMENTS, render)

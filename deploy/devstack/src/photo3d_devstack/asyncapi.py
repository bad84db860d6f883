"""The AsyncAPI documents of every service, generated from the pydantic event schemas through each
service's own FastStream broker (never started): ``photo3d asyncapi`` writes them to docs/asyncapi/."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import DEV_JWT_SECRET, project_root
from .documents import write_documents


def _status() -> dict[str, Any]:
    from photo3d_status.app import asyncapi_document

    return asyncapi_document()


def _upload() -> dict[str, Any]:
    from photo3d_upload.app import create_app

    return create_app().state.asyncapi


def _bgremoval() -> dict[str, Any]:
    from photo3d_bgremoval.app import create_app

    return create_app().schema.to_specification().to_jsonable()


def _generation() -> dict[str, Any]:
    from photo3d_generation.app import create_app

    return create_app().schema.to_specification().to_jsonable()


DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "status": _status,
    "upload": _upload,
    "bgremoval": _bgremoval,
    "generation": _generation,
}


def render(service: str) -> str:
    """One service's document as stable JSON text, with the default (unprefixed) topic names."""
    os.environ.setdefault("AUTH_JWT_SECRET", DEV_JWT_SECRET)  # the HTTP apps refuse to build without auth
    os.environ["KAFKA_TOPIC_PREFIX"] = ""
    return json.dumps(DOCUMENTS[service](), indent=2, sort_keys=True) + "\n"


def write_all(folder: Path | None = None) -> list[Path]:
    return write_documents(folder or project_root() / "docs" / "asyncapi", DOCUMENTS, render)

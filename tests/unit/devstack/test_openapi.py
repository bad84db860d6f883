"""The committed OpenAPI documents (docs/openapi/) are the ones the HTTP services generate: run
`make docs` (or `.venv/bin/photo3d openapi`) after changing a route or an HTTP schema. The web page's
types are generated from these files; frontend/src/api/generated.test.ts checks that link."""

import json
from pathlib import Path

import pytest

from photo3d_devstack.openapi import DOCUMENTS, render

DOCS = Path(__file__).resolve().parents[3] / "docs" / "openapi"


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_committed_document_matches_the_code(service):
    committed = DOCS / f"{service}.json"
    assert committed.is_file(), f"missing {committed}: run make docs"
    assert json.loads(committed.read_text()) == json.loads(render(service)), (
        f"{committed} is stale: run make docs"
    )

"""The committed AsyncAPI documents (docs/asyncapi/) are the ones the code generates: run
`.venv/bin/photo3d asyncapi` after changing an event schema or a subscriber."""

import json
from pathlib import Path

import pytest

from photo3d_common.events import ALL_EVENTS
from photo3d_devstack.asyncapi import DOCUMENTS, render

DOCS = Path(__file__).resolve().parents[3] / "docs" / "asyncapi"


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_committed_document_matches_the_code(service):
    committed = DOCS / f"{service}.json"
    assert committed.is_file(), f"missing {committed}: run .venv/bin/photo3d asyncapi"
    assert json.loads(committed.read_text()) == json.loads(render(service)), (
        f"{committed} is stale: run .venv/bin/photo3d asyncapi"
    )


def test_every_event_schema_is_documented_somewhere():
    text = "".join(render(service) for service in DOCUMENTS)
    missing = [event.__name__ for event in ALL_EVENTS if event.__name__ not in text]
    assert missing == []

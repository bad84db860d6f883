"""The HTTP error mapping of libs/common: the one envelope, and a connection failure named after the
dependency whose client raised it (a real refused connection, not a constructed exception)."""

from __future__ import annotations

import asyncpg
import pytest
from litestar import get
from litestar.testing import create_test_client

from photo3d_common.errors import DatabaseUnavailable, NotFound, dependency_failure, error_envelope
from photo3d_common.web import EXCEPTION_HANDLERS, error_responses, nosniff
from photo3d_devstack.infra._util import free_port


async def test_a_refused_database_connection_is_database_unavailable():
    with pytest.raises(ConnectionRefusedError) as refused:
        await asyncpg.connect(f"postgresql://nobody@127.0.0.1:{free_port()}/none", timeout=2)
    assert isinstance(dependency_failure(refused.value), DatabaseUnavailable)


def test_every_error_and_a_dependency_outage_answer_with_the_one_envelope():
    @get("/missing")
    async def missing() -> None:
        raise NotFound("no model 1", code="model_not_found")

    @get("/database")
    async def database() -> None:  # a dead database, as a request meets it
        await asyncpg.connect(f"postgresql://nobody@127.0.0.1:{free_port()}/none", timeout=2)

    @get("/bug")
    async def bug() -> None:
        raise KeyError("a bug")

    with create_test_client(
        [missing, database, bug], exception_handlers=EXCEPTION_HANDLERS, before_send=[nosniff]
    ) as client:
        answers = {path: client.get(path) for path in ("/missing", "/database", "/bug", "/nowhere")}
    assert answers["/missing"].json() == error_envelope("model_not_found", "no model 1")
    assert answers["/database"].status_code == 503
    assert answers["/database"].json()["error"]["code"] == "database_unavailable"
    assert answers["/database"].headers["retry-after"]
    assert answers["/bug"].status_code == 500 and answers["/bug"].json()["error"]["code"] == "internal_error"
    assert answers["/nowhere"].json()["error"]["code"] == "not_found"
    assert all(answer.headers["x-content-type-options"] == "nosniff" for answer in answers.values())


def test_error_responses_always_document_400_with_the_envelope():
    specs = error_responses(404, (409, "busy"))
    assert sorted(specs) == [400, 404, 409] and specs[409].description == "busy"
    assert {spec.data_container.__name__ for spec in specs.values()} == {"ErrorEnvelope"}

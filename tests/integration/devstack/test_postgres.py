"""The embedded Postgres launcher: a real server that answers over TCP and keeps its data across restarts."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from photo3d_devstack.infra import EmbeddedPostgres
from photo3d_devstack.infra._util import free_port, port_open


@pytest.fixture
def data_dir(infra_tmp_dir: Path, request: pytest.FixtureRequest) -> Path:
    return infra_tmp_dir / f"pg-{request.node.name}"


async def test_embedded_postgres_answers_and_keeps_data_across_restarts(data_dir: Path) -> None:
    server = EmbeddedPostgres(data_dir, port=free_port(), database="launcher_check")
    with server:
        assert server.url.endswith("/launcher_check")
        conn = await asyncpg.connect(server.url)
        try:
            assert (await conn.fetchval("SHOW server_version")).startswith("18")
            await conn.execute("CREATE TABLE kept (id int PRIMARY KEY, note text)")
            await conn.execute("INSERT INTO kept VALUES (1, 'survives a restart')")
        finally:
            await conn.close()
    assert not port_open(server.host, server.port), "the server still listens after stop()"

    with server:  # same data dir: no initdb, same rows
        conn = await asyncpg.connect(server.url)
        try:
            assert await conn.fetchval("SELECT note FROM kept WHERE id = 1") == "survives a restart"
        finally:
            await conn.close()


def test_a_busy_port_is_reported_instead_of_hanging(data_dir: Path, postgres_admin_url: str) -> None:
    busy_port = int(postgres_admin_url.rsplit(":", 1)[1].split("/", 1)[0])
    with pytest.raises(RuntimeError, match="already in use"):
        EmbeddedPostgres(data_dir, port=busy_port).start()


async def test_each_run_gets_its_own_database(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        name = await conn.fetchval("SELECT current_database()")
    finally:
        await conn.close()
    assert name.startswith("photo3d_test_")
    assert database_url.endswith(f"/{name}")

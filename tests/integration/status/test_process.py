"""The service as a process: the one-shot migrate command, and a prompt, clean stop with live streams open."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import asyncpg
import httpx

from photo3d_status.migrate import load_migrations


async def test_migrate_command(make_database):
    url = make_database("cmd_migrate")
    env = {
        **os.environ,
        "STATUS_DATABASE_URL": url,
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing",
    }
    for _ in range(2):  # the second run finds nothing to do
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "photo3d_status", "migrate", env=env, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, stderr.decode()
    connection = await asyncpg.connect(url)
    try:
        versions = [
            r["version"] for r in await connection.fetch("SELECT version FROM schema_migrations ORDER BY 1")
        ]
    finally:
        await connection.close()
    assert versions == [m.version for m in load_migrations()]


async def test_sigterm_with_open_event_streams_stops_promptly(service_process, infra_env, unused_port):
    env = infra_env | {
        "STATUS_PORT": str(unused_port),
        "STATUS_CONSUME": "false",
        "STATUS_MIGRATE_ON_START": "true",
    }
    process = service_process("photo3d_status", env, port=unused_port)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{unused_port}", timeout=20) as client:
        token = (await client.post("/api/dev/token", json={"user": "sigterm"})).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        model = (await client.post("/api/models", json={})).json()
        async with client.stream("GET", f"/api/models/{model['id']}/events") as response:
            lines = response.aiter_lines()
            while not (await anext(lines)).startswith("data:"):
                pass
            started = time.monotonic()
            code = await asyncio.to_thread(process.stop, 20)
            elapsed = time.monotonic() - started
    # uvicorn re-raises the signal after its graceful shutdown, hence -SIGTERM
    assert code in (0, -15) and elapsed < 8, (code, elapsed)
    assert "Application shutdown complete" in process.tail(50)

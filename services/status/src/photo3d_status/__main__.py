"""``python -m photo3d_status`` runs the service; ``... migrate`` applies migrations and exits;
``... asyncapi [PATH]`` writes the AsyncAPI document (default docs/asyncapi/status.json)."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from photo3d_common.logging import configure_logging, get_logger

if TYPE_CHECKING:
    from photo3d_status.live import ModelChangeHub


class StatusServer(uvicorn.Server):
    """uvicorn's server, ending ``hub``'s open event streams as soon as a shutdown signal arrives: uvicorn
    waits for open responses before running the lifespan shutdown, and an SSE stream never ends by itself."""

    def __init__(self, config: uvicorn.Config, hub: ModelChangeHub) -> None:
        super().__init__(config)
        self.hub = hub
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # a signal handler runs between any two bytecodes of the loop's thread, even inside
        # asyncio.Event.wait between its check and its wait, where a set() from here is lost and the stream
        # waits on to its next keep-alive: the loop closes the hub itself
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.hub.close)
        else:
            self.hub.close()
        super().handle_exit(sig, frame)


def _serve() -> None:
    from photo3d_status.app import create_app
    from photo3d_status.settings import StatusSettings

    settings = StatusSettings()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our structlog setup renders uvicorn's records too
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )
    StatusServer(config, app.state.hub).run()


def _migrate() -> None:
    from photo3d_status.migrate import migrate
    from photo3d_status.settings import DatabaseSettings

    configure_logging("status")
    applied = asyncio.run(migrate(DatabaseSettings().database_url))
    get_logger("photo3d_status").info("migrations done", applied=applied)


def _creation(action: str, notice: str | None, by: str) -> None:
    """Show or flip the creation switch in the database (no restart: the services read it as they go)."""
    import asyncpg

    from photo3d_status.creation_switch import read_switch, write_switch
    from photo3d_status.settings import DatabaseSettings

    async def run() -> None:
        connection = await asyncpg.connect(DatabaseSettings().database_url)
        try:
            if action == "show":
                switch = await read_switch(connection)
            else:
                switch = await write_switch(connection, enabled=action == "on", notice=notice, changed_by=by)
        finally:
            await connection.close()
        state = "on" if switch.enabled else f"off ({switch.notice})"
        print(f"model creation is {state}; changed {switch.changed_at} by {switch.changed_by}")

    asyncio.run(run())


def _asyncapi(path: str | None) -> None:
    from photo3d_status.app import asyncapi_document

    # Without a topic prefix: the document names the real topics, whatever this shell's environment says.
    text = json.dumps(asyncapi_document(), indent=2, sort_keys=True)
    text += "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    target = Path(path or "docs/asyncapi/status.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {target}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m photo3d_status", description="photo3d status service")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the HTTP API and the consumers (the default)")
    commands.add_parser("migrate", help="apply database migrations and exit")
    creation = commands.add_parser("creation", help="show or flip the model-creation switch (no restart)")
    creation.add_argument("action", choices=("show", "on", "off"))
    creation.add_argument("--notice", help="with off: what users are told")
    creation.add_argument("--by", default="python -m photo3d_status creation", help="who flips it (recorded)")
    dump = commands.add_parser("asyncapi", help="write the AsyncAPI document")
    dump.add_argument(
        "path", nargs="?", help="output file ('-' for stdout); default docs/asyncapi/status.json"
    )
    args = parser.parse_args(argv)
    if args.command == "migrate":
        _migrate()
    elif args.command == "creation":
        _creation(args.action, args.notice, args.by)
    elif args.command == "asyncapi":
        _asyncapi(args.path)
    else:
        _serve()


if __name__ == "__main__":
    main()

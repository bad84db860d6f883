"""Deployment records: ``ops/deployments/<env>/<UTC time>--<id>.json``, one per deploy or rollback, with
the version, the backup taken before it, every step's time and outcome, the smoke-test result and the
non-secret settings it ran with (so a rollback can run the previous version as it was configured)."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .backups import TIME_FORMAT
from .store import OpsStore

Outcome = Literal["running", "succeeded", "failed", "rolled_back"]


@dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class DeploymentRecord:
    environment: str
    kind: Literal["deploy", "rollback"]
    version: str
    started_at: str
    id: str = field(default_factory=lambda: secrets.token_hex(4))
    previous_version: str | None = None
    runtime: str = "local"
    reset_db: bool = False
    backup_key: str | None = None
    restored_backup_key: str | None = None
    outcome: Outcome = "running"
    finished_at: str | None = None
    error: str | None = None
    steps: list[StepResult] = field(default_factory=list)
    smoke: dict[str, Any] | None = None
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(
        cls, environment: str, kind: Literal["deploy", "rollback"], version: str, **fields: Any
    ) -> DeploymentRecord:
        return cls(environment, kind, version, datetime.now(UTC).replace(microsecond=0).isoformat(), **fields)

    @property
    def key(self) -> str:
        started = datetime.fromisoformat(self.started_at)
        return f"ops/deployments/{self.environment}/{started.strftime(TIME_FORMAT)}--{self.id}.json"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> DeploymentRecord:
        steps = [StepResult(**step) for step in document.get("steps", [])]
        return cls(**{**document, "steps": steps})


def save(store: OpsStore, record: DeploymentRecord) -> None:
    store.put_json(record.key, record.to_json())


def history(store: OpsStore) -> list[DeploymentRecord]:
    """Every record of the environment, oldest first."""
    return [DeploymentRecord.from_json(store.get_json(key)) for key in store.keys(store.deployments_prefix())]


def current(records: list[DeploymentRecord]) -> DeploymentRecord | None:
    """The deployment now running: the newest one that succeeded (a deploy rolled back on its own left
    the one before it running)."""
    succeeded = [r for r in records if r.outcome == "succeeded"]
    return succeeded[-1] if succeeded else None


def rollback_plan(
    records: list[DeploymentRecord], to_version: str | None = None
) -> tuple[DeploymentRecord, DeploymentRecord, str]:
    """(the deployment being undone, the one to go back to, the backup to restore).

    The backup to restore is the one the first deployment after the target took: the data as the target
    version left it. Raises LookupError with the reason when there is nothing to roll back to."""
    now = current(records)
    if now is None:
        raise LookupError("no successful deployment is recorded for this environment: nothing to roll back")
    index = records.index(now)
    earlier = [r for r in records[:index] if r.outcome == "succeeded"]
    if to_version is not None:
        earlier = [r for r in earlier if r.version == to_version]
        if not earlier:
            known = sorted({r.version for r in records[:index] if r.outcome == "succeeded"})
            raise LookupError(
                f"version {to_version} never ran successfully before the current deployment "
                f"({now.version}); earlier versions: {', '.join(known) or 'none'}"
            )
    if not earlier:
        raise LookupError(
            f"the current deployment ({now.version}, {now.started_at}) is the first that succeeded: "
            "there is no previous version to go back to"
        )
    target = earlier[-1]
    after = records[records.index(target) + 1 :]
    backup = next((r.backup_key for r in after if r.backup_key), None)
    if backup is None:
        raise LookupError(f"no backup was taken after {target.version} ran: its data cannot be restored")
    return now, target, backup

"""``photo3d deploy ENV`` and ``photo3d rollback ENV``: the steps, in order, each printed with its time,
stopping at the first failure; a failure after the backup rolls back on its own."""

from __future__ import annotations

import subprocess
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from . import backups, database, records, releases
from .environment import DEVELOPMENT_SECRETS, Environment, is_placeholder, is_secret
from .records import DeploymentRecord, StepResult
from .runtimes import runtime_for
from .smoke import SmokeResult, run_smoke_test
from .store import OpsStore

Say = Callable[[str], None]
T = TypeVar("T")

REQUIRED = (
    "DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "S3_ENDPOINT_URL",
    "S3_BUCKET",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
)
MIN_JWT_SECRET_CHARS = 32


class DeployFailed(RuntimeError):
    """A step failed; the message says which and why (and what the automatic rollback did)."""


class StepFailed(RuntimeError):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


# pre-flight -------------------------------------------------------------------------------------------
def settings_problems(environment: Environment, *, reset_db: bool) -> list[str]:
    """What makes these settings unfit to deploy (empty when fine). No network."""
    s = environment.settings
    problems: list[str] = []
    for key in REQUIRED:
        if not s.get(key, "").strip():
            problems.append(f"{key} is not set")
    if not (s.get("AUTH_JWT_SECRET") or s.get("AUTH_JWKS_URL")):
        problems.append("AUTH_JWT_SECRET or AUTH_JWKS_URL must be set: every API call needs a verified token")
    if environment.runtime == "compose" and not s.get("POSTGRES_PASSWORD"):
        problems.append("POSTGRES_PASSWORD is not set (the compose runtime's database needs it)")
    for key, value in sorted(s.items()):
        if not value or not is_secret(key):
            continue
        if value in DEVELOPMENT_SECRETS:
            problems.append(f"{key} is {DEVELOPMENT_SECRETS[value]}: a deployment needs its own secret")
        elif is_placeholder(value):
            problems.append(f"{key} is still the placeholder {value!r} of the example file")
    secret = s.get("AUTH_JWT_SECRET", "")
    if secret and len(secret) < MIN_JWT_SECRET_CHARS and secret not in DEVELOPMENT_SECRETS:
        problems.append(f"AUTH_JWT_SECRET is shorter than {MIN_JWT_SECRET_CHARS} characters")
    if s.get("AUTH_DEV_TOKENS_ENABLED", "").lower() in ("1", "true", "yes", "on"):
        problems.append("AUTH_DEV_TOKENS_ENABLED is on: anyone could mint tokens; development only")
    if environment.production and reset_db:
        problems.append(
            f"{environment.name} is marked production (DEPLOY_PRODUCTION=true): a database reset is refused"
        )
    return problems


def reachability_problems(environment: Environment, store: OpsStore) -> list[str]:
    from ..infra.kafka import kafka_answers

    s = environment.settings
    problems: list[str] = []
    try:
        database.server_version_num(s["DATABASE_URL"])
    except (database.DatabaseError, KeyError) as error:
        problems.append(f"database {_safe_db(s)}: {error}")
    try:
        if not kafka_answers(s["KAFKA_BOOTSTRAP_SERVERS"]):
            problems.append(f"Kafka at {s['KAFKA_BOOTSTRAP_SERVERS']} has no brokers")
    except Exception as error:  # noqa: BLE001 - any failure to connect is the answer
        problems.append(f"Kafka at {s.get('KAFKA_BOOTSTRAP_SERVERS')}: {type(error).__name__}: {error}")
    try:
        store.reachable()
    except Exception as error:  # noqa: BLE001 - any failure to reach the store is the answer
        problems.append(f"object store {s.get('S3_ENDPOINT_URL')} bucket {store.bucket}: {error}")
    return problems


def _safe_db(settings: dict[str, str]) -> str:
    try:
        return database.DatabaseTarget.parse(settings["DATABASE_URL"]).display
    except (database.DatabaseError, KeyError):
        return "(DATABASE_URL)"


# steps ------------------------------------------------------------------------------------------------
@dataclass
class Run:
    """One deploy or rollback in progress: prints and times its steps into its record."""

    record: DeploymentRecord
    say: Say
    total: int = 6
    store: OpsStore | None = None

    def step(self, number: int, name: str, action: Callable[[], T]) -> T:
        self.say(f"[{number}/{self.total}] {name}")
        started = time.monotonic()
        try:
            value = action()
        except StepFailed as error:
            self._done(name, False, started, error.reason)
            raise
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            self._done(name, False, started, reason)
            raise StepFailed(name, reason) from error
        self._done(name, True, started, "")
        return value

    def _done(self, name: str, ok: bool, started: float, detail: str) -> None:
        seconds = round(time.monotonic() - started, 2)
        self.record.steps.append(StepResult(name, ok, seconds, detail))
        self.say(f"      {name}: {'ok' if ok else 'FAILED'} in {seconds:.1f}s{'' if ok else f' — {detail}'}")

    def save(self) -> None:
        if self.store is not None:
            try:
                records.save(self.store, self.record)
            except Exception as error:  # noqa: BLE001 - the deployment's outcome matters more than its note
                self.say(f"warning: could not record the deployment: {error}")


def _record_step(run: Run) -> None:
    """Step 6: the record, saved with itself as a step (its time is that of writing it)."""
    run.say(f"[6/{run.total}] record")
    started = time.monotonic()
    step = StepResult("record", True, 0.0, run.record.key)
    run.record.steps.append(step)
    _finish(run, "succeeded")
    step.seconds = round(time.monotonic() - started, 2)
    run.say(
        f"      record: ok in {step.seconds:.1f}s ({run.store.bucket if run.store else '?'}/{run.record.key})"
    )


def _finish(run: Run, outcome: records.Outcome, error: str | None = None) -> None:
    run.record.outcome = outcome
    run.record.error = error
    run.record.finished_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    run.save()


def _preflight(
    environment: Environment, version: str | None, *, reset_db: bool, say: Say
) -> tuple[OpsStore, releases.Release]:
    problems = settings_problems(environment, reset_db=reset_db)
    if problems:
        raise StepFailed("pre-flight", "; ".join(problems))
    for note in environment.notes:
        say(f"      {note}")
    runtime_for(environment).ensure_infrastructure(lambda line: say(f"      {line}"))
    store = OpsStore(environment)
    problems = reachability_problems(environment, store)
    if problems:
        raise StepFailed("pre-flight", "; ".join(problems))
    try:
        release = releases.resolve(
            version, environment.state_dir / "releases", keep=environment.runtime == "local"
        )
    except (releases.ReleaseError, OSError, subprocess.CalledProcessError) as error:
        raise StepFailed("pre-flight", str(error)) from error
    tools = database.find_pg_tools(
        environment.settings["DATABASE_URL"], bin_dir=environment.settings.get("DEPLOY_PG_BIN") or None
    )
    say(
        f"      settings ok; database, Kafka and object store answer; version {release.version}; pg_dump {tools.major}"
    )
    return store, release


def _backup(environment: Environment, store: OpsStore, running: str, say: Say) -> backups.Backup:
    backup = backups.take_backup(environment, store, version=running, work_dir=environment.state_dir / "tmp")
    m = backup.manifest
    say(
        f"      {backup.key} ({m['size_bytes']} bytes, migration level {m['migration_level']}, sha256 {m['sha256'][:12]}…)"
    )
    pruned = backups.prune(
        store, retention_days=environment.backup_retention_days, keep=environment.backup_keep
    )
    if pruned:
        say(f"      pruned {len(pruned)} backup(s) older than {environment.backup_retention_days:g} days")
    return backup


def _smoke(environment: Environment, say: Say, record: DeploymentRecord) -> SmokeResult:
    result = run_smoke_test(environment, say)
    record.smoke = result.to_json()
    if not result.passed and not result.skipped:
        raise StepFailed("smoke test", f"{result.failed_step}: {result.reason}")
    return result


# deploy -----------------------------------------------------------------------------------------------
def deploy(
    environment: Environment, *, version: str | None = None, reset_db: bool | None = None, say: Say = print
) -> DeploymentRecord:
    reset = environment.reset_db_default if reset_db is None else reset_db
    runtime = runtime_for(environment)
    record = DeploymentRecord.start(
        environment.name, "deploy", version or "?", runtime=environment.runtime, reset_db=reset
    )
    run = Run(record, say)
    say(f"photo3d deploy {environment.name} ({environment.runtime} runtime, settings {environment.source})")
    try:
        store, release = run.step(
            1, "pre-flight", lambda: _preflight(environment, version, reset_db=reset, say=say)
        )
    except StepFailed as error:
        raise DeployFailed(f"deploy of {environment.name} refused at pre-flight: {error.reason}") from error
    run.store = store
    record.version = release.version
    record.settings = environment.recordable_settings()
    history = records.history(store)
    previous = records.current(history)
    record.previous_version = previous.version if previous else None
    run.save()
    try:
        backup = run.step(
            2, "backup", lambda: _backup(environment, store, record.previous_version or "none", say)
        )
    except StepFailed as error:
        _finish(run, "failed", str(error))
        raise DeployFailed(
            f"deploy of {release.version} stopped at the backup (nothing changed): {error.reason}"
        ) from error
    record.backup_key = backup.key
    run.save()
    try:
        run.step(3, "database reset" if reset else "database migrations",
                 lambda: _database(environment, runtime, release, reset=reset, say=say))  # fmt: skip
        run.step(
            4, "roll out", lambda: runtime.roll_out(release, environment, lambda line: say(f"      {line}"))
        )
        run.step(5, "smoke test", lambda: _smoke(environment, say, record))
    except StepFailed as error:
        say(f"!! {error}: rolling back")
        outcome, note = _auto_rollback(environment, store, backup, previous, say)
        _finish(run, outcome, f"{error}; {note}")
        raise DeployFailed(
            f"deploy of {release.version} failed at {error.step} ({error.reason}); {note}"
        ) from error
    _record_step(run)
    say(f"deployed {release.version} to {environment.name}: {_timings(record)}")
    return record


def _database(
    environment: Environment, runtime: Any, release: releases.Release, *, reset: bool, say: Say
) -> None:
    from . import switch

    url = environment.settings["DATABASE_URL"]
    if reset:
        kept = switch.read(url)
        # nothing may write into the fresh schema but the new version: the old one stops first
        runtime.stop_services(lambda line: say(f"      {line}"))
        database.reset_schema(url)
        runtime.migrate(release, environment)
        if kept is not None:
            switch.write(url, kept)
        say(f"      schema dropped and recreated; migrations applied up to {database.migration_level(url)}")
    else:
        before = database.migration_level(url)
        runtime.migrate(release, environment)
        say(f"      migrations applied forward: {before} → {database.migration_level(url)}")


def _auto_rollback(
    environment: Environment,
    store: OpsStore,
    backup: backups.Backup,
    previous: DeploymentRecord | None,
    say: Say,
) -> tuple[records.Outcome, str]:
    runtime = runtime_for(environment)
    started = time.monotonic()
    try:
        runtime.stop_services(lambda line: say(f"      {line}"))
        backups.restore_backup(environment, store, backup, work_dir=environment.state_dir / "tmp")
        say(f"      database restored from {backup.key}")
        if previous is None:
            return "rolled_back", (
                f"database restored from {backup.key}; there is no previous version to run, so the services "
                f"stay stopped (rolled back in {time.monotonic() - started:.1f}s)"
            )
        target_env = environment.with_settings(previous.settings)
        release = releases.resolve(previous.version, environment.state_dir / "releases")
        runtime.roll_out(release, target_env, lambda line: say(f"      {line}"))
        smoke = run_smoke_test(target_env, say)
    except Exception as error:  # noqa: BLE001 - reported as the rollback's failure
        say(traceback.format_exc())
        return "failed", f"the automatic rollback failed too: {type(error).__name__}: {error}"
    seconds = time.monotonic() - started
    verdict = (
        "passed"
        if smoke.passed
        else (f"skipped ({smoke.skipped})" if smoke.skipped else f"FAILED ({smoke.reason})")
    )
    return "rolled_back", (
        f"rolled back to {previous.version} in {seconds:.1f}s: database restored from {backup.key}, smoke test {verdict}"
    )


def _timings(record: DeploymentRecord) -> str:
    return ", ".join(f"{step.name} {step.seconds:.1f}s" for step in record.steps)


# rollback ---------------------------------------------------------------------------------------------
def rollback(
    environment: Environment, *, to_version: str | None = None, say: Say = print
) -> DeploymentRecord:
    say(f"photo3d rollback {environment.name}" + (f" --to {to_version}" if to_version else ""))
    problems = settings_problems(environment, reset_db=False)
    if problems:
        raise DeployFailed(f"rollback of {environment.name} refused: {'; '.join(problems)}")
    store = OpsStore(environment)
    try:
        history = records.history(store)
        now, target, backup_key = records.rollback_plan(history, to_version)
        backup = backups.get_backup(store, backup_key)
    except (LookupError, backups.BackupError) as error:
        raise DeployFailed(f"rollback of {environment.name} refused: {error}") from error
    except Exception as error:
        raise DeployFailed(
            f"rollback of {environment.name} refused: the deployment history cannot be read: {error}"
        ) from error
    target_env = environment.with_settings(target.settings)
    runtime = runtime_for(target_env)
    record = DeploymentRecord.start(
        environment.name, "rollback", target.version, previous_version=now.version,
        runtime=environment.runtime, restored_backup_key=backup.key, settings=target.settings,
    )  # fmt: skip
    run = Run(record, say, store=store)
    say(f"undoing {now.version} ({now.started_at}): back to {target.version}, data from {backup.key}")
    try:
        release = run.step(
            1, "pre-flight", lambda: _preflight(target_env, target.version, reset_db=False, say=say)[1]
        )
        run.save()
        safety = run.step(2, "backup", lambda: _backup(target_env, store, now.version, say))
        record.backup_key = safety.key
        run.step(3, "database restore", lambda: _restore(target_env, runtime, store, backup, say))
        run.step(
            4, "roll out", lambda: runtime.roll_out(release, target_env, lambda line: say(f"      {line}"))
        )
        run.step(5, "smoke test", lambda: _smoke(target_env, say, record))
    except StepFailed as error:
        _finish(run, "failed", str(error))
        raise DeployFailed(
            f"rollback of {environment.name} to {target.version} failed at {error.step}: {error.reason}"
        ) from error
    _record_step(run)
    say(f"rolled {environment.name} back to {target.version}: {_timings(record)}")
    return record


def _restore(
    environment: Environment, runtime: Any, store: OpsStore, backup: backups.Backup, say: Say
) -> None:
    runtime.stop_services(lambda line: say(f"      {line}"))
    backups.restore_backup(environment, store, backup, work_dir=environment.state_dir / "tmp")
    m = backup.manifest
    say(
        f"      restored {backup.key} (taken {m['taken_at']} under {m['version']}, migration level {m['migration_level']}, sha256 checked)"
    )


# status -----------------------------------------------------------------------------------------------
def status_lines(environment: Environment) -> list[str]:
    store = OpsStore(environment)
    history = records.history(store)
    now = records.current(history)
    lines = [f"{environment.name}: {len(history)} deployment(s) recorded; running: "
             + (f"{now.version} (since {now.finished_at})" if now else "nothing recorded")]  # fmt: skip
    lines.append(f"{'started (UTC)':<26} {'kind':<9} {'version':<22} {'outcome':<12} {'smoke':<8} backup")
    for r in history:
        smoke = (
            "-"
            if r.smoke is None
            else ("passed" if r.smoke.get("passed") else ("skipped" if r.smoke.get("skipped") else "failed"))
        )
        lines.append(
            f"{r.started_at:<26} {r.kind:<9} {r.version:<22} {r.outcome:<12} {smoke:<8} {r.backup_key or '-'}"
        )
        if r.error:
            lines.append(f"{'':<26} {r.error}")
    if environment.runtime == "local":
        from .runtimes import LocalRuntime

        running = LocalRuntime(environment).running_versions()
        lines.append("processes: " + (", ".join(f"{k} {v}" for k, v in running.items()) or "none running"))
    backups_list = backups.list_backups(store)
    lines.append(
        f"backups: {len(backups_list)}" + (f", newest {backups_list[-1].key}" if backups_list else "")
    )
    return lines

"""A deployment environment: its settings file (``deploy/envs/<name>.env``), what the deploy tool reads from
it (``DEPLOY_*``) and what the services get (everything else). Secrets are told apart by their names, so a
deployment record can keep the settings it ran with without keeping a secret."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values

from .. import config

Runtime = Literal["local", "compose"]
RUNTIMES: tuple[Runtime, ...] = ("local", "compose")

# Names whose values are secrets: never printed, never stored in a deployment record.
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|DSN|PRIVATE|ACCESS_KEY|SASL_USERNAME)", re.IGNORECASE)
# Values that say "fill me in": an example file copied without editing.
_PLACEHOLDER = re.compile(r"^(change[-_ ]?me|changeme|todo|xxx+|<.*>|replace[-_ ]?me)$", re.IGNORECASE)

# Values that only development may use (config.py, compose's MinIO try-out): a deployment refuses them.
DEVELOPMENT_SECRETS: dict[str, str] = {
    config.DEV_JWT_SECRET: "the development JWT secret",
    config.DEV_S3_SECRET_ACCESS_KEY: "the development S3 secret",
}

# Settings the local infrastructure of an environment (DEPLOY_LOCAL_INFRA=true) provides itself.
LOCAL_INFRA_KEYS = (
    "DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "S3_BUCKET",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
)
# Secrets a local environment generates once and keeps in its state directory (secrets.env, mode 0600).
GENERATED_SECRETS = ("AUTH_JWT_SECRET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY")


def is_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redacted(settings: Mapping[str, str]) -> dict[str, str]:
    """``settings`` without the values of secrets (their names stay, so one can tell they were set)."""
    return {key: ("***" if is_secret(key) and value else value) for key, value in settings.items()}


class EnvironmentError_(RuntimeError):
    """The environment's settings cannot be used (unknown environment, unreadable file, bad value)."""


@dataclass
class Environment:
    """One named environment. ``settings`` holds every KEY=VALUE (file, then generated secrets, then the
    process environment for keys the file leaves empty); ``deploy_*`` properties read the tool's own."""

    name: str
    settings: dict[str, str]
    source: Path | None = None
    notes: list[str] = field(default_factory=list)

    # the tool's own settings --------------------------------------------------------------------
    def _get(self, key: str, default: str = "") -> str:
        return (self.settings.get(key) or default).strip()

    def _bool(self, key: str, default: bool) -> bool:
        raw = self._get(key)
        if not raw:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise EnvironmentError_(f"{key}={raw!r} is not a boolean (true/false)")

    def _number(self, key: str, default: float) -> float:
        raw = self._get(key)
        try:
            return float(raw) if raw else default
        except ValueError as error:
            raise EnvironmentError_(f"{key}={raw!r} is not a number") from error

    @property
    def runtime(self) -> Runtime:
        value = self._get("DEPLOY_RUNTIME", "local")
        if value not in RUNTIMES:
            raise EnvironmentError_(f"DEPLOY_RUNTIME={value!r}: one of {', '.join(RUNTIMES)}")
        return next(runtime for runtime in RUNTIMES if runtime == value)

    @property
    def production(self) -> bool:
        return self._bool("DEPLOY_PRODUCTION", False)

    @property
    def reset_db_default(self) -> bool:
        """Staging starts from an empty database by default; production never does."""
        return self._bool("DEPLOY_RESET_DB", not self.production)

    @property
    def state_dir(self) -> Path:
        raw = self._get("DEPLOY_STATE_DIR", f"var/deploy/{self.name}")
        path = Path(raw)
        return (path if path.is_absolute() else config.project_root() / path).resolve()

    @property
    def local_infra(self) -> bool:
        return self._bool("DEPLOY_LOCAL_INFRA", False)

    def local_port(self, what: str, default: int) -> int:
        return int(self._number(f"DEPLOY_LOCAL_{what}_PORT", default))

    @property
    def seaweedfs_port_base(self) -> int:
        return int(self._number("DEPLOY_LOCAL_SEAWEEDFS_PORT_BASE", 18400))

    @property
    def status_port(self) -> int:
        return int(self._number("STATUS_PORT", 8000))

    @property
    def upload_port(self) -> int:
        return int(self._number("UPLOAD_PORT", 8001))

    @property
    def status_url(self) -> str:
        """Where the deploy tool reaches the status service (health checks, smoke test)."""
        return self._get("DEPLOY_STATUS_URL", f"http://127.0.0.1:{self.status_port}").rstrip("/")

    @property
    def upload_url(self) -> str:
        return self._get("DEPLOY_UPLOAD_URL", f"http://127.0.0.1:{self.upload_port}").rstrip("/")

    @property
    def ops_bucket(self) -> str:
        """Backups and deployment records live here, under ``ops/`` (default: the services' bucket)."""
        return self._get("DEPLOY_BUCKET") or self._get("S3_BUCKET", config.DEV_S3_BUCKET)

    @property
    def backup_retention_days(self) -> float:
        return self._number("DEPLOY_BACKUP_RETENTION_DAYS", 14)

    @property
    def backup_keep(self) -> int:
        """The newest N backups are never pruned, however old."""
        return max(1, int(self._number("DEPLOY_BACKUP_KEEP", 3)))

    @property
    def smoke_timeout_s(self) -> float:
        return self._number("DEPLOY_SMOKE_TIMEOUT_S", 300)

    @property
    def ready_timeout_s(self) -> float:
        return self._number("DEPLOY_READY_TIMEOUT_S", 180)

    @property
    def drain_timeout_s(self) -> float:
        """How long a worker may take to finish its current job once told to stop."""
        return self._number("DEPLOY_DRAIN_TIMEOUT_S", 300)

    @property
    def smoke_token(self) -> str:
        """A bearer token for the smoke-test user, when tokens are not HS256 from AUTH_JWT_SECRET."""
        return self._get("DEPLOY_SMOKE_TOKEN")

    @property
    def compose_project(self) -> str:
        return self._get("DEPLOY_COMPOSE_PROJECT", f"photo3d-{self.name}")

    def service_settings(self) -> dict[str, str]:
        """What the services get: everything but the tool's own DEPLOY_* settings."""
        return {k: v for k, v in self.settings.items() if not k.startswith("DEPLOY_")}

    def recordable_settings(self) -> dict[str, str]:
        """The non-secret settings (kept in the deployment record, so a rollback runs with them)."""
        return {k: v for k, v in self.settings.items() if not is_secret(k)}

    def with_settings(self, recorded: Mapping[str, str]) -> Environment:
        """This environment with an earlier deployment's non-secret settings; secrets stay the current ones
        (a record never holds them)."""
        merged = {k: v for k, v in self.settings.items() if is_secret(k)}
        merged.update({k: v for k, v in recorded.items() if not is_secret(k)})
        return Environment(self.name, merged, self.source, list(self.notes))


def envs_dir() -> Path:
    return config.project_root() / "deploy" / "envs"


def known_environments() -> list[str]:
    return sorted(p.name.removesuffix(".env") for p in envs_dir().glob("*.env"))


def load_environment(
    name: str, *, env_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Environment:
    """Read ``deploy/envs/<name>.env`` (or ``env_file``). The process environment fills in only what the
    file leaves out or empty (e.g. secrets a CI vault provides), except for settings a local environment's
    own infrastructure provides: those never come from the shell, so a shell pointed at `make run`'s
    database can never redirect a staging deployment onto it."""
    environ = dict(os.environ if environ is None else environ)
    path = Path(env_file) if env_file else envs_dir() / f"{name}.env"
    if not path.is_file():
        example = envs_dir() / f"{name}.env.example"
        hint = (
            f" (copy {example.relative_to(config.project_root())} to it and fill it in)"
            if example.is_file()
            else ""
        )
        known = ", ".join(known_environments()) or "none"
        raise EnvironmentError_(f"no settings file for environment {name!r} at {path}{hint}; known: {known}")
    try:
        values = {k: (v or "") for k, v in dotenv_values(path).items()}
    except OSError as error:
        raise EnvironmentError_(f"cannot read {path}: {error}") from error
    environment = Environment(name, values, path.resolve())
    if environment.local_infra:
        _fill_local_infra(environment)
    for key, value in environ.items():
        if key in LOCAL_INFRA_KEYS and environment.local_infra:
            continue
        if (key.startswith(_SERVICE_PREFIXES) or key in _SHARED_KEYS) and not environment.settings.get(key):
            environment.settings[key] = value
    return environment


_SERVICE_PREFIXES = (
    "STATUS_", "UPLOAD_", "BGREMOVAL_", "GENERATION_", "KAFKA_", "S3_", "AUTH_", "LOG_", "SENTRY_",
    "DEPLOY_", "POSTGRES_",
)  # fmt: skip
_SHARED_KEYS = ("DATABASE_URL", "PHOTO3D_VERSION")


def _fill_local_infra(environment: Environment) -> None:
    """Point the settings at the environment's own Postgres, Kafka and S3 (started by the local runtime),
    with secrets generated once and kept in ``<state>/secrets.env`` (mode 0600)."""
    state = environment.state_dir
    secrets_file = state / "secrets.env"
    stored = {k: (v or "") for k, v in dotenv_values(secrets_file).items()} if secrets_file.is_file() else {}
    missing = [key for key in GENERATED_SECRETS if not stored.get(key)]
    if missing:
        for key in missing:
            stored[key] = (
                f"photo3d-{environment.name}-{secrets.token_hex(4)}"
                if key == "S3_ACCESS_KEY_ID"
                else secrets.token_urlsafe(32)
            )
        state.mkdir(parents=True, exist_ok=True)
        secrets_file.touch(mode=0o600, exist_ok=True)
        secrets_file.chmod(0o600)
        secrets_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(stored.items())))
        environment.notes.append(f"generated {', '.join(missing)} into {secrets_file}")
    s = environment.settings
    for key in GENERATED_SECRETS:
        if not s.get(key):
            s[key] = stored[key]
    postgres_port = environment.local_port("POSTGRES", 54339)
    s["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{postgres_port}/{config.DEV_DATABASE_NAME}"
    s["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{environment.local_port('KAFKA', 19102)}"
    s["S3_ENDPOINT_URL"] = f"http://127.0.0.1:{environment.local_port('S3', 8343)}"
    s.setdefault("S3_REGION", config.DEV_S3_REGION)
    s["S3_REGION"] = s["S3_REGION"] or config.DEV_S3_REGION
    s["S3_BUCKET"] = s.get("S3_BUCKET") or config.DEV_S3_BUCKET
    s.setdefault("KAFKA_SESSION_TIMEOUT_MS", "6000")  # Tansu: a group join waits half of it


def is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.match(value.strip()))

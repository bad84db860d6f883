"""The one place for the local stack's ports, dev credentials and list of services (docs/contracts.md)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

# Infrastructure ports of `make run` (docs/contracts.md, "Ports").
POSTGRES_PORT = 54329
KAFKA_PORT = 19092
S3_PORT = 8333
# SeaweedFS also opens master, volume, filer and admin ports (HTTP + gRPC): they are laid out from this
# base (18330..18337, plus the admin gRPC port 28337) so they collide neither with the services (8000, 8001) nor with SeaweedFS defaults.
SEAWEEDFS_PORT_BASE = 18330

# Development-only credentials: never used when the real values are given through the environment.
DEV_S3_ACCESS_KEY_ID = "photo3d"
DEV_S3_SECRET_ACCESS_KEY = "photo3d-dev-secret"
DEV_S3_REGION = "us-east-1"
DEV_S3_BUCKET = "photo3d"
DEV_DATABASE_NAME = "photo3d"
DEV_JWT_SECRET = "photo3d-dev-jwt-secret-not-for-production"
TANSU_BUCKET = "tansu"


def project_root() -> Path:
    """The checkout: the nearest parent holding the workspace's pyproject and uv.lock."""
    override = os.environ.get("PHOTO3D_ROOT")
    if override:
        return Path(override).resolve()
    for start in (Path.cwd(), Path(__file__).resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "uv.lock").is_file() and (candidate / "pyproject.toml").is_file():
                return candidate
    return Path.cwd()


def state_dir() -> Path:
    """Where `make run` keeps its data (git-ignored ``var/``); survives restarts, `make clean-data` wipes it."""
    return Path(os.environ.get("PHOTO3D_VAR_DIR") or project_root() / "var").resolve()


@dataclass(frozen=True)
class ServiceSpec:
    """A service process of the stack. ``module`` is run as ``python -m module``; the service is skipped
    (with a log line) until ``module/__main__.py`` exists, so the stack runs at every stage of the build."""

    name: str
    module: str
    port: int | None = None
    port_env: str | None = None
    health_path: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()

    def available(self) -> bool:
        """Whether ``python -m module`` can run: a module, or a package with a ``__main__``."""
        try:
            spec = importlib.util.find_spec(self.module)
            if spec is None:
                return False
            if spec.submodule_search_locations is not None:  # a package
                return importlib.util.find_spec(f"{self.module}.__main__") is not None
            return True
        except (ModuleNotFoundError, ValueError):
            return False

    @property
    def argv(self) -> list[str]:
        return ["-m", self.module, *self.args]

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "status",
        "photo3d_status",
        port=8000,
        port_env="STATUS_PORT",
        health_path="/health",
        # serves the built web page (make frontend) at /
        env={"STATUS_FRONTEND_DIR": "{root}/frontend/dist"},
    ),
    ServiceSpec(
        "upload",
        "photo3d_upload",
        port=8001,
        port_env="UPLOAD_PORT",
        health_path="/health",
        env={"UPLOAD_STATUS_URL": "http://127.0.0.1:8000"},
    ),
    ServiceSpec("bgremoval", "photo3d_bgremoval"),
    ServiceSpec("generation", "photo3d_generation"),
)

# The status service's migrations, run before any service starts: ``python -m photo3d_status migrate``.
MIGRATE_COMMAND: tuple[str, ...] = ("photo3d_status", "migrate")

# Subcommands other packages contribute to the `photo3d` CLI: name -> "module:function(argv) -> int".
PLUGIN_COMMANDS: dict[str, tuple[str, str]] = {
    "remove-background": ("photo3d_bgremoval.cli:main", "remove the background of photos (bgremoval)"),
    "reconstruct": (
        "photo3d_devstack.reconstruct:main",
        "build a 3D model from photos or cut-outs (offline)",
    ),
    "kcat": ("photo3d_devstack.kcat:main", "kcat against the local broker (librdkafka of confluent-kafka)"),
}

# Asset hooks run by `make setup-assets` / `photo3d setup-assets`: each is "module:function() -> None",
# skipped while the module does not exist yet (e.g. the background-removal model file).
ASSET_HOOKS: tuple[str, ...] = (
    "photo3d_bgremoval.assets:ensure_assets",
    "photo3d_generation.assets:ensure_assets",
)

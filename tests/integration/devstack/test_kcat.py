"""`photo3d kcat` (what `make kcat ARGS=...` runs) against a real Tansu broker: the README's three recipes
read back what was produced. Debian's kcat alone fails on Tansu; with the wheel's librdkafka it works."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from photo3d_common.broker import ensure_topics
from photo3d_common.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[3]


def make_kcat(arguments: str) -> subprocess.CompletedProcess[str]:
    """``make kcat ARGS='...'``, exactly as the README shows it."""
    return subprocess.run(
        ["make", "-s", "kcat", f"ARGS={arguments}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def kcat(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``photo3d kcat -b BOOTSTRAP ARGS`` as a user runs it (a fresh process, its own environment set-up)."""
    return subprocess.run(
        [sys.executable, "-m", "photo3d_devstack", "kcat", "-b", bootstrap, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def produce(bootstrap: str, topic: str, messages: list[tuple[str, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value.encode(), key=key.encode())
    finally:
        await producer.stop()


async def test_the_readme_recipes_read_a_real_tansu(kafka_bootstrap, kafka_topic_prefix):
    prefix = f"{kafka_topic_prefix}kcat{uuid.uuid4().hex[:6]}."
    await ensure_topics(KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=1))
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    changes = [(first, f'{{"to_status": "status-{n}"}}') for n in range(7)] + [(second, '{"to_status": "x"}')]
    await produce(kafka_bootstrap, f"{prefix}model.status_changed", changes)
    await produce(kafka_bootstrap, f"{prefix}messages.parked", [(first, '{"error": "ValidationError: bad"}')])

    # 1. status changes (here the last five, then stop; without -e it follows new ones)
    last_five = await asyncio.to_thread(
        make_kcat, f"-b {kafka_bootstrap} -C -t {prefix}model.status_changed -o -5 -e -q -f '%k %s\\n'"
    )
    # 2. one model's events, by key
    everything = await asyncio.to_thread(
        kcat, kafka_bootstrap, "-C", "-t", f"{prefix}model.status_changed", "-o", "beginning", "-e", "-q",
        "-f", "%k %s\\n",
    )  # fmt: skip
    # 3. parked messages
    parked = await asyncio.to_thread(
        kcat, kafka_bootstrap, "-C", "-t", f"{prefix}messages.parked", "-o", "beginning", "-e", "-q",
        "-f", "%t %k %s\\n",
    )  # fmt: skip
    listing = await asyncio.to_thread(kcat, kafka_bootstrap, "-L", "-t", f"{prefix}messages.parked")

    for result in (last_five, everything, parked, listing):
        assert result.returncode == 0, result.stderr
    assert last_five.stdout.splitlines() == [f"{k} {v}" for k, v in changes[-5:]]
    mine = [line for line in everything.stdout.splitlines() if line.startswith(first)]
    assert mine == [f'{first} {{"to_status": "status-{n}"}}' for n in range(7)]
    assert parked.stdout.splitlines() == [
        f'{prefix}messages.parked {first} {{"error": "ValidationError: bad"}}'
    ]
    assert f'topic "{prefix}messages.parked"' in listing.stdout


def test_the_wheels_librdkafka_comes_first_on_the_library_path(tmp_path, monkeypatch):
    """The command puts the folder with the wheel's librdkafka first, whatever LD_LIBRARY_PATH held."""
    from photo3d_devstack import kcat as kcat_command

    monkeypatch.setenv("PHOTO3D_VAR_DIR", str(tmp_path))
    argv, env = kcat_command.command(["-L"], {"LD_LIBRARY_PATH": "/usr/lib/x86_64-linux-gnu"})
    first, _, rest = env["LD_LIBRARY_PATH"].partition(":")
    assert rest == "/usr/lib/x86_64-linux-gnu"
    link = tmp_path / "kcat-lib" / "librdkafka.so.1"
    assert first == str(link.parent) and link.resolve() == kcat_command.wheel_librdkafka().resolve()
    assert argv[1:] == ["-b", "127.0.0.1:19092", "-L"]

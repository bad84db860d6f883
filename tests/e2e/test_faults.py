"""Infrastructure faults and redeliveries on the real system (issue 9): no model is left stuck.

The four services run as real processes on this run's Postgres and SeaweedFS and on a Tansu broker of this
module's own, which a test can freeze (SIGSTOP); the services reach S3 through a TCP proxy the tests can
cut (connections reset, new ones refused, as when SeaweedFS dies) and restore. The status service runs its stuck-model watchdog with a short generation deadline, so models
here generate with the hosted provider (a local server following Tencent's protocol), which reports
progress every poll.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from photo3d_bgremoval import model_files
from photo3d_common.events import VIEWS
from photo3d_devstack.infra import TansuBroker
from photo3d_devstack.infra._util import free_port
from tests.e2e.test_pipeline import blank_photo, jpeg, photos, upload_all
from tests.fakes.tencent import FakeTencentAi3d, ScriptedJob
from tests.infra import ServiceProcesses
from tests.support.outage import TcpProxy
from tests.system import ROOT, System, User, _wait_healthy

pytestmark = pytest.mark.e2e

GENERATION_DEADLINE_S = 10


class ThreadedProxy:
    """A ``TcpProxy`` relaying on its own thread's event loop, so it keeps relaying whatever the test's
    loop does (blocking start-ups included)."""

    def __init__(self, host: str, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="s3-proxy", daemon=True)
        self.thread.start()
        self.proxy = self._run(TcpProxy(host, port).start())

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def cut(self) -> None:
        self._run(self.proxy.cut())

    def restore(self) -> None:
        self._run(self.proxy.restore())

    def close(self) -> None:
        self._run(self.proxy.cut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory) -> Iterator[TansuBroker]:
    log_path = tmp_path_factory.mktemp("faults") / "tansu.log"
    with open(log_path, "w") as log, TansuBroker(port=free_port(), output=log) as broker:
        yield broker


@pytest.fixture(scope="module")
def faulty_system(
    request, infra_env, make_database, kafka_topic_prefix, s3_settings, own_broker
) -> Iterator[Any]:
    model_dir = ROOT / "var" / "models" / "u2net"
    model_files.install(model_dir)
    status_port, upload_port = free_port(), free_port()
    status_url, upload_url = f"http://127.0.0.1:{status_port}", f"http://127.0.0.1:{upload_port}"
    host, port = s3_settings.endpoint_url.removeprefix("http://").split(":")
    proxy = ThreadedProxy(host, int(port))
    run = uuid.uuid4().hex[:6]
    with FakeTencentAi3d() as fake_tencent:
        env = {
            **infra_env,
            "DATABASE_URL": make_database(f"faults_{run}"),
            "KAFKA_BOOTSTRAP_SERVERS": own_broker.bootstrap_servers,
            "KAFKA_TOPIC_PREFIX": f"{kafka_topic_prefix}faults{run}.",
            "KAFKA_RETRY_MAX_DELAY_S": "2",
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.proxy.port}",
            "STATUS_PORT": str(status_port),
            "STATUS_PUBLIC_UPLOAD_URL": upload_url,
            "STATUS_DEADLINE_GENERATING_3D_MODEL_S": str(GENERATION_DEADLINE_S),
            "STATUS_WATCHDOG_INTERVAL_S": "1",
            "UPLOAD_PORT": str(upload_port),
            "UPLOAD_STATUS_URL": status_url,
            "BGREMOVAL_MODEL_DIR": str(model_dir),
            "BGREMOVAL_MAX_SIDE_PX": "1024",
            "GENERATION_PROVIDERS": '["local", "tencent"]',
            "GENERATION_LOCAL_VOXEL_RESOLUTION": "64",
            "GENERATION_TENCENT_ENDPOINT": fake_tencent.url,
            "GENERATION_TENCENT_SECRET_ID": fake_tencent.secret_id,
            "GENERATION_TENCENT_SECRET_KEY": fake_tencent.secret_key,
            "GENERATION_TENCENT_POLL_INTERVAL_S": "0.2",
            "GENERATION_TENCENT_MAX_POLL_INTERVAL_S": "0.5",
            # As in production, a live worker's own job deadline comes before the watchdog's.
            "GENERATION_TENCENT_DEADLINE_S": str(GENERATION_DEADLINE_S / 2),
        }
        processes = ServiceProcesses(request.node.nodeid)
        try:
            processes("photo3d_status", env, port=status_port)
            processes("photo3d_upload", env, port=upload_port)
            processes("photo3d_bgremoval", env, name="bgremoval")
            generation = processes("photo3d_generation", env, name="generation")
            _wait_healthy(status_url, upload_url)
            system = System(status_url=status_url, upload_url=upload_url, fake_tencent=fake_tencent)
            yield _Faults(system, proxy, processes, env, generation, own_broker)
        finally:
            processes.stop_all()
            proxy.close()


class _Faults:
    def __init__(
        self, system: System, proxy: ThreadedProxy, processes: ServiceProcesses, env, generation, broker
    ):
        self.system, self.proxy, self.processes, self.env = system, proxy, processes, env
        self.generation, self.broker = generation, broker

    @property
    def prefix(self) -> str:
        return self.env["KAFKA_TOPIC_PREFIX"]

    def restart_generation(self) -> None:
        self.generation = self.processes("photo3d_generation", self.env, name="generation-restarted")


@pytest.fixture
async def user(faulty_system) -> Any:
    person = User(faulty_system.system, f"user-{uuid.uuid4().hex[:6]}")
    yield person
    await person.http.aclose()


async def _wait_status(user: User, model_id: str, status: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (model := await user.model(model_id))["status"] != status:
        assert time.monotonic() < deadline, f"model never reached {status}: {model}"
        await asyncio.sleep(0.1)
    return model


async def _history(faulty_system, model_id: str) -> list[str]:
    import asyncpg

    connection = await asyncpg.connect(faulty_system.env["DATABASE_URL"])
    try:
        rows = await connection.fetch(
            "SELECT to_status FROM model_status_history WHERE model_id = $1 ORDER BY id", uuid.UUID(model_id)
        )
    finally:
        await connection.close()
    return [row["to_status"] for row in rows]


async def test_s3_stopped_mid_stage_and_restarted_the_model_completes(faulty_system, user):
    model = await user.create_model(name="outage", provider="tencent")
    await upload_all(user, model["id"], photos())
    await _wait_status(user, model["id"], "removing_background")
    faulty_system.proxy.cut()
    cut_at = time.monotonic()
    await asyncio.sleep(20)  # the workers' retries (botocore's own included) are long exhausted
    during = await user.model(model["id"])
    faulty_system.proxy.restore()
    restored_at = time.monotonic()

    done = await user.wait_for(model["id"], {"completed"}, timeout=300)

    recovered_s = time.monotonic() - restored_at
    print(f"S3 cut {restored_at - cut_at:.0f} s mid-stage: completed {recovered_s:.1f} s after the restore")
    assert during["status"] == "removing_background"  # waiting, not failed
    assert "failed" not in await _history(faulty_system, model["id"])
    assert all(done["cutouts"][view] for view in VIEWS) and done["assets"]["glb"]


async def test_broker_frozen_mid_stage_the_workers_wait_and_the_model_completes(faulty_system, user):
    """The broker stops answering (SIGSTOP) while background removal runs: the worker cannot publish its
    progress nor its result; it waits, without failing the model, and goes on once the broker is back."""
    model = await user.create_model(name="frozen broker", provider="tencent")
    await upload_all(user, model["id"], photos())
    await _wait_status(user, model["id"], "removing_background")
    pid = faulty_system.broker.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(15)  # longer than the producers' request timeouts and the group's session
    finally:
        os.kill(pid, signal.SIGCONT)
    thawed_at = time.monotonic()

    done = await user.wait_for(model["id"], {"completed"}, timeout=300)

    print(f"broker frozen 15 s mid-stage: completed {time.monotonic() - thawed_at:.1f} s after it woke")
    assert "failed" not in await _history(faulty_system, model["id"])
    assert all(done["cutouts"][view] for view in VIEWS) and done["assets"]["glb"]


async def test_a_worker_stopped_mid_stage_ends_in_a_retryable_timeout_and_a_rerun_completes(
    faulty_system, user
):
    faulty_system.system.fake_tencent.script_job(ScriptedJob(run_polls=10_000), ScriptedJob(run_polls=2))
    model = await user.create_model(name="abandoned", provider="tencent")
    await upload_all(user, model["id"], photos())
    await _wait_status(user, model["id"], "generating_3d_model", timeout=180)
    faulty_system.generation.popen.send_signal(signal.SIGKILL)  # kill -9 mid-stage
    killed_at = time.monotonic()

    failed = await _wait_status(user, model["id"], "failed", timeout=GENERATION_DEADLINE_S + 60)

    print(
        f"generation killed mid-stage: failed {time.monotonic() - killed_at:.1f} s later (deadline {GENERATION_DEADLINE_S} s)"
    )
    assert failed["error_code"] == "stage_timeout" and failed["error_retryable"]
    assert failed["error_stage"] == "generation"
    assert failed["error_message"] == f"3D generation did not finish within {GENERATION_DEADLINE_S} s; retry"

    faulty_system.restart_generation()
    rerun = await user.rerun("generation", model["id"])
    assert rerun.status_code == 202, rerun.text
    await user.wait_for(model["id"], {"completed"}, newer_than=failed, timeout=180)


# --- replays ----------------------------------------------------------------------------------------
async def _messages(bootstrap: str, topic: str, key: str) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """Every message of ``topic`` keyed ``key``, in order: (value, headers)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        partitions = consumer.assignment() or {
            TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or {0})
        }
        ends = await consumer.end_offsets(list(partitions))

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        found = []
        while await behind():
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                found += [(r.value, list(r.headers)) for r in records if r.key == key.encode()]
        return found
    finally:
        await consumer.stop()


async def _until_republished(bootstrap: str, topic: str, key: str, before: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(found := await _messages(bootstrap, topic, key)) <= before:
        assert time.monotonic() < deadline, f"no answer republished on {topic}"
        await asyncio.sleep(0.5)
    # the copy is the earlier answer itself: same event id, so every consumer drops it
    assert json.loads(found[-1][0])["event_id"] == json.loads(found[before - 1][0])["event_id"]


async def _replay(faulty_system, model_id: str, answers: tuple[str, ...]) -> None:
    """Produce the model's last photos.uploaded again, byte for byte, and wait until each worker has
    answered it (republished its earlier answer on each of ``answers``' topics)."""
    bootstrap, prefix = faulty_system.env["KAFKA_BOOTSTRAP_SERVERS"], faulty_system.prefix
    topic = f"{prefix}photos.uploaded"
    value, headers = (await _messages(bootstrap, topic, model_id))[-1]
    before = {name: len(await _messages(bootstrap, f"{prefix}{name}", model_id)) for name in answers}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=model_id.encode(), headers=headers)
    finally:
        await producer.stop()
    for name in answers:
        await _until_republished(bootstrap, f"{prefix}{name}", model_id, before[name])
    await asyncio.sleep(2)  # the status consumer drops what the workers republished


def _etags(s3_settings, model_id: str) -> dict[str, str]:
    """Every stored object of the model but the workers' answer records, with its ETag."""
    listing = s3_settings.client().list_objects_v2(Bucket=s3_settings.bucket, Prefix=f"models/{model_id}/")
    return {
        item["Key"]: item["ETag"] for item in listing.get("Contents", []) if "/handled/" not in item["Key"]
    }


async def test_a_replayed_photos_uploaded_of_a_completed_model_changes_nothing(
    faulty_system, user, s3_settings
):
    model = await user.create_model(name="done", provider="tencent")
    await upload_all(user, model["id"], photos())
    done = await user.wait_for(model["id"], {"completed"}, timeout=300)
    objects, history = _etags(s3_settings, model["id"]), await _history(faulty_system, model["id"])

    await _replay(faulty_system, model["id"], ("background.removed", "model.generated"))

    assert await user.model(model["id"]) == done  # same status, same updated_at: nothing applied
    assert _etags(s3_settings, model["id"]) == objects  # no cut-out, no asset rewritten
    assert await _history(faulty_system, model["id"]) == history


async def test_a_replayed_photos_uploaded_of_a_failed_model_starts_no_rerun(faulty_system, user, s3_settings):
    model = await user.create_model(name="failed", provider="tencent")
    images = photos()
    images["left"] = images["right"] = jpeg(blank_photo((1024, 768)))  # opposite: no stand-in
    await upload_all(user, model["id"], images)
    failed = await user.wait_for(model["id"], {"failed"}, timeout=300)
    objects, history = _etags(s3_settings, model["id"]), await _history(faulty_system, model["id"])

    await _replay(faulty_system, model["id"], ("model.failed",))

    assert await user.model(model["id"]) == failed
    assert _etags(s3_settings, model["id"]) == objects
    assert await _history(faulty_system, model["id"]) == history

"""The Tansu launcher: a real Kafka-protocol broker that delivers keyed messages to consumer groups and,
with S3 storage, keeps them across restarts."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from photo3d_devstack.infra import S3Storage, SeaweedFS, SeaweedPorts, TansuBroker
from photo3d_devstack.infra._util import free_port

SESSION_TIMEOUT_MS = 6000  # Tansu makes a group join wait half of it


async def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _consume_one(bootstrap: str, topic: str, group: str) -> tuple[bytes | None, bytes | None, int]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
        return message.key, message.value, message.partition
    finally:
        await consumer.stop()


async def test_keyed_message_reaches_a_consumer_group(kafka_bootstrap: str, kafka_topic_prefix: str) -> None:
    # a topic of this test alone: the run's prefix is shared with every other test of the session
    topic = f"{kafka_topic_prefix}devstack.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    model_id = str(uuid.uuid4()).encode()

    await _produce(kafka_bootstrap, topic, model_id, b'{"view": "front"}')
    key, value, partition = await _consume_one(kafka_bootstrap, topic, f"{kafka_topic_prefix}status")

    assert (key, value) == (model_id, b'{"view": "front"}')
    assert partition in {0, 1, 2}


async def test_tansu_on_s3_storage_keeps_messages_across_restarts(infra_tmp_dir: Path) -> None:
    store = SeaweedFS(infra_tmp_dir / "seaweedfs-tansu", ports=SeaweedPorts.free(), buckets=("tansu",))
    with store:
        storage = S3Storage(
            store.endpoint_url, store.access_key_id, store.secret_access_key, store.region, "tansu"
        )
        broker = TansuBroker(port=free_port(), storage=storage)
        with broker:
            assert broker.storage_url == "s3://tansu/"
            await _produce(broker.bootstrap_servers, "kept.events", b"model-1", b"survives a restart")
        with broker:  # a new broker process, same bucket
            key, value, _ = await _consume_one(broker.bootstrap_servers, "kept.events", "after-restart")
    assert (key, value) == (b"model-1", b"survives a restart")


async def test_tansu_in_memory_forgets_on_restart() -> None:
    """The contrast that makes the test above meaningful: memory storage really is volatile."""
    broker = TansuBroker(port=free_port())
    with broker:
        await _produce(broker.bootstrap_servers, "volatile", b"k", b"v")
    with broker:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        try:
            topics = await admin.list_topics()
        finally:
            await admin.close()
    assert "volatile" not in topics

"""Upgrading a worker from per-topic consumer groups (ADR 0001) to one group per service (ADR 0010): the new
group starts where the old ones stopped, on the real broker, instead of replaying every topic."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from photo3d_common.broker import ensure_topics, hand_over_offsets
from photo3d_common.settings import KafkaSettings

SESSION_TIMEOUT_MS = 6000  # Tansu makes a group join wait half of it
TOPICS = ("photos.uploaded", "background.removal_requested")


async def _topics_of_this_test(bootstrap: str, run_prefix: str, partitions: int = 1) -> KafkaSettings:
    """Topics and groups of one test alone: the run's prefix is shared with every other test."""
    settings = KafkaSettings(
        bootstrap_servers=bootstrap,
        topic_prefix=f"{run_prefix}{uuid.uuid4().hex[:6]}.",
        partitions=partitions,
    )
    await ensure_topics(settings, TOPICS)
    return settings


async def _produce(settings: KafkaSettings, topic: str, values: list[bytes], partition: int = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(settings.topic(topic), value, key=b"model", partition=partition)
    finally:
        await producer.stop()


async def _consume(settings: KafkaSettings, group: str, topics: tuple[str, ...], count: int) -> list[bytes]:
    """What a member of ``group`` reads (``count`` messages, or all there are within 8 s), committed."""
    consumer = AIOKafkaConsumer(
        *(settings.topic(topic) for topic in topics),
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.group(group),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    read: list[bytes] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 8
        while len(read) < count and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=count - len(read))
            read += [message.value or b"" for messages in batches.values() for message in messages]
        await consumer.commit()
        return read
    finally:
        await consumer.stop()


async def _committed(settings: KafkaSettings, group: str, topic: str, partition: int = 0) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=settings.group(group))
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(settings.topic(topic), partition))
    finally:
        await consumer.stop()


async def test_the_service_group_takes_over_where_the_per_topic_groups_stopped(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    settings = await _topics_of_this_test(kafka_bootstrap, kafka_topic_prefix)
    group = "photo3d-bgremoval"
    await _produce(settings, "photos.uploaded", [b"u1", b"u2", b"u3"])
    await _produce(settings, "background.removal_requested", [b"r1", b"r2"])
    # the previous release: a group per topic, each having handled part of its topic
    assert await _consume(settings, f"{group}.photos.uploaded", ("photos.uploaded",), 2) == [b"u1", b"u2"]
    requested = ("background.removal_requested",)
    assert await _consume(settings, f"{group}.background.removal_requested", requested, 2) == [b"r1", b"r2"]

    await hand_over_offsets(settings, group=group, topics=TOPICS)

    # this release's one consumer over both topics reads only what the old groups had not handled
    assert await _consume(settings, group, TOPICS, 3) == [b"u3"]


async def test_a_running_service_group_keeps_its_own_offsets(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    settings = await _topics_of_this_test(kafka_bootstrap, kafka_topic_prefix)
    group = "photo3d-generation"
    await _produce(settings, "photos.uploaded", [b"u1", b"u2", b"u3"])
    await _consume(settings, f"{group}.photos.uploaded", ("photos.uploaded",), 1)  # an old group at offset 1
    assert await _consume(settings, group, TOPICS, 3) == [b"u1", b"u2", b"u3"]  # it has consumed on its own

    await hand_over_offsets(settings, group=group, topics=TOPICS)  # a restart of this release

    assert await _committed(settings, group, "photos.uploaded") == 3


async def test_stale_offsets_of_the_service_group_are_moved_up_per_partition(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    """A deployment that once used the bare service group (before the per-topic groups) still holds its old
    offsets there: each partition takes whichever group got further."""
    settings = await _topics_of_this_test(kafka_bootstrap, kafka_topic_prefix, partitions=2)
    group = "photo3d-bgremoval"
    await _produce(settings, "photos.uploaded", [b"a1", b"a2", b"a3"], partition=0)
    await _produce(settings, "photos.uploaded", [b"b1", b"b2", b"b3"], partition=1)
    # long ago, the bare group read partition 0 up to offset 1 only
    await _commit_offset(settings, group, "photos.uploaded", 0, 1)
    # then the per-topic group read both partitions: 3 on partition 0, 2 on partition 1
    await _commit_offset(settings, f"{group}.photos.uploaded", "photos.uploaded", 0, 3)
    await _commit_offset(settings, f"{group}.photos.uploaded", "photos.uploaded", 1, 2)

    await hand_over_offsets(settings, group=group, topics=TOPICS)

    assert await _committed(settings, group, "photos.uploaded", 0) == 3
    assert await _committed(settings, group, "photos.uploaded", 1) == 2


async def _commit_offset(settings: KafkaSettings, group: str, topic: str, partition: int, count: int) -> None:
    """Commit ``count`` as the group's offset of one partition, as a consumer that read that far would."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=settings.group(group), enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(settings.topic(topic), partition)
        consumer.assign([tp])
        await consumer.commit({tp: count})
    finally:
        await consumer.stop()

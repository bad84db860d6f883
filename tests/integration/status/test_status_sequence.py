"""A true status sequence (issue 9, defect 7): the status consumer reads each topic independently, so a
model's later-stage events are often consumed before its earlier ones. Whatever the order, every model
passes through each status in order, in ``model_status_history`` and on ``model.status_changed``, with
the statuses it could only infer marked as such."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from faststream.kafka import TestKafkaBroker

from photo3d_common.broker import EventPublisher
from photo3d_common.events import (
    VIEWS,
    BackgroundRemovalStarted,
    BackgroundRemoved,
    Event,
    GenerationStarted,
    ModelGenerated,
    ModelStatusChanged,
    PhotoUploaded,
    Stage,
    StageProgressed,
)
from photo3d_common.settings import KafkaSettings
from photo3d_common.wiring import Injector
from photo3d_status.app import build_broker
from photo3d_status.migrate import migrate
from photo3d_status.repository import ModelRepository

MODELS = 200
FULL_SEQUENCE = [
    "draft",
    "uploading_photos",
    "photos_uploaded",
    "removing_background",
    "generating_3d_model",
    "completed",
]
SETTINGS = KafkaSettings(topic_prefix="sequence.", handler_attempts=2)


@pytest.fixture(scope="module")
async def pool(make_database):
    url = make_database("sequence")
    await migrate(url)
    pool = await asyncpg.create_pool(url, min_size=2, max_size=10)
    yield pool
    await pool.close()


def journey(model_id: uuid.UUID, start: datetime) -> list[Event]:
    """One model's events as the services publish them, in the order they happened."""
    clock = iter(start + timedelta(milliseconds=10 * i) for i in range(100))
    keys = {view: f"models/{model_id}/originals/{view}" for view in VIEWS}
    events: list[Event] = []
    for count, view in enumerate(VIEWS, start=1):
        stored = {v: keys[v] for v in VIEWS[:count]}
        events.append(
            PhotoUploaded(
                model_id=model_id,
                producer="upload",
                occurred_at=next(clock),
                view=view,
                object_key=keys[view],
                content_type="image/jpeg",
                width=10,
                height=10,
                size_bytes=100,
                sha256="0" * 64,
                original_keys=stored,
                all_views_uploaded=count == 4,
                start_processing=count == 4,
            )
        )
    cutouts = {view: f"models/{model_id}/cutouts/{view}.png" for view in VIEWS}
    common = {"model_id": model_id}
    events += [
        BackgroundRemovalStarted(**common, producer="bgremoval", occurred_at=next(clock)),
        StageProgressed(
            **common,
            producer="bgremoval",
            occurred_at=next(clock),
            stage=Stage.BACKGROUND_REMOVAL,
            progress=0.5,
        ),
        BackgroundRemoved(
            **common,
            producer="bgremoval",
            occurred_at=next(clock),
            cutout_keys=cutouts,
            source_fingerprint="f",
        ),
        GenerationStarted(**common, producer="generation", occurred_at=next(clock), provider="local"),
        StageProgressed(
            **common, producer="generation", occurred_at=next(clock), stage=Stage.GENERATION, progress=0.5
        ),
        ModelGenerated(
            **common,
            producer="generation",
            occurred_at=next(clock),
            provider="local",
            asset_keys={"glb": f"models/{model_id}/assets/model.glb"},
            vertex_count=8,
            face_count=12,
        ),
    ]
    return events


def shuffled_across_topics(events: list[Event], rng: random.Random) -> list[Event]:
    """What independent topic consumption can do: each topic's own order stays (Kafka keeps it per
    partition), the interleaving of the topics is arbitrary."""
    by_topic: dict[str, list[Event]] = {}
    for event in events:
        by_topic.setdefault(event.topic, []).append(event)
    queues = {topic: list(reversed(items)) for topic, items in by_topic.items()}
    order: list[Event] = []
    while queues:
        topic = rng.choice(sorted(queues))
        order.append(queues[topic].pop())
        if not queues[topic]:
            del queues[topic]
    return order


@dataclass
class Runtime:
    """What the status consumer's handlers need: the real repository and a recording publisher."""

    repository: ModelRepository
    published: list[ModelStatusChanged]

    async def publish(self, event: ModelStatusChanged) -> None:
        self.published.append(event)


async def test_every_model_shows_the_full_sequence_whatever_the_topic_order(pool):
    rng = random.Random(9)
    repository = ModelRepository(pool)
    models = [await repository.create(owner="seq", name=f"m{i}", provider=None) for i in range(MODELS)]
    start = datetime.now(UTC)
    runtime = Runtime(repository, [])
    broker = build_broker(SETTINGS, Injector(runtime))
    # Models overlap in time, as they do in a running system; each model's topics interleave at random.
    streams = {m.id: shuffled_across_topics(journey(m.id, start), rng) for m in models}
    delivery: list[Event] = []
    while streams:
        model_id = rng.choice(list(streams))
        delivery.append(streams[model_id].pop(0))
        if not streams[model_id]:
            del streams[model_id]

    async with TestKafkaBroker(broker) as test_broker:
        publish = EventPublisher(test_broker, SETTINGS)
        for event in delivery:
            await publish(event)

    ids = [m.id for m in models]
    rows = await pool.fetch(
        "SELECT model_id, from_status, to_status, inferred FROM model_status_history "
        "WHERE model_id = ANY($1) ORDER BY id",
        ids,
    )
    history: dict[uuid.UUID, list[str]] = {model_id: [] for model_id in ids}
    for row in rows:
        history[row["model_id"]].append(row["to_status"])
    broken = {model_id: seq for model_id, seq in history.items() if seq != FULL_SEQUENCE}
    assert not broken, (
        f"{len(broken)} of {MODELS} models skipped or repeated a status, e.g. {next(iter(broken.values()))}"
    )
    inferred = sum(1 for row in rows if row["inferred"])
    assert inferred > 0  # the shuffle did reorder; those steps say they were inferred

    announced: dict[uuid.UUID, list[tuple[str | None, str]]] = {model_id: [] for model_id in ids}
    for change in runtime.published:
        announced[change.model_id].append((change.previous_status, change.status))
    expected = list(zip([None, *FULL_SEQUENCE[:-1]], FULL_SEQUENCE, strict=True))
    wrong = {model_id: seq for model_id, seq in announced.items() if seq != expected}
    assert not wrong, f"{len(wrong)} models announced another sequence, e.g. {next(iter(wrong.values()))}"
    assert sum(1 for change in runtime.published if change.inferred) == inferred
    final = await pool.fetch("SELECT status FROM models WHERE id = ANY($1)", ids)
    assert {row["status"] for row in final} == {"completed"}

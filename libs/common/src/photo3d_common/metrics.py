"""Prometheus metrics of every service, with the libraries' own support: Litestar's Prometheus plugin
(HTTP latency and errors, ``photo3d_http_*``) in status and upload, FastStream's Kafka Prometheus
middleware (messages received, processed, published, their durations and exceptions, ``faststream_*``) on
every broker, and prometheus-client for what only photo3d knows:

- ``photo3d_stage_duration_seconds{stage}``: from a worker's ``*Started`` event to its result or failure;
- ``photo3d_stage_failures_total{stage,code}``: every ``model.failed`` a service publishes;
- ``photo3d_messages_parked_total{source_topic}``: messages put on ``messages.parked``;
- ``photo3d_consumer_lag_messages{topic,partition,group}``: messages behind the partition's end, at the
  last message consumed;
- ``photo3d_build_info{service,version,environment}``: which version answers.

HTTP services serve them at ``GET /metrics``; the workers at ``http://<host>:<*_METRICS_PORT>/metrics``
(off when no port is set). All of it lives in prometheus-client's default registry."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, Info

from photo3d_common.events import (
    BackgroundRemovalStarted,
    BackgroundRemoved,
    Event,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    Stage,
)

STAGE_DURATION = Histogram(
    "photo3d_stage_duration_seconds",
    "Time from a stage's start to its result or failure, per stage",
    ["stage"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
STAGE_FAILURES = Counter(
    "photo3d_stage_failures_total", "Models failed, by stage and error code", ["stage", "code"]
)
MESSAGES_PARKED = Counter(
    "photo3d_messages_parked_total",
    "Messages put on messages.parked, by the topic they came from",
    ["source_topic"],
)
CONSUMER_LAG = Gauge(
    "photo3d_consumer_lag_messages",
    "Messages between the last one consumed and the partition's end",
    ["topic", "partition", "group"],
)
BUILD = Info("photo3d_build", "The running version of this service")

_STARTS = {BackgroundRemovalStarted: Stage.BACKGROUND_REMOVAL, GenerationStarted: Stage.GENERATION}
_RESULTS = {BackgroundRemoved: Stage.BACKGROUND_REMOVAL, ModelGenerated: Stage.GENERATION}
_MAX_OPEN_STAGES = 10_000


def version() -> str:
    """The deployed version (PHOTO3D_VERSION, set by the deploy tool), or ``dev``."""
    return os.environ.get("PHOTO3D_VERSION") or "dev"


def record_build(service: str) -> None:
    BUILD.info(
        {"service": service, "version": version(), "environment": os.environ.get("PHOTO3D_ENVIRONMENT", "")}
    )


class StageClock:
    """Stage durations and failures from the events a service publishes (its own stages only)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._started: dict[tuple[str, str], float] = {}

    def published(self, event: Event) -> None:
        kind = type(event)
        if kind in _STARTS:
            if len(self._started) >= _MAX_OPEN_STAGES:  # runs that never ended (crashed elsewhere)
                self._started.pop(next(iter(self._started)))
            self._started[(str(event.model_id), _STARTS[kind].value)] = self.clock()
        elif kind in _RESULTS:
            self._finish(str(event.model_id), _RESULTS[kind].value)
        elif isinstance(event, ModelFailed):
            STAGE_FAILURES.labels(stage=event.stage.value, code=event.error_code).inc()
            self._finish(str(event.model_id), event.stage.value)

    def _finish(self, model_id: str, stage: str) -> None:
        started = self._started.pop((model_id, stage), None)
        if started is not None:
            STAGE_DURATION.labels(stage=stage).observe(self.clock() - started)


STAGE_CLOCK = StageClock()


def observe_consumed(message: Any, group: str | None) -> None:
    """Consumer lag of the partition ``message`` came from (FastStream's KafkaMessage)."""
    raw = getattr(message, "raw_message", None)
    consumer = getattr(message, "consumer", None)
    if (
        raw is None
        or consumer is None
        or not hasattr(consumer, "highwater")
        or isinstance(raw, (list, tuple))
    ):
        return
    from aiokafka import TopicPartition

    try:
        highwater = consumer.highwater(TopicPartition(raw.topic, raw.partition))
    except Exception:  # noqa: BLE001 - a metric must never break consuming
        return
    if highwater is not None:
        CONSUMER_LAG.labels(topic=raw.topic, partition=str(raw.partition), group=group or "").set(
            max(0, highwater - raw.offset - 1)
        )


def kafka_middleware(service: str) -> Any:
    """FastStream's own Prometheus middleware for a broker of ``service``."""
    from faststream.kafka.prometheus import KafkaPrometheusMiddleware

    return KafkaPrometheusMiddleware(registry=REGISTRY, app_name=f"photo3d-{service}")


def http_plugin(service: str) -> tuple[Any, Any]:
    """(middleware, controller) of Litestar's Prometheus plugin for ``service``: ``GET /metrics``."""
    from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

    config = PrometheusConfig(
        app_name=f"photo3d-{service}", prefix="photo3d_http", group_path=True, exclude=["/metrics"]
    )

    class MetricsController(PrometheusController):
        # A scrape target for operators (Prometheus text, no token), not part of the users' API document.
        include_in_schema = False

    return config.middleware, MetricsController


@contextlib.contextmanager
def worker_metrics(port: int | None, host: str = "127.0.0.1") -> Iterator[None]:
    """The worker's ``/metrics`` on ``host:port`` (a thread of prometheus-client) while the block runs;
    nothing when no port is set."""
    if not port:
        yield
        return
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()

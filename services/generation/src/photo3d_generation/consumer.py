"""The Kafka side of the generation worker: ONE consumer (group ``photo3d-generation``) over both of its
trigger topics, each message handed to its ``handlers.on_<topic>`` function.

The AsyncAPI document still lists each topic with its event schema (``ServiceConsumer.specification``).
Decision record: docs/adr/0010-one-consumer-per-worker-service.md."""

from __future__ import annotations

from photo3d_common.broker import ServiceConsumer
from photo3d_common.events import (
    BackgroundRemoved,
    GenerationRequested,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    StageProgressed,
)

from . import handlers

#: what starts this stage (event -> handler) and what it publishes
CONSUMER = ServiceConsumer(
    service="generation",
    routes={
        BackgroundRemoved: handlers.on_background_removed,
        GenerationRequested: handlers.on_generation_requested,
    },
    published=(GenerationStarted, StageProgressed, ModelGenerated, ModelFailed),
)

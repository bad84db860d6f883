"""The Kafka side of the background-removal worker: ONE consumer (group ``photo3d-bgremoval``) over both
of its trigger topics, each message handed to its ``handlers.on_<topic>`` function.

The AsyncAPI document still lists each topic with its event schema (``ServiceConsumer.specification``).
Decision record: docs/adr/0010-one-consumer-per-worker-service.md."""

from __future__ import annotations

from photo3d_common.broker import ServiceConsumer
from photo3d_common.events import (
    BackgroundRemovalRequested,
    BackgroundRemovalStarted,
    BackgroundRemoved,
    ModelFailed,
    PhotoUploaded,
    StageProgressed,
)

from . import handlers

#: what starts this stage (event -> handler) and what it publishes
CONSUMER = ServiceConsumer(
    service="bgremoval",
    routes={
        PhotoUploaded: handlers.on_photo_uploaded,
        BackgroundRemovalRequested: handlers.on_removal_requested,
    },
    published=(BackgroundRemovalStarted, StageProgressed, BackgroundRemoved, ModelFailed),
)

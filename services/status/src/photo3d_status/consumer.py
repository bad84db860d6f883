"""The Kafka side of the status service: ONE consumer for every topic that affects a status, dispatching
each message by topic to its ``handlers.on_<topic>`` function.

Why one consumer and not one per topic: aiokafka's consumer start waits for its group assignment, and
FastStream starts subscribers one after another, so seven subscribers in the group ``photo3d-status``
meant seven successive joins, each rebalancing the ones already running (measured: ~25 s to start
against Tansu, longer on Kafka's default timeouts, and a stop-the-world rebalance of every status
instance on each start). One consumer joins once, and reads a model's events of all topics through one
fetch loop, which also keeps cross-topic reordering small (the domain tolerates what remains).

The AsyncAPI document still lists each topic with its event schema (``ServiceConsumer.document``).
Decision record: docs/adr/0002-one-status-consumer-for-all-topics.md.
"""

from __future__ import annotations

from photo3d_common.broker import ServiceConsumer
from photo3d_common.events import (
    BackgroundRemovalStarted,
    BackgroundRemoved,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    ModelStatusChanged,
    PhotoUploaded,
    StageProgressed,
)
from photo3d_status import handlers

GROUP_ID = "photo3d-status"

#: every event that affects a model's status (event -> handler), and what the service publishes
CONSUMER = ServiceConsumer(
    service="status",
    routes={
        PhotoUploaded: handlers.on_photos_uploaded,
        BackgroundRemovalStarted: handlers.on_background_removal_started,
        StageProgressed: handlers.on_stage_progressed,
        BackgroundRemoved: handlers.on_background_removed,
        GenerationStarted: handlers.on_generation_started,
        ModelGenerated: handlers.on_model_generated,
        ModelFailed: handlers.on_model_failed,
    },
    published=(ModelStatusChanged,),
)

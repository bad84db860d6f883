"""Memory of submitted provider jobs, in object storage next to the model's files.

A paid job is submitted once per model and inputs: the handle is written right after submission, so a
redelivered event or a restarted worker resumes polling the same job, and a finished job's result is
republished instead of paying again (docs/adr/0007-paid-jobs-remembered-in-object-storage.md).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import BaseModel, Field

from photo3d_common.ports import Storage
from photo3d_common.storage import ObjectNotFound

from .providers.base import JobHandle


class JobRecord(BaseModel):
    handle: JobHandle
    completed: bool = False
    result: dict[str, Any] = Field(default_factory=dict, description="the ModelGenerated fields once done")


def job_key(model_id: uuid.UUID, fingerprint: str) -> str:
    return f"models/{model_id}/generation/job-{fingerprint}.json"


class JobStore:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def load(self, model_id: uuid.UUID, fingerprint: str) -> JobRecord | None:
        try:
            raw = await self.storage.get_bytes(job_key(model_id, fingerprint))
        except ObjectNotFound:
            return None
        return JobRecord.model_validate(json.loads(raw))

    async def save(self, model_id: uuid.UUID, fingerprint: str, record: JobRecord) -> None:
        await self.storage.put_bytes(
            job_key(model_id, fingerprint), record.model_dump_json().encode(), content_type="application/json"
        )

    async def discard(self, model_id: uuid.UUID, fingerprint: str, *, job_id: str) -> None:
        """Forget job ``job_id``, unless the record names another job by now (a concurrent run for the same
        inputs, e.g. a user's re-run beside a redelivered trigger, submitted a new one: keep that)."""
        record = await self.load(model_id, fingerprint)
        if record is not None and record.handle.job_id == job_id:
            await self.storage.delete_keys([job_key(model_id, fingerprint)])

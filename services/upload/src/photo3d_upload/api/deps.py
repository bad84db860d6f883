"""Dependencies the controllers ask for by name; built once in the composition root (``app.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anyio import CapacityLimiter
from litestar import Request
from litestar.datastructures import State, UploadFile

from photo3d_common.auth import Principal
from photo3d_common.broker import Publish
from photo3d_common.storage import ObjectStorage
from photo3d_upload.creation import CreationGate
from photo3d_upload.handlers import Caller, ModelLocks
from photo3d_upload.settings import UploadSettings
from photo3d_upload.status_client import StatusClient


@dataclass
class Runtime:
    """Everything opened at startup (lifespan) and shared by requests."""

    settings: UploadSettings
    storage: ObjectStorage
    status: StatusClient
    publish: Publish
    locks: ModelLocks
    decoding: CapacityLimiter
    creation: CreationGate

    def photo_upload(self, model_id: str, view: str, file: UploadFile) -> dict[str, Any]:
        return {
            "model_id": model_id,
            "view": view,
            "file": file.file,
            "filename": file.filename,
            "status": self.status,
            "storage": self.storage,
            "publish": self.publish,
            "limits": self.settings.limits,
            "locks": self.locks,
            "decoding": self.decoding,
        }

    def stage_deps(self) -> dict[str, Any]:
        return {"status": self.status, "storage": self.storage, "publish": self.publish}

    def generation_deps(self) -> dict[str, Any]:
        return {**self.stage_deps(), "providers": self.settings.providers}


def provide_runtime(state: State) -> Runtime:
    return state.runtime


def provide_caller(request: Request[Principal, str, Any]) -> Caller:
    return Caller(subject=request.user.subject, token=request.auth)

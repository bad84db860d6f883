"""What the handlers need, opened at startup and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from photo3d_common.broker import EventPublisher
from photo3d_common.storage import ObjectStorage

from .remover import BackgroundRemover
from .settings import BgRemovalServiceSettings


@dataclass
class Resources:
    settings: BgRemovalServiceSettings
    remover: BackgroundRemover
    publish: EventPublisher
    storage: ObjectStorage | None = field(default=None)

    def handler_dependencies(self) -> dict[str, Any]:
        if self.storage is None:
            raise RuntimeError("the service has not started: storage is not open")
        return {"storage": self.storage, "remover": self.remover, "publish": self.publish}

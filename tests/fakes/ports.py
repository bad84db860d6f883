"""In-memory fakes of the small interfaces the handlers are typed on (``photo3d_common.ports`` and the
services' ``ports`` modules), for fast unit tests of the handlers; the real adapters have their own
integration tests against SeaweedFS, Tansu, Postgres and the real model."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from PIL import Image, ImageDraw

from photo3d_common.events import Event
from photo3d_common.storage import ObjectInfo, ObjectNotFound


class InMemoryStorage:
    """``photo3d_common.ports.Storage`` over a dict; ETags are content hashes, as S3's are for one-part puts.
    ``requests`` counts the calls as the S3 requests they stand for (GET, HEAD, PUT, LIST, DELETE)."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str, dict[str, str]]] = {}
        self.requests: Counter[str] = Counter()

    async def get_bytes(self, key: str) -> bytes:
        return (await self.get_object(key))[1]

    async def get_object(self, key: str) -> tuple[ObjectInfo, bytes]:
        self.requests["GET"] += 1
        if key not in self.objects:
            raise ObjectNotFound(key)
        return self._info(key), self.objects[key][0]

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str, metadata: dict[str, str] | None = None
    ) -> None:
        self.requests["PUT"] += 1
        self.objects[key] = (bytes(data), content_type, dict(metadata or {}))

    async def upload_stream(
        self, key: str, fileobj: IO[bytes], *, content_type: str, metadata: dict[str, str] | None = None
    ) -> None:
        await self.put_bytes(key, fileobj.read(), content_type=content_type, metadata=metadata)

    async def head(self, key: str) -> ObjectInfo | None:
        self.requests["HEAD"] += 1
        if key not in self.objects:
            return None
        return self._info(key)

    def _info(self, key: str) -> ObjectInfo:
        data, content_type, metadata = self.objects[key]
        return ObjectInfo(
            key=key,
            size=len(data),
            content_type=content_type,
            etag=hashlib.md5(data).hexdigest(),
            metadata=metadata,
        )

    async def list_keys(self, prefix: str) -> list[str]:
        self.requests["LIST"] += 1
        return sorted(key for key in self.objects if key.startswith(prefix))

    async def delete_keys(self, keys: Iterable[str]) -> int:
        self.requests["DELETE"] += 1
        deleted = 0
        for key in keys:
            deleted += self.objects.pop(key, None) is not None
        return deleted

    async def ping(self) -> None:
        return None


class RecordingPublisher(list[Event]):
    """``photo3d_common.ports.Publisher`` that keeps what was published, in order."""

    async def __call__(self, event: Event, /) -> None:
        self.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self if isinstance(event, kind)]


def png(size: tuple[int, int] = (64, 64), colour: tuple[int, int, int, int] = (200, 30, 30, 255)) -> bytes:
    """A cut-out: an opaque upright ellipse, centred with a margin, on a transparent background."""
    width, height = size
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse(
        [width * 0.3, height * 0.15, width * 0.7 - 1, height * 0.85 - 1], fill=colour
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class FakeRemover:
    """``photo3d_bgremoval.ports.Remover``: a fixed cut-out per photo, or ``fail_with`` raised on the
    ``fail_on`` view; remembers which views it was asked for."""

    def __init__(
        self,
        *,
        model_name: str = "fake-u2netp",
        fail_on: str | None = None,
        fail_with: Exception | None = None,
    ) -> None:
        from photo3d_bgremoval.remover import BackgroundRemovalSettings

        self.settings = BackgroundRemovalSettings()
        self._model_name = model_name
        self.fail_on = (fail_on,) if isinstance(fail_on, str) else tuple(fail_on or ())
        self.fail_with = fail_with
        self.calls: list[str | None] = []

    @property
    def model_name(self) -> str:
        return self._model_name

    async def remove(self, photo: bytes, *, view: str | None = None) -> Any:
        from photo3d_bgremoval.cutout import Cutout, MaskQuality
        from photo3d_bgremoval.remover import CutoutResult

        self.calls.append(view)
        if self.fail_with is not None and view in self.fail_on:
            raise self.fail_with
        data = png()
        image = Image.open(io.BytesIO(data))
        image.load()
        quality = MaskQuality(
            width=64,
            height=64,
            coverage=0.35,
            bbox=(19, 10, 45, 54),
            touching_sides=frozenset(),
            uncertain_ratio=0.05,
        )
        cutout = Cutout(image=image, quality=quality, source_size=(64, 64), canvas_box=(0, 0, 64, 64))
        return CutoutResult(cutout=cutout, mask=image.getchannel("A"))


class InMemoryProvider:
    """``photo3d_generation.providers.base.GenerationProvider`` whose jobs finish on the first poll with
    a box-shaped GLB, fail as scripted (``fail_with``) or never finish (job ids in ``hung_jobs``); counts
    submissions (a paid job each)."""

    name = "fake"
    default_deadline_s = 5.0
    poll_interval_s = 0.01
    max_poll_interval_s = 0.01
    poll_backoff = 1.0
    expected_duration_s = 1.0
    resumable = True

    def __init__(self, *, fail_with: Exception | None = None) -> None:
        self.fail_with = fail_with
        self.hung_jobs: set[str] = set()
        self.submitted: list[Any] = []
        self.closed = False

    def validate(self) -> None:
        return None

    def fingerprint(self, inputs: Any) -> str:
        from photo3d_generation.providers.base import job_fingerprint

        return job_fingerprint(self.name, inputs, {})

    async def submit(self, inputs: Any) -> Any:
        from photo3d_generation.providers.base import JobHandle

        handle = JobHandle(
            provider=self.name, job_id=f"job-{len(self.submitted) + 1}", submitted_at=datetime.now(UTC)
        )
        self.submitted.append(handle)
        return handle

    async def poll(self, handle: Any) -> Any:
        from photo3d_generation.providers.base import JobState, JobStatus

        if self.fail_with is not None:
            raise self.fail_with
        if handle.job_id in self.hung_jobs:
            return JobState(status=JobStatus.RUNNING)
        return JobState(status=JobStatus.SUCCEEDED)

    async def fetch_result(self, handle: Any, state: Any) -> Any:
        import trimesh

        from photo3d_generation.providers.base import GeneratedAssets, GeneratedFile

        glb = trimesh.creation.box(extents=(0.1, 0.2, 0.1)).export(file_type="glb")
        return GeneratedAssets(provider=self.name, job_id=handle.job_id, files=[GeneratedFile("glb", glb)])

    async def aclose(self) -> None:
        self.closed = True

"""The upload handler on in-memory fakes of storage, the status service and the publisher: what it stores,
announces and asks S3 (tests/integration/upload has the real services)."""

from __future__ import annotations

import io
import uuid

from PIL import Image

from photo3d_common.concurrency import CapacityLimiter
from photo3d_common.events import VIEWS, PhotoUploaded
from photo3d_common.storage import cutout_key, original_key
from photo3d_upload import handlers
from photo3d_upload.rules import ModelSnapshot, ModelStatus
from photo3d_upload.settings import PhotoLimits
from tests.fakes.ports import InMemoryStorage, RecordingPublisher


class AppliedStatus:
    """``photo3d_upload.ports.ModelLookup`` that sees every announced photo at once (the status service
    applied it before the next upload asks), as the sequential uploads of one user do."""

    def __init__(self, model_id: uuid.UUID, published: RecordingPublisher) -> None:
        self.model_id = model_id
        self.published = published
        self.status = ModelStatus.DRAFT

    async def get_model(self, model_id: uuid.UUID, token: str) -> ModelSnapshot:
        photos = {event.view: event.object_key for event in self.published.of(PhotoUploaded)}
        status = ModelStatus.PHOTOS_UPLOADED if len(photos) == len(VIEWS) else self.status
        return ModelSnapshot(id=model_id, owner="alice", status=status, photos=photos)

    async def ping(self) -> None:
        return None


def _jpeg(seed: int) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (seed * 40 % 256, 90, 160)).save(buffer, format="JPEG")
    buffer.seek(0)
    return buffer


async def _upload(view: str, seed: int, *, storage, status, publish) -> handlers.PhotoStored:
    return await handlers.upload_photo(
        model_id=str(status.model_id),
        view=view,
        file=_jpeg(seed),
        filename=f"{view}.jpg",
        caller=handlers.Caller(subject="alice", token="t"),
        status=status,
        storage=storage,
        publish=publish,
        limits=PhotoLimits(),
        locks=handlers.ModelLocks(),
        decoding=CapacityLimiter(1),
    )


async def test_a_set_costs_one_put_per_photo_and_a_listing_only_while_the_set_is_incomplete():
    """Issue 13: the set before a put is what the status service lists (no listing before the put); the
    set after it is listed from S3 (another upload may have completed it meanwhile) unless the listed
    photos and this one are all four."""
    storage, published = InMemoryStorage(), RecordingPublisher()
    status = AppliedStatus(uuid.uuid4(), published)

    for seed, view in enumerate(VIEWS):
        await _upload(view, seed, storage=storage, status=status, publish=published)

    assert storage.requests == {"PUT": 4, "LIST": 3}
    events = published.of(PhotoUploaded)
    assert [len(e.original_keys) for e in events] == [1, 2, 3, 4]
    assert [e.start_processing for e in events] == [False, False, False, True]
    assert events[-1].original_keys == {v: original_key(status.model_id, v) for v in VIEWS}


async def test_a_replaced_photo_loses_its_cut_out_and_restarts_nothing():
    storage, published = InMemoryStorage(), RecordingPublisher()
    status = AppliedStatus(uuid.uuid4(), published)
    for seed, view in enumerate(VIEWS):
        await _upload(view, seed, storage=storage, status=status, publish=published)
    stale = cutout_key(status.model_id, "left")
    await storage.put_bytes(stale, b"png", content_type="image/png")
    storage.requests.clear()

    stored = await _upload("left", 9, storage=storage, status=status, publish=published)

    assert stale not in storage.objects
    assert storage.requests == {"PUT": 1, "DELETE": 1}
    assert stored.all_views_uploaded and not published[-1].start_processing


async def test_a_kept_photo_whose_announcement_failed_completes_the_set_when_uploaded_again():
    """The broker failed after the back photo's put: the status service lists three photos, S3 holds four.
    Its retry is the upload that completes the set (and asks S3 nothing before its put)."""
    storage, published = InMemoryStorage(), RecordingPublisher()
    status = AppliedStatus(uuid.uuid4(), published)
    for seed, view in enumerate(VIEWS[:3]):
        await _upload(view, seed, storage=storage, status=status, publish=published)
    await storage.put_bytes(original_key(status.model_id, "back"), b"kept", content_type="image/jpeg")
    status.status = ModelStatus.UPLOADING_PHOTOS

    await _upload("back", 3, storage=storage, status=status, publish=published)

    assert published[-1].start_processing and published[-1].all_views_uploaded

"""Which uploads and re-runs a model's state allows, and the reasons given when it does not."""

from __future__ import annotations

import uuid

import pytest

from photo3d_common.errors import Conflict, InvalidInput
from photo3d_common.events import VIEWS, ModelStatus
from photo3d_upload.handlers import parse_model_id, parse_view
from photo3d_upload.rules import (
    ModelSnapshot,
    ensure_background_removal_allowed,
    ensure_generation_allowed,
    ensure_photo_accepted,
    registered,
    starts_processing,
    views_phrase,
)

S = ModelStatus
ALL = {view: f"k/{view}" for view in VIEWS}


def model(status: ModelStatus) -> ModelSnapshot:
    return ModelSnapshot(id=uuid.uuid4(), owner="alice", status=status)


@pytest.mark.parametrize("status", [S.DRAFT, S.UPLOADING_PHOTOS, S.PHOTOS_UPLOADED, S.FAILED])
def test_photos_accepted_while_collecting_or_after_a_failure(status):
    ensure_photo_accepted(model(status))


@pytest.mark.parametrize(
    ("status", "code", "why"),
    [
        (S.REMOVING_BACKGROUND, "model_processing", "background removal is running"),
        (S.GENERATING_3D_MODEL, "model_processing", "the 3D model is being generated"),
        (S.COMPLETED, "model_completed", "completed"),
    ],
)
def test_photos_refused_while_processing_or_completed(status, code, why):
    with pytest.raises(Conflict) as caught:
        ensure_photo_accepted(model(status))
    assert caught.value.code == code and why in caught.value.message


def test_only_the_upload_completing_the_set_of_a_collecting_model_starts_processing():
    three = {v: ALL[v] for v in VIEWS[:3]}
    assert starts_processing(model(S.UPLOADING_PHOTOS), before=three, after=ALL)
    assert starts_processing(model(S.DRAFT), before={}, after=ALL)
    assert not starts_processing(model(S.UPLOADING_PHOTOS), before=ALL, after=ALL)  # a replacement
    assert not starts_processing(model(S.UPLOADING_PHOTOS), before={}, after=three)  # still incomplete
    assert not starts_processing(model(S.PHOTOS_UPLOADED), before=three, after=ALL)
    assert not starts_processing(model(S.FAILED), before=three, after=ALL)  # waits for an explicit re-run


def test_a_stored_photo_the_status_service_never_listed_is_not_registered():
    """A photo stored while the broker failed is unannounced: its retry may still complete the set."""
    listed = ModelSnapshot(
        id=uuid.uuid4(),
        owner="alice",
        status=S.UPLOADING_PHOTOS,
        photos={view: ALL[view] for view in VIEWS[:3]} | {"back": None},
    )
    assert registered(listed) == list(VIEWS[:3])
    assert starts_processing(listed, before=registered(listed), after=ALL)  # the retry of the back photo


def test_views_phrase():
    assert views_phrase(["left"]) == "the left photo"
    assert views_phrase(["left", "back"]) == "the left and back photos"
    assert views_phrase(["front", "left", "back"]) == "the front, left and back photos"


@pytest.mark.parametrize("status", [S.PHOTOS_UPLOADED, S.FAILED])
def test_background_removal_allowed_with_four_originals(status):
    ensure_background_removal_allowed(model(status), ALL)


@pytest.mark.parametrize(
    ("status", "originals", "code", "why"),
    [
        (S.UPLOADING_PHOTOS, {"front": "k"}, "photos_missing", "the left, right and back photos are missing"),
        (
            S.FAILED,
            {v: ALL[v] for v in ("front", "right", "back")},
            "photos_missing",
            "the left photo is missing",
        ),
        (S.UPLOADING_PHOTOS, ALL, "photos_registering", "starts by itself"),
        (S.REMOVING_BACKGROUND, ALL, "already_running", "background removal is already running"),
        (S.GENERATING_3D_MODEL, ALL, "model_processing", "being generated"),
        (S.COMPLETED, ALL, "model_completed", "completed"),
    ],
)
def test_background_removal_refused_with_a_reason(status, originals, code, why):
    with pytest.raises(Conflict) as caught:
        ensure_background_removal_allowed(model(status), originals)
    assert caught.value.code == code
    assert why in caught.value.message


def test_generation_allowed_after_a_failure_with_four_cutouts():
    ensure_generation_allowed(model(S.FAILED), ALL)


@pytest.mark.parametrize(
    ("status", "cutouts", "code", "why"),
    [
        (
            S.FAILED,
            {},
            "cutouts_missing",
            "the cut-outs of the front, left, right and back photos are missing",
        ),
        (
            S.FAILED,
            {v: ALL[v] for v in VIEWS[1:]},
            "cutouts_missing",
            "the cut-out of the front photo is missing",
        ),
        (S.GENERATING_3D_MODEL, ALL, "already_running", "already running"),
        (S.REMOVING_BACKGROUND, ALL, "model_processing", "background removal is still running"),
        (S.PHOTOS_UPLOADED, ALL, "not_failed", "only after a failure"),
        (S.DRAFT, {}, "not_failed", "background removal has not run yet"),
        (S.COMPLETED, ALL, "model_completed", "completed"),
    ],
)
def test_generation_refused_with_a_reason(status, cutouts, code, why):
    with pytest.raises(Conflict) as caught:
        ensure_generation_allowed(model(status), cutouts)
    assert caught.value.code == code
    assert why in caught.value.message


def test_view_and_model_id_parsing():
    assert parse_view(" Front ") == "front"
    model_id = uuid.uuid4()
    assert parse_model_id(str(model_id)) == model_id
    for bad_view in ("top", "", "fronts"):
        with pytest.raises(InvalidInput) as caught:
            parse_view(bad_view)
        assert caught.value.code == "invalid_view"
    with pytest.raises(InvalidInput) as caught:
        parse_model_id("12345")
    assert caught.value.code == "invalid_model_id" and caught.value.status_code == 422

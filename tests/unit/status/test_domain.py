"""The transition table, exhaustively: every event kind against every status."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from photo3d_common.events import (
    BackgroundRemovalRequested,
    BackgroundRemovalStarted,
    BackgroundRemoved,
    Dimensions,
    GenerationOptions,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    ModelStatus,
    PhotoUploaded,
    Stage,
    StageProgressed,
    ViewWarning,
)
from photo3d_status import domain
from photo3d_status.domain import Applied, EventKind, ModelState, NotApplied, UnknownEvent, decide, kind_of

S = ModelStatus
K = EventKind
MODEL_ID = uuid.uuid4()
ALL = set(S)
NON_TERMINAL = ALL - {S.COMPLETED}


def photo(view="front", *, complete=False, keys=None):
    key = f"models/{MODEL_ID}/originals/{view}"
    return PhotoUploaded(
        model_id=MODEL_ID,
        producer="upload",
        view=view,
        object_key=key,
        content_type="image/jpeg",
        width=800,
        height=600,
        size_bytes=1000,
        sha256="0" * 64,
        original_keys=keys or {view: key},
        all_views_uploaded=complete,
        start_processing=complete,
    )


def cutouts():
    return {v: f"models/{MODEL_ID}/cutouts/{v}.png" for v in ("front", "left", "right", "back")}


EVENTS = {
    K.PHOTO_UPLOADED_PARTIAL: lambda: photo("left"),
    K.PHOTO_UPLOADED_COMPLETE: lambda: photo("back", complete=True),
    K.BACKGROUND_REMOVAL_STARTED: lambda: BackgroundRemovalStarted(model_id=MODEL_ID, producer="bgremoval"),
    K.UPLOAD_PROGRESSED: lambda: StageProgressed(
        model_id=MODEL_ID, producer="x", stage=Stage.UPLOAD, progress=0.5
    ),
    K.BACKGROUND_PROGRESSED: lambda: StageProgressed(
        model_id=MODEL_ID, producer="bgremoval", stage=Stage.BACKGROUND_REMOVAL, progress=0.5, detail="2 of 4"
    ),
    K.GENERATION_PROGRESSED: lambda: StageProgressed(
        model_id=MODEL_ID, producer="generation", stage=Stage.GENERATION, progress=0.25, detail="meshing"
    ),
    K.BACKGROUND_REMOVED: lambda: BackgroundRemoved(
        model_id=MODEL_ID, producer="bgremoval", cutout_keys=cutouts(), source_fingerprint="f"
    ),
    K.GENERATION_STARTED: lambda: GenerationStarted(
        model_id=MODEL_ID, producer="generation", provider="local"
    ),
    K.MODEL_GENERATED: lambda: ModelGenerated(
        model_id=MODEL_ID,
        producer="generation",
        provider="local",
        asset_keys={"glb": "a.glb", "stl": "a.stl", "mtl": "a.mtl"},
        vertex_count=10,
        face_count=12,
    ),
    K.MODEL_FAILED: lambda: ModelFailed(
        model_id=MODEL_ID,
        producer="generation",
        stage=Stage.GENERATION,
        reason="the provider timed out",
        error_code="timeout",
        retryable=True,
    ),
}

# The contract's table (docs/contracts.md), written out independently of the implementation.
CONTRACT: dict[EventKind, dict[ModelStatus, ModelStatus]] = {
    K.PHOTO_UPLOADED_PARTIAL: {
        S.DRAFT: S.UPLOADING_PHOTOS,
        S.UPLOADING_PHOTOS: S.UPLOADING_PHOTOS,
        S.PHOTOS_UPLOADED: S.PHOTOS_UPLOADED,
        S.FAILED: S.FAILED,
    },
    K.PHOTO_UPLOADED_COMPLETE: {
        S.DRAFT: S.PHOTOS_UPLOADED,
        S.UPLOADING_PHOTOS: S.PHOTOS_UPLOADED,
        S.PHOTOS_UPLOADED: S.PHOTOS_UPLOADED,
        S.FAILED: S.FAILED,
    },
    K.BACKGROUND_REMOVAL_STARTED: {
        S.PHOTOS_UPLOADED: S.REMOVING_BACKGROUND,
        S.FAILED: S.REMOVING_BACKGROUND,
        S.REMOVING_BACKGROUND: S.REMOVING_BACKGROUND,
    },
    K.UPLOAD_PROGRESSED: {},
    K.BACKGROUND_PROGRESSED: {S.REMOVING_BACKGROUND: S.REMOVING_BACKGROUND},
    K.GENERATION_PROGRESSED: {S.GENERATING_3D_MODEL: S.GENERATING_3D_MODEL},
    K.BACKGROUND_REMOVED: {S.REMOVING_BACKGROUND: S.REMOVING_BACKGROUND},
    K.GENERATION_STARTED: {
        S.REMOVING_BACKGROUND: S.GENERATING_3D_MODEL,
        S.FAILED: S.GENERATING_3D_MODEL,
        S.GENERATING_3D_MODEL: S.GENERATING_3D_MODEL,
    },
    K.MODEL_GENERATED: {S.GENERATING_3D_MODEL: S.COMPLETED},
    K.MODEL_FAILED: dict.fromkeys(NON_TERMINAL, S.FAILED),
}

# Beyond the contract: topics are consumed separately, so a later stage's event may be handled before an
# earlier one's. It may move forward (it proves the earlier stages happened); an earlier event arriving
# late records its keys but never moves the status back.
REORDER_FORWARD: dict[EventKind, dict[ModelStatus, ModelStatus]] = {
    K.BACKGROUND_REMOVAL_STARTED: {S.DRAFT: S.REMOVING_BACKGROUND, S.UPLOADING_PHOTOS: S.REMOVING_BACKGROUND},
    K.BACKGROUND_REMOVED: dict.fromkeys(
        (S.DRAFT, S.UPLOADING_PHOTOS, S.PHOTOS_UPLOADED), S.REMOVING_BACKGROUND
    ),
    K.GENERATION_STARTED: dict.fromkeys(
        (S.DRAFT, S.UPLOADING_PHOTOS, S.PHOTOS_UPLOADED), S.GENERATING_3D_MODEL
    ),
    K.MODEL_GENERATED: dict.fromkeys(
        (S.DRAFT, S.UPLOADING_PHOTOS, S.PHOTOS_UPLOADED, S.REMOVING_BACKGROUND, S.FAILED), S.COMPLETED
    ),
}
LATE_KEYS_RECORDED: dict[EventKind, set[ModelStatus]] = {
    K.PHOTO_UPLOADED_PARTIAL: {S.REMOVING_BACKGROUND, S.GENERATING_3D_MODEL, S.COMPLETED},
    K.PHOTO_UPLOADED_COMPLETE: {S.REMOVING_BACKGROUND, S.GENERATING_3D_MODEL, S.COMPLETED},
    K.BACKGROUND_REMOVED: {S.GENERATING_3D_MODEL, S.FAILED, S.COMPLETED},
}
# Out of date and harmless: not applied, not an error either.
IGNORED: dict[EventKind, set[ModelStatus]] = {
    K.UPLOAD_PROGRESSED: ALL,
    K.BACKGROUND_PROGRESSED: ALL - {S.REMOVING_BACKGROUND},
    K.GENERATION_PROGRESSED: ALL - {S.GENERATING_3D_MODEL},
    K.BACKGROUND_REMOVAL_STARTED: {S.GENERATING_3D_MODEL, S.COMPLETED},
    K.GENERATION_STARTED: {S.COMPLETED},
    K.MODEL_GENERATED: {S.COMPLETED},
}


def state(status: ModelStatus, **fields) -> ModelState:
    return ModelState(id=MODEL_ID, owner="alice", name="mug", status=status, **fields)


def test_every_event_kind_has_an_example():
    assert set(EVENTS) == set(EventKind)
    assert {kind_of(make()) for make in EVENTS.values()} == set(EventKind)


@pytest.mark.parametrize(("kind", "status"), list(itertools.product(EventKind, ModelStatus)))
def test_transition_table(kind: EventKind, status: ModelStatus):
    event = EVENTS[kind]()
    decision = decide(state(status), event)
    moves = {**CONTRACT[kind], **REORDER_FORWARD.get(kind, {})}
    if status in moves:
        assert isinstance(decision, Applied), decision
        assert decision.new.status == moves[status]
    elif status in LATE_KEYS_RECORDED.get(kind, set()):
        assert isinstance(decision, Applied), decision
        assert decision.new.status == status
        assert decision.new.progress == 0.0 and decision.new.stage_detail is None  # untouched
        assert decision.new != state(status)  # keys recorded
    elif status in IGNORED.get(kind, set()):
        assert decision == NotApplied("ignored", decision.reason)
        assert decision.reason
    else:
        assert isinstance(decision, NotApplied) and decision.outcome == "rejected", decision
        assert status in decision.reason and type(event).__name__ in decision.reason


def test_completed_is_terminal():
    """Nothing leaves completed; late events may only fill in object keys."""
    done = state(S.COMPLETED, progress=1.0, assets={"glb": "g"})
    for kind, make in EVENTS.items():
        decision = decide(done, make())
        if isinstance(decision, Applied):
            assert kind in LATE_KEYS_RECORDED
            assert dataclasses.replace(decision.new, photos={}, cutouts={}) == done


def test_contract_moves_are_never_backwards_into_earlier_stages():
    order = [
        S.DRAFT,
        S.UPLOADING_PHOTOS,
        S.PHOTOS_UPLOADED,
        S.REMOVING_BACKGROUND,
        S.GENERATING_3D_MODEL,
        S.COMPLETED,
    ]
    for kind, status in itertools.product(EventKind, ModelStatus):
        decision = decide(state(status), EVENTS[kind]())
        if isinstance(decision, Applied) and status != S.FAILED and decision.new.status != S.FAILED:
            assert order.index(decision.new.status) >= order.index(status), (kind, status)


def test_missing_model_is_ignored():
    for make in EVENTS.values():
        assert decide(None, make()).outcome == "ignored"


def test_events_without_status_meaning_are_a_programming_error():
    with pytest.raises(UnknownEvent):
        decide(
            state(S.DRAFT),
            BackgroundRemovalRequested(model_id=MODEL_ID, producer="u", original_keys={}, requested_by="a"),
        )


# --- what each applied event records ---------------------------------------------------------------------


def test_photo_uploaded_merges_keys_and_counts_progress():
    first = decide(state(S.DRAFT), photo("front")).new
    assert first.photos == {"front": f"models/{MODEL_ID}/originals/front"}
    assert first.progress == 0.25 and first.stage_detail == "1 of 4 photos uploaded"
    keys = {v: f"models/{MODEL_ID}/originals/{v}" for v in ("front", "left", "right", "back")}
    done = decide(first, photo("back", complete=True, keys=keys)).new
    assert done.status == S.PHOTOS_UPLOADED and done.photos == keys and done.progress == 1.0


def test_photo_replaced_after_failure_keeps_the_error_until_a_rerun():
    failed = state(
        S.FAILED, error_stage="background_removal", error_message="no object found", error_code="empty"
    )
    after = decide(failed, photo("front")).new
    assert after.status == S.FAILED and after.error_message == "no object found"
    rerun = decide(after, EVENTS[K.BACKGROUND_REMOVAL_STARTED]()).new
    assert rerun.status == S.REMOVING_BACKGROUND
    assert (rerun.error_stage, rerun.error_code, rerun.error_message, rerun.error_retryable) == (None,) * 4
    assert rerun.progress == 0.0


def test_replaced_photo_drops_its_stale_cutout_only():
    model = state(S.FAILED, photos={"left": "old"}, cutouts=cutouts())
    decision = decide(model, photo("left"))
    assert isinstance(decision, Applied)
    assert "left" not in decision.new.cutouts
    assert set(decision.new.cutouts) == {"front", "right", "back"}


def test_progress_updates_detail_and_fraction():
    running = state(S.REMOVING_BACKGROUND, progress=0.1, stage_detail="removing backgrounds")
    after = decide(running, EVENTS[K.BACKGROUND_PROGRESSED]()).new
    assert (after.progress, after.stage_detail, after.status) == (0.5, "2 of 4", S.REMOVING_BACKGROUND)


def test_redelivered_start_does_not_reset_progress():
    running = state(S.REMOVING_BACKGROUND, progress=0.5, stage_detail="2 of 4")
    after = decide(running, EVENTS[K.BACKGROUND_REMOVAL_STARTED]()).new
    assert after == running


def test_background_removed_records_cutouts_and_full_progress():
    after = decide(state(S.REMOVING_BACKGROUND, progress=0.75), EVENTS[K.BACKGROUND_REMOVED]()).new
    assert after.cutouts == cutouts() and after.progress == 1.0 and after.status == S.REMOVING_BACKGROUND


def removed_with_warnings(**warnings):
    return BackgroundRemoved(
        model_id=MODEL_ID,
        producer="bgremoval",
        cutout_keys=cutouts(),
        source_fingerprint="f",
        view_warnings={
            view: [ViewWarning(code=code, message=f"{view}: {code}")] for view, code in warnings.items()
        },
    )


def test_background_removed_records_the_photo_warnings_of_that_run():
    after = decide(state(S.REMOVING_BACKGROUND), removed_with_warnings(left="cutout_corrected")).new
    assert after.photo_warnings == {
        "left": [{"code": "cutout_corrected", "message": "left: cutout_corrected"}]
    }


def test_a_new_background_removal_run_resets_the_photo_warnings():
    warned = state(S.FAILED, photo_warnings={"left": [{"code": "cutout_corrected", "message": "m"}]})
    rerun = decide(warned, EVENTS[K.BACKGROUND_REMOVAL_STARTED]()).new
    assert rerun.status == S.REMOVING_BACKGROUND and rerun.photo_warnings == {}
    # a run that found nothing leaves no warning behind
    clean = decide(
        state(S.REMOVING_BACKGROUND, photo_warnings=warned.photo_warnings), removed_with_warnings()
    ).new
    assert clean.photo_warnings == {}


def test_a_replaced_photo_drops_its_warnings_only():
    warnings = {v: [{"code": "cutout_corrected", "message": v}] for v in ("left", "back")}
    after = decide(state(S.FAILED, photo_warnings=warnings, photos={"left": "old"}), photo("left")).new
    assert after.photo_warnings == {"back": warnings["back"]}


def test_late_background_removed_records_cutouts_without_touching_generation():
    generating = state(S.GENERATING_3D_MODEL, progress=0.3, stage_detail="meshing")
    after = decide(generating, EVENTS[K.BACKGROUND_REMOVED]()).new
    assert after.cutouts == cutouts()
    assert (after.status, after.progress, after.stage_detail) == (S.GENERATING_3D_MODEL, 0.3, "meshing")


def test_generation_started_records_the_provider():
    after = decide(state(S.REMOVING_BACKGROUND, provider=None), EVENTS[K.GENERATION_STARTED]()).new
    assert after.provider == "local" and after.progress == 0.0 and after.stage_detail


def test_model_generated_records_assets_counts_and_completion_time():
    event = EVENTS[K.MODEL_GENERATED]()
    after = decide(state(S.GENERATING_3D_MODEL, progress=0.9), event).new
    assert after.assets == {"glb": "a.glb", "stl": "a.stl", "mtl": "a.mtl"}
    assert (after.vertex_count, after.face_count, after.progress) == (10, 12, 1.0)
    assert after.completed_at == event.occurred_at


def test_generation_events_record_the_options_size_and_the_providers_limit():
    rerun = GenerationOptions(width_m=0.5, target_faces=5000, texture=False)
    started = GenerationStarted(model_id=MODEL_ID, producer="generation", provider="local", options=rerun)
    running = decide(state(S.FAILED), started).new
    assert running.options == rerun  # a re-run's overrides are what the model is now made with
    unchanged = decide(state(S.REMOVING_BACKGROUND), EVENTS[K.GENERATION_STARTED]()).new
    assert unchanged.options == GenerationOptions()  # an event without options keeps the stored ones

    generated = ModelGenerated(
        model_id=MODEL_ID,
        producer="generation",
        provider="tencent",
        asset_keys={"glb": "a.glb"},
        vertex_count=10,
        face_count=4000,
        options=rerun,
        dimensions_m=Dimensions(x=0.5, y=0.8, z=0.4),
        detail="delivered with 4,000 faces",
    )
    done = decide(state(S.GENERATING_3D_MODEL), generated).new
    assert done.options == rerun and done.dimensions_m == Dimensions(x=0.5, y=0.8, z=0.4)
    assert done.stage_detail == "delivered with 4,000 faces"


def test_model_failed_records_an_actionable_error():
    after = decide(state(S.GENERATING_3D_MODEL, stage_detail="meshing"), EVENTS[K.MODEL_FAILED]()).new
    assert (after.error_stage, after.error_code, after.error_message, after.error_retryable) == (
        "generation",
        "timeout",
        "the provider timed out",
        True,
    )
    assert after.stage_detail is None


def test_decide_is_pure():
    before = state(S.PHOTOS_UPLOADED, photos={"front": "k"})
    decide(before, EVENTS[K.BACKGROUND_REMOVAL_STARTED]())
    assert before == state(S.PHOTOS_UPLOADED, photos={"front": "k"})


# --- stale events around failures and re-runs ------------------------------------------------------------

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(event, seconds: float):
    return event.model_copy(update={"occurred_at": T0 + timedelta(seconds=seconds)})


def test_a_start_older_than_the_failure_does_not_clear_it():
    failed = state(S.FAILED, status_changed_at=T0 + timedelta(seconds=10), error_message="no object found")
    for kind in (K.BACKGROUND_REMOVAL_STARTED, K.GENERATION_STARTED, K.MODEL_GENERATED):
        decision = decide(failed, at(EVENTS[kind](), 5))
        assert decision.outcome == "ignored" and "before the failure" in decision.reason, kind
    rerun = decide(failed, at(EVENTS[K.BACKGROUND_REMOVAL_STARTED](), 20))
    assert isinstance(rerun, Applied) and rerun.new.status == S.REMOVING_BACKGROUND
    assert rerun.new.status_changed_at == T0 + timedelta(seconds=20)


def test_a_failure_older_than_the_current_run_does_not_end_it():
    rerunning = state(S.REMOVING_BACKGROUND, status_changed_at=T0 + timedelta(seconds=30))
    old_failure = decide(rerunning, at(EVENTS[K.MODEL_FAILED](), 10))
    assert old_failure.outcome == "ignored" and "before the model became" in old_failure.reason
    new_failure = decide(rerunning, at(EVENTS[K.MODEL_FAILED](), 31))
    assert isinstance(new_failure, Applied) and new_failure.new.status == S.FAILED


def of_run(event, triggered: float, occurred: float):
    """A worker's event, occurring at ``occurred``, of the run its trigger started at ``triggered``."""
    return event.model_copy(
        update={
            "occurred_at": T0 + timedelta(seconds=occurred),
            "run_triggered_at": T0 + timedelta(seconds=triggered),
        }
    )


def test_a_worker_back_after_the_watchdogs_failure_neither_clears_it_nor_ends_the_rerun():
    timed_out = state(S.FAILED, status_changed_at=T0 + timedelta(seconds=10), error_code="stage_timeout")
    expected = {
        K.GENERATION_STARTED: "before the failure it would clear",
        K.MODEL_GENERATED: "before the failure it would clear",
        K.MODEL_FAILED: "before the model became failed",  # the watchdog's failure stays the one shown
    }
    for kind, reason in expected.items():
        zombie = decide(timed_out, of_run(EVENTS[kind](), triggered=0, occurred=20))
        assert zombie.outcome == "ignored" and reason in zombie.reason, (kind, zombie)

    rerun = decide(timed_out, of_run(EVENTS[K.GENERATION_STARTED](), triggered=15, occurred=16))
    assert isinstance(rerun, Applied) and rerun.new.status == S.GENERATING_3D_MODEL
    assert rerun.new.run_triggered_at == T0 + timedelta(seconds=15)
    zombie_failure = decide(rerun.new, of_run(EVENTS[K.MODEL_FAILED](), triggered=0, occurred=25))
    assert zombie_failure.outcome == "ignored" and "before the model became" in zombie_failure.reason
    own_failure = decide(rerun.new, of_run(EVENTS[K.MODEL_FAILED](), triggered=15, occurred=30))
    assert isinstance(own_failure, Applied) and own_failure.new.status == S.FAILED


def test_a_runs_start_arriving_after_its_own_failure_does_not_clear_it():
    """Topics are read independently: generation.started may be consumed after the model.failed it led to."""
    generating = state(S.REMOVING_BACKGROUND, status_changed_at=T0)
    failed = decide(generating, of_run(EVENTS[K.MODEL_FAILED](), triggered=1, occurred=3)).new
    assert failed.status == S.FAILED
    late_start = decide(failed, of_run(EVENTS[K.GENERATION_STARTED](), triggered=1, occurred=2))
    assert late_start.outcome == "ignored" and "before the failure" in late_start.reason


def test_a_reruns_result_consumed_before_its_start_keeps_its_warnings():
    """A re-run of background removal: its background.removed may be consumed before its removal_started
    (different topics). The result moves the model on, and the late start does not wipe its warnings."""
    failed = state(S.FAILED, status_changed_at=T0 + timedelta(seconds=5), error_code="no_subject_found")
    removed = EVENTS[K.BACKGROUND_REMOVED]().model_copy(
        update={"view_warnings": {"right": [ViewWarning(code="outline_from_opposite", message="...")]}}
    )
    result = decide(failed, of_run(removed, triggered=10, occurred=12))
    assert isinstance(result, Applied) and result.new.status == S.REMOVING_BACKGROUND
    late_start = decide(result.new, of_run(EVENTS[K.BACKGROUND_REMOVAL_STARTED](), triggered=10, occurred=11))
    assert isinstance(late_start, Applied) and late_start.new.status == S.REMOVING_BACKGROUND
    assert [w["code"] for w in late_start.new.photo_warnings["right"]] == ["outline_from_opposite"]
    # the result of the run that failed, consumed late, still only records its keys
    old = decide(failed, of_run(removed, triggered=0, occurred=4))
    assert isinstance(old, Applied) and old.new.status == S.FAILED


def test_progress_and_keys_are_not_subject_to_the_clock():
    running = state(S.REMOVING_BACKGROUND, status_changed_at=T0 + timedelta(seconds=30))
    assert isinstance(decide(running, at(EVENTS[K.BACKGROUND_PROGRESSED](), 1)), Applied)
    assert isinstance(decide(running, at(EVENTS[K.BACKGROUND_REMOVED](), 1)), Applied)


def test_status_changed_at_follows_status_changes_only():
    running = state(S.REMOVING_BACKGROUND, status_changed_at=T0)
    progressed = decide(running, at(EVENTS[K.BACKGROUND_PROGRESSED](), 5)).new
    assert progressed.status_changed_at == T0
    generating = decide(progressed, at(EVENTS[K.GENERATION_STARTED](), 6)).new
    assert generating.status_changed_at == T0 + timedelta(seconds=6)


@pytest.mark.parametrize(
    ("start", "to", "expected"),
    [
        (None, S.DRAFT, [S.DRAFT]),
        (S.DRAFT, S.UPLOADING_PHOTOS, [S.UPLOADING_PHOTOS]),
        (S.UPLOADING_PHOTOS, S.REMOVING_BACKGROUND, [S.PHOTOS_UPLOADED, S.REMOVING_BACKGROUND]),
        (
            S.DRAFT,
            S.COMPLETED,
            [
                S.UPLOADING_PHOTOS,
                S.PHOTOS_UPLOADED,
                S.REMOVING_BACKGROUND,
                S.GENERATING_3D_MODEL,
                S.COMPLETED,
            ],
        ),
        (S.REMOVING_BACKGROUND, S.FAILED, [S.FAILED]),
        (S.FAILED, S.REMOVING_BACKGROUND, [S.REMOVING_BACKGROUND]),
        (S.FAILED, S.COMPLETED, [S.GENERATING_3D_MODEL, S.COMPLETED]),
    ],
)
def test_a_move_passes_through_every_earlier_status_in_order(start, to, expected):
    assert domain.passed_through(start, to) == expected

"""The Tencent Hunyuan 3D client against a local ai3d server that verifies signatures and limits."""

from __future__ import annotations

import base64
import io
import logging
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from photo3d_generation.providers import (
    GenerationInputs,
    JobHandle,
    ProviderAccountError,
    ProviderAuthError,
    ProviderConfigError,
    ProviderInputError,
    ProviderJobFailed,
    ProviderLimitError,
    ProviderTimeout,
    ProviderUnavailable,
    ResultExpired,
    TencentHunyuanProvider,
    TencentSettings,
    run_job,
)
from photo3d_generation.providers.base import TransientError
from photo3d_generation.providers.tencent import classify_api_error, prepare_images
from tests.fakes.assets import box_glb, box_obj_zip, cutout_png, preview_png
from tests.fakes.tencent import QUERY, SUBMIT, FakeTencentAi3d, Fault, ResultFile, ScriptedJob

COLOURS = {"front": (200, 40, 40), "left": (40, 200, 40), "right": (40, 40, 200), "back": (200, 200, 40)}


def cutouts(size=(256, 256)) -> GenerationInputs:
    return GenerationInputs(images={view: cutout_png(size, colour) for view, colour in COLOURS.items()})


def noisy_png(size: tuple[int, int], seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    pixels[..., 3] = 255
    out = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def fake():
    with FakeTencentAi3d() as server:
        yield server


def make_provider(fake: FakeTencentAi3d, **overrides) -> TencentHunyuanProvider:
    return fake.provider(**overrides)


async def test_success_after_polls_downloads_every_result_file(fake) -> None:
    fake.script_job(ScriptedJob(wait_polls=1, run_polls=2))
    provider = make_provider(fake, face_count=100000, enable_pbr=True)
    submitted: list[JobHandle] = []
    progress: list[tuple[float, str]] = []
    inputs = cutouts()

    assets = await run_job(
        provider,
        inputs,
        on_submitted=submitted.append,
        on_progress=lambda value, detail: progress.append((value, detail)),
    )
    await provider.aclose()

    assert assets.glb == box_glb()
    assert assets.get("obj").data == box_obj_zip() and assets.get("obj").is_zip
    assert assets.preview == preview_png()
    assert len(submitted) == 1 and submitted[0].job_id == assets.job_id
    assert submitted[0].fingerprint == provider.fingerprint(inputs)
    assert len(fake.calls(SUBMIT)) == 1 and len(fake.calls(QUERY)) == 4
    assert progress[0] == (0.05, "queued at Tencent Hunyuan 3D")
    assert progress[-1][0] == 0.95
    assert [p for p, _ in progress] == sorted(p for p, _ in progress)

    submit = fake.calls(SUBMIT)[0]
    assert submit.headers["X-TC-Version"] == "2025-05-13"
    assert submit.headers["X-TC-Region"] == "ap-guangzhou"
    assert base64.b64decode(submit.params["ImageBase64"]) == inputs.images["front"]
    views = submit.params["MultiViewImages"]
    assert [v["ViewType"] for v in views] == ["left", "right", "back"]
    assert [base64.b64decode(v["ViewImageBase64"]) for v in views] == [
        inputs.images["left"],
        inputs.images["right"],
        inputs.images["back"],
    ]
    assert submit.params["EnablePBR"] is True and submit.params["FaceCount"] == 100000


async def test_a_stored_handle_resumes_the_job_without_submitting_again(fake) -> None:
    fake.script_job(ScriptedJob(run_polls=3))
    first = make_provider(fake)
    handle = await first.submit(cutouts())
    await first.aclose()
    stored = handle.model_dump_json()

    # A restarted worker: new provider, handle read back from storage.
    second = make_provider(fake)
    assets = await run_job(second, cutouts(), existing_handle=JobHandle.model_validate_json(stored))
    await second.aclose()

    assert assets.glb == box_glb()
    assert len(fake.calls(SUBMIT)) == 1


async def test_a_failed_job_reports_its_error_code(fake) -> None:
    fake.script_job(
        ScriptedJob(outcome="FAIL", error_code="FailedOperation.ImageRecognize", error_message="no object")
    )
    provider = make_provider(fake)
    with pytest.raises(ProviderJobFailed) as caught:
        await run_job(provider, cutouts())
    await provider.aclose()
    assert caught.value.error_code == "FailedOperation.ImageRecognize"
    assert "no object" in caught.value.user_message
    assert not caught.value.retryable and caught.value.discard_job


async def test_a_job_failing_with_an_internal_error_may_be_retried(fake) -> None:
    fake.script_job(ScriptedJob(outcome="FAIL", error_code="InternalError", error_message="oops"))
    provider = make_provider(fake)
    with pytest.raises(ProviderJobFailed) as caught:
        await run_job(provider, cutouts())
    await provider.aclose()
    assert caught.value.retryable


async def test_a_wrong_secret_key_fails_the_signature_check_once(fake) -> None:
    provider = make_provider(fake, secret_key="not-the-key")
    with pytest.raises(ProviderAuthError) as caught:
        await run_job(provider, cutouts())
    await provider.aclose()
    assert "AuthFailure.SignatureFailure" in str(caught.value)
    assert not caught.value.retryable
    assert [r.outcome for r in fake.requests] == ["AuthFailure.SignatureFailure"]
    assert fake.jobs == {}


async def test_an_unknown_secret_id_is_an_auth_error_given_with_http_4xx(fake) -> None:
    fake.inject(
        SUBMIT, Fault.api_error("AuthFailure.SecretIdNotFound", "The SecretId is not found", http_status=401)
    )
    provider = make_provider(fake)
    with pytest.raises(ProviderAuthError):
        await run_job(provider, cutouts())
    await provider.aclose()


async def test_an_input_over_the_servers_limit_is_a_limit_error(fake) -> None:
    fake.max_images_base64_bytes = 20_000
    provider = make_provider(fake)  # the client's own budget (8 MB) is larger than this server's
    inputs = GenerationInputs(images={"front": noisy_png((200, 200), 1), "left": noisy_png((200, 200), 2)})
    with pytest.raises(ProviderLimitError):
        await run_job(provider, inputs)
    await provider.aclose()
    assert fake.requests[-1].outcome == "RequestSizeLimitExceeded"


async def test_an_invalid_parameter_is_an_input_error_with_tencents_message(fake) -> None:
    fake.inject(SUBMIT, Fault.api_error("InvalidParameterValue", "image content not supported"))
    provider = make_provider(fake)
    with pytest.raises(ProviderInputError) as caught:
        await run_job(provider, cutouts())
    await provider.aclose()
    assert "image content not supported" in caught.value.user_message
    assert len(fake.calls(SUBMIT)) == 1


async def test_large_images_are_reencoded_to_fit_the_8mb_budget(fake) -> None:
    budget = 600_000
    fake.max_images_base64_bytes = budget
    provider = make_provider(fake, max_images_base64_bytes=budget)
    inputs = GenerationInputs(images={view: noisy_png((700, 700), i) for i, view in enumerate(COLOURS)})
    assert sum(len(b) for b in inputs.images.values()) * 4 / 3 > budget

    assets = await run_job(provider, inputs)
    await provider.aclose()

    assert assets.glb == box_glb()
    submit = fake.calls(SUBMIT)[0].params
    encoded = [submit["ImageBase64"], *(v["ViewImageBase64"] for v in submit["MultiViewImages"])]
    assert sum(len(e) for e in encoded) <= budget
    assert all(Image.open(io.BytesIO(base64.b64decode(e))).format == "JPEG" for e in encoded)


def test_prepare_images_keeps_images_within_limits_untouched() -> None:
    front = cutout_png((300, 300))
    assert prepare_images({"front": front}) == {"front": (front, "PNG")}


def test_prepare_images_downscales_sides_over_the_maximum() -> None:
    prepared = prepare_images({"front": cutout_png((1200, 600))}, max_side=512)
    image = Image.open(io.BytesIO(prepared["front"][0]))
    assert image.size == (512, 256) and image.mode == "RGBA"


def test_prepare_images_refuses_images_smaller_than_128_px() -> None:
    with pytest.raises(ProviderLimitError) as caught:
        prepare_images({"front": cutout_png((100, 300))})
    assert "100x300" in caught.value.user_message


def test_prepare_images_gives_up_when_nothing_fits() -> None:
    with pytest.raises(ProviderLimitError):
        prepare_images({"front": noisy_png((300, 300), 3)}, max_total_base64_bytes=1_000)


async def test_5xx_on_submit_is_retried_without_creating_two_jobs(fake) -> None:
    fake.inject(SUBMIT, Fault.http_error(503), Fault.http_error(502))
    provider = make_provider(fake)
    assets = await run_job(provider, cutouts())
    await provider.aclose()
    assert assets.glb == box_glb()
    assert [r.outcome for r in fake.calls(SUBMIT)] == ["http 503", "http 502", "ok"]
    assert len(fake.jobs) == 1


async def test_throttling_and_dropped_connections_on_query_are_retried(fake) -> None:
    fake.inject(
        QUERY,
        Fault.api_error("RequestLimitExceeded", "too many requests"),
        Fault.dropped(),
        Fault.http_error(500),
    )
    provider = make_provider(fake)
    assets = await run_job(provider, cutouts())
    await provider.aclose()
    assert assets.glb == box_glb()
    assert [r.outcome for r in fake.calls(QUERY)][:3] == ["RequestLimitExceeded", "dropped", "http 500"]


async def test_a_submit_whose_answer_was_lost_is_not_resent(fake) -> None:
    fake.inject(SUBMIT, Fault.dropped())
    provider = make_provider(fake)
    with pytest.raises(ProviderUnavailable) as caught:
        await run_job(provider, cutouts())
    await provider.aclose()
    assert "not resent" in str(caught.value)
    assert len(fake.calls(SUBMIT)) == 1


async def test_persistent_5xx_ends_as_unavailable_after_the_retries(fake) -> None:
    fake.inject(QUERY, *[Fault.http_error(503)] * 10)
    provider = make_provider(fake, max_attempts=3)
    with pytest.raises(ProviderUnavailable) as caught:
        await run_job(provider, cutouts())
    await provider.aclose()
    assert caught.value.retryable and not caught.value.discard_job
    assert len(fake.calls(QUERY)) == 3


async def test_a_job_that_never_finishes_times_out_at_the_deadline(fake) -> None:
    fake.script_job(ScriptedJob(outcome="NEVER"))
    provider = make_provider(fake)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        await run_job(provider, cutouts(), deadline_s=0.4)
    await provider.aclose()
    assert 0.4 <= time.monotonic() - started < 3
    assert "timed out" in caught.value.user_message and caught.value.retryable
    assert len(fake.calls(QUERY)) >= 3


async def test_an_expired_result_url_is_result_expired(fake) -> None:
    fake.script_job(ScriptedJob(files=[ResultFile("GLB", box_glb(), http_status=403)]))
    provider = make_provider(fake)
    with pytest.raises(ResultExpired) as caught:
        await run_job(provider, cutouts())
    await provider.aclose()
    assert "403" in str(caught.value) and caught.value.discard_job


async def test_a_broken_result_url_is_result_expired(fake) -> None:
    fake.script_job(ScriptedJob(files=[ResultFile("GLB", box_glb(), http_status=404)]))
    provider = make_provider(fake)
    with pytest.raises(ResultExpired):
        await run_job(provider, cutouts())
    await provider.aclose()


async def test_a_download_hitting_5xx_is_retried(fake) -> None:
    fake.inject("files", Fault.http_error(503), Fault.dropped())
    provider = make_provider(fake)
    assets = await run_job(provider, cutouts())
    await provider.aclose()
    assert assets.glb == box_glb()


async def test_a_job_unknown_to_tencent_cannot_be_resumed(fake) -> None:
    provider = make_provider(fake)
    handle = JobHandle(provider="tencent", job_id="999", submitted_at=datetime.now(UTC))
    with pytest.raises(ResultExpired):
        await run_job(provider, cutouts(), existing_handle=handle)
    await provider.aclose()


async def test_a_job_resumed_after_its_deadline_is_still_collected_when_done(fake) -> None:
    fake.script_job(ScriptedJob(run_polls=0))
    provider = make_provider(fake)
    handle = await provider.submit(cutouts())
    late = handle.model_copy(update={"submitted_at": handle.submitted_at - timedelta(hours=1)})
    assets = await run_job(provider, cutouts(), existing_handle=late, deadline_s=60)
    assert assets.glb == box_glb()

    fake.script_job(ScriptedJob(outcome="NEVER"))
    running = await provider.submit(cutouts())
    running = running.model_copy(update={"submitted_at": running.submitted_at - timedelta(hours=1)})
    with pytest.raises(ProviderTimeout):
        await run_job(provider, cutouts(), existing_handle=running, deadline_s=60)
    await provider.aclose()


def test_validate_requires_credentials() -> None:
    with pytest.raises(ProviderConfigError) as caught:
        TencentHunyuanProvider(TencentSettings(secret_id="id", secret_key=None)).validate()
    assert "GENERATION_TENCENT_SECRET_KEY" in str(caught.value)
    TencentHunyuanProvider(TencentSettings(secret_id="id", secret_key="key")).validate()


async def test_secrets_never_reach_the_logs(fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    settings = TencentSettings(endpoint=fake.url, secret_id=fake.secret_id, secret_key=fake.secret_key)
    assert fake.secret_key not in repr(settings)
    fake.inject(QUERY, Fault.http_error(503))
    provider = make_provider(fake)
    await run_job(provider, cutouts())
    await provider.aclose()
    assert "retrying" in caplog.text
    assert fake.secret_key not in caplog.text


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AuthFailure.SignatureExpire", ProviderAuthError),
        ("UnauthorizedOperation", ProviderAuthError),
        ("RequestLimitExceeded.UinLimitExceeded", TransientError),
        ("LimitExceeded", TransientError),
        ("InternalError", TransientError),
        ("RequestSizeLimitExceeded", ProviderLimitError),
        ("InvalidParameterValue", ProviderInputError),
        ("MissingParameter", ProviderInputError),
        ("ResourceInsufficient.ChargeResourceExhaust", ProviderAccountError),
        ("ResourceUnavailable.InArrears", ProviderAccountError),
        ("InvalidAction", ProviderConfigError),
        ("ResourceNotFound", ResultExpired),
        ("FailedOperation", ProviderJobFailed),
    ],
)
def test_api_error_codes_map_to_sensible_classes(code, expected) -> None:
    error = classify_api_error(code, "message", request_id="r-1")
    assert type(error) is expected

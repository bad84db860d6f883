"""The self-hosted Hunyuan3D-2 client against a local server that follows api_server.py's protocol."""

from __future__ import annotations

import base64
import time

import pytest

from photo3d_generation.providers import (
    GenerationInputs,
    GenerationProvider,
    JobHandle,
    ProviderConfigError,
    ProviderJobFailed,
    ProviderProtocolError,
    ProviderTimeout,
    ProviderUnavailable,
    ResultExpired,
    SelfHostedHunyuanProvider,
    SelfHostedSettings,
    run_job,
)
from tests.fakes.assets import box_glb, cutout_png
from tests.fakes.selfhosted import FakeHunyuanServer, Fault, ScriptedJob

INPUTS = GenerationInputs(
    images={
        "front": cutout_png(colour=(200, 40, 40)),
        "left": cutout_png(colour=(40, 200, 40)),
        "right": cutout_png(colour=(40, 40, 200)),
        "back": cutout_png(colour=(200, 200, 40)),
    }
)


@pytest.fixture
def fake():
    with FakeHunyuanServer() as server:
        yield server


def make_provider(fake: FakeHunyuanServer, **overrides) -> SelfHostedHunyuanProvider:
    return fake.provider(**overrides)


async def test_send_then_status_until_completed(fake) -> None:
    fake.script_job(ScriptedJob(processing_polls=3))
    provider = make_provider(fake, face_count=20000, octree_resolution=256)
    handles: list[JobHandle] = []
    assets = await run_job(provider, INPUTS, on_submitted=handles.append)
    await provider.aclose()

    assert assets.glb == box_glb() and [f.format for f in assets.files] == ["glb"]
    assert fake.count("POST", "/send") == 1 and fake.count("GET", "/status/") == 4
    (job,) = fake.jobs.values()
    assert handles[0].job_id == job.uid
    # One image only: the front cut-out, as the server's pipeline takes a single picture.
    assert base64.b64decode(job.params["image"]) == INPUTS.images["front"]
    assert not any(key.startswith("image_") for key in job.params)
    assert job.params["type"] == "glb" and job.params["texture"] is True
    assert job.params["face_count"] == 20000 and job.params["octree_resolution"] == 256


async def test_multiview_servers_get_the_other_views_too(fake) -> None:
    provider = make_provider(fake, send_multiview=True)
    await run_job(provider, INPUTS)
    await provider.aclose()
    (job,) = fake.jobs.values()
    assert {key for key in job.params if key.startswith("image")} == {
        "image",
        "image_left",
        "image_right",
        "image_back",
    }
    assert base64.b64decode(job.params["image_back"]) == INPUTS.images["back"]


async def test_a_job_that_stays_processing_times_out(fake) -> None:
    fake.script_job(ScriptedJob(never_completes=True))
    provider = make_provider(fake)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        await run_job(provider, INPUTS, deadline_s=0.3)
    await provider.aclose()
    assert 0.3 <= time.monotonic() - started < 3
    assert caught.value.job_id == next(iter(fake.jobs))


async def test_a_broken_input_dies_silently_on_the_server_and_times_out(fake) -> None:
    provider = make_provider(fake)
    broken = GenerationInputs(images={"front": b"not an image"})
    with pytest.raises(ProviderTimeout):
        await run_job(provider, broken, deadline_s=0.2)
    await provider.aclose()


async def test_5xx_and_dropped_connections_are_retried(fake) -> None:
    fake.inject("send", Fault.http_error(502))
    fake.inject("status", Fault.dropped(), Fault.http_error(503))
    provider = make_provider(fake)
    assets = await run_job(provider, INPUTS)
    await provider.aclose()
    assert assets.glb == box_glb()
    assert fake.count("POST", "/send") == 2


async def test_persistent_5xx_on_status_ends_as_unavailable(fake) -> None:
    fake.inject("status", *[Fault.http_error(500)] * 10)
    provider = make_provider(fake, max_attempts=3)
    with pytest.raises(ProviderUnavailable):
        await run_job(provider, INPUTS)
    await provider.aclose()
    assert fake.count("GET", "/status/") == 3


async def test_a_completed_job_that_is_not_a_glb_is_rejected(fake) -> None:
    fake.script_job(ScriptedJob(model=b"solid box\nendsolid\n"))
    provider = make_provider(fake)
    with pytest.raises(ProviderProtocolError):
        await run_job(provider, INPUTS)
    await provider.aclose()


async def test_resuming_polls_the_stored_job_without_sending_again(fake) -> None:
    fake.script_job(ScriptedJob(processing_polls=2))
    provider = make_provider(fake)
    handle = await provider.submit(INPUTS)
    restarted = make_provider(fake)
    assets = await run_job(
        restarted, INPUTS, existing_handle=JobHandle.model_validate_json(handle.model_dump_json())
    )
    await provider.aclose()
    await restarted.aclose()
    assert assets.glb == box_glb()
    assert fake.count("POST", "/send") == 1


async def test_sync_mode_uses_generate(fake) -> None:
    provider = make_provider(fake, mode="sync")
    assets = await run_job(provider, INPUTS)
    await provider.aclose()
    assert assets.glb == box_glb()
    assert fake.count("POST", "/generate") == 1 and fake.count("POST", "/send") == 0
    assert base64.b64decode(fake.generate_params[0]["image"]) == INPUTS.images["front"]


async def test_sync_mode_failure_is_a_retryable_job_failure(fake) -> None:
    fake.generate_fails = True
    provider = make_provider(fake, mode="sync")
    with pytest.raises(ProviderJobFailed) as caught:
        await run_job(provider, INPUTS)
    await provider.aclose()
    assert caught.value.retryable and "NETWORK ERROR" in caught.value.error_message


async def test_a_sync_result_lost_in_a_restart_cannot_be_resumed(fake) -> None:
    provider = make_provider(fake, mode="sync")
    handle = await provider.submit(INPUTS)
    await provider.aclose()
    restarted = make_provider(fake, mode="sync")
    with pytest.raises(ResultExpired):
        await run_job(restarted, INPUTS, existing_handle=handle)
    await restarted.aclose()


def test_validate_requires_a_base_url() -> None:
    with pytest.raises(ProviderConfigError):
        SelfHostedHunyuanProvider(SelfHostedSettings(base_url=None)).validate()
    with pytest.raises(ProviderConfigError):
        SelfHostedHunyuanProvider(SelfHostedSettings(base_url="gpu-box:8081")).validate()
    SelfHostedHunyuanProvider(SelfHostedSettings(base_url="http://gpu-box:8081")).validate()


async def test_async_callbacks_are_awaited_and_the_provider_fits_the_interface(fake) -> None:
    provider = make_provider(fake)
    assert isinstance(provider, GenerationProvider)
    seen: list[str] = []

    async def on_submitted(handle: JobHandle) -> None:
        seen.append(f"submitted {handle.job_id}")

    async def on_progress(progress: float, detail: str) -> None:
        seen.append(f"{progress:.2f} {detail}")

    await run_job(provider, INPUTS, on_submitted=on_submitted, on_progress=on_progress)
    await provider.aclose()
    assert seen[0].startswith("submitted ") and seen[-1] == "0.95 downloading the generated model"


async def test_a_handle_of_another_provider_is_refused(fake) -> None:
    provider = make_provider(fake)
    foreign = JobHandle(provider="tencent", job_id="1", submitted_at="2026-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="tencent"):
        await run_job(provider, INPUTS, existing_handle=foreign)
    await provider.aclose()
    assert fake.requests == []

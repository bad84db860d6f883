"""``run_job`` reports a job's status changes at once and its progress at most every
``PROGRESS_REPORT_INTERVAL_S``: each report is a message and a status-service transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from photo3d_generation.providers import base
from photo3d_generation.providers.base import (
    GeneratedAssets,
    GenerationInputs,
    JobHandle,
    JobState,
    JobStatus,
    run_job,
)
from tests.fakes.assets import cutout_png

INPUTS = GenerationInputs(images={"front": cutout_png()})


class ScriptedProvider:
    """Answers each poll with the next scripted state, then SUCCEEDED."""

    name = "scripted"
    resumable = False
    default_deadline_s = 10.0
    expected_duration_s = 1.0
    poll_interval_s = 0.01
    max_poll_interval_s = 0.01
    poll_backoff = 1.0

    def __init__(self, states: list[JobState]) -> None:
        self.states = list(states)

    async def submit(self, inputs: GenerationInputs) -> JobHandle:
        return JobHandle(provider=self.name, job_id="job-1", submitted_at=datetime.now(UTC))

    async def poll(self, handle: JobHandle) -> JobState:
        return self.states.pop(0) if self.states else JobState(status=JobStatus.SUCCEEDED)

    async def fetch_result(self, handle: JobHandle, state: JobState) -> GeneratedAssets:
        return GeneratedAssets(provider=self.name, job_id=handle.job_id, files=[])


async def reports(states: list[JobState]) -> list[tuple[float, str]]:
    seen: list[tuple[float, str]] = []
    await run_job(ScriptedProvider(states), INPUTS, on_progress=lambda p, d: seen.append((p, d)))
    return seen


async def test_progress_alone_is_reported_at_most_once_per_interval(monkeypatch) -> None:
    monkeypatch.setattr(base, "PROGRESS_REPORT_INTERVAL_S", 60.0)
    running = [JobState(status=JobStatus.RUNNING, progress=p / 10, detail=f"step {p}") for p in range(1, 9)]
    assert await reports(running) == [(0.1, "step 1"), (0.95, "downloading the generated model")]


async def test_a_change_of_status_is_reported_at_once(monkeypatch) -> None:
    monkeypatch.setattr(base, "PROGRESS_REPORT_INTERVAL_S", 60.0)
    states = [
        JobState(status=JobStatus.QUEUED, detail="queued"),
        JobState(status=JobStatus.QUEUED, detail="queued"),
        JobState(status=JobStatus.RUNNING, progress=0.3, detail="running"),
    ]
    assert [detail for _, detail in await reports(states)] == [
        "queued",
        "running",
        "downloading the generated model",
    ]


async def test_progress_is_reported_again_once_the_interval_passed(monkeypatch) -> None:
    monkeypatch.setattr(base, "PROGRESS_REPORT_INTERVAL_S", 0.0)
    running = [JobState(status=JobStatus.RUNNING, progress=p / 10) for p in (1, 1, 2, 3)]
    assert [p for p, _ in await reports(running)] == pytest.approx([0.1, 0.2, 0.3, 0.95])

"""``side_by_side``: independent pieces of one computation, their results in order, their errors raised."""

from __future__ import annotations

import threading

import pytest

from photo3d_common.concurrency import side_by_side


def test_the_calls_run_at_once_and_their_results_come_in_order():
    together = threading.Barrier(3, timeout=10)  # one at a time, the first call never gets past it

    def call(value: int):
        return lambda: (together.wait(), value)[1]

    assert side_by_side([call(1), call(2), call(3)], threads=3) == [1, 2, 3]


def test_one_thread_runs_them_one_after_another_in_this_thread():
    caller = threading.get_ident()
    assert side_by_side([threading.get_ident, threading.get_ident], threads=1) == [caller, caller]


def test_an_error_is_raised_after_every_call_has_ended():
    ended: list[str] = []
    slow_started = threading.Event()

    def failing() -> str:
        slow_started.wait(timeout=10)
        raise ValueError("the first piece failed")

    def slow() -> str:
        slow_started.set()
        threading.Event().wait(0.2)
        ended.append("slow")
        return "slow"

    with pytest.raises(ValueError, match="first piece"):
        side_by_side([failing, slow], threads=2)
    assert ended == ["slow"]

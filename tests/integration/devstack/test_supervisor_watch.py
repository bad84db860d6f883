"""The make-run supervisor notices a dead infrastructure process (issue 9) as it notices a dead service."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from photo3d_devstack.process import ManagedProcess
from photo3d_devstack.supervisor import StackFailed, Supervisor


@dataclass
class Server:
    process: ManagedProcess


def test_a_dead_infrastructure_process_stops_the_run_with_its_name():
    crashing = ManagedProcess(
        "kafka", [sys.executable, "-c", "import sys; print('broker: storage gone'); sys.exit(3)"]
    ).start()
    alive = ManagedProcess("postgres", [sys.executable, "-c", "import time; time.sleep(60)"]).start()
    supervisor = Supervisor({}, [], infrastructure=[("postgres", Server(alive)), ("kafka", Server(crashing))])
    try:
        with pytest.raises(StackFailed) as failed:
            supervisor.watch(poll_interval=0.05)
    finally:
        alive.stop(5)
        crashing.stop(5)
    assert "kafka (infrastructure) exited (code 3)" in str(failed.value)
    assert "broker: storage gone" in str(failed.value)

"""Users of the running system (``tests.system.running_system``, shared with the browser tests)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.system import System, User


@pytest.fixture
async def alice(running_system: System) -> Any:
    user = User(running_system, "alice")
    yield user
    await user.http.aclose()


@pytest.fixture
async def mallory(running_system: System) -> Any:
    user = User(running_system, "mallory")
    yield user
    await user.http.aclose()

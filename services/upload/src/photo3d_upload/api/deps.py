"""Dependencies the controllers ask for by name: the service's ``Deps`` (opened by ``bootstrap`` in the
lifespan, kept in ``app.state.deps``) and the caller."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from photo3d_common.auth import Principal
from photo3d_upload.bootstrap import Deps
from photo3d_upload.handlers import Caller


def provide_deps(state: State) -> Deps:
    deps: Deps = state.deps
    return deps


def provide_caller(request: Request[Principal, str, Any]) -> Caller:
    return Caller(subject=request.user.subject, token=request.auth)

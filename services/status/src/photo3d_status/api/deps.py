"""Dependencies the controllers ask for by name: the service's ``Deps`` (opened by ``bootstrap`` in the
lifespan, kept in ``app.state.deps``), its use cases and the signed-in owner."""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from photo3d_common.auth import Principal
from photo3d_status.bootstrap import Deps
from photo3d_status.service import ModelService

#: The use cases (``models: Models``).
Models: TypeAlias = NamedDependency[ModelService]
#: The signed-in user's subject, the owner of their models (``owner: Owner``).
Owner: TypeAlias = NamedDependency[str]
#: Everything the running service opened (``deps: Dependencies``).
Dependencies: TypeAlias = NamedDependency[Deps]


def provide_deps(state: State) -> Deps:
    deps: Deps = state.deps
    return deps


def provide_models(state: State) -> ModelService:
    return provide_deps(state).models


def provide_owner(request: Request[Principal, Any, Any]) -> str:
    return request.user.subject

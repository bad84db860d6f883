"""Dependencies the controllers ask for by name; built once in the composition root (``app.py``)."""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from photo3d_common.auth import Principal
from photo3d_status.service import ModelService

#: The use cases (``models: Models``).
Models: TypeAlias = NamedDependency[ModelService]
#: The signed-in user's subject, the owner of their models (``owner: Owner``).
Owner: TypeAlias = NamedDependency[str]


def provide_models(state: State) -> ModelService:
    return state.runtime.models


def provide_owner(request: Request[Principal, Any, Any]) -> str:
    return request.user.subject

"""Looks models up in the status service, the only owner of models, as the caller (their token forwarded),
so ownership is decided in one place: another user's model and a missing one both answer 404."""

from __future__ import annotations

import uuid

import httpx
from pydantic import ValidationError

from photo3d_common.errors import (
    DatabaseUnavailable,
    NotFound,
    ServiceUnavailable,
    StorageUnavailable,
    Unauthenticated,
)
from photo3d_common.logging import get_logger
from photo3d_upload.rules import ModelSnapshot

log = get_logger(__name__)


#: What the status service's 503 says is down, passed on to the caller under the same code.
_PASSED_ON = {error.code: error for error in (DatabaseUnavailable, StorageUnavailable)}


def _unavailable(response: httpx.Response) -> ServiceUnavailable:
    try:
        error = response.json()["error"]
        return _PASSED_ON[error["code"]](message=error["message"])
    except (ValueError, KeyError, TypeError):
        return ServiceUnavailable(
            f"the status service answered {response.status_code}: nothing was stored, try again in a moment",
            code="status_unavailable",
        )


class StatusClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def ping(self) -> None:
        """Raises unless the status service is alive (readiness)."""
        response = await self.http.get("/health")
        response.raise_for_status()

    async def get_model(self, model_id: uuid.UUID, token: str) -> ModelSnapshot:
        try:
            response = await self.http.get(
                f"/api/models/{model_id}", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as error:
            log.warning("status service unreachable", error=f"{type(error).__name__}: {error}")
            raise ServiceUnavailable(
                "the status service cannot be reached right now: nothing was stored, try again in a moment",
                code="status_unavailable",
            ) from error
        if response.status_code in (403, 404):
            raise NotFound(f"there is no model {model_id} of yours", code="model_not_found")
        if response.status_code == 401:
            raise Unauthenticated("the status service did not accept your token: sign in again")
        if response.status_code != 200:
            log.warning("status service error", status_code=response.status_code, body=response.text[:500])
            raise _unavailable(response)
        try:
            return ModelSnapshot.model_validate_json(response.content)
        except ValidationError as error:
            log.error("status service sent an unexpected model", error=str(error))
            raise ServiceUnavailable(
                "the status service sent a model this service does not understand", code="status_unavailable"
            ) from error

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from litestar import Controller, get
from litestar.params import FromPath, FromQuery, Parameter
from litestar.response import Stream

from photo3d_common.web import error_responses
from photo3d_status.api.deps import Models, Owner
from photo3d_status.service import MAX_FILE_PATH, FileDownload


def _response(download: FileDownload, attachment: bool) -> Stream:
    disposition = "attachment" if attachment else "inline"
    return Stream(
        download.chunks,
        media_type=download.content_type,
        headers={
            "Content-Length": str(download.info.size),
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(download.filename)}",
            "Cache-Control": "private, no-cache",
            **({"ETag": f'"{download.info.etag}"'} if download.info.etag else {}),
        },
    )


class ModelFilesController(Controller):
    path = "/api/models/{model_id:uuid}/files"
    tags = ("files",)

    @get(
        "/{path:path}",
        operation_id="getModelFile",
        summary="A stored file of the model (original, cut-out, asset)",
        description="Sent with its stored content type, `X-Content-Type-Options: nosniff` and "
        "`Content-Disposition` (`inline`, or `attachment` with `download=true`).",
        response_description="the file's bytes",
        responses=error_responses(
            401,
            404,
            (422, "the path is not a file path below the model (`invalid_file_path`)"),
            503,
        ),
    )
    async def get_file(
        self,
        model_id: FromPath[uuid.UUID],
        path: Annotated[
            str,
            Parameter(
                description="relative to the model, e.g. assets/model.glb",
                max_length=MAX_FILE_PATH,
                pattern=r"^/?[^\x00-\x1f\x7f]+$",
            ),
        ],
        models: Models,
        owner: Owner,
        download: FromQuery[bool] = False,
    ) -> Stream:
        return _response(await models.open_file(owner, model_id, path.lstrip("/")), download)

from __future__ import annotations

import uuid
from urllib.parse import quote

from litestar import Controller, get
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from photo3d_status.api.deps import Models, Owner
from photo3d_status.service import FileDownload


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
        description="`download=1` asks the browser to save it (Content-Disposition: attachment).",
    )
    async def get_file(
        self,
        model_id: FromPath[uuid.UUID],
        path: FromPath[str],
        models: Models,
        owner: Owner,
        download: FromQuery[bool] = False,
    ) -> Stream:
        return _response(await models.open_file(owner, model_id, path.lstrip("/")), download)

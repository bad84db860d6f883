from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import MultipartBody

from photo3d_common.web import error_responses
from photo3d_common.wiring import inject_dependencies
from photo3d_upload.api.schemas import PhotoStoredResponse, PhotoUploadForm
from photo3d_upload.bootstrap import Deps
from photo3d_upload.creation import creation_enabled
from photo3d_upload.handlers import Caller, upload_photo

_ERRORS = (
    "401 without a valid token; 404 for a missing model or another user's; 409 while the model is being "
    "processed or once it is completed; 413 past the size limit; 415 when the bytes are not a JPEG, PNG, WebP "
    "or HEIC image; 422 for an unknown view, a bad model id, wrong dimensions, a decompression bomb or a "
    "truncated/corrupt image. Nothing is stored when the answer is an error."
)


class PhotoController(Controller):
    path = "/api"
    guards = (creation_enabled,)  # 503 creation_disabled while the operator has creation switched off
    tags = ("photos",)

    @post(
        "/upload-photo",
        operation_id="uploadPhoto",
        summary="Upload (or replace) one view's photo",
        description="Stores the photo at models/{model_id}/originals/{view} and publishes photos.uploaded; "
        "the upload that completes the set of four starts background removal. " + _ERRORS,
        status_code=201,
        responses=error_responses(
            401,
            (404, "no such model of yours (`model_not_found`)"),
            (409, "the model is being processed or is completed (the code says which)"),
            (413, "the photo is larger than UPLOAD_MAX_BYTES (`file_too_large`)"),
            (415, "the bytes are not a JPEG, PNG, WebP or HEIC image (`unsupported_image_type`)"),
            (
                422,
                (
                    "an unknown view, a bad model id, wrong dimensions, a decompression bomb, an animated "
                    "or a truncated/corrupt image (the code says which)"
                ),
            ),
            503,
        ),
    )
    async def upload(
        self,
        data: MultipartBody[PhotoUploadForm],
        deps: NamedDependency[Deps],
        caller: NamedDependency[Caller],
    ) -> PhotoStoredResponse:
        stored = await inject_dependencies(upload_photo, deps)(
            model_id=data.model_id,
            view=data.view,
            file=data.file.file,
            filename=data.file.filename,
            caller=caller,
        )
        return PhotoStoredResponse.model_validate(stored, from_attributes=True)

"""``python -m photo3d_upload``: serve the upload API with uvicorn on UPLOAD_HOST:UPLOAD_PORT."""

from __future__ import annotations

import uvicorn

from photo3d_upload.app import create_app
from photo3d_upload.settings import UploadSettings


def main() -> None:
    settings = UploadSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # structlog (configure_logging) renders uvicorn's lines too
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()

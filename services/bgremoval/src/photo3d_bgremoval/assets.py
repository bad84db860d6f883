"""Set-up hook for ``make setup-assets`` / ``photo3d setup-assets``: the model file, and numba's cache.

Idempotent and quick when done before: the model file is checked by md5, and numba reuses its cache.
"""

from __future__ import annotations

import logging

from .model_files import KNOWN_SOURCES, install
from .remover import BackgroundRemovalSettings, ModelFileMissing, prepare_process

log = logging.getLogger(__name__)


def ensure_assets(settings: BackgroundRemovalSettings | None = None) -> None:
    settings = settings or BackgroundRemovalSettings()
    model_dir = settings.model_dir
    # u2netp is always installed: it is the default, and tests use it
    path = install(model_dir, model_name="u2netp")
    log.info("background removal model u2netp ready at %s", path)
    if settings.model_name not in KNOWN_SOURCES:
        expected = model_dir / f"{settings.model_name}.onnx"
        if not expected.is_file():
            raise ModelFileMissing(
                f"BGREMOVAL_MODEL_NAME={settings.model_name!r} needs {expected}, which cannot be installed "
                "automatically: place the file there (or use u2netp)",
                detail={"model": settings.model_name, "model_dir": str(model_dir)},
            )
    # the first `import rembg` compiles numba code for about a minute: do it now, into the project cache
    prepare_process(settings)
    import rembg  # noqa: F401

    log.info("rembg imported; numba cache at %s", settings.numba_cache_dir)

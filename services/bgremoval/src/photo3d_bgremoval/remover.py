"""The background-removal model behind a small interface.

``BackgroundRemover`` loads its rembg session lazily, once per process and thread-safely, from a model
file that must already be on disk (``python -m photo3d_bgremoval.model_files install``): it never
downloads. Inference is synchronous CPU work; the ``*_async`` methods run it with
``photo3d_common.concurrency.run_blocking``, at most ``workers`` at a time, so the event loop stays free.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from photo3d_common.concurrency import CapacityLimiter, run_blocking
from photo3d_common.errors import Photo3DError

from .cutout import (
    Cutout,
    MaskQuality,
    cap_size,
    decode_photo,
    encode_png,
    make_cutout,
    to_rgb,
    view_label,
)
from .model_files import DEFAULT_MODEL_DIR

#: rembg models that need extra inputs (prompts, a custom model path) or send the photo to a remote API
UNSUPPORTED_MODELS = frozenset({"sam", "u2net_custom", "dis_custom", "ben_custom"})


class BackgroundRemovalSettings(BaseSettings):
    """``BGREMOVAL_*`` settings; the service, the CLI and the benchmark all use these."""

    model_config = SettingsConfigDict(env_prefix="BGREMOVAL_", extra="ignore", protected_namespaces=())

    model_name: str = Field("u2netp", description="any local rembg model whose file is in model_dir")
    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="holds <model_name>.onnx; becomes U2NET_HOME")
    numba_cache_dir: Path = Field(
        Path("var/cache/numba"),
        description="keeps numba's compiled code: the first import of rembg takes ~1 min",
    )
    max_side_px: int = Field(
        2048, ge=64, description="photos and cut-outs are scaled down to this longer side"
    )
    margin_fraction: float = Field(
        0.08, ge=0.0, le=1.0, description="margin per side, of the object's longer side"
    )
    square: bool = Field(True, description="pad cut-outs to a square, so all views share one aspect")
    png_compress_level: int = Field(
        1, ge=0, le=9, description="1 is fast; 6 (Pillow's default) costs more than inference"
    )
    alpha_matting: bool = False
    alpha_matting_foreground_threshold: int = Field(240, ge=0, le=255)
    alpha_matting_background_threshold: int = Field(10, ge=0, le=255)
    alpha_matting_erode_size: int = Field(10, ge=0)
    post_process_mask: bool = Field(False, description="rembg's morphological smoothing of the mask")
    min_coverage: float = Field(
        0.005, ge=0.0, le=1.0, description="below this fraction of opaque pixels: no object"
    )
    max_touching_sides: int = Field(
        2, ge=0, le=4, description="more frame sides touched: object cut off / not separated"
    )
    edge_touch_fraction: float = Field(
        0.02, ge=0.0, le=1.0, description="share of an edge line that counts as touching"
    )
    max_uncertain_ratio: float = Field(
        1.0, gt=0.0, description="half-transparent per opaque pixels above which the mask is no clear object"
    )
    workers: int = Field(1, ge=1, description="concurrent inferences of the async API")
    intra_op_threads: int = Field(0, ge=0, description="onnxruntime threads per inference; 0 = one per core")
    onnx_memory_arena: bool = Field(
        True,
        description="onnxruntime's CPU arena keeps ~450 MB of u2netp activations between photos (faster); "
        "off returns it after each photo",
    )


class ModelFileMissing(Photo3DError):
    """The configured model file is not on disk. An operator must install it; retrying later can succeed."""

    status_code = 503
    code = "model_file_missing"
    retryable = True


class UnsupportedModel(Photo3DError):
    """``BGREMOVAL_MODEL_NAME`` names no model this service can run."""

    status_code = 500
    code = "unsupported_model"
    retryable = False


class ModelLoadFailed(Photo3DError):
    """The model file is there but onnxruntime cannot load it (corrupt or incompatible)."""

    status_code = 503
    code = "model_load_failed"
    retryable = True


class BackgroundRemovalFailed(Photo3DError):
    """rembg raised while processing a photo."""

    status_code = 500
    code = "background_removal_failed"
    retryable = True


@dataclass(frozen=True)
class CutoutResult:
    """A stored-ready cut-out: PNG bytes and what was measured on the way."""

    png: bytes
    width: int
    height: int
    quality: MaskQuality
    source_size: tuple[int, int]


_sessions: dict[tuple[str, str, int, bool], Any] = {}
_sessions_lock = threading.Lock()


def prepare_runtime(settings: BackgroundRemovalSettings) -> None:
    """Environment rembg, onnxruntime and numba read: must run before ``import rembg``."""
    numba_cache = settings.numba_cache_dir.resolve()
    numba_cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(numba_cache))
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    # rembg looks for model files under U2NET_HOME at session creation
    os.environ["U2NET_HOME"] = str(settings.model_dir.resolve())


@contextlib.contextmanager
def _refuse_downloads(model_name: str, model_dir: Path) -> Iterator[None]:
    """rembg sessions download a missing file through ``pooch.retrieve``: turn that into an error."""
    import pooch

    original = pooch.retrieve

    def refuse(url: str, known_hash: Any = None, fname: str | None = None, *args: Any, **kwargs: Any) -> str:
        name = fname or url.rsplit("/", 1)[-1]
        raise ModelFileMissing(
            f"background removal model file {name} for {model_name!r} is not in {model_dir}: "
            "run `python -m photo3d_bgremoval.model_files install` (u2netp) or place the file there",
            detail={"model": model_name, "model_dir": str(model_dir), "file": name},
        )

    pooch.retrieve = refuse
    try:
        yield
    finally:
        pooch.retrieve = original


def load_session(settings: BackgroundRemovalSettings) -> Any:
    """The rembg session for these settings, created once per process."""
    model_dir = settings.model_dir.resolve()
    key = (settings.model_name, str(model_dir), settings.intra_op_threads, settings.onnx_memory_arena)
    session = _sessions.get(key)
    if session is not None:
        return session
    with _sessions_lock:
        session = _sessions.get(key)
        if session is not None:
            return session
        prepare_runtime(settings)
        import onnxruntime as ort
        from rembg import new_session
        from rembg.sessions import sessions as session_classes

        name = settings.model_name
        session_class = session_classes.get(name)

        def runnable(model: str, cls: Any) -> bool:
            return model not in UNSUPPORTED_MODELS and getattr(cls, "is_local", lambda: True)()

        if session_class is None or not runnable(name, session_class):
            usable = sorted(n for n, c in session_classes.items() if runnable(n, c))
            raise UnsupportedModel(
                f"BGREMOVAL_MODEL_NAME={name!r} is not a model this service can run; use one of: {', '.join(usable)}",
                detail={"model": name},
            )
        options = ort.SessionOptions()
        if settings.intra_op_threads:
            options.intra_op_num_threads = settings.intra_op_threads
        options.enable_cpu_mem_arena = settings.onnx_memory_arena
        # U2NET_HOME is process-wide; it is set and read under this lock
        os.environ["U2NET_HOME"] = str(model_dir)
        try:
            with _refuse_downloads(name, model_dir):
                session = new_session(name, sess_opts=options, providers=["CPUExecutionProvider"])
        except Photo3DError:
            raise
        except Exception as exc:  # onnxruntime raises its own types for corrupt or incompatible files
            raise ModelLoadFailed(
                f"the background removal model {name!r} in {model_dir} could not be loaded: {exc}",
                detail={"model": name, "model_dir": str(model_dir)},
            ) from exc
        _sessions[key] = session
        return session


class BackgroundRemover:
    """Removes photo backgrounds with a rembg model; one instance per service (composition root)."""

    def __init__(self, settings: BackgroundRemovalSettings | None = None) -> None:
        self.settings = settings or BackgroundRemovalSettings()
        self._inferences = CapacityLimiter(self.settings.workers)

    @property
    def model_name(self) -> str:
        return self.settings.model_name

    def load(self) -> None:
        """Load the model now (warm-up at service start); otherwise the first photo loads it."""
        load_session(self.settings)

    # -- synchronous, CPU-bound ------------------------------------------------------------------------

    def remove(self, image: Image.Image, *, view: str | None = None) -> Image.Image:
        """RGBA image with the background transparent, scaled down to ``max_side_px`` if larger."""
        session = load_session(self.settings)
        from rembg import remove as rembg_remove

        source = cap_size(to_rgb(image), self.settings.max_side_px)
        s = self.settings
        try:
            result = rembg_remove(
                source,
                session=session,
                alpha_matting=s.alpha_matting,
                alpha_matting_foreground_threshold=s.alpha_matting_foreground_threshold,
                alpha_matting_background_threshold=s.alpha_matting_background_threshold,
                alpha_matting_erode_size=s.alpha_matting_erode_size,
                post_process_mask=s.post_process_mask,
                putalpha=True,  # keep the true colours under soft edges for texturing
            )
        except Exception as exc:
            raise BackgroundRemovalFailed(
                f"background removal failed on {view_label(view)}; try again "
                f"(model {s.model_name}: {type(exc).__name__}: {exc})",
                detail={"view": view, "model": s.model_name, "error": type(exc).__name__},
            ) from exc
        if not isinstance(result, Image.Image) or result.size != source.size:
            raise BackgroundRemovalFailed(
                f"background removal returned an unusable result for {view_label(view)}",
                detail={"view": view, "model": s.model_name},
            )
        return result if result.mode == "RGBA" else result.convert("RGBA")

    def cut_out(self, image: Image.Image, *, view: str | None = None) -> Cutout:
        """Remove the background, check a subject was found, crop it centred with a margin."""
        s = self.settings
        return make_cutout(
            self.remove(image, view=view),
            view=view,
            margin_fraction=s.margin_fraction,
            square=s.square,
            max_side=s.max_side_px,
            min_coverage=s.min_coverage,
            max_touching_sides=s.max_touching_sides,
            edge_touch_fraction=s.edge_touch_fraction,
            max_uncertain_ratio=s.max_uncertain_ratio,
        )

    def process(self, data: bytes, *, view: str | None = None) -> CutoutResult:
        """Photo bytes in (any Pillow format, EXIF orientation applied), cut-out PNG bytes out."""
        cutout = self.cut_out(decode_photo(data, view=view), view=view)
        png = encode_png(cutout.image, compress_level=self.settings.png_compress_level)
        return CutoutResult(
            png=png,
            width=cutout.image.width,
            height=cutout.image.height,
            quality=cutout.quality,
            source_size=cutout.source_size,
        )

    # -- off the event loop ----------------------------------------------------------------------------

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await run_blocking(functools.partial(fn, *args, **kwargs), limiter=self._inferences)

    async def load_async(self) -> None:
        await self._run(self.load)

    async def remove_async(self, image: Image.Image, *, view: str | None = None) -> Image.Image:
        return await self._run(self.remove, image, view=view)

    async def cut_out_async(self, image: Image.Image, *, view: str | None = None) -> Cutout:
        return await self._run(self.cut_out, image, view=view)

    async def process_async(self, data: bytes, *, view: str | None = None) -> CutoutResult:
        return await self._run(self.process, data, view=view)

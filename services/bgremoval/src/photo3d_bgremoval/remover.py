"""The background-removal model behind a small interface (immich's InferenceModel shape).

``BackgroundRemover`` has two members: ``load()`` creates the onnxruntime session once, under a lock,
from a model file that must already be on disk (``python -m photo3d_bgremoval.model_files install``), and
``await remove(photo)`` runs the whole cut-out off the event loop: decode at the capped size, the model's
mask (at most ``workers`` at a time, one per core by default), quality check, crop/pad, PNG. Model
choice and location come from ``BackgroundRemovalSettings``, fixed when the remover is built; nothing
reads the working directory, writes the process environment or patches a library at run time, and
nothing is ever downloaded.

``prepare_process(settings)`` is for entry points only (the service, the CLI, set-up): the environment
onnxruntime and numba read when they are first imported.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from photo3d_common.concurrency import CapacityLimiter, run_blocking
from photo3d_common.errors import Photo3DError

from .backdrop import WorkingView
from .cutout import (
    Cutout,
    MaskQuality,
    NoSubjectFound,
    cap_size,
    cut_out_with_mask,
    decode_photo,
    encode_png,
    to_rgb,
    view_label,
    with_exif_focal,
)
from .model_files import data_dir, default_model_dir

#: rembg models that need extra inputs (prompts, a custom model path) or send the photo to a remote API
UNSUPPORTED_MODELS = frozenset({"sam", "u2net_custom", "dis_custom", "ben_custom"})


class BackgroundRemovalSettings(BaseSettings):
    """``BGREMOVAL_*`` settings; the service, the CLI and the benchmark all use these."""

    model_config = SettingsConfigDict(env_prefix="BGREMOVAL_", extra="ignore", protected_namespaces=())

    model_name: str = Field("u2netp", description="any local rembg model whose file is in model_dir")
    model_dir: Path = Field(
        default_factory=default_model_dir,
        description="holds <model_name>.onnx; default: var/models/u2net of the checkout (or "
        "$XDG_DATA_HOME/photo3d/models/u2net when installed), whatever the working directory",
    )
    numba_cache_dir: Path = Field(
        default_factory=lambda: data_dir() / "cache" / "numba",
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
    cross_view_refinement: bool = Field(
        True,
        description="refine busy-backdrop masks with the object's colours from the plain ones (refine.py)",
    )
    busy_backdrop_texture: float = Field(
        0.3,
        ge=0.0,
        description="backdrop gradient (backdrop.backdrop_texture) above which a backdrop is busy",
    )
    workers: int = Field(
        0,
        ge=0,
        description="masks computed at once by one remover; 0 = one per core (a set's four photos two at a "
        "time on 2 cores, each inference on one thread: 15 % less wall time and CPU than one at a time on "
        "both threads)",
    )
    png_threads: int = Field(
        0,
        ge=0,
        description="threads for a set's work once its masks are done: its PNGs and the cross-view check's "
        "independent pieces (Pillow, numpy and scipy let go of the GIL); 0 = one per core",
    )
    intra_op_threads: int = Field(
        0, ge=0, description="onnxruntime threads per inference; 0 = the cores shared out among the workers"
    )
    onnx_spinning: bool = Field(
        False,
        description="onnxruntime's threads busy-wait between operators: slightly lower latency on idle "
        "cores, CPU burnt for nothing when the cores are shared (the other worker, other processes)",
    )
    onnx_memory_arena: bool = Field(
        True,
        description="onnxruntime's CPU arena keeps ~450 MB of u2netp activations between photos (faster); "
        "off returns it after each photo",
    )

    def cutout_options(self) -> dict[str, Any]:
        """How a cut-out is checked and framed (``cutout.cut_out_with_mask``'s options), in one place for
        the service and the quality benchmark."""
        return {
            "margin_fraction": self.margin_fraction,
            "square": self.square,
            "max_side": self.max_side_px,
            "min_coverage": self.min_coverage,
            "max_touching_sides": self.max_touching_sides,
            "edge_touch_fraction": self.edge_touch_fraction,
            "max_uncertain_ratio": self.max_uncertain_ratio,
        }

    def encoding_threads(self) -> int:
        """Threads for a set's work after its masks (its PNGs, the cross-view check's pieces):
        ``png_threads``, or the cores this process may run on."""
        return self.png_threads or usable_cores()

    def mask_slots(self) -> int:
        """Masks computed at once: ``workers``, or one per core."""
        return self.workers or usable_cores()

    def inference_threads(self) -> int:
        """onnxruntime threads per inference: ``intra_op_threads``, or the cores shared out among the slots
        (together never more threads than cores)."""
        return self.intra_op_threads or max(1, usable_cores() // self.mask_slots())

    def framing(self) -> dict[str, Any]:
        """How the cross-view check frames a corrected cut-out again (``consistency.check_cutouts``)."""
        return {"margin_fraction": self.margin_fraction, "square": self.square, "max_side": self.max_side_px}

    @field_validator("model_dir", "numba_cache_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # fixed once, when the settings are read: later changes of the working directory do not move it
        return path.expanduser().resolve()


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, where the platform says)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def prepare_process(settings: BackgroundRemovalSettings) -> None:
    """At process start, before anything imports onnxruntime or rembg: the variables they read then.

    ``ORT_DISABLE_TELEMETRY`` only works in the environment at onnxruntime's start (its API can only
    mute events after a first one); numba reads ``NUMBA_CACHE_DIR`` at import. Values already set win.
    """
    settings.numba_cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(settings.numba_cache_dir))
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


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


class UnclearCutout(NoSubjectFound):
    """No object the subject check accepts (the refusal's message and detail), with the photo and the
    model's mask kept: on a busy backdrop the set's plain-backdrop photos may still rebuild the cut-out from
    the object's colours (``refine.refine_busy_views``)."""

    def __init__(
        self,
        refusal: NoSubjectFound,
        *,
        photo: Image.Image,
        mask: Image.Image,
        working: WorkingView | None = None,
    ) -> None:
        super().__init__(refusal.message, detail=refusal.detail)
        self.photo = photo  # RGB, at the capped size
        self.mask = mask  # L, the model's alpha over that photo
        self.working = working  # both at the refinement's working size, the backdrop measured


@dataclass(frozen=True)
class CutoutResult:
    """A stored-ready cut-out and what was measured on the way. The remover encodes its PNG at once,
    beside the next photo's mask, where the core is free; the few cut-outs the cross-view refinement or
    check replace are encoded again, and ones made elsewhere (a stand-in, a rebuilt cut-out) when asked."""

    cutout: Cutout  # the cut-out image (RGBA) and its quality, canvas box and source size
    mask: Image.Image  # the model's alpha over the whole (capped) photo, L
    photo: Image.Image | None = None  # that photo (RGB): the cross-view refinement reads its colours
    working: WorkingView | None = None  # photo and mask at the refinement's size, the backdrop measured
    png_compress_level: int = 1
    png_text: Mapping[str, str] | None = None  # text chunks of the stored PNG (e.g. a stand-in's source)

    @cached_property
    def png(self) -> bytes:
        """The PNG, encoded once (the remover encodes it while the next photo's mask is computed)."""
        return self._encoded_now()

    def encode_png(self) -> bytes:
        """The PNG: ``png`` when encoded already, else encoded now and not cached (threads call this side
        by side, where on Python 3.11 ``png``'s ``cached_property`` lock would make them take turns)."""
        encoded: bytes | None = self.__dict__.get("png")
        return encoded if encoded is not None else self._encoded_now()

    def _encoded_now(self) -> bytes:
        text = dict(self.png_text) if self.png_text else None
        return encode_png(self.cutout.image, compress_level=self.png_compress_level, text=text)

    @property
    def width(self) -> int:
        return self.cutout.image.width

    @property
    def height(self) -> int:
        return self.cutout.image.height

    @property
    def quality(self) -> MaskQuality:
        return self.cutout.quality

    @property
    def source_size(self) -> tuple[int, int]:
        return self.cutout.source_size


def _session_options(settings: BackgroundRemovalSettings) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.inference_threads()
    options.enable_cpu_mem_arena = settings.onnx_memory_arena
    spinning = "1" if settings.onnx_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
    options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
    return options


def _create_session(settings: BackgroundRemovalSettings) -> Any:
    """The rembg session of ``settings.model_name`` on the file ``<model_dir>/<name>.onnx``.

    rembg's session classes find their file through ``download_models`` (which downloads a missing one):
    a subclass answers with the configured file instead, so rembg never looks elsewhere or fetches."""
    import onnxruntime as ort
    from rembg.sessions import sessions as session_classes

    ort.disable_telemetry_events()  # in case the process started without ORT_DISABLE_TELEMETRY
    name, model_dir = settings.model_name, settings.model_dir

    def runnable(model: str, cls: Any) -> bool:
        return model not in UNSUPPORTED_MODELS and getattr(cls, "is_local", lambda: True)()

    session_class = session_classes.get(name)
    if session_class is None or not runnable(name, session_class):
        usable = sorted(n for n, c in session_classes.items() if runnable(n, c))
        raise UnsupportedModel(
            f"BGREMOVAL_MODEL_NAME={name!r} is not a model this service can run; use one of: {', '.join(usable)}",
            detail={"model": name},
        )
    model_file = model_dir / f"{name}.onnx"
    if not model_file.is_file():
        raise ModelFileMissing(
            f"background removal model file {model_file.name} for {name!r} is not in {model_dir}: "
            "run `python -m photo3d_bgremoval.model_files install` (u2netp) or place the file there",
            detail={"model": name, "model_dir": str(model_dir), "file": model_file.name},
        )

    def download_models(cls: type, *args: Any, **kwargs: Any) -> str:
        return str(model_file)

    def normalize(
        self: Any, img: Image.Image, mean: Any, std: Any, size: Any, *args: Any, **kwargs: Any
    ) -> Any:
        # rembg's LANCZOS resize to the model's input, after a reduction by whole pixels (Pillow's
        # reducing_gap): a third of the time on a 2048 px photo, the input a few of 255 levels off rembg's
        model_input = img.convert("RGB").resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
        return session_class.normalize(self, model_input, mean, std, size, *args, **kwargs)

    # rembg's session class, answering its model-file look-up with the file on disk and preparing its input
    # faster
    local_file_session: Any = type(
        f"Local{session_class.__name__}",
        (session_class,),
        {"download_models": classmethod(download_models), "normalize": normalize},
    )
    try:
        return local_file_session(name, _session_options(settings), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for corrupt or incompatible files
        raise ModelLoadFailed(
            f"the background removal model {name!r} in {model_dir} could not be loaded: {exc}",
            detail={"model": name, "model_dir": str(model_dir)},
        ) from exc


class BackgroundRemover:
    """Cuts the object out of photos with a rembg model; one instance per process (composition root)."""

    def __init__(self, settings: BackgroundRemovalSettings | None = None) -> None:
        self.settings = settings or BackgroundRemovalSettings()
        self.model_name = self.settings.model_name
        self._session: Any = None
        self._load_lock = threading.Lock()
        self._slots = CapacityLimiter(self.settings.mask_slots())

    def load(self) -> None:
        """Create the model session now (warm-up at start); otherwise the first photo does. Idempotent and
        thread-safe: the session is created once."""
        with self._load_lock:
            if self._session is None:
                self._session = _create_session(self.settings)

    async def warm_up(self) -> None:
        """``load()``, then one mask per slot, side by side, of a small blank photo: onnxruntime's first
        runs set up its kernels and size its memory arena for that many masks at once (measured: about
        0.7 CPU s per worker process), so the first set after a start does not pay for them."""
        await run_blocking(self.load)
        blank = Image.new("RGB", (64, 48), (127, 127, 127))
        await asyncio.gather(
            *(
                run_blocking(self._separate, blank, None, limiter=self._slots)
                for _ in range(self.settings.mask_slots())
            )
        )

    async def remove(self, photo: bytes | Image.Image, *, view: str | None = None) -> CutoutResult:
        """The cut-out of ``photo`` (encoded bytes in any Pillow format, or an image; EXIF orientation
        applied), with its PNG, computed in worker threads so the event loop stays free. Raises
        ``UnclearCutout`` (a ``NoSubjectFound``) when the model's mask shows no clear object.

        Only the model's mask takes one of the ``workers`` slots (one per core by default, each inference
        on its own thread): decoding, framing and PNG encoding run beside the masks, and a set's four
        photos handed over at once keep the cores busy together."""
        image = await run_blocking(self._decoded, photo, view)
        image, mask = await run_blocking(self._separate, image, view, limiter=self._slots)
        return await run_blocking(self._framed, image, mask, view)

    def _decoded(self, photo: bytes | Image.Image, view: str | None) -> Image.Image:
        """The photo as RGB at the capped size, upright."""
        if isinstance(photo, Image.Image):
            upright = with_exif_focal(to_rgb(ImageOps.exif_transpose(photo)), photo)
            return cap_size(upright, self.settings.max_side_px)
        return decode_photo(photo, view=view, max_side=self.settings.max_side_px)

    def _framed(self, image: Image.Image, mask: Image.Image, view: str | None) -> CutoutResult:
        """The checked, framed cut-out of ``image`` by ``mask``, its PNG encoded already."""
        s = self.settings
        # the backdrop measured here, beside the set's other masks, not after its last one (only the
        # cross-view refinement reads it)
        working = WorkingView.of(image, mask) if s.cross_view_refinement else None
        if working is not None:
            _ = working.texture
        try:
            cutout = cut_out_with_mask(image, mask, view=view, **s.cutout_options())
        except NoSubjectFound as refusal:
            raise UnclearCutout(refusal, photo=image, mask=mask, working=working) from refusal
        result = CutoutResult(
            cutout=cutout, mask=mask, photo=image, working=working, png_compress_level=s.png_compress_level
        )
        _ = result.png  # encoded here, beside the next photo's mask, not after the set's check
        return result

    def _separate(self, image: Image.Image, view: str | None) -> tuple[Image.Image, Image.Image]:
        """The colour (RGB) and the model's alpha (L) of ``image``, as ``rembg.remove`` computes them:
        the photo's own colour, or with alpha matting the estimated foreground colour."""
        s = self.settings
        self.load()
        masks: list[Any]  # rembg is untyped: what it returned is checked below
        try:
            if s.alpha_matting:
                from rembg import remove as rembg_remove

                matted = rembg_remove(
                    image,
                    session=self._session,
                    alpha_matting=True,
                    alpha_matting_foreground_threshold=s.alpha_matting_foreground_threshold,
                    alpha_matting_background_threshold=s.alpha_matting_background_threshold,
                    alpha_matting_erode_size=s.alpha_matting_erode_size,
                    post_process_mask=s.post_process_mask,
                    putalpha=True,
                )
                if isinstance(matted, Image.Image) and matted.mode == "RGBA":
                    image, masks = matted.convert("RGB"), [matted.getchannel("A")]
                else:
                    masks = []
            else:
                # what rembg.remove does without matting, minus its copy of the photo and the RGBA it builds
                masks = self._session.predict(image)
                if s.post_process_mask:
                    import numpy as np
                    from rembg.bg import post_process

                    masks = [Image.fromarray(post_process(np.asarray(m)), mode="L") for m in masks]
        except Exception as exc:
            raise BackgroundRemovalFailed(
                f"background removal failed on {view_label(view)}; try again "
                f"(model {s.model_name}: {type(exc).__name__}: {exc})",
                detail={"view": view, "model": s.model_name, "error": type(exc).__name__},
            ) from exc
        if len(masks) != 1 or not isinstance(masks[0], Image.Image) or masks[0].size != image.size:
            raise BackgroundRemovalFailed(
                f"background removal returned an unusable result for {view_label(view)}",
                detail={"view": view, "model": s.model_name},
            )
        return image, masks[0] if masks[0].mode == "L" else masks[0].convert("L")

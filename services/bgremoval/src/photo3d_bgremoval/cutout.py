"""Post-processing of a cut-out so later stages get the object centred with a margin.

Pure image functions (Pillow + numpy), no model: decode at the capped size, check that a subject was
really separated, crop to the alpha bounding box, pad to a square with a margin, cap the size, and encode
PNG fast. The service path touches each full-size pixel as few times as it can: the photo is decoded once
(JPEG straight to a smaller scale when it is far above the cap), the mask is measured once, and only the
cropped canvas is assembled and encoded.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import ExifTags, Image, ImageOps, PngImagePlugin

from photo3d_common.errors import Photo3DError
from photo3d_common.storage import FOCAL_PIXELS_TEXT, recorded_focal_pixels

Side = Literal["top", "bottom", "left", "right"]

#: alpha above this counts as object when measuring coverage, frame contact and the crop (the IoU threshold)
SOLID_ALPHA = 127
#: alpha at or below this is haze the model left on the background: cleared in the cut-out
HAZE_ALPHA = 8
#: alpha at or above this is fully confident object
OPAQUE_ALPHA = 248
#: The diagonal of a 35 mm film frame (36 x 24 mm): a "35 mm equivalent" focal length is relative to it.
FILM_DIAGONAL_MM = math.hypot(36.0, 24.0)


class InvalidPhoto(Photo3DError):
    """The stored photo cannot be decoded as an image. The user must upload it again."""

    status_code = 422
    code = "invalid_photo"
    retryable = False


class NoSubjectFound(Photo3DError):
    """Background removal left no usable object. The user must retake the photo."""

    status_code = 422
    code = "no_subject_found"
    retryable = False


@dataclass(frozen=True)
class MaskQuality:
    """What the alpha channel says about the separated subject."""

    width: int
    height: int
    coverage: float  # fraction of pixels with alpha > SOLID_ALPHA
    bbox: tuple[int, int, int, int] | None  # (left, top, right, bottom), exclusive, of alpha > SOLID_ALPHA
    touching_sides: frozenset[Side]
    # undecided pixels (HAZE_ALPHA < alpha < OPAQUE_ALPHA) per solid pixel: a separated object has them only
    # along its outline (measured 0.06-0.10 on synthetic photos); a photo without one gets a diffuse
    # half-transparent blob (measured 8-15000)
    uncertain_ratio: float


@dataclass(frozen=True)
class Cutout:
    """A cut-out ready to store: RGBA, object centred with a margin."""

    image: Image.Image
    quality: MaskQuality
    source_size: tuple[int, int]  # size of the photo the mask was computed on (after the cap)
    # where the cut-out's canvas lies in that photo (left, top, right, bottom; may reach beyond its frame),
    # before the canvas was scaled down to the cap
    canvas_box: tuple[int, int, int, int] = (0, 0, 0, 0)


def view_label(view: str | None) -> str:
    return f"the {view} photo" if view else "the photo"


def decode_photo(data: bytes, *, view: str | None = None, max_side: int | None = None) -> Image.Image:
    """Decode stored photo bytes into an RGB image with EXIF orientation applied, at most ``max_side``.

    A JPEG at least twice the cap is decoded straight to a smaller scale (libjpeg's scaled IDCT: a
    fraction of the work), never below the cap; the rest of the way is one Lanczos step. Transparent
    inputs are flattened onto white, so pixels hidden behind alpha do not show as black.
    """
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if max_side is not None and opened.format == "JPEG" and max(opened.size) >= 2 * max_side:
                scale = max_side / max(opened.size)
                opened.draft("RGB", (math.ceil(opened.width * scale), math.ceil(opened.height * scale)))
            opened.load()
            # in place: without an orientation tag, exif_transpose would return a full copy
            ImageOps.exif_transpose(opened, in_place=True)
            image = with_exif_focal(to_rgb(opened), opened)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise InvalidPhoto(
            f"{view_label(view)} could not be read as an image ({exc}); use a JPEG, PNG or WebP photo",
            detail={"view": view, "reason": str(exc)},
        ) from exc
    return image if max_side is None else cap_size(image, max_side)


def to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale 0..65535 to 8 bits instead of clipping at 255
        array = np.clip(np.rint(np.asarray(image, dtype=np.float64) / 257.0), 0, 255)
        return Image.fromarray(array.astype(np.uint8), mode="L").convert("RGB")
    return image.convert("RGB")


def cap_size(image: Image.Image, max_side: int) -> Image.Image:
    """Scale down (never up) so the longer side is at most ``max_side``; a recorded focal length in pixels
    (:func:`focal_pixels`) is scaled with it."""
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.LANCZOS)
    focal = focal_pixels(image)
    return resized if focal is None else with_focal(resized, focal * resized.width / image.width)


def exif_focal_35mm(image: Image.Image) -> float | None:
    """The 35 mm equivalent focal length (mm) a camera wrote into ``image``'s EXIF, or None.

    Phones write it (``FocalLengthIn35mmFilm``); without it the sensor size would be needed, which EXIF
    rarely gives, so the plain ``FocalLength`` is not used."""
    try:
        value = image.getexif().get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.FocalLengthIn35mmFilm)
        focal = float(value) if value is not None else math.nan
    except (TypeError, ValueError, SyntaxError, OSError):  # a broken EXIF block is no focal length
        return None
    return focal if math.isfinite(focal) and 0 < focal < 10_000 else None


def with_exif_focal(image: Image.Image, source: Image.Image) -> Image.Image:
    """``image`` (``source`` decoded, same frame) with ``source``'s EXIF focal length recorded in pixels."""
    focal_35mm = exif_focal_35mm(source)
    if focal_35mm is None:
        return image
    return with_focal(image, focal_35mm / FILM_DIAGONAL_MM * math.hypot(*image.size))


def focal_pixels(image: Image.Image) -> float | None:
    """The focal length in ``image``'s pixels recorded on it (``FOCAL_PIXELS_TEXT``), or None."""
    return recorded_focal_pixels(image.info)


def with_focal(image: Image.Image, focal: float | None) -> Image.Image:
    """``image`` with ``focal`` (pixels) recorded on it, kept through cropping and written into its PNG
    (``encode_png``), so generation knows how far away the photo was taken; None clears it."""
    image.info.pop(FOCAL_PIXELS_TEXT, None)
    if focal is not None:
        image.info[FOCAL_PIXELS_TEXT] = f"{focal:.2f}"
    return image


def alpha_of(image: Image.Image) -> np.ndarray:
    if image.mode != "RGBA":
        raise ValueError(f"expected an RGBA cut-out, got mode {image.mode}")
    return np.asarray(image.getchannel("A"))


def alpha_bbox(alpha: np.ndarray, threshold: int = SOLID_ALPHA) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) with exclusive right/bottom of pixels with alpha > threshold."""
    visible = alpha > threshold
    rows = np.flatnonzero(visible.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(visible.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def assess_mask(alpha: np.ndarray, *, edge_touch_fraction: float = 0.02) -> MaskQuality:
    """Coverage, bounding box and which frame sides the solid subject touches.

    A side counts as touched when more than ``edge_touch_fraction`` of its outermost pixel line is solid,
    so a stray pixel in a corner does not count.
    """
    height, width = alpha.shape
    solid = alpha > SOLID_ALPHA
    edges: dict[Side, np.ndarray] = {
        "top": solid[0, :],
        "bottom": solid[-1, :],
        "left": solid[:, 0],
        "right": solid[:, -1],
    }
    touching = frozenset(side for side, line in edges.items() if line.mean() > edge_touch_fraction)
    solid_count = int(solid.sum())
    uncertain = int(((alpha > HAZE_ALPHA) & (alpha < OPAQUE_ALPHA)).sum())
    return MaskQuality(
        width=width,
        height=height,
        coverage=solid_count / solid.size if solid.size else 0.0,
        bbox=alpha_bbox(alpha),
        touching_sides=touching,
        uncertain_ratio=uncertain / solid_count if solid_count else float("inf"),
    )


def check_subject(
    quality: MaskQuality,
    *,
    view: str | None = None,
    min_coverage: float = 0.005,
    max_touching_sides: int = 2,
    max_uncertain_ratio: float = 1.0,
) -> None:
    """Raise ``NoSubjectFound`` with a message the user can act on when no object was separated."""
    label = view_label(view)
    detail = {
        "view": view,
        "coverage": round(quality.coverage, 5),
        "touching_sides": sorted(quality.touching_sides),
        "uncertain_ratio": round(min(quality.uncertain_ratio, 1e6), 3),
    }
    if (
        quality.bbox is None
        or quality.coverage < min_coverage
        or quality.uncertain_ratio > max_uncertain_ratio
    ):
        raise NoSubjectFound(
            f"no object found in {label}: place the object in the middle of the frame, "
            f"in front of a plain background, and take the photo again",
            detail=detail,
        )
    if len(quality.touching_sides) > max_touching_sides:
        raise NoSubjectFound(
            f"the object in {label} could not be separated from the background "
            f"(it reaches {len(quality.touching_sides)} edges of the frame): step back so the whole object "
            f"is in the picture with some space around it, preferably in front of a plain background",
            detail=detail,
        )


def crop_and_pad(
    image: Image.Image,
    bbox: tuple[int, int, int, int],
    *,
    margin_fraction: float = 0.08,
    square: bool = True,
    max_side: int = 2048,
) -> Image.Image:
    """Cut the object's box plus a margin out of ``image``, centred; scale down to ``max_side``.

    The margin on each side is ``margin_fraction`` of the object's longer side; with ``square`` the canvas
    is square, so every view of an object comes out with the same aspect. The margin is taken from the
    image itself (soft edges just outside the box survive); beyond the frame it is transparent.
    """
    x0, y0, x1, y1 = canvas_box(bbox, image.size, margin_fraction=margin_fraction, square=square)
    canvas = Image.new("RGBA", (x1 - x0, y1 - y0), (0, 0, 0, 0))
    inside = (max(x0, 0), max(y0, 0), min(x1, image.width), min(y1, image.height))
    canvas.paste(image.crop(inside), (inside[0] - x0, inside[1] - y0))
    return cap_size(with_focal(canvas, focal_pixels(image)), max_side)


def canvas_box(
    bbox: tuple[int, int, int, int], frame: tuple[int, int], *, margin_fraction: float, square: bool
) -> tuple[int, int, int, int]:
    """The cut-out's canvas in frame coordinates (left, top, right, bottom; may reach beyond the frame):
    the object's box plus a margin of ``margin_fraction`` of its longer side, square if asked, centred."""
    left, top, right, bottom = bbox
    if not (0 <= left < right <= frame[0] and 0 <= top < bottom <= frame[1]):
        raise ValueError(f"bbox {bbox} is outside the {frame[0]}x{frame[1]} image")
    object_w, object_h = right - left, bottom - top
    margin = round(margin_fraction * max(object_w, object_h))
    canvas_w, canvas_h = object_w + 2 * margin, object_h + 2 * margin
    if square:
        canvas_w = canvas_h = max(canvas_w, canvas_h)
    # integer offsets put the object's box exactly in the middle (to half a pixel)
    x0 = left - (canvas_w - object_w) // 2
    y0 = top - (canvas_h - object_h) // 2
    return x0, y0, x0 + canvas_w, y0 + canvas_h


def make_cutout(rgba: Image.Image, **options: Any) -> Cutout:
    """Quality-check the output of background removal (an RGBA image), then crop and pad it
    (``options`` as for :func:`cut_out_with_mask`)."""
    return cut_out_with_mask(rgba.convert("RGB"), rgba.getchannel("A"), **options)


def cut_out_with_mask(
    photo: Image.Image,
    mask: Image.Image,
    *,
    view: str | None = None,
    margin_fraction: float = 0.08,
    square: bool = True,
    max_side: int = 2048,
    min_coverage: float = 0.005,
    max_touching_sides: int = 2,
    edge_touch_fraction: float = 0.02,
    max_uncertain_ratio: float = 1.0,
) -> Cutout:
    """The cut-out of an RGB ``photo`` by the model's ``mask`` (L, same size): quality-checked, cropped to
    the object plus a margin, centred, capped.

    Only the canvas is assembled (never a full-size RGBA copy of the photo). Haze (alpha <= HAZE_ALPHA)
    is cleared, and fully transparent pixels get black colour: nothing reads colour under alpha 0, and
    the PNG of a cut-out whose background is zeros is about half the size and twice as fast to encode.
    Colour under soft edges (alpha > 0) is the photo's own, for texturing.
    """
    if photo.mode != "RGB" or mask.mode != "L" or photo.size != mask.size:
        raise ValueError(
            f"expected an RGB photo and an L mask of one size, got {photo.mode} {photo.size} "
            f"and {mask.mode} {mask.size}"
        )
    alpha = np.asarray(mask)
    quality = assess_mask(alpha, edge_touch_fraction=edge_touch_fraction)
    check_subject(
        quality,
        view=view,
        min_coverage=min_coverage,
        max_touching_sides=max_touching_sides,
        max_uncertain_ratio=max_uncertain_ratio,
    )
    assert quality.bbox is not None  # check_subject guarantees it
    box = canvas_box(quality.bbox, photo.size, margin_fraction=margin_fraction, square=square)
    x0, y0, x1, y1 = box
    left, top = max(x0, 0), max(y0, 0)
    right, bottom = min(x1, photo.width), min(y1, photo.height)
    # only the part of the photo inside the canvas is converted to an array
    region = np.asarray(photo.crop((left, top, right, bottom)))
    region_alpha = alpha[top:bottom, left:right]
    visible = region_alpha > HAZE_ALPHA
    canvas = np.zeros((y1 - y0, x1 - x0, 4), dtype=np.uint8)
    target = canvas[top - y0 : bottom - y0, left - x0 : right - x0]
    np.copyto(target[..., :3], region, where=visible[..., None])
    np.copyto(target[..., 3], region_alpha, where=visible)
    image = cap_size(with_focal(Image.fromarray(canvas, mode="RGBA"), focal_pixels(photo)), max_side)
    return Cutout(image=image, quality=quality, source_size=photo.size, canvas_box=box)


def encode_png(image: Image.Image, *, compress_level: int = 1, text: dict[str, str] | None = None) -> bytes:
    """PNG bytes. Level 1 is several times faster than Pillow's default 6 for ~10-20% larger files.
    ``text``: tEXt chunks (what a later stage should know about the cut-out), beside the focal length
    recorded on the image (:func:`with_focal`)."""
    info = None
    focal = image.info.get(FOCAL_PIXELS_TEXT)
    text = {**({FOCAL_PIXELS_TEXT: focal} if focal is not None else {}), **(text or {})}
    if text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level, pnginfo=info)
    return buffer.getvalue()

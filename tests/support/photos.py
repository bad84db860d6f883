"""Deterministic synthetic product photos with a known object mask.

An object (a vase, a box or a mug with a handle) is drawn with shading, a specular highlight, a little
surface texture and a soft contact shadow, on a plain studio background or on a busy one (stripes, blobs,
gradient, noise). The true mask is returned with the photo, so background removal can be scored by IoU
without any stored data. Same arguments, same pixels.

    photo = make_photo("mug", background="busy", size=(800, 600), seed=3)
    photo.image   # PIL RGB
    photo.mask    # numpy bool (H, W), True on the object (the shadow is background)
    photo.jpeg()  # bytes, as a phone would upload
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter

ObjectKind = Literal["vase", "box", "mug"]
Background = Literal["plain", "busy"]
OBJECT_KINDS: tuple[ObjectKind, ...] = ("vase", "box", "mug")
BACKGROUNDS: tuple[Background, ...] = ("plain", "busy")

# saturated, mid-dark object colours that stand out from a light studio background
_PALETTE = np.array(
    [
        (196, 62, 48),  # brick red
        (40, 98, 170),  # blue
        (46, 140, 84),  # green
        (214, 150, 36),  # ochre
        (120, 60, 150),  # purple
        (30, 120, 130),  # teal
    ],
    dtype=np.float64,
)

_SUPERSAMPLE = 2


@dataclass(frozen=True)
class SyntheticPhoto:
    image: Image.Image  # RGB
    mask: np.ndarray  # bool, (height, width)
    kind: ObjectKind
    background: Background

    def jpeg(self, quality: int = 92) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue()

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom), exclusive, of the true mask."""
        rows = np.flatnonzero(self.mask.any(axis=1))
        cols = np.flatnonzero(self.mask.any(axis=0))
        return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(predicted, truth).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(predicted, truth).sum() / union)


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return xs + 0.5, ys + 0.5


def _plain_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A light studio sweep: bright at the top, a little darker and warmer towards the floor."""
    _, ys = _grid(width, height)
    t = ys / height
    base = np.array([236.0, 236.0, 232.0]) + rng.uniform(-8, 8, 3)
    image = base[None, None, :] * (1.0 - 0.10 * t[..., None])
    image += rng.normal(0.0, 2.0, (height, width, 1))  # sensor noise
    return image


def _busy_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Clutter: a colour gradient, diagonal stripes, soft blobs and noise."""
    xs, ys = _grid(width, height)
    u, v = xs / width, ys / height
    c0, c1 = rng.uniform(60, 220, 3), rng.uniform(60, 220, 3)
    image = c0[None, None, :] * (1 - u[..., None]) + c1[None, None, :] * u[..., None]
    period = rng.uniform(0.04, 0.09) * max(width, height)
    angle = rng.uniform(0.3, 1.2)
    stripes = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / period)
    stripe_colour = rng.uniform(-60, 60, 3)
    image += (stripes > 0)[..., None] * stripe_colour[None, None, :] * (0.6 + 0.4 * v[..., None])
    for _ in range(12):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.03, 0.12) * max(width, height)
        blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius**2))
        image += blob[..., None] * rng.uniform(-90, 90, 3)[None, None, :]
    image += rng.normal(0.0, 10.0, (height, width, 3))
    return image


def _surface_texture(xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Low-contrast glaze/print variation so the object is not a flat fill."""
    phase = rng.uniform(0, 2 * np.pi, 3)
    return (
        0.05 * np.sin(ys / (0.031 * scale) + phase[0])
        + 0.03 * np.sin((xs + 0.5 * ys) / (0.057 * scale) + phase[1])
        + 0.02 * np.sin(xs / (0.013 * scale) + phase[2])
    )


def _cylinder_shading(n: np.ndarray) -> np.ndarray:
    """Light from the upper left on a cylinder; n in [-1, 1] across the width."""
    n = np.clip(n, -1.0, 1.0)
    normal_x, normal_z = n, np.sqrt(1.0 - n**2)
    light = np.array([-0.5, 0.85])
    light /= np.linalg.norm(light)
    diffuse = np.clip(normal_x * light[0] + normal_z * light[1], 0.0, 1.0)
    specular = np.exp(-((n + 0.35) ** 2) / 0.004) * 0.55
    return 0.28 + 0.72 * diffuse, specular


def _draw_vase(xs, ys, cx, cy, size, only_mask=False):
    height = size
    top, bottom = cy - height / 2, cy + height / 2
    t = np.clip((ys - top) / height, 0.0, 1.0)
    # neck, shoulder, belly, foot
    radius = size * (0.10 + 0.17 * np.sin(np.pi * (0.15 + 0.85 * t)) ** 1.5 + 0.03 * (t < 0.08))
    inside = (ys >= top) & (ys <= bottom) & (np.abs(xs - cx) <= radius)
    if only_mask:
        return inside
    n = (xs - cx) / np.maximum(radius, 1e-6)
    shade, specular = _cylinder_shading(n)
    return inside, shade, specular, (cx, bottom, 0.30 * size)


def _draw_box(xs, ys, cx, cy, size, only_mask=False):
    w, h, d = 0.55 * size, 0.62 * size, 0.22 * size
    left, top = cx - (w + d) / 2, cy - (h + d) / 2 + d
    front = (xs >= left) & (xs <= left + w) & (ys >= top) & (ys <= top + h)
    # top face: parallelogram going up and right by d
    dy = top - ys
    top_face = (dy >= 0) & (dy <= d) & (xs >= left + dy) & (xs <= left + w + dy)
    # right face
    dx = xs - (left + w)
    side = (dx >= 0) & (dx <= d) & (ys >= top - dx) & (ys <= top + h - dx)
    inside = front | top_face | side
    if only_mask:
        return inside
    shade = np.where(top_face, 1.0, np.where(side, 0.55, 0.80))
    # gentle falloff across the front so it is not one flat value
    shade = shade * (1.0 - 0.12 * np.clip((ys - top) / h, 0, 1) * front)
    specular = np.zeros_like(shade)
    return inside, shade, specular, (cx, top + h, 0.45 * size)


def _draw_mug(xs, ys, cx, cy, size, only_mask=False):
    body_w, body_h = 0.52 * size, 0.62 * size
    body_cx = cx - 0.10 * size
    top, bottom = cy - body_h / 2, cy + body_h / 2
    rim = 0.06 * body_w
    body = (np.abs(xs - body_cx) <= body_w / 2) & (ys >= top) & (ys <= bottom)
    # elliptical bottom and rim edge
    ellipse_ry = 0.08 * body_w
    bottom_cap = ((xs - body_cx) / (body_w / 2)) ** 2 + ((ys - bottom) / ellipse_ry) ** 2 <= 1.0
    top_cap = ((xs - body_cx) / (body_w / 2)) ** 2 + ((ys - top) / ellipse_ry) ** 2 <= 1.0
    opening = ((xs - body_cx) / (body_w / 2 - rim)) ** 2 + ((ys - top) / (ellipse_ry * 0.8)) ** 2 <= 1.0
    # handle: an elliptical ring on the right, its hole shows the background
    hx, hy = body_cx + body_w / 2, cy - 0.02 * size
    outer = ((xs - hx) / (0.22 * size)) ** 2 + ((ys - hy) / (0.22 * size)) ** 2 <= 1.0
    inner = ((xs - hx) / (0.13 * size)) ** 2 + ((ys - hy) / (0.14 * size)) ** 2 <= 1.0
    handle = outer & ~inner & (xs > hx - 0.02 * size)
    inside = body | bottom_cap | top_cap | handle
    if only_mask:
        return inside
    n = (xs - body_cx) / (body_w / 2)
    shade, specular = _cylinder_shading(n)
    shade = np.where(handle & ~body, 0.55 + 0.25 * np.clip((hy - ys) / (0.22 * size), -1, 1), shade)
    shade = np.where(opening, 0.25 + 0.15 * (xs - body_cx) / body_w, shade)  # the dark inside
    specular = np.where(body & ~opening, specular, 0.0)
    return inside, shade, specular, (body_cx + 0.05 * size, bottom, 0.42 * size)


_DRAW = {"vase": _draw_vase, "box": _draw_box, "mug": _draw_mug}


def make_photo(
    kind: ObjectKind = "vase",
    *,
    background: Background = "plain",
    size: tuple[int, int] | int = (800, 600),
    seed: int = 0,
    object_scale: float = 0.6,
    offset: tuple[float, float] = (0.0, 0.0),
    distractor: ObjectKind | None = None,
    distractor_offset: tuple[float, float] = (0.2, -0.06),
    distractor_scale: float = 0.5,
) -> SyntheticPhoto:
    """A photo of one object. ``size`` is (width, height); ``object_scale`` is the object's height as a
    fraction of the shorter side; ``offset`` moves it by fractions of the width and height.
    ``distractor``: a second object of another colour standing behind it (moved by ``distractor_offset``
    from the object, ``distractor_scale`` tall): part of the background, not of the mask."""
    if kind not in _DRAW:
        raise ValueError(f"unknown object kind {kind!r}; one of {OBJECT_KINDS}")
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; one of {BACKGROUNDS}")
    width, height = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng([seed, OBJECT_KINDS.index(kind), BACKGROUNDS.index(background)])
    xs, ys = _grid(width, height)
    object_size = object_scale * min(width, height)
    cx = width / 2 + offset[0] * width
    cy = height / 2 + offset[1] * height

    backdrop = (
        _plain_background(width, height, rng)
        if background == "plain"
        else _busy_background(width, height, rng)
    )
    if distractor is not None:
        other_size = distractor_scale * min(width, height)
        other_cx, other_cy = cx + distractor_offset[0] * width, cy + distractor_offset[1] * height
        inside, other_shade, _, _ = _DRAW[distractor](xs, ys, other_cx, other_cy, other_size)
        other_colour = _PALETTE[int(rng.integers(len(_PALETTE)))][::-1] * 0.9
        other_lit = other_colour[None, None, :] * other_shade[..., None]
        backdrop = np.where(inside[..., None], other_lit, backdrop)
    _, shade, specular, (shadow_x, shadow_y, shadow_w) = _DRAW[kind](xs, ys, cx, cy, object_size)

    # soft contact shadow on the floor, under the object (part of the background, not of the mask)
    shadow = np.exp(-(((xs - shadow_x) / shadow_w) ** 2 + ((ys - shadow_y) / (0.18 * shadow_w)) ** 2))
    backdrop *= (1.0 - 0.45 * shadow)[..., None]

    colour = _PALETTE[int(rng.integers(len(_PALETTE)))] * rng.uniform(0.9, 1.1, 3)
    texture = _surface_texture(xs, ys, rng, object_size)
    lit = colour[None, None, :] * (shade + texture)[..., None] + 255.0 * specular[..., None]
    lit += rng.normal(0.0, 2.0, (height, width, 1))

    # the outline is drawn supersampled: its coverage blends object and background (anti-aliased edges)
    ss = _SUPERSAMPLE
    fine_xs, fine_ys = _grid(width * ss, height * ss)
    fine_inside = _DRAW[kind](fine_xs / ss, fine_ys / ss, cx, cy, object_size, only_mask=True)
    coverage = fine_inside.reshape(height, ss, width, ss).mean(axis=(1, 3))
    pixels = coverage[..., None] * lit + (1.0 - coverage[..., None]) * backdrop

    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")
    # a real lens is never perfectly sharp
    image = image.filter(ImageFilter.GaussianBlur(radius=0.6))
    return SyntheticPhoto(image=image, mask=coverage >= 0.5, kind=kind, background=background)


def blank_photo(
    size: tuple[int, int] | int = (800, 600),
    *,
    colour: tuple[int, int, int] = (236, 236, 232),
    noise: float = 2.0,
    seed: int = 0,
) -> Image.Image:
    """An empty studio shot: nothing in front of the background."""
    width, height = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    pixels = np.array(colour, dtype=np.float64)[None, None, :] + rng.normal(0.0, noise, (height, width, 1))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")


VIEWS = ("front", "left", "right", "back")


def make_views(
    kind: ObjectKind = "mug",
    *,
    background: Background | Mapping[str, Background] = "plain",
    size: tuple[int, int] | int = (800, 600),
    seed: int = 0,
) -> dict[str, SyntheticPhoto]:
    """Four photos for one model (front, left, right, back) of the same kind of object, e.g. for uploads in
    service and end-to-end tests. Not a consistent 3D object: right and back are mirror images of left and
    front (a mug's handle changes side), each view has its own background and texture phase.
    ``background``: one kind for all four, or one per view."""
    photos: dict[str, SyntheticPhoto] = {}
    for index, view in enumerate(VIEWS):
        backdrop = background if isinstance(background, str) else background[view]
        photo = make_photo(kind, background=backdrop, size=size, seed=seed * 10 + index)
        if view in ("right", "back"):
            photo = SyntheticPhoto(
                image=photo.image.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                mask=photo.mask[:, ::-1].copy(),
                kind=photo.kind,
                background=photo.background,
            )
        photos[view] = photo
    return photos

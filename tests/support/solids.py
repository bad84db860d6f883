"""Cut-outs of simple solids seen by a pinhole camera, to test reconstruction without a renderer.

A solid is an ``inside(points) -> bool`` function in the reconstructor's model space (+Y up, front +Z,
1 unit tall, resting on y = 0). ``cutout`` casts one ray per pixel from a camera that looks at the
object's middle from its view's side (optionally turned by ``yaw`` and raised by ``elevation``, degrees)
and marks the pixels whose ray passes through the solid; each view is painted one colour. The result is
cropped to the object with a margin, as background removal would store it.

    solid = mug(handle_side=+1)
    image = cutout(solid, "front", yaw=8.0)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from photo3d_common.storage import FOCAL_PIXELS_TEXT
from photo3d_generation.local.views import KnownCamera

Solid = Callable[[np.ndarray], np.ndarray]

DIRECTIONS = {
    "front": np.array([0.0, 0.0, 1.0]),
    "back": np.array([0.0, 0.0, -1.0]),
    "left": np.array([1.0, 0.0, 0.0]),
    "right": np.array([-1.0, 0.0, 0.0]),
}
COLOURS = {"front": (200, 60, 50), "back": (50, 60, 200), "left": (60, 180, 60), "right": (210, 190, 40)}


def box(width: float = 0.8, depth: float = 0.5) -> Solid:
    def inside(points: np.ndarray) -> np.ndarray:
        x, y, z = points.T
        return (np.abs(x) <= width / 2) & (y >= 0) & (y <= 1) & (np.abs(z) <= depth / 2)

    return inside


def mug(radius: float = 0.3, handle_side: float = 1.0) -> Solid:
    """A cylinder (radius ``radius``, height 1) with a ring handle on the ``handle_side`` of X (+1: the
    object's left, seen on the right of the front photo)."""
    centre_x = handle_side * (radius + 0.12)

    def inside(points: np.ndarray) -> np.ndarray:
        x, y, z = points.T
        body = (x**2 + z**2 <= radius**2) & (y >= 0) & (y <= 1)
        # a torus in the XY plane around (centre_x, 0.5): ring radius 0.2, tube radius 0.06
        ring = np.sqrt((x - centre_x) ** 2 + (y - 0.5) ** 2)
        handle = (ring - 0.2) ** 2 + z**2 <= 0.06**2
        return body | handle

    return inside


def chair(width: float = 1.1, depth: float = 0.8, leg: float = 0.06) -> Solid:
    """A chair 1 unit tall and deeper than half its height: a seat slab on four thin legs and a backrest
    at the back (-Z). Its near legs look longer than its far ones, which a camera from one photo's
    outline box gets wrong."""

    def inside(points: np.ndarray) -> np.ndarray:
        x, y, z = points.T
        seat = (np.abs(x) <= width / 2) & (np.abs(z) <= depth / 2) & (y >= 0.42) & (y <= 0.52)
        back = (np.abs(x) <= width / 2) & (z >= -depth / 2) & (z <= -depth / 2 + 0.1) & (y >= 0.52) & (y <= 1)
        legs = np.zeros(len(points), dtype=bool)
        for corner_x in (-1, 1):
            for corner_z in (-1, 1):
                legs |= (
                    (np.abs(x - corner_x * (width / 2 - leg)) <= leg / 2)
                    & (np.abs(z - corner_z * (depth / 2 - leg)) <= leg / 2)
                    & (y >= 0)
                    & (y <= 0.42)
                )
        return seat | back | legs

    return inside


def cutout(
    solid: Solid,
    view: str,
    *,
    yaw: float = 0.0,
    elevation: float = 0.0,
    distance: float = 2.5,
    size: int = 200,
    samples: int = 160,
    crop: bool = True,
    record_focal: bool = False,
) -> Image.Image:
    """The view's cut-out (RGBA, object cropped with a 10 % margin; ``crop=False``: the whole frame, for
    :func:`camera`); ``record_focal``: with the camera's focal length written on it, as background removal
    records one from a photo's EXIF."""
    yaw_r, elevation_r = np.radians(yaw), np.radians(elevation)
    c, s = np.cos(yaw_r), np.sin(yaw_r)
    level = DIRECTIONS[view]
    level = np.array([c * level[0] + s * level[2], 0.0, -s * level[0] + c * level[2]])
    back = np.cos(elevation_r) * level + np.sin(elevation_r) * np.array([0.0, 1.0, 0.0])
    right = np.cross([0.0, 1.0, 0.0], level)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    centre = np.array([0.0, 0.5, 0.0])
    eye = centre + distance * back
    focal = _focal(size)
    pixels = (np.arange(size) + 0.5 - size / 2) / focal
    u, v = np.meshgrid(pixels, -pixels)
    rays = -back[None, None, :] + u[..., None] * right + v[..., None] * up
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    depths = np.linspace(distance - 1.0, distance + 1.0, samples)
    hit = np.zeros((size, size), dtype=bool)
    for depth in depths:
        hit |= solid((eye + rays * depth).reshape(-1, 3)).reshape(size, size)
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    rgba[hit] = (*COLOURS[view], 255)
    if not crop:
        return _recorded(Image.fromarray(rgba, "RGBA"), focal if record_focal else None)
    rows, cols = np.flatnonzero(hit.any(axis=1)), np.flatnonzero(hit.any(axis=0))
    margin = int(0.1 * max(rows[-1] - rows[0], cols[-1] - cols[0]))
    top, bottom = max(0, rows[0] - margin), min(size, rows[-1] + 1 + margin)
    left, right_edge = max(0, cols[0] - margin), min(size, cols[-1] + 1 + margin)
    return _recorded(
        Image.fromarray(rgba[top:bottom, left:right_edge], "RGBA"), focal if record_focal else None
    )


def _recorded(image: Image.Image, focal: float | None) -> Image.Image:
    if focal is not None:
        image.info[FOCAL_PIXELS_TEXT] = f"{focal:.2f}"  # cropping keeps the pixels' scale
    return image


def _focal(size: int) -> float:
    return size / 2 / 0.35  # ~40° field of view


def camera(
    *, yaw: float = 0.0, elevation: float = 0.0, distance: float = 2.5, size: int = 200
) -> KnownCamera:
    """The camera of an uncropped ``cutout(..., crop=False)`` taken with the same arguments."""
    return KnownCamera(
        yaw=float(np.radians(yaw)),
        elevation=float(np.radians(elevation)),
        distance=distance,
        focal=_focal(size),
        centre_u=size / 2 - 0.5,
        centre_v=size / 2 - 0.5,
    )


def cutouts(solid: Solid, **per_view: dict) -> dict[str, Image.Image]:
    """The four views' cut-outs; ``per_view`` gives a view's camera, e.g. ``front={"yaw": 8.0}``."""
    return {view: cutout(solid, view, **per_view.get(view, {})) for view in DIRECTIONS}


def with_backdrop_block(image: Image.Image) -> Image.Image:
    """``image`` widened by 30 % on its right, with a block of backdrop standing beside the object there, as
    background removal keeps it when something salient stands behind the object."""
    photo = np.asarray(image)
    height, width = photo.shape[:2]
    spoilt = np.zeros((height, int(1.3 * width), 4), dtype=np.uint8)
    spoilt[:, :width] = photo
    spoilt[int(0.15 * height) : int(0.85 * height), int(0.97 * width) :] = (90, 90, 90, 255)
    return Image.fromarray(spoilt, "RGBA")

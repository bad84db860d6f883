"""The four cut-outs as calibrated views: silhouette, colours and a camera that projects model space.

Model space is the output convention (see :mod:`photo3d_generation.meshio`): +Y up, front towards +Z, the
object's height is 1 and its silhouettes are centred on the Y axis. Each photo is aligned by its alpha
bounding box: the box's height becomes the object's height and the box's horizontal centre the Y axis, so
photos taken from different distances or zooms still line up. A perspective camera stands at the assumed
distance, or, when background removal recorded the photo's focal length from its EXIF
(``FOCAL_PIXELS_TEXT``), at the distance that focal length and the silhouette's height give.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage, optimize

from photo3d_common.events import VIEWS
from photo3d_common.events import View as ViewName  # the view's name; View below is the camera
from photo3d_common.storage import FOCAL_PIXELS_TEXT, recorded_focal_pixels

from ..meshio import VIEW_DIRECTIONS, VIEW_RIGHT
from .errors import ReconstructionError

log = logging.getLogger(__name__)

#: Smallest object height, in pixels, that gives a usable silhouette.
MIN_OBJECT_PIXELS = 24
#: Alpha (0..1) from which a pixel belongs to the object.
ALPHA_THRESHOLD = 0.5
#: Range of camera distances (object heights from its axis) a photo's known focal length may give: nearer,
#: the object would not fit a phone's frame; farther, perspective is negligible anyway.
MIN_DISTANCE = 1.1
MAX_DISTANCE = 50.0


@dataclass(frozen=True)
class View:
    """One photo: premultiplied colour, alpha and the camera that maps model space to its pixels."""

    name: str
    alpha: np.ndarray  # (H, W) float32 0..1
    premultiplied: np.ndarray  # (H, W, 3) float32, colour * alpha, 0..255
    centre_u: float  # pixel column of the object's vertical axis
    centre_v: float  # pixel row of the object's mid-height
    pixels_per_unit: float  # silhouette height in pixels (the object's height is 1)
    width_ratio: float  # silhouette width / height
    bbox: tuple[int, int, int, int] = (0, 0, 0, 0)  # silhouette box: left, top, right, bottom (exclusive)
    distance: float | None = None  # camera distance in object heights; None = orthographic
    focal: float | None = None  # perspective focal length in pixels
    #: The camera's turn about the vertical axis from its nominal side (radians, counter-clockwise seen
    #: from above) and its height angle (radians, > 0 = above the object's middle, looking down at it).
    yaw: float = 0.0
    elevation: float = 0.0

    @property
    def direction(self) -> np.ndarray:
        """Unit vector from the object's middle towards the camera."""
        level = _turned(VIEW_DIRECTIONS[self.name], self.yaw)
        return np.cos(self.elevation) * level + np.sin(self.elevation) * np.array([0.0, 1.0, 0.0])

    @property
    def right(self) -> np.ndarray:
        return _turned(VIEW_RIGHT[self.name], self.yaw)

    @property
    def up(self) -> np.ndarray:
        return np.cross(self.direction, self.right)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model-space points (N, 3) -> pixel column u, row v and depth (larger = farther from camera).

        The camera looks at the object's middle (0, 0.5, 0) from ``direction``, ``distance`` away.
        """
        relative = points - np.array([0.0, 0.5, 0.0])
        lateral = relative @ self.right
        vertical = relative @ self.up
        along = relative @ self.direction  # towards the camera
        if self.distance is None or self.focal is None:
            u = self.centre_u + lateral * self.pixels_per_unit
            v = self.centre_v - vertical * self.pixels_per_unit
            return u, v, -along
        depth = self.distance - along
        depth = np.maximum(depth, 1e-3)
        u = self.centre_u + self.focal * lateral / depth
        v = self.centre_v - self.focal * vertical / depth
        return u, v, depth

    def sample_alpha(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        sampled: np.ndarray = ndimage.map_coordinates(self.alpha, [v, u], order=1, mode="constant", cval=0.0)
        return sampled

    def sample_premultiplied(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                ndimage.map_coordinates(
                    self.premultiplied[..., c], [v, u], order=1, mode="constant", cval=0.0
                )
                for c in range(3)
            ],
            axis=1,
        )


def _turned(vector: np.ndarray, yaw: float) -> np.ndarray:
    """``vector`` rotated by ``yaw`` about +Y."""
    if yaw == 0.0:
        return vector
    c, s = np.cos(yaw), np.sin(yaw)
    x, y, z = vector
    return np.array([c * x + s * z, y, -s * x + c * z])


def _alpha_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Drop specks that background removal left away from the object (they would widen the box)."""
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum(mask, labels, index=np.arange(1, count + 1))
    largest = int(np.argmax(sizes)) + 1
    # Keep every part at least 2 % of the largest, so a detached handle or leg survives.
    keep = np.flatnonzero(sizes >= 0.02 * sizes[largest - 1]) + 1
    return np.isin(labels, keep)


def _nearest_extremes(
    name: str, prepared: Mapping[str, tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]]
) -> tuple[float, float]:
    """How far towards this view's camera the object's top and bottom reach, in object heights.

    Read from the two perpendicular photos: the columns of their top and bottom silhouette rows give the
    horizontal positions of the highest and lowest points (orthographic estimate, ample for this).
    """
    direction = VIEW_DIRECTIONS[name]
    reaches: dict[str, list[float]] = {"top": [], "bottom": []}
    for other, (alpha, _, bbox) in prepared.items():
        if abs(float(np.dot(VIEW_DIRECTIONS[other], direction))) > 1e-6:
            continue  # the same axis: not a side view of this one
        height = bbox[3] - bbox[1]
        band = max(1, round(0.03 * height))
        centre_u = (bbox[0] + bbox[2]) / 2.0 - 0.5
        along = float(np.dot(VIEW_RIGHT[other], direction))
        for edge, rows in (
            ("top", slice(bbox[1], bbox[1] + band)),
            ("bottom", slice(bbox[3] - band, bbox[3])),
        ):
            columns = np.flatnonzero((alpha[rows] >= ALPHA_THRESHOLD).any(axis=0))
            if columns.size:
                reaches[edge].append(float(((columns - centre_u) / height * along).max()))
    top = float(np.mean(reaches["top"])) if reaches["top"] else 0.0
    bottom = float(np.mean(reaches["bottom"])) if reaches["bottom"] else 0.0
    return top, bottom


def _perspective_calibration(
    name: str,
    prepared: Mapping[str, tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]],
    distance: float,
    focal: float | None = None,
) -> tuple[float, float, float]:
    """Focal length, the pixel row of mid-height and the distance of a level camera.

    Cut-outs are cropped, so the photo's zoom and centre are gone. With the camera level with the
    object's middle, the silhouette's top edge is the top point nearest the camera (at height 0.5 above
    the axis, ``distance - top_reach`` away) and its bottom edge the nearest bottom point: two equations
    that give the focal length and the row of the optical axis for an assumed ``distance`` -- or, when the
    photo's ``focal`` length is known (EXIF), the distance the photo was taken from.
    """
    _, _, bbox = prepared[name]
    height = bbox[3] - bbox[1]
    top_reach, bottom_reach = _nearest_extremes(name, prepared)
    if focal is not None:
        distance = _distance_for(height / focal, top_reach, bottom_reach)
    near_top = max(distance - top_reach, 0.1)
    near_bottom = max(distance - bottom_reach, 0.1)
    if focal is None:
        focal = height / (0.5 / near_top + 0.5 / near_bottom)
    centre_v = (bbox[1] - 0.5) + focal * 0.5 / near_top
    return focal, centre_v, distance


def _distance_for(angular_height: float, top_reach: float, bottom_reach: float) -> float:
    """The distance (object heights) at which the object spans ``angular_height`` (its silhouette's height
    over the focal length): the root of ``0.5 / (d - top_reach) + 0.5 / (d - bottom_reach)``, which falls
    with ``d``; within ``MIN_DISTANCE``..``MAX_DISTANCE``, as no photo is taken from nearer or farther."""

    def spanned(distance: float) -> float:
        return 0.5 / max(distance - top_reach, 0.1) + 0.5 / max(distance - bottom_reach, 0.1)

    if spanned(MIN_DISTANCE) <= angular_height:
        return MIN_DISTANCE
    if spanned(MAX_DISTANCE) >= angular_height:
        return MAX_DISTANCE
    return float(optimize.brentq(lambda d: spanned(d) - angular_height, MIN_DISTANCE, MAX_DISTANCE))


@dataclass(frozen=True)
class KnownCamera:
    """A camera known from elsewhere (a calibrated rig, a benchmark's renderer), in the cut-out's pixels.

    Looks at the object's middle (0, 0.5, 0) of the 1-unit-tall model from its view's side, turned by
    ``yaw`` and raised by ``elevation`` (radians), ``distance`` object heights away, with focal length
    ``focal`` and optical centre (``centre_u``, ``centre_v``) in pixels of the cut-out as given.
    """

    yaw: float
    elevation: float
    distance: float
    focal: float
    centre_u: float
    centre_v: float


def load_views(
    cutouts: Mapping[ViewName, Image.Image],
    *,
    max_side: int = 1024,
    camera_distance: float | None = None,
    cameras: Mapping[str, KnownCamera] | None = None,
) -> dict[str, View]:
    """Validate the four cut-outs and turn them into :class:`View` objects (perspective cameras
    ``camera_distance`` away, or where a cut-out's recorded focal length puts them).

    Raises :class:`ReconstructionError` with a message for the user when a photo is missing, has no
    transparency, shows no object or shows it too small.
    """
    missing = [view for view in VIEWS if view not in cutouts]
    if missing:
        raise ReconstructionError(
            f"the {', '.join(missing)} photo{'s are' if len(missing) > 1 else ' is'} missing",
            code="missing_view",
        )
    prepared: dict[str, tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]] = {}
    scales: dict[str, float] = {}
    focals: dict[str, float | None] = {}
    for name in VIEWS:
        image = cutouts[name]
        if "A" not in image.getbands():
            raise ReconstructionError(
                f"the {name} photo has no transparent background; remove its background first",
                code="no_alpha",
            )
        focals[name] = _focal_pixels(image, name)
        image = image.convert("RGBA")
        scale = 1.0
        if max(image.size) > max_side:
            scale = max_side / max(image.size)
            image = image.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                Image.Resampling.LANCZOS,
            )
        pixels = np.asarray(image, dtype=np.float32)
        alpha = pixels[..., 3] / 255.0
        mask = _largest_component(alpha >= ALPHA_THRESHOLD) if alpha.any() else alpha >= ALPHA_THRESHOLD
        bbox = _alpha_bbox(mask)
        if bbox is None:
            raise ReconstructionError(
                f"no object was found in the {name} photo: its background removal left nothing; "
                "retake it with the object clearly in view",
                code="empty_silhouette",
            )
        height = bbox[3] - bbox[1]
        width = bbox[2] - bbox[0]
        if height < MIN_OBJECT_PIXELS or width < 4:
            raise ReconstructionError(
                f"the {name} photo's object is too small ({width}x{height} pixels); "
                "take the photo closer so the object fills most of the frame",
                code="object_too_small",
            )
        alpha = np.where(mask, alpha, 0.0).astype(np.float32)
        premultiplied = (pixels[..., :3] * alpha[..., None]).astype(np.float32)
        prepared[name] = (alpha, premultiplied, bbox)
        scales[name] = scale

    ratios = {name: (b[2] - b[0]) / (b[3] - b[1]) for name, (_, _, b) in prepared.items()}
    for first, second, what in (("front", "back", "width"), ("left", "right", "depth")):
        larger = max(ratios[first], ratios[second])
        smaller = min(ratios[first], ratios[second])
        if larger / smaller > 1.8:
            raise ReconstructionError(
                f"the {first} and {second} photos disagree about the object's {what} "
                f"({ratios[first]:.2f} vs {ratios[second]:.2f} times its height); "
                "check that each photo is in the right slot and shows the whole object",
                code="inconsistent_views",
            )

    views: dict[str, View] = {}
    for view_name, (alpha, premultiplied, bbox) in prepared.items():
        height_px = float(bbox[3] - bbox[1])
        centre_v = (bbox[1] + bbox[3]) / 2.0 - 0.5
        if cameras is not None:
            known, scale = cameras[view_name], scales[view_name]
            # pixel centres: a scaled image's pixel i covers the original's (i + 0.5) / scale - 0.5
            views[view_name] = View(
                name=view_name,
                alpha=alpha,
                premultiplied=premultiplied,
                centre_u=(known.centre_u + 0.5) * scale - 0.5,
                centre_v=(known.centre_v + 0.5) * scale - 0.5,
                pixels_per_unit=known.focal * scale / known.distance,
                width_ratio=ratios[view_name],
                bbox=bbox,
                distance=known.distance,
                focal=known.focal * scale,
                yaw=known.yaw,
                elevation=known.elevation,
            )
            continue
        focal, distance = None, camera_distance
        if camera_distance is not None:
            known_focal = focals[view_name]
            focal, centre_v, distance = _perspective_calibration(
                view_name,
                prepared,
                camera_distance,
                None if known_focal is None else known_focal * scales[view_name],
            )
        views[view_name] = View(
            name=view_name,
            alpha=alpha,
            premultiplied=premultiplied,
            centre_u=(bbox[0] + bbox[2]) / 2.0 - 0.5,
            centre_v=centre_v,
            pixels_per_unit=height_px,
            width_ratio=ratios[view_name],
            bbox=bbox,
            distance=distance,
            focal=focal,
        )
    return views


def _focal_pixels(image: Image.Image, name: str) -> float | None:
    """The focal length in the cut-out's pixels that background removal recorded from the photo's EXIF, or
    None (no EXIF focal length, or a value that cannot be one)."""
    focal = recorded_focal_pixels(image.info)
    if focal is None and FOCAL_PIXELS_TEXT in image.info:
        log.warning(
            "the %s cut-out's focal length %r is not usable; it is ignored",
            name,
            image.info[FOCAL_PIXELS_TEXT],
        )
    return focal

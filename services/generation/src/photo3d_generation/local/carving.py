"""Silhouette carving: the visual hull of the four views on a voxel grid, as a smooth implicit field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .views import View

#: Anti-aliasing blur of the silhouettes, in voxels: a smooth field gives marching cubes sub-voxel edges.
MASK_BLUR_VOXELS = 0.35


@dataclass(frozen=True)
class CarvedVolume:
    """Occupancy in 0..1 (0.5 = the hull's surface) sampled at ``origin + index * spacing``."""

    field: np.ndarray  # (nx, ny, nz) float32
    origin: np.ndarray  # model-space position of voxel (0, 0, 0)
    spacing: float


def grid_for(views: Mapping[str, View], resolution: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Bounds of the grid around the object: height 1, widths from the silhouettes, with a margin."""
    half_x = max(views["front"].width_ratio, views["back"].width_ratio) / 2
    half_z = max(views["left"].width_ratio, views["right"].width_ratio) / 2
    perspective = any(view.distance is not None for view in views.values())
    margin = 0.12 if perspective else 0.06
    low = np.array([-half_x - margin, -margin, -half_z - margin])
    high = np.array([half_x + margin, 1.0 + margin, half_z + margin])
    spacing = float((high - low).max() / resolution)
    counts = np.ceil((high - low) / spacing).astype(int) + 1
    return low, counts, spacing


def carve(views: Mapping[str, View], *, resolution: int) -> CarvedVolume:
    """Sample every view's (anti-aliased) alpha at each voxel; a voxel's occupancy is the minimum.

    The minimum of bilinearly interpolated silhouettes is a continuous field whose 0.5 level is the
    visual hull, so marching cubes gets sub-voxel accuracy without a staircase.
    """
    origin, counts, spacing = grid_for(views, resolution)
    xs = origin[0] + np.arange(counts[0]) * spacing
    ys = origin[1] + np.arange(counts[1]) * spacing
    zs = origin[2] + np.arange(counts[2]) * spacing

    blurred: dict[str, np.ndarray] = {}
    for name, view in views.items():
        # Anti-alias the mask at the voxel footprint so thin parts neither vanish nor flicker.
        pixels_per_voxel = view.pixels_per_unit * spacing
        sigma = max(0.0, MASK_BLUR_VOXELS * pixels_per_voxel)
        blurred[name] = ndimage.gaussian_filter(view.alpha, sigma) if sigma > 0.5 else view.alpha

    field = np.ones(tuple(counts), dtype=np.float32)
    # One Y slab at a time keeps memory at a few slices of points.
    grid_x, grid_z = np.meshgrid(xs, zs, indexing="ij")
    flat_x, flat_z = grid_x.ravel(), grid_z.ravel()
    for j, y in enumerate(ys):
        points = np.column_stack([flat_x, np.full_like(flat_x, y), flat_z])
        occupancy = np.ones(len(points), dtype=np.float32)
        for name, view in views.items():
            u, v, _ = view.project(points)
            sampled = ndimage.map_coordinates(blurred[name], [v, u], order=1, mode="constant", cval=0.0)
            np.minimum(occupancy, sampled, out=occupancy)
        # The silhouettes' height is the object's (calibrated so its lowest and highest points are at
        # y = 0 and 1): cut the hull there, which removes the "roofs" four level cameras cannot exclude
        # and gives the object a flat base to stand on.
        within = min(1.0, max(0.0, y / spacing + 0.5), max(0.0, (1.0 - y) / spacing + 0.5))
        field[:, j, :] = occupancy.reshape(len(xs), len(zs)) * within
    return CarvedVolume(field=field, origin=origin, spacing=spacing)

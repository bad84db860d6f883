"""Colour a mesh from the photos: each vertex takes the views that see it, weighted by how squarely."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import trimesh
from scipy import ndimage, sparse

from .views import View

#: Sharpness of the preference for the view that faces a surface squarely (cosine ** power).
FACING_POWER = 3.0
#: Small weight so surfaces seen edge-on by every view (top, bottom) still blend the views that see them.
EDGE_ON_WEIGHT = 0.05
NEUTRAL_GREY = np.array([180.0, 180.0, 180.0])


def visible_vertices(view: View, vertices: np.ndarray, tolerance: float) -> np.ndarray:
    """Which vertices the view sees: a z-buffer of vertex splats, gaps closed by a minimum filter."""
    u, v, depth = view.project(vertices)
    # Buffer resolution: about one vertex per cell across the object, independent of the photo's size.
    cells_per_unit = max(16.0, np.sqrt(len(vertices) / 3.0))
    scale = cells_per_unit / view.pixels_per_unit
    cu = np.floor((u - u.min()) * scale).astype(np.int64)
    cv = np.floor((v - v.min()) * scale).astype(np.int64)
    shape = (int(cv.max()) + 1, int(cu.max()) + 1)
    zbuffer = np.full(shape, np.inf)
    np.minimum.at(zbuffer, (cv, cu), depth)
    zbuffer = ndimage.minimum_filter(zbuffer, size=3)
    return depth <= zbuffer[cv, cu] + tolerance


def vertex_colors(mesh: trimesh.Trimesh, views: Mapping[str, View], *, tolerance: float) -> np.ndarray:
    """RGBA uint8 per vertex, blended from the views; unseen vertices take their neighbours' colour."""
    vertices = np.asarray(mesh.vertices)
    normals = np.asarray(mesh.vertex_normals)
    total = np.zeros((len(vertices), 3))
    weight_sum = np.zeros(len(vertices))
    for view in views.values():
        facing = np.clip(normals @ view.direction, 0.0, 1.0)
        visible = visible_vertices(view, vertices, tolerance)
        u, v, _ = view.project(vertices)
        alpha = view.sample_alpha(u, v)
        premultiplied = view.sample_premultiplied(u, v)
        # Alpha squared: half-transparent silhouette edges carry background fringe, so trust them less.
        weight = visible * alpha**2 * ((facing + EDGE_ON_WEIGHT) ** FACING_POWER)
        usable = alpha > 0.05
        colour = np.zeros_like(premultiplied)
        colour[usable] = premultiplied[usable] / alpha[usable, None]
        total += colour * weight[:, None]
        weight_sum += weight

    known = weight_sum > 1e-6
    colours = np.tile(NEUTRAL_GREY, (len(vertices), 1))
    colours[known] = total[known] / weight_sum[known, None]
    if not known.all() and known.any():
        colours = _diffuse_into_unknown(mesh, colours, known)
    rgba = np.empty((len(vertices), 4), dtype=np.uint8)
    rgba[:, :3] = np.clip(np.rint(colours), 0, 255)
    rgba[:, 3] = 255
    return rgba


def _diffuse_into_unknown(
    mesh: trimesh.Trimesh, colours: np.ndarray, known: np.ndarray, iterations: int = 200
) -> np.ndarray:
    """Fill vertices no photo sees (the underside, deep concavities) from their seen neighbours."""
    edges = mesh.edges_unique
    count = len(mesh.vertices)
    adjacency = sparse.coo_matrix(
        (np.ones(len(edges) * 2), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
        shape=(count, count),
    ).tocsr()
    colours = colours.copy()
    filled = known.copy()
    for _ in range(iterations):
        if filled.all():
            break
        sums = adjacency @ (colours * filled[:, None])
        counts = adjacency @ filled.astype(np.float64)
        newly = (~filled) & (counts > 0)
        if not newly.any():
            break
        colours[newly] = sums[newly] / counts[newly, None]
        filled |= newly
    return colours

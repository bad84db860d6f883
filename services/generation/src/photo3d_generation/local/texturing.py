"""Projective texture atlas: each triangle is textured by the one photo that sees it most squarely.

The atlas is the four photos themselves (each cropped to its silhouette and packed into a 2x2 grid), so the
model keeps the photos' full detail instead of one colour per vertex. A triangle's UVs are its corners
projected into its chosen photo. Outside each silhouette the photo's pixels are replaced by the nearest
object pixel, so texture filtering and triangles grazing the outline never pick up the background.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import trimesh
from PIL import Image
from scipy import ndimage

from photo3d_common.events import VIEWS

from .coloring import visible_vertices
from .views import View

#: one atlas tile per photo, in the order of the views
TILE_ORDER = VIEWS
#: A triangle faced less squarely than this by every photo that fully sees it uses its best-facing photo.
MIN_FACING = 0.05


def _tile(view: View, tile_size: int) -> tuple[Image.Image, float, float, float]:
    """The view's silhouette crop, background filled from the object, scaled to fit the tile."""
    left, top, right, bottom = view.bbox
    pad = max(2, int(0.02 * max(right - left, bottom - top)))
    height, width = view.alpha.shape
    left, top = max(0, left - pad), max(0, top - pad)
    right, bottom = min(width, right + pad), min(height, bottom + pad)
    alpha = view.alpha[top:bottom, left:right]
    colour = np.zeros((bottom - top, right - left, 3), dtype=np.float32)
    inside = alpha > 0.5
    colour[inside] = view.premultiplied[top:bottom, left:right][inside] / alpha[inside, None]
    # Every outside pixel takes the colour of the nearest inside pixel (no background in the atlas).
    _, (rows, cols) = ndimage.distance_transform_edt(~inside, return_indices=True)
    colour = colour[rows, cols]
    scale = min(tile_size / (right - left), tile_size / (bottom - top))
    size = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
    image = Image.fromarray(np.clip(colour + 0.5, 0, 255).astype(np.uint8), "RGB").resize(
        size, Image.Resampling.LANCZOS
    )
    return image, scale, float(left), float(top)


def textured_mesh(
    mesh: trimesh.Trimesh, views: Mapping[str, View], *, texture_size: int, tolerance: float
) -> trimesh.Trimesh:
    """A copy of ``mesh`` with UVs and a ``texture_size`` square atlas made from the photos."""
    vertices = np.asarray(mesh.vertices)
    faces = np.asarray(mesh.faces)
    normals = np.asarray(mesh.face_normals)
    names = [name for name in TILE_ORDER if name in views]

    scores = np.zeros((len(faces), len(names)))
    facing_only = np.zeros_like(scores)
    for column, name in enumerate(names):
        view = views[name]
        facing = normals @ view.direction
        seen = visible_vertices(view, vertices, tolerance)[faces].all(axis=1)
        scores[:, column] = np.where(seen, facing, -1.0)
        facing_only[:, column] = facing
    choice = scores.argmax(axis=1)
    unseen = scores.max(axis=1) < MIN_FACING
    choice[unseen] = facing_only[unseen].argmax(axis=1)

    tile_size = texture_size // 2
    atlas = Image.new("RGB", (texture_size, texture_size), (128, 128, 128))
    # Split vertices where neighbouring triangles use different photos: one (vertex, photo) pair each.
    corner_vertex = faces.reshape(-1)
    corner_view = np.repeat(choice, 3)
    keys, inverse = np.unique(corner_vertex * len(names) + corner_view, return_inverse=True)
    new_vertex = keys // len(names)
    new_view = keys % len(names)
    uv = np.zeros((len(keys), 2))
    for column, name in enumerate(names):
        view = views[name]
        image, scale, left, top = _tile(view, tile_size)
        origin_x, origin_y = (column % 2) * tile_size, (column // 2) * tile_size
        atlas.paste(image, (origin_x, origin_y))
        mine = new_view == column
        u, v, _ = view.project(vertices[new_vertex[mine]])
        # Pixel centres -> atlas pixels -> UV (origin bottom-left, as trimesh and OpenGL expect).
        x = origin_x + (u + 0.5 - left) * scale
        y = origin_y + (v + 0.5 - top) * scale
        x = np.clip(x, origin_x + 0.5, origin_x + image.width - 0.5)
        y = np.clip(y, origin_y + 0.5, origin_y + image.height - 0.5)
        uv[mine, 0] = x / texture_size
        uv[mine, 1] = 1.0 - y / texture_size

    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=atlas, metallicFactor=0.0, roughnessFactor=0.9, doubleSided=False
    )
    return trimesh.Trimesh(
        vertices=vertices[new_vertex],
        faces=inverse.reshape(-1, 3),
        visual=trimesh.visual.TextureVisuals(uv=uv, material=material),
        process=False,
    )

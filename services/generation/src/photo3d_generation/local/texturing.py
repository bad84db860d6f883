"""Projective texture atlas: each triangle is textured by the one photo that sees it most squarely.

The atlas is the four photos themselves (each cropped to its silhouette and packed into a 2x2 grid), so the
model keeps the photos' full detail instead of one colour per vertex. A triangle's UVs are its corners
projected into its chosen photo. Outside each silhouette the photo's pixels are replaced by the nearest
object pixel, so texture filtering and triangles grazing the outline never pick up the background.

Where two photos meet (a seam), their colours differ by the light each was taken in; each side's texels
are corrected to meet at the mean, the correction fading into the photo's own colours within a few rings
of triangles (:func:`seam_corrections`), so the model still looks like each photo from its side. Where
they differ by more than light does (a camera a little off shows another part there), nothing is levelled:
averaging would smear. Measured on ``bench/quality`` (true masks, 18 sets): the colour step across seams
16.6 -> 14.7 ΔE, the colour error rendered back 9.90 -> 9.93. A gain per photo fitted to the seams'
median ratios (exposure) was tried and dropped: the ratios follow what each camera sees, not its exposure
(ΔE 10.2 -> 12.0).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import trimesh
from PIL import Image
from scipy import ndimage, sparse
from scipy.interpolate import LinearNDInterpolator as interpolate_linear
from scipy.sparse import linalg as sparse_linalg
from scipy.spatial import QhullError

from photo3d_common.events import VIEWS

from .coloring import visible_vertices
from .views import View

#: one atlas tile per photo, in the order of the views
TILE_ORDER = VIEWS
#: A triangle faced less squarely than this by every photo that fully sees it uses its best-facing photo.
MIN_FACING = 0.05
#: Seam levelling: how fast a seam's correction fades into the photo's own colours (the screening of the
#: Laplacian on the mesh: larger = a narrower band beside each seam).
SEAM_SCREENING = 1.0
#: A seam point whose photos differ from their mean by more than this (0..255, any channel) is not levelled.
SEAM_MISMATCH = 20.0
#: Seam colours are read as the mean of 4x4 texels (bilinear samples this far from the point each way):
#: one texel's noise is no seam to level.
SAMPLE_SPREAD = 0.75
#: The correction is drawn into each tile on a grid of cells (tile side / CORRECTION_CELLS texels, at least
#: one), within CORRECTION_REACH cells of the points that carry one, then scaled up.
CORRECTION_CELLS = 256
CORRECTION_REACH = 4


def seam_corrections(vertex_of: np.ndarray, faces: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """An additive colour correction for each (vertex, photo) pair that levels the texture's seams.

    Where a vertex takes colours from two or more photos (a seam), each pair moves to their mean, so the
    two sides meet; away from the seams the correction fades over a few rings of triangles (a screened
    Laplace equation over each photo's part of the mesh: zero far away, so the model rendered from a
    photo's side still looks like that photo). Waechter, Moehrle & Goesele, "Let There Be Color!" (ECCV
    2014) level seams the same way, without the screening."""
    count = len(vertex_of)
    uses = np.bincount(vertex_of)
    on_seam = uses[vertex_of] > 1
    corrections = np.zeros((count, 3))
    if not on_seam.any():
        return corrections
    mean = np.zeros((len(uses), 3))
    np.add.at(mean, vertex_of, colours)
    mean /= np.maximum(uses, 1)[:, None]
    corrections[on_seam] = mean[vertex_of[on_seam]] - colours[on_seam]
    # two photos that disagree by more than light does show different parts there (a camera a little
    # off): averaging them would smear one's detail into the other, so such a seam point is left free
    mismatch = np.abs(corrections).max(axis=1) > SEAM_MISMATCH
    corrections[mismatch] = 0.0
    on_seam &= ~mismatch
    # the faces' edges join pairs of one photo only: each photo's part is levelled on its own
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adjacency = sparse.coo_matrix(
        (np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
        shape=(count, count),
    ).tocsr()
    adjacency.data[:] = 1.0  # an edge two faces share counts once
    free = np.flatnonzero(~on_seam)
    fixed = np.flatnonzero(on_seam)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    system = (sparse.diags(degree + SEAM_SCREENING) - adjacency).tocsr()[free][:, free]
    boundary = adjacency[free][:, fixed] @ corrections[fixed]
    corrections[free] = sparse_linalg.splu(system.tocsc()).solve(boundary)
    return corrections


def _local_mean(colour: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The mean colour of the 4x4 texels around each position (x right, y down) of an RGB array: four
    bilinear samples a texel and a half apart."""
    offsets = (-SAMPLE_SPREAD, SAMPLE_SPREAD)
    samples = [
        ndimage.map_coordinates(colour[..., c], [y + dy, x + dx], order=1, mode="nearest")
        for dy in offsets
        for dx in offsets
        for c in range(3)
    ]
    return np.stack(samples, axis=1).reshape(len(x), 4, 3).mean(axis=1)


def _correction_field(
    points: np.ndarray, values: np.ndarray, shape: tuple[int, int], cell: int
) -> np.ndarray:
    """The corrections at ``points`` (tile pixels) spread over a tile: interpolated linearly between the
    points (a Delaunay triangulation of them, close to the mesh's own triangles as the photo sees them) on
    a grid ``cell`` texels coarse near the points that carry a correction, then scaled up; zero elsewhere."""
    cells = (shape[0] // cell + 1, shape[1] // cell + 1)
    carrying = np.abs(values).max(axis=1) > 0.25
    near = np.zeros(cells, dtype=bool)
    near[
        np.clip((points[carrying, 1] / cell).astype(int), 0, cells[0] - 1),
        np.clip((points[carrying, 0] / cell).astype(int), 0, cells[1] - 1),
    ] = True
    # a carrying point's triangles reach a few cells around it
    near = ndimage.binary_dilation(near, iterations=CORRECTION_REACH)
    rows, cols = np.nonzero(near)
    coarse = np.zeros((*cells, 3))
    try:
        interpolate = interpolate_linear(points, values, fill_value=0.0)
    except QhullError:  # too few points, or all on a line: nothing to spread
        return np.zeros((*shape, 3), dtype=np.float32)
    coarse[rows, cols] = interpolate(np.column_stack([cols, rows]) * cell + (cell - 1) / 2)
    size = (cells[1] * cell, cells[0] * cell)
    fine = np.stack(
        [
            np.asarray(
                Image.fromarray(coarse[..., c].astype(np.float32), "F").resize(
                    size, Image.Resampling.BILINEAR
                )
            )
            for c in range(3)
        ],
        axis=-1,
    )
    return fine[: shape[0], : shape[1]]


def _object_colours(view: View) -> tuple[np.ndarray, int, int]:
    """The view's silhouette crop (float RGB, a small margin), every outside pixel given the colour of the
    nearest inside pixel (no background in the atlas), and the crop's left and top in the view's pixels."""
    left, top, right, bottom = view.bbox
    pad = max(2, int(0.02 * max(right - left, bottom - top)))
    height, width = view.alpha.shape
    left, top = max(0, left - pad), max(0, top - pad)
    right, bottom = min(width, right + pad), min(height, bottom + pad)
    alpha = view.alpha[top:bottom, left:right]
    colour = np.zeros((bottom - top, right - left, 3), dtype=np.float32)
    inside = alpha > 0.5
    colour[inside] = view.premultiplied[top:bottom, left:right][inside] / alpha[inside, None]
    _, (rows, cols) = ndimage.distance_transform_edt(~inside, return_indices=True)
    return colour[rows, cols], left, top


def _tile(colour: np.ndarray, tile_size: int) -> tuple[np.ndarray, float]:
    """``colour`` (an object crop) scaled to fit the tile, as float RGB, and the scale."""
    height, width = colour.shape[:2]
    scale = min(tile_size / width, tile_size / height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(np.clip(colour + 0.5, 0, 255).astype(np.uint8), "RGB").resize(
        size, Image.Resampling.LANCZOS
    )
    return np.asarray(image, dtype=np.float32), scale


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
    tiles: list[np.ndarray] = []
    atlas_xy = np.zeros((len(keys), 2))  # each (vertex, photo) pair's place in the atlas, in pixels
    key_colours = np.zeros((len(keys), 3))  # and the photo's colour there
    for column, name in enumerate(names):
        view = views[name]
        colour, left, top = _object_colours(view)
        tile, scale = _tile(colour, tile_size)
        tiles.append(tile)
        origin_x, origin_y = (column % 2) * tile_size, (column // 2) * tile_size
        mine = new_view == column
        u, v, _ = view.project(vertices[new_vertex[mine]])
        # Pixel centres -> atlas pixels -> UV (origin bottom-left, as trimesh and OpenGL expect).
        x = origin_x + (u + 0.5 - left) * scale
        y = origin_y + (v + 0.5 - top) * scale
        x = np.clip(x, origin_x + 0.5, origin_x + tile.shape[1] - 0.5)
        y = np.clip(y, origin_y + 0.5, origin_y + tile.shape[0] - 0.5)
        atlas_xy[mine] = np.column_stack([x - origin_x, y - origin_y])
        key_colours[mine] = _local_mean(tile, x - origin_x - 0.5, y - origin_y - 0.5)  # at pixel centres
        uv[mine, 0] = x / texture_size
        uv[mine, 1] = 1.0 - y / texture_size

    new_faces = inverse.reshape(-1, 3)
    corrections = seam_corrections(new_vertex, new_faces, key_colours)
    for column, tile in enumerate(tiles):
        mine = new_view == column
        levelled = tile
        if np.any(corrections[mine]):
            cell = max(1, tile_size // CORRECTION_CELLS)
            levelled = tile + _correction_field(atlas_xy[mine], corrections[mine], tile.shape[:2], cell)
        image = Image.fromarray(np.clip(levelled + 0.5, 0, 255).astype(np.uint8), "RGB")
        atlas.paste(image, ((column % 2) * tile_size, (column // 2) * tile_size))

    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=atlas, metallicFactor=0.0, roughnessFactor=0.9, doubleSided=False
    )
    return trimesh.Trimesh(
        vertices=vertices[new_vertex],
        faces=new_faces,
        visual=trimesh.visual.TextureVisuals(uv=uv, material=material),
        process=False,
    )

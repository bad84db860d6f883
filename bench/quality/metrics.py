"""Shape and colour scores of a reconstruction against the true mesh (both 1 unit tall, same convention).

* F-score at a distance threshold (2 % and 5 % of the height): harmonic mean of precision (share of the
  reconstruction's surface within the threshold of the truth) and recall (share of the truth's surface
  within the threshold of the reconstruction), on uniform surface samples.
* Chamfer distance: mean of the two directed mean nearest-neighbour distances, in object heights.
* Volumetric IoU: both shapes voxelised on one 96-voxel grid (see :func:`occupancy`).
* Colour error: mean CIELAB ΔE76 between the photo and the reconstruction rendered (unlit, base colour)
  from the same camera, over pixels inside both silhouettes eroded by 3 px (so edge blending and a
  one-pixel outline shift do not count).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

SAMPLES = 30_000


@dataclass(frozen=True)
class ShapeScores:
    fscore_2: float
    fscore_5: float
    chamfer: float
    iou: float


def _surface_points(mesh: trimesh.Trimesh, count: int, seed: int) -> np.ndarray:
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points)


def _fscore(to_truth: np.ndarray, to_reconstruction: np.ndarray, threshold: float) -> float:
    precision = float((to_truth < threshold).mean())
    recall = float((to_reconstruction < threshold).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def occupancy(
    mesh: trimesh.Trimesh, low: np.ndarray, pitch: float, shape: tuple[int, int, int]
) -> np.ndarray:
    """Solid voxels (centres inside the mesh).

    A closed mesh is tested by ray parity (embree). An open one (the bunny's holed base, the chair's
    parts) gets a majority vote of parity along five directions, so a ray that slips through a hole is
    outvoted.
    """
    axes = [low[a] + (np.arange(shape[a]) + 0.5) * pitch for a in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    if mesh.is_watertight:
        return mesh.contains(grid).reshape(shape)
    votes = np.zeros(len(grid), dtype=np.int32)
    for direction in ([1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1], [0, 1, 0]):
        directions = np.tile(np.asarray(direction, dtype=np.float64), (len(grid), 1))
        _, ray_index, _ = mesh.ray.intersects_location(grid, directions, multiple_hits=True)
        crossings = np.bincount(ray_index, minlength=len(grid))
        votes += crossings % 2
    return (votes >= 3).reshape(shape)


def shape_scores(reconstruction: trimesh.Trimesh, truth: trimesh.Trimesh, *, grid: int = 96) -> ShapeScores:
    recon_points = _surface_points(reconstruction, SAMPLES, seed=1)
    truth_points = _surface_points(truth, SAMPLES, seed=2)
    to_truth, _ = cKDTree(truth_points).query(recon_points)
    to_reconstruction, _ = cKDTree(recon_points).query(truth_points)

    low = np.minimum(reconstruction.bounds[0], truth.bounds[0]) - 0.05
    high = np.maximum(reconstruction.bounds[1], truth.bounds[1]) + 0.05
    pitch = float((high - low).max() / grid)
    shape = tuple(int(n) for n in np.ceil((high - low) / pitch).astype(int) + 1)
    solid_truth = occupancy(truth, low, pitch, shape)
    solid_reconstruction = occupancy(reconstruction, low, pitch, shape)
    union = np.logical_or(solid_truth, solid_reconstruction).sum()
    iou = float(np.logical_and(solid_truth, solid_reconstruction).sum() / union) if union else 0.0
    return ShapeScores(
        fscore_2=_fscore(to_truth, to_reconstruction, 0.02),
        fscore_5=_fscore(to_truth, to_reconstruction, 0.05),
        chamfer=float((to_truth.mean() + to_reconstruction.mean()) / 2),
        iou=iou,
    )


def colour_delta_e(photos: dict[str, np.ndarray], renders: dict[str, np.ndarray], erode: int = 3) -> float:
    """Mean CIELAB ΔE76 over pixels inside both silhouettes, eroded by ``erode`` pixels."""
    from scipy import ndimage
    from skimage.color import deltaE_cie76, rgb2lab

    total, count = 0.0, 0
    for view, photo in photos.items():
        render = renders[view]
        inside = (photo[..., 3] > 127) & (render[..., 3] > 127)
        inside = ndimage.binary_erosion(inside, iterations=erode)
        if not inside.any():
            continue
        difference = deltaE_cie76(
            rgb2lab(photo[..., :3][inside][None]), rgb2lab(render[..., :3][inside][None])
        )
        total += float(difference.sum())
        count += int(inside.sum())
    return total / count if count else float("nan")


def colour_error(photos: dict[str, np.ndarray], renders: dict[str, np.ndarray]) -> float:
    """Mean |RGB| difference over pixels opaque in both the true render and the reconstruction's."""
    total, count = 0.0, 0
    for view, photo in photos.items():
        render = renders[view]
        inside = (photo[..., 3] > 250) & (render[..., 3] > 250)
        if not inside.any():
            continue
        difference = np.abs(photo[..., :3].astype(np.float64) - render[..., :3].astype(np.float64))
        total += float(difference[inside].mean(axis=1).sum())
        count += int(inside.sum())
    return total / count if count else float("nan")


def mask_iou(predicted_alpha: np.ndarray, true_alpha: np.ndarray) -> float:
    predicted = predicted_alpha > 127
    truth = true_alpha > 127
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else 0.0


def seam_step(mesh: trimesh.Trimesh, offset: float = 0.002) -> float | None:
    """Mean CIELAB ΔE76 across the texture's seams: for every edge where the two triangles beside it take
    their colours from different places in the atlas (two photos), the atlas colour just inside each
    triangle at the edge's middle. A seam nobody sees scores 0; None for a model without a texture."""
    from skimage.color import deltaE_cie76, rgb2lab

    visual = mesh.visual
    if not isinstance(visual, trimesh.visual.TextureVisuals) or visual.uv is None:
        return None
    atlas = np.asarray(visual.material.baseColorTexture.convert("RGB"), dtype=np.float64) / 255.0
    uv = np.asarray(visual.uv)
    faces = np.asarray(mesh.faces)
    # the same point of the surface, whatever texture seam split its vertex
    _, welded = np.unique(np.round(np.asarray(mesh.vertices), 6), axis=0, return_inverse=True)
    welded = welded.reshape(-1)
    corners = welded[faces]
    edges = np.concatenate([corners[:, [0, 1]], corners[:, [1, 2]], corners[:, [2, 0]]])
    owners = np.tile(np.arange(len(faces)), 3)
    order = np.sort(edges, axis=1)
    _, inverse, counts = np.unique(order, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    shared = np.flatnonzero(counts[inverse] == 2)
    shared = shared[np.argsort(inverse[shared], kind="stable")]
    first, second = shared[0::2], shared[1::2]

    def inside_point(index: np.ndarray) -> np.ndarray:
        """UV of the edge's middle in the triangle that owns edge ``index``, nudged towards its centroid."""
        face = faces[owners[index]]
        face_corners = welded[face]
        rows = np.arange(len(index))

        def corner_uv(point: np.ndarray) -> np.ndarray:
            return uv[face[rows, np.argmax(face_corners == point[:, None], axis=1)]]

        middle = (corner_uv(edges[index, 0]) + corner_uv(edges[index, 1])) / 2.0
        centroid = uv[face].mean(axis=1)
        towards = centroid - middle
        length = np.linalg.norm(towards, axis=1, keepdims=True)
        return middle + towards / np.maximum(length, 1e-12) * np.minimum(length, offset)

    uv_first, uv_second = inside_point(first), inside_point(second)
    seam = np.linalg.norm(uv_first - uv_second, axis=1) > 4 * offset
    if not seam.any():
        return 0.0
    height, width = atlas.shape[:2]

    def sample(points: np.ndarray) -> np.ndarray:
        cols = np.clip((points[:, 0] * width).astype(int), 0, width - 1)
        rows = np.clip(((1.0 - points[:, 1]) * height).astype(int), 0, height - 1)
        return atlas[rows, cols]

    lab_first = rgb2lab(sample(uv_first[seam])[None])
    lab_second = rgb2lab(sample(uv_second[seam])[None])
    return float(deltaE_cie76(lab_first, lab_second).mean())

"""The pipeline: cut-outs -> views -> carved field -> marching cubes -> smooth -> decimate -> colour."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import trimesh
from PIL import Image
from scipy import ndimage
from skimage import measure

from photo3d_common.events import View as ViewName
from photo3d_common.storage import STAND_IN_FOR_TEXT

from ..meshio import RESULT_NOTES, drop_doubled_faces, normalize_mesh
from .carving import CarvedVolume, carve
from .coloring import vertex_colors
from .errors import ReconstructionError
from .poses import fit_poses
from .texturing import textured_mesh
from .views import KnownCamera, View, load_views

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]

#: A model whose lowest point is this far (object heights) above the silhouettes' base has lost thin lower
#: parts in the carving (a chair's legs that one photo cut short): it keeps the photos' ground.
LOST_BASE = 0.05
#: Blur (in voxels) of the carved field before marching cubes: softens voxel steps, erodes thin parts.
FIELD_SIGMA = 0.6


@dataclass(frozen=True)
class ReconstructionSettings:
    """Knobs of the local reconstructor (defaults suit phone photos on a 2-core CPU: a few seconds).

    * ``voxel_resolution``: voxels along the grid's longest side (detail vs time, cubic).
    * ``smoothing_iterations``: Taubin (volume-preserving) smoothing passes on the surface.
    * ``target_faces``: triangle budget after decimation (0 = keep every marching-cubes triangle).
    * ``camera_distance``: photos taken by a level pinhole camera this many object heights from the
      object's axis (``None`` = orthographic). 2.5 suits phone photos where the object fills most of the
      frame; in the quality benchmark (true distance ~2) it beats both orthographic and the true value.
    * ``height``: height of the produced model, in model units (metres in glTF).
    * ``texture_size``: side of the texture atlas made from the photos (0 = per-vertex colours only).
    * ``max_photo_side``: photos are downscaled to this many pixels on their long side first.
    * ``fit_cameras``: adjust each photo's camera (zoom, centre, tilt) until the four silhouettes agree
      (:mod:`photo3d_generation.local.poses`); perspective only. Off: each photo keeps the camera its own
      silhouette box gives.
    """

    voxel_resolution: int = 128
    smoothing_iterations: int = 8
    target_faces: int = 20_000
    camera_distance: float | None = 2.5
    height: float = 1.0
    max_photo_side: int = 1024
    texture_size: int = 2048
    fit_cameras: bool = True

    def __post_init__(self) -> None:
        if not 16 <= self.voxel_resolution <= 512:
            raise ValueError("voxel_resolution must be between 16 and 512")
        if self.smoothing_iterations < 0:
            raise ValueError("smoothing_iterations must be >= 0")
        if self.target_faces < 0:
            raise ValueError("target_faces must be >= 0")
        if self.camera_distance is not None and self.camera_distance <= 1.0:
            raise ValueError("camera_distance must be more than 1 object height (or None)")
        if self.height <= 0:
            raise ValueError("height must be positive")
        if self.texture_size and not 64 <= self.texture_size <= 8192:
            raise ValueError("texture_size must be 0 or between 64 and 8192")


def reconstruct(
    cutouts: Mapping[ViewName, Image.Image],
    settings: ReconstructionSettings | None = None,
    *,
    progress: ProgressCallback | None = None,
    cameras: Mapping[str, KnownCamera] | None = None,
) -> trimesh.Trimesh:
    """Four RGBA cut-outs (``front``, ``left``, ``right``, ``back``) -> a closed, textured mesh.

    The mesh is in the output convention of :mod:`photo3d_generation.meshio` (+Y up, front towards +Z,
    centred on X/Z, resting on y = 0, about ``settings.height`` tall; a model whose lowest parts the carving lost
    stands where the photos show the ground instead). It carries a texture atlas made of
    the photos (vertices split only along texture seams: ``meshio.welded`` is watertight), or per-vertex
    colours with ``texture_size=0``. ``cameras``: the cameras when they are known (the cut-outs then are
    uncropped photos), instead of estimating them from the silhouettes. CPU-bound and synchronous: call it off the
    event loop. ``progress(fraction, detail)`` is called between steps.
    Raises :class:`ReconstructionError` (message for the user) when the photos cannot make a model.
    """
    settings = settings or ReconstructionSettings()
    report = progress or (lambda fraction, detail: None)
    started = time.perf_counter()

    report(0.0, "reading the cut-outs")
    # A stand-in (another photo's outline, mirrored) shapes the model but lends it no colour.
    stand_ins = {name for name, image in cutouts.items() if STAND_IN_FOR_TEXT in image.info}
    views = load_views(
        cutouts, max_side=settings.max_photo_side, camera_distance=settings.camera_distance, cameras=cameras
    )

    notes: list[str] = []
    if cameras is None and settings.fit_cameras:
        report(0.05, "fitting the cameras to the photos")
        fit = fit_poses(views)
        views = fit.views
        notes += [
            f"the {name} photo's outline does not fit the object the other three show, so the model "
            f"leans on them; retake the {name} photo (plain background, whole object in view) for a "
            "better model"
            for name in fit.outliers
        ]

    report(0.1, "carving the silhouettes")
    volume = carve(views, resolution=settings.voxel_resolution)

    report(0.5, "building the surface")
    mesh = _surface(volume)

    if settings.smoothing_iterations:
        report(0.6, "smoothing")
        trimesh.smoothing.filter_taubin(mesh, lamb=0.5, nu=0.53, iterations=settings.smoothing_iterations)

    if settings.target_faces and len(mesh.faces) > settings.target_faces:
        report(0.7, "simplifying")
        mesh = _decimate(mesh, settings.target_faces)

    report(0.8, "colouring from the photos")
    tolerance = 3 * volume.spacing
    colour_views = {name: view for name, view in views.items() if name not in stand_ins}
    if settings.texture_size:
        mesh = textured_mesh(mesh, colour_views, texture_size=settings.texture_size, tolerance=tolerance)
    else:
        mesh.visual = trimesh.visual.ColorVisuals(
            mesh, vertex_colors=vertex_colors(mesh, colour_views, tolerance=tolerance)
        )

    # Keep the silhouettes' scale (1 = the photos' object height) rather than the mesh's own height, so a
    # part the carving lost (a thin leg) does not blow the rest up; then rest it on y = 0 -- unless the
    # carving lost the object's lower parts (legs one photo cut short): then the ground stays where the
    # photos show it, rather than the rest of the model sinking by their length.
    lost_base = float(mesh.bounds[0][1])
    mesh = normalize_mesh(mesh)
    if lost_base > LOST_BASE:
        mesh.apply_translation([0.0, lost_base, 0.0])
        log.warning(
            "the carving lost the object's lowest parts; the model stands where the photos show it",
            extra={"lost_height": round(lost_base, 3)},
        )
        notes.append(
            f"the lowest {lost_base:.0%} of the object (thin parts such as legs) is missing from the model: "
            "one photo's cut-out cut it short; retake that photo against a plain background"
        )
    mesh.apply_scale(settings.height)
    mesh.metadata[RESULT_NOTES] = notes
    report(1.0, "done")
    log.info(
        "local reconstruction finished",
        extra={
            "faces": len(mesh.faces),
            "vertices": len(mesh.vertices),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    return mesh


def _surface(volume: CarvedVolume) -> trimesh.Trimesh:
    field = ndimage.gaussian_filter(volume.field, FIELD_SIGMA) if FIELD_SIGMA > 0 else volume.field
    if field.max() < 0.5 or (field >= 0.5).sum() < 8:
        raise ReconstructionError(
            "the four photos do not agree on the object's shape (nothing is inside all four outlines); "
            "check that each photo shows the same object from the side it is labelled with",
            code="empty_volume",
        )
    # Zero padding closes the surface wherever the object touches the grid's border.
    padded = np.pad(field, 1, mode="constant", constant_values=0.0)
    vertices, faces, _, _ = measure.marching_cubes(padded, level=0.5, spacing=(volume.spacing,) * 3)
    vertices = vertices - volume.spacing + volume.origin
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=True)
    mesh = _keep_substantial_parts(mesh)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _keep_substantial_parts(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Drop floating crumbs (specks carved from stray mask pixels); keep real detached parts."""
    if mesh.body_count <= 1:
        return mesh
    parts = mesh.split(only_watertight=False)
    largest = max(len(part.faces) for part in parts)
    kept = [part for part in parts if len(part.faces) >= 0.03 * largest]
    if len(kept) == 1:
        return kept[0]
    combined = trimesh.util.concatenate(kept)
    if not isinstance(combined, trimesh.Trimesh):  # trimesh types it as any geometry
        raise TypeError(f"concatenating mesh parts gave a {type(combined).__name__}")
    return combined


def _decimate(mesh: trimesh.Trimesh, target_faces: int) -> trimesh.Trimesh:
    """Quadric decimation that must keep the surface closed.

    Collapsing edges in thin parts occasionally leaves a non-manifold edge; a slightly larger budget
    usually avoids it, and as a last resort the undecimated (still closed) mesh is kept.
    """
    for budget in (target_faces, int(target_faces * 1.3), int(target_faces * 1.7)):
        if budget >= len(mesh.faces):
            break
        try:
            simplified = mesh.simplify_quadric_decimation(face_count=budget)
        except (ImportError, ValueError, RuntimeError) as exc:  # backend missing or mesh rejected
            log.warning("decimation skipped: %s", exc)
            return mesh
        simplified.merge_vertices()
        if not simplified.is_watertight:
            drop_doubled_faces(simplified)
        if simplified.is_watertight and simplified.is_winding_consistent:
            trimesh.repair.fix_normals(simplified)
            return simplified
    log.warning("decimation would open the surface; keeping %d faces", len(mesh.faces))
    return mesh


__all__ = ["ReconstructionError", "ReconstructionSettings", "View", "reconstruct"]

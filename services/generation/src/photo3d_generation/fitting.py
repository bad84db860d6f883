"""A model's options applied to whatever mesh a provider delivered: face budget, texture, real size.

Every provider's result goes through :func:`fit_to_options` before it is exported, so the options mean the
same whoever generated the model:

* ``texture`` off: plain geometry (no texture, no colours), as Tencent's ``GenerateType=Geometry`` gives.
* ``target_faces``: the delivered face count is within :data:`FACE_TOLERANCE` of the budget. A mesh with
  more faces is simplified (quadric decimation, fast-simplification, on the welded geometry so texture
  seams do not pin it; the texture coordinates or colours are carried over from the nearest original
  face). A mesh with fewer faces is subdivided (each triangle into four, in its own plane, so the shape
  does not change) and then simplified to the budget: the extra faces carry no extra detail, but the mesh
  meets the budget the user asked for. Where that fails, the result says so in its ``detail``.
* ``height_m`` / ``width_m``: uniformly scaled so its bounding box is that tall (y) or wide (x), metres.

The input must already be in the output convention (``meshio.normalize_mesh``); so is the output.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree
from trimesh import remesh

from photo3d_common.events import Dimensions, GenerationOptions

from .meshio import RESULT_NOTES, drop_doubled_faces, normalize_mesh, welded

log = logging.getLogger(__name__)

#: How far the delivered face count may be from the budget (the issue's ±10 %).
FACE_TOLERANCE = 0.10
#: Budgets tried in turn when a simplification would open a closed surface (all within the tolerance).
_BUDGET_STEPS = (1.0, 1.05, 0.95, 1.08, 0.92)
#: Vertices closer than this (10^-6 model units, well under float32's resolution at 1 unit) are one.
_MERGE_DIGITS = 6


@dataclass(frozen=True)
class FittedMesh:
    mesh: trimesh.Trimesh
    dimensions: Dimensions
    detail: str | None = None  # for the user: the generator's notes, and when the budget could not be met


def within_budget(faces: int, target: int) -> bool:
    return abs(faces - target) <= FACE_TOLERANCE * target


def fit_to_options(mesh: trimesh.Trimesh, options: GenerationOptions) -> FittedMesh:
    """The mesh with ``options`` applied (see the module docstring)."""
    result = mesh if options.texture else plain(mesh)
    result = fit_face_budget(result, options.target_faces)
    result = scaled_to_size(result, height_m=options.height_m, width_m=options.width_m)
    faces = len(result.faces)
    notes = [str(note) for note in mesh.metadata.get(RESULT_NOTES, ())]
    if not within_budget(faces, options.target_faces):
        notes.append(
            f"delivered with {faces:,} faces: the surface could not be brought to the budget of "
            f"{options.target_faces:,} without opening it"
        )
    return FittedMesh(mesh=result, dimensions=dimensions_of(result), detail="; ".join(notes) or None)


def dimensions_of(mesh: trimesh.Trimesh) -> Dimensions:
    x, y, z = (round(float(value), 6) for value in mesh.extents)
    return Dimensions(x=x, y=y, z=z)


def plain(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Geometry only: the same triangles without texture or colours (seam vertices merged again)."""
    return welded(mesh)


def scaled_to_size(
    mesh: trimesh.Trimesh, *, height_m: float | None = None, width_m: float | None = None
) -> trimesh.Trimesh:
    """Uniformly scaled so the bounding box is ``height_m`` tall (y) or ``width_m`` wide (x); then centred
    on X/Z and resting on y = 0. Neither given: the size is kept."""
    result = mesh.copy()
    axis, size = (1, height_m) if height_m is not None else (0, width_m)
    if size is not None:
        current = float(result.extents[axis])
        if current <= 0:
            raise ValueError("the mesh is flat along the axis its size is given for")
        result.apply_scale(size / current)
    return normalize_mesh(result)


# --- the face budget ---------------------------------------------------------------------------------


def fit_face_budget(mesh: trimesh.Trimesh, target: int) -> trimesh.Trimesh:
    """A mesh with ``target`` faces (within the tolerance), looking as much like ``mesh`` as it can."""
    faces = len(mesh.faces)
    if within_budget(faces, target):
        return mesh
    work = mesh
    if faces < target:
        # Each subdivision quadruples the faces: enough of them to reach the budget, then simplify down.
        work = subdivided(mesh, math.ceil(math.log(target / faces, 4)))
        if within_budget(len(work.faces), target):
            return work
    return decimated(work, target)


def _attributes(mesh: trimesh.Trimesh) -> tuple[str, np.ndarray | None]:
    """What colours the mesh: ("uv", per-vertex UVs), ("color", per-vertex RGBA) or ("none", None)."""
    visual = mesh.visual
    if isinstance(visual, trimesh.visual.TextureVisuals):
        uv = visual.uv
        if uv is not None and len(uv) == len(mesh.vertices):
            return "uv", np.asarray(uv, dtype=np.float64)
        return "none", None
    if isinstance(visual, trimesh.visual.ColorVisuals) and str(visual.kind) in ("vertex", "face"):
        return "color", np.asarray(visual.vertex_colors, dtype=np.float64)
    return "none", None


def _with_attributes(
    mesh: trimesh.Trimesh, vertices: np.ndarray, faces: np.ndarray, kind: str, values: np.ndarray | None
) -> trimesh.Trimesh:
    if kind == "uv":
        if not isinstance(mesh.visual, trimesh.visual.TextureVisuals):
            raise TypeError("UVs without a texture to map")
        visual = trimesh.visual.TextureVisuals(uv=values, material=mesh.visual.material.copy())
        return trimesh.Trimesh(vertices=vertices, faces=faces, visual=visual, process=False)
    result = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    if kind == "color" and values is not None:
        result.visual = trimesh.visual.ColorVisuals(
            result, vertex_colors=np.clip(np.rint(values), 0, 255).astype(np.uint8)
        )
    return result


def subdivided(mesh: trimesh.Trimesh, iterations: int) -> trimesh.Trimesh:
    """Each triangle split into four ``iterations`` times, in its own plane; UVs or colours interpolated."""
    kind, values = _attributes(mesh)
    stacked = np.asarray(mesh.vertices, dtype=np.float64)
    if values is not None:
        stacked = np.hstack((stacked, values))
    faces = np.asarray(mesh.faces)
    for _ in range(max(0, iterations)):
        stacked, faces = remesh.subdivide(stacked, faces)
    return _with_attributes(mesh, stacked[:, :3], faces, kind, stacked[:, 3:] if values is not None else None)


def decimated(mesh: trimesh.Trimesh, target: int) -> trimesh.Trimesh:
    """Quadric decimation of the welded geometry to ``target`` faces, keeping a closed surface closed; the
    texture coordinates (or colours) come from the nearest face of the original."""
    geometry = welded(mesh)
    closed = geometry.is_watertight
    tried: list[trimesh.Trimesh] = []
    for step in _BUDGET_STEPS:
        simplified = geometry.simplify_quadric_decimation(face_count=max(4, round(target * step)))
        _repair(simplified)
        if not closed or simplified.is_watertight:
            chosen = simplified
            break
        tried.append(simplified)
    else:
        log.warning("simplifying to %d faces opened the surface; keeping the first result", target)
        chosen = tried[0]
    trimesh.repair.fix_normals(chosen)
    return _transfer_appearance(mesh, chosen)


def _repair(mesh: trimesh.Trimesh) -> None:
    """Edge collapses now and then leave slivers (corners a fraction of a micrometre apart, which collapse
    once stored as float32 in GLB/STL) or a doubled triangle (flat regions especially): drop them and patch
    the gap they leave."""
    mesh.merge_vertices(digits_vertex=_MERGE_DIGITS)
    mesh.update_faces(mesh.nondegenerate_faces())
    drop_doubled_faces(mesh)


def _transfer_appearance(original: trimesh.Trimesh, simplified: trimesh.Trimesh) -> trimesh.Trimesh:
    kind, values = _attributes(original)
    if kind == "none" or values is None:
        return simplified
    if kind == "color":
        _, nearest = cKDTree(original.vertices).query(simplified.vertices)
        return _with_attributes(original, simplified.vertices, simplified.faces, kind, values[nearest])
    # Texture: each new face takes the UV mapping of the original face nearest to it, extended over its
    # three corners, so a face never straddles two charts of the atlas. Corners become per-face vertices,
    # merged again where they agree.
    _, source = cKDTree(original.triangles_center).query(simplified.triangles_center)
    corners = simplified.vertices[simplified.faces]  # (F, 3, 3)
    source_triangles = original.triangles[source]  # (F, 3, 3)
    source_uv = values[original.faces[source]]  # (F, 3, 2)
    barycentric = trimesh.triangles.points_to_barycentric(
        np.repeat(source_triangles, 3, axis=0), corners.reshape(-1, 3)
    ).reshape(-1, 3, 3)
    uv = np.einsum("fck,fkd->fcd", barycentric, source_uv).reshape(-1, 2)
    vertices = corners.reshape(-1, 3)
    faces = np.arange(len(vertices)).reshape(-1, 3)
    result = _with_attributes(original, vertices, faces, "uv", np.clip(uv, 0.0, 1.0))
    result.merge_vertices()
    return result

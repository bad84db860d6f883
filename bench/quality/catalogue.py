"""The benchmark meshes in ``../shared/data/meshes`` and how each one is oriented (from its SOURCE.txt)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from photo3d_generation import meshio

REPO = Path(__file__).resolve().parents[2]


def _shared_data() -> Path:
    """``$BENCH_SHARED_DATA``, else ``shared/data`` beside the checkout (or beside a worktree's folder)."""
    if os.environ.get("BENCH_SHARED_DATA"):
        return Path(os.environ["BENCH_SHARED_DATA"])
    candidates = [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


SHARED_MESHES = _shared_data() / "meshes"


@dataclass(frozen=True)
class BenchMesh:
    name: str
    file: str
    up_axis: str  # the mesh file's up axis
    front_axis: str  # where the object's front points in the file
    note: str = ""

    def path(self, root: Path = SHARED_MESHES) -> Path:
        return root / self.name / self.file


# Up/front as stated in each SOURCE.txt; where it states no facing, the file's +Z is taken as the front.
CATALOGUE: tuple[BenchMesh, ...] = (
    BenchMesh("avocado", "Avocado.glb", "+Y", "+Z", "cut face points +Z"),
    BenchMesh("barrel", "barrel.glb", "+Y", "+Z", "rotationally symmetric"),
    BenchMesh("sheen_chair", "SheenChair.glb", "+Y", "+Z", "seat faces +Z; thin legs, concave seat"),
    BenchMesh("spot", "spot_triangulated.obj", "+Y", "-Z", "head toward -Z"),
    # SOURCE.txt states no facing for the bunny: its face looks along the file's +X, so that is its front.
    BenchMesh("stanford_bunny", "stanford-bunny.obj", "+Y", "+X", "no texture; face looks along +X"),
    BenchMesh("water_bottle", "WaterBottle.glb", "+Y", "+Z", "metallic body"),
)


def load_scene(mesh: BenchMesh, root: Path = SHARED_MESHES) -> trimesh.Scene:
    """The mesh as a scene in the output convention (+Y up, front +Z, centred, on y = 0), 1 unit tall."""
    loaded = trimesh.load(mesh.path(root))
    scene = loaded if isinstance(loaded, trimesh.Scene) else trimesh.Scene(loaded)
    # Drop empty nodes (the barrel's Blender light/camera) by rebuilding from the flattened geometry.
    geometries = [g for g in scene.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces)]
    combined = trimesh.util.concatenate(geometries) if len(geometries) > 1 else geometries[0]
    normalised = meshio.normalize_mesh(combined, up_axis=mesh.up_axis, front_axis=mesh.front_axis, height=1.0)
    # Apply the same similarity transform to each part so every material survives for rendering.
    rotation = meshio.orientation_matrix(mesh.up_axis, mesh.front_axis)
    rotated = combined.copy()
    rotated.apply_transform(rotation)
    scale = 1.0 / rotated.extents[1]
    low, high = rotated.bounds
    offset = -scale * np_centre(low, high)
    result = trimesh.Scene()
    for geometry in geometries:
        part = geometry.copy()
        part.apply_transform(rotation)
        part.apply_scale(scale)
        part.apply_translation(offset)
        result.add_geometry(part)
    assert abs(result.bounds[0][1]) < 1e-6 and abs(result.extents[1] - normalised.extents[1]) < 1e-6
    return result


def np_centre(low, high):
    return np.array([(low[0] + high[0]) / 2.0, low[1], (low[2] + high[2]) / 2.0])


def truth_mesh(scene: trimesh.Scene) -> trimesh.Trimesh:
    """All parts as one mesh, geometry only."""
    parts = [g for g in scene.dump() if isinstance(g, trimesh.Trimesh)]
    merged = trimesh.util.concatenate([trimesh.Trimesh(p.vertices, p.faces, process=False) for p in parts])
    merged.merge_vertices()
    return merged

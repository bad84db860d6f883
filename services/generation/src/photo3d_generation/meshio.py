"""Mesh conventions and export helpers shared by every generation provider.

The output convention (every provider's result is converted to it before it is stored):

* glTF 2.0 binary (GLB) is the primary asset; OBJ (+ MTL and texture when textured), STL and USDZ (for
  phones' AR viewers, :mod:`usdz`) are derived. Units are metres (glTF's, and USDZ's ``metersPerUnit``).
* +Y is up, the object's front faces +Z (glTF's own convention), the model is centred on X and Z
  (bounding-box centre) and rests on y = 0.
* The four photo views are named by the side of the object they show, so each camera looks at the origin
  from the direction in :data:`VIEW_DIRECTIONS`: the ``left`` photo shows the object's own left side,
  which is at +X when its front faces +Z (for a person facing you, their left hand is on your right).

Everything here works on in-memory bytes so the service can put the results straight into object storage.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping
from typing import Literal

import numpy as np
import trimesh
from PIL import Image, ImageDraw
from scipy.spatial import cKDTree

from .textures import mark_for_export
from .usdz import to_usdz_bytes

log = logging.getLogger(__name__)

__all__ = [
    "VIEW_DIRECTIONS",
    "VIEW_RIGHT",
    "MeshLoadError",
    "axis_vector",
    "drop_doubled_faces",
    "export_assets",
    "face_colors",
    "load_mesh",
    "normalize_mesh",
    "orientation_matrix",
    "render_preview",
    "to_glb_bytes",
    "to_obj_files",
    "to_stl_bytes",
    "to_usdz_bytes",
    "vertex_colors",
    "welded",
]

#: Unit vector from the object towards the camera of each photo, in the output convention.
VIEW_DIRECTIONS: Mapping[str, np.ndarray] = {
    "front": np.array([0.0, 0.0, 1.0]),
    "back": np.array([0.0, 0.0, -1.0]),
    "left": np.array([1.0, 0.0, 0.0]),
    "right": np.array([-1.0, 0.0, 0.0]),
}
#: Unit vector pointing to the right-hand side of each photo (up is always +Y): up x direction.
VIEW_RIGHT: Mapping[str, np.ndarray] = {
    view: np.cross([0.0, 1.0, 0.0], direction) for view, direction in VIEW_DIRECTIONS.items()
}
#: ``mesh.metadata`` key of what a generator wants the user to know about its result (a list of sentences):
#: it reaches them as ``ModelGenerated.detail``, shown on the model's page.
RESULT_NOTES = "photo3d_notes"

AxisName = Literal["+X", "-X", "+Y", "-Y", "+Z", "-Z"]
MeshFormat = Literal["glb", "gltf", "obj", "stl", "ply", "off"]


class MeshLoadError(ValueError):
    """A provider's mesh file could not be read or holds no triangles."""


def axis_vector(axis: str) -> np.ndarray:
    """``"+Y"`` -> ``[0, 1, 0]``; accepts ``X``/``+x``/``-z`` spellings."""
    text = axis.strip().upper()
    sign = -1.0 if text.startswith("-") else 1.0
    letter = text.lstrip("+-")
    if letter not in ("X", "Y", "Z"):
        raise ValueError(f"not an axis: {axis!r} (expected one of +X -X +Y -Y +Z -Z)")
    vector = np.zeros(3)
    vector["XYZ".index(letter)] = sign
    return vector


def orientation_matrix(up_axis: str, front_axis: str) -> np.ndarray:
    """4x4 rotation taking the mesh's ``up_axis`` to +Y and ``front_axis`` to +Z."""
    up = axis_vector(up_axis)
    front = axis_vector(front_axis)
    if abs(float(np.dot(up, front))) > 1e-9:
        raise ValueError(f"up axis {up_axis} and front axis {front_axis} must be perpendicular")
    right = np.cross(up, front)
    # Rows are the source axes that become +X, +Y, +Z: a proper rotation (det = +1) by construction.
    rotation = np.eye(4)
    rotation[:3, :3] = np.vstack([right, up, front])
    return rotation


def normalize_mesh(
    mesh: trimesh.Trimesh,
    *,
    up_axis: str = "+Y",
    front_axis: str = "+Z",
    height: float | None = None,
) -> trimesh.Trimesh:
    """Return a copy in the output convention: +Y up, front towards +Z, centred on X/Z, min y = 0.

    ``up_axis``/``front_axis`` describe the input mesh (e.g. a Z-up model facing -Y: ``"+Z"``, ``"-Y"``).
    With ``height`` the model is scaled uniformly to that height; otherwise its size is kept.
    """
    if len(mesh.faces) == 0:
        raise MeshLoadError("the mesh has no triangles")
    result = mesh.copy()
    result.apply_transform(orientation_matrix(up_axis, front_axis))
    if height is not None:
        current = float(result.extents[1])
        if current <= 0:
            raise MeshLoadError("the mesh is flat along its up axis, so it cannot be scaled to a height")
        result.apply_scale(height / current)
    low, high = result.bounds
    result.apply_translation([-(low[0] + high[0]) / 2.0, -low[1], -(low[2] + high[2]) / 2.0])
    return result


def load_mesh(data: bytes, file_type: MeshFormat | str) -> trimesh.Trimesh:
    """Read a mesh another provider produced (GLB/glTF/OBJ/STL/PLY) into one Trimesh.

    Scenes are flattened with their node transforms applied; materials and textures are kept where trimesh
    can merge them. Raises :class:`MeshLoadError` for unreadable or empty files.
    """
    kind = file_type.lower().lstrip(".")
    try:
        loaded = trimesh.load(io.BytesIO(data), file_type=kind, process=False)
    except Exception as exc:  # trimesh raises many unrelated types for corrupt input
        raise MeshLoadError(f"could not read the {kind.upper()} file: {exc}") from exc
    if isinstance(loaded, trimesh.Scene):
        meshes = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if not meshes:
            raise MeshLoadError(f"the {kind.upper()} file contains no triangle mesh")
        mesh = meshes[0] if len(meshes) == 1 else _concatenated(meshes)
    elif isinstance(loaded, trimesh.Trimesh):
        mesh = loaded
    else:
        raise MeshLoadError(f"the {kind.upper()} file contains no triangle mesh")
    if len(mesh.faces) == 0:
        raise MeshLoadError(f"the {kind.upper()} file contains no triangles")
    return mesh


def welded(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Geometry only, with vertices split at texture seams merged again (for closure checks and STL)."""
    plain = trimesh.Trimesh(vertices=np.asarray(mesh.vertices), faces=np.asarray(mesh.faces), process=False)
    plain.merge_vertices()
    return plain


def drop_doubled_faces(mesh: trimesh.Trimesh) -> None:
    """In place: edge collapses now and then leave a triangle doubled; drop both copies and patch the gap."""
    faces = np.sort(mesh.faces, axis=1)
    _, index, counts = np.unique(faces, axis=0, return_index=True, return_counts=True)
    keep = np.zeros(len(faces), dtype=bool)
    keep[index[counts == 1]] = True
    mesh.update_faces(keep)
    mesh.remove_unreferenced_vertices()
    trimesh.repair.fill_holes(mesh)


def to_glb_bytes(mesh: trimesh.Trimesh) -> bytes:
    """GLB (glTF 2.0 binary) with vertex colours or the base-colour texture."""
    _mark_textures(mesh)
    return trimesh.exchange.gltf.export_glb(trimesh.Scene(mesh), include_normals=True)


def to_obj_files(mesh: trimesh.Trimesh, *, stem: str = "model") -> dict[str, bytes]:
    """OBJ plus, when textured, its MTL and texture: ``{"model.obj": ..., "model.mtl": ..., ...}``.

    Vertex colours are written as the widely read ``v x y z r g b`` extension (Blender, MeshLab, three.js).
    """
    textured = isinstance(mesh.visual, trimesh.visual.TextureVisuals) and mesh.visual.uv is not None
    if textured:
        _mark_textures(mesh)
        text, extra = trimesh.exchange.obj.export_obj(
            mesh,
            include_normals=True,
            include_texture=True,
            return_texture=True,
            mtl_name=f"{stem}.mtl",
        )
        files = {f"{stem}.obj": text.encode()}
        mtl_name = f"{stem}.mtl"
        mtl = extra.pop(mtl_name, b"").decode()
        # Stable texture names (the storage contract's ``texture.jpg``/``.png``), referenced from the MTL.
        images = sorted(extra)
        for index, name in enumerate(images):
            extension = name.rpartition(".")[2].lower().replace("jpeg", "jpg")
            new_name = f"texture.{extension}" if len(images) == 1 else f"texture_{index}.{extension}"
            mtl = mtl.replace(name, new_name)
            files[new_name] = extra[name]
        if mtl:
            # A texture's colours should show as they are: many viewers multiply map_Kd by Kd.
            mtl = re.sub(r"^Kd .*$", "Kd 1.00000000 1.00000000 1.00000000", mtl, flags=re.MULTILINE)
            files[mtl_name] = mtl.encode()
        return files
    text = trimesh.exchange.obj.export_obj(
        mesh, include_normals=True, include_color=True, include_texture=False
    )
    return {f"{stem}.obj": text.encode()}


def to_stl_bytes(mesh: trimesh.Trimesh) -> bytes:
    """Binary STL (geometry only, for printing)."""
    return trimesh.exchange.stl.export_stl(welded(mesh))


def _concatenated(meshes: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    combined = trimesh.util.concatenate(meshes)
    if not isinstance(combined, trimesh.Trimesh):  # trimesh types it as any geometry
        raise MeshLoadError("the meshes could not be combined into one triangle mesh")
    return combined


def vertex_colors(mesh: trimesh.Trimesh) -> np.ndarray:
    """RGB 0..255 per vertex whatever the visual kind (texture sampled at the vertices' UVs)."""
    visual = mesh.visual
    try:
        if isinstance(visual, trimesh.visual.TextureVisuals):
            visual = visual.to_color()
        if visual is None:
            raise AttributeError("the mesh has no visual")
        if visual.kind == "face":
            colors = trimesh.visual.color.face_to_vertex_color(mesh, visual.face_colors)
        else:
            colors = visual.vertex_colors
        colors = np.asarray(colors)[:, :3].astype(np.float64)
        if len(colors) == len(mesh.vertices):
            return colors
    except (AttributeError, IndexError, TypeError, ValueError) as exc:  # a broken material costs colour only
        log.warning("mesh colours unreadable, using grey: %s", exc)
    return np.full((len(mesh.vertices), 3), 200.0)


def face_colors(mesh: trimesh.Trimesh) -> np.ndarray:
    """RGB 0..255 per face: the texture sampled at each face's UV centroid, else its vertices' mean."""
    visual = mesh.visual
    if isinstance(visual, trimesh.visual.TextureVisuals) and visual.uv is not None:
        material = visual.material
        image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
        if image is not None and len(visual.uv) == len(mesh.vertices):
            try:
                centroids = np.asarray(visual.uv)[mesh.faces].mean(axis=1)
                colours = trimesh.visual.color.uv_to_color(centroids, image)[:, :3].astype(np.float64)
                factor = getattr(material, "baseColorFactor", None)
                if factor is not None:
                    colours *= np.asarray(factor, dtype=np.float64)[:3] / 255.0
                return colours
            except (IndexError, TypeError, ValueError) as exc:
                log.warning("texture unreadable for the preview, using vertex colours: %s", exc)
    return vertex_colors(mesh)[mesh.faces].mean(axis=1)


def render_preview(
    mesh: trimesh.Trimesh,
    *,
    size: int = 256,
    background: tuple[int, int, int, int] = (0, 0, 0, 0),
    azimuth_degrees: float = 35.0,
    elevation_degrees: float = 20.0,
    max_faces: int = 60_000,
) -> bytes:
    """A small PNG of the model from the front-left-above, for lists and cards.

    A CPU render without OpenGL (so it runs in any container): faces are projected orthographically,
    Lambert-shaded with their vertex/texture colours and painted back to front with Pillow, at twice the
    size and downsampled for anti-aliasing. Large meshes are decimated for the preview only.
    """
    if len(mesh.faces) == 0:
        raise MeshLoadError("the mesh has no triangles")
    colors = face_colors(mesh)
    work = mesh
    if len(mesh.faces) > max_faces:
        try:
            simplified = mesh.simplify_quadric_decimation(face_count=max_faces)
            # Decimation drops colours: each new face takes the colour of the nearest original face.
            _, nearest = cKDTree(mesh.triangles_center).query(simplified.triangles_center)
            colors = colors[nearest]
            work = simplified
        except (ImportError, ValueError, RuntimeError) as exc:  # preview the full mesh instead
            log.warning("preview decimation skipped: %s", exc)
    vertices = np.asarray(work.vertices, dtype=np.float64)
    faces = np.asarray(work.faces)
    vertices = vertices - (vertices.min(axis=0) + vertices.max(axis=0)) / 2.0

    azimuth, elevation = np.radians(azimuth_degrees), np.radians(elevation_degrees)
    toward_camera = np.array(
        [np.sin(azimuth) * np.cos(elevation), np.sin(elevation), np.cos(azimuth) * np.cos(elevation)]
    )
    right = np.cross([0.0, 1.0, 0.0], toward_camera)
    right /= np.linalg.norm(right)
    up = np.cross(toward_camera, right)
    screen = np.stack([vertices @ right, vertices @ up, vertices @ toward_camera], axis=1)

    scale_px = size * 2
    extent = float(np.max(np.abs(screen[:, :2]))) or 1.0
    pixels = np.empty((len(screen), 2))
    pixels[:, 0] = scale_px / 2 + screen[:, 0] / extent * scale_px * 0.45
    pixels[:, 1] = scale_px / 2 - screen[:, 1] / extent * scale_px * 0.45

    triangles = screen[faces]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    normals = normals / np.where(lengths > 0, lengths, 1.0)[:, None]
    facing = normals[:, 2] > 0  # back faces are hidden by front faces of a closed mesh
    light = np.array([0.35, 0.6, 0.7])
    light /= np.linalg.norm(light)
    shade = 0.35 + 0.65 * np.clip(normals @ light, 0.0, 1.0)
    shaded = np.clip(colors * shade[:, None], 0, 255).astype(np.uint8)

    order = np.argsort(triangles[:, :, 2].mean(axis=1))  # far to near
    image = Image.new("RGBA", (scale_px, scale_px), background)
    draw = ImageDraw.Draw(image)
    face_pixels = pixels[faces]
    for index in order:
        if not facing[index]:
            continue
        r, g, b = shaded[index]
        draw.polygon([tuple(p) for p in face_pixels[index]], fill=(int(r), int(g), int(b), 255))
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def _mark_textures(mesh: trimesh.Trimesh) -> None:
    """Every encoding of the mesh's texture (by trimesh, in the GLB and the OBJ; the USDZ) in the format
    and with the parameters of :func:`textures.mark_for_export`, from an RGB(A) copy when the provider's
    texture is in another mode."""
    material = getattr(mesh.visual, "material", None)
    for name in ("image", "baseColorTexture"):
        image = getattr(material, name, None)
        if isinstance(image, Image.Image):
            ready = mark_for_export(image)
            if ready is not image:
                setattr(material, name, ready)


def export_assets(mesh: trimesh.Trimesh, *, preview_size: int = 256) -> dict[str, bytes]:
    """Every stored asset of a finished model, by file name under ``assets/``.

    ``model.glb``, ``model.obj`` (+ ``model.mtl``/``texture.jpg``, or ``texture.png`` for a texture with
    transparency, when textured), ``model.stl``,
    ``model.usdz`` (texture packaged inside), ``preview.png``. The mesh must already be in the output convention (see :func:`normalize_mesh`).
    """
    assets: dict[str, bytes] = {"model.glb": to_glb_bytes(mesh)}
    assets.update(to_obj_files(mesh, stem="model"))
    assets["model.stl"] = to_stl_bytes(mesh)
    assets["model.usdz"] = to_usdz_bytes(mesh)
    assets["preview.png"] = render_preview(mesh, size=preview_size)
    return assets

"""Small, valid result files for the fakes: a GLB box (trimesh), a zipped OBJ, a PNG preview."""

from __future__ import annotations

import io
import zipfile
from functools import cache

import numpy as np
import trimesh
from PIL import Image


@cache
def box_glb() -> bytes:
    return trimesh.creation.box(extents=(1.0, 1.0, 1.0)).export(file_type="glb")


@cache
def box_obj_zip() -> bytes:
    """OBJ results of the hosted API come zipped with their material file."""
    obj = trimesh.creation.box(extents=(1.0, 1.0, 1.0)).export(file_type="obj")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("model.obj", obj)
        archive.writestr("material.mtl", "newmtl material_0\nKd 0.8 0.8 0.8\n")
    return out.getvalue()


@cache
def preview_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def cutout_png(size: tuple[int, int] = (256, 256), colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """An RGBA cut-out: an opaque square on a transparent background."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    w, h = size
    image.paste((*colour, 255), (w // 4, h // 4, 3 * w // 4, 3 * h // 4))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@cache
def textured_sphere_glb(rows: int = 36, columns: int = 72) -> bytes:
    """A textured sphere of about ``4 * rows * columns`` faces, as a hosted API returns for a FaceCount of
    that many (~10 000 by default): UVs from longitude/latitude over a two-colour texture."""
    sphere = trimesh.creation.uv_sphere(radius=0.5, count=[rows, columns])
    x, y, z = sphere.vertices.T
    longitude = (np.arctan2(x, z) / (2 * np.pi)) % 1.0
    latitude = 0.5 + np.arcsin(np.clip(y / 0.5, -1, 1)) / np.pi
    uv = np.column_stack((longitude, latitude))
    texture = Image.new("RGB", (128, 128), (200, 120, 40))
    texture.paste((40, 120, 200), (0, 0, 128, 64))
    sphere.visual = trimesh.visual.TextureVisuals(uv=uv, image=texture)
    return sphere.export(file_type="glb")

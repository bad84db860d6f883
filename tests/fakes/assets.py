"""Small, valid result files for the fakes: a GLB box (trimesh), a zipped OBJ, a PNG preview."""

from __future__ import annotations

import io
import zipfile
from functools import cache

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

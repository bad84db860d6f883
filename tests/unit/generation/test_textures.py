"""A model's texture is encoded in one format across its files: JPEG when opaque, PNG with transparency."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest
import trimesh
from PIL import Image

from photo3d_generation import meshio


def textured_box(mode: str) -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    box.apply_translation([0.0, 0.5, 0.0])
    rng = np.random.default_rng(7)
    channels = len(mode)
    pixels = rng.integers(0, 256, size=(64, 64, channels), dtype=np.uint8)
    image = Image.fromarray(pixels, mode)
    uv = (box.vertices[:, [0, 2]] + 0.5).clip(0.0, 1.0)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=image)
    box.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return box


def glb_image_types(glb: bytes) -> list[str]:
    length = struct.unpack_from("<I", glb, 12)[0]  # the first chunk is the JSON
    tree = json.loads(glb[20 : 20 + length])
    return [image["mimeType"] for image in tree["images"]]


@pytest.mark.parametrize(
    ("mode", "pillow_format", "name", "mime"),
    [("RGB", "JPEG", "texture.jpg", "image/jpeg"), ("RGBA", "PNG", "texture.png", "image/png")],
)
def test_every_file_carries_the_texture_in_the_same_format(mode, pillow_format, name, mime) -> None:
    assets = meshio.export_assets(textured_box(mode), preview_size=64)

    assert glb_image_types(assets["model.glb"]) == [mime]
    assert f"map_Kd {name}" in assets["model.mtl"].decode()
    assert Image.open(io.BytesIO(assets[name])).format == pillow_format
    with zipfile.ZipFile(io.BytesIO(assets["model.usdz"])) as archive:
        assert archive.namelist() == ["model.usdc", name]
        assert Image.open(io.BytesIO(archive.read(name))).format == pillow_format


def test_an_opaque_texture_keeps_its_colours_as_jpeg() -> None:
    box = textured_box("RGB")
    original = np.asarray(box.visual.material.baseColorTexture, dtype=np.float64)
    stored = np.asarray(Image.open(io.BytesIO(meshio.export_assets(box)["texture.jpg"])), dtype=np.float64)
    # quality 90 at full colour resolution on random noise (JPEG's worst case): 6 levels off on average;
    # Pillow's defaults (quality 75, colour at half resolution) are 47 off
    assert stored.shape == original.shape
    assert np.abs(stored - original).mean() < 12


def box_with_texture(image: Image.Image) -> trimesh.Trimesh:
    box = textured_box("RGB")
    box.visual.material.baseColorTexture = image
    return box


def flat(mode: str, colour: object) -> Image.Image:
    return Image.new(mode, (16, 16), colour)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("texture", "name", "expected_rgb"),
    [
        # a provider's CMYK JPEG: PNG cannot hold CMYK; pure cyan is (0, 255, 255)
        (flat("CMYK", (255, 0, 0, 0)), "texture.jpg", (0, 255, 255)),
        (flat("L", 128), "texture.jpg", (128, 128, 128)),
        # 16-bit grey is scaled to 8 bits, not clipped to white
        (flat("I;16", 32896), "texture.jpg", (128, 128, 128)),
        (flat("LA", (200, 100)), "texture.png", (200, 200, 200)),
    ],
)
def test_a_texture_in_any_mode_is_stored_as_8_bit_colour(texture, name, expected_rgb) -> None:
    assets = meshio.export_assets(box_with_texture(texture), preview_size=64)

    stored = Image.open(io.BytesIO(assets[name]))
    assert stored.mode == ("RGBA" if name.endswith(".png") else "RGB")
    assert np.abs(np.asarray(stored.convert("RGB"), dtype=int) - expected_rgb).max() <= 3
    with zipfile.ZipFile(io.BytesIO(assets["model.usdz"])) as archive:
        assert archive.namelist() == ["model.usdc", name]

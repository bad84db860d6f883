"""How a model's texture is encoded in the files that carry it (the GLB, the OBJ's texture, the USDZ).

A texture without transparency (the reconstructor's atlas is photos) is stored as JPEG, quality 90 with
full-resolution colour: a 2048 px atlas encodes in ~25 ms instead of ~320 ms as PNG at zlib level 1, and
takes ~0.43 MB instead of ~2.3 MB, in each of the three files (measured on the benchmark's photos). glTF
2.0, OBJ/MTL viewers and AR Quick Look all read JPEG textures. A texture with transparency stays PNG.

trimesh encodes a texture by its image's ``format`` (a JPEG stays JPEG) and Pillow's ``save()`` takes the
image's ``encoderinfo`` as its defaults, so marking the image once sets every encoding of it.

A provider's texture can come in any mode its encoder allowed (CMYK or greyscale JPEG, palette or 16-bit
PNG). PNG cannot hold CMYK, and glTF viewers and AR Quick Look expect 8-bit colour, so every texture is
first made RGB, or RGBA when it has transparency (:func:`web_ready`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image

TextureFormat = Literal["JPEG", "PNG"]

JPEG_QUALITY = 90
#: zlib level of PNG textures: ~5x faster than Pillow's default 6, ~15 % larger
PNG_COMPRESS_LEVEL = 1
EXTENSIONS: dict[TextureFormat, str] = {"JPEG": "jpg", "PNG": "png"}


#: modes every reader of the stored files takes as they are
_WEB_MODES = frozenset({"RGB", "RGBA"})
#: modes with more than 8 bits per sample: Pillow's conversion to 8 bits clips them instead of scaling
_WIDE_GREY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "F"})


def web_ready(image: Image.Image) -> Image.Image:
    """``image`` itself when RGB or RGBA; else a copy in RGBA when it has transparency, RGB otherwise."""
    if image.mode in _WEB_MODES:
        return image
    if image.mode in _WIDE_GREY_MODES:
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0.0) > 255 else 255.0
        image = Image.fromarray(np.clip(values * (255.0 / top), 0, 255).round().astype(np.uint8), mode="L")
    transparent = "A" in image.mode or "a" in image.mode or "transparency" in image.info
    return image.convert("RGBA" if transparent else "RGB")


def texture_format(image: Image.Image) -> TextureFormat:
    return "JPEG" if image.mode == "RGB" else "PNG"


def mark_for_export(image: Image.Image) -> Image.Image:
    """The texture as stored: ``image`` made web-ready (:func:`web_ready`, itself when already RGB(A)), with
    the format and encoder parameters every later encoding of it uses set on it (``format``,
    ``encoderinfo``)."""
    ready = web_ready(image)
    chosen = texture_format(ready)
    params: dict[str, int] = (
        {"quality": JPEG_QUALITY, "subsampling": 0}
        if chosen == "JPEG"
        else {"compress_level": PNG_COMPRESS_LEVEL}
    )
    ready.format = chosen
    ready.encoderinfo = {**getattr(ready, "encoderinfo", {}), **params}
    return ready


def texture_file_name(image: Image.Image, stem: str = "texture") -> str:
    """``texture.jpg`` or ``texture.png``, by the format ``mark_for_export`` chose."""
    return f"{stem}.{EXTENSIONS[texture_format(image)]}"

"""One small reconstruction and export at start, so a fresh worker's first model is not the slow one.

A fresh process's first local reconstruction and export cost about 0.5 CPU s more than the later ones
(measured: 1.30 + 0.51 s against 1.04-1.12 + 0.30-0.33 s): lazy imports, first calls into SciPy, scikit-image,
the mesh libraries and the encoders. Here they happen on four small generated cut-outs, off the event loop,
before the worker takes its first event.
"""

from __future__ import annotations

import time

from PIL import Image, ImageDraw

from photo3d_common.events import VIEWS, GenerationOptions, View

from . import meshio
from .fitting import fit_to_options
from .local import ReconstructionSettings, reconstruct

#: Small, but through every step the real settings take: perspective cameras fitted, decimation, a texture.
WARM_UP_SETTINGS = ReconstructionSettings(voxel_resolution=32, target_faces=400, texture_size=128)


def warm_up_cutouts(size: int = 96) -> dict[View, Image.Image]:
    """Four cut-outs of a striped, egg-shaped object (RGBA, cropped with a margin)."""
    cutouts: dict[View, Image.Image] = {}
    for index, view in enumerate(VIEWS):
        image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        margin = size // 10
        half_width = size // 4 if view in ("front", "back") else size // 5
        box = (size // 2 - half_width, margin, size // 2 + half_width, size - margin)
        draw.ellipse(box, fill=(200, 120 + 20 * index, 60, 255))
        for row in range(margin, size - margin, 12):  # stripes: colours that differ across the seams
            draw.line((box[0], row, box[2], row), fill=(60, 60, 160, 255), width=3)
        # the object's outline is the ellipse: the stripes' ends beyond it are background
        alpha = Image.new("L", (size, size), 0)
        ImageDraw.Draw(alpha).ellipse(box, fill=255)
        image.putalpha(alpha)
        cutouts[view] = image
    return cutouts


def warm_up(preview_size: int) -> float:
    """Reconstruct, fit and export the small object as a model is; returns the seconds it took."""
    started = time.perf_counter()
    mesh = reconstruct(warm_up_cutouts(), WARM_UP_SETTINGS)
    meshio.export_assets(fit_to_options(mesh, GenerationOptions()).mesh, preview_size=preview_size)
    return time.perf_counter() - started

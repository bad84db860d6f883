"""Whether a photo's backdrop is plain (a studio sweep, a wall) or busy (a room, a cluttered table).

The cross-view refinement (refine.py) learns the object's colours from the plain-backdrop photos and
refines the busy ones with them. The measure needs only the photo and the model's mask at a small working
size, so the remover takes it for each photo as it frames the cut-out, beside the set's other masks, and
the check after a set's last mask reads it instead of computing it for all four photos then.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image
from scipy import ndimage

from .cutout import HAZE_ALPHA

#: Longer side of the working images (the refinement's cost grows with its square).
WORK_SIDE = 512
#: Scale (working pixels) of the backdrop measure: above pixel noise, below clutter.
TEXTURE_SIGMA = 3.0
#: The backdrop measure runs on every second working pixel (grey levels per working pixel all the same).
_STEP = 2


@dataclass(frozen=True)
class WorkingView:
    """A photo and the model's alpha over it at the working size (``WORK_SIDE``)."""

    colours: np.ndarray  # RGB, uint8
    alpha: np.ndarray  # uint8

    @classmethod
    def of(cls, photo: Image.Image, mask: Image.Image) -> WorkingView:
        scale = WORK_SIDE / max(photo.size)
        if scale < 1:
            size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
            # whole-pixel reductions first (Pillow's reducing_gap): a quarter of the time of a plain BOX
            # resize of a 2048 px photo, the same pixels within one level
            photo = photo.resize(size, Image.Resampling.BOX, reducing_gap=1.0)
            mask = mask.resize(size, Image.Resampling.BOX, reducing_gap=1.0)
        return cls(colours=np.asarray(photo.convert("RGB")), alpha=np.asarray(mask.convert("L")))

    @cached_property
    def texture(self) -> float:
        """Mean gradient magnitude (grey levels per working pixel, Gaussian of ``TEXTURE_SIGMA``) of the
        backdrop: measured 0.07 on the quality benchmark's studio sweeps (0.1 with sensor noise of 5 grey
        levels added), 0.8-4.5 on its busy backdrops (real clutter, or large flat shapes: the least)."""
        # on a quarter of the pixels: 2x2 averages, smoothed so that the two together blur like the
        # Gaussian of TEXTURE_SIGMA (a 2-pixel box adds a variance of 1/4 pixel^2): the measure within
        # 1 % of the one at the working size (bench photos and the matting set), for a quarter of the time
        grey = np.asarray(Image.fromarray(self.colours).convert("L").reduce(_STEP), dtype=np.float32)
        alpha = np.asarray(Image.fromarray(self.alpha).reduce(_STEP))
        sigma = np.sqrt(TEXTURE_SIGMA**2 - (_STEP**2 - 1) / 12) / _STEP
        # beyond the filter's reach from the mask: the object's own outline is no texture of the backdrop
        reach = int(np.ceil(3 * sigma)) + 1
        backdrop = ~ndimage.binary_dilation(alpha > HAZE_ALPHA, iterations=reach)
        if not backdrop.any():
            return 0.0
        return float(ndimage.gaussian_gradient_magnitude(grey, sigma)[backdrop].mean()) / _STEP


def backdrop_texture(photo: Image.Image, mask: Image.Image) -> float:
    """The backdrop measure (``WorkingView.texture``) of ``photo`` around the model's ``mask``."""
    return WorkingView.of(photo, mask).texture

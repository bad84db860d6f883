"""Masks on busy backdrops refined with the object's colours as the plain-backdrop photos show them.

Why: on a busy backdrop u2netp keeps pieces of it (a toy on the shelf behind, a patch of the wall), often
as confidently as the object itself, and misses parts of the object that look like backdrop to it;
nothing inside that one photo tells them apart. The photos of the same object on a plain backdrop do:
their masks are near exact (IoU 0.99 on the quality benchmark), so their opaque pixels are the object's
colours. Each busy photo's own far backdrop gives the backdrop's colours.

How: per busy view, colour histograms of the object (from the plain views) and of the backdrop (from the
busy view's pixels well away from its mask) give the log-likelihood ratio object/backdrop of each pixel,
added to the prior log-odds of the model's alpha (Bayes), both averaged over a small window. Near the
model's mask, the posterior decides: backdrop the model kept is cleared, object it missed is added
(clear-cut fragments are dropped); the far backdrop stays backdrop. The cross-view check (consistency.py)
then works on cleaner silhouettes and trusts the plain views: it does not trim them where a busy opposite
view disagrees (that disagreement is the shape's own: tilt, perspective). It all runs at
``backdrop.WORK_SIDE``.

A busy photo whose mask the subject check refused (``remover.UnclearCutout``: a diffuse half-transparent
mask, or one spread to the frame's edges, because the clutter looked as salient as the object) is refined
the same way and *rebuilt* when the refined mask passes the check. What the refinement cannot add (a part
far from the model's mask, in the backdrop's colours: a chair's legs before a wooden shelf) is added from
the opposite photo's mirrored outline, the rebuilt mask placed within it: a missing part carves the model
away where an extra one only rounds it. The cross-view check then holds it
against its opposite view like any other, and the opposite's outline stands in only where it disagrees
(``stand_ins.check_set``). A refused photo on a plain backdrop is not rebuilt (nothing there hid the
object: it is missing or cut off), and no refused mask teaches the object's colours.

Cost: a set of plain photos pays only the backdrop measure, which the remover takes as it frames each
photo (``backdrop.WorkingView``: ~5 ms a photo at 2048 px); a busy photo ~60-130 ms more (1-2 Mpx), most
of it making its cut-out and PNG again, the busy photos side by side. Nothing is refined when no photo is plain
(nothing to learn the object's colours from).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from photo3d_common.concurrency import side_by_side
from photo3d_common.events import View

from .backdrop import WorkingView
from .consistency import (
    INSIDE_PENALTY,
    MIN_PAIR_IOU,
    OPPOSITE,
    back_onto_moving,
    contradicted,
    place,
    placed_on,
    solid_on_square,
)
from .cutout import HAZE_ALPHA, OPAQUE_ALPHA, SOLID_ALPHA, NoSubjectFound, cut_out_with_mask
from .remover import BackgroundRemovalSettings, CutoutResult, UnclearCutout

#: Histogram bins per colour channel (32: 8 levels per bin).
BINS = 32
#: Smoothing of the histograms, in bins: nearby colours are alike under other light.
HISTOGRAM_SIGMA = 0.7
#: The model's alpha as prior probability is kept within [PRIOR_FLOOR, 1 - PRIOR_FLOOR]: colour evidence
#: can overrule a confident mask, but only by a likelihood ratio of about 1/PRIOR_FLOOR.
PRIOR_FLOOR = 0.1
#: Window (working pixels) over which prior and colour evidence are averaged: single pixels of an
#: object's colour in the backdrop (and the reverse) do not decide.
WINDOW = 5
#: Backdrop pixels are taken this far (fraction of the longer side) from the model's mask (its blurred
#: outline holds the object's colours); within it the refinement may add object pixels.
BACKDROP_GAP = 0.015
#: Object pixels are the opaque ones this far (working pixels) inside the mask.
OBJECT_INSET = 2
#: A kept fragment smaller than this share of the largest one is dropped.
MIN_FRAGMENT_SHARE = 0.05
#: Density of a colour never seen: colours rare on both sides weigh little either way.
DENSITY_FLOOR = 1e-6


@dataclass(frozen=True)
class RefinedSet:
    """The cut-outs after refinement, which photos were on a plain backdrop (their masks are trusted by the
    cross-view check) and which refused cut-outs were rebuilt from refined masks."""

    results: dict[View, CutoutResult | NoSubjectFound]
    plain: frozenset[View]
    rebuilt: frozenset[View] = frozenset()


def plain_views(
    photos: Mapping[View, Image.Image], masks: Mapping[View, Image.Image], *, busy_texture: float
) -> frozenset[View]:
    """The views whose backdrop (``backdrop_texture``) is at most ``busy_texture``."""
    return _plain({view: WorkingView.of(photos[view], masks[view]) for view in masks}, busy_texture)


def refine_masks(
    photos: Mapping[View, Image.Image], masks: Mapping[View, Image.Image], plain: frozenset[View]
) -> dict[View, Image.Image]:
    """The refined alpha (L, full size) of each view not in ``plain``, learnt from the ``plain`` ones;
    nothing when all or none are plain."""
    working = {view: WorkingView.of(photos[view], masks[view]) for view in masks}
    return _refine_busy(working, masks, plain)


def refine_busy_views(
    results: Mapping[View, CutoutResult | NoSubjectFound], settings: BackgroundRemovalSettings
) -> RefinedSet:
    """``results`` with the cut-outs of busy-backdrop photos made again from refined masks (a refined mask
    that no longer passes the subject check keeps the model's), and refused busy ones rebuilt."""
    if not settings.cross_view_refinement:
        return RefinedSet(results=dict(results), plain=frozenset())
    photos: dict[View, Image.Image] = {}
    masks: dict[View, Image.Image] = {}
    working: dict[View, WorkingView] = {}
    unclear: set[View] = set()
    for view, result in results.items():
        if isinstance(result, CutoutResult | UnclearCutout) and result.photo is not None:
            photos[view], masks[view] = result.photo, result.mask
            # measured by the remover as it framed the cut-out, where it could
            working[view] = result.working or WorkingView.of(result.photo, result.mask)
            if isinstance(result, UnclearCutout):
                unclear.add(view)
    if not photos:
        return RefinedSet(results=dict(results), plain=frozenset())
    plain_backdrop = _plain(working, settings.busy_backdrop_texture)
    # a refused mask teaches no colours, and a refused photo on a plain backdrop stays refused (no clutter
    # hid its object: it is missing or cut off)
    plain = plain_backdrop - unclear
    to_refine = {v: w for v, w in working.items() if v not in (unclear & plain_backdrop)}
    threads = settings.encoding_threads()
    refined = _refine_busy(to_refine, masks, plain, threads=threads)

    def recut(view: View, mask: Image.Image) -> CutoutResult | None:
        try:
            cutout = cut_out_with_mask(photos[view], mask, view=view, **settings.cutout_options())
        except NoSubjectFound:
            return None
        return CutoutResult(
            cutout=cutout, mask=mask, photo=photos[view], png_compress_level=settings.png_compress_level
        )

    recuts = side_by_side([functools.partial(recut, view, mask) for view, mask in refined.items()], threads)
    out = dict(results)
    rebuilt: dict[View, CutoutResult] = {}
    for view, recut_result in zip(refined, recuts, strict=True):
        if recut_result is None:
            continue
        out[view] = recut_result
        if view in unclear:
            rebuilt[view] = recut_result
    for view, rebuilt_result in rebuilt.items():
        opposite = out.get(OPPOSITE[view])
        if isinstance(opposite, CutoutResult) and OPPOSITE[view] not in rebuilt:
            out[view] = _completed(rebuilt_result, opposite, settings)
    return RefinedSet(results=out, plain=plain, rebuilt=frozenset(rebuilt))


#: Side of the square on which a rebuilt mask and its opposite's mirrored one are aligned: fine enough for
#: a chair's legs (a few pixels wide there)
COMPLETION_SIDE = 256


def _completed(
    rebuilt: CutoutResult, opposite: CutoutResult, settings: BackgroundRemovalSettings
) -> CutoutResult:
    """A rebuilt cut-out (``refine.RefinedSet.rebuilt``) with what its opposite's mirrored outline shows
    and it lacks, thick or far beyond its outline, added back from its own photo: what the refinement
    missed lies in the backdrop's colours (a chair's legs before a wooden shelf), and a missing part
    carves the model away where a kept one only rounds it."""
    if rebuilt.photo is None:
        return rebuilt
    own = solid_on_square(rebuilt.mask, COMPLETION_SIDE)
    mirrored_opposite = solid_on_square(ImageOps.mirror(opposite.mask), COMPLETION_SIDE)
    # the rebuilt mask placed within the opposite outline (it lacks parts: an IoU fit would shrink the
    # outline onto it), then what of that outline it leaves out, seen back in its own frame
    base_scale = max(rebuilt.mask.size) / max(opposite.mask.size)
    placement = place(mirrored_opposite, own, inside=INSIDE_PENALTY, base_scale=base_scale)
    if placement.iou < MIN_PAIR_IOU:  # no outline to complete: the cross-view check judges it as it is
        return rebuilt
    placed = placed_on(own, placement, mirrored_opposite.shape)
    missing = back_onto_moving(contradicted(mirrored_opposite, placed), placement, COMPLETION_SIDE)
    if not missing.any():
        return rebuilt
    longer = max(rebuilt.mask.size)
    width, height = rebuilt.mask.size
    added = Image.fromarray(missing.astype(np.uint8) * 255).resize(
        (longer, longer), Image.Resampling.BILINEAR
    )
    alpha = np.maximum(np.asarray(rebuilt.mask), np.asarray(added)[:height, :width])
    mask = Image.fromarray(alpha, mode="L")
    try:
        cutout = cut_out_with_mask(rebuilt.photo, mask, **settings.cutout_options())
    except NoSubjectFound:
        return rebuilt
    return dataclasses.replace(rebuilt, cutout=cutout, mask=mask)


def _plain(working: Mapping[View, WorkingView], busy_texture: float) -> frozenset[View]:
    return frozenset(view for view, w in working.items() if w.texture <= busy_texture)


def _refine_busy(
    working: Mapping[View, WorkingView],
    masks: Mapping[View, Image.Image],
    plain: frozenset[View],
    *,
    threads: int = 1,
) -> dict[View, Image.Image]:
    busy = [view for view in working if view not in plain]
    if not busy or not plain:
        return {}
    object_colours = np.concatenate([_object_pixels(working[view]) for view in plain])
    if len(object_colours) == 0:
        return {}
    object_histogram = _histogram(object_colours)
    refine = [functools.partial(_refine, working[view], masks[view], object_histogram) for view in busy]
    return dict(zip(busy, side_by_side(refine, threads), strict=True))


def _object_pixels(working: WorkingView) -> np.ndarray:
    opaque = ndimage.binary_erosion(working.alpha >= OPAQUE_ALPHA, iterations=OBJECT_INSET)
    return working.colours[opaque]


def _histogram(colours: np.ndarray) -> np.ndarray:
    """Log-density of ``colours`` (N x 3, uint8) on a BINS^3 grid, smoothed, never -inf."""
    counts, _ = np.histogramdd(colours.astype(np.float32), bins=BINS, range=[(0, 256)] * 3)
    density = ndimage.gaussian_filter(counts, HISTOGRAM_SIGMA)
    density /= max(float(density.sum()), 1.0)
    return np.log(density + DENSITY_FLOOR)


def _lookup(log_density: np.ndarray, colours: np.ndarray) -> np.ndarray:
    index = colours // (256 // BINS)
    return log_density[index[..., 0], index[..., 1], index[..., 2]]


def _refine(working: WorkingView, mask: Image.Image, object_histogram: np.ndarray) -> Image.Image:
    colours, small_alpha = working.colours, working.alpha
    gap = max(1, round(BACKDROP_GAP * max(small_alpha.shape)))
    backdrop = ~ndimage.binary_dilation(small_alpha > HAZE_ALPHA, iterations=gap)
    if not backdrop.any():
        return mask
    backdrop_histogram = _histogram(colours[backdrop])
    prior = np.clip(ndimage.uniform_filter(small_alpha / 255.0, WINDOW), PRIOR_FLOOR, 1 - PRIOR_FLOOR)
    evidence = ndimage.uniform_filter(
        _lookup(object_histogram, colours) - _lookup(backdrop_histogram, colours), WINDOW
    )
    keep = np.log(prior / (1 - prior)) + evidence > 0
    labels, count = ndimage.label(keep)
    if count > 1:
        sizes = ndimage.sum(keep, labels, index=np.arange(1, count + 1))
        keep = np.isin(labels, np.flatnonzero(sizes >= MIN_FRAGMENT_SHARE * sizes.max()) + 1)
    # decided only where the model saw something, or next to it: the far backdrop stays backdrop
    keep = ndimage.binary_closing(keep, iterations=2) & ~backdrop
    full_keep = Image.fromarray(keep.astype(np.uint8) * 255).resize(mask.size, Image.Resampling.BILINEAR)
    # back at full size: where the refinement keeps the object, the model's alpha or, where the model
    # missed it (a part in the backdrop's colours to the model, in the object's to the plain views), the
    # working mask's own smooth outline
    keep_alpha = np.asarray(full_keep)
    alpha = np.where(keep_alpha > SOLID_ALPHA, np.maximum(np.asarray(mask), keep_alpha), 0)
    return Image.fromarray(alpha.astype(np.uint8), mode="L")

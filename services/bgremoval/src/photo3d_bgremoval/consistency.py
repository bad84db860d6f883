"""The four cut-outs checked against each other: parts the other photos contradict are removed.

Why it works: the outline of an object seen from one side is the mirror image of its outline seen from the
opposite side (exactly so for a distant camera; a near camera or a few degrees of turn change it only along
the rim). So front and back, and left and right, must show mirror-like silhouettes. A piece of the backdrop
that background removal kept in one photo (a cup behind the toy, a person behind the fruit) widens or
heightens that photo's silhouette where the opposite photo shows nothing: it is *contradicted* and removed.
A genuine asymmetric part (a mug's handle on one side) is in both opposite outlines, so it stays.

How: each cut-out's alpha is reduced to a small working mask (``WORK_SIDE`` pixels, ~2 ms of work each);
the opposite view, mirrored, is aligned to it by the scale and shift that maximise their overlap (FFT
cross-correlation over a range of scales, so views taken from different distances still line up, and a
kept blob cannot drag the alignment far: the object is the larger agreeing part). What is left of a view
outside its aligned opposite is opened with a disk of ``RIM_TOLERANCE`` of the object's height (turns,
tilts and perspective only add thin strips along the rim; a kept blob is thick); thick leftovers of a
noticeable size, and detached pieces the opposite view does not support, are contradicted. Both views of
a pair are checked against each other twice (the second pass aligns the cleaned masks). Between two
plain-backdrop photos (``trusted``: both masks are clean) a contradicted part is removed only when its colours
are foreign to the object's in the plain photos: a near camera at another height sees a thick part of the
object's own outline that the opposite one does not (measured on ``bench/quality``: every such trim of a
plain view cut a correct outline), while a second object on the sweep has colours of its own.

The result per view: the corrected cut-out (cropped again around what is left) and warnings for the
status page; a view whose cut-out is mostly contradicted, or a pair that stays far apart, fails the stage
with a reason that names the photo.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import fft, ndimage

from photo3d_common.concurrency import side_by_side
from photo3d_common.errors import Photo3DError
from photo3d_common.events import View, ViewWarning

from .cutout import SOLID_ALPHA, alpha_bbox, crop_and_pad

#: Opposite views: their silhouettes are mirror images of each other.
OPPOSITE: dict[View, View] = {"front": "back", "back": "front", "left": "right", "right": "left"}
#: Side of the working masks, in pixels (cut-outs are squares with the object centred).
WORK_SIDE = 112
#: Scales of the mirrored opposite view tried when aligning, relative to the scale at which both photos
#: show the object equally large (photos of one object are taken from roughly one distance).
SCALES = np.exp(np.linspace(np.log(0.6), np.log(1.65), 13))
#: Distance ratios between two photos taken as normal; beyond, an explanation costs as if this share of
#: the silhouette more were removed per unit of log ratio.
DISTANCE_TOLERANCE = 1.2
DISTANCE_COST = 2.0
#: The object's height (photo pixels) a corrected view would keep, against the other pair's: beyond this
#: ratio (distances differ, and a raised camera adds the top's depth) it costs like the distance, and a
#: large correction that leaves the sizes this far apart is not believed.
HEIGHT_TOLERANCE = 1.3
#: A correction removing more than this share of a view is believed only if the sizes then agree.
LARGE_CORRECTION = 0.3
#: Weight of the other view's area outside this one when fitting "this view holds extra material".
INSIDE_PENALTY = 3.0
#: Thickness below which a disagreement along the outline is a turn/tilt/perspective difference, not a
#: kept piece of backdrop: radius of the opening, as a fraction of the object's height.
RIM_TOLERANCE = 0.06
#: Anything further than this (fraction of the object's height) outside the aligned opposite outline is
#: contradicted however thin it is (a strip of backdrop left over, a thin pole behind the object).
FAR_TOLERANCE = 0.1
#: Two plain-backdrop photos both have clean masks: a part one shows and the other lacks is removed only
#: when its colours are foreign to the object (a cup beside the toy), i.e. when the object's colours in the
#: plain-backdrop photos (their masks less the part in question) explain it less well than the rest of that
#: photo's object by this log-likelihood per pixel (the same colours are the object's own shape, seen from
#: another height or turn).
FOREIGN_COLOUR_MARGIN = 1.5
#: Colour levels per channel of the object's colour histogram (8: 512 bins, enough for working masks).
COLOUR_LEVELS = 8
#: A contradicted part smaller than this share of the view's silhouette is left alone.
MIN_CONTRADICTED_SHARE = 0.02
#: A view that loses more than this share of its silhouette cannot be trusted: the stage fails.
MAX_REMOVED_SHARE = 0.6
#: Opposite views whose aligned silhouettes overlap less than this (IoU) after the correction fail...
MIN_PAIR_IOU = 0.5
#: ... and less than this get a warning: the model may be off.
WARN_PAIR_IOU = 0.75


class CutoutsDisagree(Photo3DError):
    """The cut-outs contradict each other beyond repair; the user must retake a photo."""

    status_code = 422
    code = "cutouts_disagree"
    retryable = False


@dataclass
class ViewCheck:
    """What the check found for one view."""

    removed_share: float = 0.0  # share of the silhouette removed as contradicted
    pair_iou: float = 1.0  # overlap with the aligned opposite view after the correction
    warnings: list[ViewWarning] = field(default_factory=list)


@dataclass(frozen=True)
class CheckedCutouts:
    cutouts: dict[View, Image.Image]  # every view; corrected ones re-cropped
    corrected: frozenset[View]
    checks: dict[View, ViewCheck]

    @property
    def warnings(self) -> dict[View, list[ViewWarning]]:
        return {view: check.warnings for view, check in self.checks.items() if check.warnings}


def on_square(image: Image.Image, side: int) -> Image.Image:
    """``image`` padded with black to a square at its right/bottom, then area-scaled to ``side``: the frame
    in which two views of different sizes are compared (the padding keeps the pixel scale one factor)."""
    longer = max(image.size)
    square = Image.new(image.mode, (longer, longer), 0)
    square.paste(image, (0, 0))
    return square.resize((side, side), Image.Resampling.BOX)


def solid_on_square(mask: Image.Image, side: int) -> np.ndarray:
    """The solid pixels (alpha above ``SOLID_ALPHA``) of an L ``mask`` :func:`on_square`, bool."""
    return np.asarray(on_square(mask, side)) > SOLID_ALPHA


def _working_mask(image: Image.Image) -> np.ndarray:
    """The solid alpha of a cut-out on the ``WORK_SIDE`` square."""
    return solid_on_square(image.getchannel("A"), WORK_SIDE)


def _full_size(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A working mask back at a cut-out's ``size`` (width, height)."""
    side = max(size)
    full = Image.fromarray(mask.astype(np.uint8) * 255).resize((side, side), Image.Resampling.NEAREST)
    return np.asarray(full)[: size[1], : size[0]] > 127


def _height(mask: np.ndarray) -> int:
    rows = np.flatnonzero(mask.any(axis=1))
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def _scaled(mask: np.ndarray, scale: float) -> np.ndarray:
    side = max(4, round(mask.shape[0] * scale))
    image = Image.fromarray(mask.astype(np.uint8) * 255).resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(image) > 127


@dataclass(frozen=True)
class Placement:
    """Where ``align`` puts the moving mask: scaled by ``scale`` (absolute, ``base_scale`` included), its
    top-left corner at ``(dy, dx)`` on a ``size`` square (shifts wrap around it), with this ``iou``."""

    scale: float
    dy: int
    dx: int
    size: int
    iou: float

    def side(self, moving_side: int) -> int:
        return max(4, round(moving_side * self.scale))


def place(
    reference: np.ndarray, moving: np.ndarray, *, inside: float = 0.0, base_scale: float = 1.0
) -> Placement:
    """The scale and shift of ``moving`` onto ``reference`` (same shape), as ``align`` chooses them."""
    scales = base_scale * SCALES
    # large enough that no shift wraps around
    size = fft.next_fast_len(reference.shape[0] + int(np.ceil(moving.shape[0] * scales[-1])), real=True)
    reference_f = fft.rfft2(reference.astype(np.float32), s=(size, size))
    reference_area = float(reference.sum())
    best = (-np.inf, Placement(scale=float(base_scale), dy=0, dx=0, size=size, iou=0.0))
    for scale in scales:
        scaled = _scaled(moving, scale)
        area = float(scaled.sum())
        if area == 0:
            continue
        # correlation[dy, dx] = overlap with ``scaled`` placed at (dy, dx)
        correlation = fft.irfft2(
            reference_f * np.conj(fft.rfft2(scaled.astype(np.float32), s=(size, size))), s=(size, size)
        )
        index = int(np.argmax(correlation))
        overlap = float(correlation.flat[index])
        iou = overlap / (reference_area + area - overlap)
        score = overlap - inside * (area - overlap) if inside else iou
        if score > best[0]:
            dy, dx = divmod(index, size)
            best = (score, Placement(scale=float(scale), dy=dy, dx=dx, size=size, iou=iou))
    return best[1]


def align(
    reference: np.ndarray, moving: np.ndarray, *, inside: float = 0.0, base_scale: float = 1.0
) -> tuple[np.ndarray, float, float]:
    """``moving`` scaled and shifted onto ``reference`` (same shape), and the IoU of the two there.

    ``inside = 0`` finds the placement of largest IoU. ``inside > 0`` looks for ``moving`` lying *within*
    ``reference``: it maximises the overlap minus ``inside`` times the part of ``moving`` outside
    ``reference``, so extra material in ``reference`` (a kept piece of backdrop) cannot inflate the scale.
    Scales ``base_scale * SCALES`` are tried; returns the placed mask, its IoU and the relative scale.
    """
    placement = place(reference, moving, inside=inside, base_scale=base_scale)
    return placed_on(moving, placement, reference.shape), placement.iou, placement.scale / base_scale


def placed_on(moving: np.ndarray, placement: Placement, shape: tuple[int, ...]) -> np.ndarray:
    """``moving`` scaled and shifted by ``placement``, in the reference's frame of ``shape``."""
    scaled = _scaled(moving, placement.scale)
    placed = np.zeros((placement.size, placement.size), dtype=bool)
    placed[: scaled.shape[0], : scaled.shape[1]] = scaled
    return np.roll(placed, (placement.dy, placement.dx), axis=(0, 1))[: shape[0], : shape[1]]


def back_onto_moving(mask: np.ndarray, placement: Placement, moving_side: int) -> np.ndarray:
    """``mask``, drawn in the reference's frame, seen in the moving mask's own frame (the inverse of the
    placement): the square the scaled moving mask covers there, scaled back to ``moving_side``."""
    frame = np.zeros((placement.size, placement.size), dtype=bool)
    frame[: mask.shape[0], : mask.shape[1]] = mask
    side = placement.side(moving_side)
    covered = np.roll(frame, (-placement.dy, -placement.dx), axis=(0, 1))[:side, :side]
    return _scaled(covered, moving_side / side)[:moving_side, :moving_side]


def contradicted(mask: np.ndarray, opposite_aligned: np.ndarray) -> np.ndarray:
    """Parts of ``mask`` its aligned (mirrored) opposite view clearly contradicts."""
    height = max(_height(opposite_aligned), 1)
    radius = max(1, round(RIM_TOLERANCE * height))
    outside = mask & ~opposite_aligned
    disk = _disk(radius)
    thick = ndimage.binary_opening(outside, structure=disk)
    labels, count = ndimage.label(thick)
    removal = np.zeros_like(mask)
    if count:
        sizes = ndimage.sum(thick, labels, index=np.arange(1, count + 1))
        big = np.isin(labels, np.flatnonzero(sizes >= MIN_CONTRADICTED_SHARE * mask.sum()) + 1)
        # grow back over the opening's rounded corners, within what the opposite view leaves out
        removal |= ndimage.binary_dilation(big, structure=disk) & outside
    # whatever reaches far beyond the opposite outline, and its base near the outline
    far = outside & (ndimage.distance_transform_edt(~opposite_aligned) > FAR_TOLERANCE * height)
    if far.sum() >= 0.2 * MIN_CONTRADICTED_SHARE * mask.sum():
        reach = max(1, round(FAR_TOLERANCE * height))
        removal |= far | (ndimage.binary_dilation(far, structure=_disk(reach)) & outside)
    # detached pieces the opposite view does not support at all (whatever their size)
    parts, part_count = ndimage.label(mask)
    if part_count > 1:
        supported = ndimage.binary_dilation(opposite_aligned, structure=disk)
        sizes = ndimage.sum(mask, parts, index=np.arange(1, part_count + 1))
        main = int(np.argmax(sizes)) + 1
        overlap = ndimage.sum(supported, parts, index=np.arange(1, part_count + 1))
        for label in np.flatnonzero(overlap == 0) + 1:
            if label != main:
                removal |= parts == label
    return removal


def _height_ratio(
    view: View, kept: np.ndarray, masks: Mapping[View, np.ndarray], pixel_size: Mapping[View, float]
) -> float:
    """The object's height in ``kept`` over its median height in the two perpendicular views (photo px)."""
    others = [
        _height(mask) * pixel_size[other]
        for other, mask in masks.items()
        if other not in (view, OPPOSITE[view]) and mask.any()
    ]
    height = _height(kept) * pixel_size[view]
    if not others or height == 0:
        return 1.0
    return height / float(np.median(others))


def _odd_one_out(
    pair: tuple[View, View], masks: Mapping[View, np.ndarray], pixel_size: Mapping[View, float]
) -> View:
    """Of two disagreeing opposite views, the one whose object height (in photo pixels) is further from
    the other views' median: all four photos show one object height from about one distance."""
    heights = {view: _height(mask) * pixel_size[view] for view, mask in masks.items()}

    def deviation(view: View) -> float:
        others = [h for v, h in heights.items() if v != view and h > 0]
        if not others or heights[view] <= 0:
            return np.inf
        return abs(np.log(heights[view] / float(np.median(others))))

    return max(pair, key=deviation)


def _disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


def _mirror(mask: np.ndarray) -> np.ndarray:
    return mask[:, ::-1]


def _apply_removal(
    image: Image.Image,
    removal: np.ndarray,
    kept: np.ndarray,
    *,
    recrop: bool,
    margin_fraction: float,
    square: bool,
    max_side: int,
) -> Image.Image:
    """Clear the removed parts at full resolution and crop the cut-out again around what is left."""
    # The removed piece's outline and lacy parts (solid pixels too sparse to make the working mask
    # solid) go with it: a corrected view keeps only what lies near its kept working mask.
    near_kept = ndimage.binary_dilation(kept, structure=_disk(2))
    region = (ndimage.binary_dilation(removal, structure=_disk(1)) & ~kept) | ~near_kept
    alpha = np.asarray(image.getchannel("A"))
    cleared = np.where(_full_size(region, image.size), 0, alpha)
    # specks of the removed piece's outline left detached from what is kept
    labels, count = ndimage.label(cleared > 0)
    if count > 1:
        touching = np.unique(labels[_full_size(kept, image.size) & (labels > 0)])
        cleared = np.where(np.isin(labels, touching), cleared, 0)
    cleared = cleared.astype(np.uint8)
    result = image.copy()
    result.putalpha(Image.fromarray(cleared, mode="L"))
    if not recrop:
        return result
    bbox = alpha_bbox(cleared)
    assert bbox is not None  # at most MAX_REMOVED_SHARE of the silhouette is ever removed
    return crop_and_pad(result, bbox, margin_fraction=margin_fraction, square=square, max_side=max_side)


def _working_colours(image: Image.Image) -> np.ndarray:
    """The cut-out's colours on the ``WORK_SIDE`` square of :func:`_working_mask` (RGB, uint8)."""
    return np.asarray(on_square(image.convert("RGB"), WORK_SIDE))


def _colour_bins(colours: np.ndarray) -> np.ndarray:
    levels = (colours.astype(np.int32) * COLOUR_LEVELS) // 256
    return (levels[..., 0] * COLOUR_LEVELS + levels[..., 1]) * COLOUR_LEVELS + levels[..., 2]


def _foreign(
    view: View, removal: np.ndarray, masks: Mapping[View, np.ndarray], colours: Mapping[View, np.ndarray]
) -> bool:
    """Whether the colours of ``removal`` (in ``view``) are foreign to the object: the object's colours in
    the plain-backdrop photos but that part explain it ``FOREIGN_COLOUR_MARGIN`` worse per pixel than the rest of it."""
    kept = masks[view] & ~removal
    samples = [_colour_bins(colours[v][masks[v] if v != view else kept]) for v in colours]
    counts = np.bincount(np.concatenate(samples), minlength=COLOUR_LEVELS**3).astype(np.float64)
    # a colour seen once or never weighs like a rare one: one count everywhere
    log_density = np.log((counts + 1.0) / (counts.sum() + counts.size))
    removed = log_density[_colour_bins(colours[view][removal])]
    own = log_density[_colour_bins(colours[view][kept])]
    if removed.size == 0 or own.size == 0:
        return True
    return float(removed.mean()) < float(own.mean()) - FOREIGN_COLOUR_MARGIN


def _explained(
    view: View, other: View, masks: Mapping[View, np.ndarray], pixel_size: Mapping[View, float]
) -> tuple[np.ndarray, float, float, float]:
    """The explanation "``view`` holds extra material": ``other``'s mirrored outline placed within it,
    what of ``view`` it contradicts, the IoU and relative scale of that placement, and the object's
    height in what is left against the perpendicular views'."""
    placed, iou, ratio = align(
        masks[view],
        _mirror(masks[other]),
        inside=INSIDE_PENALTY,
        base_scale=pixel_size[other] / pixel_size[view],
    )
    removal = contradicted(masks[view], placed)
    return removal, iou, ratio, _height_ratio(view, masks[view] & ~removal, masks, pixel_size)


def check_cutouts(
    cutouts: Mapping[View, Image.Image],
    *,
    margin_fraction: float = 0.08,
    square: bool = True,
    max_side: int = 2048,
    recrop: bool = True,
    trusted: frozenset[View] = frozenset(),
    threads: int = 1,
) -> CheckedCutouts:
    """Check the four RGBA cut-outs against each other; remove contradicted parts; warn or fail.

    Corrected cut-outs are cropped again around what is left (``recrop``; else they keep their frame).
    ``trusted`` views (photos on a plain backdrop, ``refine.RefinedSet.plain``) are never corrected
    against an untrusted opposite view. ``threads``: the two fits of a pair run side by side.

    Raises :class:`CutoutsDisagree` naming the photo when a cut-out is mostly contradicted by its
    opposite view, or when two opposite photos cannot be reconciled.
    """
    masks = {view: _working_mask(image) for view, image in cutouts.items()}
    colours = {view: _working_colours(image) for view, image in cutouts.items() if view in trusted}
    # photo pixels per working pixel: the scale at which two views show the object equally large
    pixel_size = {view: max(image.size) / WORK_SIDE for view, image in cutouts.items()}
    originals = {view: mask.copy() for view, mask in masks.items()}
    checks = {view: ViewCheck() for view in cutouts}
    opposite: tuple[tuple[View, View], ...] = (("front", "back"), ("left", "right"))
    pairs = [pair for pair in opposite if all(v in masks for v in pair)]
    for first, second in pairs:
        for _ in range(3):  # again after a correction: the other view may hold a piece of backdrop too
            # Two explanations of a disagreement: this view holds extra material, or the other one does.
            # Each is fitted (the other view placed within this one) and the one that needs less
            # material removed wins (in both, the clean view lies within the spoilt one).
            removals, costs, ious, height_ratios, ratios = {}, {}, [], {}, {}
            directions = ((first, second), (second, first))
            # the two fits are independent: side by side on the cores, when the set's masks are all done
            fits = side_by_side(
                [functools.partial(_explained, view, other, masks, pixel_size) for view, other in directions],
                threads,
            )
            for (view, _other), (removal, iou, ratio, height_ratio) in zip(directions, fits, strict=True):
                removals[view], height_ratios[view], ratios[view] = removal, height_ratio, ratio
                # the simpler explanation: less removed, the photos taken from similar distances, and
                # the object as tall as the other two photos show it
                far = max(0.0, abs(np.log(ratio)) - np.log(DISTANCE_TOLERANCE))
                tall = max(0.0, abs(np.log(height_ratio)) - np.log(HEIGHT_TOLERANCE))
                costs[view] = removal.sum() / max(masks[view].sum(), 1) + DISTANCE_COST * (far + tall)
                ious.append(iou)
            pair_iou = max(ious)
            # a view with nothing to remove lies within the other: the other holds the extra material
            candidates = [view for view in removals if removals[view].any()]
            if not candidates:
                break
            view = min(candidates, key=lambda candidate: costs[candidate])
            if view in trusted and not trusted.issuperset((first, second)):
                # a plain-backdrop mask next to a busy one is right: the disagreement is the shape's own
                # (tilt, perspective), not backdrop to remove from either
                break
            if view in trusted and not _foreign(view, removals[view], masks, colours):
                break  # two clean masks, and the part is in the object's colours: its shape, not a kept object
            removed_share = removals[view].sum() / max(masks[view].sum(), 1)
            # a large correction is believed only when the photos then agree on size as well
            # (small trims are believed: turns, tilts and distance changes disagree along the rims)
            off_size = max(abs(np.log(ratios[view])), abs(np.log(height_ratios[view])))
            if removed_share > LARGE_CORRECTION and off_size > np.log(HEIGHT_TOLERANCE):
                culprit = _odd_one_out((first, second), masks, pixel_size)
                raise CutoutsDisagree(
                    f"the {culprit} photo's cut-out does not match the other photos (the object looks "
                    "a different size or shape in it): background removal probably took something "
                    f"behind the object for it; retake the {culprit} photo in front of a plain wall, "
                    "with the whole object in view",
                    detail={"view": culprit, "views": [first, second]},
                )
            masks[view] &= ~removals[view]
        for view in (first, second):
            checks[view].pair_iou = pair_iou
    for view, mask in masks.items():
        area = float(originals[view].sum())
        checks[view].removed_share = 1.0 - float(mask.sum()) / area if area else 0.0

    for view, check in checks.items():
        if check.removed_share > MAX_REMOVED_SHARE:
            raise CutoutsDisagree(
                f"the {view} photo's cut-out includes a large part of the background "
                f"({check.removed_share:.0%} of it is not seen from the {OPPOSITE[view]} side): "
                "retake it in front of a plain wall, with nothing else behind or next to the object",
                detail={"view": view, "removed_share": round(check.removed_share, 3)},
            )
    for first, second in pairs:
        iou = checks[first].pair_iou
        if iou < MIN_PAIR_IOU:
            culprit = _odd_one_out((first, second), masks, pixel_size)
            raise CutoutsDisagree(
                f"the {culprit} photo's cut-out does not match the {OPPOSITE[culprit]} photo's (overlap "
                f"{iou:.0%} when mirrored): background removal probably took something behind the "
                f"object for it; retake the {culprit} photo in front of a plain wall, with the whole "
                "object in view",
                detail={"view": culprit, "views": [first, second], "pair_iou": round(iou, 3)},
            )

    corrected: set[View] = set()
    result: dict[View, Image.Image] = dict(cutouts)
    for view, check in checks.items():
        removal = originals[view] & ~masks[view]
        if removal.any():
            corrected.add(view)
            result[view] = _apply_removal(
                cutouts[view],
                removal,
                masks[view],
                recrop=recrop,
                margin_fraction=margin_fraction,
                square=square,
                max_side=max_side,
            )
            check.warnings.append(
                ViewWarning(
                    code="cutout_corrected",
                    message=f"part of the background stayed in the {view} photo's cut-out "
                    f"({check.removed_share:.0%} of it, not seen from the {OPPOSITE[view]} side) and was "
                    "removed; for a better model, retake it in front of a plain wall",
                )
            )
        if check.pair_iou < WARN_PAIR_IOU:
            check.warnings.append(
                ViewWarning(
                    code="silhouette_disagrees",
                    message=f"the {view} photo's outline differs from the {OPPOSITE[view]} photo's "
                    f"(overlap {check.pair_iou:.0%} when mirrored): the model may be off; retake the "
                    "photos straight from opposite sides, at the same height and distance",
                )
            )
    return CheckedCutouts(cutouts=result, corrected=frozenset(corrected), checks=checks)

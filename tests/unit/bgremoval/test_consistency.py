"""The cross-view check of the cut-outs, on synthetic views with known masks (no model needed).

The cut-outs are made from the true masks, so what the check removes or keeps is exactly known: a piece of
backdrop added to one view must go, the object's own parts (a mug's handle on one side) must stay.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from photo3d_bgremoval.consistency import CutoutsDisagree, check_cutouts
from photo3d_bgremoval.cutout import alpha_bbox, crop_and_pad
from tests.support.photos import iou, make_photo, make_views

SIZE = (480, 360)


def cutout(photo, mask: np.ndarray | None = None) -> Image.Image:
    """The cut-out background removal would make if it found ``mask`` (default: the true mask)."""
    mask = photo.mask if mask is None else mask
    rgba = photo.image.convert("RGBA")
    rgba.putalpha(Image.fromarray(mask.astype(np.uint8) * 255))
    return crop_and_pad(rgba, alpha_bbox(np.asarray(rgba.getchannel("A"))))


def solid(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A")) > 127


def extent(mask: np.ndarray) -> tuple[int, int]:
    """(width, height) of the mask's bounding box."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def distractor_mask(kind="box", *, offset=(0.2, -0.06), scale=0.5) -> np.ndarray:
    """Where a second object behind the main one is (the remover kept it, in the tests below)."""
    return make_photo(kind, size=SIZE, object_scale=scale, offset=offset).mask


@pytest.mark.parametrize("kind", ["mug", "vase", "box"])
def test_consistent_views_pass_unchanged(kind):
    views = make_views(kind, size=SIZE)
    cutouts = {view: cutout(photo) for view, photo in views.items()}
    checked = check_cutouts(cutouts)
    assert checked.corrected == frozenset() and checked.warnings == {}
    assert all(checked.cutouts[view] is cutouts[view] for view in cutouts)
    assert all(check.pair_iou > 0.9 for check in checked.checks.values())


@pytest.mark.parametrize(
    ("kind", "distractor", "offset"),
    [("vase", "box", (0.2, -0.06)), ("mug", "box", (0.22, -0.05)), ("box", "vase", (-0.2, -0.1))],
)
def test_a_piece_of_backdrop_in_one_view_is_removed_and_the_photo_named(kind, distractor, offset):
    views = make_views(kind, size=SIZE)
    cutouts = {view: cutout(photo) for view, photo in views.items()}
    spoilt = views["left"].mask | distractor_mask(distractor, offset=offset)
    cutouts["left"] = cutout(views["left"], spoilt)

    checked = check_cutouts(cutouts)

    assert checked.corrected == {"left"}
    clean = solid(cutout(views["left"]))
    corrected = solid(checked.cutouts["left"])
    # re-cropped around the object alone: same size as the clean cut-out, and the same silhouette
    assert abs(corrected.shape[0] - clean.shape[0]) <= 0.03 * clean.shape[0]
    small = (min(corrected.shape[0], clean.shape[0]),) * 2
    assert iou(corrected[: small[0], : small[1]], clean[: small[0], : small[1]]) > 0.9
    assert extent(corrected) == pytest.approx(extent(clean), rel=0.04)
    (warning,) = checked.warnings["left"]
    assert warning.code == "cutout_corrected" and "left photo" in warning.message
    assert set(checked.warnings) == {"left"}


def test_a_mugs_handle_seen_on_one_side_survives():
    """Front and back both show the handle (on mirrored sides): it is the object's, not the backdrop's."""
    views = make_views("mug", size=SIZE)
    cutouts = {view: cutout(photo) for view, photo in views.items()}
    # the left and right photos see the mug end-on: no handle in their outline
    for view in ("left", "right"):
        body = views[view].mask.copy()
        left, _, right, _ = views[view].bbox
        body[:, left + int(0.62 * (right - left)) :] = False
        cutouts[view] = cutout(views[view], body)

    checked = check_cutouts(cutouts)

    assert "front" not in checked.corrected and "back" not in checked.corrected
    assert extent(solid(checked.cutouts["front"])) == extent(views["front"].mask)


def test_a_slightly_wider_view_is_not_trimmed():
    """A few degrees of turn or a nearer camera widen a view along its rim only: that is not backdrop."""
    views = make_views("box", size=SIZE)
    cutouts = {view: cutout(photo) for view, photo in views.items()}
    wider = ndimage.binary_dilation(views["front"].mask, structure=np.ones((1, 9), dtype=bool))
    cutouts["front"] = cutout(views["front"], wider)
    checked = check_cutouts(cutouts)
    assert checked.corrected == frozenset()


def test_a_view_mostly_made_of_backdrop_fails_naming_the_photo():
    views = make_views("vase", size=SIZE)
    cutouts = {view: cutout(photo) for view, photo in views.items()}
    huge = views["right"].mask | distractor_mask("box", offset=(-0.3, -0.02), scale=0.75)
    cutouts["right"] = cutout(views["right"], huge)
    with pytest.raises(CutoutsDisagree) as raised:
        check_cutouts(cutouts)
    assert "right photo" in raised.value.message and raised.value.detail["view"] == "right"


def test_opposite_views_that_cannot_be_reconciled_fail_naming_the_odd_one():
    """The back photo's cut-out is something else entirely (a box beside the vase, the vase missed): the
    front, left and right agree on the object's height, so the back is named."""
    views = make_views("vase", size=SIZE)
    cutouts = {view: cutout(photo) for view, photo in views.items()}
    cutouts["back"] = cutout(views["back"], distractor_mask("box", offset=(0.3, 0.0), scale=0.5))
    with pytest.raises(CutoutsDisagree) as raised:
        check_cutouts(cutouts)
    assert raised.value.detail["view"] == "back" and "back photo" in raised.value.message

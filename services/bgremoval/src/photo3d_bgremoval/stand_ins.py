"""One unusable photo need not fail the model: the opposite photo's outline, mirrored, stands in for it.

Opposite views see nearly mirror-image silhouettes, so for the shape the front photo's outline says
almost all that the back photo's would. When exactly one photo cannot be cut out (no object found in
it) or its cut-out contradicts the others beyond repair, and its opposite is sound, the opposite cut-out
mirrored takes its place, marked in its PNG (``STAND_IN_FOR_TEXT``) so generation carves with it but
takes no colour from it, and the photo gets a warning saying what to retake. A second unusable photo, or
one whose opposite is unusable too, still fails the stage with that photo's reason.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

from PIL import ImageOps

from photo3d_common.concurrency import side_by_side
from photo3d_common.errors import Photo3DError
from photo3d_common.events import View, ViewWarning
from photo3d_common.storage import STAND_IN_FOR_TEXT

from .consistency import OPPOSITE, CheckedCutouts, CutoutsDisagree, check_cutouts
from .cutout import NoSubjectFound, Side, encode_png
from .refine import refine_busy_views
from .remover import BackgroundRemovalSettings, CutoutResult

#: what each refusal says about the photo, for the warning
_WHY = {
    NoSubjectFound: "no object could be found in it",
    CutoutsDisagree: "its cut-out did not match the other photos",
}


@dataclasses.dataclass(frozen=True)
class CheckedSet:
    """The four cut-outs after the cross-view check, with their PNGs and what the user is told."""

    checked: CheckedCutouts
    pngs: dict[View, bytes]
    warnings: dict[View, list[ViewWarning]]
    stand_ins: dict[View, View]  # view -> the opposite view whose outline stands in for it


#: a frame side as seen in the mirrored photo
_MIRRORED_SIDE: dict[Side, Side] = {"left": "right", "right": "left", "top": "top", "bottom": "bottom"}


def _mirrored_box(box: tuple[int, int, int, int], width: int) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    return width - right, top, width - left, bottom


def mirrored(result: CutoutResult, opposite: View, settings: BackgroundRemovalSettings) -> CutoutResult:
    """``result`` (the opposite view's cut-out) mirrored left to right, as seen from the other side: the
    image, the mask and what was measured on them (the object's box, the frame sides it touches, where
    the canvas lies in the photo)."""
    image = ImageOps.mirror(result.cutout.image)
    quality = result.cutout.quality
    quality = dataclasses.replace(
        quality,
        bbox=None if quality.bbox is None else _mirrored_box(quality.bbox, quality.width),
        touching_sides=frozenset(_MIRRORED_SIDE[side] for side in quality.touching_sides),
    )
    cutout = dataclasses.replace(
        result.cutout,
        image=image,
        quality=quality,
        canvas_box=_mirrored_box(result.cutout.canvas_box, result.cutout.source_size[0]),
    )
    return CutoutResult(
        cutout=cutout,
        mask=ImageOps.mirror(result.mask),
        png_compress_level=settings.png_compress_level,
        png_text={STAND_IN_FOR_TEXT: opposite},
    )


def _encoded(encodings: Mapping[View, Callable[[], bytes]], threads: int) -> dict[View, bytes]:
    """Each view's PNG, ``threads`` at a time: Pillow's encoder lets go of the GIL, so a model's cut-outs
    encode side by side on the cores."""
    return dict(zip(encodings, side_by_side(list(encodings.values()), threads), strict=True))


def check_set(
    results: Mapping[View, CutoutResult | NoSubjectFound],
    settings: BackgroundRemovalSettings,
    *,
    check: Callable[..., CheckedCutouts] = check_cutouts,
    trusted: frozenset[View] = frozenset(),
    rebuilt: frozenset[View] = frozenset(),
) -> CheckedSet:
    """The cross-view check of the four cut-outs (a view's entry is its ``NoSubjectFound`` when the remover
    found nothing), with at most one stand-in. Raises the refusal of a photo that cannot be stood in for.
    ``trusted``: views on a plain backdrop (``refine.RefinedSet.plain``), never trimmed by a busy one.
    ``rebuilt``: cut-outs the remover refused and the refinement rebuilt (``refine.RefinedSet.rebuilt``):
    when the check finds a disagreement they take part in, they are the suspect, and are stood in for."""
    usable: dict[View, CutoutResult] = {v: r for v, r in results.items() if isinstance(r, CutoutResult)}
    stand_ins: dict[View, View] = {}
    reasons: dict[View, Photo3DError] = {}

    def stand_in(view: View, reason: Photo3DError) -> None:
        opposite = OPPOSITE[view]
        if stand_ins or opposite not in usable:  # one stand-in at most, from a usable photo
            raise reason
        usable[view] = mirrored(usable[opposite], opposite, settings)
        stand_ins[view], reasons[view] = opposite, reason

    for view, result in results.items():
        if isinstance(result, NoSubjectFound):
            stand_in(view, result)
    while True:
        try:
            images = {v: r.cutout.image for v, r in usable.items()}
            checked = check(
                images,
                trusted=trusted.difference(stand_ins),
                threads=settings.encoding_threads(),
                **settings.framing(),
            )
            break
        except CutoutsDisagree as disagreement:
            detail = disagreement.detail or {}
            culprit = detail.get("view")
            # a rebuilt cut-out in the disagreement is less sure than any photo the model cut out itself
            suspects = sorted(rebuilt.intersection({culprit, *detail.get("views", ())}).difference(stand_ins))
            culprit = suspects[0] if suspects else culprit
            if culprit not in usable:
                raise
            stand_in(culprit, disagreement)

    # a corrected view is stored as corrected: its first cut-out is never encoded
    encodings: dict[View, Callable[[], bytes]] = {
        view: result.encode_png for view, result in usable.items() if view not in checked.corrected
    }
    for view in checked.corrected:
        text: dict[str, str] | None = {STAND_IN_FOR_TEXT: stand_ins[view]} if view in stand_ins else None
        encodings[view] = functools.partial(
            encode_png, checked.cutouts[view], compress_level=settings.png_compress_level, text=text
        )
    pngs = _encoded(encodings, settings.encoding_threads())
    warnings = {view: list(found) for view, found in checked.warnings.items()}
    for view in rebuilt.intersection(usable).difference(stand_ins):
        warnings.setdefault(view, []).insert(
            0,
            ViewWarning(
                code="cutout_rebuilt",
                message=f"the backdrop of the {view} photo hid the object from background removal: its "
                "cut-out was rebuilt from the object's colours in the plain-backdrop photos; for a better "
                f"model, retake the {view} photo in front of a plain wall",
            ),
        )
    for view, opposite in stand_ins.items():
        why = _WHY.get(type(reasons[view]), "it could not be used")
        warnings[view] = [
            ViewWarning(
                code="outline_from_opposite",
                message=f"the {view} photo could not be used ({why}): the model's outline from that side is "
                f"the {opposite} photo's, mirrored, and its colours come from the neighbouring photos; "
                f"retake the {view} photo in front of a plain wall for a better model",
            )
        ]
    return CheckedSet(checked=checked, pngs=pngs, warnings=warnings, stand_ins=stand_ins)


def refine_and_check(
    results: Mapping[View, CutoutResult | NoSubjectFound], settings: BackgroundRemovalSettings
) -> CheckedSet:
    """A set's cut-outs as they are stored: the busy-backdrop ones refined (and refused ones rebuilt) with
    the plain ones' colours (``refine.refine_busy_views``), then all checked against each other."""
    refined = refine_busy_views(results, settings)
    return check_set(refined.results, settings, trusted=refined.plain, rebuilt=refined.rebuilt)

"""The reconstructor on photos that are not square to the object, and on an asymmetric object.

The cut-outs are ray-cast from simple solids (tests/support/solids.py) with a perspective camera, and the
same cut-outs go through background removal's cross-view check first, as in the service.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from photo3d_bgremoval.consistency import check_cutouts
from photo3d_common.storage import FOCAL_PIXELS_TEXT
from photo3d_generation.local import ReconstructionSettings, reconstruct
from photo3d_generation.local.poses import fit_poses
from photo3d_generation.local.views import load_views
from photo3d_generation.meshio import RESULT_NOTES
from tests.support.solids import box, camera, chair, cutout, cutouts, mug, with_backdrop_block

SETTINGS = ReconstructionSettings(voxel_resolution=80, target_faces=8000, texture_size=256)


def build(images):
    checked = check_cutouts(images)
    return reconstruct(checked.cutouts, SETTINGS), checked


def proportions(mesh) -> np.ndarray:
    width, height, depth = mesh.extents
    return np.array([width / height, depth / height])


@pytest.fixture(scope="module")
def square_box():
    """The box from four photos square to it: what a turned or raised photo is compared with."""
    mesh, checked = build(cutouts(box(width=0.8, depth=0.5)))
    assert checked.corrected == frozenset()
    # four level perspective views of a box come out a little wide and deep (the near edges are
    # magnified; see the package notes), never far off
    assert proportions(mesh) == pytest.approx([0.8, 0.5], rel=0.2)
    return proportions(mesh)


@pytest.mark.parametrize("turned", ["front", "left"])
def test_a_view_turned_by_8_degrees_keeps_the_models_width_and_depth(turned, square_box):
    mesh, checked = build(cutouts(box(width=0.8, depth=0.5), **{turned: {"yaw": 8.0}}))
    assert checked.corrected == frozenset()  # a turned photo is not a spoilt cut-out
    assert proportions(mesh) == pytest.approx(square_box, rel=0.04)


def test_slightly_raised_cameras_keep_the_models_proportions(square_box):
    mesh, checked = build(
        cutouts(box(width=0.8, depth=0.5), front={"elevation": 8.0}, right={"elevation": 6.0})
    )
    assert checked.corrected == frozenset()
    assert proportions(mesh) == pytest.approx(square_box, rel=0.06)


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_a_mug_keeps_its_handle_on_its_side(side):
    """The handle is in the front and back outlines only (edge-on from the sides): it must survive the
    cross-view check and the carving, on the side it is on."""
    mesh, checked = build(cutouts(mug(handle_side=side)))
    assert checked.corrected == frozenset()
    width, height, _ = mesh.extents
    assert width / height == pytest.approx(0.98, rel=0.15)  # body 0.6 + handle reaching 0.38 beyond it
    vertices = np.asarray(mesh.vertices)
    centre_x = (vertices[:, 0].min() + vertices[:, 0].max()) / 2
    # above the handle only the body: it sits towards the side without the handle
    top = vertices[vertices[:, 1] > 0.88 * height]
    body_centre = (top[:, 0].min() + top[:, 0].max()) / 2
    assert (body_centre - centre_x) * side < -0.12 * height
    # at the handle's height the model reaches out on the handle's side
    middle = vertices[np.abs(vertices[:, 1] - 0.5 * height) < 0.05 * height]
    reach = middle[:, 0].max() if side > 0 else -middle[:, 0].min()
    assert reach - side * centre_x > 0.45 * height


# A chair seen from four heights and distances: its near legs look longer than its far ones, so a camera
# read off each photo's own outline box is a few per cent off, and the thin legs are carved away.
CHAIR_PHOTOS = {
    "front": {"elevation": 10.0, "distance": 2.3},
    "left": {"elevation": 4.0, "distance": 2.7},
    "right": {"elevation": 12.0, "distance": 2.5},
    "back": {"elevation": 2.0, "distance": 2.2},
}


def volume_iou(mesh, solid) -> float:
    """The model against the solid on a grid, both resting on y = 0 and centred on X/Z, 1 unit tall."""
    axes = [np.linspace(-0.6, 0.6, 48), np.linspace(0.0, 1.0, 40), np.linspace(-0.45, 0.45, 36)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    truth, built = solid(grid), mesh.contains(grid)
    return float((truth & built).sum() / (truth | built).sum())


@pytest.fixture(scope="module")
def chair_photos():
    return cutouts(chair(), **CHAIR_PHOTOS)


def test_cameras_fitted_to_the_four_photos_keep_a_chair_on_its_legs(chair_photos):
    fitted = reconstruct(chair_photos, SETTINGS)
    boxed = reconstruct(chair_photos, dataclasses.replace(SETTINGS, fit_cameras=False))
    # each photo's own box: the legs are cut short (the model no longer reaches the ground)
    assert boxed.bounds[0][1] > 0.05
    assert fitted.bounds[0][1] == pytest.approx(0.0, abs=0.01)
    assert volume_iou(fitted, chair()) > volume_iou(boxed, chair()) + 0.02
    vertices = np.asarray(fitted.vertices)
    legs = vertices[vertices[:, 1] < 0.25 * fitted.extents[1]]
    # all four legs reach down: the model's lowest part is in its four corners, not in the middle
    for x_side in (-1, 1):
        for z_side in (-1, 1):
            corner = legs[(np.sign(legs[:, 0]) == x_side) & (np.sign(legs[:, 2]) == z_side)]
            assert len(corner) > 0


def test_the_fit_makes_every_photo_agree_with_the_others(chair_photos):
    fit = fit_poses(load_views(chair_photos, camera_distance=2.5))
    assert min(fit.coherence_before.values()) < 0.8
    assert min(fit.coherence_after.values()) > 0.88
    assert fit.outliers == ()
    # photos of an object are taken from level or above: the fitted cameras look down, none up
    assert all(view.elevation > 0 for view in fit.views.values())


def test_a_photo_the_others_contradict_is_reported_and_does_not_rescale_them(chair_photos):
    clean = fit_poses(load_views(chair_photos, camera_distance=2.5))
    # the left cut-out kept a block of the backdrop beside the object
    spoilt_photos = dict(chair_photos, left=with_backdrop_block(chair_photos["left"]))
    fit = fit_poses(load_views(spoilt_photos, camera_distance=2.5))
    assert fit.outliers == ("left",)
    for name in ("front", "right", "back"):
        assert fit.views[name].focal == pytest.approx(clean.views[name].focal, rel=0.1)
    # the model's page names the photo
    notes = reconstruct(spoilt_photos, SETTINGS).metadata[RESULT_NOTES]
    assert any("the left photo" in note and "retake the left photo" in note for note in notes)
    assert reconstruct(chair_photos, SETTINGS).metadata[RESULT_NOTES] == []


def test_a_chair_whose_legs_one_photo_lost_stands_where_the_photos_show_the_ground():
    """The front cut-out lost the legs' lower half (a busy backdrop); with the cameras known, the carving
    keeps them from 0.2 up, and the model must not sink by that length onto the ground."""
    whole = chair()

    def legs_cut_short(points: np.ndarray) -> np.ndarray:
        return whole(points) & (points[:, 1] >= 0.2)

    photos = {view: cutout(whole, view, crop=False) for view in ("left", "right", "back")}
    photos["front"] = cutout(legs_cut_short, "front", crop=False)
    cameras = dict.fromkeys(photos, camera())
    mesh = reconstruct(photos, SETTINGS, cameras=cameras)
    low, high = mesh.bounds
    assert low[1] == pytest.approx(0.2, abs=0.05)  # where the legs' remains end
    assert high[1] == pytest.approx(1.0, abs=0.05)
    # and the user is told what is missing and what to do
    (note,) = mesh.metadata[RESULT_NOTES]
    assert "lowest" in note and "retake" in note


def test_each_photos_recorded_focal_length_gives_the_distance_it_was_taken_from():
    """Photos from four distances: with the focal length background removal recorded from each photo's
    EXIF, each camera is put where the photo was taken; without it, all at the assumed distance."""
    taken_from = {"front": 1.9, "left": 3.2, "right": 2.1, "back": 4.0}
    solid = box(width=0.8, depth=0.5)
    recorded = {
        view: cutout(solid, view, distance=d, size=300, record_focal=True) for view, d in taken_from.items()
    }
    views = fit_poses(load_views(recorded, camera_distance=2.5)).views
    for view, distance in taken_from.items():
        assert views[view].distance == pytest.approx(distance, rel=0.06)
    plain = {view: cutout(solid, view, distance=d, size=300) for view, d in taken_from.items()}
    assert {view.distance for view in load_views(plain, camera_distance=2.5).values()} == {2.5}
    mesh = reconstruct(recorded, SETTINGS)
    assert proportions(mesh) == pytest.approx([0.8, 0.5], rel=0.2)


@pytest.mark.parametrize("text", ["", "abc", "-40", "nan", "0"])
def test_a_focal_length_that_cannot_be_one_is_ignored(text):
    photos = cutouts(box())
    photos["front"].info[FOCAL_PIXELS_TEXT] = text
    assert load_views(photos, camera_distance=2.5)["front"].distance == 2.5

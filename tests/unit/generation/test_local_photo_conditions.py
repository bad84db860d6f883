"""The reconstructor on photos that are not square to the object, and on an asymmetric object.

The cut-outs are ray-cast from simple solids (tests/support/solids.py) with a perspective camera, and the
same cut-outs go through background removal's cross-view check first, as in the service.
"""

from __future__ import annotations

import numpy as np
import pytest

from photo3d_bgremoval.consistency import check_cutouts
from photo3d_generation.local import ReconstructionSettings, reconstruct
from tests.support.solids import box, cutouts, mug

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

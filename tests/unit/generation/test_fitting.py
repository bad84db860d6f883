"""fit_to_options on meshes of known shape: the budget within 10 %, closed surfaces kept closed, the texture
mapping and colours carried through simplification and subdivision, the size and the floor."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import Image

from photo3d_common.events import GenerationOptions
from photo3d_generation import fitting, meshio


def two_colour_sphere(subdivisions: int = 5) -> trimesh.Trimesh:
    """A unit-diameter sphere whose texture is blue on the upper half and orange on the lower half."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.5)
    texture = Image.new("RGB", (64, 64), (220, 120, 30))
    texture.paste((30, 90, 220), (0, 0, 64, 32))  # image rows 0-31 = v in 0.5..1 = upper half
    uv = np.column_stack((np.full(len(sphere.vertices), 0.5), 0.5 + sphere.vertices[:, 1]))
    sphere.visual = trimesh.visual.TextureVisuals(uv=np.clip(uv, 0.01, 0.99), image=texture)
    return meshio.normalize_mesh(sphere)


def _colours_by_height(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    colours = meshio.face_colors(mesh)
    centres = mesh.triangles_center[:, 1]
    middle = (mesh.bounds[0][1] + mesh.bounds[1][1]) / 2
    return colours[centres > middle + 0.1].mean(axis=0), colours[centres < middle - 0.1].mean(axis=0)


@pytest.mark.parametrize("target", [1_000, 5_000, 12_000])
def test_simplifying_meets_the_budget_keeps_it_closed_and_keeps_the_texture(target):
    fitted = fitting.fit_to_options(two_colour_sphere(), GenerationOptions(target_faces=target))
    mesh = fitted.mesh
    assert 0.9 * target <= len(mesh.faces) <= 1.1 * target and fitted.detail is None
    assert meshio.welded(mesh).is_watertight
    assert mesh.visual.kind == "texture"
    upper, lower = _colours_by_height(mesh)
    assert upper[2] > 180 and upper[0] < 80  # still blue on top
    assert lower[0] > 180 and lower[2] < 80  # still orange below


def test_a_coarser_mesh_is_subdivided_to_the_budget_without_changing_shape():
    box = meshio.normalize_mesh(trimesh.creation.box(extents=(0.4, 1.0, 0.2)))
    fitted = fitting.fit_to_options(box, GenerationOptions(target_faces=5_000))
    assert 4_500 <= len(fitted.mesh.faces) <= 5_500
    assert meshio.welded(fitted.mesh).is_watertight
    assert np.allclose(fitted.mesh.extents, (0.4, 1.0, 0.2), atol=1e-6)
    assert fitted.mesh.volume == pytest.approx(0.08, rel=1e-3)  # flat faces stay flat


def test_subdividing_interpolates_the_texture_coordinates():
    sphere = two_colour_sphere(subdivisions=2)  # 320 faces
    fitted = fitting.fit_to_options(sphere, GenerationOptions(target_faces=20_000))
    assert 18_000 <= len(fitted.mesh.faces) <= 22_000 and fitted.mesh.visual.kind == "texture"
    upper, lower = _colours_by_height(fitted.mesh)
    assert upper[2] > 180 and lower[0] > 180


def test_vertex_colours_survive_simplification():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    colours = np.where(sphere.vertices[:, [1]] > 0, [[255, 0, 0, 255]], [[0, 255, 0, 255]]).astype(np.uint8)
    sphere.visual = trimesh.visual.ColorVisuals(sphere, vertex_colors=colours)
    fitted = fitting.fit_to_options(meshio.normalize_mesh(sphere), GenerationOptions(target_faces=2_000))
    result = fitted.mesh.visual.vertex_colors
    top = fitted.mesh.vertices[:, 1] > 0.8
    assert len(fitted.mesh.faces) == pytest.approx(2_000, rel=0.1) and (result[top, 0] == 255).all()


def test_texture_off_is_plain_geometry():
    fitted = fitting.fit_to_options(two_colour_sphere(), GenerationOptions(texture=False, target_faces=5_000))
    assert fitted.mesh.visual.kind is None
    assets = meshio.export_assets(fitted.mesh, preview_size=64)
    assert not {"texture.jpg", "texture.png"} & set(assets)


@pytest.mark.parametrize(
    ("options", "axis", "size"),
    [
        (GenerationOptions(height_m=0.3, target_faces=5_000), 1, 0.3),
        (GenerationOptions(width_m=2.5, target_faces=5_000), 0, 2.5),
    ],
)
def test_the_size_is_the_bounding_box_in_metres_resting_on_the_floor(options, axis, size):
    tall = meshio.normalize_mesh(trimesh.creation.box(extents=(0.5, 2.0, 0.25)))
    fitted = fitting.fit_to_options(tall, options)
    assert fitted.mesh.extents[axis] == pytest.approx(size, rel=1e-6)
    ratio = size / (0.5, 2.0, 0.25)[axis]  # uniform: the proportions stay
    assert fitted.mesh.extents == pytest.approx(np.array([0.5, 2.0, 0.25]) * ratio, rel=1e-6)
    assert fitted.mesh.bounds[0][1] == pytest.approx(0.0, abs=1e-9)
    assert (fitted.dimensions.x, fitted.dimensions.y, fitted.dimensions.z) == pytest.approx(
        tuple(fitted.mesh.extents), rel=1e-5
    )


def test_no_size_keeps_the_providers_scale():
    sphere = two_colour_sphere()
    fitted = fitting.fit_to_options(sphere, GenerationOptions(target_faces=5_000))
    assert fitted.mesh.extents == pytest.approx(sphere.extents, rel=0.02)


def test_a_generators_notes_on_its_result_reach_the_user():
    sphere = two_colour_sphere(subdivisions=3)
    sphere.metadata[meshio.RESULT_NOTES] = ["the left photo's outline does not fit"]
    kept = fitting.fit_to_options(sphere, GenerationOptions(target_faces=len(sphere.faces)))
    assert kept.detail == "the left photo's outline does not fit"
    assert fitting.fit_to_options(two_colour_sphere(3), GenerationOptions(target_faces=1280)).detail is None

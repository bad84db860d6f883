"""The offline reconstructor on synthetic cut-outs: shape, orientation, colour, errors and exports.

Each view is painted its own colour, so where a colour lands on the model says which photo the
reconstructor projected where (front -> +Z, the object's left -> +X, ...).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import trimesh
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import ConvexHull

from photo3d_common.storage import STAND_IN_FOR_TEXT
from photo3d_generation import meshio
from photo3d_generation.local import ReconstructionError, ReconstructionSettings, reconstruct, texturing
from photo3d_generation.local.carving import carve
from photo3d_generation.local.views import KnownCamera, load_views

COLOURS = {
    "front": (220, 30, 30),
    "back": (30, 30, 220),
    "left": (30, 200, 30),
    "right": (230, 220, 20),
}
# The synthetic silhouettes are exact orthographic projections, so the exact-geometry checks use that model.
FAST = ReconstructionSettings(
    voxel_resolution=64, smoothing_iterations=6, target_faces=6000, texture_size=256, camera_distance=None
)
VERTEX_COLOURS = ReconstructionSettings(
    voxel_resolution=64, target_faces=6000, texture_size=0, camera_distance=None
)


def disc(colour: tuple[int, int, int], *, size: int = 200, radius: int = 70) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse(
        [size / 2 - radius, size / 2 - radius, size / 2 + radius, size / 2 + radius], fill=(*colour, 255)
    )
    return image


def rectangle(colour: tuple[int, int, int], *, width: int, height: int, size: int = 240) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    left, top = (size - width) // 2, (size - height) // 2
    ImageDraw.Draw(image).rectangle([left, top, left + width - 1, top + height - 1], fill=(*colour, 255))
    return image


def box_cutouts() -> dict[str, Image.Image]:
    """A box 0.6 wide (X), 1 tall, 0.3 deep (Z): front/back photos show the width, sides the depth."""
    return {
        "front": rectangle(COLOURS["front"], width=120, height=200),
        "back": rectangle(COLOURS["back"], width=120, height=200),
        "left": rectangle(COLOURS["left"], width=60, height=200),
        "right": rectangle(COLOURS["right"], width=60, height=200),
    }


class _DictResolver(trimesh.resolvers.Resolver):
    """Serves the OBJ's companion files (MTL, texture) from the exported assets."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def get(self, name: str) -> bytes:
        return self.files[name]

    def write(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def namespaced(self, namespace: str) -> _DictResolver:
        return self

    def keys(self):
        return self.files.keys()


@pytest.fixture(scope="module")
def sphere() -> trimesh.Trimesh:
    return reconstruct({view: disc(colour) for view, colour in COLOURS.items()}, FAST)


@pytest.fixture(scope="module")
def box() -> trimesh.Trimesh:
    return reconstruct(box_cutouts(), FAST)


def colour_at_extreme(mesh: trimesh.Trimesh, direction: np.ndarray) -> np.ndarray:
    """Mean colour of the vertices that lie furthest along ``direction`` (the face pointing there)."""
    reach = mesh.vertices @ direction
    tip = reach >= reach.max() - 0.02 * float(np.ptp(reach))
    return meshio.vertex_colors(mesh)[tip].mean(axis=0)


def test_sphere_is_closed_upright_centred_and_resting_on_the_ground(sphere: trimesh.Trimesh) -> None:
    # Vertices are split only along texture seams: welded back, the surface is closed and outward.
    solid = meshio.welded(sphere)
    assert solid.is_watertight
    assert solid.is_winding_consistent
    assert solid.volume > 0
    low, high = sphere.bounds
    assert low[1] == pytest.approx(0.0, abs=1e-9)
    # The photos' object height is the unit: the carved sphere is as tall as the silhouettes.
    assert high[1] == pytest.approx(1.0, abs=0.02)
    assert (low[0] + high[0]) / 2 == pytest.approx(0.0, abs=1e-6)
    assert (low[2] + high[2]) / 2 == pytest.approx(0.0, abs=1e-6)


def test_sphere_volume_matches_the_visual_hull_of_four_side_views(sphere: trimesh.Trimesh) -> None:
    # Four horizontal views carve a sphere of radius r into two crossed cylinders (a Steinmetz solid,
    # 16/3 r^3): that is the truth silhouettes can give; the sphere itself (4/3 pi r^3) is 21 % smaller.
    r = 0.5
    steinmetz = 16 / 3 * r**3
    sphere_volume = 4 / 3 * np.pi * r**3
    volume = meshio.welded(sphere).volume
    assert volume == pytest.approx(steinmetz, rel=0.05)
    assert volume == pytest.approx(sphere_volume, rel=0.35)


def test_each_photo_colours_the_side_it_shows(sphere: trimesh.Trimesh) -> None:
    assert isinstance(sphere.visual, trimesh.visual.TextureVisuals)
    for view, colour in COLOURS.items():
        seen = colour_at_extreme(sphere, meshio.VIEW_DIRECTIONS[view])
        assert np.abs(seen - np.array(colour)).max() < 25, (view, seen)


def test_vertex_colour_mode_blends_the_photos_onto_the_sides_they_show() -> None:
    mesh = reconstruct({view: disc(colour) for view, colour in COLOURS.items()}, VERTEX_COLOURS)
    assert mesh.visual.kind == "vertex"
    assert mesh.is_watertight
    for view, colour in COLOURS.items():
        seen = colour_at_extreme(mesh, meshio.VIEW_DIRECTIONS[view])
        assert np.abs(seen - np.array(colour)).max() < 25, (view, seen)
    # Where two photos meet (45 degrees between front and the object's left) the colours blend.
    diagonal = colour_at_extreme(mesh, np.array([1.0, 0.0, 1.0]) / np.sqrt(2))
    assert 60 < diagonal[0] < 200 and 60 < diagonal[1] < 180


def test_a_stand_in_outline_shapes_the_model_but_lends_it_no_colour() -> None:
    """The right cut-out is the left one's outline, mirrored (bgremoval's stand-in for an unusable
    photo), still with the left side's colours: the right side takes its colour from the others."""
    cutouts = {view: disc(colour) for view, colour in COLOURS.items()}
    stand_in = cutouts["left"].transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    stand_in.info[STAND_IN_FOR_TEXT] = "left"
    cutouts["right"] = stand_in
    mesh = reconstruct(cutouts, VERTEX_COLOURS)

    right = colour_at_extreme(mesh, meshio.VIEW_DIRECTIONS["right"])
    left = np.array(COLOURS["left"])
    assert np.abs(right - left).max() > 60, right  # not the left photo's colour painted on the right side
    assert mesh.extents[0] == pytest.approx(mesh.extents[2], rel=0.1)  # still round: the outline carved


def test_box_keeps_width_on_x_and_depth_on_z(box: trimesh.Trimesh) -> None:
    width, height, depth = box.extents
    assert height == pytest.approx(1.0, rel=0.02)
    assert width == pytest.approx(0.6, rel=0.06)
    assert depth == pytest.approx(0.3, rel=0.1)
    assert meshio.welded(box).volume == pytest.approx(0.6 * 0.3 * 1.0, rel=0.1)
    assert colour_at_extreme(box, np.array([0.0, 0.0, 1.0]))[0] > 180  # front (red) towards +Z
    assert colour_at_extreme(box, np.array([1.0, 0.0, 0.0]))[1] > 160  # the object's left (green) at +X


def test_photos_at_different_zoom_are_aligned_by_height() -> None:
    cutouts = box_cutouts()
    # The same left view photographed from further away: half the pixels, different canvas.
    cutouts["left"] = rectangle(COLOURS["left"], width=30, height=100, size=300)
    mesh = reconstruct(cutouts, FAST)
    assert mesh.extents[2] == pytest.approx(0.3, rel=0.1)
    assert meshio.welded(mesh).is_watertight


def test_height_setting_scales_the_model() -> None:
    mesh = reconstruct(
        box_cutouts(),
        ReconstructionSettings(
            voxel_resolution=48, target_faces=2000, height=0.25, texture_size=128, camera_distance=None
        ),
    )
    assert mesh.extents[1] == pytest.approx(0.25, rel=0.02)
    assert mesh.bounds[0][1] == pytest.approx(0.0, abs=1e-9)


def perspective_box_cutouts(distance: float, half: tuple[float, float, float]) -> dict[str, Image.Image]:
    """Exact pinhole photos of a box (half-extents x, y, z; 1 tall, on y = 0) from ``distance`` heights."""
    corners = np.array(
        [
            [sx * half[0], 0.5 + sy * half[1], sz * half[2]]
            for sx in (-1, 1)
            for sy in (-1, 1)
            for sz in (-1, 1)
        ]
    )
    focal, size = 400.0, 600
    cutouts = {}
    for view, colour in COLOURS.items():
        direction, right = meshio.VIEW_DIRECTIONS[view], meshio.VIEW_RIGHT[view]
        depth = distance - corners @ direction
        u = size / 2 + focal * (corners @ right) / depth
        v = size / 2 - focal * (corners[:, 1] - 0.5) / depth
        hull = ConvexHull(np.column_stack([u, v]))
        image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        ImageDraw.Draw(image).polygon([(u[k], v[k]) for k in hull.vertices], fill=(*colour, 255))
        cutouts[view] = image
    return cutouts


def test_perspective_hull_contains_the_object_and_explains_every_photo() -> None:
    half = (0.3, 0.5, 0.15)
    cutouts = perspective_box_cutouts(2.0, half)
    views = load_views(cutouts, camera_distance=2.0)
    volume = carve(views, resolution=80)

    def occupancy(points: np.ndarray) -> np.ndarray:
        index = (points - volume.origin) / volume.spacing
        return ndimage.map_coordinates(volume.field, index.T, order=1)

    # A visual hull contains the object: every point inside the box (kept a voxel from its faces) is in.
    margin = 1.5 * volume.spacing
    axes = [np.linspace(-h + margin, h - margin, 9) for h in half]
    inside_box = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3) + np.array(
        [0.0, 0.5, 0.0]
    )
    assert (occupancy(inside_box) >= 0.5).all()
    # ... and, from four level cameras, only a little more (roofs above and below, bevelled sides).
    hull_volume = (volume.field >= 0.5).sum() * volume.spacing**3
    box_volume = 8 * half[0] * half[1] * half[2]
    assert box_volume < hull_volume < 1.35 * box_volume
    # Projected through the true camera (focal 400 px, centred), the hull spans each photo's outline.
    solid = volume.origin + np.argwhere(volume.field >= 0.5) * volume.spacing
    for view in COLOURS:
        direction, right = meshio.VIEW_DIRECTIONS[view], meshio.VIEW_RIGHT[view]
        depth = 2.0 - solid @ direction
        u = 300 + 400 * (solid @ right) / depth
        v = 300 - 400 * (solid[:, 1] - 0.5) / depth
        left, top, right_edge, bottom = views[view].bbox
        tolerance = 0.03 * (bottom - top)
        assert u.min() == pytest.approx(left, abs=tolerance)
        assert u.max() == pytest.approx(right_edge, abs=tolerance)
        assert v.min() == pytest.approx(top, abs=tolerance)
        assert v.max() == pytest.approx(bottom, abs=tolerance)


def test_decimation_respects_the_face_budget(sphere: trimesh.Trimesh) -> None:
    assert len(sphere.faces) <= FAST.target_faces * 1.05
    assert len(sphere.faces) > FAST.target_faces * 0.5


def test_glb_round_trip_keeps_orientation_colours_and_closure(sphere: trimesh.Trimesh) -> None:
    loaded = meshio.load_mesh(meshio.to_glb_bytes(sphere), "glb")
    assert loaded.bounds[0][1] == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(loaded.bounds, sphere.bounds, atol=1e-5)
    assert meshio.welded(loaded).is_watertight
    assert isinstance(loaded.visual, trimesh.visual.TextureVisuals)
    front = colour_at_extreme(loaded, np.array([0.0, 0.0, 1.0]))
    assert np.abs(front - np.array(COLOURS["front"])).max() < 25


def test_exported_assets_are_readable(sphere: trimesh.Trimesh) -> None:
    assets = meshio.export_assets(sphere, preview_size=96)
    assert {"model.glb", "model.obj", "model.mtl", "texture.jpg", "model.stl", "preview.png"} <= set(assets)
    stl = trimesh.load(io.BytesIO(assets["model.stl"]), file_type="stl")
    assert len(stl.faces) == len(sphere.faces)
    assert stl.is_watertight
    assert "map_Kd texture.jpg" in assets["model.mtl"].decode()
    assert b"mtllib model.mtl" in assets["model.obj"]
    texture = Image.open(io.BytesIO(assets["texture.jpg"]))
    assert texture.format == "JPEG"  # a texture of photos: small and fast to encode (textures.py)
    assert texture.size == (256, 256)
    obj = trimesh.load(
        io.BytesIO(assets["model.obj"]),
        file_type="obj",
        resolver=_DictResolver(assets),
        process=False,
    )
    assert len(obj.faces) == len(sphere.faces)
    assert isinstance(obj.visual, trimesh.visual.TextureVisuals)
    front = colour_at_extreme(obj, np.array([0.0, 0.0, 1.0]))
    assert np.abs(front - np.array(COLOURS["front"])).max() < 25
    preview = Image.open(io.BytesIO(assets["preview.png"]))
    assert preview.size == (96, 96)
    # The model is drawn: a good share of the pixels is opaque and coloured, not all background.
    alpha = np.asarray(preview.getchannel("A"))
    assert 0.2 < (alpha > 0).mean() < 0.95


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (lambda c: c.pop("left"), "missing_view", "left photo is missing"),
        (
            lambda c: c.__setitem__("right", c["right"].convert("RGB")),
            "no_alpha",
            "right photo has no transparent",
        ),
        (
            lambda c: c.__setitem__("back", Image.new("RGBA", (200, 200), (0, 0, 0, 0))),
            "empty_silhouette",
            "no object was found in the back photo",
        ),
        (
            lambda c: c.__setitem__("left", disc((0, 255, 0), radius=6)),
            "object_too_small",
            "left photo's object is too small",
        ),
        (
            lambda c: c.__setitem__("back", rectangle((0, 0, 255), width=200, height=60)),
            "inconsistent_views",
            "front and back photos disagree",
        ),
    ],
)
def test_unusable_photos_get_a_message_the_user_can_act_on(change, code, words) -> None:
    cutouts = {view: disc(colour) for view, colour in COLOURS.items()}
    change(cutouts)
    with pytest.raises(ReconstructionError) as raised:
        reconstruct(cutouts, FAST)
    assert raised.value.code == code
    assert words in str(raised.value)
    assert raised.value.user_message[0].isupper()


def test_silhouettes_that_do_not_overlap_are_reported() -> None:
    # Blobs top-left and bottom-right in both the front and the back photo: the back camera sees the
    # object mirrored, so front and back demand opposite halves and nothing lies inside all outlines.
    diagonal = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    draw = ImageDraw.Draw(diagonal)
    draw.rectangle([40, 20, 99, 110], fill=(255, 0, 0, 255))
    draw.rectangle([140, 130, 199, 219], fill=(255, 0, 0, 255))
    cutouts = box_cutouts()
    cutouts["front"] = diagonal
    cutouts["back"] = diagonal.copy()
    with pytest.raises(ReconstructionError) as raised:
        reconstruct(cutouts, ReconstructionSettings(voxel_resolution=32, target_faces=0, texture_size=0))
    assert raised.value.code == "empty_volume"
    assert "do not agree" in str(raised.value)


def test_known_cameras_carve_every_view_with_its_own_camera() -> None:
    """The benchmark's ideal path: cameras given, not estimated; each view keeps its own camera."""
    half = (0.3, 0.5, 0.15)
    cutouts = perspective_box_cutouts(2.0, half)
    distances = {"front": 2.0, "left": 2.0, "right": 2.0, "back": 2.0}
    cameras = {
        view: KnownCamera(yaw=0.0, elevation=0.0, distance=d, focal=400.0, centre_u=299.5, centre_v=299.5)
        for view, d in distances.items()
    }
    views = load_views(cutouts, cameras=cameras)
    assert sorted(views) == sorted(COLOURS)
    assert all(views[view].name == view for view in views)
    volume = carve(views, resolution=80)
    hull_volume = (volume.field >= 0.5).sum() * volume.spacing**3
    box_volume = 8 * half[0] * half[1] * half[2]
    assert box_volume < hull_volume < 1.35 * box_volume


def seam_steps(mesh: trimesh.Trimesh) -> np.ndarray:
    """At every vertex the texture splits (two photos meet), the largest colour difference between the
    atlas texels its copies take."""
    atlas = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB"), dtype=np.float64)
    height, width = atlas.shape[:2]
    uv = np.asarray(mesh.visual.uv)
    texels = atlas[
        np.clip(((1.0 - uv[:, 1]) * height).astype(int), 0, height - 1),
        np.clip((uv[:, 0] * width).astype(int), 0, width - 1),
    ]
    _, point = np.unique(np.round(mesh.vertices, 6), axis=0, return_inverse=True)
    point = point.reshape(-1)
    steps = []
    for copies in np.split(np.argsort(point, kind="stable"), np.flatnonzero(np.diff(np.sort(point))) + 1):
        if len(copies) > 1:
            steps.append(np.ptp(texels[copies], axis=0).max())
    return np.array(steps)


def test_a_photo_taken_in_other_light_meets_its_neighbours_at_the_seams() -> None:
    """The left photo is a little darker (another exposure, a cloud): along its seams both sides meet,
    while far from them each side keeps its own photo's colour."""
    colours = dict.fromkeys(COLOURS, (150, 120, 90))
    colours["left"] = (134, 104, 74)
    mesh = reconstruct({view: disc(colour) for view, colour in colours.items()}, FAST)
    steps = seam_steps(mesh)
    assert len(steps) > 20
    assert np.median(steps) <= 4  # the photos differ by 16
    left = colour_at_extreme(mesh, meshio.VIEW_DIRECTIONS["left"])
    assert np.abs(left - np.array(colours["left"])).max() <= 4


def test_seam_levelling_meets_at_the_mean_fades_inwards_and_leaves_disagreeing_photos_alone() -> None:
    # two photos' triangles meeting along vertices 0 and 1: (vertex, photo) pairs 0-1 and 2-3 on the seam,
    # 4 inside the first photo's part, 5 inside the second's
    vertex_of = np.array([0, 0, 1, 1, 2, 3])
    faces = np.array([[0, 2, 4], [1, 3, 5]])
    light = np.array([[100.0] * 3, [116.0] * 3, [100.0] * 3, [116.0] * 3, [100.0] * 3, [116.0] * 3])
    corrections = texturing.seam_corrections(vertex_of, faces, light)
    assert corrections[[0, 2], 0] == pytest.approx([8.0, 8.0])
    assert corrections[[1, 3], 0] == pytest.approx([-8.0, -8.0])
    assert 0.0 < corrections[4, 0] < 8.0 and -8.0 < corrections[5, 0] < 0.0

    other_things = light.copy()
    other_things[[1, 3, 5]] = 160.0  # a black patch in one photo where the other shows white
    assert not texturing.seam_corrections(vertex_of, faces, other_things).any()

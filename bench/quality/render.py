"""Photos of a mesh from the four sides with pyrender (OpenGL through headless EGL + Mesa llvmpipe).

The camera is a perspective pinhole looking at the object's middle from the side each view is named after
(``photo3d_generation.meshio.VIEW_DIRECTIONS``), far enough for the object to fill about 80 % of the frame
height, like a phone photo; each photo's :class:`Shot` turns, raises and moves it. Images are rendered at
2x and downsampled, so the alpha (the true mask) is anti-aliased.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyrender
import trimesh
from PIL import Image, ImageDraw, ImageFilter

from photo3d_common.events import VIEWS
from photo3d_generation.meshio import VIEW_DIRECTIONS


@dataclass(frozen=True)
class Shot:
    """How one photo was taken: turned by ``yaw`` (degrees, about +Y) from its side, raised by ``elevation``
    (degrees, looking down at the object's middle), ``distance_factor`` times the rig's framing distance,
    on a backdrop (``plain`` or ``busy``)."""

    yaw: float = 0.0
    elevation: float = 0.0
    distance_factor: float = 1.0
    backdrop: str = "plain"

    def camera_axes(self, view: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right, up, towards the camera) unit vectors in model space."""
        yaw, elevation = np.radians(self.yaw), np.radians(self.elevation)
        turn = trimesh.transformations.rotation_matrix(yaw, [0.0, 1.0, 0.0])[:3, :3]
        level = turn @ VIEW_DIRECTIONS[view]
        back = np.cos(elevation) * level + np.sin(elevation) * np.array([0.0, 1.0, 0.0])
        right = np.cross([0.0, 1.0, 0.0], level)
        right /= np.linalg.norm(right)
        return right, np.cross(back, right), back


@dataclass(frozen=True)
class CameraRig:
    yfov_degrees: float = 45.0
    fill: float = 0.8  # share of the frame height the object takes
    size: int = 512

    def distance(self, scene_bounds: np.ndarray) -> float:
        """Distance from the object's centre axis so the object spans ``fill`` of the frame height."""
        half_height = (scene_bounds[1][1] - scene_bounds[0][1]) / 2
        half_depth = float(np.abs(scene_bounds[:, [0, 2]]).max())
        return half_height / (np.tan(np.radians(self.yfov_degrees) / 2) * self.fill) + half_depth

    def shot_pose(self, view: str, shot: Shot, distance: float, centre_y: float) -> np.ndarray:
        """OpenGL camera pose of a photo taken as ``shot`` (looking at (0, centre_y, 0))."""
        right, up, back = shot.camera_axes(view)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2] = right, up, back
        pose[:3, 3] = np.array([0.0, centre_y, 0.0]) + back * distance * shot.distance_factor
        return pose


class Renderer:
    """One EGL context for the whole run; ``size`` is the side of a square photo or (width, height)."""

    def __init__(self, size: int | tuple[int, int] = 512) -> None:
        self.width, self.height = (size, size) if isinstance(size, int) else size
        self.size = self.height
        self._renderer = pyrender.OffscreenRenderer(self.width * 2, self.height * 2)

    def close(self) -> None:
        self._renderer.delete()

    def _render(self, scene: pyrender.Scene, flags: int) -> np.ndarray:
        colour, _ = self._renderer.render(scene, flags=flags | pyrender.RenderFlags.RGBA)
        image = Image.fromarray(colour, "RGBA").resize((self.width, self.height), Image.Resampling.BOX)
        return np.asarray(image)

    def focal_pixels(self, rig: CameraRig) -> float:
        return (self.height / 2) / np.tan(np.radians(rig.yfov_degrees) / 2)

    def shots(
        self,
        mesh_scene: trimesh.Scene,
        rig: CameraRig,
        shots: dict[str, Shot],
        *,
        unlit: bool = False,
        distance: float | None = None,
    ) -> tuple[dict[str, np.ndarray], float]:
        """RGBA renders of the four views, each taken as its ``Shot``, + the rig's framing distance."""
        if distance is None:
            distance = rig.distance(mesh_scene.bounds)
        scene, camera_node, lights = self._scene(mesh_scene, rig, unlit)
        images: dict[str, np.ndarray] = {}
        for view in VIEWS:
            pose = rig.shot_pose(view, shots[view], distance, 0.5)
            scene.set_pose(camera_node, pose)
            if lights:
                key_pose = pose.copy()
                key_pose[:3, 3] += np.array([0.0, 0.6, 0.0])
                scene.set_pose(lights[0], key_pose)
                top_pose = pose.copy()
                top_pose[:3, :3] = (
                    trimesh.transformations.rotation_matrix(-np.pi / 2.5, [1, 0, 0])[:3, :3] @ pose[:3, :3]
                )
                scene.set_pose(lights[1], top_pose)
            images[view] = self._render(
                scene, pyrender.RenderFlags.FLAT if unlit else pyrender.RenderFlags.NONE
            )
        return images, distance

    def _scene(self, mesh_scene: trimesh.Scene, rig: CameraRig, unlit: bool):
        if unlit:
            scene = pyrender.Scene(bg_color=[0, 0, 0, 0], ambient_light=[1.0, 1.0, 1.0])
            for geometry in mesh_scene.dump():
                scene.add(pyrender.Mesh.from_trimesh(geometry, smooth=True))
        else:
            scene = pyrender.Scene.from_trimesh_scene(
                mesh_scene, bg_color=[0, 0, 0, 0], ambient_light=[0.35] * 3
            )
        camera = pyrender.PerspectiveCamera(
            yfov=np.radians(rig.yfov_degrees), aspectRatio=self.width / self.height
        )
        camera_node = scene.add(camera)
        lights = []
        if not unlit:
            lights = [
                scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=2.5)),
                scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=1.5)),
            ]
        return scene, camera_node, lights


def plain_background(size: int | tuple[int, int]) -> np.ndarray:
    """A studio sweep: light grey, a little darker towards the floor."""
    width, height = (size, size) if isinstance(size, int) else size
    ramp = np.linspace(1.0, 0.88, height)[:, None, None]
    return np.clip(np.array([236.0, 234.0, 230.0]) * ramp * np.ones((height, width, 1)), 0, 255).astype(
        np.uint8
    )


def photo_background(size: tuple[int, int], photos: list[Path], seed: int) -> np.ndarray:
    """A cluttered backdrop from real photos: ``photos`` scaled to a quarter to two fifths of the frame's height and
    tiled (alternately mirrored) from a random offset, so several real objects and textures stand behind
    and beside the subject, as on a shelf or in a room; background removal may keep a piece of one."""
    rng = np.random.default_rng(seed)
    width, height = size
    canvas = Image.new("RGB", (width, height))
    tile_height = max(16, round(height * rng.uniform(0.25, 0.4)))
    y = -int(rng.integers(0, tile_height))
    row = 0
    while y < height:
        x = -int(rng.integers(0, tile_height))
        column = 0
        while x < width:
            with Image.open(photos[int(rng.integers(len(photos)))]) as opened:
                image = opened.convert("RGB")
            tile = image.resize(
                (max(1, round(image.width * tile_height / image.height)), tile_height),
                Image.Resampling.BICUBIC,
            )
            if (row + column) % 2:
                tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            canvas.paste(tile, (x, y))
            x += tile.width
            column += 1
        y += tile_height
        row += 1
    return np.asarray(canvas)


def busy_background(size: int | tuple[int, int], seed: int) -> np.ndarray:
    """A cluttered, colourful backdrop (shapes, stripes, gradients): hard for background removal."""
    if not isinstance(size, int):
        square = busy_background(max(size), seed)
        return square[: size[1], : size[0]]
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size)
    base = np.stack(
        [
            120 + 80 * ramp[None, :].repeat(size, 0),
            100 + 60 * ramp[:, None].repeat(size, 1),
            140 - 60 * ramp[None, :].repeat(size, 0),
        ],
        axis=-1,
    ).astype(np.uint8)
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x0, y0 = rng.integers(-size // 4, size, 2)
        w, h = rng.integers(size // 20, size // 3, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            draw.line([x0, y0, x0 + w, y0 + h], fill=colour, width=int(rng.integers(2, 12)))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(0.8)))


def composite(render: np.ndarray, background: np.ndarray) -> Image.Image:
    """The render over a background: an RGB photo with no alpha, as a user would upload."""
    alpha = render[..., 3:4].astype(np.float32) / 255.0
    rgb = render[..., :3].astype(np.float32) * alpha + background.astype(np.float32) * (1 - alpha)
    return Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), "RGB")

"""Photos of a mesh from the four sides with pyrender (OpenGL through headless EGL + Mesa llvmpipe).

The camera is a perspective pinhole at the object's mid-height, looking level at its centre from the side
each view is named after (``photo3d_generation.meshio.VIEW_DIRECTIONS``), far enough for the object to fill
about 80 % of the frame height, like a phone photo. Images are rendered at 2x and downsampled, so the alpha
(the true mask) is anti-aliased.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from dataclasses import dataclass

import numpy as np
import pyrender
import trimesh
from PIL import Image, ImageDraw, ImageFilter

from photo3d_common.events import VIEWS
from photo3d_generation.meshio import VIEW_DIRECTIONS


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

    def pose(self, view: str, distance: float, centre_y: float) -> np.ndarray:
        direction = VIEW_DIRECTIONS[view]
        position = np.array([0.0, centre_y, 0.0]) + direction * distance
        # OpenGL camera: looks down its -Z, so its +Z axis is the direction towards the camera.
        z = direction
        x = np.cross([0.0, 1.0, 0.0], z)
        y = np.cross(z, x)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, position
        return pose


class Renderer:
    """One EGL context for the whole run."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._renderer = pyrender.OffscreenRenderer(size * 2, size * 2)

    def close(self) -> None:
        self._renderer.delete()

    def _render(self, scene: pyrender.Scene, flags: int) -> np.ndarray:
        colour, _ = self._renderer.render(scene, flags=flags | pyrender.RenderFlags.RGBA)
        image = Image.fromarray(colour, "RGBA").resize((self.size, self.size), Image.Resampling.BOX)
        return np.asarray(image)

    def photos(
        self,
        mesh_scene: trimesh.Scene,
        rig: CameraRig,
        *,
        unlit: bool = False,
        distance: float | None = None,
        centre_y: float = 0.5,
    ) -> tuple[dict[str, np.ndarray], float]:
        """RGBA renders (straight alpha, background transparent) of the four views + camera distance.

        The camera looks level at (0, ``centre_y``, 0) -- mid-height of a 1-unit-tall model -- from
        ``distance`` (default: the rig's framing of this scene).
        """
        if distance is None:
            distance = rig.distance(mesh_scene.bounds)
        if unlit:
            scene = pyrender.Scene(bg_color=[0, 0, 0, 0], ambient_light=[1.0, 1.0, 1.0])
            for geometry in mesh_scene.dump():
                scene.add(pyrender.Mesh.from_trimesh(geometry, smooth=True))
        else:
            scene = pyrender.Scene.from_trimesh_scene(
                mesh_scene, bg_color=[0, 0, 0, 0], ambient_light=[0.35] * 3
            )
        camera = pyrender.PerspectiveCamera(yfov=np.radians(rig.yfov_degrees), aspectRatio=1.0)
        camera_node = scene.add(camera)
        light_nodes = []
        if not unlit:
            key = pyrender.DirectionalLight(color=np.ones(3), intensity=2.5)
            top = pyrender.DirectionalLight(color=np.ones(3), intensity=1.5)
            light_nodes = [scene.add(key), scene.add(top)]
        flags = pyrender.RenderFlags.FLAT if unlit else pyrender.RenderFlags.NONE
        images: dict[str, np.ndarray] = {}
        for view in VIEWS:
            pose = rig.pose(view, distance, centre_y)
            scene.set_pose(camera_node, pose)
            if light_nodes:
                scene.set_pose(light_nodes[0], rig.pose(view, distance, centre_y + 0.6))
                top_pose = rig.pose(view, distance, centre_y)
                top_pose[:3, :3] = (
                    trimesh.transformations.rotation_matrix(-np.pi / 2.5, [1, 0, 0])[:3, :3]
                    @ top_pose[:3, :3]
                )
                scene.set_pose(light_nodes[1], top_pose)
            images[view] = self._render(scene, flags)
        return images, distance


def plain_background(size: int) -> np.ndarray:
    return np.full((size, size, 3), (232, 230, 226), dtype=np.uint8)


def busy_background(size: int, seed: int) -> np.ndarray:
    """A cluttered, colourful backdrop (shapes, stripes, gradients): hard for background removal."""
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

"""``photo3d reconstruct``: four photos -> a 3D model file, offline, with the built-in reconstructor.

    photo3d reconstruct --front F --left L --right R --back B --out model.glb [--obj] [--stl] [--usdz] [--preview]

Photos may be cut-outs (PNG/WebP with a transparent background) or ordinary photos; the latter go through
background removal first (``photo3d_bgremoval``, rembg's u2netp model, loaded only when needed). The
command lives here, in the package that declares both services, because it uses both: the generation
service (and its image) does not depend on background removal.
The ``left`` photo shows the object's own left side (see ``photo3d_generation.meshio``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from photo3d_common.errors import Photo3DError
from photo3d_common.events import VIEWS, View


class CliError(Exception):
    """A problem with the command's input, reported as one line without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photo3d reconstruct",
        description="Build a coloured 3D model from four photos of an object (front, left, right, back) "
        "with the offline silhouette-carving reconstructor.",
    )
    for view in VIEWS:
        parser.add_argument(f"--{view}", required=True, type=Path, metavar="PHOTO", help=f"the {view} photo")
    parser.add_argument("--out", required=True, type=Path, help="output GLB path (e.g. model.glb)")
    parser.add_argument("--obj", action="store_true", help="also write an OBJ (vertex colours) next to it")
    parser.add_argument("--stl", action="store_true", help="also write an STL next to it")
    parser.add_argument(
        "--usdz", action="store_true", help="also write a USDZ (iOS AR Quick Look, texture inside) next to it"
    )
    parser.add_argument("--preview", action="store_true", help="also write a PNG preview next to it")
    parser.add_argument("--resolution", type=int, default=128, help="voxels along the longest side (128)")
    parser.add_argument("--faces", type=int, default=20_000, help="target triangle count (20000; 0 = all)")
    parser.add_argument("--smoothing", type=int, default=8, help="Taubin smoothing iterations (8)")
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument(
        "--camera-distance",
        type=float,
        default=2.5,
        help="photos taken from this many object heights away, level with its middle (2.5)",
    )
    camera.add_argument(
        "--orthographic", action="store_true", help="treat the photos as orthographic (taken from far away)"
    )
    parser.add_argument("--height", type=float, default=1.0, help="model height in metres (1.0)")
    parser.add_argument(
        "--texture-size",
        type=int,
        default=2048,
        help="texture atlas side in pixels (2048; 0 = vertex colours)",
    )
    parser.add_argument("--save-cutouts", type=Path, default=None, help="directory to write the cut-outs to")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return parser


def _open_photo(path: Path, view: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return ImageOps.exif_transpose(image)
    except FileNotFoundError as exc:
        raise CliError(f"the {view} photo {path} does not exist") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise CliError(f"the {view} photo {path} is not an image Pillow can read: {exc}") from exc


def _has_transparency(image: Image.Image) -> bool:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if "A" not in image.getbands():
        return False
    low, _ = image.getchannel("A").getextrema()  # one band: (min, max) as numbers
    return isinstance(low, int | float) and low < 255


_remover = None  # one model session for the four photos


def _remove_background(image: Image.Image, view: str) -> Image.Image:
    """Cut the object out with the background-removal service's remover (rembg u2netp, loaded lazily)."""
    # Heavy (onnxruntime, numba): imported only when a photo still has its background.
    from photo3d_bgremoval.remover import BackgroundRemover

    global _remover
    if _remover is None:
        _remover = BackgroundRemover()  # BGREMOVAL_* settings: model name and directory
    try:
        return asyncio.run(_remover.remove(image, view=view)).cutout.image
    except Photo3DError as exc:
        raise CliError(exc.message) from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["reconstruct"]:
        args = args[1:]
    options = _parser().parse_args(args)

    from photo3d_generation import meshio
    from photo3d_generation.local import ReconstructionError, ReconstructionSettings, reconstruct

    def say(message: str) -> None:
        if not options.quiet:
            print(message, file=sys.stderr)

    try:
        settings = ReconstructionSettings(
            voxel_resolution=options.resolution,
            smoothing_iterations=options.smoothing,
            target_faces=options.faces,
            camera_distance=None if options.orthographic else options.camera_distance,
            height=options.height,
            texture_size=options.texture_size,
        )
    except ValueError as exc:
        print(f"photo3d reconstruct: {exc}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    try:
        cutouts: dict[View, Image.Image] = {}
        for view in VIEWS:
            photo = _open_photo(getattr(options, view), view)
            if _has_transparency(photo):
                cutouts[view] = photo.convert("RGBA")
            else:
                say(f"removing the background of the {view} photo")
                cutouts[view] = _remove_background(photo.convert("RGB"), view).convert("RGBA")
            if options.save_cutouts is not None:
                options.save_cutouts.mkdir(parents=True, exist_ok=True)
                cutouts[view].save(options.save_cutouts / f"{view}.png")

        mesh = reconstruct(
            cutouts, settings, progress=lambda fraction, detail: say(f"{fraction:4.0%} {detail}")
        )
    except CliError as exc:
        print(f"photo3d reconstruct: {exc}", file=sys.stderr)
        return 2
    except ReconstructionError as exc:
        print(f"photo3d reconstruct: {exc.user_message}", file=sys.stderr)
        return 1

    out: Path = options.out
    if out.suffix.lower() != ".glb":
        out = out.with_suffix(".glb")
    out.parent.mkdir(parents=True, exist_ok=True)
    written = [out]
    out.write_bytes(meshio.to_glb_bytes(mesh))
    if options.obj:
        for name, payload in meshio.to_obj_files(mesh, stem=out.stem).items():
            (out.parent / name).write_bytes(payload)
            written.append(out.parent / name)
    if options.stl:
        out.with_suffix(".stl").write_bytes(meshio.to_stl_bytes(mesh))
        written.append(out.with_suffix(".stl"))
    if options.usdz:
        out.with_suffix(".usdz").write_bytes(meshio.to_usdz_bytes(mesh))
        written.append(out.with_suffix(".usdz"))
    if options.preview:
        preview = out.with_name(out.stem + "-preview.png")
        preview.write_bytes(meshio.render_preview(mesh))
        written.append(preview)
    say(
        f"{len(mesh.vertices)} vertices, {len(mesh.faces)} triangles in "
        f"{time.perf_counter() - started:.1f} s -> {', '.join(str(p) for p in written)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

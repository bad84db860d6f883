"""Quality benchmark of the local reconstructor on the shared meshes.

    uv run python bench/quality/run.py [--meshes spot barrel ...] [--resolution 128] [--images]

For each mesh in ``../shared/data/meshes`` (skipped with a message when that folder is absent): render four
photos (front, left, right, back; perspective camera, object ~80 % of the frame) on a plain and on a busy
background, remove the backgrounds with the product's remover (rembg u2netp, ``photo3d_bgremoval``),
reconstruct, and score against the true shape (both 1 unit tall, same convention): F-score at 2 % and 5 %
of the height, Chamfer distance, volumetric IoU; then render the reconstruction from the same cameras and
compare its colours with the photos. The ideal, carving from the TRUE masks with the same code, is scored
too (orthographic and with the true camera distance), so the cost of background removal and of the
camera assumption shows. Writes ``bench/results/quality.md`` and ``bench/results/quality.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np
from catalogue import CATALOGUE, SHARED_MESHES, load_scene, truth_mesh
from metrics import colour_error, mask_iou, shape_scores
from PIL import Image

from photo3d_common.errors import Photo3DError
from photo3d_common.events import VIEWS
from photo3d_generation.local import ReconstructionError, ReconstructionSettings, reconstruct

RESULTS = HERE.parent / "results"


@dataclass
class Row:
    mesh: str
    input: str  # true masks | rembg plain | rembg busy
    camera: str  # orthographic | perspective d=...
    fscore_2: float | None = None
    fscore_5: float | None = None
    chamfer: float | None = None
    iou: float | None = None
    colour_mae: float | None = None
    mask_iou: float | None = None
    faces: int | None = None
    seconds: float | None = None  # reconstruction only
    error: str | None = None


def _remover():
    """The product's background remover, or None (with the reason) when it cannot run here."""
    try:
        from photo3d_bgremoval.remover import BackgroundRemover

        remover = BackgroundRemover()
        remover.load()
        return remover, None
    except (ImportError, Photo3DError, OSError) as exc:  # package, model file or runtime missing: report it
        return None, f"{type(exc).__name__}: {exc}"


def _cut_out(remover, photo: Image.Image, view: str) -> tuple[Image.Image, np.ndarray]:
    """Production cut-out (cropped, centred with a margin) and the full-frame alpha for mask IoU."""
    import asyncio

    result = asyncio.run(remover.remove(photo, view=view))
    return result.cutout.image, np.asarray(result.mask)


def _score(row: Row, cutouts, settings, truth, renderer, rig, distance, photos, sheet) -> None:
    from render import composite

    started = time.perf_counter()
    try:
        mesh = reconstruct(cutouts, settings)
    except ReconstructionError as exc:
        row.error = f"{exc.code}: {exc}"
        return
    row.seconds = time.perf_counter() - started
    row.faces = len(mesh.faces)
    scores = shape_scores(mesh, truth)
    row.fscore_2, row.fscore_5, row.chamfer, row.iou = (
        scores.fscore_2,
        scores.fscore_5,
        scores.chamfer,
        scores.iou,
    )
    import trimesh

    renders, _ = renderer.photos(trimesh.Scene(mesh), rig, unlit=True, distance=distance)
    row.colour_mae = colour_error(photos, renders)
    if sheet is not None:
        grey = np.full((rig.size, rig.size, 3), 255, dtype=np.uint8)
        sheet.append(np.concatenate([np.asarray(composite(renders[v], grey)) for v in VIEWS], axis=1))


def run(names: list[str], resolution: int, images: bool, size: int) -> list[Row]:
    from render import CameraRig, Renderer, busy_background, composite, plain_background

    renderer = Renderer(size)
    rig = CameraRig(size=size)
    remover, remover_problem = _remover()
    if remover_problem:
        print(f"background removal unavailable, rembg rows skipped: {remover_problem}", file=sys.stderr)
    rows: list[Row] = []
    for index, entry in enumerate(m for m in CATALOGUE if m.name in names):
        if not entry.path().exists():
            print(f"{entry.name}: {entry.path()} missing, skipped", file=sys.stderr)
            continue
        print(f"{entry.name}: rendering", file=sys.stderr)
        scene = load_scene(entry)
        truth = truth_mesh(scene)
        photos, distance = renderer.photos(scene, rig)
        sheet: list[np.ndarray] | None = [] if images else None
        default = ReconstructionSettings(voxel_resolution=resolution)
        default_camera = (
            "orthographic (default)"
            if default.camera_distance is None
            else f"perspective d={default.camera_distance:g} (default)"
        )

        true_cutouts = {v: Image.fromarray(photos[v], "RGBA") for v in VIEWS}
        if sheet is not None:
            sheet.append(
                np.concatenate(
                    [np.asarray(composite(photos[v], plain_background(size))) for v in VIEWS], axis=1
                )
            )
        for camera, settings in (
            (default_camera, default),
            ("orthographic", replace(default, camera_distance=None)),
            (f"perspective d={distance:.2f} (true)", replace(default, camera_distance=distance)),
        ):
            row = Row(entry.name, "true masks", camera, mask_iou=1.0)
            _score(row, true_cutouts, settings, truth, renderer, rig, distance, photos, sheet)
            rows.append(row)
            print(f"  {row}", file=sys.stderr)

        if remover is not None:
            for background_name, background in (
                ("plain", plain_background(size)),
                ("busy", busy_background(size, seed=index)),
            ):
                cutouts, ious, shown = {}, [], []
                for view in VIEWS:
                    photo = composite(photos[view], background)
                    shown.append(np.asarray(photo))
                    try:
                        cutouts[view], alpha = _cut_out(remover, photo, view)
                    except Photo3DError as exc:  # the remover's user-facing errors (no subject found)
                        cutouts = None
                        error = f"background removal: {getattr(exc, 'message', exc)}"
                        break
                    ious.append(mask_iou(alpha, photos[view][..., 3]))
                if sheet is not None and background_name == "busy":
                    sheet.append(np.concatenate(shown, axis=1))
                row = Row(entry.name, f"rembg {background_name}", default_camera)
                if cutouts is None:
                    row.error = error
                else:
                    row.mask_iou = float(np.mean(ious))
                    _score(row, cutouts, default, truth, renderer, rig, distance, photos, sheet)
                rows.append(row)
                print(f"  {row}", file=sys.stderr)
        if sheet is not None:
            out = RESULTS / "quality" / f"{entry.name}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.concatenate(sheet, axis=0)).save(out)
    renderer.close()
    return rows


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def write_report(rows: list[Row], resolution: int, elapsed: float) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Local reconstructor quality",
        "",
        (
            f"Voxel resolution {resolution}; photos 512 px, perspective camera (45° vertical field of view, "
            "object "
            "~80 % of the frame height); shapes normalised to height 1. F@2%/F@5%: F-score at 2 %/5 % of the "
            "height (higher is better); Chamfer: mean surface distance in heights (lower is better); IoU: "
            "volumetric; colour MAE: mean |RGB| error (0-255) of the reconstruction rendered unlit vs the photo; "
            "mask IoU: background removal vs the true silhouette. Seconds: reconstruction only, "
            f"{platform.processor() or platform.machine()}, total run {elapsed:.0f} s."
        ),
        "",
        "| mesh | input | camera model | F@2% | F@5% | Chamfer | IoU | colour MAE | mask IoU | faces | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.error:
            lines.append(f"| {r.mesh} | {r.input} | {r.camera} | failed: {r.error} ||||||||")
            continue
        lines.append(
            f"| {r.mesh} | {r.input} | {r.camera} | {_fmt(r.fscore_2)} | {_fmt(r.fscore_5)} | {_fmt(r.chamfer, 4)} "
            f"| {_fmt(r.iou)} | {_fmt(r.colour_mae, 1)} | {_fmt(r.mask_iou)} | {r.faces} | {_fmt(r.seconds, 1)} |"
        )
    (RESULTS / "quality.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "quality.json").write_text(
        json.dumps(
            {"resolution": resolution, "elapsed_seconds": elapsed, "rows": [asdict(r) for r in rows]},
            indent=2,
        )
    )
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--meshes", nargs="*", default=[m.name for m in CATALOGUE], help="names under shared/data/meshes"
    )
    parser.add_argument("--resolution", type=int, default=ReconstructionSettings().voxel_resolution)
    parser.add_argument("--size", type=int, default=512, help="photo size in pixels")
    parser.add_argument("--images", action="store_true", help="save contact sheets to bench/results/quality/")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: two meshes, 256 px photos, 64 voxels"
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.meshes, options.size, options.resolution = ["spot", "water_bottle"], 256, 64
    if not SHARED_MESHES.is_dir():
        print(
            f"no benchmark meshes at {SHARED_MESHES} (the shared/ folder beside the checkout): nothing to do"
        )
        return 0
    unknown = sorted(set(options.meshes) - {m.name for m in CATALOGUE})
    if unknown:
        parser.error(f"unknown meshes: {', '.join(unknown)}")
    started = time.perf_counter()
    rows = run(options.meshes, options.resolution, options.images, options.size)
    write_report(rows, options.resolution, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

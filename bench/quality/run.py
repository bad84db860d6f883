"""Quality benchmark of the local reconstructor on the shared meshes, under photo conditions.

    uv run python bench/quality/run.py [--meshes spot barrel ...] [--seeds 3] [--size 1024x768] [--images]

For each mesh in ``../shared/data/meshes`` (skipped with a message when that folder is absent) and each
seed: four photos (front, left, right, back) from a perspective camera, each view turned by up to ±6°
(azimuth), raised by 0-12° (looking down at the object), at ±10 % of the framing distance, two of the four
(at random) on a busy backdrop (a real photo from ``../shared/data/matting`` -- clutter and a salient
object of its own -- or random shapes), the others on a studio sweep; each with the EXIF focal length a
phone writes (``--no-exif``: without). Then:

* **system**: the product's path -- background removal (rembg u2netp, ``photo3d_bgremoval``), the
  cross-view check of the cut-outs, cropping, and the local reconstructor with its default settings;
* **ideal**: the same reconstructor carving the TRUE masks with the TRUE cameras: what four views allow.

Scores (both shapes 1 unit tall, same convention, no alignment step): mask IoU per view (the cut-out vs
the true silhouette, full frame), F-score at 2 % and 5 % of the height, Chamfer distance, volumetric IoU,
the model rendered back into each photo's camera (unlit, base colour only) as silhouette IoU against the
true mask and colour error (mean CIELAB ΔE76 over the pixels inside both, eroded 3 px), the colour step
across the texture's seams, and seconds of
reconstruction. Writes ``bench/results/quality.md`` and ``bench/results/quality.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np
from catalogue import CATALOGUE, SHARED_MESHES, load_scene, truth_mesh
from metrics import colour_delta_e, mask_iou, seam_step, shape_scores
from PIL import ExifTags, Image

from photo3d_common.errors import Photo3DError
from photo3d_common.events import VIEWS
from photo3d_generation.local import KnownCamera, ReconstructionError, ReconstructionSettings, reconstruct

RESULTS = HERE.parent / "results"
MATTING = SHARED_MESHES.parent / "matting"

#: The photo conditions (issue 8): per view azimuth jitter, elevation range, distance jitter.
YAW_JITTER = 6.0
ELEVATION_RANGE = (0.0, 12.0)
DISTANCE_JITTER = 0.10
BUSY_VIEWS = 2


@dataclass
class Result:
    """One reconstruction of one photo set."""

    fscore_2: float | None = None
    fscore_5: float | None = None
    chamfer: float | None = None
    iou: float | None = None
    render_iou: float | None = None
    delta_e: float | None = None
    seam_step: float | None = None
    mask_ious: dict[str, float] = field(default_factory=dict)
    seconds: float | None = None
    error: str | None = None

    @property
    def mask_iou(self) -> float | None:
        return float(np.mean(list(self.mask_ious.values()))) if self.mask_ious else None


@dataclass
class Row:
    mesh: str
    seed: int
    shots: dict[str, dict]
    system: Result
    ideal: Result
    warnings: dict[str, list[str]] = field(default_factory=dict)


def _remover():
    """The product's background remover, or None (with the reason) when it cannot run here."""
    try:
        from photo3d_bgremoval.remover import BackgroundRemover

        remover = BackgroundRemover()
        remover.load()
        return remover, None
    except (ImportError, Photo3DError, OSError) as exc:  # package, model file or runtime missing: report it
        return None, f"{type(exc).__name__}: {exc}"


def sample_shots(seed: int, *, level: bool = False):
    from render import Shot

    rng = np.random.default_rng(seed)
    busy = set(rng.choice(VIEWS, size=BUSY_VIEWS, replace=False))
    shots = {}
    for view in VIEWS:
        backdrop = "busy" if view in busy else "plain"
        if level:
            shots[view] = Shot(backdrop=backdrop)
            continue
        shots[view] = Shot(
            yaw=float(rng.uniform(-YAW_JITTER, YAW_JITTER)),
            elevation=float(rng.uniform(*ELEVATION_RANGE)),
            distance_factor=float(1.0 + rng.uniform(-DISTANCE_JITTER, DISTANCE_JITTER)),
            backdrop=backdrop,
        )
    return shots


def _backdrop(shot, size: tuple[int, int], seed: int) -> np.ndarray:
    from render import busy_background, photo_background, plain_background

    if shot.backdrop == "plain":
        return plain_background(size)
    photos = sorted(MATTING.glob("*/input.png"))
    if photos and seed % 3 != 2:  # two in three busy backdrops are real photos
        return photo_background(size, photos, seed)
    return busy_background(size, seed)


def phone_exif(renderer, rig) -> bytes:
    """The EXIF a phone writes with such a photo: its 35 mm equivalent focal length, in whole millimetres
    (the background remover reads it; the rounding costs up to 2 % of the focal length, as with a phone)."""
    from photo3d_bgremoval.cutout import FILM_DIAGONAL_MM

    focal_35mm = (
        renderer.focal_pixels(rig) / float(np.hypot(renderer.width, renderer.height)) * FILM_DIAGONAL_MM
    )
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.FocalLengthIn35mmFilm] = round(focal_35mm)
    return exif.tobytes()


def _true_cameras(shots, renderer, rig, distance: float) -> dict[str, KnownCamera]:
    focal = renderer.focal_pixels(rig)
    return {
        view: KnownCamera(
            yaw=float(np.radians(shot.yaw)),
            elevation=float(np.radians(shot.elevation)),
            distance=distance * shot.distance_factor,
            focal=focal,
            centre_u=renderer.width / 2 - 0.5,
            centre_v=renderer.height / 2 - 0.5,
        )
        for view, shot in shots.items()
    }


def _system_cutouts(remover, photos_rgb, result: Result, true_alpha, warnings):
    """The product's path: remove each background, refine the busy-backdrop masks with the plain views'
    colours, check the four against each other (a photo with no object found, or one the others
    contradict, stood in for by its opposite's outline), crop."""
    from photo3d_bgremoval.consistency import check_cutouts
    from photo3d_bgremoval.cutout import Cutout, NoSubjectFound, cap_size, make_cutout, with_exif_focal
    from photo3d_bgremoval.refine import refine_busy_views
    from photo3d_bgremoval.remover import CutoutResult
    from photo3d_bgremoval.stand_ins import check_set
    from photo3d_common.storage import STAND_IN_FOR_TEXT

    s = remover.settings
    results: dict = {}
    for view in VIEWS:
        try:
            results[view] = asyncio.run(remover.remove(photos_rgb[view], view=view))
        except NoSubjectFound as nothing:
            results[view] = nothing
    refined = refine_busy_views(results, s)  # as the service's handler does before the check
    full: dict = {}
    for view, removed in refined.results.items():
        if isinstance(removed, NoSubjectFound):
            full[view] = removed
            continue
        # the whole frame, as the check sees it, with the focal length the remover read from its EXIF
        image = with_exif_focal(cap_size(photos_rgb[view], s.max_side_px).convert("RGBA"), photos_rgb[view])
        image.putalpha(removed.mask)
        full[view] = CutoutResult(
            cutout=Cutout(image=image, quality=removed.quality, source_size=image.size),
            mask=removed.mask,
        )
    checked = check_set(
        full,
        s,
        check=functools.partial(check_cutouts, recrop=False),
        trusted=refined.plain,
        rebuilt=refined.rebuilt,
    )
    for view, found in checked.warnings.items():
        warnings[view] = [w.code for w in found]
    cutouts = {}
    for view in VIEWS:
        image = checked.checked.cutouts[view]
        result.mask_ious[view] = mask_iou(np.asarray(image.getchannel("A")), true_alpha[view])
        cutouts[view] = make_cutout(image, view=view, **s.cutout_options()).image
        if view in checked.stand_ins:
            cutouts[view].info[STAND_IN_FOR_TEXT] = checked.stand_ins[view]
    return cutouts


def _score(
    result: Result, cutouts, settings, truth, renderer, rig, shots, distance, photos, sheet, cameras=None
):
    import trimesh

    started = time.perf_counter()
    try:
        mesh = reconstruct(cutouts, settings, cameras=cameras)
    except ReconstructionError as exc:
        result.error = f"{exc.code}: {exc}"
        return
    result.seconds = time.perf_counter() - started
    scores = shape_scores(mesh, truth)
    result.fscore_2, result.fscore_5, result.chamfer, result.iou = (
        scores.fscore_2,
        scores.fscore_5,
        scores.chamfer,
        scores.iou,
    )
    renders, _ = renderer.shots(trimesh.Scene(mesh), rig, shots, unlit=True, distance=distance)
    result.render_iou = float(np.mean([mask_iou(renders[v][..., 3], photos[v][..., 3]) for v in VIEWS]))
    result.delta_e = colour_delta_e(photos, renders)
    result.seam_step = seam_step(mesh)
    if sheet is not None:
        from render import composite

        grey = np.full((renderer.height, renderer.width, 3), 255, dtype=np.uint8)
        sheet.append(np.concatenate([np.asarray(composite(renders[v], grey)) for v in VIEWS], axis=1))


def run(
    names: list[str],
    seeds: int,
    resolution: int,
    size: tuple[int, int],
    images: bool,
    level: bool,
    exif: bool = True,
) -> list[Row]:
    from render import CameraRig, Renderer, composite

    renderer = Renderer(size)
    rig = CameraRig(size=size[1])
    remover, remover_problem = _remover()
    if remover_problem:
        print(f"background removal unavailable, system rows skipped: {remover_problem}", file=sys.stderr)
    settings = ReconstructionSettings(voxel_resolution=resolution)
    rows: list[Row] = []
    for entry in (m for m in CATALOGUE if m.name in names):
        index = CATALOGUE.index(entry)  # a mesh's photo sets do not depend on which others run
        if not entry.path().exists():
            print(f"{entry.name}: {entry.path()} missing, skipped", file=sys.stderr)
            continue
        scene = load_scene(entry)
        truth = truth_mesh(scene)
        sheet: list[np.ndarray] | None = [] if images else None
        for seed in range(seeds):
            set_seed = 1000 * index + seed
            shots = sample_shots(set_seed, level=level)
            photos, distance = renderer.shots(scene, rig, shots)
            true_alpha = {v: photos[v][..., 3] for v in VIEWS}
            row = Row(entry.name, seed, {v: asdict(s) for v, s in shots.items()}, Result(), Result())
            # ideal: true masks, true cameras (the renders are the uncropped photos)
            true_cutouts = {v: Image.fromarray(photos[v], "RGBA") for v in VIEWS}
            row.ideal.mask_ious = dict.fromkeys(VIEWS, 1.0)
            cameras = _true_cameras(shots, renderer, rig, distance)
            _score(
                row.ideal,
                true_cutouts,
                settings,
                truth,
                renderer,
                rig,
                shots,
                distance,
                photos,
                None,
                cameras,
            )
            if remover is not None:
                shown = {
                    v: composite(photos[v], _backdrop(shots[v], size, set_seed * 7 + i))
                    for i, v in enumerate(VIEWS)
                }
                if exif:
                    written = phone_exif(renderer, rig)
                    for photo in shown.values():
                        photo.info["exif"] = written
                if sheet is not None:
                    sheet.append(np.concatenate([np.asarray(shown[v]) for v in VIEWS], axis=1))
                try:
                    cutouts = _system_cutouts(remover, shown, row.system, true_alpha, row.warnings)
                except Photo3DError as exc:  # the stage's user-facing failures
                    row.system.error = f"background removal: {exc.code}: {exc.message}"
                else:
                    _score(
                        row.system, cutouts, settings, truth, renderer, rig, shots, distance, photos, sheet
                    )
            rows.append(row)
            print(f"  {entry.name} seed {seed}: system {row.system} | ideal {row.ideal}", file=sys.stderr)
        if sheet:
            out = RESULTS / "quality" / f"{entry.name}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.concatenate(sheet, axis=0)).save(out)
    renderer.close()
    return rows


METRICS = (
    ("mask IoU", "mask_iou", 3),
    ("min view IoU", "min_mask_iou", 3),
    ("F@2%", "fscore_2", 3),
    ("F@5%", "fscore_5", 3),
    ("Chamfer", "chamfer", 4),
    ("vol IoU", "iou", 3),
    ("render IoU", "render_iou", 3),
    ("ΔE", "delta_e", 1),
    ("seam ΔE", "seam_step", 1),
    ("s", "seconds", 1),
)


def _value(result: Result, key: str) -> float | None:
    if key == "min_mask_iou":
        return min(result.mask_ious.values()) if result.mask_ious else None
    return getattr(result, key)


def _mean(results: list[Result], key: str) -> float | None:
    values = [_value(r, key) for r in results]
    values = [v for v in values if v is not None and not np.isnan(v)]
    if not values:
        return None
    return float(min(values)) if key == "min_mask_iou" else float(np.mean(values))


def summary(rows: list[Row]) -> list[dict]:
    """Per mesh (mean over seeds; failed runs count as F = 0, IoU = 0) and the mean over meshes."""
    table = []
    meshes = list(dict.fromkeys(r.mesh for r in rows))
    for mesh in [*meshes, "mean"]:
        chosen = [r for r in rows if mesh in ("mean", r.mesh)]
        entry: dict = {"mesh": mesh, "sets": len(chosen)}
        for side in ("system", "ideal"):
            results = [getattr(r, side) for r in chosen]
            failures = sum(1 for r in results if r.error)
            for _, key, _ in METRICS:
                entry[f"{side}.{key}"] = _mean(_scored(results, key), key)
            entry[f"{side}.failed"] = failures
        table.append(entry)
    return table


def _scored(results: list[Result], key: str) -> list[Result]:
    """A failed reconstruction scores zero on the shape and render metrics (it delivered nothing)."""
    if key in ("fscore_2", "fscore_5", "iou", "render_iou"):
        return [r if not r.error else Result(**{key: 0.0}) for r in results]
    return results


def _fmt(value, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def write_report(rows: list[Row], options, elapsed: float) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    table = summary(rows)
    header = " | ".join(name for name, _, _ in METRICS)
    lines = [
        "# Local reconstructor quality under photo conditions",
        "",
        (
            f"{len(rows)} photo sets ({options.seeds} seeds per mesh), {options.size[0]}x{options.size[1]} px, "
            f"45° vertical field of view, per view azimuth ±{YAW_JITTER:g}°, elevation "
            f"{ELEVATION_RANGE[0]:g}-{ELEVATION_RANGE[1]:g}°, distance ±{DISTANCE_JITTER:.0%}, {BUSY_VIEWS} of 4 "
            f"views on a busy backdrop{' (LEVEL shots: no jitter)' if options.level else ''}; "
            f"{'no EXIF' if options.no_exif else 'EXIF 35 mm equivalent focal length in each photo'}; voxel resolution "
            f"{options.resolution}. **system** = rembg u2netp + cross-view check + local reconstructor "
            "(default settings); **ideal** = the same carving from the true masks with the true cameras. "
            "mask IoU: cut-out vs true silhouette (mean; min view = the worst single view); F@2%/F@5%: "
            "F-score at 2 %/5 % of the height; Chamfer in heights; vol IoU on a 96-voxel grid; render IoU: "
            "the model rendered back into each photo's camera vs the true silhouette; ΔE: mean CIELAB ΔE76 "
            "inside both (eroded 3 px), unlit base colour vs the lit photo; seam ΔE: mean CIELAB ΔE76 "
            "between the texture's two sides of each seam (where two photos meet); s: reconstruction seconds "
            f"({platform.processor() or platform.machine()}, shared machine: wall-clock inflated by other "
            f"load), total run {elapsed:.0f} s. A failed set scores 0 on F, vol IoU and render IoU."
        ),
        "",
        f"| mesh | sets | side | {header} | failed |",
        "|---|---|---|" + "---|" * len(METRICS) + "---|",
    ]
    for entry in table:
        for side in ("system", "ideal"):
            cells = " | ".join(_fmt(entry[f"{side}.{key}"], digits) for _, key, digits in METRICS)
            name = f"**{entry['mesh']}**" if entry["mesh"] == "mean" else entry["mesh"]
            lines.append(f"| {name} | {entry['sets']} | {side} | {cells} | {entry[f'{side}.failed']} |")
    errors = [(r.mesh, r.seed, side, getattr(r, side).error) for r in rows for side in ("system", "ideal")]
    errors = [e for e in errors if e[3]]
    if errors:
        lines += ["", "Failures:", ""] + [f"- {m} seed {s} {side}: {e}" for m, s, side, e in errors]
    warned = [(r.mesh, r.seed, r.warnings) for r in rows if r.warnings]
    if warned:
        lines += ["", "Per-photo warnings of the cross-view check:", ""]
        lines += [f"- {m} seed {s}: {w}" for m, s, w in warned]
    (RESULTS / "quality.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "quality.json").write_text(
        json.dumps(
            {
                "options": dict(vars(options)),
                "elapsed_seconds": elapsed,
                "summary": table,
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
            default=str,
        )
    )
    print("\n".join(lines))


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height or width)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--meshes", nargs="*", default=[m.name for m in CATALOGUE], help="names under shared/data/meshes"
    )
    parser.add_argument("--seeds", type=int, default=3, help="photo sets per mesh")
    parser.add_argument("--resolution", type=int, default=ReconstructionSettings().voxel_resolution)
    parser.add_argument("--size", type=_size, default=(1024, 768), help="photo size WxH in pixels")
    parser.add_argument("--level", action="store_true", help="no turns, tilts or distance changes")
    parser.add_argument("--images", action="store_true", help="save contact sheets to bench/results/quality/")
    parser.add_argument(
        "--no-exif", action="store_true", help="photos without the focal length a phone writes in their EXIF"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: two meshes, one seed, 512x384 photos, 64 voxels"
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.meshes, options.seeds, options.size, options.resolution = (
            ["spot", "water_bottle"],
            1,
            (512, 384),
            64,
        )
    if not SHARED_MESHES.is_dir():
        print(
            f"no benchmark meshes at {SHARED_MESHES} (the shared/ folder beside the checkout): nothing to do"
        )
        return 0
    unknown = sorted(set(options.meshes) - {m.name for m in CATALOGUE})
    if unknown:
        parser.error(f"unknown meshes: {', '.join(unknown)}")
    started = time.perf_counter()
    rows = run(
        options.meshes,
        options.seeds,
        options.resolution,
        options.size,
        options.images,
        options.level,
        exif=not options.no_exif,
    )
    write_report(rows, options, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

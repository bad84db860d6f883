"""Background-removal benchmark: throughput, peak memory and mask quality.

    .venv/bin/python bench/bgremoval/run.py [--quick]

Speed and memory: each variant runs in its own subprocess (so peak RSS belongs to that variant alone) on
generated photos (tests/support/photos.py) whose longer side is 1024 or 2048 px:
- ``rembg``       plain in-process ``rembg.remove(image, session=...)`` returning a PIL image
- ``rembg_bytes`` ``rembg.remove(jpeg_bytes, session=...)`` returning PNG bytes (Pillow's default level 6)
- ``remover``     this service's path: ``await BackgroundRemover.remove(jpeg_bytes)`` = decode at the cap +
                  mask + quality check + crop/pad + PNG (level ``BGREMOVAL_PNG_COMPRESS_LEVEL``)
- ``remover_no_arena`` the same with ``BGREMOVAL_ONNX_MEMORY_ARENA=false`` (memory against speed)

Quality: IoU of alpha > 127 against the true mask on synthetic photos, and against the ground-truth alpha
of the real photos in ../shared/data/matting when that folder is there (evaluation only: those images
never ship and no test needs them).

Results: bench/results/bgremoval.json and bench/results/bgremoval.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
MATTING_DIR = REPO_ROOT.parent / "shared" / "data" / "matting"
MODEL_DIR = REPO_ROOT / "var" / "models" / "u2net"
NUMBA_CACHE_DIR = REPO_ROOT / "var" / "cache" / "numba"
VARIANTS = ("rembg", "rembg_bytes", "remover", "remover_no_arena")
SIZES = {1024: (1024, 768), 2048: (2048, 1536)}

sys.path.insert(0, str(REPO_ROOT))

from bench.common import peak_rss_mib_self, rss_mib_self, run_child


def _settings(**overrides):
    from photo3d_bgremoval.remover import BackgroundRemovalSettings

    return BackgroundRemovalSettings(
        model_dir=MODEL_DIR, numba_cache_dir=NUMBA_CACHE_DIR, **{"model_name": "u2netp", **overrides}
    )


def write_photos(folder: Path, side: int, count: int) -> None:
    """Generated JPEGs for the children (generating them in a child would inflate its peak memory)."""
    from tests.support.photos import BACKGROUNDS, OBJECT_KINDS, make_photo

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        photo = make_photo(
            OBJECT_KINDS[i % 3], background=BACKGROUNDS[(i // 3) % 2], size=SIZES[side], seed=i
        )
        (folder / f"{i:03d}.jpg").write_bytes(photo.jpeg())


def run_variant(variant: str, side: int, photo_dir: Path) -> dict:
    """One variant in this (child) process; prints a JSON line."""
    from PIL import Image

    settings = _settings(max_side_px=max(2048, side), onnx_memory_arena=variant != "remover_no_arena")
    from photo3d_bgremoval.remover import BackgroundRemover, prepare_process

    prepare_process(settings)
    import rembg

    jpegs = [path.read_bytes() for path in sorted(photo_dir.glob("*.jpg"))]
    count = len(jpegs)
    images = [Image.open(path).convert("RGB") for path in sorted(photo_dir.glob("*.jpg"))]
    remover = BackgroundRemover(settings)
    if variant.startswith("rembg"):
        session = rembg.new_session("u2netp")  # rembg's own defaults (U2NET_HOME set by the parent)

    def one(i: int) -> int:
        if variant == "rembg":
            out = rembg.remove(images[i], session=session)
            return out.width
        if variant == "rembg_bytes":
            return len(rembg.remove(jpegs[i], session=session))
        return len(asyncio.run(remover.remove(jpegs[i], view="front")).png)

    one(0)  # warm-up: first inference allocates onnxruntime's arenas
    rss_warm = rss_mib_self()
    times = []
    for i in range(count):
        started = time.perf_counter()
        one(i)
        times.append(time.perf_counter() - started)
    result = {
        "variant": variant,
        "side": side,
        "count": count,
        "images_per_s": count / sum(times),
        "median_s": statistics.median(times),
        "rss_after_warmup_mib": rss_warm,
        "peak_rss_mib": peak_rss_mib_self(),
        "load_average_1min": os.getloadavg()[0],  # other work on the machine skews the times
    }
    if variant == "remover":
        result["stages_median_s"] = _stage_breakdown(remover, jpegs)
    return result


def _stage_breakdown(remover, jpegs: list[bytes]) -> dict[str, float]:
    """Where the remover's time goes, step by step (the same steps as ``remove``)."""
    from photo3d_bgremoval.cutout import cut_out_with_mask, decode_photo, encode_png

    s = remover.settings
    stages: dict[str, list[float]] = {
        k: [] for k in ("decode", "mask", "cutout", "png_level_1", "png_level_6")
    }
    for data in jpegs:
        t0 = time.perf_counter()
        image = decode_photo(data, max_side=s.max_side_px)
        t1 = time.perf_counter()
        mask = asyncio.run(remover.remove(image)).mask
        t2 = time.perf_counter()
        cut = cut_out_with_mask(
            image, mask, margin_fraction=s.margin_fraction, square=s.square, max_side=s.max_side_px
        )
        t3 = time.perf_counter()
        encode_png(cut.image, compress_level=1)
        t4 = time.perf_counter()
        encode_png(cut.image, compress_level=6)
        t5 = time.perf_counter()
        for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            stages[key].append(value)
    return {key: round(statistics.median(values), 4) for key, values in stages.items() if values}


def _mask(remover, image):
    """The model's full-frame alpha of ``image``; the synthetic and real photos all hold an object."""
    return asyncio.run(remover.remove(image)).mask


def measure_iou_synthetic(seeds: int) -> list[dict]:
    import numpy as np

    from photo3d_bgremoval.remover import BackgroundRemover
    from tests.support.photos import BACKGROUNDS, OBJECT_KINDS, iou, make_photo

    remover = BackgroundRemover(_settings())
    rows = []
    for background in BACKGROUNDS:
        for kind in OBJECT_KINDS:
            for seed in range(seeds):
                photo = make_photo(kind, background=background, size=(640, 480), seed=seed)
                alpha = np.asarray(_mask(remover, photo.image))
                rows.append(
                    {
                        "background": background,
                        "kind": kind,
                        "seed": seed,
                        "iou": iou(alpha > 127, photo.mask),
                    }
                )
    return rows


def measure_iou_matting() -> list[dict] | None:
    """IoU on real photos with ground-truth alpha; None when ../shared/data/matting is absent."""
    if not MATTING_DIR.is_dir():
        return None
    import numpy as np
    from PIL import Image

    from photo3d_bgremoval.cutout import NoSubjectFound, assess_mask, check_subject
    from photo3d_bgremoval.remover import BackgroundRemover
    from tests.support.photos import iou

    remover = BackgroundRemover(_settings())
    rows = []
    for item in sorted(p for p in MATTING_DIR.iterdir() if p.is_dir()):
        truth_file = next(
            (item / n for n in ("gt_alpha.png", "alpha_estimated.png") if (item / n).exists()), None
        )
        if truth_file is None or not (item / "input.png").exists():
            continue
        truth = np.asarray(Image.open(truth_file).convert("L")) > 127
        alpha = np.asarray(_mask(remover, Image.open(item / "input.png")))
        quality = assess_mask(alpha)
        try:
            check_subject(quality)
            accepted = True
        except NoSubjectFound:
            accepted = False
        rows.append(
            {
                "item": item.name,
                "truth": truth_file.name,
                "iou": iou(alpha > 127, truth),
                "accepted_by_quality_check": accepted,
                "uncertain_ratio": round(quality.uncertain_ratio, 3),
                "touching_sides": sorted(quality.touching_sides),
            }
        )
    return rows


def _markdown(report: dict) -> str:
    ratios = ", ".join(
        f"{side} px {entry['cpu']:.2f} (by images/s {entry['wall']:.2f})"
        for side, entry in report["service_vs_raw"].items()
    )
    lines = [
        "# Background removal benchmark",
        "",
        f"{report['machine']} · model {report['model']} · {report['date']}",
        "",
        (
            f"**service_vs_raw** (service path photo-in-S3 → cut-out-in-S3 vs plain rembg.remove, by CPU s per "
            f"image; details in bgremoval-service-path.md): {ratios}. Wall-clock numbers below were taken on a "
            "shared machine (see the load average column)."
        ),
        "",
        "| variant | photo | images/s | median s | RSS after warm-up MiB | peak RSS MiB | load avg |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["speed"]:
        size = "x".join(map(str, SIZES[r["side"]]))
        lines.append(
            f"| {r['variant']} | {size} | {r['images_per_s']:.2f} | {r['median_s']:.3f} | "
            f"{r['rss_after_warmup_mib']:.0f} | {r['peak_rss_mib']:.0f} | {r['load_average_1min']:.1f} |"
        )
    for r in report["speed"]:
        if "stages_median_s" in r:
            stages = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in r["stages_median_s"].items())
            lines.append(f"\nremover stages at {r['side']} px (median): {stages}")
    syn = report["iou_synthetic"]
    lines += [
        "",
        "## IoU (alpha > 127), synthetic photos 640x480",
        "",
        "| background | min | mean | n |",
        "|---|---:|---:|---:|",
    ]
    for background in ("plain", "busy"):
        values = [r["iou"] for r in syn if r["background"] == background]
        lines.append(f"| {background} | {min(values):.4f} | {statistics.mean(values):.4f} | {len(values)} |")
    lines += ["", "## IoU (alpha > 127), real photos (../shared/data/matting)", ""]
    if report["iou_matting"] is None:
        lines.append("skipped: ../shared/data/matting is not there")
    else:
        lines += ["| item | IoU | passes quality check | uncertain ratio |", "|---|---:|---|---:|"]
        for r in report["iou_matting"]:
            lines.append(
                f"| {r['item']} | {r['iou']:.4f} | {r['accepted_by_quality_check']} | {r['uncertain_ratio']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images (a smoke run)")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "SIDE", "PHOTO_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        variant, side, photo_dir = args.child[0], int(args.child[1]), Path(args.child[2])
        print(json.dumps(run_variant(variant, side, photo_dir)))
        return 0

    from photo3d_bgremoval import model_files
    from photo3d_bgremoval.remover import prepare_process

    model_files.install(MODEL_DIR)
    prepare_process(_settings())
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(NUMBA_CACHE_DIR),
        "ORT_DISABLE_TELEMETRY": "1",
        "U2NET_HOME": str(MODEL_DIR),  # for plain rembg's own session
    }
    counts = {1024: 4, 2048: 3} if args.quick else {1024: 12, 2048: 8}

    speed = []
    photo_root = Path(tempfile.mkdtemp(prefix="photo3d-bench-bgremoval-"))
    try:
        for side in SIZES:
            write_photos(photo_root / str(side), side, counts[side])
            for variant in VARIANTS:
                print(f"-- {variant} at {side} px ...", flush=True)
                row = run_child(__file__, ["--child", variant, str(side), str(photo_root / str(side))], env)
                if row is None:
                    return 1
                print(
                    f"   {row['images_per_s']:.2f} images/s, peak RSS {row['peak_rss_mib']:.0f} MiB",
                    flush=True,
                )
                speed.append(row)
    finally:
        shutil.rmtree(photo_root, ignore_errors=True)

    print("-- IoU on synthetic photos ...", flush=True)
    synthetic = measure_iou_synthetic(seeds=2 if args.quick else 4)
    print("-- IoU on ../shared/data/matting ...", flush=True)
    matting = measure_iou_matting()
    if matting is None:
        print(f"   skipped: {MATTING_DIR} is not there (evaluation data, not part of the repository)")

    import onnxruntime

    print("-- service path (photo in S3 -> cut-out in S3) against plain rembg ...", flush=True)
    from bench.bgremoval import service_path

    if service_path.main(["--quick"] if args.quick else []) != 0:
        return 1
    path_report = json.loads((RESULTS_DIR / "bgremoval-service-path.json").read_text())
    report = {
        "service_vs_raw": path_report["service_vs_raw"],
        "service_path": path_report["rows"],
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"onnxruntime {onnxruntime.__version__}",
        "model": "u2netp",
        "load_average": os.getloadavg(),
        "speed": speed,
        "iou_synthetic": synthetic,
        "iou_matting": matting,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "bgremoval.json").write_text(json.dumps(report, indent=2))
    markdown = _markdown(report)
    (RESULTS_DIR / "bgremoval.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Background removal through the service path against plain in-process rembg, at 1024 and 2048 px.

    uv run python bench/bgremoval/service_path.py [--quick]

- ``service``: photo in object storage -> cut-out in object storage, i.e. what the bgremoval worker does for
  one model: ``photo3d_bgremoval.handlers.remove_backgrounds(...)`` on a real S3 store (SeaweedFS, started
  here in a temp dir; no Kafka: events go to a collecting publish function). Per model: head the four
  originals, get each, ``BackgroundRemover.remove`` (decode at the cap, mask, quality check, crop/pad, PNG),
  put each cut-out, put the manifest. Service default settings (``BGREMOVAL_*``).
- ``rembg``: plain ``rembg.remove(image, session=new_session("u2netp"))`` on the same photos, decoded into
  PIL images in memory beforehand.

Each variant and size runs in a fresh subprocess, so its peak RSS is its own; one warm-up model / image
first (not timed). Photos are generated (``tests.support.photos.make_views``), 4:3, longer side 1024 or
2048 px: per model the four views of one object, half on clutter, on a studio sweep or all on clutter in
turn (``MODEL_BACKDROPS``), so the service refines and checks real sets.
Results: bench/results/bgremoval-service-path.md and .json. Benchmarks report; they never fail on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import (
    MODEL_DIR,
    NUMBA_CACHE_DIR,
    REPO_ROOT,
    LocalInfra,
    machine,
    now_utc,
    peak_rss_mib_self,
    rss_mib_self,
    run_child,
    write_results,
)
from photo3d_common.events import VIEWS

VARIANTS = ("rembg", "rembg_same_session", "service")
SIZES = {1024: (1024, 768), 2048: (2048, 1536)}


#: The backdrops of each model's four photos, in turn: half on clutter (the busy ones refined with the
#: plain ones' colours: the quick run and the warm-up go through all of the stage), all on a studio sweep,
#: all on clutter
MODEL_BACKDROPS: tuple[dict[str, str], ...] = (
    {"front": "busy", "left": "plain", "right": "busy", "back": "plain"},
    dict.fromkeys(VIEWS, "plain"),
    dict.fromkeys(VIEWS, "busy"),
)


def write_photos(folder: Path, side: int, models: int) -> None:
    """The four photos (front, left, right, back) of one object for each of ``models`` models, as
    generated JPEGs (in the parent: generating them in a child would inflate its peak). Four views of one
    object, as a user uploads them: the cross-view check passes them as a real set, where four unrelated
    objects would make it stand in for and re-cut photos that no real set needs."""
    from tests.support.photos import OBJECT_KINDS, make_views

    folder.mkdir(parents=True, exist_ok=True)
    for model in range(models):
        views = make_views(
            OBJECT_KINDS[model % len(OBJECT_KINDS)],
            background=MODEL_BACKDROPS[model % len(MODEL_BACKDROPS)],
            size=SIZES[side],
            seed=model,
        )
        for index, view in enumerate(VIEWS):  # file order = view order: put_originals groups by four
            (folder / f"{model:03d}-{index}-{view}.jpg").write_bytes(views[view].jpeg())


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads): less swayed by other work than wall time."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "U2NET_HOME": str(MODEL_DIR),
        "ORT_DISABLE_TELEMETRY": "1",
        "NUMBA_CACHE_DIR": str(NUMBA_CACHE_DIR),
        "BGREMOVAL_MODEL_DIR": str(MODEL_DIR),
        "BGREMOVAL_NUMBA_CACHE_DIR": str(NUMBA_CACHE_DIR),
        **(extra or {}),
    }


# --- children -----------------------------------------------------------------------------------------
def run_rembg(photo_dir: Path, side: int, *, same_session: bool = False) -> dict[str, Any]:
    """Plain ``rembg.remove`` on decoded images; ``same_session``: its session made with the service's
    onnxruntime options for one photo at a time (all cores, no spin-waiting)."""
    from PIL import Image

    paths = sorted(photo_dir.glob("*.jpg"))
    images = [Image.open(p).convert("RGB") for p in paths]  # in memory before timing
    from rembg import new_session, remove  # env (U2NET_HOME, NUMBA_CACHE_DIR, ...) set by the parent

    if same_session:
        from photo3d_bgremoval.remover import BackgroundRemovalSettings, _session_options

        # one photo at a time, as rembg.remove runs: every core on its inference
        session = new_session("u2netp", sess_opts=_session_options(BackgroundRemovalSettings(workers=1)))
    else:
        session = new_session("u2netp")
    remove(images[0], session=session)  # warm-up
    rss_warm = rss_mib_self()
    times = []
    cpu_started = cpu_seconds()
    for image in images:
        started = time.perf_counter()
        out = remove(image, session=session)
        times.append(time.perf_counter() - started)
        assert out.size == image.size
    cpu = cpu_seconds() - cpu_started
    return {
        "variant": "rembg_same_session" if same_session else "rembg",
        "cpu_s_per_image": cpu / len(images),
        "side": side,
        "images": len(images),
        "images_per_s": len(images) / sum(times),
        "median_s_per_image": statistics.median(times),
        "rss_after_warmup_mib": rss_warm,
        "peak_rss_mib": peak_rss_mib_self(),
        "load_average_1min": os.getloadavg()[0],
    }


def covered_seconds(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the (start, end) ``spans``: the handler reads photos ahead and
    stores the cut-outs at once, so its storage calls overlap each other and the cut-outs."""
    covered, reach = 0.0, -float("inf")
    for start, end in sorted(spans):
        if end > reach:
            covered += end - max(start, reach)
            reach = end
    return covered


class TimedStorage:
    """The real ObjectStorage, with the seconds spent in each call counted (where the service path's
    extra time goes) and each call's span kept in ``spans``."""

    def __init__(self, storage: Any, spans: list[tuple[float, float]]) -> None:
        self._storage = storage
        self.seconds: dict[str, float] = {}
        self.spans = spans

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._storage, name)
        if not callable(attr) or not asyncio.iscoroutinefunction(attr):
            return attr

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                self.seconds[name] = self.seconds.get(name, 0.0) + ended - started
                self.spans.append((started, ended))

        return timed


async def _service(model_ids: list[str], warmup_id: str, side: int) -> dict[str, Any]:
    from photo3d_bgremoval import handlers
    from photo3d_bgremoval.remover import BackgroundRemovalSettings, BackgroundRemover
    from photo3d_common.events import BackgroundRemoved, ModelFailed
    from photo3d_common.settings import S3Settings
    from photo3d_common.storage import ObjectStorage, original_key

    remover = BackgroundRemover(BackgroundRemovalSettings())  # the service's settings (BGREMOVAL_*)
    published: list[Any] = []

    async def publish(event: Any) -> None:
        published.append(event)

    async with ObjectStorage(S3Settings()) as real_storage:
        spans: list[tuple[float, float]] = []  # storage calls and cut-outs, for the time in none of them
        storage = TimedStorage(real_storage, spans)

        async def one(model_id: str) -> float:
            mid = uuid.UUID(model_id)
            keys = {view: original_key(mid, view) for view in VIEWS}
            before = len(published)
            started = time.perf_counter()
            await handlers.remove_backgrounds(
                mid, keys, None, storage=storage, remover=remover, publish=publish
            )
            elapsed = time.perf_counter() - started
            failures = [e for e in published[before:] if isinstance(e, ModelFailed)]
            if failures or not any(isinstance(e, BackgroundRemoved) for e in published[before:]):
                raise RuntimeError(f"background removal did not succeed: {failures or published[before:]!r}")
            return elapsed

        await one(warmup_id)  # loads the model, allocates onnxruntime's arenas
        rss_warm = rss_mib_self()
        storage.seconds.clear()
        spans.clear()
        # time inside BackgroundRemover.remove (its worker threads and the hand-offs) vs the rest; a set's
        # four cut-outs overlap, so the time covered by at least one counts
        remove_spans: list[tuple[float, float]] = []
        original_remove = remover.remove

        async def counted_remove(data: bytes, *, view: str | None = None) -> Any:
            started = time.perf_counter()
            try:
                return await original_remove(data, view=view)
            finally:
                ended = time.perf_counter()
                remove_spans.append((started, ended))
                spans.append((started, ended))

        remover.remove = counted_remove  # type: ignore[method-assign]
        cpu_started = cpu_seconds()
        per_model = [await one(model_id) for model_id in model_ids]
        cpu = cpu_seconds() - cpu_started
    images = 4 * len(model_ids)
    total = sum(per_model)
    return {
        "variant": "service",
        "cpu_s_per_image": cpu / images,
        "side": side,
        "images": images,
        "images_per_s": images / total,
        "median_s_per_image": statistics.median(per_model) / 4,
        "rss_after_warmup_mib": rss_warm,
        "peak_rss_mib": peak_rss_mib_self(),
        "load_average_1min": os.getloadavg()[0],
        "breakdown_s_per_image": {
            "BackgroundRemover.remove": covered_seconds(remove_spans) / images,
            **{f"storage.{name}": s / images for name, s in sorted(storage.seconds.items())},
            # storage calls overlap the cut-outs and each other: the rest is the time in none of them
            "other (cross-view check, PNG, events, manifest json)": (total - covered_seconds(spans)) / images,
        },
    }


def run_service(ids_file: Path, side: int) -> dict[str, Any]:
    ids = json.loads(ids_file.read_text())
    return asyncio.run(_service(ids["models"], ids["warmup"], side))


# --- parent -------------------------------------------------------------------------------------------
async def put_originals(s3: dict[str, str], photos: list[bytes]) -> dict[str, Any]:
    """Store the photos as originals of models of four views each (+ one warm-up model)."""
    from photo3d_common.settings import S3Settings
    from photo3d_common.storage import ObjectStorage, original_key

    settings = S3Settings(
        endpoint_url=s3["endpoint_url"],
        region=s3["region"],
        bucket=s3["bucket"],
        access_key_id=s3["access_key_id"],
        secret_access_key=s3["secret_access_key"],
    )
    groups = [photos[i : i + 4] for i in range(0, len(photos), 4)]
    async with ObjectStorage(settings) as storage:
        ids = []
        for group in [groups[0], *groups]:  # the first is the warm-up model (same photos, its own id)
            model_id = uuid.uuid4()
            for view, data in zip(VIEWS, group, strict=True):
                await storage.put_bytes(original_key(model_id, view), data, content_type="image/jpeg")
            ids.append(str(model_id))
    return {"warmup": ids[0], "models": ids[1:]}


def service_vs_raw(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per size: the service path's throughput as a share of plain rembg's. ``cpu`` = rembg's CPU s per
    image / the service's (on a CPU-bound machine the throughput ratio, and the number other work on a
    shared machine sways least); ``wall`` = images/s over images/s; ``*_same_session`` against rembg with
    the service's onnxruntime options, i.e. the pipeline's own cost alone."""
    result: dict[str, dict[str, float]] = {}
    for side in SIZES:
        by = {r["variant"]: r for r in rows if r["side"] == side}
        service = by.get("service")
        if service is None:
            continue
        entry: dict[str, float] = {}
        for variant, suffix in (("rembg", ""), ("rembg_same_session", "_same_session")):
            raw = by.get(variant)
            if raw is not None:
                entry[f"cpu{suffix}"] = round(raw["cpu_s_per_image"] / service["cpu_s_per_image"], 3)
                entry[f"wall{suffix}"] = round(service["images_per_s"] / raw["images_per_s"], 3)
        result[str(side)] = entry
    return result


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Background removal: service path vs plain rembg",
        "",
        f"{report['machine']} · model u2netp · {report['date']}",
        "",
        (
            "service = photo in S3 (SeaweedFS) → `handlers.remove_backgrounds` (head, get, "
            "`BackgroundRemover.remove`, cross-view check, put cut-out, manifest) → cut-out in S3, service default "
            "settings; photos: per model the four views of one object (half on clutter, all on a studio sweep, "
            "all on clutter, in turn); "
            'rembg = `rembg.remove(PIL image, session=new_session("u2netp"))` on the same photos already in '
            "memory. Fresh process per run; warm-up not timed; runs in ABBA order, the best kept (the other runs "
            "are listed); load avg = the machine's 1-min load at the end of the run (2 cores: above 2 means other "
            "work competed for the CPU). CPU s/image = user + system seconds of the process (all threads) per "
            "image: less swayed by other work than wall time. Peak RSS = VmHWM of the child (its own, from exec)."
        ),
        "",
        (
            "| variant | photo | images | images/s (best) | all runs images/s | median s/image | CPU s/image | "
            "RSS after warm-up MiB | peak RSS MiB | load avg |"
        ),
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        size = "x".join(map(str, SIZES[r["side"]]))
        runs = ", ".join(f"{x:.2f}" for x in r.get("images_per_s_all", [r["images_per_s"]]))
        lines.append(
            f"| {r['variant']} | {size} | {r['images']} | {r['images_per_s']:.2f} | {runs} | "
            f"{r['median_s_per_image']:.3f} | {r['cpu_s_per_image']:.3f} | {r['rss_after_warmup_mib']:.0f} | "
            f"{r['peak_rss_mib']:.0f} | {r['load_average_1min']:.1f} |"
        )
    for side in SIZES:
        by = {r["variant"]: r for r in report["rows"] if r["side"] == side}
        if "service" in by and "rembg" in by:
            s, p = by["service"], by["rembg"]
            lines.append(
                f"\nAt {side} px the service path runs at {s['images_per_s'] / p['images_per_s']:.2f}× plain "
                f"rembg's images/s, {s['cpu_s_per_image'] / p['cpu_s_per_image']:.2f}× its CPU seconds per image "
                f"and {s['peak_rss_mib'] - p['peak_rss_mib']:+.0f} MiB peak RSS. "
                "Per image: "
                + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in s["breakdown_s_per_image"].items())
                + "."
            )
    lines += ["", "service_vs_raw (the service path's throughput as a share of plain rembg's):", ""]
    lines += ["| photo | by CPU s/image | by images/s | same session: by CPU | same session: by images/s |"]
    lines += ["|---|---:|---:|---:|---:|"]
    for side, entry in report.get("service_vs_raw", {}).items():
        lines.append(
            f"| {side} px | {entry.get('cpu', float('nan')):.2f} | {entry.get('wall', float('nan')):.2f} | "
            f"{entry.get('cpu_same_session', float('nan')):.2f} | {entry.get('wall_same_session', float('nan')):.2f} |"
        )
    lines += [
        "",
        (
            "BackgroundRemover.remove includes more than rembg.remove: decode + EXIF, mask quality "
            "check, crop/pad to a centred square and PNG encoding (level 1)."
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Images/s and peak memory of background removal through the service path (photo in "
        "storage -> cut-out in storage) against plain in-process rembg.remove, at 1024 and 2048 px."
    )
    parser.add_argument("--quick", action="store_true", help="fewer photos (a smoke run)")
    parser.add_argument(
        "--models",
        type=int,
        default=None,
        help="models (4 photos each) per size; default 3 (one of each backdrop mix)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs per variant and size, in ABBA order; the table shows the best (default 3)",
    )
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "SIDE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        variant, side, path = args.child[0], int(args.child[1]), Path(args.child[2])
        if variant == "service":
            row = run_service(path, side)
        else:
            row = run_rembg(path, side, same_session=variant == "rembg_same_session")
        print(json.dumps(row))
        return 0

    from photo3d_bgremoval import model_files

    model_files.install(MODEL_DIR)
    NUMBA_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    models = {1024: 1, 2048: 1} if args.quick else {1024: 3, 2048: 3}
    if args.quick:
        args.repeats = 1
    if args.models:
        models = dict.fromkeys(SIZES, args.models)
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="photo3d-bench-service-path-"))
    try:
        print("-- starting SeaweedFS ...", flush=True)
        with LocalInfra(name="bgremoval-service-path", postgres=False, kafka=False) as infra:
            s3_env = {k: v for k, v in infra.env.items() if k.startswith("S3_")}
            for side in SIZES:
                folder = work / str(side)
                write_photos(folder, side, models[side])
                photos = [p.read_bytes() for p in sorted(folder.glob("*.jpg"))][: 4 * models[side]]
                # ABBA order, best of the repeats: other work on the machine skews single runs
                order = [v for i in range(args.repeats) for v in (VARIANTS if i % 2 == 0 else VARIANTS[::-1])]
                runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
                for variant in order:
                    print(f"-- {variant} at {side} px ({len(photos)} photos) ...", flush=True)
                    if variant == "service":
                        ids_file = work / f"ids-{side}.json"  # fresh models: a re-run would reuse cut-outs
                        ids_file.write_text(json.dumps(asyncio.run(put_originals(infra.s3, photos))))
                        row = run_child(
                            __file__, ["--child", variant, str(side), str(ids_file)], child_env(s3_env)
                        )
                    else:
                        row = run_child(__file__, ["--child", variant, str(side), str(folder)], child_env())
                    if row is None:
                        return 1
                    print(
                        f"   {row['images_per_s']:.2f} images/s, peak RSS {row['peak_rss_mib']:.0f} MiB, "
                        f"load {row['load_average_1min']:.1f}",
                        flush=True,
                    )
                    runs[variant].append(row)
                for variant in VARIANTS:
                    best = max(runs[variant], key=lambda r: r["images_per_s"])
                    rows.append(
                        {
                            **best,
                            "runs": len(runs[variant]),
                            "images_per_s_all": [round(r["images_per_s"], 3) for r in runs[variant]],
                            "peak_rss_mib_all": [round(r["peak_rss_mib"]) for r in runs[variant]],
                        }
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "date": now_utc(),
        "machine": machine(),
        "model": "u2netp",
        "rows": rows,
        "service_vs_raw": service_vs_raw(rows),
    }
    text = markdown(report)
    json_path, md_path = write_results("bgremoval-service-path", report, text)
    print(text)
    print(f"results: {md_path.relative_to(REPO_ROOT)}, {json_path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

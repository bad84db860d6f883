"""End-to-end benchmark on the live local system: N models of four photos each, submitted at once.

    uv run python bench/e2e/run.py [--models 10] [--quick] [--set KEY=VALUE ...]

Starts the real infrastructure (Postgres: ``DATABASE_URL``'s server with a database of this run, or an
embedded one; Kafka: Tansu in memory, or ``KAFKA_BOOTSTRAP_SERVERS``; S3: SeaweedFS) in temp dirs on free
ports, then the four services as processes (status, upload, bgremoval, generation) with their default
settings (override any with ``--set``). Then, all at once: each model is created and its four photos
(1600x1200 JPEGs from tests/support/photos.py) uploaded concurrently, and the models are followed until
they are ``completed`` or ``failed``.

Stage timings come from the events themselves: after the run every topic of the run's prefix is read back
with aiokafka, and the ``occurred_at`` of
    PhotoUploaded (start_processing) -> BackgroundRemovalStarted   bgremoval: waiting in the topic
    BackgroundRemovalStarted -> BackgroundRemoved                  bgremoval: working
    BackgroundRemoved -> GenerationStarted                         generation: waiting (+ reading cut-outs)
    GenerationStarted -> ModelGenerated                            generation: working (+ storing assets)
give each stage's queue wait and work; ModelStatusChanged vs the event that caused it gives the status
service's apply lag. Peak memory per service is the RSS of each service's process tree, sampled every
0.2 s with psutil.

Then the same work in one process with no broker, database or object store (``BackgroundRemover.remove``
on each photo, ``local.reconstruct``, ``meshio.export_assets``; same settings), so the orchestration's
share of the time is visible.

Results: bench/results/e2e.md and bench/results/e2e.json (printed too). Service logs: test-artifacts/bench/.
Benchmarks report; they never fail on speed (a non-zero exit means the system did not run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import (
    KAFKA_SESSION_TIMEOUT_MS,
    LOG_DIR,
    MODEL_DIR,
    NUMBA_CACHE_DIR,
    REPO_ROOT,
    LocalInfra,
    ServiceAddresses,
    ServiceProcesses,
    TreeMemorySampler,
    fmt,
    machine,
    now_utc,
    peak_rss_mib_self,
    rss_mib_self,
    run_child,
    summary,
    wait_healthy,
    write_results,
)
from bench.profiling import Profiler
from photo3d_common.events import (
    VIEWS,
    BackgroundRemovalStarted,
    BackgroundRemoved,
    GenerationStarted,
    ModelFailed,
    ModelGenerated,
    ModelStatusChanged,
    PhotoUploaded,
)

PHOTO_CACHE = REPO_ROOT / "var" / "cache" / "bench" / "e2e-photos"
TERMINAL = {"completed", "failed"}
READY_LINE = "FastStream app started successfully"
QUICK_MODELS = 3
#: models of the profiled run (py-spy on), after the measured ones
PROFILE_MODELS = 3
IDLE_SAMPLE_S = 8.0


# --- photos -------------------------------------------------------------------------------------------
def photo_set(count: int, size: tuple[int, int]) -> Path:
    """Folder with ``{i:03d}-{view}.jpg`` for ``count`` models (generated once, cached under var/cache)."""
    from tests.support.photos import OBJECT_KINDS, make_views

    folder = PHOTO_CACHE / f"{size[0]}x{size[1]}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        if all((folder / f"{i:03d}-{view}.jpg").is_file() for view in VIEWS):
            continue
        print(f"   generating photos of model {i + 1}/{count} ...", flush=True)
        for view, photo in make_views(OBJECT_KINDS[i % len(OBJECT_KINDS)], size=size, seed=i).items():
            (folder / f"{i:03d}-{view}.jpg").write_bytes(photo.jpeg())
    return folder


def load_photos(folder: Path, count: int) -> list[dict[str, bytes]]:
    return [{view: (folder / f"{i:03d}-{view}.jpg").read_bytes() for view in VIEWS} for i in range(count)]


# --- driving the system like users do -----------------------------------------------------------------
async def follow_live(http: Any, status_url: str, model_id: str, timeout_s: float) -> dict[str, Any] | None:
    """Watch a model like the web page does (the status service's SSE stream) until it is completed or
    failed; the final model JSON, or None on timeout. The stream sends a snapshot at connect, so
    nothing is missed by connecting late."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:  # the server may end a stream (restart, keep-alive limit): reconnect
                async with http.stream("GET", f"{status_url}/api/models/{model_id}/events") as response:
                    response.raise_for_status()
                    event, data = None, []
                    async for line in response.aiter_lines():
                        if line.startswith("event:"):
                            event = line.partition(":")[2].strip()
                        elif line.startswith("data:"):
                            data.append(line.partition(":")[2].removeprefix(" "))
                        elif not line:  # a blank line ends an event
                            if event == "status" and data:
                                model = json.loads("\n".join(data))
                                if model["status"] in TERMINAL:
                                    return model
                            event, data = None, []
    except TimeoutError:
        return None


async def submit_and_follow(
    status_url: str, upload_url: str, photos: list[dict[str, bytes]], timeout_s: float, *, one_by_one: bool
) -> dict[str, Any]:
    """Create each model, upload its four photos concurrently and follow it live until it ends: all at
    once, or (``one_by_one``) each after the previous ended, for the single-model latency."""
    import httpx

    async with httpx.AsyncClient(timeout=httpx.Timeout(120, read=None)) as http:
        token = (await http.post(f"{status_url}/api/dev/token", json={"user": "bench"})).json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        submitted_at = time.time()
        deadline = time.monotonic() + timeout_s

        async def one(index: int, views: dict[str, bytes]) -> dict[str, Any]:
            t0 = time.time()
            response = await http.post(f"{status_url}/api/models", json={"name": f"bench-{index}"})
            response.raise_for_status()
            model_id = response.json()["id"]
            t_created = time.time()

            async def upload(view: str, data: bytes) -> float:
                started = time.time()
                answer = await http.post(
                    f"{upload_url}/api/upload-photo",
                    data={"model_id": model_id, "view": view},
                    files={"file": (f"{view}.jpg", data, "image/jpeg")},
                )
                if answer.status_code != 201:
                    raise RuntimeError(
                        f"upload of {view} for model {index} answered {answer.status_code}: {answer.text}"
                    )
                return time.time() - started

            upload_s = await asyncio.gather(*(upload(v, d) for v, d in views.items()))
            uploads_done = time.time()
            final = await follow_live(http, status_url, model_id, max(1.0, deadline - time.monotonic()))
            return {
                "index": index,
                "model_id": model_id,
                "requested_at": t0,
                "create_s": t_created - t0,
                "upload_request_s": list(upload_s),
                "uploads_done_at": uploads_done,
                "seen_terminal_at": time.time() if final is not None else None,
                "final": final,
            }

        if one_by_one:
            submitted = [await one(i, views) for i, views in enumerate(photos)]
        else:
            submitted = await asyncio.gather(*(one(i, views) for i, views in enumerate(photos)))
        final: dict[str, dict[str, Any]] = {}
        timed_out = []
        for s in submitted:
            model = s.pop("final")
            if model is None:  # timed out: record where it was
                timed_out.append(s["model_id"])
                model = (await http.get(f"{status_url}/api/models/{s['model_id']}")).json()
            final[s["model_id"]] = model
        return {
            "submitted_at": submitted_at,
            "models": submitted,
            "final": final,
            "timed_out": sorted(timed_out),
        }


async def read_all_events(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    """Every message of the run's topics, from the beginning to the current end (no consumer group)."""
    from aiokafka import AIOKafkaConsumer

    from photo3d_common.events import ALL_TOPICS

    topics = [prefix + t for t in ALL_TOPICS]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        existing = await consumer.topics()
        partitions = []
        from aiokafka import TopicPartition

        for topic in topics:
            if topic in existing:
                partitions += [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            remaining = [tp for tp in partitions if await consumer.position(tp) < end[tp]]
            if not remaining:
                break
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    try:
                        value = json.loads(record.value)
                    except (TypeError, ValueError):
                        continue
                    value["_topic"] = tp.topic.removeprefix(prefix)
                    events.append(value)
        return events
    finally:
        await consumer.stop()


# --- analysis -----------------------------------------------------------------------------------------
def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


STAGES = (
    ("upload_span", "uploads: first photo stored → fourth photo stored"),
    ("bgremoval_wait", "bgremoval waiting in topic (photos.uploaded → started)"),
    ("bgremoval_work", "bgremoval working (started → background.removed)"),
    ("generation_wait", "generation waiting in topic (background.removed → started)"),
    ("generation_work", "generation working (started → model.generated)"),
    ("pipeline_total", "total: fourth photo stored → model.generated"),
    ("client_total", "client: create request → model.generated"),
)


def analyse(events: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    ours = {s["model_id"]: s for s in run["models"]}
    by_model: dict[str, list[dict[str, Any]]] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for event in events:
        by_id[event.get("event_id", "")] = event
        if event.get("model_id") in ours:
            by_model.setdefault(event["model_id"], []).append(event)

    per_model = []
    for model_id, submitted in ours.items():
        evs = sorted(by_model.get(model_id, []), key=lambda e: _ts(e["occurred_at"]))

        def first(topic: str, evs: list[dict[str, Any]] = evs, **match: Any) -> float | None:
            for e in evs:
                if e["_topic"] == topic and all(e.get(k) == v for k, v in match.items()):
                    return _ts(e["occurred_at"])
            return None

        uploads = [_ts(e["occurred_at"]) for e in evs if e["_topic"] == PhotoUploaded.topic]
        complete = first(PhotoUploaded.topic, start_processing=True)
        bg_started = first(BackgroundRemovalStarted.topic)
        bg_done = first(BackgroundRemoved.topic)
        gen_started = first(GenerationStarted.topic)
        gen_done = first(ModelGenerated.topic)
        failed = next((e for e in evs if e["_topic"] == ModelFailed.topic), None)

        def span(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else b - a

        generated = next((e for e in evs if e["_topic"] == ModelGenerated.topic), None)
        per_model.append(
            {
                "model_id": model_id,
                "index": submitted["index"],
                "status": run["final"].get(model_id, {}).get("status"),
                "failed": failed and {k: failed.get(k) for k in ("stage", "error_code", "reason")},
                "upload_span": span(min(uploads) if uploads else None, complete),
                "bgremoval_wait": span(complete, bg_started),
                "bgremoval_work": span(bg_started, bg_done),
                "generation_wait": span(bg_done, gen_started),
                "generation_work": span(gen_started, gen_done),
                "pipeline_total": span(complete, gen_done),
                "client_total": span(submitted["requested_at"], gen_done),
                "generation_timings": (generated or {}).get("timings", {}),
                "faces": (generated or {}).get("face_count"),
                "generated_at": gen_done,
                "create_request_s": submitted["create_s"],
                "upload_request_s": submitted["upload_request_s"],
            }
        )

    stages = {key: summary([m[key] for m in per_model if m[key] is not None]) for key, _ in STAGES}
    timing_keys = sorted({k for m in per_model for k in m["generation_timings"]})
    generation_timings = {
        k: summary([m["generation_timings"][k] for m in per_model if k in m["generation_timings"]])
        for k in timing_keys
    }

    # status service: ModelStatusChanged.occurred_at minus the occurred_at of the event that caused it
    lag_all: list[float] = []
    lag_by_cause: dict[str, list[float]] = {}
    for event in events:
        if event["_topic"] != ModelStatusChanged.topic or event.get("model_id") not in ours:
            continue
        cause = by_id.get(event.get("cause_event_id") or "")
        if cause is None:
            continue
        lag = _ts(event["occurred_at"]) - _ts(cause["occurred_at"])
        lag_all.append(lag)
        lag_by_cause.setdefault(cause["_topic"], []).append(lag)
    status_lag = {"all": summary(lag_all), **{t: summary(v) for t, v in sorted(lag_by_cause.items())}}

    done_times = [m["generated_at"] for m in per_model if m["generated_at"] is not None]
    wall = (max(done_times) - run["submitted_at"]) if done_times else None
    upload_requests = [s for m in per_model for s in m["upload_request_s"]]
    return {
        "per_model": per_model,
        "stages": stages,
        "generation_timings": generation_timings,
        "status_apply_lag": status_lag,
        "completed": sum(1 for m in per_model if m["status"] == "completed"),
        "failed": [m for m in per_model if m["status"] != "completed"],
        "wall_s": wall,
        "models_per_minute": (len(done_times) / wall * 60) if wall else None,
        "http": {
            "create_model": summary([m["create_request_s"] for m in per_model]),
            "upload_photo": summary(upload_requests),
        },
        "events_read": len(events),
        # messages per model by topic: each costs a produce, the broker, a consume (and the status
        # service's transaction when it affects a status)
        "events_per_model": {
            topic: sum(1 for e in events if e["_topic"] == topic and e.get("model_id") in ours) / len(ours)
            for topic in sorted({e["_topic"] for e in events})
        }
        if ours
        else {},
    }


# --- the same work in one process ---------------------------------------------------------------------
def in_process_child(photo_dir: Path, count: int) -> dict[str, Any]:
    """Background removal + reconstruction + export of every model in this process, one after another."""
    import io

    from PIL import Image

    from photo3d_bgremoval.remover import BackgroundRemovalSettings, BackgroundRemover, prepare_process
    from photo3d_bgremoval.stand_ins import refine_and_check
    from photo3d_common.concurrency import limit_blas_threads
    from photo3d_common.events import GenerationOptions
    from photo3d_generation import meshio
    from photo3d_generation.fitting import fit_to_options
    from photo3d_generation.local import reconstruct
    from photo3d_generation.settings import GenerationServiceSettings
    from photo3d_generation.warm_up import warm_up

    bg_settings = BackgroundRemovalSettings()  # BGREMOVAL_* from the environment, like the service
    gen_settings = GenerationServiceSettings()
    prepare_process(bg_settings)
    photos = load_photos(photo_dir, count)
    remover = BackgroundRemover(bg_settings)
    started = time.perf_counter()
    limit_blas_threads(gen_settings.blas_threads)  # as both workers do at start (*_BLAS_THREADS)
    asyncio.run(remover.warm_up())  # as the worker does at start (BGREMOVAL_WARM_UP)
    warm_up(gen_settings.preview_size)  # and the generation worker (GENERATION_WARM_UP)
    load_s = time.perf_counter() - started
    rss_loaded = rss_mib_self()

    import resource

    def cpu_now() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    rows = []
    cpu_started = cpu_now()
    run_started = time.perf_counter()

    async def cut_out_all(views: dict[str, bytes]) -> dict[str, bytes]:
        """What the bgremoval handler computes: each cut-out, the busy views refined with the plain ones'
        colours, then the cross-view check (``refine_and_check``, with its stand-in for one unusable photo)."""
        # at once, as the handler does: one mask at a time, the others decoded, framed and encoded beside it
        cut_outs = await asyncio.gather(*(remover.remove(data, view=view) for view, data in views.items()))
        results: dict[Any, Any] = dict(zip(views, cut_outs, strict=True))
        return refine_and_check(results, bg_settings).pngs

    for views in photos:
        t0, c0 = time.perf_counter(), cpu_now()
        cutouts = asyncio.run(cut_out_all(views))
        t1, c1 = time.perf_counter(), cpu_now()
        images = {view: Image.open(io.BytesIO(png)) for view, png in cutouts.items()}
        mesh = reconstruct(images, gen_settings.local.reconstruction())
        t2, c2 = time.perf_counter(), cpu_now()
        # what the generation handler does with the result: fit to the (default) options, export
        meshio.export_assets(
            fit_to_options(mesh, GenerationOptions()).mesh, preview_size=gen_settings.preview_size
        )
        t3, c3 = time.perf_counter(), cpu_now()
        rows.append(
            {
                "bgremoval_s": t1 - t0,
                "reconstruct_s": t2 - t1,
                "export_s": t3 - t2,
                "total_s": t3 - t0,
                "bgremoval_cpu_s": c1 - c0,
                "reconstruct_cpu_s": c2 - c1,
                "export_cpu_s": c3 - c2,
                "faces": len(mesh.faces),
            }
        )
    wall = time.perf_counter() - run_started
    cpu = cpu_now() - cpu_started
    return {
        "models": count,
        "cpu_s": cpu,
        "cpu_s_per_model": cpu / count,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "model_load_s": load_s,
        "rss_after_load_mib": rss_loaded,
        "peak_rss_mib": peak_rss_mib_self(),
        "wall_s": wall,
        "models_per_minute": count / wall * 60,
        "stages": {
            k: summary([r[k] for r in rows]) for k in ("bgremoval_s", "reconstruct_s", "export_s", "total_s")
        },
        "cpu_s_per_model_by_step": {
            k: statistics.fmean(r[f"{k}_cpu_s"] for r in rows) for k in ("bgremoval", "reconstruct", "export")
        },
        "per_model": rows,
    }


def run_in_process(photo_dir: Path, count: int, env: dict[str, str]) -> dict[str, Any] | None:
    return run_child(__file__, ["--in-process-child", str(photo_dir), str(count)], {**os.environ, **env})


def bracketing(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The one-process runs before and after the system's as one: their mean CPU per model (overall and
    by step), each run's kept in ``cpu_s_per_model_runs``; times and memory from the later run."""
    merged = dict(runs[-1])
    merged["cpu_s_per_model_runs"] = [round(r["cpu_s_per_model"], 3) for r in runs]
    merged["cpu_s_per_model"] = statistics.fmean(r["cpu_s_per_model"] for r in runs)
    merged["cpu_s_per_model_by_step"] = {
        step: statistics.fmean(r["cpu_s_per_model_by_step"][step] for r in runs)
        for step in runs[-1]["cpu_s_per_model_by_step"]
    }
    return merged


# --- report -------------------------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    r = report["system"]
    lines = [
        "# End-to-end benchmark (live local system)",
        "",
        (
            f"{report['machine']} · {report['date']} · load average (1, 5, 15 min) before the run "
            f"{report['load_before']}, at its end {report['load_after']} (2 cores: above 2, other work on the "
            "machine competed for the CPU)"
        ),
        "",
        (
            f"{report['models']} models × 4 photos {report['photo_size']} submitted at once (create + 4 uploads "
            f"each, concurrently); services with {report['settings_note']}."
        ),
        "",
        (
            f"**{r['completed']}/{report['models']} completed** in {fmt(r['wall_s'], 1)} s from the first "
            f"request to the last model.generated: **{fmt(r['models_per_minute'])} models/min**."
        ),
        "",
        "## Time per stage (s, from the events' occurred_at)",
        "",
        "| stage | p50 | p95 | mean | max | n |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in STAGES:
        s = r["stages"][key]
        lines.append(
            f"| {label} | {fmt(s['p50'])} | {fmt(s['p95'])} | {fmt(s['mean'])} | {fmt(s['max'])} | {s['n']} |"
        )
    if r["generation_timings"]:
        parts = ", ".join(f"{k} p50 {fmt(v['p50'])} s" for k, v in r["generation_timings"].items())
        lines += ["", f"Inside generation's work (ModelGenerated.timings): {parts}."]
    lines += [
        "",
        "## Status service apply lag (ModelStatusChanged.occurred_at − cause.occurred_at, s)",
        "",
        "| cause | p50 | p95 | max | n |",
        "|---|---:|---:|---:|---:|",
    ]
    for cause, s in r["status_apply_lag"].items():
        lines.append(f"| {cause} | {fmt(s['p50'], 3)} | {fmt(s['p95'], 3)} | {fmt(s['max'], 3)} | {s['n']} |")
    http = r["http"]
    lines += [
        "",
        (
            f"HTTP under the burst: create model p50 {fmt(http['create_model']['p50'], 3)} s / p95 "
            f"{fmt(http['create_model']['p95'], 3)} s; upload photo p50 {fmt(http['upload_photo']['p50'], 3)} s / "
            f"p95 {fmt(http['upload_photo']['p95'], 3)} s."
        ),
        "",
        "Messages per model: "
        + ", ".join(f"{topic} {count:g}" for topic, count in r.get("events_per_model", {}).items())
        + ".",
        "",
        "## Peak memory and CPU per process (RSS of each process tree, sampled every 0.2 s)",
        "",
        "| process | idle after start MiB | peak MiB | CPU s during the run | CPU s per model |",
        "|---|---:|---:|---:|---:|",
    ]
    mem = report["memory"]
    for name, peak in mem["peak_mib"].items():
        cpu = mem["cpu_s"].get(name)
        per_model = None if cpu is None else cpu / report["models"]
        lines.append(
            f"| {name} | {mem['idle_mib'].get(name, 0):.0f} | {peak:.0f} | {fmt(cpu, 1)} | {fmt(per_model)} |"
        )
    total_cpu = sum(mem["cpu_s"].values())
    lines.append(f"| **all** | | | {fmt(total_cpu, 1)} | {fmt(total_cpu / report['models'])} |")
    ip = report.get("in_process")
    lines += ["", "## The same work in one process (no broker, database or object store)", ""]
    if ip is None:
        lines.append("not run (--no-in-process) or failed")
    else:
        s = ip["stages"]
        lines += [
            "| step per model | p50 s | p95 s |",
            "|---|---:|---:|",
            (
                f"| background removal (4 photos, BackgroundRemover.remove) | {fmt(s['bgremoval_s']['p50'])} | "
                f"{fmt(s['bgremoval_s']['p95'])} |"
            ),
            f"| reconstruct (local) | {fmt(s['reconstruct_s']['p50'])} | {fmt(s['reconstruct_s']['p95'])} |",
            f"| export_assets | {fmt(s['export_s']['p50'])} | {fmt(s['export_s']['p95'])} |",
            f"| total | {fmt(s['total_s']['p50'])} | {fmt(s['total_s']['p95'])} |",
            "",
            (
                f"{ip['models']} models one after another in {fmt(ip['wall_s'], 1)} s: "
                f"**{fmt(ip['models_per_minute'])} models/min**; {fmt(ip['cpu_s_per_model'])} CPU s per model; "
                f"model load {fmt(ip['model_load_s'])} s; peak RSS {ip['peak_rss_mib']:.0f} MiB; load average "
                f"at its end {tuple(ip['load_average_at_end'])}."
            ),
        ]
        cmp = report["comparison"]
        lines += [
            "",
            "## Orchestration's share",
            "",
            "| per model (p50, s) | system | one process | difference |",
            "|---|---:|---:|---:|",
            (
                f"| background removal | {fmt(cmp['bgremoval_work_p50'])} | {fmt(cmp['inproc_bgremoval_p50'])} | "
                f"{fmt(cmp['bgremoval_overhead_p50'])} |"
            ),
            (
                f"| generation (reconstruct + export + storage) | {fmt(cmp['generation_work_p50'])} | "
                f"{fmt(cmp['inproc_generation_p50'])} | {fmt(cmp['generation_overhead_p50'])} |"
            ),
            (
                f"| queue waits (bgremoval + generation) | {fmt(cmp['queue_wait_p50'])} | 0 | "
                f"{fmt(cmp['queue_wait_p50'])} |"
            ),
            "",
            (
                f"Throughput: system {fmt(cmp['system_models_per_minute'])} models/min vs one process "
                f"{fmt(cmp['inproc_models_per_minute'])} models/min (ratio {fmt(cmp['throughput_ratio'])}). "
                f"CPU per model: the four services {fmt(cmp['services_cpu_s_per_model'])} s (+ servers "
                f"{fmt(cmp['infra_cpu_s_per_model'])} s) vs one process {fmt(ip['cpu_s_per_model'])} s. "
                f"Summed peak RSS of the four services {cmp['services_peak_rss_sum_mib']:.0f} MiB vs one process "
                f"{ip['peak_rss_mib']:.0f} MiB."
            ),
        ]
    lines += [
        "",
        (
            "Waiting in a topic includes the time a worker is busy with earlier models (one model at a time per "
            "worker, so with N models submitted at once the queue wait grows with N); generation's wait also "
            "includes reading the four cut-outs from S3 (GenerationStarted is published after they are read). "
            "In the system both workers run at the same time on 2 cores (bgremoval of model k+1 next to generation "
            "of model k), so each stage's work takes longer than alone; CPU seconds per model do not depend on "
            "that, nor on other work on the machine, and are the fairer comparison of the orchestration's cost."
        ),
    ]
    lines += cost_sections(report)
    if r["failed"]:
        lines += ["", "## Models that did not complete", ""]
        for m in r["failed"]:
            lines.append(f"- model {m['index']} ({m['model_id']}): {m['status']} {m['failed'] or ''}")
    return "\n".join(lines) + "\n"


def cost_sections(report: dict[str, Any]) -> list[str]:
    """The pipeline's own cost (cpu_ratio), scale-out, single-model latency and the profile."""
    lines = ["", "## The pipeline's own cost, scale-out and latency", "", report["wall_clock_note"] + "."]
    ip = report.get("in_process")
    if ip is not None and "cpu_ratio" in report:
        by_step = ", ".join(f"{k} {v:.2f} s" for k, v in ip["cpu_s_per_model_by_step"].items())
        lines += [
            "",
            (
                f"**cpu_ratio = {report['cpu_ratio']:.3f}**: the system (every service and server process) used "
                f"{report['scale_out'][next(iter(report['scale_out']))]['system_cpu_s_per_model']:.2f} CPU s per "
                f"model, the same work in one process {ip['cpu_s_per_model']:.2f} s ({by_step}; the mean of "
                "one run before and one after the system runs: "
                + ", ".join(f"{x:.2f}" for x in ip.get("cpu_s_per_model_runs", [ip["cpu_s_per_model"]]))
                + " s)."
            ),
        ]
    lines += [
        "",
        (
            "| worker processes per stage | threads each | partitions | completed | wall s | models/min | "
            "CPU s per model | cpu_ratio | of it idle (CPU s per model) | work cpu_ratio | load at end |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["scale_out"].values():
        lines.append(
            f"| {row['workers']} | {row['threads_per_worker']} | {row['partitions']} | {row['completed']} | "
            f"{fmt(row['wall_s'], 1)} | {fmt(row['models_per_minute'])} | {fmt(row['system_cpu_s_per_model'])} | "
            f"{fmt(row.get('cpu_ratio'), 3)} | {fmt(row['idle_cpu_s_per_model'])} | "
            f"{fmt(row.get('work_cpu_ratio'), 3)} | {row['load_after']} |"
        )
    first = next(iter(report["scale_out"].values()))
    idle = ", ".join(
        f"{name} {share * 100:.1f} %" for name, share in first["idle_cpu_share_of_a_core"].items()
    )
    lines += [
        "",
        (
            "Idle CPU (share of one core, every process doing nothing for "
            f"{IDLE_SAMPLE_S:.0f} s before the burst): {idle}. It is charged per second, not per model: "
            "'of it idle' is that rate times the burst's duration per model, 'work cpu_ratio' the rest over "
            "the in-process CPU."
        ),
    ]
    latency = report.get("latency")
    if latency:
        lines += [
            "",
            (
                f"Single model, one at a time (last upload answered → the page's live stream shows completed): "
                f"**p50 {fmt(latency['p50'])} s**, p95 {fmt(latency['p95'])} s, n {latency['completed']}/"
                f"{latency['models']}."
            ),
        ]
    profile = report.get("profile")
    if profile and profile["processes"]:
        lines += [
            "",
            (
                f"### Where each process's CPU went (py-spy, {profile['rate_hz']} Hz, CPU s per model; a run "
                f"of its own, {profile['models']} models through one worker per stage, "
                "so the profiler's own CPU does not weigh on the measured runs)"
            ),
            "",
        ]
        models = profile["models"]
        for name, found in profile["processes"].items():
            parts = ", ".join(
                f"{category} {seconds / models:.3f}"
                for category, seconds in found["cpu_s_by_category"].items()
            )
            lines.append(f"- **{name}** ({found['sampled_cpu_s'] / models:.3f} s sampled): {parts}")
    return lines


def comparison(
    system: dict[str, Any], in_process: dict[str, Any], memory: dict[str, Any], services: list[str]
) -> dict[str, Any]:
    st, ip = system["stages"], in_process["stages"]
    gen_inproc = [r["reconstruct_s"] + r["export_s"] for r in in_process["per_model"]]
    gen_inproc_p50 = summary(gen_inproc)["p50"]
    waits = [
        (m["bgremoval_wait"] or 0) + (m["generation_wait"] or 0)
        for m in system["per_model"]
        if m["bgremoval_wait"] is not None
    ]

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a - b

    return {
        "bgremoval_work_p50": st["bgremoval_work"]["p50"],
        "inproc_bgremoval_p50": ip["bgremoval_s"]["p50"],
        "bgremoval_overhead_p50": diff(st["bgremoval_work"]["p50"], ip["bgremoval_s"]["p50"]),
        "generation_work_p50": st["generation_work"]["p50"],
        "inproc_generation_p50": gen_inproc_p50,
        "generation_overhead_p50": diff(st["generation_work"]["p50"], gen_inproc_p50),
        "queue_wait_p50": summary(waits)["p50"],
        "system_models_per_minute": system["models_per_minute"],
        "inproc_models_per_minute": in_process["models_per_minute"],
        "throughput_ratio": (
            system["models_per_minute"] / in_process["models_per_minute"]
            if system["models_per_minute"]
            else None
        ),
        "services_peak_rss_sum_mib": sum(memory["peak_mib"].get(s, 0.0) for s in services),
        "services_cpu_s_per_model": sum(memory["cpu_s"].get(s, 0.0) for s in services) / in_process["models"],
        "infra_cpu_s_per_model": sum(v for k, v in memory["cpu_s"].items() if k not in services)
        / in_process["models"],
    }


# --- main ---------------------------------------------------------------------------------------------
def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="End-to-end benchmark on the live local system (all four services on real "
        "Postgres, Kafka and S3), against the same work in one process."
    )
    parser.add_argument("--models", type=int, default=10, help="models submitted at once (default 10)")
    parser.add_argument(
        "--quick", action="store_true", help=f"a smoke run: {QUICK_MODELS} models, 2 for the latency"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="worker processes per stage, one system run each (default: 1 2); threads per process = "
        "cores / N",
    )
    parser.add_argument(
        "--latency-models", type=int, default=5, help="models run one at a time for the single-model p50"
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"py-spy every process in a run of its own after the measured ones ({PROFILE_MODELS} models, one "
        "worker per stage; default on)",
    )
    parser.add_argument("--size", type=parse_size, default=(1600, 1200), help="photo size WxH (1600x1200)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the services and the one-process run, e.g. "
        "--set GENERATION_LOCAL_VOXEL_RESOLUTION=96 (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="give up waiting after this many s")
    parser.add_argument("--no-in-process", action="store_true", help="skip the one-process comparison")
    parser.add_argument("--in-process-child", nargs=2, metavar=("PHOTO_DIR", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.in_process_child:
        print(json.dumps(in_process_child(Path(args.in_process_child[0]), int(args.in_process_child[1]))))
        return 0

    count = QUICK_MODELS if args.quick else args.models
    latency_count = 2 if args.quick else args.latency_models
    overrides = dict(item.split("=", 1) for item in args.overrides)
    from photo3d_bgremoval import model_files

    model_files.install(MODEL_DIR)
    print(f"-- photos: {count} models × 4 views at {args.size[0]}x{args.size[1]}", flush=True)
    photo_dir = photo_set(count + latency_count, args.size)
    photos = load_photos(photo_dir, count + latency_count)
    load_before = tuple(round(x, 2) for x in os.getloadavg())

    child_env = {
        "BGREMOVAL_MODEL_DIR": str(MODEL_DIR),
        "BGREMOVAL_NUMBA_CACHE_DIR": str(NUMBA_CACHE_DIR),
        "NUMBA_CACHE_DIR": str(NUMBA_CACHE_DIR),
        "ORT_DISABLE_TELEMETRY": "1",
        **thread_env(1),
        **overrides,
    }
    # the one-process run before and after the system's: this host's speed drifts by 10-25 % within
    # minutes (the same single-threaded work measured again), and a ratio of two runs taken apart in time
    # carries that drift; their mean brackets the system runs
    in_process_runs: list[dict[str, Any]] = []
    if not args.no_in_process:
        print(f"-- the same work in one process, before the system runs ({count} models) ...", flush=True)
        before = run_in_process(photo_dir, count, child_env)
        if before is not None:
            in_process_runs.append(before)

    runs: dict[int, dict[str, Any]] = {}
    for workers in args.workers:
        runs[workers] = run_system(
            workers,
            photos[:count],
            photos[count:] if workers == args.workers[0] else [],
            overrides=overrides,
            timeout=args.timeout,
            profile=False,
        )
    primary = runs[args.workers[0]]
    load_after = primary["load_after"]

    in_process = None
    if not args.no_in_process:
        print(f"-- the same work in one process, after the system runs ({count} models) ...", flush=True)
        after = run_in_process(photo_dir, count, child_env)
        if after is not None:
            in_process_runs.append(after)
        in_process = bracketing(in_process_runs) if len(in_process_runs) == 2 else None

    profile_report = None
    if args.profile:
        # its own run: py-spy takes about one core of two while it samples the seven processes, which
        # would slow and skew the measured runs (throughput, CPU per model) by far more than it explains
        profiled_models = min(count, PROFILE_MODELS)
        print(f"-- profiling: {profiled_models} models through one worker per stage, py-spy on", flush=True)
        profiled = run_system(
            1, photos[:profiled_models], [], overrides=overrides, timeout=args.timeout, profile=True
        )
        if profiled["profile"] is not None:
            profile_report = {**profiled["profile"], "models": profiled_models}

    report: dict[str, Any] = {
        "date": now_utc(),
        "machine": machine(),
        "load_before": load_before,
        "load_after": load_after,
        "wall_clock_note": (
            "wall-clock numbers (throughput, latency) were taken on a shared machine under the load shown; "
            "CPU seconds per model (cpu_ratio) are the comparison that other work sways least"
        ),
        "models": count,
        "photo_size": f"{args.size[0]}x{args.size[1]}",
        "overrides": overrides,
        "settings_note": (
            "default settings"
            if not overrides
            else "default settings except " + ", ".join(f"{k}={v}" for k, v in overrides.items())
        ),
        "system": primary["system"],
        "memory": primary["memory"],
        "latency": primary["latency"],
        "profile": profile_report,
        "in_process": in_process,
        "scale_out": {
            str(workers): {
                "workers": workers,
                "threads_per_worker": run["threads_per_worker"],
                "partitions": run["partitions"],
                "completed": run["system"]["completed"],
                "wall_s": run["system"]["wall_s"],
                "models_per_minute": run["system"]["models_per_minute"],
                "system_cpu_s_per_model": run["cpu_s_per_model"],
                "idle_cpu_s_per_model": run["idle_cpu_s_per_model"],
                "work_cpu_s_per_model": run["work_cpu_s_per_model"],
                "idle_cpu_share_of_a_core": run["idle_cpu_share_of_a_core"],
                "load_after": run["load_after"],
            }
            for workers, run in runs.items()
        },
    }
    if in_process is not None:
        report["comparison"] = comparison(
            primary["system"], in_process, primary["memory"], primary["services"]
        )
        report["cpu_ratio"] = primary["cpu_s_per_model"] / in_process["cpu_s_per_model"]
        for workers, run in runs.items():
            entry = report["scale_out"][str(workers)]
            entry["cpu_ratio"] = run["cpu_s_per_model"] / in_process["cpu_s_per_model"]
            entry["work_cpu_ratio"] = run["work_cpu_s_per_model"] / in_process["cpu_s_per_model"]
        report["work_cpu_ratio"] = report["scale_out"][str(args.workers[0])]["work_cpu_ratio"]
    text = markdown(report)
    json_path, md_path = write_results("e2e", report, text)
    print(text)
    print(f"results: {md_path.relative_to(REPO_ROOT)}, {json_path.relative_to(REPO_ROOT)}")
    ran = all(run["system"]["completed"] == count for run in runs.values())
    return 0 if ran and (in_process is not None or args.no_in_process) else 1


def thread_env(workers: int) -> dict[str, str]:
    """ONNX and PNG threads per worker process, so that workers x threads <= cores: each
    bgremoval process computes ``threads`` masks at once, one onnxruntime thread each (its default on
    the whole machine)."""
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    # numpy's and SciPy's BLAS: one thread per worker process, the workers' default (BLAS_THREADS)
    return {
        "BGREMOVAL_WORKERS": threads,
        "BGREMOVAL_INTRA_OP_THREADS": "1",
        "BGREMOVAL_PNG_THREADS": threads,
    }


def run_system(
    workers: int,
    photos: list[dict[str, bytes]],
    latency_photos: list[dict[str, bytes]],
    *,
    overrides: dict[str, str],
    timeout: float,
    profile: bool,
) -> dict[str, Any]:
    """The live system with ``workers`` processes of bgremoval and of generation: the burst of
    ``photos`` (CPU and memory sampled, optionally profiled), then ``latency_photos`` one at a time."""

    count = len(photos)
    partitions = max(3, workers)  # a consumer group spreads over partitions: at least one per worker
    print(
        f"-- {workers} worker process(es) per stage: starting Postgres, Kafka (Tansu), S3 (SeaweedFS) and "
        "the services ...",
        flush=True,
    )
    services = ServiceProcesses(f"e2e-w{workers}")
    profile_report = None
    with LocalInfra(name=f"e2e-w{workers}") as infra:
        addresses = ServiceAddresses.free()
        status_port, upload_port = addresses.status_port, addresses.upload_port
        status_url, upload_url = addresses.status_url, addresses.upload_url
        env = {**addresses.env(infra.env), "KAFKA_PARTITIONS": str(partitions), **overrides}
        worker_env = {**env, **thread_env(workers), **overrides}
        try:
            services.start("photo3d_status", env, port=status_port)
            services.start("photo3d_upload", env, port=upload_port)
            for stage in ("bgremoval", "generation"):
                for i in range(1, workers + 1):
                    name = stage if workers == 1 else f"{stage}-{i}"
                    services.start(f"photo3d_{stage}", worker_env, ready_line=READY_LINE, name=name)
            wait_healthy(status_url, upload_url)
            if workers > 1:
                time.sleep(2 * KAFKA_SESSION_TIMEOUT_MS / 1000)  # let the groups settle on their partitions
            pids = {**services.pids(), **infra.pids}
            print(f"-- idle: {IDLE_SAMPLE_S:.0f} s of every process doing nothing", flush=True)
            with TreeMemorySampler(pids, interval=0.5) as idle_sampler:
                time.sleep(IDLE_SAMPLE_S)
            idle_cpu_per_s = {name: cpu / IDLE_SAMPLE_S for name, cpu in idle_sampler.cpu_seconds().items()}
            print(f"-- running: submitting {count} models at once", flush=True)
            profiler = Profiler(pids, LOG_DIR / f"profile-w{workers}") if profile else None
            burst_started = time.monotonic()
            with TreeMemorySampler(pids, interval=0.2) as sampler, profiler or contextlib.nullcontext():
                run = asyncio.run(
                    submit_and_follow(status_url, upload_url, photos, timeout, one_by_one=False)
                )
                time.sleep(1.0)  # the last ModelStatusChanged is published right after the status changes
                load_after = tuple(round(x, 2) for x in os.getloadavg())
            burst_ended = time.monotonic()
            if profiler is not None:
                profile_report = profiler.report()
            latency = None
            if latency_photos:
                print(f"-- single-model latency: {len(latency_photos)} models one after another", flush=True)
                latency_run = asyncio.run(
                    submit_and_follow(status_url, upload_url, latency_photos, timeout, one_by_one=True)
                )
                latency = single_model_latency(latency_run)
            print("-- reading every event of the run back from Kafka ...", flush=True)
            events = asyncio.run(
                read_all_events(infra.env["KAFKA_BOOTSTRAP_SERVERS"], infra.env["KAFKA_TOPIC_PREFIX"])
            )
        finally:
            services.stop_all()
    memory = {
        "idle_mib": sampler.first,
        "peak_mib": sampler.peak,
        "samples": sampler.samples,
        "cpu_s": sampler.cpu_seconds(),
    }
    system = analyse(events, run)
    print(f"   {system['completed']}/{count} completed; {system['events_read']} events read", flush=True)
    burst_s = burst_ended - burst_started
    cpu_total = sum(memory["cpu_s"].values())
    idle_total = sum(idle_cpu_per_s.values()) * burst_s
    return {
        "idle_cpu_share_of_a_core": {name: round(v, 4) for name, v in idle_cpu_per_s.items()},
        # what the processes burn doing nothing (consumer fetch polls, heartbeats, servers' own loops),
        # charged by the time the burst took: on a loaded machine a run takes longer, so it grows
        "idle_cpu_s_per_model": idle_total / count,
        "work_cpu_s_per_model": (cpu_total - idle_total) / count,
        "system": system,
        "memory": memory,
        "latency": latency,
        "profile": profile_report,
        "load_after": load_after,
        "threads_per_worker": int(thread_env(workers)["BGREMOVAL_WORKERS"]),
        "partitions": partitions,
        "services": [name for name in memory["cpu_s"] if name not in infra.pids],
        "cpu_s_per_model": sum(memory["cpu_s"].values()) / count,
    }


def single_model_latency(run: dict[str, Any]) -> dict[str, Any]:
    """Last upload answered -> the client sees ``completed`` (SSE), one model at a time."""
    spans = [
        m["seen_terminal_at"] - m["uploads_done_at"]
        for m in run["models"]
        if m["seen_terminal_at"] is not None and run["final"][m["model_id"]]["status"] == "completed"
    ]
    return {**summary(spans), "models": len(run["models"]), "completed": len(spans), "spans_s": spans}


if __name__ == "__main__":
    raise SystemExit(main())

"""Requests per model: every S3 call, Postgres statement and Kafka message each service makes for one model
going through the whole pipeline (issue 13: the pipeline's own cost). Counts, not timings: they do not
depend on the machine's load, so they are the measure of redundant round trips.

    .venv/bin/python bench/requests/run.py            # 2 models, one after another
    .venv/bin/python bench/requests/run.py --models 3 --size 800x600

Starts the real infrastructure (Postgres, Tansu, SeaweedFS; bench/common.LocalInfra) and the four services
as processes, each through ``bench/requests/counted.py``, which counts the client libraries' calls from
outside. For each model: create it over HTTP, upload its four photos one after another, wait (reading
Postgres from this process, which is not counted) until it is completed, wait until no counter moves, and
take the difference. The outbox sweeper and the watchdog are set to an hour, so what is left is what the
model costs (their rounds are a cost per second, not per model). Results: bench/results/requests.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import (
    LocalInfra,
    ServiceAddresses,
    ServiceProcesses,
    machine,
    now_utc,
    wait_healthy,
    write_results,
)
from bench.e2e.run import READY_LINE, load_photos, parse_size, photo_set

SERVICES = ("status", "upload", "bgremoval", "generation")
COUNTED = Path(__file__).resolve().parent / "counted.py"
TERMINAL = {"completed", "failed"}


def read_counts(folder: Path) -> dict[str, dict[str, int]]:
    counts = {}
    for service in SERVICES:
        path = folder / f"{service}.json"
        counts[service] = json.loads(path.read_text()) if path.is_file() else {}
    return counts


def difference(
    after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    return {
        service: {
            label: n - before[service].get(label, 0)
            for label, n in sorted(after[service].items())
            if n - before[service].get(label, 0)
        }
        for service in SERVICES
    }


def settle(folder: Path, quiet_s: float = 2.0, timeout_s: float = 30.0) -> dict[str, dict[str, int]]:
    """The counts once none moved for ``quiet_s``."""
    last, since = read_counts(folder), time.monotonic()
    deadline = since + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = read_counts(folder)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    return last


async def one_model(
    status_url: str, upload_url: str, database_url: str, token: str, views: dict[str, bytes]
) -> str:
    import asyncpg
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=120, headers=headers) as http:
        response = await http.post(f"{status_url}/api/models", json={"name": "counted"})
        response.raise_for_status()
        model_id = response.json()["id"]
        for view, data in views.items():
            answer = await http.post(
                f"{upload_url}/api/upload-photo",
                data={"model_id": model_id, "view": view},
                files={"file": (f"{view}.jpg", data, "image/jpeg")},
            )
            if answer.status_code != 201:
                raise RuntimeError(f"upload of {view} answered {answer.status_code}: {answer.text}")
    connection = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = await connection.fetchval("SELECT status::text FROM models WHERE id = $1", model_id)
            if status in TERMINAL:
                if status != "completed":
                    raise RuntimeError(f"model {model_id} ended {status}")
                return str(model_id)
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    raise TimeoutError(f"model {model_id} did not complete")


def totals(per_service: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for label, n in per_service.items():
        kind = label.split(" ", 1)[0]
        out[kind] = out.get(kind, 0) + n
    transactions = per_service.get("sql BEGIN", 0)
    if transactions:
        out["sql transactions"] = transactions
    return out


def markdown(report: dict[str, Any]) -> str:
    per_model = report["per_model"]
    lines = [
        f"# Requests per model ({report['when']}, {report['models']} models, photos {report['size']})",
        "",
        f"Identical for every model: {report['deterministic']}",
        "",
        "| service | request | per model |",
        "|---|---|---:|",
    ]
    for service in SERVICES:
        for label, n in per_model[service].items():
            lines.append(f"| {service} | {label} | {n} |")
    lines += [
        "",
        "| service | S3 requests | SQL statements | transactions | Kafka messages |",
        "|---|---:|---:|---:|---:|",
    ]
    for service in SERVICES:
        t = totals(per_model[service])
        lines.append(
            f"| {service} | {t.get('s3', 0)} | {t.get('sql', 0)} | {t.get('sql transactions', 0)} | {t.get('kafka', 0)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--size", type=parse_size, default=(1600, 1200))
    parser.add_argument("--no-write", action="store_true", help="print only, write no bench/results files")
    parser.add_argument("--quick", action="store_true", help="smoke run for make bench --quick: 2 models")
    args = parser.parse_args(argv)
    if args.quick:
        args.models = min(args.models, 2)
    photos = load_photos(photo_set(args.models, args.size), args.models)
    counts_dir = Path(tempfile.mkdtemp(prefix="photo3d-requests-"))
    services = ServiceProcesses("requests")
    with LocalInfra(name="requests") as infra:
        addresses = ServiceAddresses.free()
        status_port, upload_port = addresses.status_port, addresses.upload_port
        status_url, upload_url = addresses.status_url, addresses.upload_url
        env = {
            **addresses.env(infra.env),
            # rounds per second, not per model: out of the way of the count
            "STATUS_OUTBOX_SWEEP_S": "3600",
            "STATUS_WATCHDOG_INTERVAL_S": "3600",
        }

        def start(service: str, **ready: Any) -> None:
            services.start(
                f"photo3d_{service}",
                {**env, "PHOTO3D_COUNT_FILE": str(counts_dir / f"{service}.json")},
                command=[sys.executable, str(COUNTED), f"photo3d_{service}"],
                **ready,
            )

        try:
            start("status", port=status_port)
            start("upload", port=upload_port)
            start("bgremoval", ready_line=READY_LINE)
            start("generation", ready_line=READY_LINE)
            wait_healthy(status_url, upload_url)
            import httpx

            token = httpx.post(f"{status_url}/api/dev/token", json={"user": "counted"}, timeout=10).json()[
                "token"
            ]
            idle_before = settle(counts_dir)
            time.sleep(3.0)
            idle = difference(read_counts(counts_dir), idle_before)
            runs = []
            for i, views in enumerate(photos, start=1):
                before = settle(counts_dir)
                model_id = asyncio.run(
                    one_model(status_url, upload_url, infra.env["DATABASE_URL"], token, views)
                )
                runs.append(difference(settle(counts_dir), before))
                print(f"   model {i}/{len(photos)} ({model_id}) counted", flush=True)
        finally:
            services.stop_all()
    deterministic = all(run == runs[0] for run in runs)
    report = {
        "when": now_utc(),
        "machine": machine(),
        "models": len(runs),
        "size": f"{args.size[0]}x{args.size[1]}",
        "deterministic": deterministic,
        "idle_3s": idle,
        "per_model": runs[0],
        "runs": runs,
        "totals": {service: totals(runs[0][service]) for service in SERVICES},
    }
    text = markdown(report)
    print(text)
    if not deterministic:
        for service in SERVICES:
            labels = sorted({label for run in runs for label in run[service]})
            for label in labels:
                seen = [run[service].get(label, 0) for run in runs]
                if len(set(seen)) > 1:
                    print(f"   differs between models: {service} {label}: {seen}", flush=True)
    if not args.no_write:
        for path in write_results("requests", report, text):
            print(f"   {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

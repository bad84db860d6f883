"""What the consumers' fetch wait costs on the local broker (Tansu): idle CPU against delivery latency.

    uv run python bench/broker/run.py [--quick]

Every consumer of the system long-polls the broker with ``KAFKA_FETCH_MAX_WAIT_MS`` (500 ms by default);
the idle cost of the whole stack is mostly those polls. For each wait this starts a fresh Tansu (in
memory, as ``make run`` and ``bench/e2e`` do) and measures, with the system's shape of consumers (one
reading the seven status topics, one per worker service reading its two trigger topics, three partitions
per topic; docs/adr/0010):

- **idle**: the broker's CPU (psutil, user + system) and the consumers' own, as a share of one core,
  while nothing is produced;
- **delivery**: a message produced at a random moment, until the consumer of the seven topics has it
  (what the status service's apply lag and a worker's pick-up wait on). Apache Kafka answers a waiting
  fetch as soon as a message arrives, so there the wait costs no latency; this shows what Tansu does.

Results: ``bench/results/broker.md`` and ``.json``. Benchmarks report; they never fail on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import LocalInfra, fmt, machine, now_utc, summary, write_results

TOPICS = [f"bench.topic-{index}" for index in range(7)]
WORKER_CONSUMERS = 2  # bgremoval and generation: one consumer over two topics each (ADR 0010)


def process_cpu_s(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def measure(
    bootstrap: str, broker_pid: int, wait_ms: int, idle_s: float, messages: int
) -> dict[str, Any]:
    import psutil
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 3, 1) for topic in TOPICS])
    await admin.close()

    def consumer(topics: list[str], group: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=group,
            fetch_max_wait_ms=wait_ms,
            auto_offset_reset="latest",
        )

    everything = consumer(TOPICS, "bench-all")
    singles = [
        consumer(TOPICS[2 * index : 2 * index + 2], f"bench-worker-{index}")
        for index in range(WORKER_CONSUMERS)
    ]
    for member in (everything, *singles):
        await member.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)  # Tansu refuses it
    await producer.start()
    waiting = [asyncio.create_task(member.getmany(timeout_ms=3_600_000)) for member in singles]
    try:
        await asyncio.sleep(3)  # joins and first fetches done
        me = psutil.Process()
        broker_before, clients_before = process_cpu_s(broker_pid), sum(me.cpu_times()[:2])
        await asyncio.sleep(idle_s)
        broker_idle = (process_cpu_s(broker_pid) - broker_before) / idle_s
        clients_idle = (sum(me.cpu_times()[:2]) - clients_before) / idle_s

        delivery: list[float] = []
        rng = random.Random(wait_ms)
        for index in range(messages):
            await asyncio.sleep(rng.uniform(0.2, 1.2))  # a random moment of the consumer's wait
            sent = time.perf_counter()
            await producer.send_and_wait(TOPICS[index % len(TOPICS)], b"{}", key=str(index).encode())
            await everything.getone()
            delivery.append(time.perf_counter() - sent)
    finally:
        for task in waiting:
            task.cancel()
        await producer.stop()
        for member in (everything, *singles):
            await member.stop()
    return {
        "fetch_max_wait_ms": wait_ms,
        "broker_idle_core_share": broker_idle,
        "consumers_idle_core_share": clients_idle,
        "delivery_s": summary(delivery),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Broker: the consumers' fetch wait, idle CPU against delivery latency (Tansu)",
        "",
        (
            f"{report['machine']} · {report['date']} · {report['consumers']} consumers (one of 7 topics, "
            f"{WORKER_CONSUMERS} of two topics), idle {report['idle_s']:g} s, {report['messages']} messages"
        ),
        "",
        "| fetch wait ms | broker idle, % of a core | consumers idle, % of a core | delivery p50 s | p95 s | max s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["runs"]:
        d = row["delivery_s"]
        lines.append(
            f"| {row['fetch_max_wait_ms']} | {fmt(100 * row['broker_idle_core_share'])} | "
            f"{fmt(100 * row['consumers_idle_core_share'])} | {fmt(d['p50'], 3)} | {fmt(d['p95'], 3)} | "
            f"{fmt(d['max'], 3)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two waits, shorter idle, fewer messages")
    parser.add_argument("--waits", type=int, nargs="+", help="fetch waits to measure, ms")
    args = parser.parse_args(argv)
    waits = args.waits or ([500, 2000] if args.quick else [250, 500, 2000, 5000])
    idle_s, messages = (8.0, 6) if args.quick else (15.0, 12)

    runs = []
    for wait_ms in waits:
        with LocalInfra(postgres=False, kafka=True, name=f"broker-{wait_ms}") as infra:
            bootstrap = infra.env["KAFKA_BOOTSTRAP_SERVERS"]
            run = asyncio.run(measure(bootstrap, infra.pids["kafka (tansu)"], wait_ms, idle_s, messages))
        runs.append(run)
        print(
            f"-- fetch wait {wait_ms} ms: broker idle {100 * run['broker_idle_core_share']:.2f} % of a core, "
            f"delivery p50 {run['delivery_s']['p50']:.3f} s",
            flush=True,
        )
    report = {
        "date": now_utc(),
        "machine": machine(),
        "consumers": 1 + WORKER_CONSUMERS,
        "idle_s": idle_s,
        "messages": messages,
        "runs": runs,
    }
    json_path, md_path = write_results("broker", report, markdown(report))
    print(markdown(report))
    print(f"results: {md_path}, {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

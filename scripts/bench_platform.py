"""Platform figures: stack start time, HTTP round trip through the emulated gateway, Kafka record → invocation.

    .venv/bin/python scripts/bench_platform.py [--requests 300] [--records 100]

Starts its own stack on free ports. Each figure is printed with a baseline measured in the same
process: the health handler called in-process (no gateway, no worker process) for HTTP, and a plain
kafka-python consumer reading the same broker for Kafka.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "localstack"))

from devstack.bootstrap import ensure_topics  # noqa: E402
from devstack.supervisor import PASSTHROUGH  # noqa: E402
from devstack.testing import RuntimeHarness, start_stack, wait_for  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def show(name: str, values: list[float], baseline: list[float] | None = None) -> None:
    line = f"{name:<44} p50 {pct(values, 50):7.2f} ms   p99 {pct(values, 99):7.2f} ms   n={len(values)}"
    if baseline:
        line += f"   (baseline p50 {pct(baseline, 50):.2f} ms, ratio x{pct(values, 50) / pct(baseline, 50):.1f})"
    print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--records", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")

    started = time.perf_counter()
    stack = start_stack()
    try:
        print(f"stack ready in {time.perf_counter() - started:.1f} s wall "
              f"(supervisor: {stack.state()['startupSeconds']} s from launch to serving)", flush=True)
        for _ in range(10):
            stack.http("GET", "/api/health")
        gateway = []
        for _ in range(args.requests):
            t = time.perf_counter()
            r = stack.http("GET", "/api/health")
            gateway.append((time.perf_counter() - t) * 1000)
            assert r.status == 200
        os.environ.update(stack.env)
        sys.path[:0] = [str(ROOT / "functions" / "platform")]
        import health

        event = json.loads((ROOT / "events" / "platform-health.json").read_text())
        direct = []
        for _ in range(args.requests):
            t = time.perf_counter()
            health.handler(event, None)
            direct.append((time.perf_counter() - t) * 1000)
        show("GET /api/health through the gateway", gateway, direct)

        topic = "bench.records"
        ensure_topics(stack.kafka_bootstrap, [topic, "bench.filtered", "bench.tokafka", "bench.dlq"])
        env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ} | stack.env
        params = {"MongoDbUri": stack.mongodb_uri, "TopicPrefix": "bench", "RecordCollection": "bench_records",
                  "MskClusterArn": stack.msk_cluster_arn}
        producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", linger_ms=0,
                                 enable_idempotence=False)
        with RuntimeHarness(ROOT / "tests" / "runtime_fixture" / "template.yaml", parameters=params,
                            function_env=env, kafka_bootstrap=stack.kafka_bootstrap,
                            aws_endpoint_url=stack.aws_endpoint_url):
            coll = stack.db()["bench_records"]
            warm = uuid.uuid4().hex
            producer.send(topic, value=warm.encode(), partition=0).get(10)
            wait_for(lambda: coll.count_documents({}) >= 1, timeout=60, message="warm-up invocation")
            coll.delete_many({})
            for i in range(args.records):
                producer.send(topic, value=f"lat-{i}".encode(), partition=i % 3).get(10)
                time.sleep(0.05)
            wait_for(lambda: sum(d["count"] for d in coll.find({})) >= args.records, timeout=120,
                     message="all invocations")
            kafka_latency = []
            for doc in coll.find({}):
                event = json.loads(doc["event"])
                for records in event["records"].values():
                    for r in records:
                        kafka_latency.append((doc["receivedAt"] - r["timestamp"] / 1000) * 1000)
        consumer = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False,
                                 fetch_max_wait_ms=500)
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_end(tp)
        consumer.position(tp)  # resolve the end now, before producing
        plain = []
        for i in range(args.records):
            wanted = f"plain-{i}".encode()
            producer.send(topic, value=wanted, partition=0).get(10)
            deadline = time.monotonic() + 10
            found = False
            while not found and time.monotonic() < deadline:
                for rs in consumer.poll(timeout_ms=200).values():
                    for r in rs:
                        if r.value == wanted:
                            plain.append(time.time() * 1000 - r.timestamp)
                            found = True
        consumer.close()
        show("Kafka record → function invocation", kafka_latency, plain)
        producer.close()
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

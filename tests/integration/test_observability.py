"""Seeing and steering the event flow on the real local stack: logs, trace, timeline, status, lag, DLQ redrive."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from kafka import KafkaProducer

from devstack import dlq, status
from devstack.bootstrap import ensure_topics
from devstack.lag import LagReader
from devstack.lambda_runtime import CODE_SCAN_INTERVAL
from devstack.metrics import RuntimeMetrics
from devstack.supervisor import PASSTHROUGH
from devstack.testing import RuntimeHarness, Stack, wait_for

pytestmark = pytest.mark.stack

ADDRESS = {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "country": "NO"}
FIXTURE = Path(__file__).resolve().parents[1] / "runtime_fixture"
PREFIX = "obs"
COLLECTION = "obs_records"
DLQ = "runtime-flaky-dlq"
FLOW_TIMEOUT = 60.0
WAIT = 90.0  # an upper bound only: the whole team's tests share one 2-core machine (load average 30-50 seen)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def order_doc(stack: Stack, order_id: str) -> dict[str, Any]:
    doc = stack.db()["orders"].find_one({"_id": order_id})
    assert doc is not None
    return doc


@pytest.fixture(scope="module")
def story(stack: Stack) -> dict[str, str]:
    """One order placed with a known correlation id, paid, then cancelled by its owner and refunded."""
    token = stack.customer_token("obs")
    product = str(stack.new_product(stock=10)["id"])
    correlation_id = f"obs-{uuid.uuid4().hex[:12]}"
    r = stack.http("POST", "/api/orders", token=token, json_body={
        "items": [{"productId": product, "quantity": 1}], "shippingAddress": ADDRESS},
        headers={"X-Correlation-Id": correlation_id, "Idempotency-Key": uuid.uuid4().hex})
    assert r.status == 201, r
    order_id = str(r.json["id"])
    wait_for(lambda: order_doc(stack, order_id)["status"] == "paid", timeout=FLOW_TIMEOUT, message="paid")
    r = stack.http("POST", f"/api/orders/{order_id}/cancel", token=token, json_body={"reason": "changed my mind"})
    assert r.status == 200, r
    wait_for(lambda: order_doc(stack, order_id)["paymentStatus"] == "refunded", timeout=FLOW_TIMEOUT,
             message="refunded")
    return {"order": order_id, "correlation": correlation_id, "token": token, "product": product}


def test_a_consumer_log_line_carries_the_correlation_id_of_the_http_request(stack: Stack,
                                                                           story: dict[str, str]) -> None:
    """`logs --correlation-id` finds the gateway's request, the handler's lines and a Kafka consumer's, all JSON."""
    def lines() -> list[dict[str, Any]] | None:
        out = json_lines(stack.cli("logs", "--correlation-id", story["correlation"]).stdout)
        return out if {"gateway", "CreateOrderFunction", "ChargePaymentFunction"} <= {x["source"] for x in out} \
            else None

    found = wait_for(lines, timeout=WAIT, interval=0.5, message="log lines of the request's correlation id")
    charge = [x for x in found if x["source"] == "ChargePaymentFunction"]
    assert charge and all(x["correlation_id"] == story["correlation"] for x in charge)
    consumed = next(x for x in charge if x["message"] == "event consumed")
    assert consumed["function_name"] == "ChargePaymentFunction" and consumed["service"] == "shop"
    assert consumed["eventType"] == "order.created" and consumed["key"] == story["order"]
    assert consumed["function_request_id"] and isinstance(consumed["cold_start"], bool)
    request = next(x for x in found if x["source"] == "gateway")
    assert (request["method"], request["path"], request["status"]) == ("POST", "/api/orders", 201)
    only_charge = json_lines(stack.cli("logs", "ChargePayment", "--since", "10m", "--filter",
                                      story["order"]).stdout)
    assert only_charge and {x["source"] for x in only_charge} == {"ChargePaymentFunction"}


def test_trace_of_a_paid_then_cancelled_order_lists_every_hop_in_order(stack: Stack, story: dict[str, str]) -> None:
    """Both requests, every event published with its offset, every consuming invocation, in time order."""
    def complete() -> dict[str, Any] | None:
        result = stack.cli("trace", story["order"], "--json")
        body = json.loads(result.stdout) if result.stdout.startswith("{") else None
        return body if body and not body["stopped"] else None

    body = wait_for(complete, timeout=WAIT, interval=0.5, message="a trace with nothing left unconsumed")
    hops = body["hops"]
    assert story["correlation"] in body["correlationIds"]

    def first(kind: str, needle: str) -> int:
        return next(i for i, h in enumerate(hops) if h["kind"] == kind and needle in h["text"])

    created = first("http", "POST /api/orders → 201")
    published_created = first("published", "published order.created")
    reserve = first("invoked", "ReserveStockFunction consumed order.created")
    charge = first("invoked", "ChargePaymentFunction consumed order.created")
    paid_event = first("published", "published payment.succeeded")
    saga_paid = first("invoked", "OrderSagaFunction consumed payment.succeeded")
    cancel = first("http", f"POST /api/orders/{story['order']}/cancel → 200")
    published_cancelled = first("published", "published order.cancelled")
    refund = first("invoked", "RefundPaymentFunction consumed order.cancelled")
    release = first("invoked", "ReleaseStockFunction consumed order.cancelled")
    refunded_event = first("published", "published payment.refunded")
    saga_refunded = first("invoked", "OrderSagaFunction consumed payment.refunded")
    assert created == 0
    assert created < published_created < min(reserve, charge)
    assert charge < paid_event < saga_paid < cancel < published_cancelled < min(refund, release)
    assert refund < refunded_event < saga_refunded
    assert hops[published_created]["topic"] == "order.created" and isinstance(hops[published_created]["offset"], int)
    assert all(hops[i]["outcome"] == "ok" for i in (reserve, charge, saga_paid, refund, release, saga_refunded))
    ats = [h["at"] for h in hops]
    assert ats == sorted(ats) and all(h["sincePreviousMs"] >= 0 for h in hops[1:])
    text = stack.cli("trace", story["order"]).stdout
    assert "every event reached every subscribed function" in text and " ms  " in text


def test_the_timeline_endpoint_serves_owner_and_admin_only(stack: Stack, story: dict[str, str]) -> None:
    """GET /api/orders/{id}/timeline: the business events in time order; another customer gets 404."""
    r = stack.http("GET", f"/api/orders/{story['order']}/timeline", token=story["token"])
    assert r.status == 200, r
    types = [e["type"] for e in r.json]
    assert types[0] == "order.created" and "payment.succeeded" in types and "order.cancelled" in types
    assert types.index("payment.succeeded") < types.index("order.cancelled") < types.index("payment.refunded")
    assert all(set(e) == {"type", "at", "data"} for e in r.json)
    assert [e["at"] for e in r.json] == sorted(e["at"] for e in r.json)
    assert story["correlation"] not in r.body.decode() and "buyerId" not in r.body.decode()
    assert stack.http("GET", f"/api/orders/{story['order']}/timeline", token=stack.customer_token("obs-other")
                      ).status == 404
    admin = stack.http("GET", f"/api/orders/{story['order']}/timeline", token=stack.admin_token())
    assert admin.status == 200 and admin.json == r.json
    assert "history" not in stack.http("GET", f"/api/orders/{story['order']}", token=story["token"]).json
    assert stack.http("GET", f"/api/orders/{story['order']}/timeline?x=1", token=story["token"]).status == 400


def test_status_shows_every_mapping_and_the_relay(stack: Stack, story: dict[str, str]) -> None:
    """`status --json` reads both Prometheus pages: state, invocations, lag per partition; relay connections."""
    result = stack.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    rows = {f"{m['function']}/{m['mapping']}": m for m in body["mappings"]}
    charge = rows["ChargePaymentFunction/OrderCreated"]
    assert charge["state"] == "Enabled" and charge["invocations"] >= 1 and charge["consumerGroup"]
    assert set(charge["lagByPartition"]) == {"order.created-0", "order.created-1", "order.created-2"}
    assert body["relay"] is not None and body["relay"]["connections"] >= 0 and body["relay"]["lagByPartition"]


# --- a failing function: lag, DLQ, redrive (the runtime's purpose-built template) -------------------------------


@pytest.fixture(scope="module")
def flaky(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeHarness]:
    """The fixture template from a copy of its folder, so a test can fix the function's code as a deploy would."""
    app_dir = tmp_path_factory.mktemp("flaky-app")
    shutil.copytree(FIXTURE, app_dir, dirs_exist_ok=True)
    ensure_topics(stack.kafka_bootstrap, [f"{PREFIX}.flaky", f"{PREFIX}.poison"])
    boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1").create_queue(QueueName=DLQ)
    env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ} | stack.env
    params = {"MongoDbUri": stack.mongodb_uri, "TopicPrefix": PREFIX, "RecordCollection": COLLECTION,
              "MskClusterArn": stack.msk_cluster_arn}
    with RuntimeHarness(app_dir / "template.yaml", parameters=params, function_env=env,
                        kafka_bootstrap=stack.kafka_bootstrap, aws_endpoint_url=stack.aws_endpoint_url) as h:
        yield h


def set_broken(harness: RuntimeHarness, broken: bool) -> None:
    """Edit the deployed copy of flaky.py; the runtime recycles its workers when the code changes."""
    path = harness.app.functions["FlakyFunction"].code_dir / "flaky.py"
    path.write_text(path.read_text().replace(f"BROKEN = {not broken}", f"BROKEN = {broken}"))
    stamp = time.time() + 2
    os.utime(path, (stamp, stamp))
    # The runtime looks at the code at most once per CODE_SCAN_INTERVAL: an invocation sooner than
    # that after the last look (the previous test's last ones) would still run the old code.
    time.sleep(CODE_SCAN_INTERVAL + 0.2)


def applied(stack: Stack, marker: str) -> list[dict[str, Any]]:
    return list(stack.db()[f"{COLLECTION}_applied"].find({"value": {"$regex": marker}}))


def stuck_row(harness: RuntimeHarness, stack: Stack) -> status.MappingRow:
    metrics = RuntimeMetrics(lambda: harness.pollers, stack.kafka_bootstrap)
    try:
        rows = status.mapping_rows(metrics.exposition().decode())
    finally:
        metrics.close()
    return next(r for r in rows if (r.function, r.mapping) == ("FlakyFunction", "Stuck"))


def test_lag_of_a_failing_mapping_grows_and_returns_to_zero_once_fixed(
        stack: Stack, flaky: RuntimeHarness) -> None:
    """While the function fails, the partition's OffsetLag grows with each record; after the fix it drains to 0."""
    set_broken(flaky, True)
    marker = uuid.uuid4().hex
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    topic = f"{PREFIX}.flaky"
    try:
        producer.send(topic, value=f"{marker}-0".encode(), partition=0).get(10)
        row = wait_for(lambda: (r if (r := stuck_row(flaky, stack)).errors >= 1 else None), timeout=WAIT,
                       message="the first failed invocation")
        assert "broken on purpose" in row.last_error
        before = row.lag[f"{topic}-0"]
        for i in range(1, 4):
            producer.send(topic, value=f"{marker}-{i}".encode(), partition=0).get(10)
        with LagReader(stack.kafka_bootstrap) as lag:
            grown = {p.partition: p.lag for p in lag.lag(f"{PREFIX}-flaky", [topic])}
        assert grown[0] == before + 3 >= 4
        assert stuck_row(flaky, stack).state == "Enabled" and not applied(stack, marker)
        set_broken(flaky, False)
        wait_for(lambda: stuck_row(flaky, stack).lag[f"{topic}-0"] == 0, timeout=WAIT, interval=0.5,
                 message="the lag to drain after the fix")
    finally:
        producer.close()
    assert sorted(d["value"] for d in applied(stack, marker)) == [f"{marker}-{i}" for i in range(4)]


def test_a_poison_record_is_listed_by_dlq_and_redriven_once_after_the_fix(
        stack: Stack, flaky: RuntimeHarness) -> None:
    """Retries exhausted → the SQS destination; `dlq` shows it with its error; `dlq redrive` applies it once."""
    set_broken(flaky, True)
    marker = uuid.uuid4().hex
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    try:
        meta = producer.send(f"{PREFIX}.poison", value=f"poison {marker}".encode(), partition=1).get(10)
    finally:
        producer.close()
    template = str(flaky.app.functions["FlakyFunction"].code_dir.parent / "template.yaml")
    cli = ["-t", template, "--parameter", f"TopicPrefix={PREFIX}", "--parameter", f"RecordCollection={COLLECTION}"]

    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    wait_for(lambda: dlq.list_failures(sqs, DLQ), timeout=WAIT, interval=0.5,
             message="the failed batch in the on-failure destination")
    result = stack.cli("dlq", "--json", *cli)
    assert result.returncode == 0, result.stderr
    failure = next(f for f in json.loads(result.stdout) if f"{PREFIX}.poison-1@{meta.offset}" in f["records"])
    assert failure["function"] == "FlakyFunction" and failure["condition"] == "RetryAttemptsExhausted"
    assert "broken on purpose" in failure["error"] and failure["attempts"] == 2
    text = stack.cli("dlq", *cli).stdout
    assert failure["id"] in text and "broken on purpose" in text

    still = stack.cli("dlq", "redrive", "--id", failure["id"], *cli)
    assert still.returncode == 1 and "still failing" in still.stdout and not applied(stack, marker)

    set_broken(flaky, False)
    redriven = stack.cli("dlq", "redrive", "--id", failure["id"][:8], *cli)
    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    assert "redriven (1 record(s))" in redriven.stdout
    assert [d["value"] for d in applied(stack, marker)] == [f"poison {marker}"]
    assert dlq.list_failures(sqs, DLQ) == []  # redriven messages leave the queue: nothing is applied twice

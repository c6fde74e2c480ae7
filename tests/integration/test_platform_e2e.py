"""The whole platform path on the real local stack: HTTP → function → outbox → Kafka → triggered function."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devstack.testing import Stack, wait_for

ROOT = Path(__file__).resolve().parents[2]


def audited(stack: Stack, event_type: str, product_id: str) -> list[dict[str, object]]:
    return list(stack.db()["audit"].find({"type": event_type, "key": product_id}))


def test_health_through_the_gateway(stack: Stack) -> None:
    """GET /api/health is public and reports the database reachable."""
    r = stack.http("GET", "/api/health")
    assert r.status == 200 and r.json["status"] == "ok"
    assert r.headers["x-amzn-RequestId"] == r.json["requestId"]


def test_gateway_errors_use_the_contract_error_shape(stack: Stack) -> None:
    """The template's GatewayResponses turn API Gateway's own errors into the contract's error shape."""
    r = stack.http("GET", "/api/does-not-exist")
    assert r.status == 404 and r.json["error"]["code"] == "route_not_found"
    r = stack.http("GET", "/api/auth/me")
    assert r.status == 401 and r.json["error"]["code"] == "unauthorized"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = stack.http("GET", "/api/auth/me", token="not-a-jwt")
    assert r.status == 401 and r.json["error"]["message"] == "missing or invalid bearer token"


def test_http_to_outbox_to_kafka_to_triggered_function(stack: Stack) -> None:
    """An admin's POST /api/products lands product.created in the audit log via Kafka, exactly once."""
    product_id = stack.new_product(sku=f"PLAT-{uuid.uuid4().hex[:8]}")["id"]
    docs = wait_for(lambda: audited(stack, "product.created", product_id), message="the audited event")
    assert len(docs) == 1
    assert docs[0]["source"] == "products" and docs[0]["topic"] == "product.created"
    stored = stack.db()["products"].find_one({"_id": product_id})
    assert stored is not None and not stored.get("outbox")  # published and cleared


@pytest.mark.disruptive
def test_broker_restart_loses_nothing_accepted(stack: Stack) -> None:
    """After the broker dies and comes back empty, new writes still flow end to end."""
    stack.restart_broker()
    product_id = stack.new_product(sku=f"PLAT-R-{uuid.uuid4().hex[:8]}")["id"]
    wait_for(lambda: audited(stack, "product.created", product_id), timeout=60,
             message="the event after the broker restart")


def run_cli(stack: Stack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack", *args, "--data-dir", str(stack.data_dir)],
                          cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120)


def test_invoke_by_hand_with_a_sample_event(stack: Stack) -> None:
    """`devstack invoke HealthFunction -e events/platform-health.json` runs the function like `sam local invoke`."""
    out = run_cli(stack, "invoke", "HealthFunction", "-e", str(ROOT / "events" / "platform-health.json"))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["statusCode"] == 200 and json.loads(result["body"])["status"] == "ok"


def test_generate_kafka_event_and_invoke_the_consumer(stack: Stack) -> None:
    """`devstack generate-event kafka` output drives a Kafka-triggered function through `devstack invoke`."""
    event_id = str(uuid.uuid4())
    envelope = {"id": event_id, "type": "product.updated", "version": 1, "occurredAt": "2026-11-26T00:00:00.000Z",
                "source": "products", "correlationId": "cli", "data": {"productId": "cli-product"}}
    gen = subprocess.run([sys.executable, "-m", "devstack", "generate-event", "kafka", "--topic", "product.updated",
                          "--key", "cli-product", "--value", json.dumps(envelope)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert gen.returncode == 0, gen.stderr
    for _ in range(2):  # the second run is a redelivery: still one audit record
        out = run_cli(stack, "invoke", "AuditFunction", "-e", "-", stdin=gen.stdout)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"handled": 1}
        # The function's own log lines on stderr, as `sam local invoke` prints them.
        logged = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
        assert any(line["message"] == "event consumed" and line["function_name"] == "AuditFunction"
                   for line in logged), out.stderr
    assert stack.db()["audit"].count_documents({"_id": event_id}) == 1

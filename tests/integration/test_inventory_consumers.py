"""Inventory's Kafka consumers on the real stack: reserve on order.created, release on order.cancelled,
commit on order.delivered; idempotent under redelivery and safe when orders race for the last unit."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from pymongo import MongoClient

from devstack.kafka_events import Record, kafka_event
from devstack.settings import ROOT
from devstack.testing import EVENTUAL, Stack, wait_for

pytestmark = pytest.mark.stack

FINAL = ("reserved", "failed", "released", "committed")


def envelope(event_type: str, order_id: str, lines: list[tuple[str, int]]) -> dict[str, Any]:
    items = [{"productId": p, "sku": "X", "name": "x", "unitPriceCents": 500, "quantity": q} for p, q in lines]
    return {"id": str(uuid.uuid4()), "type": event_type, "version": 1,
            "occurredAt": "2026-01-01T00:00:00.000Z", "source": "orders", "correlationId": f"test-{order_id}",
            "data": {"orderId": order_id, "buyerId": str(uuid.uuid4()), "items": items, "totalCents": 1,
                     "currency": "USD", "status": "pending", "reason": "test", "previousStatus": "pending"}}


def publish(producer: KafkaProducer, env: dict[str, Any], partition: int | None = None) -> None:
    headers = [("event-type", env["type"].encode()), ("correlation-id", env["correlationId"].encode())]
    producer.send(env["type"], key=env["data"]["orderId"].encode(), value=json.dumps(env).encode(),
                  headers=headers, partition=partition).get(10)


def figures(stack: Stack, product_id: str) -> tuple[int, int, int, int]:
    j = stack.http("GET", f"/api/inventory/{product_id}").json
    return j["stock"], j["reserved"], j["available"], j["sold"]


def reservation(stack: Stack, order_id: str) -> dict[str, Any] | None:
    return stack.db()["reservations"].find_one({"_id": order_id})


def settled(stack: Stack, order_id: str, status: str | tuple[str, ...] = FINAL) -> dict[str, Any]:
    wanted = (status,) if isinstance(status, str) else status

    def check() -> dict[str, Any] | None:
        doc = reservation(stack, order_id)
        return doc if doc is not None and doc["status"] in wanted and not doc.get("outboxPending") else None

    return wait_for(check, timeout=EVENTUAL, message=f"reservation of {order_id} to be {wanted}")


def audited(stack: Stack, event_type: str, **match: Any) -> list[dict[str, Any]]:
    return list(stack.db()["audit"].find({"type": event_type, **match}))


def test_order_created_reserves_every_line(stack: Stack, producer: KafkaProducer) -> None:
    """order.created holds each line's units and publishes inventory.updated per line."""
    a, b = stack.new_product(stock=5)["id"], stack.new_product(stock=2)["id"]
    order = str(uuid.uuid4())
    publish(producer, envelope("order.created", order, [(a, 2), (b, 2), (a, 1)]))
    assert settled(stack, order)["status"] == "reserved"
    assert figures(stack, a) == (5, 3, 2, 0) and figures(stack, b) == (2, 2, 0, 0)
    wait_for(lambda: len(audited(stack, "inventory.updated", key=b)) == 1,
             timeout=EVENTUAL, message="inventory.updated for b")
    data = audited(stack, "inventory.updated", key=b)[0]["data"]
    assert (data["previousAvailable"], data["available"], data["orderId"]) == (2, 0, order)


def test_shortage_reserves_nothing_and_reports_short_lines(stack: Stack, producer: KafkaProducer) -> None:
    """If one line is short, no line stays reserved and inventory.reservation-failed names the short line."""
    plenty, scarce = stack.new_product(stock=10)["id"], stack.new_product(stock=1)["id"]
    order = str(uuid.uuid4())
    publish(producer, envelope("order.created", order, [(plenty, 3), (scarce, 2)]))
    doc = settled(stack, order)
    assert doc["status"] == "failed"
    assert figures(stack, plenty) == (10, 0, 10, 0) and figures(stack, scarce) == (1, 0, 1, 0)
    failed = wait_for(lambda: audited(stack, "inventory.reservation-failed", key=order),
                      timeout=EVENTUAL, message="reservation-failed")
    assert failed[0]["data"]["orderId"] == order
    assert failed[0]["data"]["items"] == [{"productId": scarce, "quantity": 2, "available": 1}]


def test_unknown_product_fails_the_reservation(stack: Stack, producer: KafkaProducer) -> None:
    """A line naming a product without inventory fails the whole order."""
    known, order = stack.new_product(stock=4)["id"], str(uuid.uuid4())
    publish(producer, envelope("order.created", order, [(known, 1), (str(uuid.uuid4()), 1)]))
    assert settled(stack, order)["status"] == "failed"
    assert figures(stack, known) == (4, 0, 4, 0)


def test_redelivered_event_reserves_once(stack: Stack, producer: KafkaProducer) -> None:
    """The same order.created delivered twice (and a second event for the same order) reserves once."""
    product, order = stack.new_product(stock=5)["id"], str(uuid.uuid4())
    first = envelope("order.created", order, [(product, 2)])
    for env in (first, first, envelope("order.created", order, [(product, 2)])):
        publish(producer, env, partition=2)
    marker = str(uuid.uuid4())  # handled after the three above: same partition, in order
    publish(producer, envelope("order.created", marker, [(product, 1)]), partition=2)
    settled(stack, marker)
    assert settled(stack, order)["status"] == "reserved"
    assert figures(stack, product) == (5, 3, 2, 0)


def invoke(stack: Stack, function: str, event: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Run one function once through the local runtime (like ``sam local invoke``)."""
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(event))
    out = subprocess.run([sys.executable, "-m", "devstack", "invoke", "--data-dir", str(stack.data_dir), function,
                          "-e", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return dict(json.loads(out.stdout))


def batch(*envelopes: dict[str, Any]) -> dict[str, Any]:
    records = [Record(e["type"], 0, 1000 + i, int(time.time() * 1000), 0, e["data"]["orderId"].encode(),
                      json.dumps(e).encode(), (("event-type", e["type"].encode()),)) for i, e in enumerate(envelopes)]
    return kafka_event(records, event_source_arn="arn:aws:kafka:us-east-1:000000000000:cluster/shop-events/x",
                       bootstrap_servers="127.0.0.1:9092")


def test_same_batch_invoked_twice_has_one_effect(stack: Stack, tmp_path: Path) -> None:
    """Redelivering a whole batch to the functions changes nothing the second time."""
    product = stack.new_product(stock=6)["id"]
    o1, o2 = str(uuid.uuid4()), str(uuid.uuid4())
    created = batch(envelope("order.created", o1, [(product, 2)]), envelope("order.created", o2, [(product, 3)]))
    assert invoke(stack, "ReserveStockFunction", created, tmp_path) == {"handled": 2}
    assert invoke(stack, "ReserveStockFunction", created, tmp_path) == {"handled": 2}
    assert figures(stack, product) == (6, 5, 1, 0)
    cancelled = batch(envelope("order.cancelled", o1, [(product, 2)]))
    invoke(stack, "ReleaseStockFunction", cancelled, tmp_path)
    invoke(stack, "ReleaseStockFunction", cancelled, tmp_path)
    assert figures(stack, product) == (6, 3, 3, 0)
    delivered = batch(envelope("order.delivered", o2, []))
    invoke(stack, "CommitStockFunction", delivered, tmp_path)
    invoke(stack, "CommitStockFunction", delivered, tmp_path)
    assert figures(stack, product) == (3, 0, 3, 3)


def test_two_orders_race_for_the_last_unit_via_kafka(stack: Stack, producer: KafkaProducer) -> None:
    """Two orders for the last unit on different partitions: exactly one is reserved, the other fails."""
    product = stack.new_product(stock=1)["id"]
    orders = [str(uuid.uuid4()), str(uuid.uuid4())]
    for partition, order in enumerate(orders):
        publish(producer, envelope("order.created", order, [(product, 1)]), partition=partition)
    statuses = sorted(settled(stack, o)["status"] for o in orders)
    assert statuses == ["failed", "reserved"]
    assert figures(stack, product) == (1, 1, 0, 0)


def test_concurrent_reservations_for_the_last_unit(stack: Stack) -> None:
    """Eight truly concurrent reservations (threads, real database) for one unit: exactly one wins."""
    from shop import clients
    from shop.inventory import reservations

    clients.set_clients(mongo=MongoClient(stack.mongodb_uri, tz_aware=True),
                        producer=KafkaProducer(bootstrap_servers=stack.kafka_bootstrap.split(","), acks="all"))
    product = stack.new_product(stock=1)["id"]
    orders = [str(uuid.uuid4()) for _ in range(8)]
    start = threading.Barrier(len(orders))
    results: dict[str, str] = {}

    def run(order: str) -> None:
        start.wait()
        results[order] = reservations.reserve(order, [(product, 1)], correlation_id="race")

    threads = [threading.Thread(target=run, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert sorted(results.values()) == ["failed"] * 7 + ["reserved"]
    assert figures(stack, product) == (1, 1, 0, 0)
    holds = stack.db()["inventory"].find_one({"_id": product})["holds"]
    assert list(holds) == [o for o, s in results.items() if s == "reserved"]


def test_cancel_releases_and_delivery_commits(stack: Stack, producer: KafkaProducer) -> None:
    """order.cancelled gives held units back; order.delivered turns them into sold; both once."""
    product = stack.new_product(stock=10)["id"]
    kept, dropped = str(uuid.uuid4()), str(uuid.uuid4())
    publish(producer, envelope("order.created", kept, [(product, 4)]))
    publish(producer, envelope("order.created", dropped, [(product, 3)]))
    settled(stack, kept, "reserved")
    settled(stack, dropped, "reserved")
    cancel = envelope("order.cancelled", dropped, [(product, 99)])  # the quantity in the event is ignored
    publish(producer, cancel)
    publish(producer, cancel)
    settled(stack, dropped, "released")
    deliver = envelope("order.delivered", kept, [])
    publish(producer, deliver)
    publish(producer, deliver)
    settled(stack, kept, "committed")
    wait_for(lambda: figures(stack, product) == (6, 0, 6, 4), timeout=EVENTUAL, message="stock 6, sold 4")
    wait_for(lambda: len(audited(stack, "inventory.updated", key=product)) >= 4,
             timeout=EVENTUAL, message="four inventory.updated")
    reasons = sorted(d["data"]["reason"] for d in audited(stack, "inventory.updated", key=product))
    assert reasons == ["released", "reserved", "reserved", "sold"]


def test_cancel_before_create_reserves_nothing(stack: Stack, producer: KafkaProducer) -> None:
    """A cancellation that overtakes its order.created leaves a tombstone; the late creation holds nothing."""
    product, order = stack.new_product(stock=3)["id"], str(uuid.uuid4())
    publish(producer, envelope("order.cancelled", order, [(product, 1)]))
    settled(stack, order, "released")
    publish(producer, envelope("order.created", order, [(product, 1)]), partition=0)
    marker = str(uuid.uuid4())
    publish(producer, envelope("order.created", marker, [(product, 1)]), partition=0)
    settled(stack, marker, "reserved")
    assert reservation(stack, order)["status"] == "released"
    assert figures(stack, product) == (3, 1, 2, 0)


def test_malformed_events_are_skipped(stack: Stack, tmp_path: Path) -> None:
    """Records without a usable payload are skipped; the rest of the batch is handled.

    Invoked directly rather than through the shared topic, so other services' consumers never see them.
    """
    product = stack.new_product(stock=2)["id"]
    bad = envelope("order.created", "x", [(product, 1)])
    bad["data"] = {"orderId": "bad.id$", "items": [{"productId": product, "quantity": -1}]}
    empty = envelope("order.created", str(uuid.uuid4()), [])
    good = str(uuid.uuid4())
    event = batch(bad, empty, envelope("order.created", good, [(product, 1)]))
    records = event["records"]["order.created-0"]  # type: ignore[index]
    records.insert(0, {**records[0], "offset": 999, "value": base64.b64encode(b"not json").decode()})
    assert invoke(stack, "ReserveStockFunction", event, tmp_path) == {"handled": 3}
    assert settled(stack, good)["status"] == "reserved"
    assert reservation(stack, empty["data"]["orderId"]) is None
    assert figures(stack, product) == (2, 1, 1, 0)

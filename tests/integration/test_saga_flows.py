"""The order saga end to end on the real local stack: orders, inventory and payments over Kafka."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from devstack.testing import ADDRESS, Stack, wait_for
from shop import clients
from shop.envelope import make_event, wire_value
from shop.orders import service, store
from shop.orders.models import CreateOrder

pytestmark = pytest.mark.stack

FLOW_TIMEOUT = 60.0  # generous: the whole team's tests share one 2-core stack


@pytest.fixture(scope="module")
def buyers(stack: Stack) -> list[str]:
    """Two customers shared by this module's tests (each test uses its own products)."""
    return [stack.customer_token("saga-a"), stack.customer_token("saga-b")]


def place(stack: Stack, token: str, product_id: str, quantity: int = 1, payment_token: str | None = None) -> str:
    body: dict[str, Any] = {"items": [{"productId": product_id, "quantity": quantity}], "shippingAddress": ADDRESS}
    if payment_token:
        body["paymentToken"] = payment_token
    r = stack.http("POST", "/api/orders", token=token, json_body=body)
    assert r.status == 201, r
    return str(r.json["id"])


def order(stack: Stack, order_id: str) -> dict[str, Any]:
    doc = stack.db()["orders"].find_one({"_id": order_id})
    assert doc is not None
    return doc


def wait_status(stack: Stack, order_id: str, status: str, **fields: Any) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        doc = order(stack, order_id)
        ok = doc["status"] == status and all(doc.get(k) == v for k, v in fields.items())
        return doc if ok else None

    return wait_for(check, timeout=FLOW_TIMEOUT, message=f"order {order_id} to be {status} {fields}")


def stock(stack: Stack, product_id: str) -> dict[str, Any]:
    doc = stack.db()["inventory"].find_one({"_id": product_id})
    assert doc is not None
    return doc


def wait_stock(stack: Stack, product_id: str, **figures: int) -> dict[str, Any]:
    return wait_for(lambda: (lambda d: d if all(d.get(k) == v for k, v in figures.items()) else None)(
        stock(stack, product_id)), timeout=FLOW_TIMEOUT, message=f"inventory of {product_id} to be {figures}")


def published(stack: Stack, order_id: str) -> list[str]:
    """Event types the services published for the order, as recorded by the audit consumer (keyed by order id)."""
    return [e["type"] for e in stack.db()["audit"].find({"key": order_id, "source": {"$ne": "tests"}})]


def partition_of(producer: KafkaProducer, topic: str, key: str) -> int:
    """The partition the services' producers (kafka-python's default partitioner) send ``key`` to."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % len(producer.partitions_for(topic))


def send(producer: KafkaProducer, event: dict[str, Any], partition: int) -> None:
    producer.send(event["type"], key=str(event["key"]).encode(), partition=partition,
                  value=json.dumps(wire_value(event)).encode(),
                  headers=[("event-type", event["type"].encode()),
                           ("correlation-id", str(event["correlationId"]).encode())]).get(timeout=10)


def audit_sentinel(stack: Stack, producer: KafkaProducer, topic: str, key: str) -> None:
    """Publish a test event after everything the services published on ``key``'s partition of ``topic``,
    and wait until the audit log holds it: the audit consumer has then recorded all that came before.

    Only for topics that no service acts on (the audit consumer and the relay read them).
    """
    event = make_event(topic, source="tests", key=key, data={"orderId": key, "sentinel": True})
    send(producer, event, partition_of(producer, topic, key))
    wait_for(lambda: stack.db()["audit"].find_one({"_id": event["id"]}), timeout=FLOW_TIMEOUT,
             message=f"the sentinel on {topic} to be audited")


def all_sent(stack: Stack, order_id: str) -> None:
    """Wait until the order's outbox is empty: every event it owes is on the broker."""
    wait_for(lambda: not order(stack, order_id).get("outbox"), timeout=FLOW_TIMEOUT,
             message=f"the outbox of {order_id} to be published")


def set_status(stack: Stack, order_id: str, status: str) -> dict[str, Any]:
    r = stack.http("PATCH", f"/api/orders/{order_id}/status", token=stack.admin_token(), json_body={"status": status})
    assert r.status == 200, r
    return dict(r.json)


def test_happy_path_to_delivered(stack: Stack, buyers: list[str], producer: KafkaProducer) -> None:
    """place → reserved → paid → processing → shipped → delivered, and the units end up sold."""
    token = buyers[0]
    pid = stack.new_product(stock=5, priceCents=2000)["id"]
    oid = place(stack, token, pid, 2)
    paid = wait_status(stack, oid, "paid", paymentStatus="paid")
    assert paid["totalCents"] == 4320
    wait_stock(stack, pid, stock=5, reserved=2, available=3)
    payment = stack.db()["payments"].find_one({"_id": oid})
    assert payment is not None and payment["status"] == "succeeded" and payment["amountCents"] == 4320
    for status in ("processing", "shipped", "delivered"):
        assert set_status(stack, oid, status)["status"] == status
    wait_stock(stack, pid, stock=3, reserved=0, sold=2, available=3)
    expected = {"order.created", "payment.succeeded", "order.shipped", "order.delivered"}
    wait_for(lambda: expected <= set(published(stack, oid)), timeout=FLOW_TIMEOUT, message=f"the events {expected}")
    # Everything the order owes is on the broker; once a later sentinel on its order.updated partition
    # is audited, its updates are all recorded: exactly one per move (paid, processing, shipped, delivered).
    all_sent(stack, oid)
    audit_sentinel(stack, producer, "order.updated", oid)
    assert published(stack, oid).count("order.updated") == 4


def test_declined_card_cancels_and_releases(stack: Stack, buyers: list[str]) -> None:
    """A declined card cancels the order (payment_declined) and its reserved stock comes back."""
    token = buyers[0]
    pid = stack.new_product(stock=3)["id"]
    oid = place(stack, token, pid, 2, payment_token="tok_declined")
    doc = wait_status(stack, oid, "cancelled", paymentStatus="failed")
    assert doc["cancelReason"] == "payment_declined"
    wait_for(lambda: "order.cancelled" in published(stack, oid), timeout=FLOW_TIMEOUT, message="order.cancelled")
    wait_stock(stack, pid, stock=3, reserved=0, available=3)
    payment = stack.db()["payments"].find_one({"_id": oid})
    assert payment is not None and payment["status"] == "failed"


def test_transient_provider_error_is_retried(stack: Stack, buyers: list[str]) -> None:
    """tok_transient fails the first charge attempt; the mapping's retry charges it, once."""
    token = buyers[0]
    pid = stack.new_product(stock=2)["id"]
    oid = place(stack, token, pid, 1, payment_token="tok_transient")
    wait_status(stack, oid, "paid", paymentStatus="paid")
    payment = stack.db()["payments"].find_one({"_id": oid})
    assert payment is not None and payment["status"] == "succeeded" and payment["attempts"] == 2


def test_customer_cancel_of_paid_order_refunds(stack: Stack, buyers: list[str]) -> None:
    """Cancelling a paid order releases its stock and refunds the charge exactly once."""
    token = buyers[0]
    pid = stack.new_product(stock=4)["id"]
    oid = place(stack, token, pid, 1)
    wait_status(stack, oid, "paid")
    wait_stock(stack, pid, reserved=1)
    r = stack.http("POST", f"/api/orders/{oid}/cancel", token=token)
    assert r.status == 200 and r.json["status"] == "cancelled" and r.json["cancelReason"] == "customer_request"
    wait_status(stack, oid, "cancelled", paymentStatus="refunded")
    wait_stock(stack, pid, stock=4, reserved=0, available=4)
    payment = stack.db()["payments"].find_one({"_id": oid})
    assert payment is not None and payment["status"] == "refunded" and payment["refundId"]


def test_race_for_the_last_unit(stack: Stack, buyers: list[str], producer: KafkaProducer) -> None:
    """Two customers race for the last unit: one order proceeds, the other ends cancelled out_of_stock."""
    pid = stack.new_product(stock=1)["id"]
    tokens = buyers
    barrier = threading.Barrier(len(tokens))
    answers: list[Any] = [None] * len(tokens)

    def buy(i: int) -> None:
        barrier.wait()
        answers[i] = stack.http("POST", "/api/orders", token=tokens[i], json_body={
            "items": [{"productId": pid, "quantity": 1}], "shippingAddress": ADDRESS})

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(a.status for a in answers)
    assert statuses in ([201, 201], [201, 409]), answers
    created = [str(a.json["id"]) for a in answers if a.status == 201]

    def settled() -> list[dict[str, Any]] | None:
        docs = [order(stack, oid) for oid in created]
        return docs if all(d["status"] in ("paid", "cancelled") for d in docs) else None

    final = wait_for(settled, timeout=FLOW_TIMEOUT, message="both orders to settle")
    winners = [d for d in final if d["status"] == "paid"]
    losers = [d for d in final if d["status"] == "cancelled"]
    assert len(winners) == 1
    assert all(d["cancelReason"] == "out_of_stock" for d in losers)
    for loser in losers:  # never charged, or charged and refunded
        wait_for(lambda lid=loser["_id"]: (stack.db()["payments"].find_one({"_id": lid}) or {}).get("status")
                 in ("voided", "refunded"), timeout=FLOW_TIMEOUT,
                 message="the losing order's payment to be voided or refunded")
    wait_stock(stack, pid, stock=1, reserved=1, available=0)
    # Every stock change of the product is audited once a later sentinel on its partition is: none went
    # below zero or reserved more than the stock, and the last one is the final state.
    audit_sentinel(stack, producer, "inventory.updated", pid)
    changes = [e["data"] for e in stack.db()["audit"].find({"key": pid, "type": "inventory.updated",
                                                          "source": {"$ne": "tests"}})]
    assert changes and all(c["available"] >= 0 and c["reserved"] <= c["stock"] for c in changes), changes
    assert {(c["stock"], c["reserved"], c["available"]) for c in changes} <= {(1, 0, 1), (1, 1, 0)}, changes


def _unpublished_order(stack: Stack, token: str, product_id: str, *, sweepable: bool = True) -> dict[str, Any]:
    """Store an order with its outbox exactly as create-order does, but never publish it.

    ``sweepable=False`` stores it as if its events had been sent, so only the test delivers them;
    the returned document still holds them in ``outbox``.
    """
    me = stack.http("GET", "/api/auth/me", token=token).json
    body = CreateOrder.model_validate({"items": [{"productId": product_id, "quantity": 1}],
                                       "shippingAddress": ADDRESS})
    clients.set_clients(mongo=stack.db().client)
    doc = service.build_order(str(me["id"]), body, None, f"test-{uuid.uuid4()}")
    if sweepable:
        return store.insert(doc)
    events = doc["outbox"]
    store.insert({**doc, "outbox": [], "outboxPending": False})
    return {**doc, "outbox": events}


def succeeded(o: dict[str, Any]) -> dict[str, Any]:
    """A payment.succeeded for an order made by :func:`_unpublished_order`."""
    return make_event("payment.succeeded", source="payments", key=o["_id"], data={
        "orderId": o["_id"], "buyerId": o["buyerId"], "paymentId": f"pay_test_{o['_id'][:8]}",
        "amountCents": o["totalCents"], "currency": o["currency"]})


def reservation_settled(stack: Stack, order_id: str) -> None:
    wait_for(lambda: (stack.db()["reservations"].find_one({"_id": order_id}) or {}).get("status")
             in ("reserved", "failed"), timeout=FLOW_TIMEOUT, message=f"the reservation of {order_id} to settle")


def test_duplicate_delivery_has_one_effect(stack: Stack, buyers: list[str], producer: KafkaProducer) -> None:
    """order.created delivered three times (twice with one id) → one charge, one payment, paid once."""
    token = buyers[0]
    pid = stack.new_product(stock=5)["id"]
    dup, marker, late = (_unpublished_order(stack, token, pid, sweepable=False) for _ in range(3))
    created = dup["outbox"][0]
    copy = make_event("order.created", source="orders", key=dup["_id"], data=created["data"])
    for event in (created, created, copy, marker["outbox"][0]):  # one partition: processed in this order
        send(producer, event, partition=0)
    # The marker comes after every copy: once payments charged it and inventory reserved for it,
    # both have seen all the copies.
    wait_status(stack, marker["_id"], "paid")
    reservation_settled(stack, marker["_id"])
    payment = stack.db()["payments"].find_one({"_id": dup["_id"]})
    assert payment is not None and payment["status"] == "succeeded" and payment["attempts"] == 1
    assert stock(stack, pid)["reserved"] == 2  # the duplicate's one unit and the marker's
    # The saga has applied every payment event of the duplicate once it applied a later one on that partition.
    send(producer, succeeded(late), partition_of(producer, "payment.succeeded", dup["_id"]))
    wait_status(stack, late["_id"], "paid")
    doc = order(stack, dup["_id"])
    assert (doc["status"], doc["paymentStatus"], len(doc["appliedEvents"])) == ("paid", "paid", 1)


def test_duplicate_saga_event_applies_once(stack: Stack, buyers: list[str], producer: KafkaProducer) -> None:
    """The same payment.succeeded delivered twice moves the order once (one order.updated)."""
    token = buyers[0]
    pid = stack.new_product(stock=5)["id"]
    target = _unpublished_order(stack, token, pid, sweepable=False)
    marker = _unpublished_order(stack, token, pid, sweepable=False)
    event = succeeded(target)
    for e in (event, event, succeeded(target), succeeded(marker)):  # one partition: processed in this order
        send(producer, e, partition=1)
    wait_status(stack, marker["_id"], "paid")
    doc = order(stack, target["_id"])
    assert (doc["status"], doc["paymentStatus"], doc["appliedEvents"]) == ("paid", "paid", [event["id"]])
    all_sent(stack, target["_id"])
    audit_sentinel(stack, producer, "order.updated", target["_id"])
    assert published(stack, target["_id"]).count("order.updated") == 1


def test_crash_before_publish_is_swept(stack: Stack, buyers: list[str], producer: KafkaProducer) -> None:
    """An order written with its outbox but never published (a crash) is delivered by the sweeper."""
    token = buyers[0]
    pid = stack.new_product(stock=3)["id"]
    doc = _unpublished_order(stack, token, pid)
    assert doc["outboxPending"] is True
    swept = wait_for(lambda: (lambda d: d if not d.get("outboxPending") else None)(order(stack, doc["_id"])),
                     timeout=60, message="the sweeper to publish the outbox")
    assert swept["outbox"] == []
    wait_status(stack, doc["_id"], "paid", paymentStatus="paid")
    wait_stock(stack, pid, reserved=1)
    # The sweeper published the order.created once: a later one on the same partition (another
    # order's) is audited, and the swept order has exactly one before it.
    late = _unpublished_order(stack, token, pid, sweepable=False)
    late_created = late["outbox"][0]
    send(producer, late_created, partition_of(producer, "order.created", doc["_id"]))
    wait_for(lambda: stack.db()["audit"].find_one({"_id": late_created["id"]}), timeout=FLOW_TIMEOUT,
             message="the later order.created to be audited")
    assert published(stack, doc["_id"]).count("order.created") == 1

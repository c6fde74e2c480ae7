"""The order saga end to end on the real local stack: orders, inventory and payments over Kafka."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from kafka import KafkaProducer

from devstack.testing import Stack, wait_for
from shop import clients
from shop.envelope import make_event, wire_value
from shop.orders import service, store
from shop.orders.models import CreateOrder

pytestmark = pytest.mark.stack

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}
FLOW_TIMEOUT = 60.0  # generous: the whole team's tests share one 2-core stack


@pytest.fixture(scope="module")
def buyers(stack: Stack) -> list[str]:
    """Two customers shared by this module's tests (each test uses its own products)."""
    return [stack.customer_token("saga-a"), stack.customer_token("saga-b")]


def new_product(stack: Stack, *, stock: int, price_cents: int = 2000) -> str:
    r = stack.http("POST", "/api/products", token=stack.admin_token(), json_body={
        "name": "Saga widget", "description": "for saga tests", "priceCents": price_cents, "currency": "USD",
        "sku": f"SAGA-{uuid.uuid4().hex[:12]}", "stock": stock, "category": "test-saga",
    })
    assert r.status == 201, r
    return str(r.json["id"])


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
    """Event types recorded for the order by the audit consumer (it keys every event by order id)."""
    return [e["type"] for e in stack.db()["audit"].find({"key": order_id})]


def set_status(stack: Stack, order_id: str, status: str) -> dict[str, Any]:
    r = stack.http("PATCH", f"/api/orders/{order_id}/status", token=stack.admin_token(), json_body={"status": status})
    assert r.status == 200, r
    return dict(r.json)


def test_happy_path_to_delivered(stack: Stack, buyers: list[str]) -> None:
    """place → reserved → paid → processing → shipped → delivered, and the units end up sold."""
    token = buyers[0]
    pid = new_product(stack, stock=5)
    oid = place(stack, token, pid, 2)
    paid = wait_status(stack, oid, "paid", paymentStatus="paid")
    assert paid["totalCents"] == 4320
    wait_stock(stack, pid, stock=5, reserved=2, available=3)
    payment = stack.db()["payments"].find_one({"_id": oid})
    assert payment is not None and payment["status"] == "succeeded" and payment["amountCents"] == 4320
    for status in ("processing", "shipped", "delivered"):
        assert set_status(stack, oid, status)["status"] == status
    wait_stock(stack, pid, stock=3, reserved=0, sold=2, available=3)
    # Different topics carry no order between them, so wait for the whole set, not only the updates.
    expected = {"order.created", "payment.succeeded", "order.shipped", "order.delivered"}
    events = wait_for(lambda: (lambda seen: seen if seen.count("order.updated") >= 4 and expected <= set(seen)
                               else None)(published(stack, oid)),
                      timeout=FLOW_TIMEOUT, message="four order.updated (paid → delivered) and the other events")
    assert events.count("order.updated") == 4


def test_declined_card_cancels_and_releases(stack: Stack, buyers: list[str]) -> None:
    """A declined card cancels the order (payment_declined) and its reserved stock comes back."""
    token = buyers[0]
    pid = new_product(stack, stock=3)
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
    pid = new_product(stack, stock=2)
    oid = place(stack, token, pid, 1, payment_token="tok_transient")
    wait_status(stack, oid, "paid", paymentStatus="paid")
    payment = stack.db()["payments"].find_one({"_id": oid})
    assert payment is not None and payment["status"] == "succeeded" and payment["attempts"] == 2


def test_customer_cancel_of_paid_order_refunds(stack: Stack, buyers: list[str]) -> None:
    """Cancelling a paid order releases its stock and refunds the charge exactly once."""
    token = buyers[0]
    pid = new_product(stack, stock=4)
    oid = place(stack, token, pid, 1)
    wait_status(stack, oid, "paid")
    wait_stock(stack, pid, reserved=1)
    r = stack.http("POST", f"/api/orders/{oid}/cancel", token=token)
    assert r.status == 200 and r.json["status"] == "cancelled" and r.json["cancelReason"] == "customer_request"
    wait_status(stack, oid, "cancelled", paymentStatus="refunded")
    wait_stock(stack, pid, stock=4, reserved=0, available=4)
    payment = stack.db()["payments"].find_one({"_id": oid})
    assert payment is not None and payment["status"] == "refunded" and payment["refundId"]


def test_race_for_the_last_unit(stack: Stack, buyers: list[str]) -> None:
    """Two customers race for the last unit: one order proceeds, the other ends cancelled out_of_stock."""
    pid = new_product(stack, stock=1)
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
    inv = wait_stock(stack, pid, stock=1, reserved=1, available=0)
    assert inv["available"] >= 0 and inv["reserved"] <= inv["stock"]
    changes = [e["data"] for e in stack.db()["audit"].find({"key": pid, "type": "inventory.updated"})]
    assert all(c["available"] >= 0 and c["reserved"] <= c["stock"] for c in changes), changes
    for loser in losers:  # never charged, or charged and refunded
        payment = wait_for(lambda lid=loser["_id"]: (lambda p: p if p and p["status"] in ("voided", "refunded")
                                                     else None)(stack.db()["payments"].find_one({"_id": lid})),
                           timeout=FLOW_TIMEOUT, message="the losing order's payment to be voided or refunded")
        assert payment["status"] in ("voided", "refunded")


def _producer(stack: Stack) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=stack.kafka_bootstrap.split(","), acks="all", linger_ms=0)


def _send(producer: KafkaProducer, event: dict[str, Any], partition: int) -> None:
    producer.send(event["type"], key=str(event["key"]).encode(), partition=partition,
                  value=json.dumps(wire_value(event)).encode(),
                  headers=[("event-type", event["type"].encode()),
                           ("correlation-id", str(event["correlationId"]).encode())]).get(timeout=10)


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


def test_duplicate_delivery_has_one_effect(stack: Stack, buyers: list[str]) -> None:
    """order.created delivered three times (twice with one id) → one charge, one payment, paid once."""
    token = buyers[0]
    pid = new_product(stack, stock=5)
    dup = _unpublished_order(stack, token, pid, sweepable=False)
    marker = _unpublished_order(stack, token, pid, sweepable=False)
    created = dup["outbox"][0]
    copy = make_event("order.created", source="orders", key=dup["_id"], data=created["data"])
    producer = _producer(stack)
    try:
        for event in (created, created, copy, marker["outbox"][0]):  # one partition: processed in this order
            _send(producer, event, partition=0)
    finally:
        producer.close()
    wait_status(stack, marker["_id"], "paid")  # so every copy before it has been consumed
    payment = stack.db()["payments"].find_one({"_id": dup["_id"]})
    assert payment is not None and payment["status"] == "succeeded" and payment["attempts"] == 1
    doc = wait_status(stack, dup["_id"], "paid", paymentStatus="paid")
    assert len(doc["appliedEvents"]) == 1
    wait_stock(stack, pid, reserved=2)
    assert stock(stack, pid)["reserved"] == 2


def test_duplicate_saga_event_applies_once(stack: Stack, buyers: list[str]) -> None:
    """The same payment.succeeded delivered twice moves the order once (one order.updated)."""
    token = buyers[0]
    pid = new_product(stack, stock=5)
    target = _unpublished_order(stack, token, pid, sweepable=False)
    marker = _unpublished_order(stack, token, pid, sweepable=False)

    def succeeded(o: dict[str, Any]) -> dict[str, Any]:
        return make_event("payment.succeeded", source="payments", key=o["_id"], data={
            "orderId": o["_id"], "buyerId": o["buyerId"], "paymentId": f"pay_test_{o['_id'][:8]}",
            "amountCents": o["totalCents"], "currency": o["currency"]})

    event = succeeded(target)
    producer = _producer(stack)
    try:
        for e in (event, event, succeeded(target), succeeded(marker)):
            _send(producer, e, partition=1)
    finally:
        producer.close()
    wait_status(stack, marker["_id"], "paid")
    doc = wait_status(stack, target["_id"], "paid", paymentStatus="paid")
    assert doc["appliedEvents"] == [event["id"]]
    wait_for(lambda: "order.updated" in published(stack, target["_id"]), timeout=FLOW_TIMEOUT,
             message="order.updated to be published")
    assert published(stack, target["_id"]).count("order.updated") == 1


def test_crash_before_publish_is_swept(stack: Stack, buyers: list[str]) -> None:
    """An order written with its outbox but never published (a crash) is delivered by the sweeper."""
    token = buyers[0]
    pid = new_product(stack, stock=3)
    doc = _unpublished_order(stack, token, pid)
    assert doc["outboxPending"] is True
    swept = wait_for(lambda: (lambda d: d if not d.get("outboxPending") else None)(order(stack, doc["_id"])),
                     timeout=60, message="the sweeper to publish the outbox")
    assert swept["outbox"] == []
    wait_status(stack, doc["_id"], "paid", paymentStatus="paid")
    wait_stock(stack, pid, reserved=1)
    wait_for(lambda: "order.created" in published(stack, doc["_id"]), timeout=FLOW_TIMEOUT,
             message="the swept order.created to reach its consumers")

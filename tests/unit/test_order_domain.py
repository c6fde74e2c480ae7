"""Pure order rules: pricing, the state machine and the saga reactions (no services)."""

from __future__ import annotations

import uuid

import pytest

from shop import envelope as ev
from shop.errors import BadRequest, Conflict
from shop.orders import domain
from shop.orders.domain import Product

NOW = "2026-01-01T00:00:00.000Z"
LATER = "2026-01-01T00:01:00.000Z"

PRODUCTS = {
    "p1": Product(id="p1", sku="SKU-1", name="Mug", price_cents=1250, currency="USD"),
    "p2": Product(id="p2", sku="SKU-2", name="Tee", price_cents=1999, currency="USD"),
    "p3": Product(id="p3", sku="SKU-3", name="Euro", price_cents=500, currency="EUR"),
    "off": Product(id="off", sku="SKU-X", name="Gone", price_cents=100, currency="USD", active=False),
}


def make_order(status: str = domain.PENDING, payment_status: str = domain.PAYMENT_PENDING) -> dict:
    priced = domain.price_lines([("p1", 2)], PRODUCTS, 800)
    order = domain.new_order(order_id="o1", buyer_id="u1", priced=priced, shipping_address={"line1": "x"},
                             now_iso=NOW, payment_token=None, idempotency=None, body_hash="h", correlation_id="c")
    order.pop("outbox")
    order["status"] = status
    order["paymentStatus"] = payment_status
    return order


def test_tax_rounds_half_up() -> None:
    """Tax is subtotal x basis points, rounded half up, in minor units."""
    assert domain.tax_for(1000, 800) == 80
    assert domain.tax_for(1, 5000) == 1  # 0.5 → 1
    assert domain.tax_for(3, 1500) == 0  # 0.45 → 0
    assert domain.tax_for(7, 5000) == 4  # 3.5 → 4
    assert domain.tax_for(0, 800) == 0


def test_pricing_uses_catalog_prices() -> None:
    """Lines are priced from the catalog; subtotal, tax and total add up."""
    priced = domain.price_lines([("p1", 2), ("p2", 1)], PRODUCTS, 800)
    assert priced.subtotal_cents == 2 * 1250 + 1999
    assert priced.tax_cents == (4499 * 800 + 5000) // 10000
    assert priced.total_cents == priced.subtotal_cents + priced.tax_cents
    assert priced.currency == "USD"
    assert priced.items[0] == {"productId": "p1", "sku": "SKU-1", "name": "Mug", "unitPriceCents": 1250,
                               "quantity": 2}


def test_pricing_rejects_unknown_inactive_and_mixed_currency() -> None:
    """Unknown or inactive products and mixed currencies are 400s."""
    with pytest.raises(BadRequest) as unknown:
        domain.price_lines([("nope", 1)], PRODUCTS, 800)
    assert unknown.value.code == "unknown_product"
    with pytest.raises(BadRequest):
        domain.price_lines([("off", 1)], PRODUCTS, 800)
    with pytest.raises(BadRequest) as mixed:
        domain.price_lines([("p1", 1), ("p3", 1)], PRODUCTS, 800)
    assert mixed.value.code == "mixed_currency"


def test_stock_shortages() -> None:
    """A line asking for more than is available is reported; missing inventory is 0."""
    short = domain.stock_shortages([("p1", 2), ("p2", 1), ("p3", 1)], {"p1": 2, "p2": 0})
    assert short == [{"productId": "p2", "requested": 1, "available": 0},
                     {"productId": "p3", "requested": 1, "available": 0}]


def test_new_order_has_created_event_in_outbox() -> None:
    """A new order is pending and carries its order.created event in the same document."""
    priced = domain.price_lines([("p1", 1)], PRODUCTS, 800)
    order = domain.new_order(order_id="o9", buyer_id="u1", priced=priced, shipping_address={}, now_iso=NOW,
                             payment_token="tok_visa", idempotency="u1:k", body_hash="h", correlation_id="c")
    assert order["status"] == "pending" and order["paymentStatus"] == "pending"
    assert order["outboxPending"] is True
    (event,) = order["outbox"]
    assert event["type"] == ev.ORDER_CREATED and event["key"] == "o9" and event["correlationId"] == "c"
    assert event["data"]["totalCents"] == order["totalCents"]
    assert "paymentToken" not in event["data"]
    assert "idempotencyKey" not in domain.new_order(
        order_id="o8", buyer_id="u1", priced=priced, shipping_address={}, now_iso=NOW, payment_token=None,
        idempotency=None, body_hash="h", correlation_id=None)


def test_order_ids_are_uuid7_and_time_ordered() -> None:
    """Order ids are valid UUIDv7 strings that sort by creation time."""
    a = domain.new_order_id(now=1_000.0, rand=b"\xff" * 10)
    b = domain.new_order_id(now=1_000.001, rand=b"\x00" * 10)
    assert uuid.UUID(a).version == 7
    assert a < b


def test_request_hash_ignores_key_order() -> None:
    """The canonical body hash does not depend on key order."""
    assert domain.request_hash({"a": 1, "b": [1, 2]}) == domain.request_hash({"b": [1, 2], "a": 1})
    assert domain.request_hash({"a": 1}) != domain.request_hash({"a": 2})


@pytest.mark.parametrize(("current", "target"), [
    ("pending", "paid"), ("paid", "processing"), ("processing", "shipped"), ("shipped", "delivered"),
    ("pending", "cancelled"), ("paid", "cancelled"), ("processing", "cancelled"),
])
def test_legal_transitions(current: str, target: str) -> None:
    """Every edge of the contract's state machine is allowed."""
    outcome = domain.transition(make_order(current), target, now_iso=LATER)
    assert outcome.order is not None and outcome.order["status"] == target
    assert outcome.events[0]["type"] == ev.ORDER_UPDATED
    assert outcome.events[0]["data"]["previousStatus"] == current


@pytest.mark.parametrize(("current", "target"), [
    ("pending", "processing"), ("pending", "shipped"), ("pending", "delivered"), ("paid", "shipped"),
    ("shipped", "cancelled"), ("delivered", "cancelled"), ("cancelled", "pending"), ("cancelled", "paid"),
    ("delivered", "shipped"), ("paid", "paid"), ("pending", "pending"),
])
def test_illegal_transitions_conflict(current: str, target: str) -> None:
    """Anything off the state machine is a 409 illegal_transition."""
    with pytest.raises(Conflict) as exc:
        domain.transition(make_order(current), target, now_iso=LATER)
    assert exc.value.code == "illegal_transition"


def test_status_events() -> None:
    """shipped, delivered and cancelled each add their own event after order.updated."""
    shipped = domain.transition(make_order("processing"), "shipped", now_iso=LATER)
    assert [e["type"] for e in shipped.events] == [ev.ORDER_UPDATED, ev.ORDER_SHIPPED]
    delivered = domain.transition(make_order("shipped"), "delivered", now_iso=LATER)
    assert [e["type"] for e in delivered.events] == [ev.ORDER_UPDATED, ev.ORDER_DELIVERED]
    cancelled = domain.cancel(make_order("paid", "paid"), reason="customer_request", now_iso=LATER)
    assert [e["type"] for e in cancelled.events] == [ev.ORDER_UPDATED, ev.ORDER_CANCELLED]
    data = cancelled.events[1]["data"]
    assert data["reason"] == "customer_request" and data["previousStatus"] == "paid" and data["items"]
    assert cancelled.order is not None and cancelled.order["cancelReason"] == "customer_request"


def test_cancel_only_before_shipping() -> None:
    """Shipped, delivered and cancelled orders cannot be cancelled."""
    for status in ("shipped", "delivered", "cancelled"):
        with pytest.raises(Conflict):
            domain.cancel(make_order(status), reason="x", now_iso=LATER)


def test_payment_succeeded_pays_pending_order_once() -> None:
    """payment.succeeded makes a pending order paid; the same event again changes nothing."""
    outcome = domain.apply_saga_event(make_order(), ev.PAYMENT_SUCCEEDED, "e1", now_iso=LATER)
    assert outcome.order is not None
    assert (outcome.order["status"], outcome.order["paymentStatus"]) == ("paid", "paid")
    assert [e["type"] for e in outcome.events] == [ev.ORDER_UPDATED]
    again = domain.apply_saga_event(outcome.order, ev.PAYMENT_SUCCEEDED, "e1", now_iso=LATER)
    assert again.order is None
    other_copy = domain.apply_saga_event(outcome.order, ev.PAYMENT_SUCCEEDED, "e2", now_iso=LATER)
    assert other_copy.order is None


def test_payment_failed_cancels_pending_order() -> None:
    """payment.failed cancels a pending order with reason payment_declined."""
    outcome = domain.apply_saga_event(make_order(), ev.PAYMENT_FAILED, "e1", now_iso=LATER)
    assert outcome.order is not None
    assert outcome.order["status"] == "cancelled"
    assert outcome.order["cancelReason"] == "payment_declined"
    assert outcome.order["paymentStatus"] == "failed"
    assert [e["type"] for e in outcome.events] == [ev.ORDER_UPDATED, ev.ORDER_CANCELLED]


def test_late_payment_does_not_resurrect_cancelled_order() -> None:
    """payment.succeeded after a cancellation only records the money (payments refunds it)."""
    order = make_order("cancelled")
    order["cancelReason"] = "out_of_stock"
    outcome = domain.apply_saga_event(order, ev.PAYMENT_SUCCEEDED, "e1", now_iso=LATER)
    assert outcome.order is not None
    assert outcome.order["status"] == "cancelled" and outcome.order["paymentStatus"] == "paid"
    refunded = domain.apply_saga_event(outcome.order, ev.PAYMENT_REFUNDED, "e2", now_iso=LATER)
    assert refunded.order is not None and refunded.order["paymentStatus"] == "refunded"


def test_refund_before_success_is_not_undone() -> None:
    """payment.refunded arriving before payment.succeeded leaves paymentStatus refunded."""
    order = make_order("cancelled")
    refunded = domain.apply_saga_event(order, ev.PAYMENT_REFUNDED, "r", now_iso=LATER).order
    assert refunded is not None and refunded["paymentStatus"] == "refunded"
    assert domain.apply_saga_event(refunded, ev.PAYMENT_SUCCEEDED, "s", now_iso=LATER).order is None


def test_reservation_failed_cancels_even_paid_order() -> None:
    """inventory.reservation-failed cancels pending or paid orders with reason out_of_stock."""
    for status, pay in (("pending", "pending"), ("paid", "paid"), ("processing", "paid")):
        outcome = domain.apply_saga_event(make_order(status, pay), ev.INVENTORY_RESERVATION_FAILED, "e",
                                          now_iso=LATER)
        assert outcome.order is not None
        assert outcome.order["status"] == "cancelled" and outcome.order["cancelReason"] == "out_of_stock"
        cancelled = outcome.events[1]
        assert cancelled["type"] == ev.ORDER_CANCELLED and cancelled["data"]["previousStatus"] == status


def test_reservation_failed_after_shipping_or_cancel_is_moot() -> None:
    """A reservation failure cannot cancel a shipped order, nor re-cancel a cancelled one."""
    for status in ("shipped", "delivered", "cancelled"):
        assert domain.apply_saga_event(make_order(status), ev.INVENTORY_RESERVATION_FAILED, "e",
                                       now_iso=LATER).order is None


def test_payment_failed_after_stock_cancel_keeps_reason() -> None:
    """Two cancelling events in either order leave one cancellation with the first reason."""
    first = domain.apply_saga_event(make_order(), ev.INVENTORY_RESERVATION_FAILED, "a", now_iso=LATER).order
    assert first is not None
    second = domain.apply_saga_event(first, ev.PAYMENT_FAILED, "b", now_iso=LATER)
    assert second.order is not None
    assert second.order["cancelReason"] == "out_of_stock" and second.order["paymentStatus"] == "failed"
    assert [e["type"] for e in second.events] == [ev.ORDER_UPDATED]


def test_public_fields_hide_bookkeeping() -> None:
    """Idempotency and payment bookkeeping never reach clients."""
    order = make_order()
    order["idempotencyKey"] = "u1:k"
    shown = domain.public_fields(order)
    assert not {"idempotencyKey", "requestHash", "paymentToken"} & shown.keys()

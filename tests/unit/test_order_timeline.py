"""The order's timeline: business events kept in the order document, nothing internal (no services)."""

from __future__ import annotations

from shop import envelope as ev
from shop.orders import domain
from shop.orders.domain import Product

PRODUCTS = {"p1": Product(id="p1", sku="SKU-1", name="Mug", price_cents=1250, currency="USD")}


def _order() -> dict:
    priced = domain.price_lines([("p1", 2)], PRODUCTS, 800)
    return domain.new_order(order_id="o1", buyer_id="u1", priced=priced, shipping_address={"line1": "x"},
                            now_iso="2026-01-01T00:00:00.000Z", payment_token="tok_secret", idempotency=None,
                            body_hash="h", correlation_id="corr-1")


def test_paid_then_cancelled_timeline_lists_each_business_event_in_order() -> None:
    """created → payment.succeeded → paid → cancelled, with only business facts in each entry."""
    order = _order()
    payment = ev.make_event(ev.PAYMENT_SUCCEEDED, source="payments", key="o1",
                            data={"orderId": "o1", "paymentId": "pay-1", "amountCents": 2700, "currency": "USD"})
    outcome = domain.apply_saga_event(order, ev.PAYMENT_SUCCEEDED, payment["id"], now_iso=payment["occurredAt"])
    assert outcome.order is not None
    order = domain.add_history(outcome.order, [payment, *outcome.events])
    cancelled = domain.cancel(order, reason="changed my mind", now_iso=ev.utc_now_iso())
    assert cancelled.order is not None
    order = domain.add_history(cancelled.order, cancelled.events)
    timeline = domain.timeline(order)
    assert [t["type"] for t in timeline] == ["order.created", "payment.succeeded", "order.updated",
                                            "order.updated", "order.cancelled"]
    assert timeline[0]["data"] == {"status": "pending", "paymentStatus": "pending", "totalCents": 2700,
                                   "currency": "USD"}
    assert timeline[1]["data"] == {"amountCents": 2700, "currency": "USD"}
    assert timeline[2]["data"]["status"] == "paid" and timeline[2]["data"]["previousStatus"] == "pending"
    assert timeline[4]["data"]["reason"] == "changed my mind"
    flat = repr(timeline)
    for internal in ("pay-1", "u1", "corr-1", "tok_secret", "SKU-1", payment["id"]):
        assert internal not in flat
    assert all(t["at"] for t in timeline) and [t["at"] for t in timeline] == sorted(t["at"] for t in timeline)


def test_history_is_not_part_of_the_public_order() -> None:
    """GET /api/orders/{id} keeps its contract shape: the history is served only by the timeline."""
    assert "history" in _order() and "history" not in domain.public_fields(_order())

"""The relay's envelope → WebSocket event mapping (CONTRACT §3), without services."""

from __future__ import annotations

from typing import Any

import pytest

from realtime_relay.mapping import ADMIN, INVENTORY, ORDERS, TOPICS, deliveries, stock_alert


def envelope(topic: str, data: dict[str, Any], event_id: str = "e-1") -> dict[str, Any]:
    return {"id": event_id, "type": topic, "version": 1, "occurredAt": "2026-01-01T00:00:00.000Z",
            "source": "test", "correlationId": "c", "data": data}


def routes(topic: str, data: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(d.channel, d.user_id, d.event) for d in deliveries(topic, envelope(topic, data))]


@pytest.mark.parametrize(
    ("topic", "owner_event", "admin_event"),
    [
        ("order.created", "order:created", "admin:order:created"),
        ("order.updated", "order:updated", "admin:order:updated"),
        ("order.shipped", "order:updated", "admin:order:updated"),
        ("order.delivered", "order:updated", "admin:order:updated"),
        ("order.cancelled", "order:cancelled", "admin:order:cancelled"),
    ],
)
def test_order_events_go_to_the_owner_and_admins(topic: str, owner_event: str, admin_event: str) -> None:
    """Every order topic reaches its buyer on `orders` and the admins on `admin`, nobody else."""
    expected = [(ORDERS, "u1", owner_event), (ADMIN, None, admin_event)]
    assert routes(topic, {"orderId": "o1", "buyerId": "u1"}) == expected


def test_shipped_and_delivered_carry_the_implied_status() -> None:
    """order.shipped has no status field; the pushed order:updated says `shipped`."""
    (owner, _admin) = deliveries("order.shipped", envelope("order.shipped", {"orderId": "o", "buyerId": "u"}))
    assert owner.data["status"] == "shipped"
    (owner, _admin) = deliveries("order.updated", envelope("order.updated", {"buyerId": "u", "status": "paid"}))
    assert owner.data["status"] == "paid"


def test_order_event_without_buyer_goes_to_admins_only() -> None:
    """No buyerId, no owner delivery (never a broadcast)."""
    assert routes("order.created", {"orderId": "o1"}) == [(ADMIN, None, "admin:order:created")]


def test_inventory_update_reaches_everyone_and_admins() -> None:
    """inventory.updated with plenty of stock: inventory:updated + admin:inventory:updated, no alert."""
    data = {"productId": "p", "sku": "S", "stock": 50, "reserved": 0, "available": 50}
    assert routes("inventory.updated", data) == [(INVENTORY, None, "inventory:updated"),
                                                 (ADMIN, None, "admin:inventory:updated")]


@pytest.mark.parametrize(("available", "severity"), [(9, "warning"), (1, "warning"), (0, "critical")])
def test_low_and_zero_stock_raise_an_admin_alert(available: int, severity: str) -> None:
    """Below 10 available: admin:alert warning; at 0: critical."""
    data = {"productId": "p", "sku": "S", "stock": available, "reserved": 0, "available": available}
    out = deliveries("inventory.updated", envelope("inventory.updated", data, "e-9"))
    alert = out[-1]
    assert (alert.channel, alert.event, alert.id) == (ADMIN, "admin:alert", "e-9:alert")
    assert alert.data["type"] == "inventory" and alert.data["severity"] == severity
    assert alert.data["available"] == available and alert.data["sku"] == "S" and alert.data["productId"] == "p"
    assert alert.data["message"]


def test_alert_threshold_is_strict_and_configurable() -> None:
    """Exactly 10 available raises nothing; the threshold is a parameter."""
    assert stock_alert({"available": 10}, 10) is None
    assert stock_alert({"available": 10}, 11) is not None
    assert stock_alert({"stock": 5, "reserved": 5}, 10)["severity"] == "critical"  # type: ignore[index]
    assert stock_alert({"sku": "x"}, 10) is None


def test_product_events() -> None:
    """product.created and product.updated go to inventory subscribers (storefronts) and admins."""
    assert routes("product.created", {"productId": "p"}) == [(INVENTORY, None, "product:created"),
                                                             (ADMIN, None, "admin:product:created")]
    assert routes("product.updated", {"productId": "p"}) == [(INVENTORY, None, "product:updated"),
                                                             (ADMIN, None, "admin:product:updated")]


def test_unmapped_or_malformed_envelopes_are_ignored() -> None:
    """Payment topics, missing data or id: no deliveries, no exception."""
    assert deliveries("payment.succeeded", envelope("payment.succeeded", {"orderId": "o"})) == []
    assert deliveries("order.created", {"id": "x", "data": "nope"}) == []
    assert deliveries("order.created", {"data": {"buyerId": "u"}}) == []


def test_topic_order_is_stable() -> None:
    """The cursor encodes topic indexes: the first eight are fixed forever."""
    assert TOPICS[:8] == ("order.created", "order.updated", "order.cancelled", "order.shipped",
                          "order.delivered", "inventory.updated", "product.created", "product.updated")

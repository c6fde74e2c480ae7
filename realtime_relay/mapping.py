"""Which WebSocket events one Kafka envelope becomes, per channel (CONTRACT §3). No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shop.envelope import (
    INVENTORY_UPDATED,
    ORDER_CANCELLED,
    ORDER_CREATED,
    ORDER_DELIVERED,
    ORDER_SHIPPED,
    ORDER_UPDATED,
    PRODUCT_CREATED,
    PRODUCT_UPDATED,
)

ORDERS = "orders"
INVENTORY = "inventory"
ADMIN = "admin"
CHANNELS: tuple[str, ...] = (ORDERS, INVENTORY, ADMIN)
#: Channels a socket may subscribe to without a token (CONTRACT §3): stock and catalog changes.
PUBLIC_CHANNELS: frozenset[str] = frozenset({INVENTORY})

#: The topics the relay reads, in a fixed order: a topic's index is part of the cursor encoding,
#: so new topics go at the end.
TOPICS: tuple[str, ...] = (
    ORDER_CREATED, ORDER_UPDATED, ORDER_CANCELLED, ORDER_SHIPPED, ORDER_DELIVERED,
    INVENTORY_UPDATED, PRODUCT_CREATED, PRODUCT_UPDATED,
)

# topic -> (event for the owner on `orders`, event on `inventory`, event on `admin`)
_ROUTES: dict[str, tuple[str | None, str | None, str | None]] = {
    ORDER_CREATED: ("order:created", None, "admin:order:created"),
    ORDER_UPDATED: ("order:updated", None, "admin:order:updated"),
    ORDER_SHIPPED: ("order:updated", None, "admin:order:updated"),
    ORDER_DELIVERED: ("order:updated", None, "admin:order:updated"),
    ORDER_CANCELLED: ("order:cancelled", None, "admin:order:cancelled"),
    INVENTORY_UPDATED: (None, "inventory:updated", "admin:inventory:updated"),
    PRODUCT_CREATED: (None, "product:created", "admin:product:created"),
    PRODUCT_UPDATED: (None, "product:updated", "admin:product:updated"),
}

# order.shipped / order.delivered carry no status; the owner's `order:updated` gets one.
_IMPLIED_STATUS = {ORDER_SHIPPED: "shipped", ORDER_DELIVERED: "delivered", ORDER_CANCELLED: "cancelled"}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One WebSocket event for one audience: a channel, and for ``orders`` the owner's user id."""

    channel: str
    user_id: str | None
    event: str
    id: str
    data: dict[str, Any]


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stock_alert(data: dict[str, Any], threshold: int) -> dict[str, Any] | None:
    """The ``admin:alert`` payload for an ``inventory.updated`` below ``threshold`` available, else None."""
    available = _int_or_none(data.get("available"))
    if available is None:
        stock, reserved = _int_or_none(data.get("stock")), _int_or_none(data.get("reserved"))
        if stock is None:
            return None
        available = stock - (reserved or 0)
    if available >= threshold:
        return None
    critical = available <= 0
    sku = data.get("sku")
    label = sku or data.get("productId")
    return {
        "type": "inventory",
        "severity": "critical" if critical else "warning",
        "message": f"{label} is out of stock" if critical else f"{label} is low on stock ({available} available)",
        "productId": data.get("productId"),
        "sku": sku,
        "available": available,
    }


def deliveries(topic: str, envelope: dict[str, Any], *, low_stock_threshold: int = 10) -> list[Delivery]:
    """Every delivery of one envelope read from ``topic``; empty for topics or shapes the relay ignores."""
    route = _ROUTES.get(topic)
    data = envelope.get("data")
    event_id = envelope.get("id")
    if route is None or not isinstance(data, dict) or not isinstance(event_id, str) or not event_id:
        return []
    owner_event, inventory_event, admin_event = route
    out: list[Delivery] = []
    if owner_event is not None:
        buyer = data.get("buyerId")
        implied = _IMPLIED_STATUS.get(topic)
        owner_data = {**data, "status": implied} if implied and "status" not in data else data
        if isinstance(buyer, str) and buyer:
            out.append(Delivery(ORDERS, buyer, owner_event, event_id, owner_data))
        if admin_event is not None:
            out.append(Delivery(ADMIN, None, admin_event, event_id, owner_data))
    else:
        if inventory_event is not None:
            out.append(Delivery(INVENTORY, None, inventory_event, event_id, data))
        if admin_event is not None:
            out.append(Delivery(ADMIN, None, admin_event, event_id, data))
    if topic == INVENTORY_UPDATED:
        alert = stock_alert(data, low_stock_threshold)
        if alert is not None:
            out.append(Delivery(ADMIN, None, "admin:alert", f"{event_id}:alert", alert))
    return out

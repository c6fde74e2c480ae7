"""The Kafka event envelope of the contract, and the topic names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ORDER_CREATED = "order.created"
ORDER_UPDATED = "order.updated"
ORDER_CANCELLED = "order.cancelled"
ORDER_SHIPPED = "order.shipped"
ORDER_DELIVERED = "order.delivered"
INVENTORY_UPDATED = "inventory.updated"
INVENTORY_RESERVATION_FAILED = "inventory.reservation-failed"
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
PAYMENT_REFUNDED = "payment.refunded"
PRODUCT_CREATED = "product.created"
PRODUCT_UPDATED = "product.updated"

#: Every topic of the contract; the event type is also the topic name.
TOPICS: tuple[str, ...] = (
    ORDER_CREATED,
    ORDER_UPDATED,
    ORDER_CANCELLED,
    ORDER_SHIPPED,
    ORDER_DELIVERED,
    INVENTORY_UPDATED,
    INVENTORY_RESERVATION_FAILED,
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    PRODUCT_CREATED,
    PRODUCT_UPDATED,
)


class Envelope(BaseModel):
    """One event as a consumer receives it: the published value (CONTRACT section 2) plus the
    record's ``key`` and where it was read (``topic``, ``partition``, ``offset``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    type: str
    version: int = 1
    occurredAt: str = ""
    source: str = ""
    correlationId: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    key: str | None = None
    topic: str = ""
    partition: int = 0
    offset: int = 0


def utc_now_iso() -> str:
    """Now, as ISO-8601 UTC with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_event(
    event_type: str,
    *,
    source: str,
    key: str,
    data: dict[str, Any],
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Build one envelope; ``key`` (the aggregate id) rides along for the producer and is not published in the value."""
    if event_type not in TOPICS:
        raise ValueError(f"unknown event type {event_type!r}")
    eid = event_id or str(uuid.uuid4())
    return {
        "id": eid,
        "type": event_type,
        "version": 1,
        "occurredAt": utc_now_iso(),
        "source": source,
        "correlationId": correlation_id or eid,
        "key": key,
        "data": data,
    }


def wire_value(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope as published: everything but the routing key."""
    return {k: v for k, v in envelope.items() if k != "key"}

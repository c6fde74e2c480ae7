"""Pure order rules: pricing, the status state machine and the saga reactions. No I/O here.

Every rule takes the current order document (a plain dict) and returns the new document plus
the events it produces; the service layer stores both in one compare-and-swap write.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from shop import envelope as ev
from shop.errors import BadRequest, Conflict

Doc = dict[str, Any]

SOURCE = "orders"

PENDING = "pending"
PAID = "paid"
PROCESSING = "processing"
SHIPPED = "shipped"
DELIVERED = "delivered"
CANCELLED = "cancelled"

STATUSES: tuple[str, ...] = (PENDING, PAID, PROCESSING, SHIPPED, DELIVERED, CANCELLED)

#: The order state machine of the contract; anything not listed is illegal (409).
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({PAID, CANCELLED}),
    PAID: frozenset({PROCESSING, CANCELLED}),
    PROCESSING: frozenset({SHIPPED, CANCELLED}),
    SHIPPED: frozenset({DELIVERED}),
    DELIVERED: frozenset(),
    CANCELLED: frozenset(),
}

CANCELLABLE: frozenset[str] = frozenset({PENDING, PAID, PROCESSING})

#: Statuses whose orders count as revenue (paid or later, not cancelled).
REVENUE_STATUSES: tuple[str, ...] = (PAID, PROCESSING, SHIPPED, DELIVERED)

PAYMENT_PENDING = "pending"
PAYMENT_PAID = "paid"
PAYMENT_FAILED = "failed"
PAYMENT_REFUNDED = "refunded"

#: paymentStatus only moves forward: pending → paid | failed; paid → refunded.
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PAYMENT_PENDING: frozenset({PAYMENT_PAID, PAYMENT_FAILED, PAYMENT_REFUNDED}),
    PAYMENT_PAID: frozenset({PAYMENT_REFUNDED}),
    PAYMENT_FAILED: frozenset(),
    PAYMENT_REFUNDED: frozenset(),
}

REASON_PAYMENT_DECLINED = "payment_declined"
REASON_OUT_OF_STOCK = "out_of_stock"
REASON_CUSTOMER = "customer_request"
REASON_ADMIN = "admin_request"

#: How many applied saga-event ids an order remembers (a handful per order in practice).
MAX_APPLIED_EVENTS = 100


# --- ids and hashing -------------------------------------------------------------------------


def new_order_id(now: float | None = None, rand: bytes | None = None) -> str:
    """A UUIDv7 string: random, yet sorting by it sorts by creation time (the list cursor relies on it)."""
    millis = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    tail = int.from_bytes(rand if rand is not None else os.urandom(10), "big") & ((1 << 80) - 1)
    value = (millis << 80) | tail
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def request_hash(body: dict[str, Any]) -> str:
    """A stable hash of a validated request body (key order and whitespace do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key(buyer_id: str, key: str) -> str:
    """Keys are scoped per buyer, so two customers may pick the same key."""
    return f"{buyer_id}:{key}"


# --- pricing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """What pricing needs to know about a catalog product."""

    id: str
    sku: str
    name: str
    price_cents: int
    currency: str
    active: bool = True


@dataclass(frozen=True)
class Priced:
    """The priced lines and totals of an order, all in minor units."""

    items: list[Doc]
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    currency: str


def tax_for(subtotal_cents: int, tax_rate_bps: int) -> int:
    """Tax in minor units: ``subtotal * rate`` (basis points), rounded half up."""
    if subtotal_cents < 0 or tax_rate_bps < 0:
        raise ValueError("subtotal and tax rate must not be negative")
    return (subtotal_cents * tax_rate_bps + 5_000) // 10_000


def price_lines(lines: list[tuple[str, int]], products: dict[str, Product], tax_rate_bps: int) -> Priced:
    """Price ``(productId, quantity)`` lines from the catalog; the client's prices are never used.

    Raises :class:`BadRequest` for unknown or inactive products and for a mix of currencies.
    """
    missing = [pid for pid, _ in lines if pid not in products or not products[pid].active]
    if missing:
        raise BadRequest(
            "unknown or unavailable product(s): " + ", ".join(missing),
            code="unknown_product",
            details=[{"field": "items", "productId": pid, "message": "no such active product"} for pid in missing],
        )
    currencies = {products[pid].currency for pid, _ in lines}
    if len(currencies) != 1:
        raise BadRequest("all items of one order must share a currency", code="mixed_currency",
                         details=sorted(currencies))
    items: list[Doc] = []
    subtotal = 0
    for pid, quantity in lines:
        product = products[pid]
        items.append({
            "productId": pid,
            "sku": product.sku,
            "name": product.name,
            "unitPriceCents": product.price_cents,
            "quantity": quantity,
        })
        subtotal += product.price_cents * quantity
    tax = tax_for(subtotal, tax_rate_bps)
    return Priced(items=items, subtotal_cents=subtotal, tax_cents=tax, total_cents=subtotal + tax,
                  currency=currencies.pop())


def stock_shortages(lines: list[tuple[str, int]], available: dict[str, int]) -> list[Doc]:
    """The lines asking for more than is visibly available (missing inventory counts as 0)."""
    short = []
    for pid, quantity in lines:
        have = max(0, int(available.get(pid, 0)))
        if quantity > have:
            short.append({"productId": pid, "requested": quantity, "available": have})
    return short


# --- the order document and its events -------------------------------------------------------


def new_order(
    *,
    order_id: str,
    buyer_id: str,
    priced: Priced,
    shipping_address: Doc,
    now_iso: str,
    payment_token: str | None,
    idempotency: str | None,
    body_hash: str,
    correlation_id: str | None,
) -> Doc:
    """A pending order with its ``order.created`` event in the outbox field ``outbox``."""
    order: Doc = {
        "_id": order_id,
        "buyerId": buyer_id,
        "items": priced.items,
        "subtotalCents": priced.subtotal_cents,
        "taxCents": priced.tax_cents,
        "totalCents": priced.total_cents,
        "currency": priced.currency,
        "status": PENDING,
        "paymentStatus": PAYMENT_PENDING,
        "shippingAddress": shipping_address,
        "createdAt": now_iso,
        "updatedAt": now_iso,
        "paymentToken": payment_token,
        "requestHash": body_hash,
        "appliedEvents": [],
    }
    if idempotency is not None:
        # absent (not null) without a key: the unique index is sparse
        order["idempotencyKey"] = idempotency
    created = ev.make_event(ev.ORDER_CREATED, source=SOURCE, key=order_id, correlation_id=correlation_id, data={
        "orderId": order_id,
        "buyerId": buyer_id,
        "items": priced.items,
        "subtotalCents": priced.subtotal_cents,
        "taxCents": priced.tax_cents,
        "totalCents": priced.total_cents,
        "currency": priced.currency,
        "status": PENDING,
        "paymentStatus": PAYMENT_PENDING,
        "createdAt": now_iso,
    })
    order["outbox"] = [created]
    order["outboxPending"] = True
    order["outboxSince"] = time.time()
    return add_history(order, [created])


_HIDDEN = frozenset({"idempotencyKey", "requestHash", "paymentToken", "history"})

#: What a timeline entry keeps of an event's data: the business facts, never ids, items or the buyer.
TIMELINE_FIELDS = ("status", "previousStatus", "paymentStatus", "reason", "cancelReason", "totalCents",
                   "amountCents", "currency")
MAX_HISTORY = 100


def add_history(order: Doc, events: list[Doc]) -> Doc:
    """Append ``events`` (the order's own, or the saga events it reacted to) to its timeline.

    Kept in the order document, written with the change itself, so ``GET /api/orders/{id}/timeline``
    needs no other store and is exactly as consistent as the order.
    """
    history = list(order.get("history") or [])
    for event in events:
        data = event.get("data") or {}
        history.append({"type": event["type"], "at": event.get("occurredAt"),
                        "data": {k: data[k] for k in TIMELINE_FIELDS if data.get(k) is not None}})
    order["history"] = history[-MAX_HISTORY:]
    return order


def timeline(order: Doc) -> list[Doc]:
    """The order's business events in time order: ``[{type, at, data}]``."""
    return sorted((dict(h) for h in order.get("history") or []), key=lambda h: str(h.get("at") or ""))


def public_fields(order: Doc) -> Doc:
    """The order as clients see it (no idempotency or payment bookkeeping)."""
    return {k: v for k, v in order.items() if k not in _HIDDEN}


@dataclass
class Outcome:
    """The result of a rule: the new order (or ``None`` when nothing changes) and its events."""

    order: Doc | None
    events: list[Doc] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.order is not None


def _updated_event(order: Doc, previous: str, now_iso: str, correlation_id: str | None) -> Doc:
    data = {
        "orderId": order["_id"],
        "buyerId": order["buyerId"],
        "status": order["status"],
        "previousStatus": previous,
        "paymentStatus": order["paymentStatus"],
        "updatedAt": now_iso,
    }
    if order.get("cancelReason"):
        data["cancelReason"] = order["cancelReason"]
    return ev.make_event(ev.ORDER_UPDATED, source=SOURCE, key=order["_id"], data=data, correlation_id=correlation_id)


def _status_events(order: Doc, previous: str, now_iso: str, correlation_id: str | None) -> list[Doc]:
    """``order.updated`` plus the event named after the new status, if it has one."""
    events = [_updated_event(order, previous, now_iso, correlation_id)]
    oid, buyer = order["_id"], order["buyerId"]
    status = order["status"]
    if status == SHIPPED:
        events.append(ev.make_event(ev.ORDER_SHIPPED, source=SOURCE, key=oid, correlation_id=correlation_id,
                                    data={"orderId": oid, "buyerId": buyer, "shippedAt": now_iso}))
    elif status == DELIVERED:
        events.append(ev.make_event(ev.ORDER_DELIVERED, source=SOURCE, key=oid, correlation_id=correlation_id,
                                    data={"orderId": oid, "buyerId": buyer, "items": order["items"],
                                          "deliveredAt": now_iso}))
    elif status == CANCELLED:
        events.append(ev.make_event(ev.ORDER_CANCELLED, source=SOURCE, key=oid, correlation_id=correlation_id, data={
            "orderId": oid,
            "buyerId": buyer,
            "items": order["items"],
            "reason": order.get("cancelReason"),
            "previousStatus": previous,
            "paymentStatus": order["paymentStatus"],
            "totalCents": order["totalCents"],
            "currency": order["currency"],
            "cancelledAt": now_iso,
        }))
    return events


def check_transition(current: str, target: str) -> None:
    """Raise :class:`Conflict` unless ``current → target`` is an edge of the state machine."""
    if target not in STATUSES:
        raise BadRequest(f"unknown status {target!r}", code="validation_error")
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = sorted(TRANSITIONS.get(current, frozenset()))
        raise Conflict(
            f"cannot change an order from {current} to {target}",
            code="illegal_transition",
            details=[{"from": current, "to": target, "allowed": allowed}],
        )


def transition(order: Doc, target: str, *, now_iso: str, correlation_id: str | None = None,
               reason: str | None = None) -> Outcome:
    """Move ``order`` to ``target`` (state machine enforced) and produce its events.

    Cancelling a paid order leaves ``paymentStatus`` ``paid``: it becomes ``refunded`` when the
    payment service confirms the refund. Moving to ``paid`` by hand marks the payment paid.
    """
    current = order["status"]
    check_transition(current, target)
    new = copy.deepcopy(order)
    new["status"] = target
    new["updatedAt"] = now_iso
    if target == CANCELLED:
        new["cancelReason"] = reason or REASON_ADMIN
        new["cancelledAt"] = now_iso
    elif target == PAID and new["paymentStatus"] == PAYMENT_PENDING:
        new["paymentStatus"] = PAYMENT_PAID
    return Outcome(new, _status_events(new, current, now_iso, correlation_id))


def cancel(order: Doc, *, reason: str, now_iso: str, correlation_id: str | None = None) -> Outcome:
    """Cancel an order that is still ``pending``, ``paid`` or ``processing`` (else 409)."""
    if order["status"] not in CANCELLABLE:
        raise Conflict(
            f"an order that is {order['status']} can no longer be cancelled",
            code="illegal_transition",
            details=[{"from": order["status"], "to": CANCELLED, "allowed": sorted(CANCELLABLE)}],
        )
    return transition(order, CANCELLED, now_iso=now_iso, correlation_id=correlation_id, reason=reason)


# --- the saga: reactions to payment and inventory events -------------------------------------


def _set_payment_status(order: Doc, target: str) -> bool:
    if order["paymentStatus"] == target:
        return False
    if target not in PAYMENT_TRANSITIONS.get(order["paymentStatus"], frozenset()):
        return False
    order["paymentStatus"] = target
    return True


def _remember(order: Doc, event_id: str) -> None:
    applied = list(order.get("appliedEvents") or [])
    applied.append(event_id)
    order["appliedEvents"] = applied[-MAX_APPLIED_EVENTS:]


def apply_saga_event(order: Doc, event_type: str, event_id: str, *, now_iso: str,
                     correlation_id: str | None = None) -> Outcome:
    """React to a payment or inventory event; safe for duplicates and any arrival order.

    - ``payment.succeeded``: a pending order becomes paid; a cancelled order only records that
      money was taken (payments refunds it because it sees ``order.cancelled``), it is never
      resurrected.
    - ``payment.failed``: a pending order is cancelled (``payment_declined``).
    - ``payment.refunded``: ``paymentStatus`` becomes ``refunded``.
    - ``inventory.reservation-failed``: an order not yet shipped is cancelled (``out_of_stock``),
      even when it is already paid (then payments refunds it).
    Returns ``Outcome(None)`` when the event changes nothing (already applied, or moot).
    """
    if event_id in (order.get("appliedEvents") or []):
        return Outcome(None)
    new = copy.deepcopy(order)
    status = new["status"]
    events: list[Doc] = []
    if event_type == ev.PAYMENT_SUCCEEDED:
        if status == PENDING:
            _set_payment_status(new, PAYMENT_PAID)
            return _saga_transition(new, PAID, event_id, now_iso, correlation_id)
        changed = _set_payment_status(new, PAYMENT_PAID)
    elif event_type == ev.PAYMENT_FAILED:
        changed = _set_payment_status(new, PAYMENT_FAILED)
        if status == PENDING:
            new["cancelReason"] = REASON_PAYMENT_DECLINED
            return _saga_transition(new, CANCELLED, event_id, now_iso, correlation_id)
    elif event_type == ev.PAYMENT_REFUNDED:
        changed = _set_payment_status(new, PAYMENT_REFUNDED)
    elif event_type == ev.INVENTORY_RESERVATION_FAILED:
        if status in CANCELLABLE:
            new["cancelReason"] = REASON_OUT_OF_STOCK
            return _saga_transition(new, CANCELLED, event_id, now_iso, correlation_id)
        changed = False
    else:
        raise ValueError(f"orders do not react to {event_type!r}")
    if not changed:
        return Outcome(None)
    new["updatedAt"] = now_iso
    _remember(new, event_id)
    events.append(_updated_event(new, status, now_iso, correlation_id))
    return Outcome(new, events)


def _saga_transition(new: Doc, target: str, event_id: str, now_iso: str, correlation_id: str | None) -> Outcome:
    previous = new["status"]
    new["status"] = target
    new["updatedAt"] = now_iso
    if target == CANCELLED:
        new["cancelledAt"] = now_iso
    _remember(new, event_id)
    return Outcome(new, _status_events(new, previous, now_iso, correlation_id))

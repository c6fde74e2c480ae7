"""Order use cases: each one reads, applies a pure rule from :mod:`shop.orders.domain`, and stores
the new order with its events in one write, then publishes them (the sweeper covers a crash)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shop import envelope as ev
from shop import outbox
from shop.auth.caller import Caller
from shop.config import get_settings
from shop.errors import Conflict, Forbidden, NotFound
from shop.orders import domain, store
from shop.orders.models import CreateOrder, ListOrders
from shop.orders.store import DuplicateIdempotencyKey
from shop.store import Doc, public

log = logging.getLogger(__name__)

def to_public(order: Doc) -> Doc:
    """An order as the API returns it."""
    return domain.public_fields(public(order))


@dataclass(frozen=True)
class Created:
    """The order a create call resolved to, and whether this call created it."""

    order: Doc
    created: bool


def build_order(buyer_id: str, body: CreateOrder, key: str | None, correlation_id: str | None, *,
                body_hash: str | None = None) -> Doc:
    """Price and stock-check a request, and build the pending order with its ``order.created`` event
    (``body_hash``: the request's hash, when the caller computed it already)."""
    lines = [(line.productId, line.quantity) for line in body.items]
    ids = [pid for pid, _ in lines]
    priced = domain.price_lines(lines, store.products_by_id(ids), get_settings().tax_rate_bps)
    short = domain.stock_shortages(lines, store.available_stock(ids))
    if short:
        raise Conflict("not enough stock for: " + ", ".join(s["productId"] for s in short),
                       code="insufficient_stock", details=short)
    return domain.new_order(
        order_id=domain.new_order_id(),
        buyer_id=buyer_id,
        priced=priced,
        shipping_address=body.shippingAddress.model_dump(exclude_none=True),
        now_iso=ev.utc_now_iso(),
        payment_token=body.paymentToken,
        idempotency=domain.idempotency_key(buyer_id, key) if key else None,
        body_hash=body_hash or domain.request_hash(body.model_dump(mode="json")),
        correlation_id=correlation_id,
    )


def ensure_customer(caller: Caller) -> None:
    """Orders are placed by customers: an admin account is not a buyer (403)."""
    if caller.is_admin:
        raise Forbidden("orders are placed by customers; admins cannot place orders")


def create_order(caller: Caller, body: CreateOrder, key: str | None, correlation_id: str | None) -> Created:
    """Place an order (customers only). With an idempotency key, a retry returns the first order."""
    ensure_customer(caller)
    body_hash = domain.request_hash(body.model_dump(mode="json"))
    scoped = domain.idempotency_key(caller.user_id, key) if key else None
    if scoped is not None:
        existing = store.by_idempotency_key(scoped)
        if existing is not None:
            return Created(_replay(existing, body_hash), created=False)
    order = build_order(caller.user_id, body, key, correlation_id, body_hash=body_hash)
    try:
        store.insert(order)
    except DuplicateIdempotencyKey:
        existing = store.by_idempotency_key(str(scoped))
        if existing is None:  # pragma: no cover - the clash implies the other order exists
            raise
        return Created(_replay(existing, body_hash), created=False)
    outbox.publish(store.orders(), order)
    return Created(order, created=True)


def _replay(existing: Doc, body_hash: str) -> Doc:
    if existing.get("requestHash") != body_hash:
        raise Conflict("this Idempotency-Key was already used with a different request body",
                       code="idempotency_key_reused")
    return existing


def get_order(caller: Caller, order_id: str) -> Doc:
    """The order, for its owner or an admin; anyone else is told it does not exist."""
    order = store.get(order_id)
    if order is None or (not caller.is_admin and order.get("buyerId") != caller.user_id):
        raise NotFound(f"order {order_id} not found")
    return order


def get_timeline(caller: Caller, order_id: str) -> list[Doc]:
    """The order's business events in time order, for its owner or an admin (anyone else: 404)."""
    return domain.timeline(get_order(caller, order_id))


def list_orders(caller: Caller, query: ListOrders) -> dict[str, Any]:
    """The caller's orders (admins: everyone's), newest first, optionally one status only."""
    docs, next_cursor = store.page(
        buyer_id=None if caller.is_admin else caller.user_id,
        status=query.status,
        limit=query.limit,
        cursor=query.cursor,
    )
    return {"items": [to_public(d) for d in docs], "nextCursor": next_cursor}


def _change(order_id: str, rule: Callable[[Doc], domain.Outcome], *,
            visible_to: Caller | None = None, reacting_to: list[Doc] | None = None) -> tuple[Doc, bool]:
    """Apply ``rule(order) -> Outcome`` in a CAS write with its events (published after the write).

    The events, and ``reacting_to`` (the saga event the rule applied), join the order's timeline
    in the same write. Returns the order and whether it was written; a missing (or, for
    ``visible_to``, foreign) order is a :class:`NotFound`.
    """

    def change(current: Doc | None) -> Doc | None:
        if current is None or (visible_to is not None and not visible_to.is_admin
                               and current.get("buyerId") != visible_to.user_id):
            raise NotFound(f"order {order_id} not found")
        outcome = rule(current)
        if outcome.order is None:
            return None
        history = [*(reacting_to or []), *outcome.events]
        return outbox.add_events(domain.add_history(outcome.order, history), outcome.events)

    order, wrote = store.change(order_id, change)
    assert order is not None
    return order, wrote


def update_status(caller: Caller, order_id: str, status: str, correlation_id: str | None) -> Doc:
    """Admin: move an order along the state machine (illegal transitions are 409)."""
    if not caller.is_admin:
        raise Forbidden("admin role required")
    now = ev.utc_now_iso()
    return _change(order_id, lambda o: domain.transition(o, status, now_iso=now, correlation_id=correlation_id,
                                                         reason=domain.REASON_ADMIN))[0]


def cancel_order(caller: Caller, order_id: str, reason: str | None, correlation_id: str | None) -> Doc:
    """Owner or admin: cancel while pending, paid or processing; the reason defaults to who asked."""
    default = domain.REASON_ADMIN if caller.is_admin else domain.REASON_CUSTOMER
    now = ev.utc_now_iso()
    return _change(order_id, lambda o: domain.cancel(o, reason=reason or default, now_iso=now,
                                                     correlation_id=correlation_id), visible_to=caller)[0]


SAGA_EVENTS: frozenset[str] = frozenset({
    ev.PAYMENT_SUCCEEDED, ev.PAYMENT_FAILED, ev.PAYMENT_REFUNDED, ev.INVENTORY_RESERVATION_FAILED,
})


def apply_saga_event(envelope: ev.Envelope) -> bool:
    """Apply a payment / inventory event to its order; returns whether the order changed."""
    event_type = envelope.type
    if event_type not in SAGA_EVENTS:
        log.warning("orders ignore %s events", event_type)
        return False
    order_id = envelope.data.get("orderId") or envelope.key
    if not order_id:
        log.warning("%s event %s names no order; skipped", event_type, envelope.id)
        return False
    now = ev.utc_now_iso()
    try:
        _, wrote = _change(str(order_id), lambda o: domain.apply_saga_event(
            o, event_type, envelope.id, now_iso=now, correlation_id=envelope.correlationId),
            reacting_to=[envelope.model_dump()])
    except NotFound:
        log.warning("%s event %s for unknown order %s; skipped", event_type, envelope.id, order_id)
        return False
    return wrote


def admin_stats(caller: Caller) -> dict[str, Any]:
    """Counts by status, revenue (paid-or-later, not cancelled) and the low-stock count."""
    if not caller.is_admin:
        raise Forbidden("admin role required")
    settings = get_settings()
    counts = store.counts_by_status()
    revenue = store.revenue_by_currency()
    return {
        "ordersByStatus": counts,
        "totalOrders": sum(counts.values()),
        "revenueCents": sum(revenue.values()),
        "revenueByCurrency": revenue,
        "lowStockCount": store.low_stock_count(settings.low_stock_threshold),
        "lowStockThreshold": settings.low_stock_threshold,
    }

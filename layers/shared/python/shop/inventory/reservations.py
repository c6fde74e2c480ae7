"""Order-driven stock changes: reserve on ``order.created``, release on ``order.cancelled``,
commit (reserved → sold) on ``order.delivered``.

How a multi-line reservation stays all-or-nothing without transactions:

1. The ``reservations`` document of the order (``_id`` = order id) is created first, in status
   ``reserving``. It is the idempotency record: a redelivered ``order.created`` finds it and
   does nothing unless the reservation is still ``reserving`` (an earlier attempt crashed), in
   which case it resumes.
2. Lines are reserved one by one in product-id order (so two orders never wait on each
   other's products in opposite order). Each line is one compare-and-swap write of the
   product's inventory document that checks ``available``, records ``holds[orderId]`` and
   appends its ``inventory.updated`` event. A line already held for this order is a no-op,
   so a retried attempt never reserves twice. The CAS write is what makes two orders racing
   for the last unit safe: exactly one write wins, the other re-reads and finds nothing left.
3. On a shortage nothing more is reserved; the lines already held are released again
   (compensation), then the reservation becomes ``failed`` with the short lines, and its
   ``inventory.reservation-failed`` event is in that same write.
4. Otherwise the reservation becomes ``reserved``.

Trade-off: stock never goes below zero at any moment, but between steps 2 and 3 a failing
order holds units it will give back, so a concurrent order may transiently see them as
unavailable and fail too. We prefer that to overselling.

Release and commit read the quantities from the ``holds``/``committed`` maps on the
inventory documents, never from the event, and are no-ops when already done. A cancellation
that overtakes its ``order.created`` leaves a ``released`` tombstone, so the late creation
reserves nothing; one that lands while a reservation is running is noticed by the
reservation's final write, which then gives its holds back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from shop import outbox
from shop.envelope import INVENTORY_RESERVATION_FAILED, Envelope, make_event, utc_now_iso
from shop.errors import ShopError
from shop.inventory import domain
from shop.inventory.domain import SOURCE, InsufficientStock, Line
from shop.inventory.models import OrderEventData
from shop.inventory.store import apply, change, figures, inventory, reservations, set_reservation_status
from shop.store import Doc, mutate

log = logging.getLogger(__name__)

RESERVING = "reserving"
RESERVED = "reserved"
FAILED = "failed"
RELEASED = "released"
COMMITTED = "committed"


class ReservationNotReady(ShopError):
    """A delivery arrived for an order whose reservation is not complete; retry later."""

    status = 409
    code = "reservation_not_ready"


def _lines(doc: Doc) -> list[Line]:
    return [Line(product_id=str(x["productId"]), quantity=int(x["quantity"])) for x in doc.get("lines") or []]


# ---- one inventory document ------------------------------------------------------------------


def _hold(order_id: str, line: Line, correlation_id: str | None) -> None:
    def step(doc: Doc | None) -> Doc | None:
        if doc is None:
            raise InsufficientStock(line.quantity, 0, line.product_id)
        holds = dict(doc.get("holds") or {})
        if order_id in holds:
            return None
        new = domain.reserve(figures(doc), line.quantity)
        holds[order_id] = line.quantity
        doc["holds"] = holds
        return apply(doc, new, reason="reserved", order_id=order_id, correlation_id=correlation_id)

    change(line.product_id, step)


def _unhold(order_id: str, product_id: str, correlation_id: str | None, reason: str) -> None:
    """Give back what ``order_id`` holds on ``product_id``, and sold units if it was delivered."""

    def step(doc: Doc | None) -> Doc | None:
        if doc is None:
            return None
        holds = dict(doc.get("holds") or {})
        committed = dict(doc.get("committed") or {})
        held = holds.pop(order_id, None)
        sold = committed.pop(order_id, None)
        if held is None and sold is None:
            return None
        new = figures(doc)
        if held is not None:
            new = domain.release(new, int(held))
        if sold is not None:
            new = domain.return_sold(new, int(sold))
        doc["holds"], doc["committed"] = holds, committed
        return apply(doc, new, reason=reason, order_id=order_id, correlation_id=correlation_id)

    change(product_id, step)


def _commit_hold(order_id: str, product_id: str, correlation_id: str | None) -> None:
    def step(doc: Doc | None) -> Doc | None:
        if doc is None:
            return None
        holds = dict(doc.get("holds") or {})
        held = holds.pop(order_id, None)
        if held is None:
            return None
        committed = dict(doc.get("committed") or {})
        committed[order_id] = int(held)
        doc["holds"], doc["committed"] = holds, committed
        new = domain.commit(figures(doc), int(held))
        return apply(doc, new, reason="sold", order_id=order_id, correlation_id=correlation_id)

    change(product_id, step)


def _shortfall(order_id: str, line: Line) -> dict[str, Any] | None:
    """The short-line record of ``line`` as things stand, or ``None`` if it could be served."""
    doc = inventory().find_one({"_id": line.product_id})
    if doc is not None and order_id in (doc.get("holds") or {}):
        return None
    available = figures(doc).available if doc is not None else 0
    if available >= line.quantity:
        return None
    return {"productId": line.product_id, "quantity": line.quantity, "available": max(available, 0)}


# ---- use cases -------------------------------------------------------------------------------


def reserve(order_id: str, items: Iterable[tuple[str, int]], *, correlation_id: str | None) -> str:
    """Reserve every line of the order, or none; returns the reservation's final status."""
    wanted = domain.merge_lines(items)

    def open_(doc: Doc | None) -> Doc | None:
        if doc is not None:
            return None
        now = utc_now_iso()
        return {
            "status": RESERVING,
            "lines": [{"productId": x.product_id, "quantity": x.quantity} for x in wanted],
            "createdAt": now,
            "updatedAt": now,
        }

    doc, _ = mutate(reservations(), order_id, open_, absent=True)  # usually the first delivery: no read
    assert doc is not None
    if doc["status"] != RESERVING:
        outbox.publish(reservations(), doc)  # a crash may have left its event unsent
        return str(doc["status"])
    lines = _lines(doc)  # a resumed attempt reserves what the first one recorded

    short: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        try:
            _hold(order_id, line, correlation_id)
        except InsufficientStock as exc:
            short.append({"productId": line.product_id, "quantity": line.quantity, "available": exc.available})
            short.extend(s for s in (_shortfall(order_id, rest) for rest in lines[i + 1 :]) if s is not None)
            break

    if not short:
        doc = set_reservation_status(order_id, (RESERVING,), RESERVED, known=doc)
        if doc["status"] == RELEASED:  # cancelled while we were reserving
            _release_all(order_id, [x.product_id for x in lines], correlation_id)
        return str(doc["status"])

    _release_all(order_id, [x.product_id for x in lines], correlation_id, reason="reservation-failed")
    failed = make_event(
        INVENTORY_RESERVATION_FAILED,
        source=SOURCE,
        key=order_id,
        data={"orderId": order_id, "items": short, "reason": "insufficient_stock"},
        correlation_id=correlation_id,
    )
    doc = set_reservation_status(order_id, (RESERVING,), FAILED, shortLines=short, events=[failed], known=doc)
    return str(doc["status"])


def _release_all(
    order_id: str, product_ids: Iterable[str], correlation_id: str | None, reason: str = "released"
) -> None:
    for product_id in sorted(set(product_ids)):
        _unhold(order_id, product_id, correlation_id, reason)


def release(order_id: str, product_ids: Iterable[str], *, correlation_id: str | None) -> str:
    """Give back what the order holds (or what it was sold, if it was delivered); idempotent."""
    now = utc_now_iso()

    def mark(doc: Doc | None) -> Doc | None:
        if doc is None:  # cancelled before its creation reached us: leave a tombstone
            return {"status": RELEASED, "lines": [], "createdAt": now, "updatedAt": now}
        if doc.get("status") in (RELEASED, FAILED):
            return None
        doc.update(previousStatus=doc.get("status"), status=RELEASED, updatedAt=now)
        return doc

    doc, _ = mutate(reservations(), order_id, mark)
    assert doc is not None
    # Always sweep: a crash after the mark above must not leave units held.
    _release_all(order_id, [x.product_id for x in _lines(doc)] + list(product_ids), correlation_id)
    return str(doc["status"])


def commit(order_id: str, *, correlation_id: str | None) -> str:
    """Move the order's reserved units to sold; idempotent."""
    doc = reservations().find_one({"_id": order_id})
    status = doc.get("status") if doc else None
    if doc is None or status == RESERVING:
        raise ReservationNotReady(f"reservation of order {order_id} is not complete")
    if status != RESERVED:
        if status != COMMITTED:
            log.warning("order %s delivered but its reservation is %s; nothing to commit", order_id, status)
        return str(status)
    for line in _lines(doc):
        _commit_hold(order_id, line.product_id, correlation_id)
    return str(set_reservation_status(order_id, (RESERVED,), COMMITTED)["status"])


# ---- Kafka entry points ------------------------------------------------------------------------


def _order_data(envelope: Envelope) -> OrderEventData | None:
    try:
        return OrderEventData.model_validate(envelope.data)
    except ValidationError as exc:
        # A malformed event can never succeed; retrying it would only hold up the partition.
        log.error("skipping %s event %s with a malformed payload: %s", envelope.type, envelope.id, exc)
        return None


def on_order_created(envelope: Envelope) -> str | None:
    data = _order_data(envelope)
    if data is None:
        return None
    if not data.items:
        log.error("skipping order.created %s without items", envelope.id)
        return None
    items = [(x.productId, x.quantity) for x in data.items]
    return reserve(data.orderId, items, correlation_id=envelope.correlationId)


def on_order_cancelled(envelope: Envelope) -> str | None:
    data = _order_data(envelope)
    if data is None:
        return None
    product_ids = [x.productId for x in data.items]
    return release(data.orderId, product_ids, correlation_id=envelope.correlationId)


def on_order_delivered(envelope: Envelope) -> str | None:
    data = _order_data(envelope)
    if data is None:
        return None
    return commit(data.orderId, correlation_id=envelope.correlationId)

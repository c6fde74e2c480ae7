"""The order saga's invariants, and what to re-publish for an order stuck between steps. No I/O.

An order's saga spans four documents: the order, its stock reservation and its payment (both keyed
by the order id), and the ``holds`` / ``committed`` maps of the products' inventory records. A
:class:`Snapshot` gathers them; :func:`order_problems` says what is inconsistent, and
:func:`redrive_types` which of the order's logged events, published again with their original
ids, move each lagging consumer along. Every consumer is idempotent on the event id and on the
order id, so re-publishing never applies anything twice.

Most problems are normal for a moment (a consumer has not caught up yet): they only count as stuck
once nothing of the order changed for longer than a bound (:func:`stuck`). Product figures
(:func:`product_problems`) and double charges (:func:`charged_twice`) are wrong at any moment.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shop import envelope as ev

Doc = dict[str, Any]

# Order statuses (shop.orders.domain), reservation statuses (shop.inventory.reservations) and
# payment statuses (shop.payments.domain) as stored; repeated here as plain strings because this
# module reads the documents of three services and imports none of their code.
PENDING, PAID, PROCESSING, SHIPPED, DELIVERED, CANCELLED = (
    "pending", "paid", "processing", "shipped", "delivered", "cancelled")
RESERVING, RESERVED, FAILED, RELEASED, COMMITTED = "reserving", "reserved", "failed", "released", "committed"
CHARGING, SUCCEEDED, REFUNDED, VOIDED = "charging", "succeeded", "refunded", "voided"

#: Statuses whose stock must be held (reserved, not yet sold) and whose payment must have succeeded.
HOLDING: frozenset[str] = frozenset({PAID, PROCESSING, SHIPPED})

#: The order's ``paymentStatus`` each settled payment status implies, and the event that sets it.
PAYMENT_VIEW: dict[str, tuple[str, str]] = {
    SUCCEEDED: ("paid", ev.PAYMENT_SUCCEEDED),
    FAILED: ("failed", ev.PAYMENT_FAILED),
    REFUNDED: ("refunded", ev.PAYMENT_REFUNDED),
}

# Problem codes.
STILL_PENDING = "pending"
PAID_WITHOUT_PAYMENT = "paid_without_payment"
PAID_WITHOUT_STOCK = "paid_without_stock"
DELIVERED_WITHOUT_SALE = "delivered_without_sale"
CANCELLED_HOLDING_STOCK = "cancelled_holding_stock"
CANCELLED_CHARGED = "cancelled_charged"
CANCELLATION_NOT_APPLIED = "cancellation_not_applied"
PAYMENT_STATUS_STALE = "payment_status_stale"
ORPHAN_HOLD = "orphan_hold"
CHARGED_TWICE = "charged_twice"
BAD_FIGURES = "bad_figures"


@dataclass(frozen=True)
class Problem:
    """One inconsistency: what (``code``), of which order or product (``subject``), in words."""

    code: str
    subject: str
    message: str


@dataclass(frozen=True)
class Snapshot:
    """Everything the saga wrote about one order."""

    order: Doc
    reservation: Doc | None = None
    payment: Doc | None = None
    holds: Mapping[str, int] = field(default_factory=dict)
    sold: Mapping[str, int] = field(default_factory=dict)

    @property
    def order_id(self) -> str:
        return str(self.order["_id"])

    @property
    def reservation_status(self) -> str | None:
        return None if self.reservation is None else str(self.reservation.get("status"))

    @property
    def payment_status(self) -> str | None:
        return None if self.payment is None else str(self.payment.get("status"))

    def last_activity(self) -> float | None:
        """When any of the order's three documents last changed (epoch seconds), if known."""
        stamps = [epoch(d.get("updatedAt")) for d in (self.order, self.reservation, self.payment) if d]
        known = [s for s in stamps if s is not None]
        return max(known) if known else None


def epoch(iso: object) -> float | None:
    """An ISO-8601 timestamp (``...Z``) as epoch seconds; ``None`` if it is not one."""
    if not isinstance(iso, str) or not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def lines(order: Doc) -> dict[str, int]:
    """Units per product of an order (a product listed twice counts once, summed)."""
    out: dict[str, int] = defaultdict(int)
    for item in order.get("items") or []:
        out[str(item["productId"])] += int(item["quantity"])
    return dict(out)


def order_problems(s: Snapshot) -> list[Problem]:
    """What is inconsistent about one order's saga right now (empty: settled)."""
    oid, status = s.order_id, str(s.order.get("status"))
    res, pay = s.reservation_status, s.payment_status
    out: list[Problem] = []

    def add(code: str, message: str) -> None:
        out.append(Problem(code, oid, message))

    if status == PENDING:
        add(STILL_PENDING, f"pending (reservation {res or 'none'}, payment {pay or 'none'})")
    if (status in HOLDING or status == DELIVERED) and pay != SUCCEEDED:
        add(PAID_WITHOUT_PAYMENT, f"{status} but its payment is {pay or 'missing'}")
    if status in HOLDING and (res != RESERVED or dict(s.holds) != lines(s.order)):
        add(PAID_WITHOUT_STOCK, f"{status} but its reservation is {res or 'missing'} and the inventory "
                                f"holds {dict(s.holds)} of {lines(s.order)}")
    if status == DELIVERED and (res != COMMITTED or dict(s.sold) != lines(s.order)):
        add(DELIVERED_WITHOUT_SALE, f"delivered but its reservation is {res or 'missing'} and the inventory "
                                    f"sold it {dict(s.sold)} of {lines(s.order)}")
    if status == CANCELLED:
        if s.holds or res in (RESERVING, RESERVED):
            add(CANCELLED_HOLDING_STOCK, f"cancelled but its reservation is {res} and the inventory holds "
                                         f"{dict(s.holds)}")
        if pay in (CHARGING, SUCCEEDED):
            add(CANCELLED_CHARGED, f"cancelled but its payment is {pay}")
        if res is None or pay is None:
            add(CANCELLATION_NOT_APPLIED, f"cancelled but the {'inventory' if res is None else 'payments'} "
                                          "service has no record of it")
    view = PAYMENT_VIEW.get(pay or "")
    if view is not None and s.order.get("paymentStatus") != view[0]:
        add(PAYMENT_STATUS_STALE, f"paymentStatus is {s.order.get('paymentStatus')} but the payment is {pay}")
    return out


def stuck(s: Snapshot, *, now: float, bound: float) -> bool:
    """Nothing of the order changed for at least ``bound`` seconds."""
    last = s.last_activity()
    return last is None or now - last >= bound


def redrive_types(s: Snapshot) -> list[str]:
    """The event types to publish again (from the event log, same ids) so the order's saga moves on.

    Consumers that skip a duplicate do not re-publish what they produced the first time (inventory's
    ``inventory.reservation-failed``, payments' ``payment.*``), so a lost outcome is re-published from
    the log too, not only the order's own event.
    """
    status = str(s.order.get("status"))
    res, pay = s.reservation_status, s.payment_status
    cancel_requested = bool((s.payment or {}).get("cancelRequested"))
    out: list[str] = []
    if status == PENDING:
        out.append(ev.ORDER_CREATED)
        if res == FAILED:
            out.append(ev.INVENTORY_RESERVATION_FAILED)
    elif status in HOLDING or status == DELIVERED:
        if res in (None, RESERVING) or pay in (None, CHARGING):
            out.append(ev.ORDER_CREATED)
        if res == FAILED and status in HOLDING:
            out.append(ev.INVENTORY_RESERVATION_FAILED)
        if status == DELIVERED and res == RESERVED:
            out.append(ev.ORDER_DELIVERED)
    elif status == CANCELLED:
        if (res in (None, RESERVING, RESERVED) or s.holds or pay in (None, SUCCEEDED)
                or (pay == CHARGING and not cancel_requested)):
            out.append(ev.ORDER_CANCELLED)
        if pay == CHARGING and cancel_requested:
            out.append(ev.ORDER_CREATED)  # the charge attempt resumes, sees the cancellation and voids
    view = PAYMENT_VIEW.get(pay or "")
    if view is not None and s.order.get("paymentStatus") != view[0]:
        out.append(view[1])
    return list(dict.fromkeys(out))


def product_problems(doc: Doc) -> list[Problem]:
    """Whether one inventory record's figures add up: none negative, reserved within stock,
    ``reserved`` = the units its ``holds`` name, ``sold`` = the units its ``committed`` name."""
    pid = str(doc["_id"])
    stock, reserved, sold = (int(doc.get(k, 0)) for k in ("stock", "reserved", "sold"))
    held = sum(int(v) for v in (doc.get("holds") or {}).values())
    committed = sum(int(v) for v in (doc.get("committed") or {}).values())
    out: list[Problem] = []
    if min(stock, reserved, sold) < 0 or reserved > stock:
        out.append(Problem(BAD_FIGURES, pid, f"stock {stock}, reserved {reserved}, sold {sold}"))
    if doc.get("available") is not None and int(doc["available"]) != stock - reserved:
        out.append(Problem(BAD_FIGURES, pid,
                           f"available {doc['available']} is not stock {stock} - reserved {reserved}"))
    if reserved != held:
        out.append(Problem(BAD_FIGURES, pid, f"reserved {reserved} but its holds name {held} units"))
    if sold != committed:
        out.append(Problem(BAD_FIGURES, pid, f"sold {sold} but its sales name {committed} units"))
    return out


def per_order(inventory_docs: Iterable[Doc], field_name: str) -> dict[str, dict[str, int]]:
    """Invert the inventory records' ``holds`` or ``committed`` maps: order id → product id → units."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for doc in inventory_docs:
        for order_id, units in (doc.get(field_name) or {}).items():
            out[str(order_id)][str(doc["_id"])] = int(units)
    return dict(out)


def orphan_holds(holds_by_order: Mapping[str, Mapping[str, int]], known_orders: Iterable[str]) -> list[Problem]:
    """Units held or sold for orders that do not exist."""
    known = set(known_orders)
    return [Problem(ORPHAN_HOLD, oid, f"the inventory holds {dict(units)} for an order that does not exist")
            for oid, units in sorted(holds_by_order.items()) if oid not in known]


def charged_twice(succeeded_events: Iterable[Doc]) -> list[Problem]:
    """Orders with more than one distinct ``payment.succeeded`` event: the customer was charged twice."""
    ids: dict[str, set[str]] = defaultdict(set)
    for e in succeeded_events:
        order_id = (e.get("data") or {}).get("orderId") or e.get("key")
        ids[str(order_id)].add(str(e["id"]))
    return [Problem(CHARGED_TWICE, oid, f"{len(found)} payment.succeeded events") for oid, found in sorted(ids.items())
            if len(found) > 1]


def duplicate_payment_ids(payments: Iterable[Doc]) -> list[Problem]:
    """One provider payment recorded for two orders."""
    seen = Counter(str(p["paymentId"]) for p in payments if p.get("paymentId"))
    return [Problem(CHARGED_TWICE, pid, f"payment {pid} is recorded for {n} orders") for pid, n in sorted(seen.items())
            if n > 1]

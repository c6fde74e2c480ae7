"""Document access of inventory: the ``inventory`` collection (one document per product, ``_id`` =
product id) and the ``reservations`` collection (one document per order, ``_id`` = order id).

An inventory document holds the figures of :mod:`shop.inventory.domain` plus ``available``
stored for the low-stock query, ``holds`` (order id → units reserved for it) and ``committed``
(order id → units sold to it), which make the order-driven changes idempotent (see
:mod:`shop.inventory.reservations`). ``holds`` only holds open orders; ``committed`` grows by one
entry per delivered order (it lets a later return put the units back), so a busy product would
want old entries pruned eventually. Every change appends an ``inventory.updated`` event with the
previous and new figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pymongo.collection import Collection

from shop import clients, outbox
from shop.envelope import INVENTORY_UPDATED, make_event, utc_now_iso
from shop.inventory.domain import SOURCE, Stock
from shop.store import Doc


def inventory() -> Collection[Doc]:
    return clients.db()["inventory"]


def reservations() -> Collection[Doc]:
    return clients.db()["reservations"]


def figures(doc: Doc) -> Stock:
    """The domain view of an inventory document."""
    return Stock(stock=int(doc.get("stock", 0)), reserved=int(doc.get("reserved", 0)), sold=int(doc.get("sold", 0)))


def apply(
    doc: Doc,
    new: Stock,
    *,
    reason: str,
    correlation_id: str | None,
    order_id: str | None = None,
    note: str | None = None,
) -> Doc:
    """Write ``new`` figures into ``doc`` and append the ``inventory.updated`` event for the change."""
    old = figures(doc)
    doc.update(stock=new.stock, reserved=new.reserved, sold=new.sold, available=new.available, updatedAt=utc_now_iso())
    data: dict[str, Any] = {
        "productId": doc["_id"],
        "sku": doc.get("sku"),
        "stock": new.stock,
        "previousStock": old.stock,
        "reserved": new.reserved,
        "previousReserved": old.reserved,
        "available": new.available,
        "previousAvailable": old.available,
        "sold": new.sold,
        "previousSold": old.sold,
        "reason": reason,
    }
    if order_id is not None:
        data["orderId"] = order_id
    if note:
        data["note"] = note
    event = make_event(INVENTORY_UPDATED, source=SOURCE, key=doc["_id"], data=data, correlation_id=correlation_id)
    return outbox.add_events(doc, [event])


def change(product_id: str, fn: Callable[[Doc | None], Doc | None]) -> tuple[Doc | None, bool]:
    """``shop.store.mutate`` on one inventory document, then publish what the write put in its outbox."""
    return outbox.change(inventory(), product_id, fn)


def new_record(product_id: str, sku: str, stock: int) -> Doc:
    """A fresh inventory document (no events: ``product.created`` carries the initial stock)."""
    s = Stock(stock=stock)
    now = utc_now_iso()
    return {
        "_id": product_id,
        "sku": sku,
        "stock": s.stock,
        "reserved": 0,
        "sold": 0,
        "available": s.available,
        "holds": {},
        "committed": {},
        "createdAt": now,
        "updatedAt": now,
    }


def figures_for(product_ids: Iterable[str]) -> dict[str, Stock]:
    """Current figures of several products (missing records are absent from the result)."""
    ids = list(product_ids)
    if not ids:
        return {}
    docs = inventory().find({"_id": {"$in": ids}}, {"stock": 1, "reserved": 1, "sold": 1})
    return {d["_id"]: figures(d) for d in docs}


def set_reservation_status(
    order_id: str, frm: tuple[str, ...], to: str, *, events: list[dict[str, Any]] | None = None,
    known: Doc | None = None, **fields: Any
) -> Doc:
    """Move the reservation from one of ``frm`` to ``to``; returns the stored document either way.

    ``known`` is the reservation as the caller last wrote it (saves the read when nobody wrote since)."""

    def step(doc: Doc | None) -> Doc | None:
        if doc is None or doc.get("status") not in frm:
            return None
        doc.update(status=to, updatedAt=utc_now_iso(), **fields)
        return outbox.add_events(doc, list(events or []))

    doc, _ = outbox.change(reservations(), order_id, step, known=known)
    assert doc is not None
    return doc

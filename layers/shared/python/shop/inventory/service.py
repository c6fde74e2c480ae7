"""Inventory records and their HTTP use cases: read, list (low stock), adjust/restock.

One ``inventory`` document per product (``_id`` = product id) holds the figures of
:mod:`shop.inventory.domain` plus ``available`` stored for the low-stock query, ``holds``
(order id → units reserved for it) and ``committed`` (order id → units sold to it), which
make the order-driven changes idempotent (see :mod:`shop.inventory.reservations`).
``holds`` only holds open orders; ``committed`` grows by one entry per delivered order (it lets a
later return put the units back), so a busy product would want old entries pruned eventually.
Every change appends an ``inventory.updated`` event with the previous and new figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection

from shop import clients, outbox
from shop.catalog.paging import after, decode_cursor, encode_cursor
from shop.config import get_settings
from shop.envelope import INVENTORY_UPDATED, make_event, utc_now_iso
from shop.errors import NotFound
from shop.inventory import domain
from shop.inventory.domain import Stock
from shop.store import Doc, mutate

SOURCE = "inventory"


def inventory() -> Collection[Doc]:
    return clients.db()["inventory"]


def figures(doc: Doc) -> Stock:
    """The domain view of an inventory document."""
    return Stock(stock=int(doc.get("stock", 0)), reserved=int(doc.get("reserved", 0)), sold=int(doc.get("sold", 0)))


def view(doc: Doc) -> dict[str, Any]:
    """The public shape of an inventory record."""
    s = figures(doc)
    return {
        "productId": doc["_id"],
        "sku": doc.get("sku"),
        "stock": s.stock,
        "reserved": s.reserved,
        "available": s.available,
        "sold": s.sold,
        "updatedAt": doc.get("updatedAt"),
    }


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
    """``store.mutate`` on one inventory document, then publish its outbox if it was written."""
    doc, written = mutate(inventory(), product_id, fn)
    if written:
        outbox.publish(inventory(), doc)
    return doc, written


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


def get(product_id: str) -> dict[str, Any]:
    """The inventory record of one product."""
    doc = inventory().find_one({"_id": product_id})
    if doc is None:
        raise NotFound("no inventory record for this product")
    return view(doc)


def figures_for(product_ids: Iterable[str]) -> dict[str, Stock]:
    """Current figures of several products (missing records are absent from the result)."""
    ids = list(product_ids)
    if not ids:
        return {}
    docs = inventory().find({"_id": {"$in": ids}}, {"stock": 1, "reserved": 1, "sold": 1})
    return {d["_id"]: figures(d) for d in docs}


def list_records(*, low_stock: bool, limit: int, cursor: str | None) -> dict[str, Any]:
    """Inventory records by product id; ``low_stock`` keeps those with available < the threshold."""
    query: dict[str, Any] = {}
    if low_stock:
        query["available"] = {"$lt": get_settings().low_stock_threshold}
    if cursor:
        page_filter = after(("_id",), decode_cursor(cursor, (str,)))
        query = {"$and": [query, page_filter]} if query else page_filter
    docs = list(inventory().find(query).sort([("_id", ASCENDING)]).limit(limit + 1))
    more = len(docs) > limit
    docs = docs[:limit]
    return {"items": [view(d) for d in docs], "nextCursor": encode_cursor([docs[-1]["_id"]]) if more else None}


def adjust(
    product_id: str, *, delta: int | None, stock: int | None, note: str | None, correlation_id: str | None
) -> dict[str, Any]:
    """Restock or correct one product's stock (admin); publishes ``inventory.updated``.

    Setting the count to what it already is changes nothing and publishes nothing.
    """

    def step(doc: Doc | None) -> Doc | None:
        if doc is None:
            raise NotFound("no inventory record for this product")
        current = figures(doc)
        new = domain.adjust(current, delta=delta, stock=stock)
        if new == current:
            return None
        reason = "restocked" if new.stock > current.stock else "adjusted"
        return apply(doc, new, reason=reason, correlation_id=correlation_id, note=note)

    doc, _ = change(product_id, step)
    assert doc is not None
    return view(doc)

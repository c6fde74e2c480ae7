"""Inventory use cases the HTTP handlers call: read one record, list (low stock), adjust/restock.

The document shapes are described in :mod:`shop.inventory.store`.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from shop.config import get_settings
from shop.errors import NotFound
from shop.inventory import domain
from shop.inventory.models import AdjustBody
from shop.inventory.store import apply, change, figures, inventory
from shop.paging import after, decode_cursor, encode_cursor
from shop.store import Doc


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


def get(product_id: str) -> dict[str, Any]:
    """The inventory record of one product."""
    doc = inventory().find_one({"_id": product_id})
    if doc is None:
        raise NotFound("no inventory record for this product")
    return view(doc)


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


def adjust(product_id: str, body: AdjustBody, *, correlation_id: str | None) -> dict[str, Any]:
    """Restock or correct one product's stock (admin); publishes ``inventory.updated``.

    Setting the count to what it already is changes nothing and publishes nothing.
    """

    def step(doc: Doc | None) -> Doc | None:
        if doc is None:
            raise NotFound("no inventory record for this product")
        current = figures(doc)
        new = domain.adjust(current, delta=body.delta, stock=body.stock)
        if new == current:
            return None
        reason = "restocked" if new.stock > current.stock else "adjusted"
        return apply(doc, new, reason=reason, correlation_id=correlation_id, note=body.note)

    doc, _ = change(product_id, step)
    assert doc is not None
    return view(doc)

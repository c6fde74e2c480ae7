"""Document access of orders: the ``orders`` collection (one document per order, with its embedded
outbox; ids are UUIDv7, so ``_id`` order is creation order), and the reads of the catalog and
inventory collections that pricing and the stock check need.

Only those collections' shapes are shared with their services (``products``: ``{_id, name, sku,
priceCents, currency, active}``; ``inventory``: ``{_id = productId, stock, reserved, available}``),
never their code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import DESCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from shop import clients, outbox
from shop.orders.domain import REVENUE_STATUSES, STATUSES, Product
from shop.paging import decode_cursor, encode_cursor
from shop.store import Doc


class DuplicateIdempotencyKey(Exception):
    """Another order already holds this buyer's idempotency key."""


_PRODUCT_FIELDS = {"name": 1, "sku": 1, "priceCents": 1, "currency": 1, "active": 1}
_STOCK_FIELDS = {"stock": 1, "reserved": 1, "available": 1}


def orders() -> Collection[Doc]:
    return clients.db()["orders"]


def insert(order: Doc) -> Doc:
    """Store a new order together with its outbox (one write); nothing is published here."""
    order.setdefault("version", 1)  # later writes are compare-and-swaps on it (shop.store.mutate)
    try:
        orders().insert_one(order)
    except DuplicateKeyError as exc:
        if order.get("idempotencyKey") and "idempotency" in str(exc):
            raise DuplicateIdempotencyKey(order["idempotencyKey"]) from exc
        if order.get("idempotencyKey") and by_idempotency_key(order["idempotencyKey"]) is not None:
            raise DuplicateIdempotencyKey(order["idempotencyKey"]) from exc
        raise
    return order


def get(order_id: str) -> Doc | None:
    return orders().find_one({"_id": order_id})


def by_idempotency_key(key: str) -> Doc | None:
    return orders().find_one({"idempotencyKey": key})


def change(order_id: str, fn: Callable[[Doc | None], Doc | None]) -> tuple[Doc | None, bool]:
    """``shop.store.mutate`` on one order document, then publish what the write put in its outbox."""
    return outbox.change(orders(), order_id, fn)


def page(*, buyer_id: str | None, status: str | None, limit: int,
         cursor: str | None) -> tuple[list[Doc], str | None]:
    """Newest first; ``buyer_id`` ``None`` lists everyone's orders."""
    query: dict[str, Any] = {}
    if buyer_id is not None:
        query["buyerId"] = buyer_id
    if status is not None:
        query["status"] = status
    if cursor:
        query["_id"] = {"$lt": decode_cursor(cursor, (str,))[0]}
    docs = list(orders().find(query).sort("_id", DESCENDING).limit(limit + 1))
    next_cursor = encode_cursor([str(docs[limit - 1]["_id"])]) if len(docs) > limit else None
    return docs[:limit], next_cursor


def counts_by_status() -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for row in orders().aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
        if row["_id"] in counts:
            counts[str(row["_id"])] = int(row["n"])
    return counts


def revenue_by_currency() -> dict[str, int]:
    """Sum of ``totalCents`` of paid-or-later orders that were not cancelled, per currency."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"status": {"$in": list(REVENUE_STATUSES)}}},
        {"$group": {"_id": "$currency", "total": {"$sum": "$totalCents"}}},
    ]
    return {str(row["_id"]): int(row["total"]) for row in orders().aggregate(pipeline)}


def products_by_id(ids: list[str]) -> dict[str, Product]:
    """The catalog products among ``ids`` (absent ones are simply missing from the result)."""
    found: dict[str, Product] = {}
    for doc in clients.db()["products"].find({"_id": {"$in": ids}}, _PRODUCT_FIELDS):
        found[str(doc["_id"])] = Product(
            id=str(doc["_id"]),
            sku=str(doc.get("sku", "")),
            name=str(doc.get("name", "")),
            price_cents=int(doc["priceCents"]),
            currency=str(doc.get("currency", "USD")),
            active=bool(doc.get("active", True)),
        )
    return found


def available_stock(ids: list[str]) -> dict[str, int]:
    """Visible available units per product (stock not yet reserved); missing records count as 0."""
    out: dict[str, int] = {}
    for doc in clients.db()["inventory"].find({"_id": {"$in": ids}}, _STOCK_FIELDS):
        if doc.get("available") is not None:
            out[str(doc["_id"])] = int(doc["available"])
        else:
            out[str(doc["_id"])] = int(doc.get("stock", 0)) - int(doc.get("reserved", 0))
    return out


def low_stock_count(threshold: int) -> int:
    """How many inventory records have fewer than ``threshold`` units available."""
    return int(clients.db()["inventory"].count_documents({"available": {"$lt": threshold}}))

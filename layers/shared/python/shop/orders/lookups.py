"""Reads of the catalog and inventory collections that pricing and the stock check need.

Only the collection shapes are shared with those services (``products``: ``{_id, name, sku,
priceCents, currency, active}``; ``inventory``: ``{_id = productId, stock, reserved, available}``),
never their code.
"""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from shop.orders.domain import Product

_PRODUCT_FIELDS = {"name": 1, "sku": 1, "priceCents": 1, "currency": 1, "active": 1}
_STOCK_FIELDS = {"stock": 1, "reserved": 1, "available": 1}


def products_by_id(db: Database[dict[str, Any]], ids: list[str]) -> dict[str, Product]:
    """The catalog products among ``ids`` (absent ones are simply missing from the result)."""
    found: dict[str, Product] = {}
    for doc in db["products"].find({"_id": {"$in": ids}}, _PRODUCT_FIELDS):
        found[str(doc["_id"])] = Product(
            id=str(doc["_id"]),
            sku=str(doc.get("sku", "")),
            name=str(doc.get("name", "")),
            price_cents=int(doc["priceCents"]),
            currency=str(doc.get("currency", "USD")),
            active=bool(doc.get("active", True)),
        )
    return found


def available_stock(db: Database[dict[str, Any]], ids: list[str]) -> dict[str, int]:
    """Visible available units per product (stock not yet reserved); missing records count as 0."""
    out: dict[str, int] = {}
    for doc in db["inventory"].find({"_id": {"$in": ids}}, _STOCK_FIELDS):
        if doc.get("available") is not None:
            out[str(doc["_id"])] = int(doc["available"])
        else:
            out[str(doc["_id"])] = int(doc.get("stock", 0)) - int(doc.get("reserved", 0))
    return out


def low_stock_count(db: Database[dict[str, Any]], threshold: int) -> int:
    """How many inventory records have fewer than ``threshold`` units available."""
    return int(db["inventory"].count_documents({"available": {"$lt": threshold}}))

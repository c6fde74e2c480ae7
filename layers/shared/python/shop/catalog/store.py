"""Document access of the catalog: the ``products`` collection (one document per product, with its
embedded outbox; a unique index on ``sku``)."""

from __future__ import annotations

from pymongo.collection import Collection

from shop import clients
from shop.store import Doc


def products() -> Collection[Doc]:
    return clients.db()["products"]


def sku_owner(sku: str) -> str | None:
    """The id of the product that has ``sku``, if any."""
    found = products().find_one({"sku": sku}, {"_id": 1})
    return None if found is None else str(found["_id"])

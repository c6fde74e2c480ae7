"""Document access of the catalog: the ``products`` collection (one document per product, with its
embedded outbox; a unique index on ``sku``)."""

from __future__ import annotations

from collections.abc import Callable

from pymongo.collection import Collection

from shop import clients, outbox
from shop.store import Doc


def products() -> Collection[Doc]:
    return clients.db()["products"]


def sku_owner(sku: str) -> str | None:
    """The id of the product that has ``sku``, if any."""
    found = products().find_one({"sku": sku}, {"_id": 1})
    return None if found is None else str(found["_id"])


def change(product_id: str, fn: Callable[[Doc | None], Doc | None]) -> tuple[Doc | None, bool]:
    """``shop.store.mutate`` on one product document, then publish what the write put in its outbox."""
    return outbox.change(products(), product_id, fn)


def image_uploads() -> Collection[Doc]:
    """One document per presigned image upload handed out: its product, status and error."""
    return clients.db()["image_uploads"]

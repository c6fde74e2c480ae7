"""Catalog use cases: create, update, read and list products, each shown with its current stock.

Creating a product writes two documents: its inventory record first (keyed by the new product
id, so it cannot clash), then the product with ``product.created`` in its outbox. If the product
insert loses a SKU race the fresh inventory record is removed again; a crash in between leaves
an inventory record no product points to, which nothing reads.

Products are listed in case-insensitive name order, ties broken by id (``nameKey``, ``_id``);
the cursor is the last item's pair.
"""

from __future__ import annotations

import uuid
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from shop import outbox
from shop.catalog import domain, store
from shop.catalog.image_uploads import public_image
from shop.catalog.models import ProductCreate, ProductListQuery
from shop.envelope import PRODUCT_CREATED, PRODUCT_UPDATED, make_event, utc_now_iso
from shop.errors import Conflict, NotFound
from shop.inventory import store as inventory
from shop.inventory.domain import Stock
from shop.paging import after, decode_cursor, encode_cursor
from shop.store import Doc, mutate

SOURCE = "products"
_PUBLIC = ("name", "description", "priceCents", "currency", "sku", "category", "active", "createdAt", "updatedAt")


def view(doc: Doc, stock: Stock | None) -> dict[str, Any]:
    """The public shape of a product, with its current stock (0 without an inventory record)."""
    s = stock or Stock()
    return {"id": doc["_id"], **{k: doc.get(k) for k in _PUBLIC}, "stock": s.stock, "available": s.available,
            "image": public_image(doc.get("image"))}


def _with_stock(doc: Doc) -> dict[str, Any]:
    return view(doc, inventory.figures_for([doc["_id"]]).get(doc["_id"]))


def _sku_taken(sku: str | None) -> Conflict:
    return Conflict(f"sku {sku} is already used by another product", code="sku_taken")


def create_product(body: ProductCreate, *, correlation_id: str | None) -> dict[str, Any]:
    """A new product and its inventory record; publishes ``product.created``."""
    if store.sku_owner(body.sku) is not None:
        raise _sku_taken(body.sku)
    product_id = str(uuid.uuid4())
    now = utc_now_iso()
    record = inventory.new_record(product_id, body.sku, body.stock)
    inventory.inventory().insert_one({**record, "version": 1})
    doc: Doc = {
        "_id": product_id,
        "name": body.name,
        "nameKey": domain.name_key(body.name),
        "description": body.description,
        "priceCents": body.priceCents,
        "currency": body.currency,
        "sku": body.sku,
        "category": body.category,
        "active": body.active,
        "createdAt": now,
        "updatedAt": now,
        "version": 1,
    }
    data = {
        "productId": product_id,
        "name": body.name,
        "sku": body.sku,
        "priceCents": body.priceCents,
        "currency": body.currency,
        "stock": body.stock,
        "category": body.category,
        "active": body.active,
    }
    outbox.add_events(doc, [make_event(PRODUCT_CREATED, source=SOURCE, key=product_id, data=data,
                                       correlation_id=correlation_id)])
    try:
        store.products().insert_one(doc)
    except DuplicateKeyError as exc:
        inventory.inventory().delete_one({"_id": product_id})
        raise _sku_taken(body.sku) from exc
    outbox.publish(store.products(), doc)
    return view(doc, inventory.figures(record))


def update_product(product_id: str, changes: dict[str, Any], *, correlation_id: str | None) -> dict[str, Any]:
    """Change some fields of a product; publishes ``product.updated`` with what changed (if anything did)."""
    if "sku" in changes and store.sku_owner(changes["sku"]) not in (None, product_id):
        raise _sku_taken(changes["sku"])

    def step(doc: Doc | None) -> Doc | None:
        if doc is None:
            raise NotFound("product not found")
        changed = domain.changed_fields(doc, changes)
        if not changed:
            return None
        now = utc_now_iso()
        doc.update(changed, updatedAt=now)
        doc["nameKey"] = domain.name_key(doc["name"])
        data = {"productId": product_id, "sku": doc["sku"], "changedFields": sorted(changed), **changed}
        data["updatedAt"] = now
        event = make_event(PRODUCT_UPDATED, source=SOURCE, key=product_id, data=data, correlation_id=correlation_id)
        return outbox.add_events(doc, [event])

    try:
        doc, written = store.change(product_id, step)
    except DuplicateKeyError as exc:
        raise _sku_taken(changes.get("sku")) from exc
    assert doc is not None
    if written:
        _sync_inventory_sku(product_id, doc["sku"])
    return _with_stock(doc)


def _sync_inventory_sku(product_id: str, sku: str) -> None:
    def step(doc: Doc | None) -> Doc | None:
        if doc is None or doc.get("sku") == sku:
            return None
        doc["sku"] = sku
        return doc

    mutate(inventory.inventory(), product_id, step)


def get_product(product_id: str, *, include_inactive: bool = False) -> dict[str, Any]:
    """One active product; inactive ones are hidden from the public catalog (admins may ask for them)."""
    doc = store.products().find_one({"_id": product_id} if include_inactive else {"_id": product_id, "active": True})
    if doc is None:
        raise NotFound("product not found")
    return _with_stock(doc)


def list_products(query: ProductListQuery) -> dict[str, Any]:
    """Active products matching the filters, one page at a time."""
    clauses: list[dict[str, Any]] = [{"active": True}]
    if query.search and query.search.strip():
        clauses.append({"name": {"$regex": domain.search_pattern(query.search), "$options": "i"}})
    if query.category:
        clauses.append({"category": domain.normalise_category(query.category)})
    if query.minPriceCents is not None:
        clauses.append({"priceCents": {"$gte": query.minPriceCents}})
    if query.maxPriceCents is not None:
        clauses.append({"priceCents": {"$lte": query.maxPriceCents}})
    if query.cursor:
        clauses.append(after(("nameKey", "_id"), decode_cursor(query.cursor, (str, str))))
    docs = list(
        store.products()
        .find({"$and": clauses} if len(clauses) > 1 else clauses[0])
        .sort([("nameKey", ASCENDING), ("_id", ASCENDING)])
        .limit(query.limit + 1)
    )
    more = len(docs) > query.limit
    docs = docs[: query.limit]
    stock = inventory.figures_for(d["_id"] for d in docs)
    return {
        "items": [view(d, stock.get(d["_id"])) for d in docs],
        "nextCursor": encode_cursor([docs[-1]["nameKey"], docs[-1]["_id"]]) if more else None,
    }

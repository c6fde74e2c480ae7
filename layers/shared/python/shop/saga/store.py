"""What the saga reconciler and the invariant check read and keep in the database.

Reads the ``orders``, ``reservations``, ``payments`` and ``inventory`` collections (their shapes,
never their services' code) into :class:`shop.saga.domain.Snapshot` objects, and keeps the
reconciler's own state: the ``saga_watch`` list (orders seen unsettled, revisited on every pass
until they settle) and its watermark in ``saga_reconciler``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shop.saga.domain import Snapshot, lines, per_order

Doc = dict[str, Any]
Db = Database[dict[str, Any]]

WATCH = "saga_watch"
STATE = "saga_reconciler"
WATERMARK_ID = "watermark"

_ORDER_FIELDS = {"status": 1, "paymentStatus": 1, "items": 1, "updatedAt": 1, "outboxPending": 1, "buyerId": 1}


def orders_updated_between(db: Db, since: str, until: str, limit: int) -> list[Doc]:
    """Orders whose ``updatedAt`` (ISO string) is in ``[since, until)``, oldest change first.

    Give whole-second bounds (:func:`iso`): the local stand-in compares ISO-8601 strings as times
    truncated to the second, so only whole-second bounds select the same orders there and on MongoDB.
    """
    query = {"updatedAt": {"$gte": since, "$lt": until}}
    return list(db["orders"].find(query, _ORDER_FIELDS).sort([("updatedAt", ASCENDING), ("_id", ASCENDING)])
                .limit(limit))


def orders_by_id(db: Db, ids: Iterable[str]) -> list[Doc]:
    wanted = sorted(set(ids))
    return list(db["orders"].find({"_id": {"$in": wanted}}, _ORDER_FIELDS)) if wanted else []


def all_orders(db: Db, *, page: int = 500) -> Iterator[list[Doc]]:
    """Every order, in pages (by id)."""
    last: str | None = None
    while True:
        query: dict[str, Any] = {} if last is None else {"_id": {"$gt": last}}
        docs = list(db["orders"].find(query, _ORDER_FIELDS).sort("_id", ASCENDING).limit(page))
        if not docs:
            return
        yield docs
        last = str(docs[-1]["_id"])


def inventory_records(db: Db, product_ids: Iterable[str] | None = None) -> list[Doc]:
    fields = {"stock": 1, "reserved": 1, "sold": 1, "available": 1, "holds": 1, "committed": 1}
    if product_ids is None:
        return list(db["inventory"].find({}, fields))
    wanted = sorted(set(product_ids))
    return list(db["inventory"].find({"_id": {"$in": wanted}}, fields)) if wanted else []


def snapshots(db: Db, orders: list[Doc], *, inventory: list[Doc] | None = None) -> list[Snapshot]:
    """One snapshot per order; ``inventory`` defaults to the records of the orders' products."""
    if not orders:
        return []
    ids = [str(o["_id"]) for o in orders]
    reservations = {str(d["_id"]): d for d in db["reservations"].find({"_id": {"$in": ids}},
                                                                      {"status": 1, "lines": 1, "updatedAt": 1})}
    payments = {str(d["_id"]): d for d in db["payments"].find({"_id": {"$in": ids}})}
    if inventory is None:
        inventory = inventory_records(db, {pid for o in orders for pid in lines(o)})
    holds, sold = per_order(inventory, "holds"), per_order(inventory, "committed")
    return [Snapshot(order=o, reservation=reservations.get(oid), payment=payments.get(oid),
                     holds=holds.get(oid, {}), sold=sold.get(oid, {}))
            for o, oid in zip(orders, ids, strict=True)]


# ---- the reconciler's own state ----------------------------------------------------------------


def watermark(db: Db) -> str:
    doc = db[STATE].find_one({"_id": WATERMARK_ID})
    return str(doc["value"]) if doc else ""


def set_watermark(db: Db, value: str) -> None:
    if db[STATE].replace_one({"_id": WATERMARK_ID}, {"value": value}).matched_count == 0:
        try:
            db[STATE].insert_one({"_id": WATERMARK_ID, "value": value})
        except DuplicateKeyError:
            db[STATE].replace_one({"_id": WATERMARK_ID}, {"value": value})


def watched(db: Db, limit: int, *, due_by: float | None = None) -> dict[str, Doc]:
    """The watch list by order id, the longest due first; ``due_by`` keeps entries due by then."""
    query: dict[str, Any] = {} if due_by is None else {"nextAt": {"$lte": due_by}}
    return {str(d["_id"]): d for d in db[WATCH].find(query).sort("nextAt", ASCENDING).limit(limit)}


def watch(db: Db, order_id: str, entry: Doc) -> None:
    """Add or replace the watch entry of an order."""
    doc = {k: v for k, v in entry.items() if k != "_id"}
    if db[WATCH].replace_one({"_id": order_id}, doc).matched_count == 0:
        try:
            db[WATCH].insert_one({"_id": order_id, **doc})
        except DuplicateKeyError:
            db[WATCH].replace_one({"_id": order_id}, doc)


def unwatch(db: Db, order_ids: Iterable[str]) -> int:
    ids = sorted(set(order_ids))
    return int(db[WATCH].delete_many({"_id": {"$in": ids}}).deleted_count) if ids else 0


def iso(epoch_seconds: float) -> str:
    """The whole second of ``epoch_seconds`` as the ISO-8601 UTC string the documents' ``updatedAt`` uses."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch_seconds))

"""Data access of the ``orders`` collection: one document per order, with its embedded outbox."""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from collections.abc import Callable
from typing import Any

from pymongo import DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shop import clients, outbox
from shop.errors import BadRequest
from shop.orders.domain import REVENUE_STATUSES, STATUSES
from shop.store import Doc, mutate

log = logging.getLogger(__name__)


class DuplicateIdempotencyKey(Exception):
    """Another order already holds this buyer's idempotency key."""


def encode_cursor(order_id: str) -> str:
    return base64.urlsafe_b64encode(order_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The order id a cursor points after; 400 for anything this API did not hand out."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
        return str(uuid.UUID(raw))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("cursor is not one this API returned", code="invalid_cursor") from exc


class OrderRepository:
    """Orders in MongoDB. Order ids are UUIDv7, so ``_id`` order is creation order."""

    def __init__(self, db: Database[Doc] | None = None) -> None:
        self.db = db if db is not None else clients.db()
        self.orders: Collection[Doc] = self.db["orders"]

    def insert(self, order: Doc) -> Doc:
        """Store a new order together with its outbox (one write); nothing is published here."""
        order.setdefault("version", 1)  # later writes are compare-and-swaps on it (shop.store.mutate)
        try:
            self.orders.insert_one(order)
        except DuplicateKeyError as exc:
            if order.get("idempotencyKey") and "idempotency" in str(exc):
                raise DuplicateIdempotencyKey(order["idempotencyKey"]) from exc
            if order.get("idempotencyKey") and self.by_idempotency_key(order["idempotencyKey"]) is not None:
                raise DuplicateIdempotencyKey(order["idempotencyKey"]) from exc
            raise
        return order

    def publish(self, order: Doc | None) -> int:
        """Publish the order's pending events and clear them; never fails the caller.

        The state change is already stored when this runs, so an error here (broker away, the
        clearing write losing every race) must not turn a done change into an error answer:
        the events stay pending and the sweeper publishes them.
        """
        try:
            return outbox.publish(self.orders, order)
        except Exception:
            log.warning("publishing order %s failed; left for the sweeper", (order or {}).get("_id"), exc_info=True)
            return 0

    def get(self, order_id: str) -> Doc | None:
        return self.orders.find_one({"_id": order_id})

    def by_idempotency_key(self, key: str) -> Doc | None:
        return self.orders.find_one({"idempotencyKey": key})

    def mutate(self, order_id: str, change: Callable[[Doc | None], Doc | None]) -> tuple[Doc | None, bool]:
        return mutate(self.orders, order_id, change)

    def page(self, *, buyer_id: str | None, status: str | None, limit: int,
             cursor: str | None) -> tuple[list[Doc], str | None]:
        """Newest first; ``buyer_id`` ``None`` lists everyone's orders."""
        query: dict[str, Any] = {}
        if buyer_id is not None:
            query["buyerId"] = buyer_id
        if status is not None:
            query["status"] = status
        if cursor:
            query["_id"] = {"$lt": decode_cursor(cursor)}
        docs = list(self.orders.find(query).sort("_id", DESCENDING).limit(limit + 1))
        next_cursor = encode_cursor(str(docs[limit - 1]["_id"])) if len(docs) > limit else None
        return docs[:limit], next_cursor

    def counts_by_status(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for row in self.orders.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
            if row["_id"] in counts:
                counts[str(row["_id"])] = int(row["n"])
        return counts

    def revenue_by_currency(self) -> dict[str, int]:
        """Sum of ``totalCents`` of paid-or-later orders that were not cancelled, per currency."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"status": {"$in": list(REVENUE_STATUSES)}}},
            {"$group": {"_id": "$currency", "total": {"$sum": "$totalCents"}}},
        ]
        return {str(row["_id"]): int(row["total"]) for row in self.orders.aggregate(pipeline)}

"""Collections and indexes, created at bootstrap (and by deploy-time setup in AWS)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.database import Database

#: collection → its indexes. Every collection is listed, so bootstrap creates it.
INDEXES: dict[str, list[IndexModel]] = {
    "users": [IndexModel([("email", ASCENDING)], unique=True, name="email_unique")],
    "login_throttle": [IndexModel([("expiresAt", ASCENDING)], expireAfterSeconds=0, name="expires")],
    "products": [
        IndexModel([("sku", ASCENDING)], unique=True, name="sku_unique"),
        IndexModel([("category", ASCENDING)], name="category"),
        IndexModel([("nameKey", ASCENDING)], name="name_order"),
        IndexModel([("outboxPending", ASCENDING)], name="outbox_pending"),
    ],
    "image_uploads": [IndexModel([("productId", ASCENDING)], name="product")],
    "inventory": [
        IndexModel([("available", ASCENDING)], name="available"),
        IndexModel([("outboxPending", ASCENDING)], name="outbox_pending"),
    ],
    "reservations": [IndexModel([("outboxPending", ASCENDING)], name="outbox_pending")],
    "orders": [
        IndexModel([("idempotencyKey", ASCENDING)], unique=True, sparse=True, name="idempotency_key_unique"),
        IndexModel([("buyerId", ASCENDING)], name="buyer"),
        IndexModel([("status", ASCENDING)], name="status"),
        IndexModel([("outboxPending", ASCENDING)], name="outbox_pending"),
        IndexModel([("updatedAt", ASCENDING)], name="updated_at"),
    ],
    "payments": [IndexModel([("outboxPending", ASCENDING)], name="outbox_pending")],
    "audit": [IndexModel([("type", ASCENDING)], name="type")],
    "processed_events": [],
    "events": [
        IndexModel([("orderId", ASCENDING)], name="order"),
        IndexModel([("type", ASCENDING)], name="type"),
        IndexModel([("loggedAt", ASCENDING)], name="logged_at"),
    ],
    "saga_watch": [IndexModel([("nextAt", ASCENDING)], name="next_at")],
    "saga_reconciler": [],
}


def ensure_indexes(db: Database[dict[str, Any]]) -> None:
    """Create every collection and index that is missing (idempotent)."""
    existing = set(db.list_collection_names())
    for name, indexes in INDEXES.items():
        if name not in existing:
            db.create_collection(name)
        if indexes:
            db[name].create_indexes(indexes)

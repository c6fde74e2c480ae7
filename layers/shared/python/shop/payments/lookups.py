"""What payments read from the orders collection: the payment method chosen at checkout.

The token stays out of the ``order.created`` event on purpose: order events are fanned out to
WebSocket clients, and a payment method reference has no business there.
"""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

DEFAULT_TOKEN = "tok_visa"


def payment_token(db: Database[dict[str, Any]], order_id: str) -> str:
    """The order's payment token (``tok_visa`` when the customer sent none)."""
    doc = db["orders"].find_one({"_id": order_id}, {"paymentToken": 1})
    token = (doc or {}).get("paymentToken")
    return str(token) if token else DEFAULT_TOKEN

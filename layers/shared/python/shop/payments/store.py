"""Document access of payments: the ``payments`` collection (one document per order, ``_id`` =
order id, with its embedded outbox), and the payment token read from the order.

The token stays out of the ``order.created`` event on purpose: order events are fanned out to
WebSocket clients, and a payment method reference has no business there.
"""

from __future__ import annotations

from collections.abc import Callable

from pymongo.collection import Collection

from shop import clients, outbox
from shop.store import Doc

DEFAULT_TOKEN = "tok_visa"


def payments() -> Collection[Doc]:
    return clients.db()["payments"]


def get(order_id: str) -> Doc | None:
    return payments().find_one({"_id": order_id})


def change(order_id: str, fn: Callable[[Doc | None], Doc | None], *,
           known: Doc | None = None, absent: bool = False) -> tuple[Doc | None, bool]:
    """``shop.store.mutate`` on one payment document (starting from ``known`` when given, or from
    none when it is most likely ``absent``), then publish what the write put in its outbox."""
    return outbox.change(payments(), order_id, fn, known=known, absent=absent)


def payment_token(order_id: str) -> str:
    """The order's payment token (``tok_visa`` when the customer sent none)."""
    doc = clients.db()["orders"].find_one({"_id": order_id}, {"paymentToken": 1})
    token = (doc or {}).get("paymentToken")
    return str(token) if token else DEFAULT_TOKEN

"""Pure payment rules: one payment document per order (``_id`` = order id), no I/O.

Statuses: ``charging`` (a charge is being attempted; ``attempts`` counts the tries),
``succeeded``, ``failed``, ``refunded``, and ``voided`` (the order was cancelled before any
charge, so a late ``order.created`` must not charge). Because the document id is the order id
and every step is a compare-and-swap on it, an order is charged at most once and refunded at
most once however often its events are delivered.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from shop import envelope as ev

Doc = dict[str, Any]

SOURCE = "payments"

CHARGING = "charging"
SUCCEEDED = "succeeded"
FAILED = "failed"
REFUNDED = "refunded"
VOIDED = "voided"

#: Statuses after which an ``order.created`` redelivery does nothing.
SETTLED: frozenset[str] = frozenset({SUCCEEDED, FAILED, REFUNDED, VOIDED})

REASON_DECLINED = "payment_declined"


@dataclass
class Outcome:
    """The new payment document (``None``: nothing changes) and the events it produces."""

    payment: Doc | None
    events: list[Doc] = field(default_factory=list)


def charge_key(order_id: str) -> str:
    """The provider idempotency key of an order's one charge."""
    return f"charge:{order_id}"


def refund_key(order_id: str) -> str:
    """The provider idempotency key of an order's one refund."""
    return f"refund:{order_id}"


def begin_charge(current: Doc | None, order: Doc, *, now_iso: str) -> Doc | None:
    """Count one more charge attempt for ``order`` (the ``order.created`` data), or ``None`` if
    there is nothing to charge: already settled, or cancelled meanwhile (then it is voided)."""
    if current is None:
        return {
            "orderId": order["orderId"],
            "buyerId": order.get("buyerId"),
            "status": CHARGING,
            "amountCents": int(order["totalCents"]),
            "currency": str(order["currency"]),
            "attempts": 1,
            "paymentId": None,
            "refundId": None,
            "cancelRequested": False,
            "createdAt": now_iso,
            "updatedAt": now_iso,
        }
    if current.get("status") != CHARGING:
        return None
    new = copy.deepcopy(current)
    new["updatedAt"] = now_iso
    if new.get("cancelRequested"):
        # A retry after the order was cancelled: never take money for a cancelled order.
        new["status"] = VOIDED
        return new
    new["attempts"] = int(new.get("attempts", 0)) + 1
    return new


def _event(event_type: str, payment: Doc, correlation_id: str | None, **extra: Any) -> Doc:
    data = {
        "orderId": payment["orderId"],
        "buyerId": payment.get("buyerId"),
        "paymentId": payment.get("paymentId"),
        "amountCents": payment.get("amountCents"),
        "currency": payment.get("currency"),
        **extra,
    }
    return ev.make_event(event_type, source=SOURCE, key=payment["orderId"], data=data, correlation_id=correlation_id)


def record_charge(current: Doc, *, approved: bool, payment_id: str | None, decline_reason: str | None,
                  now_iso: str, correlation_id: str | None = None) -> Outcome:
    """Store the provider's answer to a charge: ``payment.succeeded`` or ``payment.failed``."""
    if current.get("status") != CHARGING:
        return Outcome(None)
    new = copy.deepcopy(current)
    new["updatedAt"] = now_iso
    if approved:
        new["status"] = SUCCEEDED
        new["paymentId"] = payment_id
        new["paidAt"] = now_iso
        return Outcome(new, [_event(ev.PAYMENT_SUCCEEDED, new, correlation_id)])
    new["status"] = FAILED
    new["declineReason"] = decline_reason
    return Outcome(new, [_event(ev.PAYMENT_FAILED, new, correlation_id, reason=REASON_DECLINED,
                                declineReason=decline_reason)])


def record_cancellation(current: Doc | None, order: Doc, *, now_iso: str) -> Doc | None:
    """Note that the order was cancelled (``order.cancelled`` data).

    Before any charge the payment is voided, so a late ``order.created`` does not charge; during
    a charge attempt ``cancelRequested`` makes the charging side refund (or void) it; a succeeded
    payment gets ``cancelRequested`` and is then refunded (:func:`needs_refund`). Failed, voided
    and refunded payments are left as they are.
    """
    if current is None:
        return {
            "orderId": order["orderId"],
            "buyerId": order.get("buyerId"),
            "status": VOIDED,
            "amountCents": order.get("totalCents"),
            "currency": order.get("currency"),
            "attempts": 0,
            "paymentId": None,
            "refundId": None,
            "cancelRequested": True,
            "createdAt": now_iso,
            "updatedAt": now_iso,
        }
    if current.get("status") in (CHARGING, SUCCEEDED) and not current.get("cancelRequested"):
        new = copy.deepcopy(current)
        new["cancelRequested"] = True
        new["updatedAt"] = now_iso
        return new
    return None


def needs_refund(payment: Doc | None) -> bool:
    """A succeeded payment of a cancelled order is refunded exactly once."""
    if payment is None:
        return False
    return payment.get("status") == SUCCEEDED and bool(payment.get("cancelRequested"))


def record_refund(current: Doc, *, refund_id: str, now_iso: str, correlation_id: str | None = None) -> Outcome:
    """Store a refund: ``payment.refunded`` (only once; later calls change nothing)."""
    if current.get("status") != SUCCEEDED:
        return Outcome(None)
    new = copy.deepcopy(current)
    new["status"] = REFUNDED
    new["refundId"] = refund_id
    new["refundedAt"] = now_iso
    new["updatedAt"] = now_iso
    return Outcome(new, [_event(ev.PAYMENT_REFUNDED, new, correlation_id, refundId=refund_id)])

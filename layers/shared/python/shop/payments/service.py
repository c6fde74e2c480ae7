"""Payment use cases, driven by order events: charge on ``order.created``, refund on ``order.cancelled``.

Each step is a compare-and-swap on the order's one payment document (``_id`` = order id) that
carries its events in the same write; provider calls use a per-order idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from shop import clients, outbox
from shop import envelope as ev
from shop.payments import domain, lookups
from shop.payments.provider import PaymentProvider, get_provider
from shop.store import Doc, mutate

log = logging.getLogger(__name__)


class PaymentService:
    """Charges and refunds orders through ``provider``; ``db`` defaults to the process-wide one."""

    def __init__(self, db: Database[Doc] | None = None, provider: PaymentProvider | None = None) -> None:
        self.db = db if db is not None else clients.db()
        self.payments: Collection[Doc] = self.db["payments"]
        self.provider = provider if provider is not None else get_provider()

    def _write(self, order_id: str, rule: Callable[[Doc], domain.Outcome]) -> tuple[Doc | None, bool]:
        """CAS-apply ``rule(current) -> Outcome`` and publish the events it stored."""

        def change(current: Doc | None) -> Doc | None:
            if current is None:
                return None
            outcome = rule(current)
            if outcome.payment is None:
                return None
            return outbox.add_events(outcome.payment, outcome.events)

        doc, wrote = mutate(self.payments, order_id, change)
        if wrote:
            self._publish(doc)
        return doc, wrote

    def _publish(self, doc: Doc | None) -> None:
        """Publish what the payment's outbox holds; a failure leaves it to the sweeper."""
        try:
            outbox.publish(self.payments, doc)
        except Exception:
            log.warning("publishing payment events of %s failed; left for the sweeper", (doc or {}).get("_id"),
                        exc_info=True)

    def charge(self, envelope: dict[str, Any]) -> str:
        """Handle ``order.created``: charge once. Returns the payment's status afterwards.

        A transient provider error propagates, so the event-source mapping retries the batch;
        the attempt is already counted in the payment document.
        """
        data = envelope.get("data") or {}
        order_id = str(data["orderId"])
        correlation_id = envelope.get("correlationId")
        now = ev.utc_now_iso()
        payment, wrote = mutate(self.payments, order_id, lambda cur: domain.begin_charge(cur, data, now_iso=now))
        assert payment is not None
        if not wrote or payment["status"] != domain.CHARGING:
            self._publish(payment)  # a crash may have left events behind
            return str(payment["status"])
        token = lookups.payment_token(self.db, order_id)
        result = self.provider.charge(order_id, int(payment["amountCents"]), str(payment["currency"]), token,
                                      domain.charge_key(order_id), attempt=int(payment["attempts"]))
        payment, _ = self._write(order_id, lambda cur: domain.record_charge(
            cur, approved=result.approved, payment_id=result.payment_id, decline_reason=result.decline_reason,
            now_iso=ev.utc_now_iso(), correlation_id=correlation_id))
        if domain.needs_refund(payment):
            payment = self._refund(order_id, correlation_id)
        return str((payment or {}).get("status"))

    def cancel(self, envelope: dict[str, Any]) -> str:
        """Handle ``order.cancelled``: refund a succeeded charge once, or make sure none happens."""
        data = envelope.get("data") or {}
        order_id = str(data["orderId"])
        correlation_id = envelope.get("correlationId")
        now = ev.utc_now_iso()
        payment, _ = mutate(self.payments, order_id, lambda cur: domain.record_cancellation(cur, data, now_iso=now))
        if domain.needs_refund(payment):
            payment = self._refund(order_id, correlation_id)
        return str((payment or {}).get("status"))

    def _refund(self, order_id: str, correlation_id: str | None) -> Doc | None:
        payment = self.payments.find_one({"_id": order_id})
        if not domain.needs_refund(payment):
            return payment
        assert payment is not None
        result = self.provider.refund(str(payment["paymentId"]), int(payment["amountCents"]),
                                      str(payment["currency"]), domain.refund_key(order_id))
        payment, _ = self._write(order_id, lambda cur: domain.record_refund(
            cur, refund_id=result.refund_id, now_iso=ev.utc_now_iso(), correlation_id=correlation_id))
        return payment


_service: PaymentService | None = None


def service() -> PaymentService:
    """The process-wide payment service (warm invocations reuse it)."""
    global _service
    if _service is None:
        _service = PaymentService()
    return _service

"""Payment use cases, driven by order events: charge on ``order.created``, refund on ``order.cancelled``.

Each step is a compare-and-swap on the order's one payment document (``_id`` = order id) that
carries its events in the same write; provider calls use a per-order idempotency key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from shop import envelope as ev
from shop import outbox
from shop.config import get_settings
from shop.payments import domain, store
from shop.payments.provider import PaymentProvider
from shop.payments.simulated import SimulatedProvider
from shop.store import Doc


@functools.cache
def provider(name: str) -> PaymentProvider:
    """The payment provider called ``name`` (only ``simulated`` ships locally), made once per process."""
    if name == "simulated":
        return SimulatedProvider()
    raise ValueError(f"unknown payment provider {name!r}")


def _write(order_id: str, rule: Callable[[Doc], domain.Outcome], known: Doc | None) -> Doc | None:
    """CAS-apply ``rule(current) -> Outcome``, starting from ``known`` (the payment as last seen);
    the events it stored are published after the write."""

    def change(current: Doc | None) -> Doc | None:
        if current is None:
            return None
        outcome = rule(current)
        if outcome.payment is None:
            return None
        return outbox.add_events(outcome.payment, outcome.events)

    return store.change(order_id, change, known=known)[0]


def charge(envelope: ev.Envelope) -> str:
    """Handle ``order.created``: charge once. Returns the payment's status afterwards.

    A transient provider error propagates, so the event-source mapping retries the batch;
    the attempt is already counted in the payment document.
    """
    data = envelope.data
    order_id = str(data["orderId"])
    now = ev.utc_now_iso()
    # Usually the first delivery of this order.created: insert the payment without reading first.
    payment, wrote = store.change(order_id, lambda cur: domain.begin_charge(cur, data, now_iso=now), absent=True)
    assert payment is not None
    if not wrote:
        outbox.publish(store.payments(), payment)  # a crash may have left events behind
    if not wrote or payment["status"] != domain.CHARGING:
        return str(payment["status"])
    token = store.payment_token(order_id)
    result = provider(get_settings().payment_provider).charge(
        order_id, int(payment["amountCents"]), str(payment["currency"]), token, domain.charge_key(order_id),
        attempt=int(payment["attempts"]))
    payment = _write(order_id, lambda cur: domain.record_charge(
        cur, approved=result.approved, payment_id=result.payment_id, decline_reason=result.decline_reason,
        now_iso=ev.utc_now_iso(), correlation_id=envelope.correlationId), known=payment)
    if domain.needs_refund(payment):
        payment = _refund(order_id, envelope.correlationId)
    return str((payment or {}).get("status"))


def cancel(envelope: ev.Envelope) -> str:
    """Handle ``order.cancelled``: refund a succeeded charge once, or make sure none happens."""
    data = envelope.data
    order_id = str(data["orderId"])
    now = ev.utc_now_iso()
    payment, _ = store.change(order_id, lambda cur: domain.record_cancellation(cur, data, now_iso=now))
    if domain.needs_refund(payment):
        payment = _refund(order_id, envelope.correlationId)
    return str((payment or {}).get("status"))


def _refund(order_id: str, correlation_id: str | None) -> Doc | None:
    payment = store.get(order_id)
    if not domain.needs_refund(payment):
        return payment
    assert payment is not None
    result = provider(get_settings().payment_provider).refund(
        str(payment["paymentId"]), int(payment["amountCents"]), str(payment["currency"]), domain.refund_key(order_id))
    return _write(order_id, lambda cur: domain.record_refund(
        cur, refund_id=result.refund_id, now_iso=ev.utc_now_iso(), correlation_id=correlation_id), known=payment)

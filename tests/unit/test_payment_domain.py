"""Pure payment rules and the simulated provider (no services)."""

from __future__ import annotations

import pytest

from shop import envelope as ev
from shop.payments import domain
from shop.payments.provider import TransientProviderError
from shop.payments.service import provider
from shop.payments.simulated import SimulatedProvider

NOW = "2026-01-01T00:00:00.000Z"
ORDER = {"orderId": "o1", "buyerId": "u1", "totalCents": 1080, "currency": "USD"}


def test_first_delivery_starts_one_charge() -> None:
    """order.created on a fresh order starts attempt 1; a settled payment ignores redeliveries."""
    doc = domain.begin_charge(None, ORDER, now_iso=NOW)
    assert doc is not None and doc["status"] == "charging" and doc["attempts"] == 1
    retry = domain.begin_charge(doc, ORDER, now_iso=NOW)
    assert retry is not None and retry["attempts"] == 2
    settled = domain.record_charge(doc, approved=True, payment_id="pay_1", decline_reason=None, now_iso=NOW)
    assert settled.payment is not None
    assert domain.begin_charge(settled.payment, ORDER, now_iso=NOW) is None


def test_record_charge_events() -> None:
    """Approval emits payment.succeeded, decline payment.failed with reason payment_declined."""
    doc = domain.begin_charge(None, ORDER, now_iso=NOW)
    assert doc is not None
    ok = domain.record_charge(doc, approved=True, payment_id="pay_1", decline_reason=None, now_iso=NOW)
    assert ok.payment is not None and ok.payment["status"] == "succeeded"
    assert [e["type"] for e in ok.events] == [ev.PAYMENT_SUCCEEDED]
    assert ok.events[0]["data"]["paymentId"] == "pay_1" and ok.events[0]["key"] == "o1"
    no = domain.record_charge(doc, approved=False, payment_id=None, decline_reason="card_declined", now_iso=NOW)
    assert no.payment is not None and no.payment["status"] == "failed"
    assert no.events[0]["type"] == ev.PAYMENT_FAILED and no.events[0]["data"]["reason"] == "payment_declined"
    assert domain.record_charge(ok.payment, approved=True, payment_id="x", decline_reason=None,
                                now_iso=NOW).payment is None


def test_cancel_before_charge_voids() -> None:
    """order.cancelled before order.created voids the payment, so a late order.created never charges."""
    voided = domain.record_cancellation(None, ORDER, now_iso=NOW)
    assert voided is not None and voided["status"] == "voided"
    assert domain.begin_charge(voided, ORDER, now_iso=NOW) is None


def test_cancel_during_charge_then_retry_voids() -> None:
    """A cancellation during a failed attempt turns the retry into a void, not a charge."""
    charging = domain.begin_charge(None, ORDER, now_iso=NOW)
    flagged = domain.record_cancellation(charging, ORDER, now_iso=NOW)
    assert flagged is not None and flagged["cancelRequested"] is True
    retry = domain.begin_charge(flagged, ORDER, now_iso=NOW)
    assert retry is not None and retry["status"] == "voided"


def test_refund_exactly_once() -> None:
    """A succeeded payment of a cancelled order is refunded once; failed payments never."""
    charging = domain.begin_charge(None, ORDER, now_iso=NOW)
    assert charging is not None
    paid = domain.record_charge(charging, approved=True, payment_id="pay_1", decline_reason=None, now_iso=NOW)
    assert paid.payment is not None and not domain.needs_refund(paid.payment)
    owed = domain.record_cancellation(paid.payment, ORDER, now_iso=NOW)
    assert owed is not None and domain.needs_refund(owed)
    assert domain.record_cancellation(owed, ORDER, now_iso=NOW) is None
    refunded = domain.record_refund(owed, refund_id="re_1", now_iso=NOW)
    assert refunded.payment is not None and refunded.payment["status"] == "refunded"
    assert [e["type"] for e in refunded.events] == [ev.PAYMENT_REFUNDED]
    assert not domain.needs_refund(refunded.payment)
    assert domain.record_refund(refunded.payment, refund_id="re_2", now_iso=NOW).payment is None
    failed = domain.record_charge(charging, approved=False, payment_id=None, decline_reason="x", now_iso=NOW)
    assert failed.payment is not None
    assert domain.record_cancellation(failed.payment, ORDER, now_iso=NOW) is None


def test_simulated_tokens() -> None:
    """tok_visa approves, tok_declined declines, tok_transient fails once then approves."""
    p = SimulatedProvider()
    ok = p.charge("o1", 100, "USD", "tok_visa", "charge:o1")
    assert ok.approved and ok.payment_id == p.charge("o1", 100, "USD", "tok_visa", "charge:o1").payment_id
    declined = p.charge("o1", 100, "USD", "tok_declined", "charge:o1")
    assert not declined.approved and declined.decline_reason == "card_declined"
    with pytest.raises(TransientProviderError):
        p.charge("o1", 100, "USD", "tok_transient", "charge:o1", attempt=1)
    assert p.charge("o1", 100, "USD", "tok_transient", "charge:o1", attempt=2).approved
    assert not p.charge("o1", 100, "USD", "tok_bogus", "charge:o1").approved
    assert p.refund("pay_x", 100, "USD", "refund:o1").refund_id == p.refund("pay_x", 100, "USD", "refund:o1").refund_id


def test_provider_selection() -> None:
    """settings.payment_provider names the provider; unknown names fail loudly."""
    assert isinstance(provider("simulated"), SimulatedProvider)
    with pytest.raises(ValueError):
        provider("stripe")

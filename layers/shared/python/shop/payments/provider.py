"""The payment-provider interface the charge and refund use cases talk to.

A provider must be idempotent on ``idempotency_key`` (as Stripe, Adyen and Braintree are):
calling ``charge`` twice with one key takes the money once and answers with the same payment id.
That is what makes "exactly one charge per order" hold even when we crash between the provider
call and recording its answer, and the event is delivered again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ProviderError(Exception):
    """Base of the errors a payment provider raises."""


class TransientProviderError(ProviderError):
    """The provider could not answer now (timeout, 5xx); the same call may be retried."""


@dataclass(frozen=True)
class ChargeResult:
    """The provider's answer to a charge: approved with a payment id, or declined with a reason."""

    approved: bool
    payment_id: str | None = None
    decline_reason: str | None = None


@dataclass(frozen=True)
class RefundResult:
    """The provider's answer to a refund."""

    refund_id: str


class PaymentProvider(Protocol):
    """What the payments service needs from a payment provider."""

    def charge(self, order_id: str, amount_cents: int, currency: str, token: str, idempotency_key: str,
               *, attempt: int = 1) -> ChargeResult:
        """Take ``amount_cents`` from the payment method ``token``; ``attempt`` counts our tries."""
        ...

    def refund(self, payment_id: str, amount_cents: int, currency: str, idempotency_key: str) -> RefundResult:
        """Give back ``amount_cents`` of ``payment_id``."""
        ...


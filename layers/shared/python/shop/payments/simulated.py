"""A deterministic, in-process stand-in for a card payment provider (local stack and tests).

Test tokens:

- ``tok_visa`` (and any other ``tok_visa_*`` / ``tok_ok*``): approved.
- ``tok_declined``: declined (``card_declined``).
- ``tok_transient``: the first attempt raises :class:`TransientProviderError`, later attempts are
  approved; the attempt number is the one the payments service counts in its payment document,
  so the behaviour survives process restarts.
- anything else: declined (``invalid_token``).

Ids are derived from the idempotency key, so repeating a call returns the same id: the
provider-side idempotency a real provider guarantees.
"""

from __future__ import annotations

import hashlib

from shop.payments.provider import ChargeResult, RefundResult, TransientProviderError

TOKEN_OK = "tok_visa"
TOKEN_DECLINED = "tok_declined"
TOKEN_TRANSIENT = "tok_transient"


def _id(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class SimulatedProvider:
    """Approves, declines or fails transiently depending on the token; never touches the network."""

    def charge(self, order_id: str, amount_cents: int, currency: str, token: str, idempotency_key: str,
               *, attempt: int = 1) -> ChargeResult:
        if amount_cents < 0:
            raise ValueError("amount must not be negative")
        if token == TOKEN_TRANSIENT and attempt <= 1:
            raise TransientProviderError(f"simulated provider timeout for order {order_id} (attempt {attempt})")
        if token == TOKEN_DECLINED:
            return ChargeResult(approved=False, decline_reason="card_declined")
        if token in (TOKEN_OK, TOKEN_TRANSIENT) or token.startswith(("tok_visa_", "tok_ok")):
            return ChargeResult(approved=True, payment_id=_id("pay", idempotency_key))
        return ChargeResult(approved=False, decline_reason="invalid_token")

    def refund(self, payment_id: str, amount_cents: int, currency: str, idempotency_key: str) -> RefundResult:
        return RefundResult(refund_id=_id("re", idempotency_key))

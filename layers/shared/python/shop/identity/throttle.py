"""Failed-login throttling, per account and per source: the pure rules. No I/O.

Each key (``account:<email>``, ``source:<ip>``) counts its failed logins. The first
``free_failures`` cost nothing; from then on each failure locks the key for ``base * 2**n``
seconds (n = failures past the free ones), capped at ``cap_seconds``, so an attacker gets about
one guess a minute per account while a customer who mistyped waits at most a minute. While a
key is locked, attempts answer 429 without checking the password and without counting, so
nobody can stretch a lock beyond the cap. A key forgets its failures ``window_seconds`` after
the last one (the document's ``expiresAt``, a TTL index deletes it); a successful login forgets
the account's failures. A source gets more free failures than an account (several customers
behind one address).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Doc = dict[str, Any]


@dataclass(frozen=True)
class Policy:
    """How many failures a key may have before backoff, and how the lock grows."""

    free_failures: int
    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    window_seconds: float = 15 * 60.0


ACCOUNT = Policy(free_failures=5)
SOURCE = Policy(free_failures=20)


def account_key(email: str) -> str:
    """The throttle key of an account (the normalised email, known or not: same answer either way)."""
    return f"account:{email}"


def source_key(source_ip: str) -> str:
    """The throttle key of a source address."""
    return f"source:{source_ip}"


def _live_failures(doc: Doc | None, policy: Policy, now: float) -> int:
    if doc is None or now >= float(doc.get("lastFailureAt", 0.0)) + policy.window_seconds:
        return 0
    return int(doc.get("failures", 0))


def lock_seconds(failures: int, policy: Policy) -> float:
    """How long a key with this many failures is locked after its last one (0: not locked)."""
    past = failures - policy.free_failures
    if past < 0:
        return 0.0
    return min(policy.base_seconds * 2.0 ** min(past, 32), policy.cap_seconds)


def wait_seconds(doc: Doc | None, policy: Policy, now: float) -> float:
    """Seconds until this key may try again (0: it may try now)."""
    failures = _live_failures(doc, policy, now)
    if doc is None or failures == 0:
        return 0.0
    return max(0.0, float(doc["lastFailureAt"]) + lock_seconds(failures, policy) - now)


def retry_after(seconds: float) -> int:
    """The ``Retry-After`` header value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))


def after_failure(doc: Doc | None, policy: Policy, now: float) -> Doc:
    """The key's document after one more failed login at ``now``."""
    return {
        "failures": _live_failures(doc, policy, now) + 1,
        "lastFailureAt": now,
        "expiresAt": datetime.fromtimestamp(now + policy.window_seconds, tz=UTC),
    }

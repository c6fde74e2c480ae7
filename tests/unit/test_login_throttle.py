"""The failed-login throttle's rules, without a database."""

from __future__ import annotations

from shop.identity import throttle
from shop.identity.throttle import ACCOUNT, SOURCE, Policy, after_failure, lock_seconds, retry_after, wait_seconds

T0 = 1_700_000_000.0


def failures(n: int, policy: Policy = ACCOUNT, start: float = T0) -> dict[str, object]:
    doc = None
    for i in range(n):
        doc = after_failure(doc, policy, start + i)
    assert doc is not None
    return doc


def test_free_failures_then_doubling_locks_capped_at_a_minute() -> None:
    assert [lock_seconds(n, ACCOUNT) for n in range(4, 14)] == [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert lock_seconds(10**6, ACCOUNT) == 60  # never overflows, never more than the cap


def test_the_source_gets_more_free_failures_than_an_account() -> None:
    assert SOURCE.free_failures > ACCOUNT.free_failures
    assert lock_seconds(ACCOUNT.free_failures, SOURCE) == 0


def test_wait_counts_from_the_last_failure() -> None:
    doc = failures(4)
    assert wait_seconds(doc, ACCOUNT, T0 + 3.5) == 0
    doc = after_failure(doc, ACCOUNT, T0 + 4)  # the fifth: locked for 1 s
    assert wait_seconds(doc, ACCOUNT, T0 + 4.25) == 0.75
    assert wait_seconds(doc, ACCOUNT, T0 + 5) == 0
    assert retry_after(0.75) == 1 and retry_after(1.01) == 2 and retry_after(0) == 1


def test_failures_are_forgotten_a_window_after_the_last_one() -> None:
    doc = failures(12)
    last = float(doc["lastFailureAt"])  # type: ignore[arg-type]
    assert wait_seconds(doc, ACCOUNT, last + 30) == 30
    assert wait_seconds(doc, ACCOUNT, last + ACCOUNT.window_seconds) == 0
    again = after_failure(doc, ACCOUNT, last + ACCOUNT.window_seconds)
    assert again["failures"] == 1
    assert again["expiresAt"].timestamp() == last + 2 * ACCOUNT.window_seconds  # type: ignore[union-attr]


def test_no_document_means_no_wait_and_keys_are_namespaced() -> None:
    assert wait_seconds(None, ACCOUNT, T0) == 0
    assert throttle.account_key("a@b.co") == "account:a@b.co"
    assert throttle.source_key("10.0.0.1") == "source:10.0.0.1"

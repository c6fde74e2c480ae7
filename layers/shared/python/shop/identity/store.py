"""Document access of identity: the ``users`` collection (one document per user; a unique index
on the normalised ``email`` makes registration race-free) and ``login_throttle`` (failed logins
per account and per source, deleted by a TTL index on ``expiresAt``)."""

from __future__ import annotations

from collections.abc import Callable

from pymongo.collection import Collection

from shop import clients
from shop.store import Doc, mutate


def users() -> Collection[Doc]:
    return clients.db()["users"]


def throttles() -> Collection[Doc]:
    return clients.db()["login_throttle"]


def change_throttle(key: str, fn: Callable[[Doc | None], Doc | None]) -> tuple[Doc | None, bool]:
    """``shop.store.mutate`` on one throttle key's document."""
    return mutate(throttles(), key, fn)


def change(user_id: str, fn: Callable[[Doc | None], Doc | None]) -> tuple[Doc | None, bool]:
    """``shop.store.mutate`` on one user document (users carry no events)."""
    return mutate(users(), user_id, fn)

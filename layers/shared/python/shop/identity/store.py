"""Document access of identity: the ``users`` collection (one document per user; a unique index
on the normalised ``email`` makes registration race-free)."""

from __future__ import annotations

from collections.abc import Callable

from pymongo.collection import Collection

from shop import clients
from shop.store import Doc, mutate


def users() -> Collection[Doc]:
    return clients.db()["users"]


def change(user_id: str, fn: Callable[[Doc | None], Doc | None]) -> tuple[Doc | None, bool]:
    """``shop.store.mutate`` on one user document (users carry no events)."""
    return mutate(users(), user_id, fn)

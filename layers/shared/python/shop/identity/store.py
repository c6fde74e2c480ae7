"""Document access of identity: the ``users`` collection (one document per user; a unique index
on the normalised ``email`` makes registration race-free)."""

from __future__ import annotations

from pymongo.collection import Collection

from shop import clients
from shop.store import Doc


def users() -> Collection[Doc]:
    return clients.db()["users"]

"""Compare-and-swap writes (``shop.store.mutate``) against the real database stand-in."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from devstack.testing import Stack
from shop.store import mutate

pytestmark = pytest.mark.stack


class Commands(monitoring.CommandListener):
    """The names of the commands a client sent."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_a_known_document_saves_the_read_and_a_stale_one_loses_its_race(stack: Stack) -> None:
    """``known`` fresh: one write, no read. ``known`` stale: the write loses, the change is applied
    again to the document as it is now, and the other writer's change is kept."""
    commands = Commands()
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongodb_uri, tz_aware=True, event_listeners=[commands])
    try:
        docs = client.get_default_database(default="shop")[f"store_test_{uuid.uuid4().hex[:8]}"]
        doc, wrote = mutate(docs, "a", lambda cur: {"n": 1, "by": ["first"]})
        assert wrote and doc is not None and doc["version"] == 1

        def add(name: str) -> Any:
            return lambda cur: {**cur, "n": cur["n"] + 1, "by": [*cur["by"], name]}

        commands.names.clear()
        doc, wrote = mutate(docs, "a", add("known"), known=doc)
        assert wrote and commands.names == ["update"]
        assert docs.find_one({"_id": "a"}) == {"_id": "a", "n": 2, "by": ["first", "known"], "version": 2}

        stale = dict(doc or {})
        mutate(docs, "a", add("other writer"))  # version 3 now
        commands.names.clear()
        doc, wrote = mutate(docs, "a", add("stale"), known=stale)
        assert wrote and commands.names == ["update", "find", "update"]
        assert docs.find_one({"_id": "a"}) == {"_id": "a", "n": 4, "by": ["first", "known", "other writer", "stale"],
                                               "version": 4}
        docs.drop()
    finally:
        client.close()


def test_an_absent_guess_inserts_without_a_read_and_a_wrong_one_reads_and_decides_again(stack: Stack) -> None:
    """``absent``: a new document costs one insert and no read; when it exists after all, the insert
    clashes on ``_id``, the change is applied to the stored document, and nothing is inserted twice."""
    commands = Commands()
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongodb_uri, tz_aware=True, event_listeners=[commands])
    try:
        docs = client.get_default_database(default="shop")[f"store_test_{uuid.uuid4().hex[:8]}"]

        def open_or_count(cur: dict[str, Any] | None) -> dict[str, Any]:
            return {"n": 1} if cur is None else {**cur, "n": cur["n"] + 1}

        commands.names.clear()
        doc, wrote = mutate(docs, "a", open_or_count, absent=True)
        assert wrote and commands.names == ["insert"]
        commands.names.clear()
        doc, wrote = mutate(docs, "a", open_or_count, absent=True)
        assert wrote and commands.names == ["insert", "find", "update"]
        assert docs.find_one({"_id": "a"}) == {"_id": "a", "n": 2, "version": 2}

        commands.names.clear()
        doc, wrote = mutate(docs, "a", lambda cur: None if cur is not None else {"n": 0}, absent=True)
        assert not wrote and doc is not None and doc["n"] == 2  # a guess that writes nothing is checked
        assert commands.names == ["insert", "find"]
        docs.drop()
    finally:
        client.close()

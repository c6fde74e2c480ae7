"""The relay's read access to the database event log (``shop.eventlog``), its second source.

Every envelope the outbox publishes is also kept in the ``events`` collection. The relay reads it
to replay what neither its memory nor the broker still holds (a broker that came back empty, a
restarted relay) and to send what a broker lost before the relay read it. Blocking pymongo calls
with a short timeout; the hub calls them on the event loop so that reading the log and registering
a subscriber are atomic with respect to live records (see docs/RELAY.md, "Replay from the event log").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pymongo import MongoClient

from realtime_relay.hub import LogRow
from shop import eventlog

log = logging.getLogger("realtime_relay.event_log")


class EventLogReader:
    """Reads the shop's event log for the relay's topics."""

    def __init__(self, uri: str, database: str, topics: Sequence[str], *, timeout_ms: int, max_rows: int) -> None:
        self.topics = tuple(topics)
        self.max_rows = max_rows
        self._client: MongoClient[dict[str, Any]] = MongoClient(
            uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms * 4,
            appname="realtime-relay")
        self._db = self._client[database]
        self.reads = 0

    def since(self, after: float) -> list[LogRow] | None:
        """Every relay event logged after ``after`` (epoch seconds), oldest first; None past ``max_rows``."""
        self.reads += 1
        docs = eventlog.logged_after(self._db, after, self.topics, limit=self.max_rows + 1)
        if len(docs) > self.max_rows:
            return None
        return [(float(d["loggedAt"]), str(d["type"]), dict(d["envelope"])) for d in docs
                if isinstance(d.get("envelope"), dict)]

    def recent_ids(self, limit: int) -> list[str]:
        """The ids of the last ``limit`` relay events logged."""
        return eventlog.latest_ids(self._db, self.topics, limit=limit)

    def close(self) -> None:
        self._client.close()

"""Subscriptions and fan-out: Kafka records in, frames out to the right connections. No I/O.

The hub is generic over the connection type; the I/O layer injects ``send(batch)``, called once
per batch of Kafka records with every ``(connections, frame)`` pair in order, so it can write all
of a connection's frames at once; an optional ``on_event(topic, partition, offset, envelope,
deliveries)`` hears of every new event that has a channel (the relay logs it). Everything runs on
the event loop thread, so subscribing (replay + registration) is atomic with respect to live
records: a client never misses or doubles an event between the two.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from realtime_relay.cursor import CursorError, PositionVector, decode
from realtime_relay.mapping import ADMIN, INVENTORY, ORDERS, deliveries
from realtime_relay.retention import Message, Replay, ReplayStatus, Retention

C = TypeVar("C")

#: One record read from Kafka: (topic, partition, offset, envelope or None when not a JSON object).
Record = tuple[str, int, int, "dict[str, Any] | None"]


def per_connection(batch: Sequence[tuple[Collection[C], bytes]],
                   encode: Callable[[bytes], bytes]) -> Iterable[tuple[C, bytes]]:
    """What to write to each connection for a batch: all of its frames, in order, as one buffer.

    ``batch`` holds ``(connections, payload)`` pairs in delivery order; ``encode`` turns a payload
    into its wire frame (once per payload, shared by every connection). When every pair has the
    same audience (one set object, e.g. a burst of inventory events), the joined buffer is built
    once for all of them.
    """
    first = batch[0][0]
    if all(targets is first for targets, _ in batch):
        data = b"".join([encode(payload) for _, payload in batch])
        return ((conn, data) for conn in first)
    parts: dict[C, list[bytes]] = {}
    for targets, payload in batch:
        data = encode(payload)
        for conn in targets:
            mine = parts.get(conn)
            if mine is None:
                parts[conn] = [data]
            else:
                mine.append(data)
    return ((conn, b"".join(frames)) for conn, frames in parts.items())


def frame(event: str, event_id: str, data: dict[str, Any], cursor: str) -> bytes:
    """The server → client event frame of the contract."""
    body = {"type": "event", "event": event, "data": data, "id": event_id, "cursor": cursor}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(slots=True)
class HubStats:
    """Counters for /metrics and the benchmark."""

    records: int = 0
    duplicates: int = 0
    malformed: int = 0
    deliveries: int = 0
    epochs: int = 0


class RecentIds:
    """A bounded set of recently seen event ids (first in, first out)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        """Remember one id, forgetting the oldest past capacity."""
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())


class Hub(Generic[C]):
    """Routes each record to the subscribers of its channels and keeps it for replay."""

    def __init__(
        self,
        send: Callable[[Sequence[tuple[Collection[C], bytes]]], None],
        *,
        retention_per_partition: int = 2000,
        dedupe_ids: int = 100_000,
        low_stock_threshold: int = 10,
        on_event: Callable[[str, int, int, dict[str, Any], int], None] | None = None,
    ) -> None:
        self._send = send
        self._on_event = on_event
        self.low_stock_threshold = low_stock_threshold
        self.retention = Retention(retention_per_partition)
        self.positions = PositionVector()
        self.recent = RecentIds(dedupe_ids)
        self.stats = HubStats()
        self.inventory: set[C] = set()
        self.admins: set[C] = set()
        self.owners: dict[str, set[C]] = {}

    # --- the Kafka side -------------------------------------------------------------------

    def assign(self, topic: str, epoch: bytes, partitions: Mapping[int, tuple[int, bool]]) -> None:
        """Partitions about to be read: ``{partition: (first offset, nothing exists before it)}``.

        A topic seen with a new epoch (recreated by a broker that came back empty) starts over;
        its old records can no longer be matched to a cursor. A known partition restarted at or
        below its last offset (a truncated log) starts over too.
        """
        known = self.retention.epochs.get(topic)
        if known != epoch:
            if known is not None:
                self.stats.epochs += 1
            self.retention.reset_topic(topic, epoch)
            self.positions.reset_topic(topic, epoch, {})
        for partition, (start, complete) in partitions.items():
            log = self.retention.logs.get((topic, partition))
            if log is not None and start > log.last:
                continue
            self.retention.add_partition(topic, partition, start, complete)
            self.positions.advance(topic, partition, start - 1)

    def ingest(self, topic: str, partition: int, offset: int, envelope: dict[str, Any] | None) -> None:
        """One record read from Kafka (``envelope`` None when its value was not a JSON object)."""
        self.ingest_batch(((topic, partition, offset, envelope),))

    def ingest_batch(self, records: Iterable[Record]) -> None:
        """Records read from Kafka, in order; their frames go out in one ``send``."""
        out: list[tuple[Collection[C], bytes]] = []
        for topic, partition, offset, envelope in records:
            self._ingest(topic, partition, offset, envelope, out)
        if out:
            self._send(out)

    def _ingest(self, topic: str, partition: int, offset: int, envelope: dict[str, Any] | None,
                out: list[tuple[Collection[C], bytes]]) -> None:
        log = self.retention.logs.get((topic, partition))
        if log is None or offset <= log.last:
            return
        self.stats.records += 1
        self.positions.advance(topic, partition, offset)
        found: list[Message] = []
        event_id = envelope.get("id") if envelope is not None else None
        if envelope is None or not isinstance(event_id, str):
            self.stats.malformed += 1
        elif event_id in self.recent:
            self.stats.duplicates += 1
        else:
            self.recent.add(event_id)
            items = deliveries(topic, envelope, low_stock_threshold=self.low_stock_threshold)
            if items:
                cursor = self.positions.cursor()
                found = [(d.channel, d.user_id, frame(d.event, d.id, d.data, cursor)) for d in items]
        messages = tuple(found)
        self.retention.append(topic, partition, offset, messages)
        delivered = 0
        for channel, user_id, payload in messages:
            targets = self._targets(channel, user_id)
            if targets:
                out.append((targets, payload))
                delivered += len(targets)
        self.stats.deliveries += delivered
        if self._on_event is not None and envelope is not None and found:
            self._on_event(topic, partition, offset, envelope, delivered)

    def cursor(self) -> str:
        """The relay's current position."""
        return self.positions.cursor()

    # --- the client side ------------------------------------------------------------------

    def _targets(self, channel: str, user_id: str | None) -> set[C] | None:
        if channel == INVENTORY:
            return self.inventory
        if channel == ADMIN:
            return self.admins
        return self.owners.get(user_id) if user_id is not None else None

    def subscribe(self, conn: C, channel: str, user_id: str, since: str | None = None) -> Replay:
        """Register ``conn`` on a channel; with ``since``, first what it missed.

        Status BEHIND (the cursor is ahead of this relay's read position) registers nothing: the
        caller retries shortly. GAP and OK register; GAP means the missed events are unknown.
        """
        replay = Replay(ReplayStatus.OK)
        if since is not None:
            try:
                position = decode(since)
            except CursorError as exc:
                return Replay(ReplayStatus.GAP, reason=str(exc))
            replay = self.retention.replay(position, _accept(channel, user_id))
            if replay.status is ReplayStatus.BEHIND:
                return replay
        if channel == ORDERS:
            self.owners.setdefault(user_id, set()).add(conn)
        elif channel == INVENTORY:
            self.inventory.add(conn)
        elif channel == ADMIN:
            self.admins.add(conn)
        else:
            raise ValueError(f"unknown channel {channel!r}")
        return replay

    def unsubscribe(self, conn: C, channel: str, user_id: str) -> None:
        """Stop sending a channel to ``conn``."""
        if channel == ORDERS:
            mine = self.owners.get(user_id)
            if mine is not None:
                mine.discard(conn)
                if not mine:
                    del self.owners[user_id]
        elif channel == INVENTORY:
            self.inventory.discard(conn)
        elif channel == ADMIN:
            self.admins.discard(conn)


def _accept(channel: str, user_id: str) -> Callable[[Message], bool]:
    if channel == ORDERS:
        return lambda m: m[0] == ORDERS and m[1] == user_id
    return lambda m: m[0] == channel

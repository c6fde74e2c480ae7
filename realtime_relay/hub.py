"""Subscriptions and fan-out: Kafka records in, frames out to the right connections. No I/O.

The hub is generic over the connection type; the I/O layer injects ``send(batch)``, called once
per batch of Kafka records with every ``(connections, frame)`` pair in order, so it can write all
of a connection's frames at once; an optional ``on_event(topic, partition, offset, envelope,
deliveries)`` hears of every new event that has a channel (the relay logs it). Everything runs on
the event loop thread, so subscribing (replay + registration) is atomic with respect to live
records: a client never misses or doubles an event between the two.

With an event log reader (``log_reader``, see :mod:`realtime_relay.event_log`) the hub also
resolves cursors it cannot serve from memory against the database event log, and sends what a
broker lost before it was read (docs/RELAY.md, "Replay from the event log").
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from realtime_relay.cursor import (
    MAX_MARK_IDS,
    Cursor,
    CursorError,
    LogMark,
    PositionVector,
    decode_cursor,
    encode,
    id_hash,
)
from realtime_relay.mapping import ADMIN, INVENTORY, ORDERS, Delivery, deliveries
from realtime_relay.marks import AudienceMarks
from realtime_relay.retention import Message, Replay, ReplayStatus, Retention

C = TypeVar("C")

#: The most event-id hashes the cursor of a channel without an owner names (its audience is everyone,
#: so a busy channel names only its last ones and its window shrinks, see docs/RELAY.md); a quarter of
#: what a cursor can carry, so a replay can add three times as many before its frames fall back to the
#: current position. Each id costs 8 bytes of every frame of the channel.
CHANNEL_MARK_IDS = 64

#: One record read from Kafka: (topic, partition, offset, envelope or None when not a JSON object).
Record = tuple[str, int, int, "dict[str, Any] | None"]
#: One entry of the database event log: (logged at, epoch seconds; topic; envelope).
LogRow = tuple[float, str, "dict[str, Any]"]
#: Every log entry logged after a time, oldest first; None when there are too many to replay.
LogReader = Callable[[float], "list[LogRow] | None"]


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
        # A list, not a generator over the live set: writing may evict a connection (4429), which
        # removes it from that very set; iterating the set meanwhile would stop the fan-out midway.
        return [(conn, data) for conn in first]
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
    backfilled: int = 0
    log_replays: int = 0
    log_failures: int = 0


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
        log_reader: LogReader | None = None,
        log_window: float = 10.0,
        log_max_age: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._send = send
        self._on_event = on_event
        self.low_stock_threshold = low_stock_threshold
        self.retention = Retention(retention_per_partition)
        self.positions = PositionVector()
        self.recent = RecentIds(dedupe_ids)
        self.stats = HubStats()
        self.log_reader = log_reader
        self.log_window = log_window
        self.log_max_age = log_max_age
        self.clock = clock
        self.marks = AudienceMarks(log_window)  # orders: per owner
        self.channel_marks = AudienceMarks(log_window, cap=CHANNEL_MARK_IDS)  # inventory, admin: per channel
        self.backfilled_at = 0.0  # last time events read from the log were sent (memory replays predate it)
        self.last_read: dict[str, float] = {}  # per topic: when a record was last read from Kafka
        self.backfill_after: float | None = None  # a back-fill due from this time (see flush_backfill)
        self.inventory: set[C] = set()
        self.admins: set[C] = set()
        self.owners: dict[str, set[C]] = {}

    # --- the Kafka side -------------------------------------------------------------------

    def assign(self, topic: str, epoch: bytes, partitions: Mapping[int, tuple[int, bool]], *,
               defer_backfill: bool = False) -> None:
        """Partitions about to be read: ``{partition: (first offset, nothing exists before it)}``.

        A topic seen with a new epoch (recreated by a broker that came back empty) starts over;
        its old records can no longer be matched to a cursor. A known partition restarted at or
        below its last offset (a truncated log) starts over too. With ``defer_backfill`` the log
        read that a new epoch calls for waits for :meth:`flush_backfill`, so a broker that came
        back with every topic new costs one read of the log, not one per topic.
        """
        known = self.retention.epochs.get(topic)
        if known != epoch:
            if known is not None:
                self.stats.epochs += 1
            self.retention.reset_topic(topic, epoch)
            self.positions.reset_topic(topic, epoch, {})
            if known is not None and self.log_reader is not None:
                # What the old broker had that this relay never read is gone from Kafka but not from the log.
                after = self.last_read.get(topic, self.clock()) - self.log_window
                self.backfill_after = after if self.backfill_after is None else min(self.backfill_after, after)
                if not defer_backfill:
                    self.flush_backfill()
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
        now = self.clock()
        for topic, partition, offset, envelope in records:
            self._ingest(topic, partition, offset, envelope, out, now)
        if out:
            self._send(out)

    def _ingest(self, topic: str, partition: int, offset: int, envelope: dict[str, Any] | None,
                out: list[tuple[Collection[C], bytes]], now: float) -> None:
        log = self.retention.logs.get((topic, partition))
        if log is None or offset <= log.last:
            return
        self.stats.records += 1
        self.positions.advance(topic, partition, offset)
        self.last_read[topic] = now
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
                found = [(d.channel, d.user_id, self._frame(d, now)) for d in items]
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

    def _frame(self, d: Delivery, now: float) -> bytes:
        """The frame of one live delivery. Its cursor's log mark names what its audience was sent
        lately: an owner's ``orders`` events, or every event of a channel without an owner."""
        if d.channel == ORDERS and d.user_id is not None:
            marks, key = self.marks, d.user_id
        else:
            marks, key = self.channel_marks, d.channel
        marks.note(key, id_hash(d.id), now)
        return frame(d.event, d.id, d.data, self.positions.marked(marks.mark_bytes(key, now)))

    def cursor(self) -> str:
        """The relay's current position."""
        return self.positions.cursor()

    def cursor_for(self, channel: str, user_id: str) -> str:
        """The current cursor of a subscriber (``subscribed`` frames), with its log mark."""
        now = self.clock()
        if channel == ORDERS:
            return self.positions.cursor(self.marks.mark(user_id, now))
        return self.positions.cursor(self.channel_marks.mark(channel, now))

    # --- the event log ----------------------------------------------------------------------

    def seed(self, event_ids: Iterable[str]) -> None:
        """Event ids already in the log when this relay became ready: history, served by replay only.

        Without this, a restarted relay would send live what the outbox or the reconciler publishes
        again after a restart, which clients that were connected before it may already have had.
        """
        for event_id in event_ids:
            if event_id not in self.recent:
                self.recent.add(event_id)

    def flush_backfill(self) -> int:
        """Do the back-fill that new epochs called for (one log read for all of them); how many were sent."""
        after, self.backfill_after = self.backfill_after, None
        return 0 if after is None else self.backfill_since(after)

    def backfill_since(self, after: float) -> int:
        """Send live what the log holds since ``after`` that this relay never read; how many (-1: log unreadable)."""
        assert self.log_reader is not None
        try:
            rows = self.log_reader(after)
        except Exception:  # the database is away: the next epoch change or log replay tries again
            self.stats.log_failures += 1
            return -1
        if rows is None:
            self.stats.log_failures += 1
            return -1
        return self.backfill(rows)

    def backfill(self, rows: Iterable[LogRow]) -> int:
        """Send log entries this relay never read (not in the dedupe set) to current subscribers, as live
        events; they are remembered, so the broker's copy, if it comes later, is a duplicate."""
        now = self.clock()
        out: list[tuple[Collection[C], bytes]] = []
        count = 0
        for _logged_at, topic, envelope in rows:
            event_id = envelope.get("id")
            if not isinstance(event_id, str) or event_id in self.recent:
                continue
            self.recent.add(event_id)
            count += 1
            for d in deliveries(topic, envelope, low_stock_threshold=self.low_stock_threshold):
                targets = self._targets(d.channel, d.user_id)
                payload = self._frame(d, now)
                if targets:
                    out.append((targets, payload))
                    self.stats.deliveries += len(targets)
        if count:
            self.backfilled_at = now
            self.stats.backfilled += count
        if out:
            self._send(out)
        return count

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
                cursor = decode_cursor(since)
            except CursorError as exc:
                return Replay(ReplayStatus.GAP, reason=str(exc))
            replay = self._replay(cursor, channel, user_id)
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


    def _replay(self, cursor: Cursor, channel: str, user_id: str) -> Replay:
        """From memory when it can say exactly what the cursor missed; else from the event log."""
        accept = _accept(channel, user_id)
        mark = cursor.mark
        if self.log_reader is None or mark is None:
            return self.retention.replay(cursor.positions, accept)
        moved = any(self.retention.epochs.get(t) != p.epoch for t, p in cursor.positions.items())
        if not moved and mark.at_ms / 1000 >= self.backfilled_at:
            replay = self.retention.replay(cursor.positions, accept)
            if replay.status is not ReplayStatus.GAP:
                return replay
        return self._replay_from_log(cursor, mark, channel, user_id, accept)

    def _replay_from_log(self, cursor: Cursor, mark: LogMark, channel: str, user_id: str,
                         accept: Callable[[Message], bool]) -> Replay:
        """What a cursor missed, by the event log and this relay's memory of the current epochs.

        Log entries after the cursor's window are missed; within it, those whose hash the mark
        carries were sent. Kafka records this relay read after the cursor's positions (or all of
        a partition of an epoch the cursor does not know) were missed too; the log may not hold
        them yet. Entries not read from Kafka yet are sent to everyone first (:meth:`backfill`).
        """
        assert self.log_reader is not None
        now = self.clock()
        made = mark.at_ms / 1000
        if now - made > self.log_max_age:
            return Replay(ReplayStatus.GAP,
                          reason=f"the cursor is older than the replay window ({self.log_max_age:.0f} s)")
        try:
            rows = self.log_reader(made - max(mark.window_ms / 1000, self.log_window))
        except Exception as exc:  # the database is away
            self.stats.log_failures += 1
            return Replay(ReplayStatus.GAP, reason=f"the event log is unavailable ({exc.__class__.__name__})")
        if rows is None:
            return Replay(ReplayStatus.GAP, reason="too many events since this cursor; refetch over HTTP")
        self.stats.log_replays += 1
        self.backfill(rows)
        sent_before = made - mark.window_ms / 2000
        chosen: list[tuple[str, Delivery | bytes]] = []
        ids: set[str] = set()
        for logged_at, topic, envelope in rows:
            if logged_at <= sent_before:
                continue
            for d in deliveries(topic, envelope, low_stock_threshold=self.low_stock_threshold):
                if d.id not in ids and id_hash(d.id) not in mark.ids and accept((d.channel, d.user_id, b"")):
                    ids.add(d.id)
                    chosen.append((d.id, d))
        for payload in self.retention.after(cursor.positions, accept):
            event_id = str(json.loads(payload)["id"])
            if event_id not in ids and id_hash(event_id) not in mark.ids:
                ids.add(event_id)
                chosen.append((event_id, payload))
        return Replay(ReplayStatus.OK, frames=self._replayed(cursor, mark, chosen, channel, user_id, now))

    def _replayed(self, cursor: Cursor, mark: LogMark, chosen: list[tuple[str, Delivery | bytes]], channel: str,
                  user_id: str, now: float) -> list[bytes]:
        """The frames of a log replay. Each carries the client's own cursor plus what the replay sent
        so far, so a client cut off mid-replay resumes where it was cut off."""
        frames: list[bytes] = []
        sent = set(mark.ids)
        for event_id, item in chosen:
            if channel == ORDERS:
                self.marks.note(user_id, id_hash(event_id), now)
            if isinstance(item, bytes):
                frames.append(item)  # read from Kafka after the cursor: its own cursor says so
                continue
            sent.add(id_hash(event_id))
            if len(sent) <= MAX_MARK_IDS:
                text = encode(cursor.positions, LogMark(mark.at_ms, mark.window_ms, frozenset(sent)))
            else:  # more than a cursor can carry: where the replay has got to
                text = self.cursor_for(channel, user_id)
            frames.append(frame(item.event, item.id, item.data, text))
        return frames


def _accept(channel: str, user_id: str) -> Callable[[Message], bool]:
    if channel == ORDERS:
        return lambda m: m[0] == ORDERS and m[1] == user_id
    return lambda m: m[0] == channel

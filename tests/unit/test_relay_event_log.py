"""The relay's second source, the database event log: log marks in cursors, replays a restarted relay or
a new broker epoch cannot serve from memory, back-fill of what a broker lost. Pure logic: the log is a list."""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Sequence
from typing import Any

from realtime_relay.cursor import LogMark, TopicPosition, decode, decode_cursor, encode, epoch_of, id_hash
from realtime_relay.hub import Hub, LogRow
from realtime_relay.marks import AudienceMarks
from realtime_relay.retention import ReplayStatus


class Conn:
    def __init__(self, name: str) -> None:
        self.name = name
        self.ids: list[str] = []

    def __repr__(self) -> str:
        return self.name


def send(batch: Sequence[tuple[Collection[Conn], bytes]]) -> None:
    for conns, payload in batch:
        for c in conns:
            c.ids.append(json.loads(payload)["id"])


class World:
    """A clock, an event log and a way to publish into a hub's Kafka side."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.log: list[LogRow] = []
        self.offsets: dict[str, int] = {}

    def clock(self) -> float:
        return self.now

    def reader(self, after: float) -> list[LogRow] | None:
        return sorted((r for r in self.log if r[0] > after), key=lambda r: r[0])

    def hub(self, epoch: str) -> Hub[Conn]:
        hub: Hub[Conn] = Hub(send, log_reader=self.reader, log_window=10.0, clock=self.clock)
        hub.assign("order.created", epoch_of(epoch), {0: (0, True)})
        return hub

    def order(self, event_id: str, buyer: str = "A") -> dict[str, Any]:
        return {"id": event_id, "type": "order.created", "data": {"orderId": f"o-{event_id}", "buyerId": buyer}}

    def logged(self, envelope: dict[str, Any], at: float | None = None) -> None:
        self.log.append((self.now if at is None else at, "order.created", envelope))

    def read(self, hub: Hub[Conn], envelope: dict[str, Any], epoch: str) -> None:
        offset = self.offsets.get(epoch, 0)
        self.offsets[epoch] = offset + 1
        hub.ingest("order.created", 0, offset, envelope)


def test_cursor_round_trips_its_log_mark_and_old_cursors_still_decode() -> None:
    pos = {"order.created": TopicPosition(epoch_of("x"), {0: 5})}
    mark = LogMark(1_700_000_000_123, 10_000, frozenset({id_hash("e1"), id_hash("e2")}))
    got = decode_cursor(encode(pos, mark))
    assert got.positions == pos and got.mark == mark
    # version 1 (positions only: order.created, zero epoch, no partitions): still accepted, no mark
    legacy = base64.urlsafe_b64encode(bytes([1, 0, 0, 0, 0, 0, 0])).decode().rstrip("=")
    assert decode_cursor(legacy).mark is None and decode(legacy) == {"order.created": TopicPosition(b"\0\0\0\0", {})}


def test_owner_marks_hold_a_window_and_a_cap() -> None:
    marks = AudienceMarks(window=10.0, cap=3)
    for i in range(5):
        marks.note("A", id_hash(f"e{i}"), 100.0 + i)
    mark = marks.mark("A", 105.0)
    assert mark.ids == {id_hash("e2"), id_hash("e3"), id_hash("e4")}
    assert mark.window_ms == 4000  # past the cap: only what came after the last one dropped is named
    assert marks.mark("A", 200.0).ids == frozenset() and marks.mark("A", 200.0).window_ms == 10_000


def test_a_restarted_relay_replays_from_the_log_exactly_what_the_cursor_missed() -> None:
    """The relay and the broker both restarted (memory and broker empty): a client's old cursor is
    resolved against the log; what it had is not sent again, live or replayed."""
    w = World()
    old = w.hub("epoch-1")
    a = Conn("a")
    old.subscribe(a, "orders", "A")
    for i in range(3):
        e = w.order(f"e{i}")
        w.read(old, e, "epoch-1")
        w.logged(e)
        w.now += 1
    w.logged(w.order("late"), at=w.now - 0.5)  # published and logged, never read by the old relay
    w.now += 0.1
    cursor = old.cursor_for("orders", "A")
    assert a.ids == ["e0", "e1", "e2"]

    w.now += 30
    new = w.hub("epoch-2")
    new.seed(e[2]["id"] for e in w.log)
    w.read(new, w.order("e1"), "epoch-2")  # the reconciler publishes an old event again: not live, not replayed
    fresh = w.order("fresh")
    w.read(new, fresh, "epoch-2")  # read from the new broker before it is logged
    b = Conn("b")
    replay = new.subscribe(b, "orders", "A", since=cursor)
    assert replay.status is ReplayStatus.OK
    assert [json.loads(f)["id"] for f in replay.frames] == ["late", "fresh"]
    w.logged(fresh)
    w.read(new, w.order("e2"), "epoch-2")
    assert b.ids == []


def test_a_new_broker_epoch_back_fills_what_the_old_broker_lost() -> None:
    """Events published to a broker that died before the relay read them reach connected clients from the
    log, once: the new broker's copy (outbox or reconciler) is a duplicate."""
    w = World()
    hub = w.hub("epoch-1")
    a = Conn("a")
    hub.subscribe(a, "orders", "A")
    first, lost = w.order("first"), w.order("lost")
    w.read(hub, first, "epoch-1")
    w.logged(first)
    w.logged(lost)
    w.now += 3
    hub.assign("order.created", epoch_of("epoch-2"), {0: (0, True)})
    assert a.ids == ["first", "lost"] and hub.stats.backfilled == 1
    w.read(hub, lost, "epoch-2")
    assert a.ids == ["first", "lost"]
    # A cursor from before the back-fill cannot be served from memory (it lacks "lost"): the log serves it.
    b = Conn("b")
    assert [json.loads(f)["id"] for f in hub.subscribe(b, "orders", "A", since=_cursor_after_first(w)).frames] == []


def _cursor_after_first(w: World) -> str:
    # a cursor made right after "first" was sent, naming it: "lost" was logged at the same instant
    return encode({"order.created": TopicPosition(epoch_of("epoch-1"), {0: 0})},
                  LogMark(int((w.now - 3) * 1000), 10_000, frozenset({id_hash("first"), id_hash("lost")})))


def test_within_the_window_the_mark_decides_and_before_it_the_time() -> None:
    w = World()
    hub = w.hub("epoch-1")
    made = w.now
    mark = LogMark(int(made * 1000), 10_000, frozenset({id_hash("sent")}))
    for event_id, at in (("old", made - 6), ("sent", made - 1), ("unsent", made - 1), ("after", made + 1)):
        w.logged(w.order(event_id), at=at)
    w.now += 2
    cursor = encode({"order.created": TopicPosition(epoch_of("gone"), {0: 7})}, mark)
    replay = hub.subscribe(Conn("c"), "orders", "A", since=cursor)
    assert [json.loads(f)["id"] for f in replay.frames] == ["unsent", "after"]
    assert hub.subscribe(Conn("d"), "orders", "B", since=cursor).frames == []  # someone else's orders


def test_the_log_unavailable_or_too_old_is_a_gap() -> None:
    w = World()
    cursor = encode({"order.created": TopicPosition(epoch_of("gone"), {0: 7})}, LogMark(int(w.now * 1000)))

    def down(after: float) -> list[LogRow] | None:
        raise ConnectionError("database away")

    hub: Hub[Conn] = Hub(send, log_reader=down, clock=w.clock)
    hub.assign("order.created", epoch_of("epoch-1"), {0: (0, True)})
    assert hub.subscribe(Conn("c"), "orders", "A", since=cursor).status is ReplayStatus.GAP
    w.now += 3600
    assert w.hub("epoch-1").subscribe(Conn("c"), "orders", "A", since=cursor).status is ReplayStatus.GAP


def _stock(event_id: str, available: int) -> dict[str, Any]:
    return {"id": event_id, "type": "inventory.updated",
            "data": {"productId": "p1", "sku": "S-1", "stock": available, "reserved": 0, "available": available}}


def test_inventory_and_admin_cursors_name_what_the_channel_was_sent() -> None:
    """A channel without an owner marks its cursors with the channel's own recent events, so a restarted
    relay gives an inventory or admin client exactly what it missed around the cursor's moment: events
    logged just before the cursor but never read, none that it had (a time alone doubles or drops them)."""
    w = World()
    old = w.hub("epoch-1")
    old.assign("inventory.updated", epoch_of("epoch-1"), {0: (0, True)})
    inv, admin = Conn("inv"), Conn("admin")
    old.subscribe(inv, "inventory", "u")
    old.subscribe(admin, "admin", "root")
    for i, available in enumerate((50, 5)):
        e = _stock(f"s{i}", available)
        old.ingest("inventory.updated", 0, i, e)
        w.now += 0.4
        w.log.append((w.now, "inventory.updated", e))  # logged after it was read, as the outbox does
    late = _stock("late", 40)
    w.log.append((w.now - 0.5, "inventory.updated", late))  # logged before the cursor, never read
    cursors = {"inventory": old.cursor_for("inventory", "u"), "admin": old.cursor_for("admin", "root")}
    assert inv.ids == ["s0", "s1"] and admin.ids == ["s0", "s1", "s1:alert"]
    after = _stock("after", 1)
    w.now += 1
    w.log.append((w.now, "inventory.updated", after))  # published and logged while the relay was down

    w.now += 30
    new = w.hub("epoch-2")
    new.assign("inventory.updated", epoch_of("epoch-2"), {0: (0, True)})
    new.seed(str(e[2]["id"]) for e in w.log)
    new.ingest("inventory.updated", 0, 0, _stock("s1", 5))  # published again by the outbox: history, not live
    for channel, user in (("inventory", "u"), ("admin", "root")):
        replay = new.subscribe(Conn(channel), channel, user, since=cursors[channel])
        assert replay.status is ReplayStatus.OK
        got = [json.loads(f)["id"] for f in replay.frames]
        want = ["late", "after"] if channel == "inventory" else ["late", "after", "after:alert"]
        assert got == want, channel
        # each replayed frame's cursor names what the client now has: cut off there, it resumes after it
        last = decode_cursor(json.loads(replay.frames[-1])["cursor"]).mark
        assert last is not None and {id_hash(i) for i in want} <= last.ids


def test_a_busy_channel_names_only_its_last_events_and_says_so_in_the_window() -> None:
    w = World()
    hub = w.hub("epoch-1")
    hub.assign("inventory.updated", epoch_of("epoch-1"), {0: (0, True)})
    for i in range(300):
        hub.ingest("inventory.updated", 0, i, _stock(f"s{i}", 50))
        w.now += 0.01
    mark = decode_cursor(hub.cursor_for("inventory", "u")).mark
    assert mark is not None and len(mark.ids) == 64 and id_hash("s299") in mark.ids
    assert 500 < mark.window_ms < 700  # the last 64 of 100 per second


def test_a_marks_encoded_bytes_name_what_its_window_holds() -> None:
    """The encoded mark a live frame carries (kept concatenated as ids come and go) says the same as the mark."""
    from realtime_relay.cursor import _read_mark

    marks = AudienceMarks(window=10.0, cap=3)
    for i, at in enumerate((100.0, 101.0, 105.0, 106.0, 107.0, 112.0, 116.5)):
        marks.note("A", id_hash(f"e{i}"), at)
        for now in (at, at + 4.0):
            decoded, _ = _read_mark(marks.mark_bytes("A", now), 0)
            assert decoded == marks.mark("A", now), (i, now)
    assert marks.mark("A", 116.5).ids == {id_hash("e5"), id_hash("e6")}


def test_a_broker_back_with_every_topic_new_costs_one_read_of_the_log() -> None:
    """Deferred back-fills of several topics' new epochs are one log read, sent once."""
    w = World()
    reads: list[float] = []

    def reader(after: float) -> list[LogRow] | None:
        reads.append(after)
        return w.reader(after)

    hub: Hub[Conn] = Hub(send, log_reader=reader, log_window=10.0, clock=w.clock)
    for topic in ("order.created", "inventory.updated"):
        hub.assign(topic, epoch_of(f"{topic}-1"), {0: (0, True)})
    a = Conn("a")
    hub.subscribe(a, "orders", "A")
    w.logged(w.order("lost"))
    w.now += 3
    for topic in ("order.created", "inventory.updated"):
        hub.assign(topic, epoch_of(f"{topic}-2"), {0: (0, True)}, defer_backfill=True)
    assert reads == [] and a.ids == []
    assert hub.flush_backfill() == 1
    assert len(reads) == 1 and a.ids == ["lost"]
    assert hub.flush_backfill() == 0 and len(reads) == 1

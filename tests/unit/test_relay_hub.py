"""The relay hub and replay buffer: routing, isolation, dedupe, cursors, gaps, epochs, without services."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import pytest

from realtime_relay.cursor import epoch_of
from realtime_relay.hub import Hub, per_connection
from realtime_relay.retention import ReplayStatus


class Conn:
    """A stand-in connection that records the frames written to it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.frames: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return self.name

    @property
    def events(self) -> list[str]:
        return [f["event"] for f in self.frames]


def send(batch: Sequence[tuple[Collection[Conn], bytes]]) -> None:
    for conns, payload in batch:
        for c in conns:
            c.frames.append(json.loads(payload))


def make_hub(retention: int = 100, partitions: int = 2) -> Hub[Conn]:
    hub: Hub[Conn] = Hub(send, retention_per_partition=retention)
    for topic in ("order.created", "inventory.updated", "product.created"):
        hub.assign(topic, epoch_of(topic), {p: (0, True) for p in range(partitions)})
    return hub


class Feed:
    """Publishes envelopes into a hub with increasing offsets per partition."""

    def __init__(self, hub: Hub[Conn]) -> None:
        self.hub = hub
        self.next: dict[tuple[str, int], int] = {}
        self.n = 0

    def order(self, buyer: str, partition: int = 0, event_id: str | None = None) -> str:
        return self.put("order.created", partition, {"orderId": f"o{self.n}", "buyerId": buyer}, event_id)

    def stock(self, available: int, partition: int = 0, event_id: str | None = None) -> str:
        data = {"productId": "p", "sku": "S", "stock": available, "reserved": 0, "available": available}
        return self.put("inventory.updated", partition, data, event_id)

    def put(self, topic: str, partition: int, data: dict[str, Any], event_id: str | None = None) -> str:
        self.n += 1
        eid = event_id or f"e{self.n}"
        offset = self.next.get((topic, partition), 0)
        self.next[(topic, partition)] = offset + 1
        self.hub.ingest(topic, partition, offset, {"id": eid, "type": topic, "data": data})
        return eid


def test_room_isolation() -> None:
    """Customer B never receives customer A's order events; admins get all of them."""
    hub = make_hub()
    a, b, admin = Conn("a"), Conn("b"), Conn("admin")
    hub.subscribe(a, "orders", "A")
    hub.subscribe(b, "orders", "B")
    hub.subscribe(admin, "admin", "X")
    feed = Feed(hub)
    feed.order("A")
    feed.order("A", partition=1)
    assert a.events == ["order:created", "order:created"] and b.frames == []
    assert admin.events == ["admin:order:created", "admin:order:created"]


def test_inventory_to_everyone_and_alerts_to_admins() -> None:
    """A low stock update reaches inventory subscribers; admins also get the alert."""
    hub = make_hub()
    c, admin = Conn("c"), Conn("admin")
    hub.subscribe(c, "inventory", "C")
    hub.subscribe(admin, "admin", "X")
    Feed(hub).stock(0)
    assert c.events == ["inventory:updated"]
    assert admin.events == ["admin:inventory:updated", "admin:alert"]
    assert admin.frames[1]["data"]["severity"] == "critical"


def test_duplicate_event_ids_are_delivered_once() -> None:
    """A republished envelope (same id, new offset) is not pushed again but advances the position."""
    hub = make_hub()
    a = Conn("a")
    hub.subscribe(a, "orders", "A")
    feed = Feed(hub)
    feed.order("A", event_id="same")
    before = hub.cursor()
    feed.order("A", event_id="same")
    assert a.events == ["order:created"] and hub.stats.duplicates == 1 and hub.cursor() != before


def test_replay_after_reconnect_in_order_without_duplicates() -> None:
    """A cursor from the last delivered event replays exactly what the owner missed, in order."""
    hub = make_hub()
    a = Conn("a")
    hub.subscribe(a, "orders", "A")
    feed = Feed(hub)
    feed.order("A")
    cursor = a.frames[-1]["cursor"]
    hub.unsubscribe(a, "orders", "A")
    missed = [feed.order("A", partition=i % 2) for i in range(5)]
    feed.order("B")
    feed.stock(50)
    again = Conn("a2")
    replay = hub.subscribe(again, "orders", "A", since=cursor)
    assert replay.status is ReplayStatus.OK
    assert [json.loads(f)["id"] for f in replay.frames] == missed
    # Replaying from the last replayed cursor yields nothing more.
    last = json.loads(replay.frames[-1])["cursor"]
    assert hub.subscribe(Conn("a3"), "orders", "A", since=last).frames == []


def test_replay_is_per_channel() -> None:
    """Inventory replay never includes order events, and orders replay only the caller's."""
    hub = make_hub()
    cursor = hub.cursor()
    feed = Feed(hub)
    feed.order("A")
    feed.stock(50)
    inv = hub.subscribe(Conn("i"), "inventory", "B", since=cursor)
    assert [json.loads(f)["event"] for f in inv.frames] == ["inventory:updated"]
    assert hub.subscribe(Conn("b"), "orders", "B", since=cursor).frames == []


def test_gap_past_the_retention_window() -> None:
    """A cursor older than what the relay still holds gets a gap, not a partial replay."""
    hub = make_hub(retention=3)
    feed = Feed(hub)
    feed.order("A")
    cursor = hub.cursor()
    for _ in range(5):
        feed.order("A")
    assert hub.subscribe(Conn("a"), "orders", "A", since=cursor).status is ReplayStatus.GAP


def test_cursor_from_another_epoch_is_a_gap() -> None:
    """After the topic is recreated (broker came back empty), an old cursor gets a gap."""
    hub = make_hub()
    feed = Feed(hub)
    feed.order("A")
    cursor = hub.cursor()
    hub.assign("order.created", epoch_of("recreated"), {0: (0, True), 1: (0, True)})
    assert hub.stats.epochs == 1
    a = Conn("a")
    hub.subscribe(a, "orders", "A")
    hub.ingest("order.created", 0, 0, {"id": "new-1", "data": {"buyerId": "A"}})
    hub.ingest("order.created", 0, 1, {"id": "e1", "data": {"buyerId": "A"}})  # republished old event
    assert [f["id"] for f in a.frames] == ["new-1"]
    assert hub.subscribe(Conn("a2"), "orders", "A", since=cursor).status is ReplayStatus.GAP


def test_cursor_ahead_of_the_relay_is_behind() -> None:
    """A cursor from a faster instance: BEHIND (retry later), nothing registered."""
    ahead = make_hub()
    Feed(ahead).order("A")
    behind = make_hub()
    conn = Conn("a")
    assert behind.subscribe(conn, "orders", "A", since=ahead.cursor()).status is ReplayStatus.BEHIND
    assert behind.owners == {}


def test_cursor_is_portable_between_instances() -> None:
    """Two hubs fed the same log honour each other's cursors."""
    one, two = make_hub(), make_hub()
    f1, f2 = Feed(one), Feed(two)
    for f in (f1, f2):
        f.order("A", event_id="x1")
    cursor = one.cursor()
    for f in (f1, f2):
        f.order("A", partition=1, event_id="x2")
    replay = two.subscribe(Conn("a"), "orders", "A", since=cursor)
    assert [json.loads(f)["id"] for f in replay.frames] == ["x2"]


def test_new_partition_without_history_and_truncated_start() -> None:
    """A partition the cursor never saw replays fully if complete, else it is a gap."""
    hub = make_hub()
    cursor = hub.cursor()
    hub.assign("order.created", epoch_of("order.created"), {2: (0, True)})
    hub.ingest("order.created", 2, 0, {"id": "p2", "data": {"buyerId": "A"}})
    assert [json.loads(f)["id"] for f in hub.subscribe(Conn("a"), "orders", "A", since=cursor).frames] == ["p2"]
    hub.assign("order.created", epoch_of("order.created"), {3: (50, False)})
    assert hub.subscribe(Conn("b"), "orders", "A", since=cursor).status is ReplayStatus.GAP


def test_garbage_cursor_is_a_gap_and_malformed_records_are_counted() -> None:
    """A foreign cursor → gap (then live); a non-JSON record neither crashes nor delivers."""
    hub = make_hub()
    assert hub.subscribe(Conn("a"), "orders", "A", since="not-a-cursor").status is ReplayStatus.GAP
    hub.ingest("order.created", 0, 0, None)
    hub.ingest("unknown.topic", 0, 0, {"id": "z"})
    assert hub.stats.malformed == 1


def test_unknown_channel_is_refused() -> None:
    """Only the three channels exist."""
    with pytest.raises(ValueError, match="unknown channel"):
        make_hub().subscribe(Conn("a"), "everything", "A")


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 70000])
def test_shared_text_frame_matches_websockets_serialization(size: int) -> None:
    """The once-per-record frame bytes equal what websockets would write for each client."""
    from websockets.frames import Frame, Opcode

    from realtime_relay.server import text_frame

    payload = b"a" * size
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


def test_per_connection_joins_each_clients_frames_in_order() -> None:
    """Mixed audiences: every connection gets exactly its frames, in batch order, in one buffer."""
    a, b, c = Conn("a"), Conn("b"), Conn("c")
    inventory, admins, owner = {a, b}, {b, c}, {a}
    batch = [(inventory, b"i1"), (admins, b"x1"), (owner, b"o1"), (inventory, b"i2")]
    writes = dict(per_connection(batch, lambda p: b"<" + p + b">"))
    assert writes == {a: b"<i1><o1><i2>", b: b"<i1><x1><i2>", c: b"<x1>"}


def test_per_connection_one_audience_shares_one_buffer() -> None:
    """A burst for one audience is encoded and joined once, and every connection gets that buffer."""
    conns = {Conn(str(i)) for i in range(5)}
    encoded: list[bytes] = []

    def encode(payload: bytes) -> bytes:
        encoded.append(payload)
        return payload + b";"

    writes = list(per_connection([(conns, b"e1"), (conns, b"e2")], encode))
    assert encoded == [b"e1", b"e2"]
    assert {conn for conn, _ in writes} == conns
    assert {id(data) for _, data in writes} == {id(writes[0][1])} and writes[0][1] == b"e1;e2;"


def test_a_batch_of_records_is_sent_once_in_order() -> None:
    """ingest_batch hands every frame of the batch to one send call, in record order."""
    calls: list[list[tuple[Collection[Conn], bytes]]] = []
    hub: Hub[Conn] = Hub(lambda batch: calls.append(list(batch)), retention_per_partition=10)
    hub.assign("order.created", epoch_of("o"), {0: (0, True)})
    hub.assign("inventory.updated", epoch_of("i"), {0: (0, True)})
    a = Conn("a")
    hub.subscribe(a, "orders", "A")
    hub.subscribe(a, "inventory", "A")
    stock = {"productId": "p", "sku": "S", "stock": 50, "reserved": 0, "available": 50}
    hub.ingest_batch([
        ("order.created", 0, 0, {"id": "e1", "type": "order.created", "data": {"buyerId": "A"}}),
        ("inventory.updated", 0, 0, {"id": "e2", "type": "inventory.updated", "data": stock}),
        ("order.created", 0, 1, {"id": "e3", "type": "order.created", "data": {"buyerId": "B"}}),
    ])
    assert len(calls) == 1
    assert [json.loads(payload)["id"] for _, payload in calls[0]] == ["e1", "e2"]
    assert hub.stats.deliveries == 2


def test_a_client_evicted_mid_fan_out_does_not_stop_the_others() -> None:
    """Writing to one connection may evict it, which removes it from the very audience set being
    fanned out to: every other connection still gets the batch."""
    conns = {Conn(str(i)) for i in range(8)}
    audience = set(conns)
    written = []
    for conn, _data in per_connection([(audience, b"e1"), (audience, b"e2")], lambda p: p):
        audience.discard(conn)  # what Relay._evict does through Hub.unsubscribe
        written.append(conn)
    assert set(written) == conns

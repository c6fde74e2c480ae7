"""The Kafka source's hand-over to the event loop: one ordered queue, merged record lists. No broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from realtime_relay.hub import Record
from realtime_relay.kafka_source import KafkaSource, parse_value


class Loop:
    """Stands in for ``loop.call_soon_threadsafe``: callbacks wait until run() is called."""

    def __init__(self) -> None:
        self.scheduled: list[Callable[[], object]] = []

    def dispatch(self, fn: Callable[..., object], *args: Any) -> None:
        self.scheduled.append(lambda: fn(*args))

    def run(self) -> None:
        scheduled, self.scheduled = self.scheduled, []
        for fn in scheduled:
            fn()


def make_source() -> tuple[KafkaSource, Loop, list[tuple[str, Any]]]:
    loop = Loop()
    seen: list[tuple[str, Any]] = []
    source = KafkaSource(
        "127.0.0.1:1", ["order.created"], dispatch=loop.dispatch,
        on_assign=lambda topic, epoch, starts: seen.append(("assign", (topic, epoch))),
        on_records=lambda records: seen.append(("records", [r[2] for r in records])),
        on_status=lambda connected, caught_up: seen.append(("status", connected)),
    )
    return source, loop, seen


def rec(offset: int) -> Record:
    return ("order.created", 0, offset, {"id": f"e{offset}"})


def test_one_drain_is_scheduled_and_consecutive_records_are_merged() -> None:
    """While the loop is busy, batches pile up and go out as one; other callbacks keep their place."""
    source, loop, seen = make_source()
    source._post(source._on_records, [rec(0), rec(1)])
    source._post(source._on_records, [rec(2)])
    source._post(source._on_assign, "order.created", "epoch-2", {0: (0, True)})
    source._post(source._on_records, [rec(0)])
    source._post(source._on_status, True, True)
    assert len(loop.scheduled) == 1
    loop.run()
    assert seen == [("records", [0, 1, 2]), ("assign", ("order.created", "epoch-2")), ("records", [0]),
                    ("status", True)]


def test_a_post_after_a_drain_schedules_a_new_one() -> None:
    """Nothing is left behind: a record posted after the drain ran gets its own drain."""
    source, loop, seen = make_source()
    source._post(source._on_records, [rec(0)])
    loop.run()
    source._post(source._on_records, [rec(1)])
    assert len(loop.scheduled) == 1
    loop.run()
    assert seen == [("records", [0]), ("records", [1])]


def test_parse_value_accepts_only_json_objects() -> None:
    """Record values that are not JSON objects become None (counted as malformed by the hub)."""
    assert parse_value(b'{"id": "x"}') == {"id": "x"}
    assert parse_value(b"[1, 2]") is None
    assert parse_value(b"\xff\xfe") is None
    assert parse_value(None) is None


class Listing:
    """What a broker answers to list_topics / describe_topics / watermarks (bookkeeping only)."""

    class Topic:
        def __init__(self, partitions: list[int]) -> None:
            self.partitions = {p: None for p in partitions}
            self.error = None

    class Described:
        def __init__(self, topic_id: str) -> None:
            self.topic_id = topic_id

    class Done:
        def __init__(self, value: Any) -> None:
            self.value = value

        def result(self, timeout: float) -> Any:
            return self.value

    def __init__(self) -> None:
        self.topics: dict[str, tuple[str, list[int]]] = {}  # name -> (topic id, partitions)
        self.ends: dict[tuple[str, int], int] = {}
        self.assigned: list[tuple[str, int, int]] = []

    # admin
    def list_topics(self, timeout: float) -> Any:
        listing = type("Metadata", (), {})()
        listing.topics = {name: self.Topic(parts) for name, (_id, parts) in self.topics.items()}
        return listing

    def describe_topics(self, topics: Any, request_timeout: float) -> dict[str, Any]:
        return {t: self.Done(self.Described(self.topics[t][0])) for t in topics.topic_names}

    # consumer
    def get_watermark_offsets(self, tp: Any, timeout: float = 0, cached: bool = False) -> tuple[int, int]:
        return 0, self.ends.get((tp.topic, tp.partition), 0)

    def assign(self, partitions: list[Any]) -> None:
        self.assigned = sorted((tp.topic, tp.partition, tp.offset) for tp in partitions)


def test_a_partition_the_broker_stops_listing_resumes_where_it_stopped() -> None:
    """Unlisted → unassigned (no fetch names it); listed again with the same id → same offset, no re-read."""
    source, loop, seen = make_source()
    broker = Listing()
    broker.topics["order.created"] = ("id-1", [0, 1])
    broker.ends = {("order.created", 0): 5, ("order.created", 1): 0}
    assert source._refresh(broker, broker)  # type: ignore[arg-type]
    assert broker.assigned == [("order.created", 0, 0), ("order.created", 1, 0)]
    source._next[("order.created", 0)] = 5  # read up to the end
    broker.topics["order.created"] = ("id-1", [1])  # partition 0 missing from one answer
    source._refresh(broker, broker)  # type: ignore[arg-type]
    assert broker.assigned == [("order.created", 1, 0)]
    broker.topics["order.created"] = ("id-1", [0, 1])
    source._refresh(broker, broker)  # type: ignore[arg-type]
    assert broker.assigned == [("order.created", 0, 5), ("order.created", 1, 0)]
    loop.run()
    assert [s for s in seen if s[0] == "assign"] == [("assign", ("order.created", "id-1"))]


def test_a_new_topic_id_restarts_the_topic_from_offset_zero() -> None:
    """A broker that came back empty: new id → every listed partition from 0, announced as a new epoch."""
    source, loop, seen = make_source()
    broker = Listing()
    broker.topics["order.created"] = ("id-1", [0])
    broker.ends = {("order.created", 0): 3000}
    source._refresh(broker, broker)  # type: ignore[arg-type]
    assert broker.assigned == [("order.created", 0, 1000)]  # end - retention (2000)
    broker.topics["order.created"] = ("id-2", [0, 1, 2, 3])  # auto-created with 4 partitions
    source._refresh(broker, broker)  # type: ignore[arg-type]
    assert broker.assigned == [("order.created", p, 0) for p in range(4)]
    loop.run()
    assert [s for s in seen if s[0] == "assign"] == [("assign", ("order.created", "id-1")),
                                                     ("assign", ("order.created", "id-2"))]

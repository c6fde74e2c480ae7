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

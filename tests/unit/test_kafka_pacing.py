"""When a Kafka reader rests: only after ``hot_for`` without records, and never sooner than ``awake_for`` after a wake. No broker."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from shop.kafka_pacing import LATEST, FetchPacer, news, wake, watch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_reader_stays_hot_while_records_flow_and_rests_once_idle() -> None:
    clock = Clock()
    pacer = FetchPacer(hot_for=2.0, rest=0.25, awake_for=0.05, clock=clock)
    clock.now += 1.9
    assert not pacer.should_rest()  # records came less than hot_for ago (the start counts as one)
    pacer.records()
    clock.now += 1.9
    assert not pacer.should_rest()
    clock.now += 0.2
    assert pacer.should_rest()


def test_after_a_wake_the_reader_fetches_for_a_while_before_the_next_rest() -> None:
    clock = Clock()
    pacer = FetchPacer(hot_for=2.0, rest=0.25, awake_for=0.05, clock=clock)
    clock.now += 5
    assert pacer.should_rest()
    clock.now += 0.25
    pacer.woke()
    clock.now += 0.04
    assert not pacer.should_rest()  # woken by a changed log: the record has not had its time to arrive yet
    clock.now += 0.02
    assert pacer.should_rest()
    assert pacer.rests == 1


def test_a_record_in_a_burst_makes_the_reader_hot_again() -> None:
    clock = Clock()
    pacer = FetchPacer(hot_for=2.0, rest=0.25, awake_for=0.05, clock=clock)
    clock.now += 5
    pacer.woke()
    clock.now += 0.01
    pacer.records()
    clock.now += 1.0
    assert not pacer.should_rest()


def test_a_rest_of_zero_never_rests() -> None:
    clock = Clock()
    pacer = FetchPacer(rest=0, clock=clock)
    clock.now += 60
    assert not pacer.should_rest()


class Ends:
    """A consumer whose ListOffsets answers are given: (topic, partition) → end offset, or an error."""

    def __init__(self, ends: dict[tuple[str, int], object], fail: bool = False) -> None:
        self.ends = ends
        self.fail = fail
        self.asked: list[list[tuple[str, int, int]]] = []
        self.resumed: list[object] = []
        self.kicked: list[tuple[str, int]] = []

    def offsets_for_times(self, partitions: list[Any], timeout: float) -> list[Any]:
        from confluent_kafka import KafkaError, KafkaException, TopicPartition

        self.asked.append([(tp.topic, tp.partition, tp.offset) for tp in partitions])
        if self.fail:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        out: list[Any] = []
        for tp in partitions:
            end = self.ends[(tp.topic, tp.partition)]
            if isinstance(end, int):
                out.append(TopicPartition(tp.topic, tp.partition, end))
            else:  # librdkafka's answer for a partition it could not ask about (its error is read-only)
                out.append(SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=-1001,
                                           error=KafkaError(KafkaError.LEADER_NOT_AVAILABLE)))
        return out

    def assignment(self) -> list[str]:
        return ["assignment"]

    def resume(self, partitions: list[Any]) -> None:
        self.resumed.append(partitions)

    def get_watermark_offsets(self, tp: Any, timeout: float, cached: bool) -> tuple[int, int]:
        assert not cached  # only a request to the broker wakes librdkafka's fetcher
        self.kicked.append((tp.topic, tp.partition))
        return 0, 0


def test_news_asks_once_for_the_latest_offset_of_every_partition_and_names_the_changed_ones() -> None:
    consumer = Ends({("a", 0): 5, ("a", 1): 9, ("b", 0): 2, ("b", 1): "no leader"})
    changed = news(consumer, {("a", 0): 5, ("a", 1): 7, ("b", 0): 3, ("b", 1): 0})
    assert consumer.asked == [[("a", 0, LATEST), ("a", 1, LATEST), ("b", 0, LATEST), ("b", 1, LATEST)]]
    # a grew (records to read); b 0 ends below the position (replaced: the fetch path reports it);
    # b 1 could not be asked (no leader known yet) and is no news until it can
    assert changed == [("a", 1), ("b", 0)]
    assert news(Ends({("a", 0): 5}), {("a", 0): 5}) == []


def test_a_failed_watch_wakes_the_reader_for_every_partition() -> None:
    positions = {("a", 0): 1, ("a", 1): 2}
    assert news(Ends({}, fail=True), positions) == [("a", 0), ("a", 1)]


def test_wake_resumes_and_then_asks_the_broker_of_a_changed_partition() -> None:
    consumer = Ends({})
    wake(consumer, ["assignment"], ("a", 1))
    assert consumer.resumed == [["assignment"]]
    assert consumer.kicked == [("a", 1)]


def test_a_resting_reader_wakes_only_when_a_log_changed_and_never_once_stopped() -> None:
    pacer = FetchPacer(rest=0.001)
    quiet = Ends({("a", 0): 5})
    assert not watch(quiet, {("a", 0): 5}, pacer, threading.Event())
    assert quiet.resumed == [] and pacer.rests == 0
    grown = Ends({("a", 0): 6})
    assert watch(grown, {("a", 0): 5}, pacer, threading.Event())
    assert grown.resumed == [["assignment"]] and grown.kicked == [("a", 0)] and pacer.rests == 1
    stopped = threading.Event()
    stopped.set()
    assert not watch(grown, {("a", 0): 5}, pacer, stopped)
    assert len(grown.asked) == 1  # stopping: no request at all

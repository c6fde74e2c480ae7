"""When a Kafka reader rests: only after ``hot_for`` without records, and only once a burst is over. No broker."""

from __future__ import annotations

from shop.kafka_pacing import FetchPacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_reader_stays_hot_while_records_flow_and_rests_once_idle() -> None:
    clock = Clock()
    pacer = FetchPacer(hot_for=2.0, rest=0.25, burst=0.05, clock=clock)
    clock.now += 1.9
    assert not pacer.should_rest()  # records came less than hot_for ago (the start counts as one)
    pacer.records()
    clock.now += 1.9
    assert not pacer.should_rest()
    clock.now += 0.2
    assert pacer.should_rest()


def test_after_a_rest_a_burst_of_fetches_runs_before_the_next_rest() -> None:
    clock = Clock()
    pacer = FetchPacer(hot_for=2.0, rest=0.25, burst=0.05, clock=clock)
    clock.now += 5
    assert pacer.should_rest()
    clock.now += 0.25
    pacer.woke()
    clock.now += 0.04
    assert not pacer.should_rest()  # the burst has not had its time to fetch yet
    clock.now += 0.02
    assert pacer.should_rest()
    assert pacer.rests == 1


def test_a_record_in_a_burst_makes_the_reader_hot_again() -> None:
    clock = Clock()
    pacer = FetchPacer(hot_for=2.0, rest=0.25, burst=0.05, clock=clock)
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

"""Pure pieces of the Kafka event-source mappings: the aws:kafka event and FilterCriteria."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.data_classes import KafkaEvent

from devstack.filtering import compile_filters, record_passes
from devstack.kafka_events import Record, by_partition, kafka_event
from shop import kafka_epochs


def test_event_reads_back_through_powertools() -> None:
    """Records group by topic-partition and decode through Powertools' KafkaEvent view."""
    records = [Record("order.created", 1, 7, 1700000000000, 0, b"o-1", b'{"a": 1}', (("event-type", b"x"),)),
               Record("order.created", 1, 8, 1700000000001, 1, None, b'{"a": 2}')]
    event = kafka_event(records, event_source_arn="arn:aws:kafka:x", bootstrap_servers="b:9092")
    assert event["eventSource"] == "aws:kafka" and event["eventSourceArn"] == "arn:aws:kafka:x"
    view = list(KafkaEvent(event).records)
    assert [r.offset for r in view] == [7, 8]
    assert view[0].json_value == {"a": 1} and view[0].decoded_key == b"o-1"
    assert view[0].decoded_headers == {"event-type": b"x"}
    assert view[1].timestamp_type == "LOG_APPEND_TIME"
    assert "key" not in event["records"]["order.created-1"][1]  # type: ignore[index]


def test_self_managed_event_source() -> None:
    """SelfManagedKafka events carry no ARN and name their source accordingly."""
    event = kafka_event([], event_source_arn="arn", bootstrap_servers="b:9092", self_managed=True)
    assert event["eventSource"] == "SelfManagedKafka" and "eventSourceArn" not in event


def test_filter_rules() -> None:
    """Exact, prefix, anything-but, numeric and exists rules on the JSON value; non-JSON never matches."""
    patterns = compile_filters((
        {"Pattern": json.dumps({"value": {"type": ["order.created"], "data": {"total": [{"numeric": [">", 100]}]}}})},
        {"Pattern": json.dumps({"value": {"type": [{"prefix": "payment."}], "source": [{"anything-but": ["x"]}]}})},
        {"Pattern": json.dumps({"value": {"flag": [{"exists": False}], "kind": ["k"]}})},
    ))
    assert record_passes(patterns, b'{"type": "order.created", "data": {"total": 150}}')
    assert not record_passes(patterns, b'{"type": "order.created", "data": {"total": 50}}')
    assert record_passes(patterns, b'{"type": "payment.failed", "source": "payments"}')
    assert not record_passes(patterns, b'{"type": "payment.failed", "source": "x"}')
    assert record_passes(patterns, b'{"kind": "k"}')
    assert not record_passes(patterns, b'{"kind": "k", "flag": 1}')
    assert not record_passes(patterns, b"not json")
    assert record_passes([], b"anything")


def test_broker_came_back_empty() -> None:
    """The decisions both Kafka readers use: a changed topic id, or a position past the log's end."""
    assert kafka_epochs.recreated("id-1", "id-2")
    assert not kafka_epochs.recreated("id-1", "id-1")
    assert not kafka_epochs.recreated(None, "id-1") and not kafka_epochs.recreated("id-1", None)
    assert kafka_epochs.truncated(8, 3)
    assert not kafka_epochs.truncated(3, 3) and not kafka_epochs.truncated(2, 3)
    assert not kafka_epochs.truncated(None, 3) and not kafka_epochs.truncated(8, None)


def test_a_batch_splits_per_partition_in_order() -> None:
    """One invocation per topic-partition (they run concurrently); each keeps its records' order."""
    def rec(topic: str, partition: int, offset: int) -> Record:
        return Record(topic, partition, offset, 0, 0, None, b"x")

    batch = [rec("a", 0, 5), rec("a", 1, 3), rec("b", 0, 9), rec("a", 0, 6), rec("a", 1, 4)]
    groups = by_partition(batch)
    assert [[(r.topic, r.partition, r.offset) for r in g] for g in groups] == [
        [("a", 0, 5), ("a", 0, 6)], [("a", 1, 3), ("a", 1, 4)], [("b", 0, 9)]]
    assert by_partition([]) == []



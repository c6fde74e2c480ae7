"""Pure parts of the operating tools: DLQ records, the relay's Prometheus page, `status` parsing."""

from __future__ import annotations

from typing import Any

from devstack import dlq, status
from devstack.kafka_events import Record
from devstack.metrics import MappingCollector
from devstack.template import KafkaMapping
from realtime_relay import prometheus

FAILURE_BODY = {
    "requestContext": {"requestId": "r-1", "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 6,
                       "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:ChargePaymentFunction"},
    "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
    "timestamp": "2026-12-01T10:00:00.000Z",
    "KafkaBatchInfo": {"batchSize": 3, "eventSourceArn": "arn:aws:kafka:...", "recordsInfo": {
        "order.created-2": {"firstRecordOffset": 4, "lastRecordOffset": 5},
        "order.created-0": {"firstRecordOffset": 9, "lastRecordOffset": 9}}},
    "errorType": "RuntimeError", "errorMessage": "boom",
}


def test_a_failure_record_names_function_error_and_records() -> None:
    """The invocation record Lambda sends for a Kafka batch, described for `devstack dlq`."""
    f = dlq.Failure(queue="q", message_id="m-1", receipt="r", body=FAILURE_BODY)
    assert f.function == "ChargePaymentFunction"
    assert f.ranges() == [("order.created", 0, 9, 9), ("order.created", 2, 4, 5)]
    d = f.describe()
    assert d["error"] == "RuntimeError: boom" and d["attempts"] == 6
    assert d["records"] == ["order.created-0@9", "order.created-2@4..5"]


def test_missing_names_partitions_that_could_not_be_read_back() -> None:
    """A redrive needs the records; a partition with none of them left is reported."""
    f = dlq.Failure(queue="q", message_id="m-1", receipt="r", body=FAILURE_BODY)
    got = [Record("order.created", 2, 4, 0, 0, None, b"{}"), Record("order.created", 2, 5, 0, 0, None, b"{}")]
    assert dlq.missing(f, got) == ["order.created-0@9..9"]


class _Poller:
    def __init__(self, mapping: KafkaMapping, alive: bool) -> None:
        self.mapping = mapping
        self.invocations, self.failures, self.records = 12, 3, 40
        self.last_error: str | None = "RuntimeError: boom"
        self.last_error_at: float | None = 1_800_000_000.0
        self._alive = alive

    def is_alive(self) -> bool:
        return self._alive


def test_mapping_counters_round_trip_through_the_prometheus_page() -> None:
    """What the runtime's collector writes, `status` reads back (lag left out: no broker here)."""
    from prometheus_client import CollectorRegistry, generate_latest

    mapping = KafkaMapping(function="ChargePaymentFunction", name="OrderCreated", event_source_arn="arn",
                           topics=("order.created",), consumer_group_id="shop-payments-charge")

    class NoLag(MappingCollector):
        def _lag(self, mapping: KafkaMapping) -> list[Any]:
            return []

    reg = CollectorRegistry()
    reg.register(NoLag(lambda: [_Poller(mapping, True)], "127.0.0.1:1"))
    rows = status.mapping_rows(generate_latest(reg).decode())
    assert [r.as_json() for r in rows] == [{
        "function": "ChargePaymentFunction", "mapping": "OrderCreated", "state": "Enabled", "topics": "order.created",
        "consumerGroup": "shop-payments-charge", "invocations": 12, "errors": 3, "records": 40,
        "lastError": "RuntimeError: boom", "lastErrorAt": "2027-01-15T08:00:00Z", "offsetLag": 0,
        "lagByPartition": {}}]


def test_relay_page_has_connections_and_lag_per_partition() -> None:
    """The relay's /metrics in the Prometheus text format, as `status` reads it."""
    stats = {"instance": "relay-1", "connections": 3, "deliveries": 10, "records": 4,
             "loopLagMs": {"p99Recent": 1.5, "max": 9.0}, "gc": {"collections": [5, 1, 0]}}
    reg = prometheus.registry(lambda: stats, lambda: {("order.created", 0): 2, ("order.created", 1): 0})
    page = prometheus.exposition(reg).decode()
    assert "relay_connections{instance=\"relay-1\"} 3.0" in page
    assert "relay_deliveries_total{instance=\"relay-1\"} 10.0" in page
    row = status.relay_row(page)
    assert row.as_json() == {"instance": "relay-1", "connections": 3, "deliveries": 10, "offsetLag": 2,
                             "lagByPartition": {"order.created-0": 2, "order.created-1": 0}}
    text = status.render({"pid": 1, "wsUrl": "ws://x"}, [], row)
    assert "relay relay-1: 3 connection(s), 10 deliveries, lag 2 (order.created-0: 2)" in text

"""Emulated Kafka event-source mappings against the real local broker, with a purpose-built template."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from devstack.bootstrap import ensure_topics
from devstack.supervisor import PASSTHROUGH
from devstack.testing import RuntimeHarness, Stack, wait_for

FIXTURE = Path(__file__).resolve().parents[1] / "runtime_fixture"
PREFIX = "esm"
COLLECTION = "esm_records"


@pytest.fixture(scope="module")
def mappings(stack: Stack) -> Iterator[RuntimeHarness]:
    """The fixture template's Kafka mappings, polling the stack's broker."""
    ensure_topics(stack.kafka_bootstrap, [f"{PREFIX}.records", f"{PREFIX}.filtered", f"{PREFIX}.tokafka",
                                          f"{PREFIX}.dlq"])
    env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ} | stack.env
    params = {"MongoDbUri": stack.mongodb_uri, "TopicPrefix": PREFIX, "RecordCollection": COLLECTION,
              "MskClusterArn": stack.msk_cluster_arn}
    boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1").create_queue(
        QueueName="runtime-test-dlq")
    with RuntimeHarness(FIXTURE / "template.yaml", parameters=params, function_env=env,
                        kafka_bootstrap=stack.kafka_bootstrap, aws_endpoint_url=stack.aws_endpoint_url) as h:
        yield h


def invocations(stack: Stack, marker: str) -> list[dict[str, Any]]:
    """Every recorded invocation whose records carry ``marker`` in their values."""
    out = []
    for doc in stack.db()[COLLECTION].find({}):
        event = json.loads(doc["event"])
        values = [base64.b64decode(r["value"]).decode() for rs in event["records"].values() for r in rs]
        if any(marker in v for v in values):
            out.append(event)
    return out


def delivered_values(stack: Stack, marker: str) -> list[str]:
    return [base64.b64decode(r["value"]).decode() for e in invocations(stack, marker)
            for rs in e["records"].values() for r in rs if marker in base64.b64decode(r["value"]).decode()]


def test_event_has_the_exact_aws_kafka_shape(stack: Stack, mappings: RuntimeHarness, producer: KafkaProducer) -> None:
    """aws:kafka event: ARN, bootstrap servers, records keyed topic-partition, base64 key/value, byte-array headers."""
    marker = uuid.uuid4().hex
    value = json.dumps({"marker": marker}).encode()
    producer.send(f"{PREFIX}.records", key=b"order-1", value=value, partition=1,
                  headers=[("event-type", b"order.created")]).get(10)
    event = wait_for(lambda: invocations(stack, marker), message="the recorder invocation")[0]
    assert event["eventSource"] == "aws:kafka"
    assert event["eventSourceArn"] == stack.msk_cluster_arn
    assert event["bootstrapServers"] == stack.kafka_bootstrap
    key = f"{PREFIX}.records-1"
    assert list(event["records"]) == [key]
    record = event["records"][key][0]
    assert set(record) == {"topic", "partition", "offset", "timestamp", "timestampType", "key", "value", "headers"}
    assert record["topic"] == f"{PREFIX}.records" and record["partition"] == 1
    assert record["timestampType"] == "CREATE_TIME"
    assert base64.b64decode(record["key"]) == b"order-1"
    assert base64.b64decode(record["value"]) == value
    assert record["headers"] == [{"event-type": list(b"order.created")}]


def test_batch_size_and_partition_order(stack: Stack, mappings: RuntimeHarness, producer: KafkaProducer) -> None:
    """35 records on one partition arrive in batches of at most BatchSize (10), in offset order, all of them."""
    marker = uuid.uuid4().hex
    for i in range(35):
        producer.send(f"{PREFIX}.records", value=f"{marker}:{i}".encode(), partition=0)
    producer.flush()
    values = wait_for(lambda: (v if len(v := delivered_values(stack, marker)) >= 35 else None),
                      message="35 deliveries")
    assert sorted(values, key=lambda v: int(v.split(":")[1])) == [f"{marker}:{i}" for i in range(35)]
    offsets: list[int] = []
    for event in sorted(invocations(stack, marker), key=lambda e: min(r["offset"] for r in e["records"][f"{PREFIX}.records-0"])):
        records = event["records"][f"{PREFIX}.records-0"]
        assert len(records) <= 10
        batch_offsets = [r["offset"] for r in records]
        assert batch_offsets == sorted(batch_offsets)
        offsets.extend(batch_offsets)
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)


def test_offsets_are_committed_to_the_consumer_group(stack: Stack, mappings: RuntimeHarness,
                                                     producer: KafkaProducer) -> None:
    """After a successful invocation the mapping's ConsumerGroupId has committed past the record."""
    marker = uuid.uuid4().hex
    meta = producer.send(f"{PREFIX}.records", value=marker.encode(), partition=2).get(10)
    wait_for(lambda: delivered_values(stack, marker), message="delivery")
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, group_id=f"{PREFIX}-recorder",
                             enable_auto_commit=False)
    try:
        tp = TopicPartition(f"{PREFIX}.records", 2)
        wait_for(lambda: (consumer.committed(tp) or 0) >= meta.offset + 1, message="the committed offset")
    finally:
        consumer.close()


def test_a_restarted_mapping_resumes_from_its_committed_offset(stack: Stack, mappings: RuntimeHarness,
                                                               producer: KafkaProducer) -> None:
    """Pollers stopped and started again: what was delivered is not delivered again; what came meanwhile is."""
    from devstack.kafka_esm import start_pollers

    before, during = uuid.uuid4().hex, uuid.uuid4().hex
    producer.send(f"{PREFIX}.records", value=before.encode(), partition=1).get(10)
    wait_for(lambda: delivered_values(stack, before), message="delivery before the restart")
    for poller in mappings.pollers:
        poller.stop()
    for poller in mappings.pollers:
        poller.join(10)
        assert not poller.is_alive()
    producer.send(f"{PREFIX}.records", value=during.encode(), partition=1).get(10)
    assert mappings.runtime is not None
    mappings.pollers = start_pollers(mappings.app.kafka, mappings.runtime, bootstrap=mappings.kafka_bootstrap,
                                     aws_endpoint_url=mappings.aws_endpoint_url, region=mappings.region)
    wait_for(lambda: delivered_values(stack, during), message="the record published while the pollers were down")
    # Same partition, in order: a restart from an older offset would have delivered `before` first.
    assert delivered_values(stack, before) == [before]


def test_filter_criteria_drop_records_that_do_not_match(stack: Stack, mappings: RuntimeHarness,
                                                       producer: KafkaProducer) -> None:
    """Only records whose JSON value matches the FilterCriteria pattern reach the function."""
    marker = uuid.uuid4().hex
    for kind in ("drop", "keep", "drop", "keep"):
        producer.send(f"{PREFIX}.filtered", value=json.dumps({"kind": kind, "m": marker}).encode(), partition=0)
    producer.send(f"{PREFIX}.filtered", value=f"not json {marker}".encode(), partition=0)
    producer.flush()
    values = wait_for(lambda: (v if len(v := delivered_values(stack, marker)) >= 2 else None), message="kept records")
    assert [json.loads(v)["kind"] for v in values] == ["keep", "keep"]


def test_poison_record_goes_to_the_sqs_destination_and_the_partition_moves_on(
        stack: Stack, mappings: RuntimeHarness, producer: KafkaProducer) -> None:
    """A failing record is bisected out, retried, described in the SQS on-failure destination; its neighbours and later records are delivered."""
    marker = uuid.uuid4().hex
    for v in (f"ok-a {marker}", f"poison {marker}", f"ok-b {marker}"):
        producer.send(f"{PREFIX}.records", value=v.encode(), partition=0)
    producer.flush()
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="runtime-test-dlq")["QueueUrl"]

    def dlq_message() -> dict[str, Any] | None:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return dict(body)
        return None

    failure = wait_for(dlq_message, timeout=30, message="the DLQ message")
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    info = failure["KafkaBatchInfo"]
    assert info["batchSize"] == 1
    assert list(info["recordsInfo"]) == [f"{PREFIX}.records-0"]
    producer.send(f"{PREFIX}.records", value=f"ok-c {marker}".encode(), partition=0).get(10)
    values = wait_for(lambda: (v if len(v := delivered_values(stack, marker)) >= 3 else None), message="neighbours")
    assert sorted(v.split()[0] for v in values) == ["ok-a", "ok-b", "ok-c"]


def test_kafka_topic_destination_receives_the_failed_records(stack: Stack, mappings: RuntimeHarness,
                                                              producer: KafkaProducer) -> None:
    """With a kafka:// on-failure destination, the failed record itself is re-published there with the reason."""
    marker = uuid.uuid4().hex
    producer.send(f"{PREFIX}.tokafka", key=b"k", value=f"poison {marker}".encode(), partition=0).get(10)
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    consumer.assign([TopicPartition(f"{PREFIX}.dlq", p) for p in range(3)])
    found: list[Any] = []

    def poll() -> bool:
        for records in consumer.poll(timeout_ms=500).values():
            found.extend(r for r in records if marker.encode() in (r.value or b""))
        return bool(found)

    try:
        wait_for(poll, timeout=30, message="the record on the kafka:// destination")
    finally:
        consumer.close()
    headers = dict(found[0].headers)
    assert found[0].key == b"k"
    assert b"poison record in batch" in headers["x-failure-reason"]

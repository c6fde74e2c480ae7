"""Emulated S3 event notifications against the stack's AWS emulator, with a purpose-built template.

The fixture's ``S3RecorderFunction`` has a ``Type: S3`` event on ``incoming/`` of its bucket and
records every invocation; it fails for keys containing "poison".
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from devstack.supervisor import PASSTHROUGH
from devstack.testing import RuntimeHarness, Stack, wait_for

FIXTURE = Path(__file__).resolve().parents[1] / "runtime_fixture"
SAMPLE = Path(__file__).resolve().parents[1] / "events" / "s3-put.json"
PREFIX = "s3t"
BUCKET = f"{PREFIX}-runtime-uploads"
COLLECTION = "s3_runtime"

pytestmark = pytest.mark.stack


def _shape(value: Any) -> Any:
    """The keys of a JSON value, recursively (what a record must look like, not what it holds)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


@pytest.fixture(scope="module")
def harness(stack: Stack) -> Iterator[RuntimeHarness]:
    env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ} | stack.env
    params = {"MongoDbUri": stack.mongodb_uri, "TopicPrefix": PREFIX, "RecordCollection": COLLECTION,
              "MskClusterArn": stack.msk_cluster_arn}
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    sqs.create_queue(QueueName="runtime-s3-dlq")
    sqs.create_queue(QueueName="runtime-test-dlq")
    with RuntimeHarness(FIXTURE / "template.yaml", parameters=params, function_env=env,
                        kafka_bootstrap=stack.kafka_bootstrap, aws_endpoint_url=stack.aws_endpoint_url) as h:
        yield h


@pytest.fixture
def s3(stack: Stack) -> Any:
    return boto3.client("s3", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")


def attempts(stack: Stack, key: str) -> list[dict[str, Any]]:
    """Every invocation that carried ``key``, oldest first."""
    docs = stack.db()[f"{COLLECTION}_s3"].find({"keys": key}).sort("at", 1)
    return [json.loads(d["event"]) for d in docs]


def test_event_has_the_exact_aws_s3_shape(stack: Stack, harness: RuntimeHarness, s3: Any) -> None:
    """One object → one invocation whose event has the shape of SAM CLI's `generate-event s3 put`,
    with this object's bucket, URL-encoded key, size and ETag."""
    key = f"incoming/{uuid.uuid4().hex} a+b=c.txt"
    put = s3.put_object(Bucket=BUCKET, Key=key, Body=b"hello s3 events")
    event = wait_for(lambda: attempts(stack, key), timeout=60, message="the S3 recorder invocation")[0]
    sample = json.loads(SAMPLE.read_text())
    assert _shape(event) == _shape(sample)
    record = event["Records"][0]
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventName"] == "ObjectCreated:Put"
    assert time.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
    s3_part = record["s3"]
    assert s3_part["configurationId"] == "S3RecorderFunction-Incoming"
    assert s3_part["bucket"]["name"] == BUCKET
    assert s3_part["bucket"]["arn"] == f"arn:aws:s3:::{BUCKET}"
    encoded = s3_part["object"]["key"]
    assert encoded.startswith("incoming/") and " " not in encoded and "+" in encoded and "%2B" in encoded
    assert unquote_plus(encoded) == key
    assert s3_part["object"]["size"] == len(b"hello s3 events")
    assert s3_part["object"]["eTag"] == put["ETag"].strip('"')
    assert int(s3_part["object"]["sequencer"], 16) > 0


def test_only_keys_under_the_prefix_invoke(stack: Stack, harness: RuntimeHarness, s3: Any) -> None:
    """An object outside the filter's prefix invokes nothing (checked after a later one inside it arrived)."""
    outside = f"elsewhere/{uuid.uuid4().hex}"
    inside = f"incoming/{uuid.uuid4().hex}"
    s3.put_object(Bucket=BUCKET, Key=outside, Body=b"x")
    s3.put_object(Bucket=BUCKET, Key=inside, Body=b"y")
    wait_for(lambda: attempts(stack, inside), timeout=60, message="the sentinel object's invocation")
    assert attempts(stack, outside) == []


def test_failing_event_is_retried_twice_then_sent_to_the_on_failure_destination(
        stack: Stack, harness: RuntimeHarness, s3: Any) -> None:
    """Like Lambda's asynchronous invocation: 1 + MaximumRetryAttempts (2) attempts, then the
    invocation record (with the event as requestPayload) in the EventInvokeConfig's SQS queue."""
    key = f"incoming/poison-{uuid.uuid4().hex}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"poison")
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="runtime-s3-dlq")["QueueUrl"]

    def dead_letter() -> dict[str, Any] | None:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(m["Body"])
            if unquote_plus(body["requestPayload"]["Records"][0]["s3"]["object"]["key"]) == key:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                return dict(body)
        return None

    record = wait_for(dead_letter, timeout=60, message="the failed event in the on-failure destination")
    assert len(attempts(stack, key)) == 3
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(":function:S3RecorderFunction:$LATEST")
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responseContext"]["functionError"] == "Unhandled"
    first = attempts(stack, key)[0]
    assert record["requestPayload"] == first  # every attempt got the same event


def test_dlq_lists_a_failed_s3_event_and_redrives_it_once_after_the_fix(
        stack: Stack, harness: RuntimeHarness, s3: Any) -> None:
    """`dlq` shows the given-up event with its object and error; `dlq redrive` invokes the function with
    the same event, keeps the message while it still fails and deletes it once it succeeds."""
    key = f"incoming/poison-{uuid.uuid4().hex}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"poison")
    cli = ["-t", str(FIXTURE / "template.yaml"), "--parameter", f"TopicPrefix={PREFIX}",
           "--parameter", f"RecordCollection={COLLECTION}"]

    def listed() -> dict[str, Any] | None:
        result = stack.cli("dlq", "--json", *cli)
        assert result.returncode == 0, result.stderr
        return next((f for f in json.loads(result.stdout) if f"s3://{BUCKET}/{key}" in f["records"]), None)

    failure = wait_for(listed, timeout=60, interval=1, message="the failed event listed by dlq")
    assert failure["function"] == "S3RecorderFunction" and failure["condition"] == "RetriesExhausted"
    assert failure["attempts"] == 3 and "ValueError: poison object" in failure["error"]

    still = stack.cli("dlq", "redrive", "--id", failure["id"], *cli)
    assert still.returncode == 1 and "still failing (1 record(s)): ValueError" in still.stdout
    assert len(attempts(stack, key)) == 4

    stack.db()[f"{COLLECTION}_s3_cured"].insert_one({"_id": key})
    redriven = stack.cli("dlq", "redrive", "--id", failure["id"][:8], *cli)
    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    assert "redriven (1 record(s))" in redriven.stdout
    assert len(attempts(stack, key)) == 5
    assert attempts(stack, key)[-1] == attempts(stack, key)[0]  # the same event, as S3 sent it
    assert listed() is None  # the redriven message left the queue

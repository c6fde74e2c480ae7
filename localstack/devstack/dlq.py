"""The on-failure destinations (SQS) of the event sources: list what failed, and redrive it.

For a Kafka batch Lambda sends an invocation record, not the records themselves: the function,
the error, and per partition the first and last offsets (``KafkaBatchInfo.recordsInfo``). A
redrive reads those records back from the topic, builds the same ``aws:kafka`` event and invokes
the function once more; when it succeeds, the message leaves the queue. For an asynchronous
invocation (an S3 notification) the record carries the event itself (``requestPayload``), which a
redrive invokes again. Every consumer is idempotent, so redriving what was partly applied changes
nothing twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from kafka import KafkaConsumer, TopicPartition

from devstack.kafka_events import Record, kafka_event
from devstack.template import App

#: How long a listed message stays hidden from other readers while we page through the queue.
LIST_VISIBILITY = 5


@dataclass
class Failure:
    """One invocation record in an on-failure destination."""

    queue: str
    message_id: str
    receipt: str
    body: dict[str, Any]
    sent_at: float = 0.0
    receives: int = 0

    @property
    def function(self) -> str:
        arn = str(self.body.get("requestContext", {}).get("functionArn", ""))
        parts = arn.split(":")  # arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
        return parts[6] if len(parts) > 6 else parts[-1]

    @property
    def event(self) -> dict[str, Any] | None:
        """The event of an asynchronous invocation (an S3 notification's), as the function got it."""
        payload = self.body.get("requestPayload")
        return payload if isinstance(payload, dict) else None

    @property
    def error(self) -> str:
        answer = self.body.get("responsePayload")
        source = answer if isinstance(answer, dict) and answer.get("errorType") else self.body
        kind = source.get("errorType") or self.body.get("responseContext", {}).get("functionError") or "Error"
        message = source.get("errorMessage") or ""
        return f"{kind}: {message}" if message else str(kind)

    @property
    def condition(self) -> str:
        return str(self.body.get("requestContext", {}).get("condition", ""))

    @property
    def attempts(self) -> int:
        return int(self.body.get("requestContext", {}).get("approximateInvokeCount", 0))

    @property
    def batch(self) -> dict[str, Any]:
        return dict(self.body.get("KafkaBatchInfo") or {})

    def ranges(self) -> list[tuple[str, int, int, int]]:
        """``(topic, partition, first offset, last offset)`` of each partition in the failed batch."""
        out = []
        for key, info in sorted(self.batch.get("recordsInfo", {}).items()):
            topic, _, partition = key.rpartition("-")
            out.append((topic, int(partition), int(info["firstRecordOffset"]), int(info["lastRecordOffset"])))
        return out

    def objects(self) -> list[str]:
        """``s3://bucket/key`` of each object an S3 notification's failed event named."""
        out = []
        for record in (self.event or {}).get("Records", []):
            s3 = record.get("s3", {}) if isinstance(record, dict) else {}
            bucket, key = s3.get("bucket", {}).get("name"), s3.get("object", {}).get("key")
            if bucket and key:
                out.append(f"s3://{bucket}/{unquote_plus(key)}")
        return out

    def describe(self) -> dict[str, Any]:
        """What ``devstack dlq`` prints for it."""
        return {
            "id": self.message_id,
            "queue": self.queue,
            "function": self.function,
            "condition": self.condition,
            "attempts": self.attempts,
            "error": self.error,
            "records": [f"{t}-{p}@{a}" if a == b else f"{t}-{p}@{a}..{b}" for t, p, a, b in self.ranges()]
            + self.objects(),
            "failedAt": self.body.get("timestamp"),
        }


@dataclass
class Redrive:
    """The outcome of redriving one failure."""

    failure: Failure
    ok: bool
    records: int = 0
    detail: str = ""
    result: Any = field(default=None)


def sqs_destinations(app: App) -> dict[str, list[str]]:
    """Queue name → the functions whose Kafka mappings or S3 notifications send failures there."""
    out: dict[str, list[str]] = {}
    sources = [(m.function, m.on_failure) for m in app.kafka] + [(n.function, n.on_failure) for n in app.s3]
    for function, on_failure in sources:
        if on_failure and on_failure.startswith("arn:aws:sqs:"):
            name = on_failure.rsplit(":", 1)[-1]
            if function not in out.setdefault(name, []):
                out[name].append(function)
    return out


def queue_url(sqs: Any, name: str) -> str:
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def list_failures(sqs: Any, queue: str) -> list[Failure]:
    """Every message in ``queue``, left in place (made visible again right after listing).

    A queue that does not exist (yet) holds nothing.
    """
    try:
        url = queue_url(sqs, queue)
    except sqs.exceptions.QueueDoesNotExist:
        return []
    seen: dict[str, Failure] = {}
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=LIST_VISIBILITY,
                                  WaitTimeSeconds=0, AttributeNames=["SentTimestamp", "ApproximateReceiveCount"])
        messages = got.get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        for m in fresh:
            try:
                body = json.loads(m["Body"])
            except ValueError:
                body = {"errorMessage": "not an invocation record", "raw": m["Body"][:500]}
            attrs = m.get("Attributes", {})
            seen[m["MessageId"]] = Failure(queue=queue, message_id=m["MessageId"], receipt=m["ReceiptHandle"],
                                           body=body if isinstance(body, dict) else {"raw": body},
                                           sent_at=int(attrs.get("SentTimestamp", 0)) / 1000,
                                           receives=int(attrs.get("ApproximateReceiveCount", 0)))
        if not fresh:
            break
    for failure in seen.values():
        try:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=failure.receipt, VisibilityTimeout=0)
        except Exception:  # it reappears after LIST_VISIBILITY anyway
            pass
    return sorted(seen.values(), key=lambda f: f.sent_at)


def read_records(bootstrap: str, ranges: list[tuple[str, int, int, int]], *, timeout: float = 10.0) -> list[Record]:
    """The records of a failed batch, read back from Kafka (in partition order)."""
    if not ranges:
        return []
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False,
                             auto_offset_reset="earliest", client_id="devstack-redrive")
    try:
        out: list[Record] = []
        for topic, partition, first, last in ranges:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, first)
            deadline = time.monotonic() + timeout
            got: list[Record] = []
            while time.monotonic() < deadline and (not got or got[-1].offset < last):
                for m in consumer.poll(timeout_ms=500).get(tp, []):
                    if first <= m.offset <= last:
                        got.append(Record(m.topic, m.partition, m.offset, m.timestamp, m.timestamp_type, m.key,
                                          m.value, tuple((h[0], h[1] or b"") for h in (m.headers or []))))
                if consumer.highwater(tp) is not None and (consumer.highwater(tp) or 0) <= last:
                    break  # the log ends before the batch did (broker restarted empty?)
            out.extend(got)
        return out
    finally:
        consumer.close()


def delete(sqs: Any, failure: Failure) -> None:
    sqs.delete_message(QueueUrl=queue_url(sqs, failure.queue), ReceiptHandle=failure.receipt)


def redrive_event(failure: Failure, records: list[Record], bootstrap: str, *,
                  self_managed: bool = False) -> dict[str, object]:
    """The ``aws:kafka`` event that failed, rebuilt from the records read back."""
    return kafka_event(records, event_source_arn=failure.batch.get("eventSourceArn"), bootstrap_servers=bootstrap,
                       self_managed=self_managed)


def missing(failure: Failure, records: list[Record]) -> list[str]:
    """The failed batch's offsets that could not be read back."""
    have = {(r.topic, r.partition, r.offset) for r in records}
    out = []
    for topic, partition, first, last in failure.ranges():
        if not any((topic, partition, o) in have for o in range(first, last + 1)):
            out.append(f"{topic}-{partition}@{first}..{last}")
    return out


def _passing(app: App, failure: Failure, records: list[Record]) -> list[Record]:
    """Only the records the mapping's FilterCriteria let through (the function never saw the others)."""
    from devstack.filtering import compile_filters, record_passes

    mappings = [m for m in app.kafka if m.function == failure.function]
    out = []
    for r in records:
        owners = [m for m in mappings if r.topic in m.topics] or mappings
        if any(record_passes(compile_filters(m.filters), r.value) for m in owners):
            out.append(r)
    return out


async def redrive(app: App, failures: list[Failure], sqs: Any, *, function_env: dict[str, str], bootstrap: str,
                  log_dir: Any = None) -> list[Redrive]:
    """Invoke each failure's function again with its records; delete the message when it succeeds."""
    from devstack.lambda_runtime import LambdaRuntime

    wanted = {f.function for f in failures if f.function in app.functions}
    runtime = LambdaRuntime({name: app.functions[name] for name in wanted}, function_env, hot_reload=False,
                            log_dir=log_dir)
    out: list[Redrive] = []
    try:
        for failure in failures:
            if failure.function not in app.functions:
                out.append(Redrive(failure, ok=False, detail=f"no function {failure.function!r} in the template"))
                continue
            if failure.event is not None:  # an asynchronous invocation's record carries its event
                out.append(await _invoke_again(runtime, sqs, failure, failure.event,
                                               len(failure.event.get("Records", []))))
                continue
            records = read_records(bootstrap, failure.ranges())
            gone = missing(failure, records)
            if gone:
                out.append(Redrive(failure, ok=False, detail=f"records no longer in Kafka: {', '.join(gone)}"))
                continue
            self_managed = any(m.self_managed for m in app.kafka if m.function == failure.function)
            event = redrive_event(failure, _passing(app, failure, records), bootstrap, self_managed=self_managed)
            out.append(await _invoke_again(runtime, sqs, failure, event, len(records)))
    finally:
        await runtime.close()
    return out


async def _invoke_again(runtime: Any, sqs: Any, failure: Failure, event: dict[str, Any], records: int) -> Redrive:
    """Invoke ``failure``'s function with ``event``; on success the message leaves its queue."""
    from devstack.lambda_runtime import InvocationError

    try:
        inv = await runtime.invoke(failure.function, event)
    except InvocationError as exc:
        return Redrive(failure, ok=False, records=records, detail=f"{exc.error_type}: {exc.error_message}")
    delete(sqs, failure)
    return Redrive(failure, ok=True, records=records, result=inv.result, detail=f"{inv.duration_ms:.0f} ms")

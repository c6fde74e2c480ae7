"""Emulated Kafka event-source mappings: poll topics, invoke the function, commit on success.

One poller thread per mapping. It assigns every partition of its topics explicitly (no group
rebalance: the local broker makes a group's first join wait for the rebalance timeout) and
commits offsets to the mapping's ``ConsumerGroupId`` only after the function succeeded, so
delivery is at least once and a restarted stack resumes where it stopped. Batches follow
``BatchSize`` and ``MaximumBatchingWindowInSeconds``; a failing batch is retried up to
``MaximumRetryAttempts`` (bisected first when ``BisectBatchOnFunctionError``), then described
to the on-failure destination (SQS, or ``kafka://topic`` which receives the records), and the
partition moves on. Records within a partition are always handed over in order; a batch that
spans partitions becomes one invocation per partition, run concurrently (Lambda scales an MSK
mapping up to one concurrent invocation per partition).

The pollers use confluent-kafka (librdkafka, as the relay does): its fetches run in C threads, so
a poller costs a tenth of the CPU of a pure-Python client at the same fetch rate. The embedded
broker answers a held fetch only when its wait ends, not when a record arrives, so the pollers
fetch with a short wait (``DEVSTACK_KAFKA_FETCH_WAIT_MS``), but only while there may be something
to fetch: a :class:`Doorbell` is rung by the runtime whenever an invocation ends (a function
publishes its events before it returns, so they are in the broker by then), and a poller that saw
no ring and no record for ``ACTIVE_SECONDS`` pauses its partitions until the next ring, or for
``DEVSTACK_KAFKA_POLL_INTERVAL_MS`` (records produced outside the stack's functions).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from kafka import KafkaProducer
from prometheus_client import Histogram

from devstack.filtering import compile_filters, record_passes
from devstack.kafka_events import Record, by_partition, kafka_event
from devstack.lambda_runtime import InvocationError, LambdaRuntime
from devstack.logfiles import JsonLog, now_iso
from devstack.settings import StackSettings
from devstack.template import KafkaMapping
from shop import kafka_epochs

log = logging.getLogger("devstack.kafka")

RETRY_BACKOFF = (0.2, 0.5, 1.0, 2.0)
ASSIGNMENT_REFRESH = 5.0
LOG_CHECK_INTERVAL = 1.0
#: a poller keeps fetching this long after the last ring or record, then pauses until the next
ACTIVE_SECONDS = 0.25
#: how long one poll waits for a record while active
ACTIVE_POLL = 0.05
#: a paused poller's periodic look waits this much longer than one fetch
PEEK_MARGIN_MS = 5
#: librdkafka's "no offset": the committed one, or the reset policy's
OFFSET_INVALID = -1001
#: librdkafka's timestamp types → the Kafka record's (0 create time, 1 log-append time)
LOG_APPEND_TIME = 2
class Doorbell:
    """Rung when records may have been produced in this stack; wakes every poller waiting for it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._rings = 0
        self.rung_at = 0.0

    @property
    def rings(self) -> int:
        return self._rings

    def ring(self) -> None:
        with self._cond:
            self._rings += 1
            self.rung_at = time.monotonic()
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Wait until rung after ``seen`` (returns at once if it already was) or ``timeout`` s; the count now."""
        with self._cond:
            self._cond.wait_for(lambda: self._rings != seen, timeout)
            return self._rings


class FailureDestination:
    """Where exhausted batches go: an SQS queue (AWS's metadata record) or a Kafka topic (the records)."""

    def __init__(self, arn: str, *, bootstrap: str, sqs_client_factory: Callable[[], Any]) -> None:
        self.arn = arn
        self.bootstrap = bootstrap
        self._sqs_factory = sqs_client_factory
        self._producer: KafkaProducer | None = None

    def send(self, mapping: KafkaMapping, records: list[Record], error: InvocationError, attempts: int) -> None:
        if self.arn.startswith("kafka://"):
            topic = self.arn.removeprefix("kafka://")
            if self._producer is None:
                self._producer = KafkaProducer(bootstrap_servers=self.bootstrap.split(","), acks="all",
                                               enable_idempotence=False)
            for r in records:
                reason = f"{error.error_type}: {error.error_message}".encode()[:512]
                headers = [*r.headers, ("x-failure-reason", reason)]
                self._producer.send(topic, key=r.key, value=r.value, headers=headers)
            self._producer.flush(10)
            return
        if self.arn.startswith("arn:aws:sqs:"):
            _, _, _, _region, account, name = self.arn.split(":", 5)
            sqs = self._sqs_factory()
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(failure_record(mapping, records, error, attempts,
                                                                                 self.bootstrap)))
            return
        log.error("unsupported on-failure destination %s; batch dropped", self.arn)


def failure_record(mapping: KafkaMapping, records: list[Record], error: InvocationError, attempts: int,
                   bootstrap: str) -> dict[str, Any]:
    """The invocation record Lambda sends to an SQS/SNS destination for a Kafka batch."""
    info: dict[str, dict[str, Any]] = {}
    for r in records:
        key = f"{r.topic}-{r.partition}"
        entry = info.setdefault(key, {"firstRecordOffset": r.offset, "firstRecordTimestamp": r.timestamp})
        entry["lastRecordOffset"] = r.offset
        entry["lastRecordTimestamp"] = r.timestamp
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{mapping.function}",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": attempts,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "KafkaBatchInfo": {
            "batchSize": len(records),
            "eventSourceArn": mapping.event_source_arn,
            "bootstrapServers": bootstrap,
            "payloadSize": sum(len(r.value or b"") + len(r.key or b"") for r in records),
            "recordsInfo": info,
        },
        "errorType": error.error_type,
        "errorMessage": error.error_message,
    }


def record_fields(record: Record) -> dict[str, Any]:
    """What the invocation log says about one record: where it is, and which event it holds."""
    headers = dict(record.headers)
    out: dict[str, Any] = {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                           "key": record.key.decode(errors="replace") if record.key is not None else None}
    envelope: Any = None
    if record.value and record.value[:1] == b"{":
        try:
            envelope = json.loads(record.value)
        except ValueError:
            envelope = None
    if isinstance(envelope, dict):
        out.update(eventId=envelope.get("id"), eventType=envelope.get("type"),
                   correlationId=envelope.get("correlationId"))
    else:
        out.update(eventType=headers.get("event-type", b"").decode(errors="replace") or None,
                   correlationId=headers.get("correlation-id", b"").decode(errors="replace") or None)
    return out


def _bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else value


class KafkaPoller(threading.Thread):
    """The poller of one event-source mapping."""

    def __init__(self, mapping: KafkaMapping, runtime: LambdaRuntime, *, bootstrap: str,
                 destination: FailureDestination | None, fetch_wait_ms: int = 10, poll_interval_ms: int = 200,
                 doorbell: Doorbell | None = None,
                 invocation_log: JsonLog | None = None, record_age: Histogram | None = None) -> None:
        super().__init__(name=f"esm-{mapping.function}-{mapping.name}", daemon=True)
        self.mapping = mapping
        self.runtime = runtime
        self.bootstrap = bootstrap
        self.destination = destination
        self.fetch_wait_ms = fetch_wait_ms
        self.poll_interval = poll_interval_ms / 1000
        self.doorbell = doorbell or Doorbell()
        self._partitions_pool: ThreadPoolExecutor | None = None
        self.patterns = compile_filters(mapping.filters)
        self._halt = threading.Event()
        self._suspend = threading.Event()
        self.suspended = threading.Event()
        self._consumer: Consumer | None = None
        self._admin: AdminClient | None = None
        self._assigned: set[tuple[str, int]] = set()
        self._assigned_at = 0.0
        self._paused = False
        self._active_at = 0.0
        self._topic_ids: dict[str, str] = {}
        self._checked_at = 0.0
        self.invocations = 0
        self.failures = 0
        self.records = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_latency_ms: float | None = None
        self.invocation_log = invocation_log
        self.record_age = record_age.labels(mapping.function, mapping.name) if record_age is not None else None

    def stop(self) -> None:
        self._halt.set()

    def suspend(self) -> None:
        """Close the Kafka client at the next step and wait for :meth:`resume` (``suspended`` is set once closed).

        The supervisor does this before it restarts the embedded broker: librdkafka can crash when a
        live client sees its topics re-created (confluentinc/librdkafka#4907); a new client cannot.
        """
        self._suspend.set()

    def resume(self) -> None:
        """Connect again with a new client (the broker is back and its topics exist)."""
        self._suspend.clear()

    def _connect(self) -> tuple[Consumer, AdminClient]:
        reset = "earliest" if self.mapping.starting_position in ("TRIM_HORIZON", "AT_TIMESTAMP") else "latest"
        common: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "client.id": f"esm-{self.mapping.function}",
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
            "socket.timeout.ms": 5000,
            "logger": logging.getLogger("devstack.rdkafka"),
            "log.connection.close": False,
        }
        consumer = Consumer({
            **common,
            "group.id": self.mapping.consumer_group_id,  # offsets are committed there; never joined (assign)
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": reset,
            "allow.auto.create.topics": False,
            # Short: the embedded broker holds an empty fetch for all of it (see the module's doc).
            "fetch.wait.max.ms": self.fetch_wait_ms,
            "fetch.error.backoff.ms": 100,
            "queued.max.messages.kbytes": 8192,
            "topic.metadata.refresh.interval.ms": int(ASSIGNMENT_REFRESH * 1000),
        })
        return consumer, AdminClient(common)

    def _refresh_assignment(self, consumer: Consumer, admin: AdminClient) -> None:
        """Assign every partition the broker lists for the mapping's topics (never ask for a missing one:
        a fetch would make the local broker create it)."""
        now = time.monotonic()
        if self._assigned and now - self._assigned_at < ASSIGNMENT_REFRESH:
            return
        self._assigned_at = now
        listed = admin.list_topics(timeout=5).topics
        wanted = {(topic, p) for topic in self.mapping.topics
                  if topic in listed and listed[topic].error is None for p in listed[topic].partitions}
        if not wanted or wanted == self._assigned:
            return
        if self.mapping.starting_position == "LATEST":
            self._commit_ends(consumer, wanted - self._assigned)
        consumer.assign([TopicPartition(t, p) for t, p in sorted(wanted)])  # from the group's committed offsets
        self._assigned, self._paused = wanted, False
        log.info("%s assigned %s", self.name, ", ".join(f"{t}-{p}" for t, p in sorted(wanted)))

    def _commit_ends(self, consumer: Consumer, partitions: set[tuple[str, int]]) -> None:
        """A LATEST mapping starts at the end once, then resumes from its committed offsets after a restart."""
        committed = consumer.committed([TopicPartition(t, p) for t, p in sorted(partitions)], timeout=5)
        ends = []
        for tp in committed:
            if tp.offset < 0:
                _low, high = consumer.get_watermark_offsets(tp, timeout=5)
                ends.append(TopicPartition(tp.topic, tp.partition, high))
        if ends:
            consumer.commit(offsets=ends, asynchronous=False)

    def run(self) -> None:
        while not self._halt.is_set():
            if self._suspend.is_set():
                self._close()
                self.suspended.set()
                while self._suspend.is_set() and not self._halt.wait(0.05):
                    pass
                self.suspended.clear()
                continue
            try:
                if self._consumer is None or self._admin is None:
                    self._consumer, self._admin = self._connect()
                self._loop(self._consumer, self._admin)
            except Exception:
                log.exception("%s: poller error; reconnecting", self.name)
                self._close()
                self._halt.wait(1.0)
        self._close()
        if self._partitions_pool is not None:
            self._partitions_pool.shutdown(wait=False)

    def _close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception:
                log.debug("close failed", exc_info=True)
        self._consumer, self._admin = None, None
        self._assigned, self._topic_ids = set(), {}

    def _loop(self, consumer: Consumer, admin: AdminClient) -> None:
        window = self.mapping.batching_window_seconds
        size = self.mapping.batch_size
        rung = self.doorbell.rings
        while not self._halt.is_set() and not self._suspend.is_set():
            self._refresh_assignment(consumer, admin)
            if not self._assigned:
                self._halt.wait(0.5)
                continue
            now = time.monotonic()
            if now - self._checked_at >= LOG_CHECK_INTERVAL:
                self._checked_at = now
                self._detect_new_log(consumer, admin)
            wait = ACTIVE_POLL
            if self._paused:
                # Nothing ran lately: fetch again when a function has run, or after the poll interval
                # (then one fetch's worth, unless something rings meanwhile).
                before = rung
                rung = self.doorbell.wait(rung, self.poll_interval)
                self._pause(consumer, False)
                if rung == before:
                    wait = (self.fetch_wait_ms + PEEK_MARGIN_MS) / 1000
            batch = self._poll(consumer, wait, size)
            if not batch:
                if time.monotonic() - max(self._active_at, self.doorbell.rung_at) > ACTIVE_SECONDS:
                    self._pause(consumer, True)
                continue
            self._active_at = time.monotonic()
            first_at = time.monotonic()
            while len(batch) < size and window > 0:
                left = window - (time.monotonic() - first_at)
                if left <= 0:
                    break
                batch.extend(self._poll(consumer, left, size - len(batch)))
            self._handle(consumer, batch)

    def _pause(self, consumer: Consumer, paused: bool) -> None:
        """Stop (or restart) fetching every assigned partition; positions are kept."""
        tps = [TopicPartition(t, p) for t, p in sorted(self._assigned)]
        if paused:
            consumer.pause(tps)
        else:
            consumer.resume(tps)
        self._paused = paused

    def _detect_new_log(self, consumer: Consumer, admin: AdminClient) -> None:
        """Re-read from the start when the broker came back empty (see ``shop.kafka_epochs``).

        Re-reading only costs duplicates, which every consumer tolerates (at least once).
        """
        topics = sorted({t for t, _ in self._assigned})
        restart: set[tuple[str, int]] = set()
        for topic, future in admin.describe_topics(TopicCollection(topics), request_timeout=5).items():
            try:
                topic_id = str(future.result(timeout=5).topic_id)
            except KafkaException:
                continue  # gone for now: the next assignment refresh drops it
            if kafka_epochs.recreated(self._topic_ids.get(topic), topic_id):
                log.warning("%s: topic %s was re-created (broker restarted empty?); re-reading it from the start",
                            self.name, topic)
                restart.update(tp for tp in self._assigned if tp[0] == topic)
                self._assigned_at = 0.0  # its partition count may differ too: re-read it on the next loop
            self._topic_ids[topic] = topic_id
        positions = consumer.position([TopicPartition(t, p) for t, p in sorted(self._assigned - restart)])
        for tp in positions:
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            if kafka_epochs.truncated(tp.offset if tp.offset >= 0 else None, high if high >= 0 else None):
                log.warning("%s: %s-%d is behind our position (log truncated); re-reading it from the start",
                            self.name, tp.topic, tp.partition)
                restart.add((tp.topic, tp.partition))
        if restart:
            self._pause(consumer, False)
            consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) if (t, p) in restart else TopicPartition(t, p)
                             for t, p in sorted(self._assigned)])

    def _poll(self, consumer: Consumer, timeout: float, max_records: int) -> list[Record]:
        first = consumer.poll(timeout)
        if first is None:
            return []
        out: list[Record] = []
        for msg in (first, *consumer.consume(max_records - 1, 0)) if max_records > 1 else (first,):
            record = self._record(msg)
            if record is not None:
                out.append(record)
        return out

    def _record(self, msg: Message) -> Record | None:
        error = msg.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("%s: %s", self.name, error)
            return None
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if topic is None or partition is None or offset is None:
            return None
        ts_type, ts = msg.timestamp()
        headers = tuple((str(h[0]), _bytes(h[1])) for h in (msg.headers() or []))
        key, value = msg.key(), msg.value()
        return Record(topic, partition, offset, ts, 1 if ts_type == LOG_APPEND_TIME else 0,
                      None if key is None else _bytes(key), None if value is None else _bytes(value), headers)

    def _handle(self, consumer: Consumer, batch: list[Record]) -> None:
        passing = [r for r in batch if record_passes(self.patterns, r.value)]
        groups = by_partition(passing)
        if len(groups) == 1:
            self._deliver(groups[0])
        elif groups:
            if self._partitions_pool is None:
                self._partitions_pool = ThreadPoolExecutor(8, thread_name_prefix=self.name)
            list(self._partitions_pool.map(self._deliver, groups))  # and re-raise what any of them raised
        offsets: dict[tuple[str, int], int] = {}
        for r in batch:
            offsets[(r.topic, r.partition)] = r.offset + 1
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())],
                        asynchronous=False)

    def _deliver(self, records: list[Record]) -> None:
        attempts = 0
        while not self._halt.is_set():
            event = kafka_event(records, event_source_arn=self.mapping.event_source_arn,
                                bootstrap_servers=self.bootstrap, self_managed=self.mapping.self_managed)
            attempts += 1
            started = time.time()
            request_id = str(uuid.uuid4())
            if attempts == 1 and self.record_age is not None:
                for r in records:
                    self.record_age.observe(max(0.0, started - r.timestamp / 1000))
            try:
                self.runtime.invoke_blocking(self.mapping.function, event, request_id=request_id)
                self.invocations += 1
                self.records += len(records)
                self.last_latency_ms = (started - records[-1].timestamp / 1000) * 1000
                self._log_invocation(records, started, request_id, attempts, None)
                return
            except InvocationError as exc:
                self.invocations += 1
                self.failures += 1
                self.last_error = f"{exc.error_type}: {exc.error_message}"
                self.last_error_at = time.time()
                self._log_invocation(records, started, request_id, attempts, exc)
                log.warning("%s: batch of %d failed (attempt %d): %s", self.name, len(records), attempts, exc)
                if self.mapping.bisect_on_error and len(records) > 1:
                    mid = len(records) // 2
                    self._deliver(records[:mid])
                    self._deliver(records[mid:])
                    return
                limit = self.mapping.max_retry_attempts
                if limit >= 0 and attempts > limit:
                    self._give_up(records, exc, attempts)
                    return
                self._halt.wait(RETRY_BACKOFF[min(attempts - 1, len(RETRY_BACKOFF) - 1)])

    def _log_invocation(self, records: list[Record], started: float, request_id: str, attempt: int,
                        error: InvocationError | None) -> None:
        if self.invocation_log is None:
            return
        self.invocation_log.write(
            "batch invoked", level="INFO" if error is None else "WARNING", timestamp=now_iso(started),
            function=self.mapping.function, mapping=self.mapping.name, group=self.mapping.consumer_group_id,
            requestId=request_id, batchSize=len(records), attempt=attempt,
            durationMs=round((time.time() - started) * 1000, 1), outcome="ok" if error is None else "error",
            error=None if error is None else f"{error.error_type}: {error.error_message}",
            records=[record_fields(r) for r in records])

    def _give_up(self, records: list[Record], exc: InvocationError, attempts: int) -> None:
        where = self.destination.arn if self.destination else "nowhere (no on-failure destination)"
        if self.invocation_log is not None:
            self.invocation_log.write(
                "batch sent to the on-failure destination", level="ERROR", function=self.mapping.function,
                mapping=self.mapping.name, group=self.mapping.consumer_group_id, batchSize=len(records),
                attempt=attempts, error=f"{exc.error_type}: {exc.error_message}", destination=where,
                records=[record_fields(r) for r in records])
        log.error("%s: %d record(s) from %s exhausted retries; sending to %s", self.name, len(records),
                  sorted({f'{r.topic}-{r.partition}@{r.offset}' for r in records}), where)
        if self.destination is None:
            return
        try:
            self.destination.send(self.mapping, records, exc, attempts)
        except Exception:
            log.exception("%s: could not write to the on-failure destination", self.name)


def start_pollers(mappings: list[KafkaMapping], runtime: LambdaRuntime, *, bootstrap: str, aws_endpoint_url: str,
                  region: str, doorbell: Doorbell | None = None,
                  invocation_log: JsonLog | None = None, record_age: Histogram | None = None) -> list[KafkaPoller]:
    """Start one poller per enabled mapping, each with its on-failure destination.

    The fetch wait and poll interval are the stack settings' (``DEVSTACK_KAFKA_FETCH_WAIT_MS``,
    ``DEVSTACK_KAFKA_POLL_INTERVAL_MS``); the pollers share ``doorbell``, which the runtime rings.
    Every invocation is written to ``invocation_log`` and each record's wait to ``record_age`` when given.
    """
    import boto3

    settings = StackSettings()
    doorbell = doorbell or Doorbell()

    def sqs() -> Any:
        return boto3.client("sqs", endpoint_url=aws_endpoint_url, region_name=region)

    pollers = []
    for mapping in mappings:
        if not mapping.enabled:
            continue
        dest = FailureDestination(mapping.on_failure, bootstrap=bootstrap, sqs_client_factory=sqs) \
            if mapping.on_failure else None
        poller = KafkaPoller(mapping, runtime, bootstrap=bootstrap, destination=dest,
                             fetch_wait_ms=settings.kafka_fetch_wait_ms,
                             poll_interval_ms=settings.kafka_poll_interval_ms, doorbell=doorbell,
                             invocation_log=invocation_log, record_age=record_age)
        poller.start()
        pollers.append(poller)
    return pollers

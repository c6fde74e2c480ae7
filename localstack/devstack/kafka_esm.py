"""Emulated Kafka event-source mappings: read topics, invoke the function, commit on success.

One reader for every mapped partition (confluent-kafka, ``assign()`` of explicit partitions, no
group rebalance: the local broker makes a group's first join wait for the rebalance timeout) hands
each record to the queue of every mapping that reads its topic; one poller thread per mapping
batches its queue, invokes the function and commits offsets to the mapping's ``ConsumerGroupId``
only after the function succeeded, so delivery is at least once and a restarted reader resumes
where each mapping stopped. The broker serves one fetch stream instead of one per mapping, and the
reader stays hot for every hop of an order once its first record arrived
(:mod:`shop.kafka_pacing`: a short fetch wait while records flow; once idle, every partition paused
and one ListOffsets request per ``idle_rest_ms`` to notice a record).

Batches follow ``BatchSize`` and ``MaximumBatchingWindowInSeconds``; a failing batch is retried up
to ``MaximumRetryAttempts`` (bisected first when ``BisectBatchOnFunctionError``), then described to
the on-failure destination (SQS, or ``kafka://topic`` which receives the records), and the
partition moves on. Records within a partition are always handed over in order; a batch that spans
partitions becomes one invocation per partition, run concurrently (Lambda scales an MSK mapping up
to one concurrent invocation per partition).

``devstack up`` runs all this in a process of its own (:mod:`devstack.pollers`, invoking the
functions through the supervisor), as Lambda runs its pollers apart from the functions: librdkafka
2.16 can crash a process holding several clients across a broker restart (README, "Decisions"), so
the reader gives up whenever a partition's log looks replaced or gone, and the watchdog starts the
process again, which resumes from the committed offsets.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as Partition
from kafka import KafkaProducer
from prometheus_client import Histogram

from devstack.filtering import compile_filters, record_passes
from devstack.kafka_events import Record, by_partition, kafka_event
from devstack.lambda_runtime import InvocationError, LambdaRuntime
from devstack.logfiles import JsonLog, now_iso
from devstack.template import KafkaMapping
from shop.kafka_pacing import FetchPacer, watch

log = logging.getLogger("devstack.kafka")

RETRY_BACKOFF = (0.2, 0.5, 1.0, 2.0)
METADATA_REFRESH = 5.0
#: how long one poll waits for the next record while the reader is awake (seconds)
POLL_WAIT = 0.05
#: records queued for one mapping beyond which the reader stops polling (librdkafka's own queue is bounded)
MAX_QUEUED = 5000
#: librdkafka's "no offset known"
_UNKNOWN = -1001
#: errors after which a partition's log was replaced (broker restarted empty), truncated or removed
_LOG_CHANGED = {KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE, KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError.UNKNOWN_TOPIC_ID}
TP = tuple[str, int]


class Invoker(Protocol):
    """Runs ``mapping``'s function on ``event``; raises :class:`InvocationError` if it gives no result."""

    def __call__(self, mapping: KafkaMapping, event: dict[str, Any], request_id: str, attempt: int) -> Any: ...


class RuntimeInvoker:
    """Invokes through a :class:`LambdaRuntime` of this process."""

    def __init__(self, runtime: LambdaRuntime) -> None:
        self.runtime = runtime

    def __call__(self, mapping: KafkaMapping, event: dict[str, Any], request_id: str, attempt: int) -> Any:
        return self.runtime.invoke_blocking(mapping.function, event, request_id=request_id).result


class MappingStats:
    """What CloudWatch shows for one mapping: invocations, errors, records, the last error, record age."""

    def __init__(self, mapping: KafkaMapping, *, alive: Callable[[], bool],
                 record_age: Histogram | None = None) -> None:
        self.mapping = mapping
        self._alive = alive
        self.invocations = 0
        self.failures = 0
        self.records = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.record_age = record_age.labels(mapping.function, mapping.name) if record_age is not None else None

    def is_alive(self) -> bool:
        return self._alive()

    def started(self, event: dict[str, Any], attempt: int, at: float) -> None:
        """An invocation begins: on its first attempt, how long each record waited since its timestamp."""
        if attempt == 1 and self.record_age is not None:
            for records in event.get("records", {}).values():
                for r in records:
                    self.record_age.observe(max(0.0, at - r["timestamp"] / 1000))

    def ended(self, event: dict[str, Any], error: InvocationError | None) -> None:
        self.invocations += 1
        if error is None:
            self.records += sum(len(records) for records in event.get("records", {}).values())
            return
        self.failures += 1
        self.last_error = f"{error.error_type}: {error.error_message}"
        self.last_error_at = time.time()


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


def record_of(msg: Message) -> Record:
    stamp: Any = msg.timestamp()  # (type, ms since the epoch)
    kind, timestamp = stamp[0], stamp[1]
    raw: Any = msg.headers() or []  # [(name, bytes or None)]
    headers = tuple((name, value or b"") for name, value in raw)
    return Record(msg.topic() or "", msg.partition() or 0, msg.offset() or 0, timestamp,
                  1 if kind == 2 else 0, msg.key(), msg.value(), headers)


def _client_config(bootstrap: str, client_id: str, group: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "group.id": group,  # never joined (assign); committed to explicitly
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "allow.auto.create.topics": False,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "socket.timeout.ms": 5000,
        "logger": logging.getLogger("devstack.rdkafka"),
        "log.connection.close": False,
    }


class KafkaPoller(threading.Thread):
    """The poller of one event-source mapping: batches what the reader queued, invokes, commits."""

    def __init__(self, mapping: KafkaMapping, invoker: Invoker, *, bootstrap: str,
                 destination: FailureDestination | None, halt: threading.Event,
                 invocation_log: JsonLog | None = None, record_age: Histogram | None = None) -> None:
        super().__init__(name=f"esm-{mapping.function}-{mapping.name}", daemon=True)
        self.mapping = mapping
        self.invoker = invoker
        self.bootstrap = bootstrap
        self.destination = destination
        self.patterns = compile_filters(mapping.filters)
        self.stats = MappingStats(mapping, alive=self.is_alive, record_age=record_age)
        self.invocation_log = invocation_log
        self._halt = halt
        self._queue: collections.deque[Record] = collections.deque()
        self._ready = threading.Condition()
        self.next: dict[TP, int] = {}  # the next offset this mapping takes, per partition
        self._committer: Consumer | None = None
        self.fail: Callable[[str], None] = lambda reason: None  # set by the reader
        self._partitions_pool: ThreadPoolExecutor | None = None

    # What a mapping shows (devstack.metrics.MappingState).
    @property
    def invocations(self) -> int:
        return self.stats.invocations

    @property
    def failures(self) -> int:
        return self.stats.failures

    @property
    def records(self) -> int:
        return self.stats.records

    @property
    def last_error(self) -> str | None:
        return self.stats.last_error

    @property
    def last_error_at(self) -> float | None:
        return self.stats.last_error_at

    def stop(self) -> None:
        self._halt.set()
        with self._ready:
            self._ready.notify_all()

    # --- the reader's side -----------------------------------------------------------------------
    def committer(self) -> Consumer:
        if self._committer is None:
            self._committer = Consumer(_client_config(self.bootstrap, f"esm-{self.mapping.function}",
                                                      self.mapping.consumer_group_id))
        return self._committer

    def starts(self, reader: Consumer, partitions: list[TP]) -> dict[TP, int]:
        """Where this mapping begins on ``partitions``: its group's committed offset, else its
        ``StartingPosition`` (``LATEST`` is committed at once, so a restart does not skip records)."""
        committed = self.committer().committed([Partition(t, p) for t, p in partitions], timeout=10)
        out: dict[TP, int] = {}
        fresh: list[Partition] = []
        for tp in committed:
            key = (tp.topic, tp.partition)
            low, high = reader.get_watermark_offsets(Partition(*key), timeout=10)
            if 0 <= tp.offset <= high:
                out[key] = tp.offset
                continue
            # Nothing committed, or a commit past the log's end (a log replaced since): the start position.
            if self.mapping.starting_position == "LATEST":
                out[key] = high
                fresh.append(Partition(tp.topic, tp.partition, high))
            else:
                out[key] = low
        if fresh:
            self.committer().commit(offsets=fresh, asynchronous=False)
        self.next.update(out)
        return out

    def offer(self, record: Record) -> None:
        """A record read for this mapping's topic; taken unless this mapping is past it."""
        key = (record.topic, record.partition)
        if record.offset < self.next.get(key, 0):
            return
        self.next[key] = record.offset + 1
        self._queue.append(record)

    def wake(self) -> None:
        with self._ready:
            self._ready.notify()

    def backlog(self) -> int:
        return len(self._queue)

    # --- the mapping's own thread ----------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self._halt.is_set():
                batch = self._take()
                if batch:
                    self._handle(batch)
        except Exception as exc:  # its records are neither delivered nor committed: start again from the commits
            log.exception("%s failed", self.name)
            self.fail(f"{self.name}: {type(exc).__name__}: {exc}")
        finally:
            if self._partitions_pool is not None:
                self._partitions_pool.shutdown(wait=False)
            if self._committer is not None:
                self._committer.close()

    def _take(self) -> list[Record]:
        """Up to ``BatchSize`` records, waiting ``MaximumBatchingWindowInSeconds`` after the first."""
        size, window = self.mapping.batch_size, self.mapping.batching_window_seconds
        with self._ready:
            if not self._queue:
                self._ready.wait(0.5)
                if not self._queue:
                    return []
            first_at = time.monotonic()
            while len(self._queue) < size and window > 0 and not self._halt.is_set():
                left = window - (time.monotonic() - first_at)
                if left <= 0:
                    break
                self._ready.wait(left)
        return [self._queue.popleft() for _ in range(min(size, len(self._queue)))]

    def _handle(self, batch: list[Record]) -> None:
        passing = [r for r in batch if record_passes(self.patterns, r.value)]
        groups = by_partition(passing)
        if len(groups) == 1:
            self._deliver(groups[0])
        elif groups:
            if self._partitions_pool is None:
                self._partitions_pool = ThreadPoolExecutor(8, thread_name_prefix=self.name)
            list(self._partitions_pool.map(self._deliver, groups))  # and re-raise what any of them raised
        if self._halt.is_set():
            return  # stopped mid-batch: what was not delivered must not be committed
        offsets: dict[TP, int] = {}
        for r in batch:
            offsets[(r.topic, r.partition)] = r.offset + 1
        try:
            self.committer().commit(offsets=[Partition(t, p, o) for (t, p), o in offsets.items()],
                                    asynchronous=False)
        except KafkaException as exc:  # a later commit covers it; a restart delivers it again (at least once)
            log.warning("%s: commit failed: %s", self.name, exc)

    def _deliver(self, records: list[Record]) -> None:
        attempts = 0
        while not self._halt.is_set():
            event = kafka_event(records, event_source_arn=self.mapping.event_source_arn,
                                bootstrap_servers=self.bootstrap, self_managed=self.mapping.self_managed)
            attempts += 1
            started = time.time()
            request_id = str(uuid.uuid4())
            self.stats.started(event, attempts, started)
            try:
                self.invoker(self.mapping, event, request_id, attempts)
                self.stats.ended(event, None)
                self._log_invocation(records, started, request_id, attempts, None)
                return
            except InvocationError as exc:
                self.stats.ended(event, exc)
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



class Reader(threading.Thread):
    """One consumer for every partition the mappings read; hands each record to each mapping's queue.

    It fetches with a short wait while records flow and rests once idle (:class:`FetchPacer`). A
    partition whose log looks replaced, truncated or removed (the broker restarted empty) ends it
    with ``failed`` set: the process running it exits and starts again from the committed offsets,
    as librdkafka's maintainers advise (restart the client rather than follow a re-created topic).
    """

    def __init__(self, pollers: list[KafkaPoller], *, bootstrap: str, halt: threading.Event,
                 fetch_wait_ms: int = 10, idle_rest_ms: int = 100,
                 on_failure: Callable[[str], None] | None = None) -> None:
        super().__init__(name="esm-reader", daemon=True)
        self.pollers = pollers
        self.bootstrap = bootstrap
        self.fetch_wait_ms = fetch_wait_ms
        self.pacer = FetchPacer(rest=idle_rest_ms / 1000)
        self._halt = halt
        self._on_failure = on_failure
        self.failed: str | None = None
        self.next: dict[TP, int] = {}
        self._by_topic: dict[str, list[KafkaPoller]] = {}
        for poller in pollers:
            for topic in poller.mapping.topics:
                self._by_topic.setdefault(topic, []).append(poller)
            poller.fail = self._fail

    def _config(self) -> dict[str, Any]:
        config = _client_config(self.bootstrap, "esm-reader", "devstack-esm-reader")
        config.update({
            "auto.offset.reset": "error",  # a position past the log's end is reported, not skipped
            "fetch.wait.max.ms": self.fetch_wait_ms,
            "fetch.min.bytes": 1,
            "fetch.error.backoff.ms": 100,
            "fetch.queue.backoff.ms": 20,
            "queued.max.messages.kbytes": 16384,
        })
        return config

    def run(self) -> None:
        consumer: Consumer | None = None
        try:
            consumer = Consumer(self._config())
            self._read(consumer)
        except Exception as exc:  # whatever it was, the reader's owner starts again
            self._fail(f"{type(exc).__name__}: {exc}")
        finally:
            if consumer is not None:
                consumer.close()

    def _fail(self, reason: str) -> None:
        if self._halt.is_set() and self.failed is None:
            return
        log.error("event-source reader stops: %s", reason)
        self.failed = reason
        self._halt.set()
        for poller in self.pollers:
            poller.wake()
        if self._on_failure is not None:
            self._on_failure(reason)

    def _refresh(self, consumer: Consumer) -> None:
        """Assign partitions not read yet (topics may appear after the start), from each mapping's start."""
        metadata = consumer.list_topics(timeout=5)
        for topic, pollers in self._by_topic.items():
            listed = metadata.topics.get(topic)
            if listed is None or listed.error is not None or not listed.partitions:
                continue
            new = [(topic, p) for p in sorted(listed.partitions) if (topic, p) not in self.next]
            if not new:
                continue
            starts = [poller.starts(consumer, new) for poller in pollers]
            added = []
            for key in new:
                self.next[key] = min(s[key] for s in starts)
                added.append(Partition(key[0], key[1], self.next[key]))
            consumer.incremental_assign(added)
            log.info("reading %s partitions %s", topic, [p for _, p in new])

    def _read(self, consumer: Consumer) -> None:
        refreshed = 0.0
        resting = False
        while not self._halt.is_set():
            now = time.monotonic()
            if now - refreshed >= METADATA_REFRESH or not self.next:
                refreshed = now
                try:
                    self._refresh(consumer)
                except KafkaException as exc:
                    log.warning("event-source reader: metadata: %s", exc)
                if not self.next:
                    self._halt.wait(0.5)
                    continue
            if any(p.backlog() > MAX_QUEUED for p in self.pollers):
                self._halt.wait(0.02)  # a mapping lags behind: leave the rest in librdkafka's bounded queue
                continue
            if resting:
                if not watch(consumer, self.next, self.pacer, self._halt):
                    continue
                resting = False
            first = consumer.poll(POLL_WAIT)
            if first is None:
                if self.pacer.should_rest():
                    consumer.pause(consumer.assignment())
                    resting = True
                continue
            touched: set[int] = set()
            for msg in (first, *consumer.consume(4999, 0)):
                error = msg.error()
                if error is not None:
                    if error.code() in _LOG_CHANGED:
                        self._fail(f"{msg.topic()}-{msg.partition()}: {error.str()}")
                        return
                    if error.code() not in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
                        log.warning("event-source reader: %s", error)
                    continue
                record = record_of(msg)
                key = (record.topic, record.partition)
                if record.offset < self.next.get(key, 0):
                    continue
                self.next[key] = record.offset + 1
                for poller in self._by_topic.get(record.topic, ()):
                    poller.offer(record)
                    touched.add(id(poller))
            if touched:
                self.pacer.records()
                for poller in self.pollers:
                    if id(poller) in touched:
                        poller.wake()


def start_pollers(mappings: list[KafkaMapping], runtime: LambdaRuntime | Invoker, *, bootstrap: str,
                  aws_endpoint_url: str, region: str, fetch_wait_ms: int = 10, idle_rest_ms: int = 100,
                  invocation_log: JsonLog | None = None, record_age: Histogram | None = None,
                  on_failure: Callable[[str], None] | None = None) -> list[KafkaPoller]:
    """Start one poller per enabled mapping, each with its on-failure destination, and their reader.

    ``runtime`` is a runtime of this process or an :class:`Invoker`; every invocation is written to
    ``invocation_log`` when given. ``on_failure`` hears why the reader stopped (see :class:`Reader`);
    the pollers stop with it.
    """
    import boto3

    invoker: Invoker = RuntimeInvoker(runtime) if isinstance(runtime, LambdaRuntime) else runtime

    def sqs() -> Any:
        return boto3.client("sqs", endpoint_url=aws_endpoint_url, region_name=region)

    halt = threading.Event()
    pollers = []
    for mapping in mappings:
        if not mapping.enabled:
            continue
        dest = FailureDestination(mapping.on_failure, bootstrap=bootstrap, sqs_client_factory=sqs) \
            if mapping.on_failure else None
        pollers.append(KafkaPoller(mapping, invoker, bootstrap=bootstrap, destination=dest, halt=halt,
                                   invocation_log=invocation_log, record_age=record_age))
    for poller in pollers:
        poller.start()
    if pollers:
        Reader(pollers, bootstrap=bootstrap, halt=halt, fetch_wait_ms=fetch_wait_ms, idle_rest_ms=idle_rest_ms,
               on_failure=on_failure).start()
    return pollers

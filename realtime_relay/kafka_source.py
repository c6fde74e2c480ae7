"""Reads every partition of the relay's topics in a thread and hands records to the event loop.

confluent-kafka (librdkafka) with ``assign()`` of explicit partitions, no consumer group: every
relay instance is a broadcaster that reads everything itself (a group join also takes minutes on
the local broker). librdkafka fetches in its own C threads, outside the GIL: an idle relay costs
about 2% of a core instead of about 19% with kafka-python polling at the same fetch wait, and the
event loop is not held up by Python fetch parsing (see docs/RELAY.md, "Measured").

Start-up rebuilds the replay window from Kafka: each partition is read from
``max(beginning, end - retention)``, and the source reports itself caught up once every
partition's position reaches the high watermark of its fetch responses.

Broker restarts (``shop.kafka_epochs``, shared with the local stack's pollers): a broker that comes
back empty recreates its topics with new topic ids and offsets from 0. The source reads each topic's
id (``describe_topics``, every ``metadata_refresh_ms``, and at once when a partition reports its
offset out of range) and, on a change, re-reads the topic from its beginning as a new epoch; the hub
drops event ids it already delivered. A high watermark below our position with an unchanged id (a
truncated log) is handled the same way. Only topics listed by a full metadata request are ever
assigned or described: a named request for a missing topic makes the local broker create it.

Fetching (``shop.kafka_pacing``): with a ``fetch_max_wait_ms`` wait while records flow; once idle
for ``hot_for`` seconds every partition is paused, and one ListOffsets request every
``idle_rest_ms`` notices a log that grew, after which the source resumes and wakes librdkafka's
fetcher at once: the local broker's cost is per fetch request and partition, and a 10 ms wait over
36 partitions kept it at 13-22% of a core when nothing happened. The first record after an idle
spell waits up to ``idle_rest_ms`` longer.

Hand-over to the event loop: callbacks go through one ordered queue drained by a single loop
callback, and consecutive record lists are merged. While the loop is busy fanning out, what the
thread reads meanwhile waits in the queue and goes out as one bigger batch, which costs fewer
writes per delivery (each client gets all its frames in one write): under load the relay batches
more instead of falling further behind.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient

from realtime_relay.hub import Record
from shop import kafka_epochs
from shop.kafka_pacing import FetchPacer, watch

log = logging.getLogger("realtime_relay.kafka")

AssignFn = Callable[[str, object, dict[int, tuple[int, bool]]], None]  # topic, topic id, starts
RecordsFn = Callable[[list[Record]], None]
StatusFn = Callable[[bool, bool], None]
Partition = tuple[str, int]

#: librdkafka's "no offset known" (OFFSET_INVALID) for watermarks not fetched yet.
_UNKNOWN = -1001
#: how long one poll waits for the next record while the source is awake (seconds)
POLL_WAIT = 0.05
#: Errors after which a topic may have been recreated or truncated: check its id now.
_LOG_CHANGED = {KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE, KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError.UNKNOWN_TOPIC_ID}


def parse_value(value: bytes | None) -> dict[str, Any] | None:
    """The JSON object of a record value, or None."""
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


class KafkaSource:
    """A daemon thread consuming ``topics``; callbacks are scheduled through ``dispatch``."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Sequence[str],
        *,
        dispatch: Callable[..., object],
        on_assign: AssignFn,
        on_records: RecordsFn,
        on_status: StatusFn,
        retention_per_partition: int = 2000,
        fetch_max_wait_ms: int = 10,
        idle_rest_ms: int = 100,
        metadata_refresh_ms: int = 2000,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = tuple(topics)
        self._dispatch = dispatch
        self._on_assign = on_assign
        self._on_records = on_records
        self._on_status = on_status
        self.retention = retention_per_partition
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.pacer = FetchPacer(rest=idle_rest_ms / 1000)
        self._resting = False
        self.metadata_refresh = metadata_refresh_ms / 1000
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-kafka", daemon=True)
        self._epochs: dict[str, str] = {}
        self._next: dict[Partition, int] = {}
        self._parked: dict[Partition, int] = {}  # positions of partitions the broker stopped listing
        self._high: dict[Partition, int] = {}  # high watermarks seen last (for lag())
        self._high_at = 0.0
        self._caught_up = False
        self._connected: bool | None = None  # None: not known yet
        self._queue: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._queue_lock = threading.Lock()
        self._drain_scheduled = False

    def start(self) -> None:
        """Start consuming."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop consuming and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout)

    # --- hand-over to the loop thread ------------------------------------------------------------

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        """Queue a callback for the loop thread; one drain is scheduled at a time."""
        with self._queue_lock:
            self._queue.append((fn, args))
            if self._drain_scheduled:
                return
            self._drain_scheduled = True
        self._dispatch(self._drain)

    def _drain(self) -> None:
        """On the loop thread: run everything queued, in order, merging consecutive record lists."""
        with self._queue_lock:
            queue, self._queue = self._queue, []
            self._drain_scheduled = False
        records: list[Record] = []
        for fn, args in queue:
            if fn is self._on_records:
                records.extend(args[0])
                continue
            if records:
                self._on_records(records)
                records = []
            fn(*args)
        if records:
            self._on_records(records)

    def _status(self, connected: bool, reason: object = "") -> None:
        if connected != self._connected:
            if connected:
                log.info("kafka connected (%s)", self.bootstrap_servers)
            else:
                log.warning("kafka unreachable at %s: %s", self.bootstrap_servers, reason or "connection lost")
        self._connected = connected
        self._post(self._on_status, connected, self._caught_up)

    # --- the consumer thread ---------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": "realtime-relay",
            "group.id": "realtime-relay",  # required by librdkafka; never joined (assign) nor committed
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",  # a position past the log's end is reported, not skipped
            "allow.auto.create.topics": False,
            "fetch.wait.max.ms": self.fetch_max_wait_ms,
            "fetch.min.bytes": 1,
            "fetch.error.backoff.ms": 100,
            "fetch.queue.backoff.ms": 20,
            "queued.max.messages.kbytes": 16384,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
            "socket.timeout.ms": 5000,
            "topic.metadata.refresh.interval.ms": max(1000, int(self.metadata_refresh * 1000)),
            "logger": logging.getLogger("realtime_relay.rdkafka"),
            "log.connection.close": False,
        }

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            consumer: Consumer | None = None
            try:
                config = self._config()
                consumer = Consumer(config)
                admin = AdminClient({k: config[k] for k in (
                    "bootstrap.servers", "client.id", "reconnect.backoff.ms", "reconnect.backoff.max.ms",
                    "socket.timeout.ms", "logger", "log.connection.close")})
                backoff = 0.2
                self._consume(consumer, admin)
            except Exception as exc:  # the broker may be gone for a while: log, back off, retry
                log.warning("kafka consumer failed: %s", exc, exc_info=log.isEnabledFor(10))
                self._status(False, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                if consumer is not None:
                    consumer.close()

    def lag(self) -> dict[Partition, int]:
        """Per partition: the high watermark last seen minus the next offset to read (any thread)."""
        nexts, highs = dict(self._next), dict(self._high)
        return {tp: max(0, highs[tp] - offset) for tp, offset in nexts.items() if tp in highs}

    def _note_high_watermarks(self, consumer: Consumer) -> None:
        """Remember the cached high watermarks, at most once a second (read by :meth:`lag`)."""
        now = time.monotonic()
        if now - self._high_at < 1.0:
            return
        self._high_at = now
        highs = {}
        for topic, partition in list(self._next):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high != _UNKNOWN:
                highs[(topic, partition)] = high
        self._high = highs

    def _consume(self, consumer: Consumer, admin: AdminClient) -> None:
        last_refresh = 0.0
        self._resting = False
        if self._next:  # a new consumer after a failure: resume where the last one stopped
            self._assign_all(consumer)
        while not self._stop.is_set():
            self._note_high_watermarks(consumer)
            now = time.monotonic()
            if now - last_refresh >= self.metadata_refresh:
                last_refresh = now
                if not self._refresh(consumer, admin):
                    continue
            if self._resting:
                if not watch(consumer, self._next, self.pacer, self._stop):
                    continue
                self._resting = False
            first = consumer.poll(POLL_WAIT)
            if first is None:  # idle: the moment to compare positions with the high watermarks
                truncated = self._truncated(consumer)
                if truncated:
                    self._recheck(consumer, admin, truncated)
                self._check_caught_up(consumer)
                if self._caught_up and self.pacer.should_rest():
                    consumer.pause(consumer.assignment())
                    self._resting = True
                continue
            self.pacer.records()
            records: list[Record] = []
            suspect: set[str] = set()
            for msg in (first, *consumer.consume(4999, 0)):
                self._take(msg, records, suspect)
            if records:
                self._post(self._on_records, records)
            if suspect:
                self._recheck(consumer, admin, suspect)
            self._check_caught_up(consumer)

    def _take(self, msg: Message, records: list[Record], suspect: set[str]) -> None:
        """Add one polled message to ``records``, or note the topic whose log looks changed."""
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        error = msg.error()
        if error is not None:
            if topic and error.code() in _LOG_CHANGED:
                suspect.add(topic)
            elif error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
                self._status(False, error)
            else:
                log.warning("kafka: %s", error)
            return
        if topic is None or partition is None or offset is None:
            return
        expected = self._next.get((topic, partition))
        if expected is None:
            return  # a partition that was unassigned meanwhile
        if offset < expected:
            return  # already read (a fetch from before a re-assign); recreation shows as a new id
        records.append((topic, partition, offset, parse_value(msg.value())))
        self._next[(topic, partition)] = offset + 1

    def _refresh(self, consumer: Consumer, admin: AdminClient) -> bool:
        """List the topics (full metadata); follow new partitions, new topic ids and vanished topics."""
        try:
            metadata = admin.list_topics(timeout=5)
        except KafkaException as exc:
            self._status(False, exc)
            self._stop.wait(0.2)
            return False
        listed = {name: sorted(t.partitions) for name, t in metadata.topics.items()
                  if name in self.topics and t.error is None and t.partitions}
        gone = [key for key in self._next if key[0] not in listed or key[1] not in listed[key[0]]]
        if gone:  # stop fetching (a fetch would make the local broker create them again); keep the place
            log.warning("kafka no longer lists %s", sorted({f"{t}-{p}" for t, p in gone}))
            for key in gone:
                self._parked[key] = self._next.pop(key)
            self._assign_all(consumer)
        ids = self._topic_ids(admin, sorted(listed))
        for topic, topic_id in ids.items():
            known = self._epochs.get(topic)
            if kafka_epochs.recreated(known, topic_id):
                self._restart_topic(consumer, topic, topic_id, listed[topic])
            elif known is None or any((topic, p) not in self._next for p in listed[topic]):
                self._add_partitions(consumer, topic, topic_id, listed[topic])
        self._status(True)
        return True

    def _recheck(self, consumer: Consumer, admin: AdminClient, topics: set[str]) -> None:
        """Topics whose log looked changed: a new id is a new epoch, else the log was truncated."""
        ids = self._topic_ids(admin, sorted(topics))
        for topic in sorted(topics):
            mine = sorted(p for t, p in self._next if t == topic)
            if topic not in ids or not mine:
                continue  # gone from the broker: the next refresh unassigns it
            self._restart_topic(consumer, topic, ids[topic], mine)

    def _topic_ids(self, admin: AdminClient, topics: Sequence[str]) -> dict[str, str]:
        """Each topic's id, for topics the broker lists (never ask for a missing one)."""
        if not topics:
            return {}
        ids: dict[str, str] = {}
        for topic, future in admin.describe_topics(TopicCollection(list(topics)), request_timeout=5).items():
            try:
                ids[topic] = str(future.result(timeout=5).topic_id)
            except KafkaException as exc:
                log.debug("describe %s failed: %s", topic, exc)
        return ids

    def _add_partitions(self, consumer: Consumer, topic: str, topic_id: str, partitions: list[int]) -> None:
        """Start reading a topic's partitions not read yet, from ``end - retention``.

        A partition listed again under the same topic id resumes where it stopped.
        """
        self._epochs[topic] = topic_id
        starts: dict[int, tuple[int, bool]] = {}
        for p in partitions:
            if (topic, p) in self._next:
                continue
            if (topic, p) in self._parked:
                self._next[(topic, p)] = self._parked.pop((topic, p))
                continue
            # The local broker's ListOffsets(latest) can be below the true end (it answers with the
            # last batch's base offset + 1), so `end - retention` only ever errs towards reading more.
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
            start = max(low, high - self.retention)
            self._next[(topic, p)] = start
            starts[p] = (start, start <= low)
        if starts:
            log.info("reading %s partitions %s (epoch %s)", topic, sorted(starts), topic_id)
            self._post(self._on_assign, topic, topic_id, starts)
        self._assign_all(consumer)

    def _restart_topic(self, consumer: Consumer, topic: str, topic_id: str, partitions: list[int]) -> None:
        log.warning("topic %s has a new epoch %s: reading it again from the beginning", topic, topic_id)
        self._epochs[topic] = topic_id
        for key in [key for key in self._next if key[0] == topic]:
            del self._next[key]
        for key in [key for key in self._parked if key[0] == topic]:
            del self._parked[key]
        for p in partitions:
            self._next[(topic, p)] = 0
        self._assign_all(consumer)
        self._post(self._on_assign, topic, topic_id, {p: (0, True) for p in partitions})

    def _assign_all(self, consumer: Consumer) -> None:
        consumer.assign([TopicPartition(t, p, offset) for (t, p), offset in self._next.items()])
        self._resting = False  # an assignment starts unpaused

    def _truncated(self, consumer: Consumer) -> set[str]:
        """Topics with a high watermark below our position: recreated, or the log truncated."""
        out: set[str] = set()
        for (topic, partition), offset in self._next.items():
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if kafka_epochs.truncated(offset, None if high == _UNKNOWN else high):
                out.add(topic)
        return out

    def _check_caught_up(self, consumer: Consumer) -> None:
        if self._caught_up or not self._next:
            return
        for (topic, partition), offset in self._next.items():
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high == _UNKNOWN or offset < high:
                return
        self._caught_up = True
        log.info("caught up on %d partitions", len(self._next))
        self._status(True)

"""Reads every partition of the relay's topics in a thread and hands records to the event loop.

kafka-python with ``assign()`` of explicit partitions, no consumer group: every relay instance
is a broadcaster that reads everything itself (a group join also takes minutes on the local
broker). Start-up rebuilds the replay window from Kafka: each partition is read from
``max(beginning, end - retention)``, and the source reports itself caught up once every
partition's position reaches the high watermark of its fetch responses.

Broker restarts: a broker that comes back empty recreates its topics with new topic ids and
offsets from 0. The source watches each topic's id in the metadata (refreshed every
``metadata_refresh_ms``) and, on a change, re-reads the topic from its beginning as a new epoch;
the hub drops event ids it already delivered. A fetch high watermark below our position with an
unchanged id (a truncated log) is handled the same way. Only topics listed by a full metadata
request are ever assigned: a named metadata or fetch request for a missing topic makes the local
broker create it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition

log = logging.getLogger("realtime_relay.kafka")

#: (topic, partition, offset, envelope or None)
Record = tuple[str, int, int, "dict[str, Any] | None"]
AssignFn = Callable[[str, object, dict[int, tuple[int, bool]]], None]  # topic, topic id, starts
RecordsFn = Callable[[list[Record]], None]
StatusFn = Callable[[bool, bool], None]


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
        self.metadata_refresh = metadata_refresh_ms / 1000
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-kafka", daemon=True)
        self._epochs: dict[str, Any] = {}
        self._truncations = 0
        self._next: dict[TopicPartition, int] = {}
        self._caught_up = False
        self._connected = False

    def start(self) -> None:
        """Start consuming."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop consuming and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout)

    def _status(self, connected: bool) -> None:
        if connected != self._connected:
            log.info("kafka %s", "connected" if connected else "unreachable")
        self._connected = connected
        self._dispatch(self._on_status, connected, self._caught_up)

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            consumer: KafkaConsumer | None = None
            try:
                consumer = KafkaConsumer(
                    bootstrap_servers=self.bootstrap_servers.split(","),
                    group_id=None,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    allow_auto_create_topics=False,
                    fetch_max_wait_ms=self.fetch_max_wait_ms,
                    request_timeout_ms=5000,
                    reconnect_backoff_ms=100,
                    reconnect_backoff_max_ms=1000,
                    metadata_max_age_ms=max(1000, int(self.metadata_refresh * 1000)),
                    client_id="realtime-relay",
                )
                backoff = 0.2
                self._consume(consumer)
            except Exception as exc:  # the broker may be gone for a while: log, back off, retry
                log.warning("kafka consumer failed: %s", exc.__class__.__name__, exc_info=log.isEnabledFor(10))
                self._status(False)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                if consumer is not None:
                    consumer.close(autocommit=False)

    def _consume(self, consumer: KafkaConsumer) -> None:
        # The cluster metadata cache: read locally, so that no named metadata request is sent
        # for a topic that does not exist (the local broker would auto-create it).
        cluster = consumer._client.cluster
        last_refresh = 0.0
        if self._next:  # a new consumer after a failure: resume where the last one stopped
            consumer.assign(list(self._next))
            for tp, offset in self._next.items():
                consumer.seek(tp, offset)
        while not self._stop.is_set():
            now = time.monotonic()
            if now - last_refresh >= self.metadata_refresh:
                existing = consumer.topics()
                self._reassign(consumer, cluster, existing)
                self._status(True)
                last_refresh = now
            self._check_epochs(consumer, cluster)
            batch = consumer.poll(timeout_ms=100, max_records=5000)
            stale = self._check_epochs(consumer, cluster)
            records: list[Record] = []
            for tp, recs in batch.items():
                if tp.topic in stale or not recs:
                    continue
                for r in recs:
                    records.append((tp.topic, tp.partition, r.offset, parse_value(r.value)))
                self._next[tp] = recs[-1].offset + 1
            if records:
                self._dispatch(self._on_records, records)
            self._check_truncation(consumer, cluster)
            if not self._caught_up and self._next and all(
                (hw := consumer.highwater(tp)) is not None and self._next[tp] >= hw for tp in self._next
            ):
                self._caught_up = True
                log.info("caught up on %d partitions", len(self._next))
                self._status(True)

    def _reassign(self, consumer: KafkaConsumer, cluster: Any, existing: set[str]) -> None:
        added: dict[str, list[TopicPartition]] = {}
        for topic in self.topics:
            if topic not in existing:
                continue
            parts = cluster.partitions_for_topic(topic) or set()
            new = [TopicPartition(topic, p) for p in sorted(parts) if TopicPartition(topic, p) not in self._next]
            if new:
                added[topic] = new
        if not added:
            return
        fresh = [tp for tps in added.values() for tp in tps]
        consumer.assign(list(self._next) + fresh)
        for tp, offset in self._next.items():
            consumer.seek(tp, offset)
        begin = consumer.beginning_offsets(fresh)
        # The local broker's ListOffsets(latest) can be below the true end (it answers with the
        # last batch's base offset + 1), so `end - retention` only ever errs towards reading more.
        end = consumer.end_offsets(fresh)
        for topic, tps in added.items():
            topic_id = cluster.topic_id(topic)
            known = self._epochs.get(topic)
            if known is not None and known != topic_id:
                continue  # handled as an epoch change by _check_epochs
            self._epochs[topic] = topic_id
            starts: dict[int, tuple[int, bool]] = {}
            for tp in tps:
                b = begin.get(tp) or 0
                start = max(b, (end.get(tp) or 0) - self.retention)
                consumer.seek(tp, start)
                self._next[tp] = start
                starts[tp.partition] = (start, start <= b)
            log.info("reading %s partitions %s (epoch %s)", topic, sorted(starts), topic_id)
            self._dispatch(self._on_assign, topic, topic_id, starts)

    def _check_epochs(self, consumer: KafkaConsumer, cluster: Any) -> set[str]:
        """Topics whose id changed (recreated): re-read from the beginning as a new epoch."""
        changed: set[str] = set()
        for topic, known in list(self._epochs.items()):
            current = cluster.topic_id(topic)
            if current is not None and current != known:
                changed.add(topic)
                self._restart_topic(consumer, cluster, topic, current)
        return changed

    def _restart_topic(self, consumer: KafkaConsumer, cluster: Any, topic: str, epoch: object) -> None:
        log.warning("topic %s has a new epoch %s: reading it again from the beginning", topic, epoch)
        self._epochs[topic] = epoch
        parts = cluster.partitions_for_topic(topic) or {tp.partition for tp in self._next if tp.topic == topic}
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        for tp in [tp for tp in self._next if tp.topic == topic]:
            del self._next[tp]
        for tp in tps:
            self._next[tp] = 0
        consumer.assign(list(self._next))
        for tp, offset in self._next.items():
            consumer.seek(tp, offset)
        self._dispatch(self._on_assign, topic, epoch, {tp.partition: (0, True) for tp in tps})

    def _check_truncation(self, consumer: KafkaConsumer, cluster: Any) -> None:
        """A high watermark below our position: the topic was recreated, or its log truncated."""
        for tp, offset in list(self._next.items()):
            hw = consumer.highwater(tp)
            if hw is not None and hw < offset:
                consumer.topics()
                if tp.topic not in self._check_epochs(consumer, cluster):
                    self._restart_topic(consumer, cluster, tp.topic, self._epochs.get(tp.topic))
                return

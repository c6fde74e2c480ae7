"""Where every mapped partition ends, re-read whenever records may have been produced.

The embedded broker holds an empty fetch for the whole fetch wait, however soon a record
arrives, so a poller that waits inside a fetch adds up to that wait to every hop. Instead the
pollers wait here: :class:`LogEnds` re-reads the end offsets of all mapped partitions in one
ListOffsets request whenever the Lambda runtime sees a function write a log line (the shop's
functions log each publish once the broker has it) or finish an invocation (everything a
function publishes is acknowledged before it returns), and at least every ``interval`` seconds
for records produced outside the stack. A poller fetches only when a
partition of its own ends beyond its position, so an idle stack makes one cheap request per
interval instead of a held fetch per mapping, and a record reaches its function in a few
milliseconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping

from kafka import KafkaConsumer, TopicPartition
from prometheus_client import Counter

log = logging.getLogger("devstack.kafka")

#: the least time between two reads, so a burst of invocations costs one read, not one each
MIN_GAP = 0.002
#: how often the partition list is re-read from the broker's metadata
METADATA_REFRESH = 5.0


class LogEnds(threading.Thread):
    """End offsets of the topics' partitions, refreshed when :meth:`ring` is called or every ``interval``."""

    def __init__(self, topics: Iterable[str], *, bootstrap: str, interval: float = 0.05,
                 reads: Counter | None = None) -> None:
        super().__init__(name="esm-log-ends", daemon=True)
        self.topics = sorted(set(topics))
        self.bootstrap = bootstrap
        self.interval = interval
        self._cond = threading.Condition()
        self._rings = 0
        self._ends: dict[TopicPartition, int] = {}
        self._halt = threading.Event()
        #: counts the reads (a Prometheus counter on the stack's metrics page)
        self.reads = reads

    def ring(self) -> None:
        """Say that records may have been produced (the runtime calls this on a function's activity)."""
        with self._cond:
            self._rings += 1
            self._cond.notify_all()

    def stop(self) -> None:
        self._halt.set()
        self.ring()

    def update(self, ends: Mapping[TopicPartition, int]) -> None:
        """Take ``ends`` as what the broker holds now and wake the pollers waiting for them."""
        with self._cond:
            self._ends = dict(ends)
            self._cond.notify_all()

    def ends_beyond(self, positions: Mapping[TopicPartition, int | None], timeout: float) -> bool:
        """Wait until a partition in ``positions`` ends beyond its position there, or ``timeout`` s.

        True when one does. A position of ``None`` (not known yet) never wakes: the caller's
        periodic fetch covers it.
        """
        def beyond() -> bool:
            return any(pos is not None and self._ends.get(tp, -1) > pos for tp, pos in positions.items())

        with self._cond:
            return self._cond.wait_for(lambda: beyond() or self._halt.is_set(), timeout) and not self._halt.is_set()

    def run(self) -> None:
        consumer: KafkaConsumer | None = None
        partitions: list[TopicPartition] = []
        listed_at = 0.0
        seen = -1
        while not self._halt.is_set():
            seen = self._wait_for_ring(seen)
            try:
                if consumer is None:
                    consumer = KafkaConsumer(bootstrap_servers=self.bootstrap.split(","), group_id=None,
                                             enable_auto_commit=False, request_timeout_ms=2000,
                                             reconnect_backoff_max_ms=1000, metadata_max_age_ms=5000,
                                             client_id="esm-log-ends")
                if not partitions or time.monotonic() - listed_at > METADATA_REFRESH:
                    partitions = self._partitions(consumer)
                    listed_at = time.monotonic()
                ends = consumer.end_offsets(partitions, timeout_ms=2000) if partitions else {}
                if self.reads is not None:
                    self.reads.inc()
            except Exception as exc:
                # The broker is away (or came back with other topics): forget what was known, so no
                # poller acts on ends of a log that no longer exists; their periodic fetch goes on.
                log.info("reading the partitions' end offsets failed (%s); retrying", exc)
                ends = {}
                partitions = []
                if consumer is not None:
                    try:
                        consumer.close()
                    except Exception:
                        log.debug("close failed", exc_info=True)
                consumer = None
                self._halt.wait(0.5)
            self.update(ends)
            self._halt.wait(MIN_GAP)
        if consumer is not None:
            consumer.close()

    def _wait_for_ring(self, seen: int) -> int:
        """Wait until rung after ``seen`` (at once if it already was) or ``interval`` s; the count now."""
        with self._cond:
            self._cond.wait_for(lambda: self._rings != seen, self.interval)
            return self._rings

    def _partitions(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        out: list[TopicPartition] = []
        for topic in self.topics:
            out.extend(TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ()))
        return out

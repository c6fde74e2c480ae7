"""Consumer lag of event-source mappings, measured from the broker as AWS measures ``OffsetLag``.

The lag of a partition is its end offset (the next offset to be written) minus the offset the
mapping's consumer group has committed. A poller commits only after its function succeeded, so
a mapping whose function keeps failing shows a growing lag while records keep arriving; a group
that never committed counts from the start of the log (``TRIM_HORIZON``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - (self.committed or 0))


class LagReader:
    """Reads end offsets and committed offsets with one admin client and one group-less consumer."""

    def __init__(self, bootstrap: str, *, timeout_ms: int = 5000) -> None:
        servers = bootstrap.split(",")
        self._admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=timeout_ms,
                                       client_id="devstack-lag")
        self._consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False,
                                       request_timeout_ms=max(timeout_ms, 1000) + 500, client_id="devstack-lag")

    def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        out: list[TopicPartition] = []
        for topic in topics:
            for p in sorted(self._consumer.partitions_for_topic(topic) or ()):
                out.append(TopicPartition(topic, p))
        return out

    def lag(self, group: str, topics: Iterable[str]) -> list[PartitionLag]:
        """Every partition of ``topics``: the group's committed offset, the end offset, the lag."""
        tps = self.partitions(topics)
        if not tps:
            return []
        ends: dict[Any, int] = self._consumer.end_offsets(tps)
        starts: dict[Any, int] = self._consumer.beginning_offsets(tps)
        committed = self._admin.list_group_offsets({group: tps}).get(group, {})
        out = []
        for tp in tps:
            meta = committed.get(tp)
            offset = meta.offset if meta is not None and meta.offset is not None and meta.offset >= 0 else None
            out.append(PartitionLag(tp.topic, tp.partition, offset if offset is not None else starts.get(tp, 0),
                                    int(ends.get(tp, 0))))
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._consumer.close()
        with contextlib.suppress(Exception):
            self._admin.close()

    def __enter__(self) -> LagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

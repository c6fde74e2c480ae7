"""The replay buffer: the last N records of every partition, with their ready-made frames. No I/O.

Records are kept per partition (offset order) and stamped with a relay-local sequence number,
so a replay merges partitions in the order this relay read them; only the per-partition order
is meaningful across instances, which is all Kafka promises anyway.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum

from realtime_relay.cursor import TopicPosition

#: One frame ready to send: (channel, owner user id for ``orders`` else None, UTF-8 JSON).
Message = tuple[str, str | None, bytes]


class ReplayStatus(Enum):
    """How a cursor relates to what this relay holds."""

    OK = "ok"
    GAP = "gap"
    BEHIND = "behind"


@dataclass(slots=True)
class Replay:
    """The frames a cursor missed (status OK), or why they cannot be given."""

    status: ReplayStatus
    frames: list[bytes] = field(default_factory=list)
    reason: str = ""


class PartitionLog:
    """The retained records of one partition; everything from ``start`` to ``last`` is held."""

    __slots__ = ("complete", "entries", "head", "last", "offsets", "start")

    def __init__(self, start: int, complete: bool) -> None:
        self.start = start
        self.complete = complete
        self.last = start - 1
        self.head = 0
        self.offsets: list[int] = []
        self.entries: list[tuple[int, tuple[Message, ...]]] = []

    def __len__(self) -> int:
        return len(self.offsets) - self.head

    def append(self, seq: int, offset: int, messages: tuple[Message, ...], limit: int) -> None:
        """Keep one record, evicting the oldest past ``limit``."""
        self.offsets.append(offset)
        self.entries.append((seq, messages))
        self.last = offset
        while len(self) > limit:
            self.start = self.offsets[self.head] + 1
            self.complete = False
            self.head += 1
        if self.head > 1024 and self.head * 2 > len(self.offsets):
            del self.offsets[: self.head]
            del self.entries[: self.head]
            self.head = 0

    def after(self, offset: int | None) -> list[tuple[int, tuple[Message, ...]]]:
        """The entries past ``offset`` (all of them for None)."""
        lo = self.head if offset is None else bisect_right(self.offsets, offset, self.head)
        return self.entries[lo:]


class Retention:
    """Every partition's :class:`PartitionLog`, per topic epoch."""

    def __init__(self, per_partition: int) -> None:
        self.per_partition = max(1, per_partition)
        self.epochs: dict[str, bytes] = {}
        self.logs: dict[tuple[str, int], PartitionLog] = {}
        self._seq = 0

    def reset_topic(self, topic: str, epoch: bytes) -> None:
        """Forget a topic's records (a new epoch begins, or the topic is seen for the first time)."""
        self.epochs[topic] = epoch
        for key in [k for k in self.logs if k[0] == topic]:
            del self.logs[key]

    def add_partition(self, topic: str, partition: int, start: int, complete: bool) -> None:
        """Start holding a partition read from ``start`` (``complete``: nothing exists before it)."""
        self.logs[(topic, partition)] = PartitionLog(start, complete)

    def append(self, topic: str, partition: int, offset: int, messages: tuple[Message, ...]) -> None:
        """Keep one record read at ``offset``."""
        self._seq += 1
        self.logs[(topic, partition)].append(self._seq, offset, messages, self.per_partition)

    def replay(self, since: Mapping[str, TopicPosition], accept: Callable[[Message], bool]) -> Replay:
        """What a client at position ``since`` missed, restricted to the messages ``accept`` keeps."""
        for topic, tpos in since.items():
            mine = self.epochs.get(topic)
            if mine is None:
                return Replay(ReplayStatus.BEHIND, reason=f"topic {topic} not read yet")
            if tpos.epoch != mine:
                return Replay(ReplayStatus.GAP, reason=f"topic {topic} was recreated")
            for partition in tpos.offsets:
                if (topic, partition) not in self.logs:
                    return Replay(ReplayStatus.BEHIND, reason=f"partition {topic}-{partition} not read yet")
        slices: list[list[tuple[int, tuple[Message, ...]]]] = []
        for (topic, partition), log in self.logs.items():
            seen = since.get(topic)
            offset = None if seen is None else seen.offsets.get(partition)
            if offset is None:
                if not log.complete:
                    return Replay(ReplayStatus.GAP, reason=f"{topic}-{partition} is older than the retention window")
            elif offset > log.last:
                return Replay(ReplayStatus.BEHIND, reason=f"{topic}-{partition} not read up to {offset} yet")
            elif offset < log.start - 1:
                return Replay(ReplayStatus.GAP, reason=f"{topic}-{partition} is older than the retention window")
            part = log.after(offset)
            if part:
                slices.append(part)
        return Replay(ReplayStatus.OK, frames=list(_frames(slices, accept)))

    def after(self, since: Mapping[str, TopicPosition], accept: Callable[[Message], bool]) -> list[bytes]:
        """The held frames read after ``since`` that it surely missed, for a replay from the event log:
        past its offset in a partition of the same epoch, a whole partition of an epoch it does not
        know when held from its start; nothing from partitions it cannot be placed in."""
        slices: list[list[tuple[int, tuple[Message, ...]]]] = []
        for (topic, partition), log in self.logs.items():
            seen = since.get(topic)
            offset = seen.offsets.get(partition) if seen is not None and seen.epoch == self.epochs.get(topic) else None
            if offset is None:
                if not log.complete:
                    continue
            elif offset < log.start - 1 or offset > log.last:
                continue
            part = log.after(offset)
            if part:
                slices.append(part)
        return list(_frames(slices, accept)) if slices else []


def _frames(slices: list[list[tuple[int, tuple[Message, ...]]]], accept: Callable[[Message], bool]) -> Iterator[bytes]:
    merged = slices[0] if len(slices) == 1 else heapq.merge(*slices, key=lambda e: e[0])
    for _, messages in merged:
        for message in messages:
            if accept(message):
                yield message[2]

"""The Lambda event for Kafka event-source mappings (MSK and self-managed), built exactly as AWS does."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    """One consumed Kafka record, broker-agnostic."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int  # 0 create time, 1 log append time
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def by_partition(records: Iterable[Record]) -> list[list[Record]]:
    """The records split per topic-partition, each list in the order given (one invocation each)."""
    groups: dict[tuple[str, int], list[Record]] = {}
    for record in records:
        groups.setdefault((record.topic, record.partition), []).append(record)
    return list(groups.values())


def record_json(record: Record) -> dict[str, object]:
    out: dict[str, object] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestampType": "LOG_APPEND_TIME" if record.timestamp_type == 1 else "CREATE_TIME",
    }
    if record.key is not None:
        out["key"] = base64.b64encode(record.key).decode()
    if record.value is not None:
        out["value"] = base64.b64encode(record.value).decode()
    out["headers"] = [{name: list(value or b"")} for name, value in record.headers]
    return out


def kafka_event(records: Iterable[Record], *, event_source_arn: str | None, bootstrap_servers: str,
                self_managed: bool = False) -> dict[str, object]:
    """``{"eventSource": "aws:kafka", ..., "records": {"<topic>-<partition>": [...]}}``."""
    grouped: dict[str, list[dict[str, object]]] = {}
    for record in records:
        grouped.setdefault(f"{record.topic}-{record.partition}", []).append(record_json(record))
    event: dict[str, object] = {"eventSource": "SelfManagedKafka" if self_managed else "aws:kafka"}
    if not self_managed and event_source_arn:
        event["eventSourceArn"] = event_source_arn
    event["bootstrapServers"] = bootstrap_servers
    event["records"] = grouped
    return event

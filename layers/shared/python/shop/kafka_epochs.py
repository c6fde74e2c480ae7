"""Whether a Kafka log under a reader's position was replaced: the broker came back empty. No I/O.

A restarted in-memory broker re-creates its topics with new topic ids and offsets from 0, and
answers fetches past a log's end with nothing at all, so a reader that kept its old position would
silently skip the new records. The relay uses these decisions and then re-reads the topic from its
beginning (the local stack's event-source pollers instead start their process again, see
``devstack.kafka_esm``).
"""

from __future__ import annotations


def recreated(known_id: object | None, topic_id: object | None) -> bool:
    """The topic's id changed since we read it: a new log (epoch), re-read from the start."""
    return known_id is not None and topic_id is not None and topic_id != known_id


def truncated(position: int | None, high_watermark: int | None) -> bool:
    """Our next offset is past the log's end: the log was truncated or replaced."""
    return position is not None and high_watermark is not None and position > high_watermark

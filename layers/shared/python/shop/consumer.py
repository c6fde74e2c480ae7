"""Plumbing for Kafka-triggered functions (MSK / self-managed Kafka event-source mappings).

``@event_consumer`` walks the batch through Powertools' typed ``KafkaEvent`` view, decodes each
record's envelope and calls ``fn(envelope)`` in partition order. Any exception fails the whole
invocation so the event-source mapping retries (and eventually sends the batch to the
function's on-failure destination); every consumer must therefore be idempotent.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools.utilities.data_classes import KafkaEvent

log = logging.getLogger(__name__)

Envelope = dict[str, Any]


def envelopes(event: dict[str, Any]) -> Iterator[Envelope]:
    """Each record's envelope, with ``key``, ``topic``, ``partition`` and ``offset`` added."""
    for record in KafkaEvent(event).records:
        try:
            value = json.loads(record.decoded_value)
        except ValueError:
            log.warning("skipping a record that is not JSON: %s-%s@%s", record.topic, record.partition, record.offset)
            continue
        if not isinstance(value, dict) or "type" not in value or "id" not in value:
            log.warning("skipping a record that is not an envelope: %s-%s@%s",
                        record.topic, record.partition, record.offset)
            continue
        key = record.decoded_key if record.key else None
        value["key"] = key.decode() if key is not None else None
        value["topic"] = record.topic
        value["partition"] = record.partition
        value["offset"] = record.offset
        yield value


def event_consumer(fn: Callable[[Envelope], Any]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Wrap ``fn(envelope)`` into a Lambda handler for Kafka events."""

    @functools.wraps(fn)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        handled = 0
        for envelope in envelopes(event):
            fn(envelope)
            handled += 1
        return {"handled": handled}

    return handler

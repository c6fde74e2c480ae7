"""Plumbing for Kafka-triggered functions (MSK / self-managed Kafka event-source mappings).

``@event_consumer`` walks the batch through Powertools' typed ``KafkaEvent`` view, decodes each
record's value into a :class:`shop.envelope.Envelope` and calls ``fn(envelope)`` in partition
order. Any exception fails the whole invocation so the event-source mapping retries (and
eventually sends the batch to the function's on-failure destination); every consumer must
therefore be idempotent. ``@batch_consumer`` hands the whole batch to ``fn(envelopes)`` at once,
for consumers that write a batch in one database round trip.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools.utilities.data_classes import KafkaEvent
from pydantic import ValidationError

from shop.envelope import Envelope
from shop.observability import bind_correlation_id, event_fields, observe

log = logging.getLogger(__name__)


def envelopes(event: dict[str, Any]) -> Iterator[Envelope]:
    """Each record's envelope; records that are not JSON envelopes are logged and skipped."""
    for record in KafkaEvent(event).records:
        try:
            envelope = Envelope.model_validate_json(record.decoded_value)
        except ValidationError:
            log.warning("skipping a record that is not a JSON envelope: %s-%s@%s",
                        record.topic, record.partition, record.offset)
            continue
        key = record.decoded_key if record.key else None
        yield envelope.model_copy(update={"key": key.decode() if key is not None else None, "topic": record.topic,
                                          "partition": record.partition, "offset": record.offset})


def event_consumer(fn: Callable[[Envelope], Any]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Wrap ``fn(envelope)`` into a Lambda handler for Kafka events.

    Each record is handled with its event's correlation id on every log line, and logged once
    consumed; a failure is logged with the event it failed on before the batch fails.
    """

    @observe
    @functools.wraps(fn)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        handled = 0
        for envelope in envelopes(event):
            bind_correlation_id(envelope.correlationId)
            try:
                fn(envelope)
            except Exception:
                log.exception("event failed", extra=event_fields(envelope))
                raise
            log.info("event consumed", extra=event_fields(envelope))
            handled += 1
        return {"handled": handled}

    return handler


def batch_consumer(fn: Callable[[list[Envelope]], Any]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Wrap ``fn(envelopes)`` into a Lambda handler that gets every record of the batch in one call."""

    @observe
    @functools.wraps(fn)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        batch = list(envelopes(event))
        fn(batch)
        for envelope in batch:
            log.info("event consumed", extra=event_fields(envelope))
        return {"handled": len(batch)}

    return handler

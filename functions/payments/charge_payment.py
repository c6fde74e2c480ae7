"""Kafka consumer of ``order.created``: charge the order exactly once (transient errors retry the batch)."""

from __future__ import annotations

from shop.consumer import event_consumer
from shop.payments import service

handler = event_consumer(service.charge)

"""Kafka consumer of ``order.cancelled``: refund a paid order once, or make sure it is never charged."""

from __future__ import annotations

from shop.consumer import event_consumer
from shop.payments import service

handler = event_consumer(service.cancel)

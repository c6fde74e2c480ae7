"""Kafka consumer: payment and stock-reservation outcomes move orders along (the order saga)."""

from __future__ import annotations

from shop.consumer import event_consumer
from shop.orders import service

handler = event_consumer(service.apply_saga_event)

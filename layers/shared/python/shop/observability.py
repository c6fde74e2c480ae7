"""Structured logging for every function, set up once and applied by the shared decorators.

One Powertools :class:`~aws_lambda_powertools.Logger` per process, named after the service
(``POWERTOOLS_SERVICE_NAME``) at the level of ``LOG_LEVEL``. It writes one JSON object per line
with the service, the function name, the cold start flag, the Lambda request id and the
correlation id of the request or event being handled; the ``shop.*`` modules' own loggers go
through the same handler, so their lines carry the same keys. ``@api_handler`` and
``@event_consumer`` call :func:`observe` around every invocation and :func:`bind_correlation_id`
as soon as they know the request's or the event's correlation id.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger

from shop.config import get_settings
from shop.envelope import Envelope

F = TypeVar("F", bound=Callable[..., Any])


def _build() -> Logger:
    settings = get_settings()
    service = settings.powertools_service_name
    level = settings.log_level.upper()
    built = Logger(service=service, level=level, utc=True, use_rfc3339=True)
    shop_logger = logging.getLogger("shop")
    if built.name != "shop":  # the shop.* module loggers propagate to "shop", not to the service's logger
        shop_logger.addHandler(built.registered_handler)
        shop_logger.propagate = False
    shop_logger.setLevel(level)
    return built


#: The process's structured logger.
logger = _build()


def observe(handler: F) -> F:
    """Add the Lambda context (function name, request id, cold start) to every line the handler logs.

    A handler called without a context (a test, a script) runs as it is.
    """
    injected = logger.inject_lambda_context(clear_state=True)(handler)

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        if context is None:
            return handler(event, context)
        return injected(event, context)

    return cast(F, run)


def bind_correlation_id(correlation_id: str | None) -> None:
    """Put ``correlation_id`` on every following line of this invocation (``None`` removes it)."""
    logger.set_correlation_id(correlation_id or None)


def event_fields(envelope: Envelope) -> dict[str, Any]:
    """What a log line says about one consumed event (never its data)."""
    return {"eventId": envelope.id, "eventType": envelope.type, "key": envelope.key, "topic": envelope.topic,
            "partition": envelope.partition, "offset": envelope.offset}

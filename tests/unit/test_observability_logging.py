"""The functions' structured logs: one JSON line each, with the Lambda context and the correlation id."""

from __future__ import annotations

import base64
import io
import json
import logging
from typing import Any

from shop.consumer import Envelope, event_consumer
from shop.http import Request, api_handler
from shop.observability import logger

inner = logging.getLogger("shop.tests.inner")


class Context:
    function_name = "CreateOrderFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:CreateOrderFunction"
    memory_limit_in_mb = 512
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/CreateOrderFunction"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 1000


def _kafka_event(*envelopes: dict[str, Any]) -> dict[str, Any]:
    records = [{"topic": "order.created", "partition": 0, "offset": i, "timestamp": 0, "timestampType": "CREATE_TIME",
                "key": base64.b64encode(b"o-1").decode(), "headers": [],
                "value": base64.b64encode(json.dumps(e).encode()).decode()} for i, e in enumerate(envelopes)]
    return {"eventSource": "aws:kafka", "bootstrapServers": "x", "records": {"order.created-0": records}}


def test_lines_carry_the_correlation_id_and_the_lambda_context() -> None:
    """HTTP: the request's correlation id; Kafka: each record's own, on every line of its handling."""
    handler_stream = logger.registered_handler
    assert isinstance(handler_stream, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler_stream.setStream(buffer)
    try:
        @api_handler
        def http(request: Request) -> tuple[int, Any]:
            inner.info("placing", extra={"orderId": "o-1"})
            return 201, {}

        event = {"httpMethod": "POST", "path": "/api/orders", "resource": "/api/orders", "body": None,
                 "headers": {"X-Correlation-Id": "corr-42"}, "requestContext": {"requestId": "api-1"}}
        assert http(event, Context())["statusCode"] == 201

        @event_consumer
        def consume(envelope: Envelope) -> None:
            inner.info("charging")

        consume(_kafka_event({"id": "e-1", "type": "order.created", "correlationId": "c-a", "data": {}},
                             {"id": "e-2", "type": "order.created", "correlationId": "c-b", "data": {}}), Context())
    finally:
        handler_stream.setStream(previous)
    out = [json.loads(line) for line in buffer.getvalue().splitlines()]
    placing = next(x for x in out if x["message"] == "placing")
    assert placing["correlation_id"] == "corr-42" and placing["orderId"] == "o-1"
    assert placing["function_name"] == "CreateOrderFunction" and placing["function_request_id"] == "req-1"
    assert placing["service"] == "shop" and isinstance(placing["cold_start"], bool) and placing["level"] == "INFO"
    kafka = [(x["message"], x["correlation_id"]) for x in out if x["message"] in ("charging", "event consumed")]
    assert kafka == [("charging", "c-a"), ("event consumed", "c-a"), ("charging", "c-b"), ("event consumed", "c-b")]
    consumed = next(x for x in out if x["message"] == "event consumed")
    assert (consumed["eventId"], consumed["topic"], consumed["offset"], consumed["key"]) == ("e-1", "order.created",
                                                                                             0, "o-1")

"""Rebuilding one order's path from log lines (no services)."""

from __future__ import annotations

import json
from typing import Any

from devstack import logfiles, trace

ORDER = "o-1"
SUBSCRIBERS = {"order.created": ["ReserveStockFunction", "ChargePaymentFunction"],
               "payment.succeeded": ["OrderSagaFunction"]}


def _entry(source: str, second: float, message: str, **data: Any) -> logfiles.Entry:
    ts = logfiles.now_iso(1_800_000_000 + second)
    e = logfiles.parse_line(source, json.dumps({"level": data.pop("level", "INFO"), "message": message,
                                                "timestamp": ts, **data}), 0)
    assert e is not None
    return e


def _record(topic: str, offset: int, cid: str, key: str = ORDER, partition: int = 1) -> dict[str, Any]:
    return {"topic": topic, "partition": partition, "offset": offset, "eventType": topic, "key": key,
            "correlationId": cid, "eventId": f"e-{topic}-{offset}"}


def _story() -> list[logfiles.Entry]:
    return [
        _entry("gateway", 0.000, "request", method="POST", path="/api/orders", status=201,
               function="CreateOrderFunction", durationMs=40, correlation_id="c-create"),
        _entry("CreateOrderFunction", 0.030, "event published", eventType="order.created", topic="order.created",
               partition=1, offset=7, key=ORDER, correlation_id="c-create", function_name="CreateOrderFunction"),
        _entry("esm", 0.050, "batch invoked", function="ReserveStockFunction", batchSize=1, attempt=1,
               outcome="ok", durationMs=20, records=[_record("order.created", 7, "c-create")]),
        _entry("esm", 0.060, "batch invoked", function="ChargePaymentFunction", batchSize=2, attempt=1,
               outcome="error", durationMs=5, error="Unhandled: boom",
               records=[_record("order.created", 7, "c-create"), _record("order.created", 8, "c-other", "o-2")]),
        _entry("ChargePaymentFunction", 0.061, "charge failed", level="ERROR", correlation_id="c-create"),
        _entry("esm", 0.300, "batch invoked", function="ChargePaymentFunction", batchSize=1, attempt=2,
               outcome="ok", durationMs=9, records=[_record("order.created", 7, "c-create")]),
        _entry("relay", 0.310, "event delivered", eventType="order.created", topic="order.created", partition=1,
               offset=7, deliveries=2, correlation_id="c-create"),
        _entry("gateway", 5.000, "request", method="POST", path=f"/api/orders/{ORDER}/cancel", status=200,
               function="CancelOrderFunction", durationMs=30, correlation_id="c-cancel"),
        _entry("gateway", 6.000, "request", method="GET", path="/api/products", status=200,
               function="ListProductsFunction", durationMs=3, correlation_id="c-unrelated"),
    ]


def test_an_order_id_collects_every_request_and_event_of_the_order_in_time_order() -> None:
    """Both requests (create, cancel) and the hops in between, nothing of other orders."""
    t = trace.build(_story(), ORDER, SUBSCRIBERS)
    assert t.correlation_ids == ["c-create", "c-cancel"]
    assert [h.kind for h in t.hops] == ["http", "published", "invoked", "invoked", "error", "invoked", "relay",
                                        "http"]
    failed = t.hops[3]
    assert failed.data["records"] == ["order.created-1@7"] and "o-2" not in failed.text
    assert "attempt 2" in t.hops[5].text
    assert t.stopped == []
    body = t.as_json()
    assert body["hops"][0]["sincePreviousMs"] is None and body["hops"][1]["sincePreviousMs"] == 30.0


def test_a_correlation_id_works_as_the_target() -> None:
    """Tracing by correlation id gives that request's story only."""
    t = trace.build(_story(), "c-cancel", SUBSCRIBERS)
    assert [h.kind for h in t.hops] == ["http"]


def test_where_it_stopped() -> None:
    """An event a subscriber never consumed successfully is named, with the last failure or the DLQ."""
    story = [e for e in _story() if e.data.get("attempt") != 2]
    t = trace.build(story, ORDER, SUBSCRIBERS)
    assert len(t.stopped) == 1 and "still failing in ChargePaymentFunction" in t.stopped[0]
    gave_up = _entry("esm", 1.0, "batch sent to the on-failure destination", function="ChargePaymentFunction",
                     batchSize=1, attempt=6, error="Unhandled: boom", destination="arn:aws:sqs:...:dlq",
                     records=[_record("order.created", 7, "c-create")])
    t = trace.build([*story, gave_up], ORDER, SUBSCRIBERS)
    assert "on-failure destination" in t.stopped[0]
    no_consumer = [e for e in story if e.source != "esm"]
    t = trace.build(no_consumer, ORDER, SUBSCRIBERS)
    assert sorted(s.split()[-5] for s in t.stopped) == ["ChargePaymentFunction", "ReserveStockFunction"]


def test_render_shows_gaps_between_hops() -> None:
    """The text form has one line per hop with the time since the previous one."""
    text = trace.build(_story(), ORDER, SUBSCRIBERS).render()
    assert "+30 ms" in text and "every event reached every subscribed function" in text
    assert trace.build([], "nothing", {}).render() == "nothing in the logs mentions nothing"


def test_an_event_published_outside_the_outbox_is_still_checked() -> None:
    """A record only seen by the pollers (no `event published` line) still reports where it stopped."""
    gave_up = _entry("esm", 1.0, "batch sent to the on-failure destination", function="ChargePaymentFunction",
                     batchSize=1, attempt=6, error="KeyError: 'orderId'", destination="arn:aws:sqs:...:dlq",
                     records=[_record("order.created", 9, "c-poison", key="bad")])
    t = trace.build([gave_up], "c-poison", SUBSCRIBERS)
    assert sorted(t.stopped) == [
        "order.created order.created-1@9 has not reached ReserveStockFunction yet (see `devstack status`)",
        "order.created order.created-1@9 went to ChargePaymentFunction's on-failure destination "
        "(`devstack dlq` lists it)"]

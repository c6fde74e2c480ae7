"""Order events reach their owner over the WebSocket relay (order.* → order:* frames)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from websockets.sync.client import connect

from devstack.testing import ADDRESS, Stack

pytestmark = pytest.mark.stack


def test_owner_sees_order_created_and_paid(stack: Stack) -> None:
    """A subscribed customer gets order:created, then order:updated with status paid, for its own order."""
    if not stack.ws_url:
        pytest.skip("the stack runs without the realtime relay")
    token = stack.customer_token("orders-rt")
    r = stack.http("POST", "/api/products", token=stack.admin_token(), json_body={
        "name": "Realtime mug", "description": "ws", "priceCents": 700, "currency": "USD",
        "sku": f"RT-{uuid.uuid4().hex[:12]}", "stock": 3, "category": "test-realtime"})
    assert r.status == 201, r
    with connect(stack.ws_url, open_timeout=20) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        ws.send(json.dumps({"type": "subscribe", "channel": "orders"}))
        while json.loads(ws.recv(timeout=20)).get("type") != "subscribed":
            pass  # "authenticated" first; place the order only once the subscription is live
        placed = stack.http("POST", "/api/orders", token=token, json_body={
            "items": [{"productId": r.json["id"], "quantity": 1}], "shippingAddress": ADDRESS})
        assert placed.status == 201, placed
        oid = placed.json["id"]
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
            if frame.get("type") == "event" and frame["data"].get("orderId") == oid:
                seen.append(frame)
                if frame["event"] == "order:updated" and frame["data"].get("status") == "paid":
                    break
    names = [f["event"] for f in seen]
    assert names[0] == "order:created", names
    paid = [f for f in seen if f["event"] == "order:updated" and f["data"]["status"] == "paid"]
    assert paid and paid[0]["data"]["previousStatus"] == "pending" and paid[0]["data"]["paymentStatus"] == "paid"
    assert all("paymentToken" not in f["data"] for f in seen)

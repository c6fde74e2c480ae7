"""The order routes through the emulated API Gateway: pricing, idempotency, visibility, state machine."""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

import pytest

from devstack.testing import ADDRESS, EVENTUAL, Stack, wait_for

pytestmark = pytest.mark.stack

@pytest.fixture(scope="module")
def alice(stack: Stack) -> str:
    """A customer who places orders in this module."""
    return stack.customer_token("orders-alice")


@pytest.fixture(scope="module")
def bob(stack: Stack) -> str:
    """A second customer, for idempotency keys that clash across customers."""
    return stack.customer_token("orders-bob")


@pytest.fixture(scope="module")
def carol(stack: Stack) -> str:
    """A customer who never orders: the stranger to everyone else's orders."""
    return stack.customer_token("orders-carol")


def order_body(product_id: str, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {"items": [{"productId": product_id, "quantity": quantity}], "shippingAddress": ADDRESS, **extra}


def place(stack: Stack, token: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else None
    r = stack.http("POST", "/api/orders", token=token, json_body=body, headers=headers)
    assert r.status == 201, r
    return r.json


def test_create_prices_from_catalog(stack: Stack, alice: str) -> None:
    """A new order is pending, priced from the catalog with 8% tax, in minor units."""
    token = alice
    pid = stack.new_product(name="Order test mug", priceCents=1250)["id"]
    order = place(stack, token, order_body(pid, 3))
    assert order["status"] == "pending" and order["paymentStatus"] == "pending"
    assert order["items"] == [{"productId": pid, "sku": order["items"][0]["sku"], "name": "Order test mug",
                               "unitPriceCents": 1250, "quantity": 3}]
    assert (order["subtotalCents"], order["taxCents"], order["totalCents"]) == (3750, 300, 4050)
    assert order["currency"] == "USD"
    assert not {"idempotencyKey", "requestHash", "paymentToken", "outbox", "version"} & order.keys()


def test_idempotency_key(stack: Stack, alice: str, bob: str) -> None:
    """Same key and body → same order; same key, other body → 409; keys are per customer."""
    token, other = alice, bob
    pid = stack.new_product()["id"]
    key = uuid.uuid4().hex
    first = place(stack, token, order_body(pid, 1), key)
    again = place(stack, token, order_body(pid, 1), key)
    assert again["id"] == first["id"]
    clash = stack.http("POST", "/api/orders", token=token, json_body=order_body(pid, 2),
                       headers={"Idempotency-Key": key})
    assert clash.status == 409 and clash.json["error"]["code"] == "idempotency_key_reused"
    assert place(stack, other, order_body(pid, 1), key)["id"] != first["id"]
    assert stack.db()["orders"].count_documents({"idempotencyKey": f"{first['buyerId']}:{key}"}) == 1


def test_create_rejections(stack: Stack, alice: str) -> None:
    """Admins 403, anonymous 401, bad bodies 400, unknown products 400, too little stock 409."""
    token = alice
    pid = stack.new_product(stock=2)["id"]
    assert stack.http("POST", "/api/orders", token=stack.admin_token(), json_body=order_body(pid)).status == 403
    assert stack.http("POST", "/api/orders", json_body=order_body(pid)).status == 401
    for bad in (
        {"items": [], "shippingAddress": ADDRESS},
        order_body(pid, 0),
        {"items": [{"productId": pid, "quantity": 1, "unitPriceCents": 1}], "shippingAddress": ADDRESS},
        {"items": [{"productId": pid, "quantity": 1}]},
    ):
        r = stack.http("POST", "/api/orders", token=token, json_body=bad)
        assert r.status == 400 and r.json["error"]["code"] == "validation_error", r
    assert stack.http("POST", "/api/orders", token=token, body=b"{not json").status == 400
    unknown = stack.http("POST", "/api/orders", token=token, json_body=order_body(str(uuid.uuid4())))
    assert unknown.status == 400 and unknown.json["error"]["code"] == "unknown_product"
    short = stack.http("POST", "/api/orders", token=token, json_body=order_body(pid, 3))
    assert short.status == 409 and short.json["error"]["code"] == "insufficient_stock"
    assert short.json["error"]["details"] == [{"productId": pid, "requested": 3, "available": 2}]


def test_visibility_and_listing(stack: Stack, alice: str, carol: str) -> None:
    """Owners and admins see an order, others get 404; lists are own-only, paginated, filterable."""
    bob = carol
    pid = stack.new_product()["id"]
    orders = [place(stack, alice, order_body(pid, 1)) for _ in range(3)]
    oid = orders[0]["id"]
    assert stack.http("GET", f"/api/orders/{oid}", token=alice).json["id"] == oid
    assert stack.http("GET", f"/api/orders/{oid}", token=stack.admin_token()).status == 200
    assert stack.http("GET", f"/api/orders/{oid}", token=bob).status == 404
    assert stack.http("GET", f"/api/orders/{uuid.uuid4()}", token=alice).status == 404
    assert stack.http("GET", "/api/orders", token=bob).json == {"items": [], "nextCursor": None}

    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = stack.http("GET", "/api/orders?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=alice).json
        seen.extend(o["id"] for o in page["items"])
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen))  # no repeats across pages
    mine = {o["id"] for o in orders}
    assert [oid for oid in seen if oid in mine] == [o["id"] for o in reversed(orders)]  # newest first
    assert all(stack.db()["orders"].find_one({"_id": oid})["buyerId"] == orders[0]["buyerId"] for oid in seen)

    stack.http("POST", f"/api/orders/{oid}/cancel", token=alice)
    cancelled = stack.http("GET", "/api/orders?status=cancelled&limit=100", token=stack.admin_token()).json
    assert oid in {o["id"] for o in cancelled["items"]}
    assert all(o["status"] == "cancelled" for o in cancelled["items"])
    assert stack.http("GET", "/api/orders?limit=500", token=alice).status == 400
    assert stack.http("GET", "/api/orders?cursor=%%%", token=alice).status == 400


def test_state_machine_and_cancel(stack: Stack, alice: str, carol: str) -> None:
    """Only admins change status, illegal moves are 409; owners cancel once, strangers get 404."""
    bob = carol
    admin = stack.admin_token()
    pid = stack.new_product()["id"]
    oid = place(stack, alice, order_body(pid))["id"]
    assert stack.http("PATCH", f"/api/orders/{oid}/status", token=alice, json_body={"status": "paid"}).status == 403
    illegal = stack.http("PATCH", f"/api/orders/{oid}/status", token=admin, json_body={"status": "delivered"})
    assert illegal.status == 409 and illegal.json["error"]["code"] == "illegal_transition"
    assert stack.http("PATCH", f"/api/orders/{oid}/status", token=admin, json_body={"status": "lost"}).status == 400
    assert stack.http("POST", f"/api/orders/{oid}/cancel", token=bob).status == 404
    done = stack.http("POST", f"/api/orders/{oid}/cancel", token=alice, json_body={"reason": "changed my mind"})
    assert done.status == 200 and done.json["status"] == "cancelled"
    assert done.json["cancelReason"] == "changed my mind"
    again = stack.http("POST", f"/api/orders/{oid}/cancel", token=alice)
    assert again.status == 409
    assert stack.http("PATCH", f"/api/orders/{oid}/status", token=admin,
                      json_body={"status": "paid"}).status == 409
    events = wait_for(lambda: [e["type"] for e in stack.db()["audit"].find({"key": oid})
                               if e["type"] == "order.cancelled"], timeout=60, message="order.cancelled to be published")
    assert events == ["order.cancelled"]


def wait_order(stack: Stack, order_id: str, status: str) -> None:
    wait_for(lambda: (stack.db()["orders"].find_one({"_id": order_id}) or {}).get("status") == status,
             timeout=EVENTUAL, message=f"order {order_id} to be {status}")


def test_admin_stats(stack: Stack, alice: str) -> None:
    """Revenue counts this test's paid and shipped orders, not its refunded or declined ones; customers get 403."""
    admin = stack.admin_token()
    # A currency no other test uses, so its revenue is made only of the orders placed here.
    currency = "Z" + "".join(random.choices(string.ascii_uppercase, k=2))
    before = stack.http("GET", "/api/admin/stats", token=admin).json["revenueByCurrency"].get(currency, 0)
    pid = stack.new_product(priceCents=1000, currency=currency, stock=10)["id"]
    stack.new_product(stock=1)  # a low-stock product
    paid = place(stack, alice, order_body(pid, 2))["id"]  # 2 x 1000 + 8% tax = 2160
    shipped = place(stack, alice, order_body(pid, 1))["id"]  # 1000 + 8% tax = 1080
    refunded = place(stack, alice, order_body(pid, 1))["id"]
    declined = place(stack, alice, order_body(pid, 1, paymentToken="tok_declined"))["id"]
    for oid in (paid, shipped, refunded):
        wait_order(stack, oid, "paid")
    for status in ("processing", "shipped"):
        assert stack.http("PATCH", f"/api/orders/{shipped}/status", token=admin,
                          json_body={"status": status}).status == 200
    assert stack.http("POST", f"/api/orders/{refunded}/cancel", token=alice).status == 200
    wait_order(stack, declined, "cancelled")
    r = stack.http("GET", "/api/admin/stats", token=admin)
    assert r.status == 200, r
    stats = r.json
    assert stats["revenueByCurrency"][currency] - before == 2160 + 1080
    assert set(stats["ordersByStatus"]) == {"pending", "paid", "processing", "shipped", "delivered", "cancelled"}
    assert stats["lowStockCount"] >= 1
    assert stack.http("GET", "/api/admin/stats", token=alice).status == 403

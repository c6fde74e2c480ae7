"""Inventory routes through the emulated API Gateway: read, admin adjust/restock, low-stock listing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devstack.testing import EVENTUAL, Stack, wait_for

pytestmark = pytest.mark.stack

def adjust(stack: Stack, product_id: str, body: Any, token: str | None = None) -> Any:
    return stack.http("PATCH", f"/api/inventory/{product_id}", token=token or stack.admin_token(), json_body=body)


def updates(stack: Stack, product_id: str) -> list[dict[str, Any]]:
    docs = stack.db()["audit"].find({"type": "inventory.updated", "key": product_id})
    return sorted((d["data"] for d in docs), key=lambda d: d["stock"])


def test_get_inventory_is_public(stack: Stack) -> None:
    """Anyone can read a product's figures; an unknown product is a 404."""
    p = stack.new_product(stock=6)
    r = stack.http("GET", f"/api/inventory/{p['id']}")
    assert r.status == 200, r
    assert {k: r.json[k] for k in ("productId", "sku", "stock", "reserved", "available", "sold")} == {
        "productId": p["id"], "sku": p["sku"], "stock": 6, "reserved": 0, "available": 6, "sold": 0}
    missing = stack.http("GET", f"/api/inventory/{uuid.uuid4()}")
    assert missing.status == 404 and missing.json["error"]["code"] == "not_found"


def test_restock_and_set_publish_previous_and_new(stack: Stack) -> None:
    """A delta restocks, an absolute stock sets the count; each publishes inventory.updated with both figures."""
    p = stack.new_product(stock=3)
    r = adjust(stack, p["id"], {"delta": 7, "note": "delivery"})
    assert r.status == 200 and (r.json["stock"], r.json["available"]) == (10, 10), r
    r = adjust(stack, p["id"], {"stock": 4})
    assert r.status == 200 and r.json["stock"] == 4, r
    wait_for(lambda: len(updates(stack, p["id"])) == 2, timeout=EVENTUAL, message="two inventory.updated events")
    events = updates(stack, p["id"])
    assert [(e["previousStock"], e["stock"]) for e in events] == [(10, 4), (3, 10)]
    assert events[1]["reason"] == "restocked" and events[1]["note"] == "delivery"
    assert events[0]["available"] == 4 and events[0]["sku"] == p["sku"]


def test_adjust_refuses_what_would_go_negative(stack: Stack) -> None:
    """A write-off larger than the stock is a 409 and changes nothing."""
    p = stack.new_product(stock=2)
    r = adjust(stack, p["id"], {"delta": -3})
    assert r.status == 409 and r.json["error"]["code"] == "insufficient_stock", r
    assert stack.http("GET", f"/api/inventory/{p['id']}").json["stock"] == 2


@pytest.mark.parametrize(
    "body",
    [{}, {"delta": 1, "stock": 1}, {"delta": 0}, {"stock": -1}, {"delta": "5"}, {"delta": 1.5}, {"delta": True},
     {"delta": 1, "extra": 1}, {"stock": 10**12}],
)
def test_adjust_rejects_bad_bodies(stack: Stack, body: Any) -> None:
    """Anything but exactly one integer delta/stock is a 400 in the contract's error shape."""
    p = stack.new_product(stock=1)
    r = adjust(stack, p["id"], body)
    assert r.status == 400 and set(r.json["error"]) >= {"code", "message", "details"}, r


def test_adjust_unknown_product_is_404(stack: Stack) -> None:
    """Adjusting a product without an inventory record is a 404."""
    assert adjust(stack, str(uuid.uuid4()), {"delta": 1}).status == 404


def test_adjust_needs_admin(stack: Stack) -> None:
    """Without a token it is 401, with a customer token 403."""
    p = stack.new_product(stock=1)
    assert stack.http("PATCH", f"/api/inventory/{p['id']}", json_body={"delta": 1}).status == 401
    customer = stack.register(f"inv-{uuid.uuid4().hex[:10]}@example.com")
    assert adjust(stack, p["id"], {"delta": 1}, token=customer).status == 403


def test_low_stock_listing(stack: Stack) -> None:
    """?lowStock=true lists products with available < 10 (paged), and not the well-stocked ones."""
    low, high = stack.new_product(stock=3), stack.new_product(stock=50)
    found: set[str] = set()
    cursor: str | None = None
    for _ in range(50):
        path = "/api/inventory?lowStock=true&limit=100" + (f"&cursor={cursor}" if cursor else "")
        r = stack.http("GET", path, token=stack.admin_token())
        assert r.status == 200, r
        assert all(item["available"] < 10 for item in r.json["items"])
        found.update(item["productId"] for item in r.json["items"])
        cursor = r.json["nextCursor"]
        if not cursor:
            break
    assert low["id"] in found and high["id"] not in found
    full = stack.http("GET", "/api/inventory?limit=2", token=stack.admin_token())
    assert full.status == 200 and len(full.json["items"]) == 2 and full.json["nextCursor"]


@pytest.mark.parametrize("query", ["lowStock=perhaps", "limit=0", "cursor=%%%", "other=1"])
def test_inventory_list_rejects_bad_queries(stack: Stack, query: str) -> None:
    """Bad query strings on the admin listing are 400s."""
    assert stack.http("GET", f"/api/inventory?{query}", token=stack.admin_token()).status == 400


GARBAGE: list[bytes] = [
    b"", b"null", b"[]", b"{}", b'"text"', b"\x00\xff\xfe", b"{'single': 'quotes'}",
    b'{"email": {"$gt": ""}, "password": {"$ne": 1}, "name": "x"}',
    b'{"name": "\\u0000", "priceCents": 1e309, "sku": "A", "category": "c"}',
    b'{"delta": 99999999999999999999999999}', b'{"stock": null, "delta": null}',
    b'{"sku": "' + b"A" * 5000 + b'", "name": "n", "priceCents": 1, "category": "c"}',
    b'{"priceCents": [1], "name": {"a": 1}, "active": "true"}',
]


def test_no_input_makes_a_500(stack: Stack) -> None:
    """Garbage bodies and query strings on every route answer 2xx/4xx in the contract shape, and write nothing."""
    p = stack.new_product(stock=1)
    routes = [("POST", "/api/auth/register"), ("POST", "/api/auth/login"), ("GET", "/api/auth/me"),
              ("GET", "/api/products"), ("GET", f"/api/products/{p['id']}"), ("POST", "/api/products"),
              ("PATCH", f"/api/products/{p['id']}"), ("GET", f"/api/inventory/{p['id']}"), ("GET", "/api/inventory"),
              ("PATCH", f"/api/inventory/{p['id']}")]
    queries = ["", "?limit=-1&cursor=%00", "?minPriceCents=99999999999999999999999&search=%5B"]
    before = {c: stack.db()[c].count_documents({}) for c in ("users", "products", "inventory")}
    for method, path in routes:
        for query in queries if method == "GET" else queries[:1]:
            for raw in GARBAGE if method != "GET" else GARBAGE[:3]:
                r = stack.http(method, path + query, token=stack.admin_token(), body=raw,
                               headers={"Content-Type": "application/json"})
                assert r.status < 500, (method, path, query, raw[:60], r)
                if r.status >= 400:
                    assert set(r.json["error"]) >= {"code", "message", "details"}, (method, path, r)
    assert {c: stack.db()[c].count_documents({}) for c in ("users", "products", "inventory")} == before
    assert figures_of(stack, p["id"]) == (1, 0, 1, 0)


def figures_of(stack: Stack, product_id: str) -> tuple[int, int, int, int]:
    j = stack.http("GET", f"/api/inventory/{product_id}").json
    return j["stock"], j["reserved"], j["available"], j["sold"]

"""Catalog routes through the emulated API Gateway: create, update, get, list, and their events."""

from __future__ import annotations

import urllib.parse
import uuid
from typing import Any

import pytest

from devstack.testing import EVENTUAL, Stack, wait_for

pytestmark = pytest.mark.stack

def audited(stack: Stack, event_type: str, key: str) -> list[dict[str, Any]]:
    return list(stack.db()["audit"].find({"type": event_type, "key": key}))


def assert_error(r: Any, status: int, code: str | None = None) -> None:
    assert r.status == status, r
    assert set(r.json["error"]) >= {"code", "message", "details"}, r
    if code is not None:
        assert r.json["error"]["code"] == code, r


def test_create_product_with_inventory_and_event(stack: Stack) -> None:
    """POST creates the product and its inventory record, and publishes product.created once."""
    p = stack.new_product(stock=7, sku=f"t-{uuid.uuid4().hex[:8]}", currency="eur")
    assert p["stock"] == 7 and p["available"] == 7 and p["sku"] == p["sku"].upper() and p["currency"] == "EUR"
    inv = stack.http("GET", f"/api/inventory/{p['id']}")
    assert inv.status == 200 and inv.json["stock"] == 7 and inv.json["sku"] == p["sku"]
    events = wait_for(lambda: audited(stack, "product.created", p["id"]), timeout=EVENTUAL, message="product.created")
    data = events[0]["data"]
    assert (data["productId"], data["sku"], data["stock"], data["priceCents"]) == (p["id"], p["sku"], 7, 1000)
    stored = stack.db()["products"].find_one({"_id": p["id"]})
    assert stored is not None and not stored.get("outbox")


def test_duplicate_sku_is_409_in_any_case(stack: Stack) -> None:
    """SKUs are unique case-insensitively, on create and on update."""
    p = stack.new_product()
    clash = {"name": "Other", "priceCents": 1, "sku": p["sku"].lower(), "category": "testing"}
    assert_error(stack.http("POST", "/api/products", token=stack.admin_token(), json_body=clash), 409, "sku_taken")
    other = stack.new_product()
    r = stack.http("PATCH", f"/api/products/{other['id']}", token=stack.admin_token(), json_body={"sku": p["sku"]})
    assert_error(r, 409, "sku_taken")
    assert stack.db()["products"].count_documents({"sku": p["sku"]}) == 1


def test_update_product_publishes_changed_fields(stack: Stack) -> None:
    """PATCH changes the given fields, keeps the stock, and publishes product.updated with what changed."""
    p = stack.new_product(stock=4)
    r = stack.http("PATCH", f"/api/products/{p['id']}", token=stack.admin_token(),
                   json_body={"priceCents": 1500, "name": p["name"], "category": " Testing-Two "})
    assert r.status == 200, r
    assert (r.json["priceCents"], r.json["category"], r.json["stock"]) == (1500, "testing-two", 4)
    events = wait_for(lambda: audited(stack, "product.updated", p["id"]), timeout=EVENTUAL, message="product.updated")
    data = events[0]["data"]
    assert sorted(data["changedFields"]) == ["category", "priceCents"]
    assert data["priceCents"] == 1500 and "name" not in data
    assert stack.http("GET", f"/api/products/{p['id']}").json["priceCents"] == 1500


@pytest.mark.parametrize(
    "body",
    [{"stock": 10}, {}, {"priceCents": -5}, {"priceCents": "12"}, {"name": None}, {"sku": "bad sku"}, {"foo": 1}],
)
def test_update_rejects_bad_bodies(stack: Stack, body: Any) -> None:
    """PATCH refuses stock, empty bodies, bad values and unknown fields with a 400."""
    p = stack.new_product()
    assert_error(stack.http("PATCH", f"/api/products/{p['id']}", token=stack.admin_token(), json_body=body), 400)


def test_unknown_product_is_404(stack: Stack) -> None:
    """GET and PATCH of a product that does not exist are 404s."""
    missing = str(uuid.uuid4())
    assert_error(stack.http("GET", f"/api/products/{missing}"), 404, "not_found")
    r = stack.http("PATCH", f"/api/products/{missing}", token=stack.admin_token(), json_body={"priceCents": 1})
    assert_error(r, 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "A", "priceCents": 10.5, "sku": "X-1", "category": "c"},
        {"name": "A", "priceCents": 10, "sku": "X-1", "category": "c", "stock": -1},
        {"name": "", "priceCents": 10, "sku": "X-1", "category": "c"},
        {"name": "A", "priceCents": 10, "sku": "X-1"},
        {"name": "A", "priceCents": 10, "sku": "X-1", "category": "c", "currency": "dollars"},
        {"name": "A" * 500, "priceCents": 10, "sku": "X-1", "category": "c"},
        {"name": "A", "priceCents": 10**15, "sku": "X-1", "category": "c"},
    ],
)
def test_create_rejects_bad_bodies(stack: Stack, body: Any) -> None:
    """Invalid products are 400s and nothing is written."""
    before = stack.db()["products"].count_documents({"sku": "X-1"})
    assert_error(stack.http("POST", "/api/products", token=stack.admin_token(), json_body=body), 400)
    assert stack.db()["products"].count_documents({"sku": "X-1"}) == before


def test_oversized_body_is_413(stack: Stack) -> None:
    """A body over the size limit is refused with 413."""
    body = {"name": "A", "priceCents": 1, "sku": "BIG-1", "category": "c", "description": "x" * 200_000}
    assert_error(stack.http("POST", "/api/products", token=stack.admin_token(), json_body=body), 413)


def test_list_search_filters_and_pages(stack: Stack) -> None:
    """Search, category and price filters combine; cursor pages cover every match once, in name order."""
    tag = uuid.uuid4().hex[:8]
    made = [stack.new_product(name=f"{name} Lamp {tag}", priceCents=price, category=f"cat-{tag}")
            for name, price in (("delta", 500), ("Alpha", 100), ("charlie", 300), ("Bravo", 200), ("echo", 900))]
    stack.new_product(name=f"Zulu Lamp {tag}", priceCents=300, category="elsewhere")
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10):
        query = f"/api/products?search=lamp%20{tag}&category=CAT-{tag}&limit=2"
        if cursor:
            query += f"&cursor={cursor}"
        r = stack.http("GET", query)
        assert r.status == 200, r
        assert len(r.json["items"]) <= 2
        seen.extend(r.json["items"])
        cursor = r.json["nextCursor"]
        if cursor is None:
            break
    assert [p["name"].split()[0] for p in seen] == ["Alpha", "Bravo", "charlie", "delta", "echo"]
    assert {p["id"] for p in seen} == {p["id"] for p in made}
    assert all(p["stock"] == 5 and p["available"] == 5 for p in seen)
    ranged = stack.http("GET", f"/api/products?search={tag}&minPriceCents=200&maxPriceCents=500").json["items"]
    assert sorted(p["priceCents"] for p in ranged) == [200, 300, 300, 500]


def test_list_shows_current_stock(stack: Stack) -> None:
    """The listing reflects stock changes made through inventory."""
    p = stack.new_product(stock=2)
    r = stack.http("PATCH", f"/api/inventory/{p['id']}", token=stack.admin_token(), json_body={"delta": 8})
    assert r.status == 200, r
    items = stack.http("GET", f"/api/products?search={p['name'].split()[1]}").json["items"]
    assert [(i["id"], i["stock"]) for i in items] == [(p["id"], 10)]


def test_search_is_literal(stack: Stack) -> None:
    """Regex metacharacters in a search match literally and never error."""
    p = stack.new_product(name=f"Odd (name) [x] {uuid.uuid4().hex[:6]}.*")
    for term in ("(name) [x]", ".*", "\\", "$where", "^"):
        r = stack.http("GET", "/api/products?search=" + urllib.parse.quote(term))
        assert r.status == 200, (term, r)
    hit = stack.http("GET", "/api/products?search=" + urllib.parse.quote("(name) [x]"))
    assert p["id"] in {i["id"] for i in hit.json["items"]}


def test_inactive_products_are_hidden(stack: Stack) -> None:
    """A deactivated product disappears from the public list and GET."""
    p = stack.new_product()
    r = stack.http("PATCH", f"/api/products/{p['id']}", token=stack.admin_token(), json_body={"active": False})
    assert r.status == 200 and r.json["active"] is False
    assert stack.http("GET", f"/api/products/{p['id']}").status == 404
    assert stack.http("GET", f"/api/products?search={p['name'].split()[1]}").json["items"] == []


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=ten", "cursor=not-a-cursor", "minPriceCents=-1", "minPriceCents=9&maxPriceCents=1",
     "sort=price", "maxPriceCents=1e3"],
)
def test_list_rejects_bad_queries(stack: Stack, query: str) -> None:
    """Bad query strings are 400s in the contract's error shape."""
    assert_error(stack.http("GET", f"/api/products?{query}"), 400)


def test_demo_products_are_seeded(stack: Stack) -> None:
    """The run command seeded every demo product (by SKU), across three categories."""
    from shop.catalog.demo import DEMO_PRODUCTS

    skus = {row[4] for row in DEMO_PRODUCTS}
    demo = list(stack.db()["products"].find({"sku": {"$in": sorted(skus)}}))
    assert {d["sku"] for d in demo} == skus and len({d["category"] for d in demo}) >= 3
    assert stack.db()["inventory"].count_documents({"_id": {"$in": [d["_id"] for d in demo]}}) == len(skus)
    page = stack.http("GET", "/api/products?category=books&limit=100").json["items"]
    assert any(i["sku"].startswith("DEMO-BOOK") for i in page)


@pytest.mark.parametrize("path", ["/api/products/bad.id", "/api/products/%24where", "/api/products/" + "a" * 101])
def test_malformed_product_ids_are_400(stack: Stack, path: str) -> None:
    """A path id that cannot be an id is a 400, on reads and on admin writes."""
    assert_error(stack.http("GET", path), 400)
    assert_error(stack.http("PATCH", path, token=stack.admin_token(), json_body={"priceCents": 1}), 400)


def test_unknown_query_parameters_are_400(stack: Stack) -> None:
    """Routes validate their query strings too."""
    p = stack.new_product()
    assert_error(stack.http("GET", f"/api/products/{p['id']}?expand=all"), 400)
    assert_error(stack.http("GET", f"/api/inventory/{p['id']}?x=1"), 400)
    assert_error(stack.http("GET", "/api/auth/me?debug=1", token=stack.admin_token()), 400)


def test_seeding_again_creates_nothing(stack: Stack) -> None:
    """seed_demo_products is idempotent by SKU."""
    from kafka import KafkaProducer
    from pymongo import MongoClient

    from shop import clients
    from shop.catalog.demo import seed_demo_products

    clients.set_clients(mongo=MongoClient(stack.mongodb_uri, tz_aware=True),
                        producer=KafkaProducer(bootstrap_servers=stack.kafka_bootstrap.split(","), acks="all"))
    before = stack.db()["products"].count_documents({"sku": {"$regex": "^DEMO-"}})
    assert seed_demo_products() == 0
    assert stack.db()["products"].count_documents({"sku": {"$regex": "^DEMO-"}}) == before

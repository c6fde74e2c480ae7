"""Catalog request models, pure rules and the pagination cursor (no services)."""

from __future__ import annotations

import re

import pytest

from shop.catalog import domain
from shop.catalog.models import ProductCreate, ProductListQuery, ProductUpdate
from shop.errors import BadRequest
from shop.http import validate
from shop.paging import after, decode_cursor, encode_cursor

GOOD = {"name": " Mug ", "description": "d", "priceCents": 1299, "currency": "eur", "sku": " ab-1 ",
        "stock": 3, "category": " Kitchen "}


def test_create_normalises_fields() -> None:
    """SKU upper-cased, category lower-cased, currency upper-cased, name stripped."""
    body = validate(ProductCreate, GOOD)
    assert (body.name, body.sku, body.category, body.currency) == ("Mug", "AB-1", "kitchen", "EUR")


@pytest.mark.parametrize(
    "patch",
    [
        {"priceCents": 12.5},
        {"priceCents": "1299"},
        {"priceCents": -1},
        {"stock": -1},
        {"currency": "EURO"},
        {"sku": "has space"},
        {"name": "   "},
        {"category": ""},
        {"extra": 1},
        {"active": "yes"},
    ],
)
def test_create_rejects_bad_fields(patch: dict[str, object]) -> None:
    """Wrong types, negative money/stock, bad codes and unknown fields are 400s."""
    with pytest.raises(BadRequest) as info:
        validate(ProductCreate, {**GOOD, **patch})
    assert info.value.status == 400 and info.value.details


def test_update_refuses_stock_empty_and_nulls() -> None:
    """PATCH cannot set stock, cannot be empty and cannot null a field."""
    for payload in ({"stock": 4}, {}, {"name": None}):
        with pytest.raises(BadRequest):
            validate(ProductUpdate, payload)


def test_update_changes_only_given_fields() -> None:
    """changes() holds exactly the fields the client sent, normalised."""
    assert validate(ProductUpdate, {"sku": "x-1", "priceCents": 5}).changes() == {"sku": "X-1", "priceCents": 5}


def test_list_query_parses_strings_and_empties() -> None:
    """Query strings are coerced; empty values count as absent; limit is bounded."""
    q = validate(ProductListQuery, {"limit": "5", "search": "", "minPriceCents": "100"})
    assert (q.limit, q.search, q.minPriceCents) == (5, None, 100)
    assert validate(ProductListQuery, {}).limit == 20
    for bad in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"minPriceCents": "5", "maxPriceCents": "4"},
                {"sort": "name"}):
        with pytest.raises(BadRequest):
            validate(ProductListQuery, bad)


def test_cursor_round_trip_and_rejects_garbage() -> None:
    """A cursor decodes to the key it was made from; anything else is an invalid_cursor 400."""
    cursor = encode_cursor(["mug", "id-1"])
    assert decode_cursor(cursor, (str, str)) == ["mug", "id-1"]
    for bad in ("%%%", "bm90IGpzb24", encode_cursor(["only-one"]), encode_cursor([1, 2]), encode_cursor({"a": 1})):  # type: ignore[list-item]
        with pytest.raises(BadRequest) as info:
            decode_cursor(bad, (str, str))
        assert info.value.code == "invalid_cursor"


def test_after_builds_keyset_filter() -> None:
    """The keyset filter selects strictly later (a, b) pairs."""
    assert after(("_id",), ["x"]) == {"_id": {"$gt": "x"}}
    assert after(("a", "b"), [1, 2]) == {"$or": [{"a": {"$gt": 1}}, {"a": 1, "b": {"$gt": 2}}]}


def test_search_pattern_is_literal() -> None:
    """Regex metacharacters in a search are matched literally."""
    pattern = domain.search_pattern(" a.b (c)* ")
    assert re.search(pattern, "xa.b (c)*y")
    assert not re.search(pattern, "axb (c)")


def test_changed_fields() -> None:
    """Only editable fields that differ count as changes."""
    current = {"name": "A", "priceCents": 1, "stock": 3}
    assert domain.changed_fields(current, {"name": "A", "priceCents": 2, "stock": 9}) == {"priceCents": 2}


def test_demo_products_are_realistic() -> None:
    """8-12 valid demo products in 3 categories, some low (< 10) and one sold out."""
    from shop.catalog.demo import demo_bodies

    bodies = demo_bodies()
    assert 8 <= len(bodies) <= 12 and len({b.category for b in bodies}) == 3
    assert len({b.sku for b in bodies}) == len(bodies)
    assert any(0 < b.stock < 10 for b in bodies) and any(b.stock == 0 for b in bodies)

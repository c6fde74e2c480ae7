"""The OpenAPI document: valid 3.1, one operation per template route, built from the handlers' own models."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from pydantic import BaseModel, ValidationError

from devstack.template import load_app
from shop.catalog.models import ProductCreate, ProductListQuery, ProductUpdate
from shop.errors import BadRequest, ErrorBody
from shop.http import validate
from shop.identity.models import RegisterBody
from shop.inventory.models import AdjustBody
from shop.openapi import build_document
from shop.openapi.routes import ROUTES
from shop.orders import domain as orders_domain
from shop.orders.models import CreateOrder, IdempotencyHeader, OrderStatus, PaymentStatus

ROOT = Path(__file__).resolve().parents[2]
APP = load_app(ROOT / "template.yaml")
DOC = build_document()
METHODS = ("get", "put", "post", "patch", "delete")


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in DOC["paths"].items()
            for method, op in item.items() if method in METHODS}


def test_document_is_valid_openapi_3_1() -> None:
    """The document passes the OpenAPI 3.1 specification validator."""
    assert DOC["openapi"].startswith("3.1")
    validate_openapi(DOC)


def test_every_template_route_is_documented_and_nothing_else() -> None:
    """Each ``Type: Api`` event of template.yaml is one operation, same method and path, and vice versa."""
    template_routes = {(route.method, route.path) for route in APP.routes}
    assert template_routes == set(operations())


def test_public_routes_need_no_token_in_the_document() -> None:
    """``Authorizer: NONE`` in the template ⇔ the operation may be called without the bearer token."""
    ops = operations()
    for route in APP.routes:
        security = ops[(route.method, route.path)].get("security", DOC["security"])
        assert (route.authorizer is None) == ({} in security or security == []), (route.method, route.path)


def _names_in(module: Path) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(module.read_text())) if isinstance(node, ast.Name)}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method.upper()} {r.path}")
def test_handler_validates_with_the_documented_models(route: Any) -> None:
    """The handler behind each operation names the body, query, path and header models the document shows.

    Responses are checked where they are made: the fuzzing validates every answer of the running
    handlers against the document.
    """
    (function,) = [r.function for r in APP.routes if (r.method, r.path) == (route.method.upper(), route.path)]
    spec = APP.functions[function]
    module = spec.code_dir / (spec.handler.rsplit(".", 1)[0] + ".py")
    used = _names_in(module)
    for model in (route.body, route.query, route.path_params, route.headers):
        if model is not None:
            assert model.__name__ in used, f"{module.name} does not validate with {model.__name__}"


def test_error_responses_have_the_error_shape() -> None:
    """Every documented error is the contract's error shape, the one ShopError writes."""
    ErrorBody.model_validate(BadRequest("bad", details=[{"field": "x"}]).to_body())
    shape = DOC["components"]["schemas"]["ErrorBody"]
    assert shape["required"] == ["error"]
    for response in DOC["components"]["responses"].values():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


def test_bearer_scheme_and_idempotency_header() -> None:
    """The bearer JWT scheme applies by default; POST /api/orders takes an optional Idempotency-Key header."""
    assert DOC["components"]["securitySchemes"]["bearerAuth"] == {
        **DOC["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert DOC["security"] == [{"bearerAuth": []}]
    (header,) = [p for p in operations()[("POST", "/api/orders")]["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["required"] is False
    assert IdempotencyHeader.model_fields["key"].alias == "Idempotency-Key"


def test_links_chain_product_to_cancelled_order() -> None:
    """Links lead from a created product to reading it and ordering it, and from an order to reading and cancelling."""
    ops = operations()
    product_links = ops[("POST", "/api/products")]["responses"]["201"]["links"]
    order_links = ops[("POST", "/api/orders")]["responses"]["201"]["links"]
    targets = {link["operationId"] for link in [*product_links.values(), *order_links.values()]}
    assert {"GetProduct", "CreateOrder", "GetOrder", "CancelOrder"} <= targets
    assert {op["operationId"] for op in ops.values()} >= targets


def test_status_enums_match_the_domain() -> None:
    """The document's order and payment statuses are the state machine's."""
    assert get_args(OrderStatus) == orders_domain.STATUSES
    assert set(get_args(PaymentStatus)) == set(orders_domain.PAYMENT_TRANSITIONS)


def _component(name: str) -> dict[str, Any]:
    """A component schema, standalone (its references point into the same object)."""
    schemas = json.loads(json.dumps(DOC["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/"))
    return {"$defs": schemas, "$ref": f"#/$defs/{name}"}


def _pydantic_accepts(model: type[BaseModel], payload: Any) -> bool:
    try:
        model.model_validate(payload)
    except ValidationError:
        return False
    return True


def _document_accepts(name: str, payload: Any) -> bool:
    return jsonschema.Draft202012Validator(_component(name)).is_valid(payload)


ADDRESS = {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "country": "NO"}
PRODUCT = {"name": "Mug", "priceCents": 1299, "sku": "AB-1", "category": "kitchen"}


@pytest.mark.parametrize(("model", "payload"), [
    (ProductCreate, PRODUCT),
    (ProductCreate, {**PRODUCT, "priceCents": 1299.0}),            # JSON Schema: 1299.0 is an integer
    (ProductCreate, {**PRODUCT, "priceCents": 12.5}),
    (ProductCreate, {**PRODUCT, "priceCents": "1299"}),
    (ProductCreate, {**PRODUCT, "priceCents": True}),
    (ProductCreate, {**PRODUCT, "name": "   "}),                    # blank
    (ProductCreate, {**PRODUCT, "name": " " + "x" * 199 + " "}),   # 201 as sent: too long
    (ProductCreate, {**PRODUCT, "sku": " ab-1 "}),                  # codes may come with spaces around
    (ProductCreate, {**PRODUCT, "sku": "a b"}),
    (ProductCreate, {**PRODUCT, "currency": " eur "}),
    (ProductCreate, {**PRODUCT, "currency": "EURO"}),
    (ProductUpdate, {"active": False}),
    (ProductUpdate, {}),
    (ProductUpdate, {"name": None}),
    (AdjustBody, {"delta": 5}),
    (AdjustBody, {"stock": 0}),
    (AdjustBody, {"delta": 0}),
    (AdjustBody, {"delta": 5, "stock": 5}),
    (AdjustBody, {"delta": None, "stock": 5}),
    (AdjustBody, {}),
    (RegisterBody, {"email": "a@b.co", "password": "long-enough", "name": "A"}),
    (RegisterBody, {"email": " A@B.co ", "password": "long-enough", "name": "A"}),
    (RegisterBody, {"email": "not-an-address", "password": "long-enough", "name": "A"}),
    (RegisterBody, {"email": "a@b.co", "password": "long-enough", "name": " "}),
    (CreateOrder, {"items": [{"productId": "p", "quantity": 2}], "shippingAddress": ADDRESS}),
    (CreateOrder, {"items": [{"productId": "p", "quantity": 2.0}], "shippingAddress": ADDRESS}),
    (CreateOrder, {"items": [{"productId": "p", "quantity": "2"}], "shippingAddress": ADDRESS}),
    (CreateOrder, {"items": [{"productId": " ", "quantity": 1}], "shippingAddress": ADDRESS}),
    (CreateOrder, {"items": [], "shippingAddress": ADDRESS}),
])
def test_document_and_model_agree(model: type[BaseModel], payload: Any) -> None:
    """A body the document calls valid is one the handler's model accepts, and the other way round."""
    assert _document_accepts(model.__name__, payload) == _pydantic_accepts(model, payload)


WHITESPACE_AND_LOOKALIKES = [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["\ufeff", "\u200b", "x"]


@pytest.mark.parametrize("char", WHITESPACE_AND_LOOKALIKES, ids=lambda c: f"U+{ord(c):04X}")
def test_document_and_model_agree_on_every_whitespace(char: str) -> None:
    """Blank text and spaces around codes mean the same characters to the document and to the model."""
    for payload in ({**PRODUCT, "name": char * 3}, {**PRODUCT, "sku": f"{char}AB-1{char}"},
                    {**PRODUCT, "currency": f"{char}eur"}):
        assert _document_accepts("ProductCreate", payload) == _pydantic_accepts(ProductCreate, payload), payload
    register = {"email": f"{char}a@b.co", "password": "long-enough", "name": "A"}
    assert _document_accepts("RegisterBody", register) == _pydantic_accepts(RegisterBody, register)


def test_rules_the_document_cannot_state_have_their_own_error_types() -> None:
    """A price range upside down and a product listed twice are refused with types of their own."""
    with pytest.raises(BadRequest) as low_high:
        validate(ProductListQuery, {"minPriceCents": "9", "maxPriceCents": "1"})
    assert [d["type"] for d in low_high.value.details] == ["price_range"]
    twice = {"items": [{"productId": "p", "quantity": 1}] * 2, "shippingAddress": ADDRESS}
    assert _document_accepts("CreateOrder", twice)
    with pytest.raises(BadRequest) as duplicate:
        validate(CreateOrder, twice)
    assert [d["type"] for d in duplicate.value.details] == ["duplicate_product"]


def test_devstack_openapi_writes_the_document(tmp_path: Path) -> None:
    """``dev.py openapi -o FILE --server URL`` writes the served document with that server."""
    from devstack.cli import main

    out = tmp_path / "openapi.json"
    assert main(["openapi", "-o", str(out), "--server", "https://shop.example"]) == 0
    written = json.loads(out.read_text())
    assert written.pop("servers") == [{"url": "https://shop.example"}]
    assert written == DOC

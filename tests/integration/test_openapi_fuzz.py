"""Schemathesis fuzzes every operation of the OpenAPI document against the real local stack.

Each operation gets a bounded number of generated requests (valid and invalid ones), sent once
with a customer's token and once with the admin's; then a state machine follows the document's
links (create a product, read it, order it, read the order, cancel it). Every answer must be a
non-5xx that conforms to the document: a documented status, JSON, and a body of the documented
shape.

Two of Schemathesis' checks are replaced or left out, for reasons the document cannot change:
- ``positive_data_acceptance`` wants every schema-valid request accepted, but some requests are
  well-formed and still wrong (an unknown product, a cursor this API never handed out: 400 with
  their own codes). :func:`valid_input_passes_validation` checks the part that is the document's
  job: input the document calls valid never fails the handler's own validation, except for
  the rules JSON Schema cannot state, which carry their own error types.
- ``unsupported_method`` wants 405 for an undeclared method; API Gateway answers that with its
  ``MISSING_AUTHENTICATION_TOKEN`` response, one status for an unknown path and an unknown method
  alike (the template maps it to 404 ``route_not_found``), and the emulator does the same.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis.errors import FlakyStrategyDefinition

from devstack.testing import Stack
from shop.openapi import build_document
from shop.openapi.routes import ROUTES

pytestmark = pytest.mark.stack

#: Generated requests per operation and role (the whole module stays within about two minutes).
MAX_EXAMPLES = 10
#: Scenarios the state machine runs along the links, and how many times it may start over to get
#: through the whole chain.
STATEFUL_EXAMPLES = 20
STATEFUL_RUNS = 3
CHAIN = {"read product", "ordered product", "read order", "cancelled order"}

#: Seconds one request may take on a loaded 2-core machine (a worker's cold start included).
REQUEST_TIMEOUT = 60

#: Validation rules JSON Schema cannot state; their errors carry these types instead of a field's.
UNSTATABLE_RULES = {"price_range", "duplicate_product"}

ACCESS = {(route.method.upper(), route.path): route.access for route in ROUTES}



def _schema(**generation: Any) -> Any:
    """The document for Schemathesis; the tests send the tokens themselves (the role decides)."""
    return schemathesis.openapi.from_dict(build_document(), config=schemathesis.Config.from_dict({
        "generation": {"max-examples": MAX_EXAMPLES, "with-security-parameters": False, **generation},
        "checks": {"positive_data_acceptance": {"enabled": False}, "unsupported_method": {"enabled": False}},
        # Undeclared methods answer as unknown routes (see above): no need to send them.
        # The state machine follows the document's own links only (none inferred).
        "phases": {"coverage": {"unexpected-methods": []}, "stateful": {"inference": {"algorithms": []}}},
        "suppress-health-check": ["all"],
    }))


schema = _schema()
#: The links are followed with valid requests only (invalid ones are the stateless test's job).
links_schema = _schema(mode="positive")


@schemathesis.check
def valid_input_passes_validation(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                                  case: schemathesis.Case) -> bool | None:
    """Input the document calls valid is never refused by the handler's validation."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code != 400:
        return None
    error = response.json()["error"]
    if error["code"] != "validation_error":
        return None  # well-formed but wrong: unknown product, foreign cursor, mixed currencies
    unstated = [d for d in error["details"] if d.get("type") not in UNSTATABLE_RULES]
    assert not unstated, f"the document calls this input valid, the handler does not: {unstated}"
    return None


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> dict[str, str]:
    """A fresh customer's token and the admin's."""
    return {"customer": stack.customer_token("fuzz"), "admin": stack.admin_token()}


@pytest.fixture(scope="module", params=["customer", "admin"])
def auth(request: pytest.FixtureRequest, tokens: dict[str, str]) -> dict[str, str]:
    """The Authorization header of the customer, then of the admin."""
    return {"Authorization": f"Bearer {tokens[request.param]}"}


def test_served_document_is_the_generated_one(stack: Stack) -> None:
    """GET /api/openapi.json (public) serves the document fuzzed here."""
    r = stack.http("GET", "/api/openapi.json")
    assert r.status == 200 and r.headers["Content-Type"] == "application/json", r
    assert r.json == build_document()


@schema.parametrize()
def test_every_operation(case: Any, stack: Stack, auth: dict[str, str]) -> None:
    """No input makes the API fail (5xx), and every answer conforms to the document."""
    case.call_and_validate(base_url=stack.api_url, headers=auth, timeout=REQUEST_TIMEOUT)


def test_links_create_get_order_read_cancel(stack: Stack, tokens: dict[str, str]) -> None:
    """Following the links, products are created, read and ordered, and orders read and cancelled."""
    seen: dict[str, set[str]] = {"products": set(), "ordered": set(), "orders": set()}
    reached: set[str] = set()

    class Links(links_schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            # The admin creates products and reads them (drafts too); the customer orders.
            role = "admin" if ACCESS[(case.method.upper(), case.path)] in ("admin", "public") else "customer"
            return {"base_url": stack.api_url, "headers": {"Authorization": f"Bearer {tokens[role]}"},
                    "timeout": REQUEST_TIMEOUT}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            step, status = (case.method.upper(), case.path), response.status_code
            body = response.json() if status < 300 else None
            if step == ("POST", "/api/products") and status == 201:
                seen["products"].add(body["id"])
            elif step == ("GET", "/api/products/{id}") and status == 200 and body["id"] in seen["products"]:
                reached.add("read product")
            elif step == ("POST", "/api/orders") and status == 201:
                if {item["productId"] for item in body["items"]} & seen["products"]:
                    reached.add("ordered product")
                    seen["orders"].add(body["id"])
            elif step == ("GET", "/api/orders/{id}") and status == 200 and body["id"] in seen["orders"]:
                reached.add("read order")
            elif step == ("POST", "/api/orders/{id}/cancel") and status == 200 and body["id"] in seen["orders"]:
                reached.add("cancelled order")

    settings = hypothesis.settings(max_examples=STATEFUL_EXAMPLES, deadline=None,
                                   suppress_health_check=list(hypothesis.HealthCheck))
    for _ in range(STATEFUL_RUNS):
        try:
            Links.run(settings=settings)
        except FlakyStrategyDefinition:
            # The API is stateful: a replayed prefix meets a SKU it already took (409), so Hypothesis sees
            # other bundles than the first time. Schemathesis' own runner treats this as a pass too.
            pass
        if len(reached) == len(CHAIN):
            break
    assert reached == CHAIN


def test_path_with_a_newline_is_answered_in_the_error_shape(stack: Stack) -> None:
    """Found by the fuzzing: an encoded newline in a path parameter reached no route (a plain-text 404)."""
    r = stack.http("GET", "/api/inventory/a%0Ab")
    assert r.status == 400 and r.headers["Content-Type"] == "application/json", r
    assert r.json["error"]["code"] == "validation_error"


def test_long_url_is_answered_in_the_error_shape(stack: Stack) -> None:
    """Found by the fuzzing: a request line over 8190 bytes got the HTTP server's plain-text 400."""
    r = stack.http("GET", "/api/products?" + "&".join(f"maxPriceCents=x{i:04d}" for i in range(1000)))
    assert r.status == 400 and r.headers["Content-Type"] == "application/json", r
    assert r.json["error"]["code"] == "validation_error"

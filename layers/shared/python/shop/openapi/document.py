"""Build the OpenAPI 3.1 document from :data:`shop.openapi.routes.ROUTES` with pydantic's JSON Schema.

Request bodies are described in pydantic's ``validation`` mode (what the handler accepts) and
responses in ``serialization`` mode (what it writes). Query, path and header parameters are the
fields of their models, one parameter each; a parameter cannot be ``null`` on the wire, so the
``null`` branch of an optional field is dropped (absent is how a client leaves it out).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shop.errors import ErrorBody
from shop.openapi.models import OpenApiDocument
from shop.openapi.routes import ROUTES, Route

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
REF_TEMPLATE = "#/components/schemas/{model}"
JSON = "application/json"
SECURITY_SCHEME = "bearerAuth"

#: The error answers, each in the contract's error shape: (component name, description).
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request is malformed or fails validation; `details` names each bad field."),
    401: ("Unauthorized", "No bearer token, an invalid or expired one, or (login) bad credentials."),
    403: ("Forbidden", "The caller's role may not do this."),
    404: ("NotFound", "No such resource, or not the caller's to see."),
    409: ("Conflict", "The request clashes with the current state (taken, illegal transition, stock)."),
    413: ("PayloadTooLarge", "The request body is over the size limit."),
    429: ("TooManyRequests", "Too many failed logins for this account or source; `Retry-After` says when to retry."),
    503: ("Unavailable", "A dependency of the API (the database) cannot be reached; retry later."),
}

DESCRIPTION = """\
The HTTP API of the serverless shop (API Gateway REST, one Lambda function per route).

JSON in, JSON out. Every error is `{"error": {"code", "message", "details"}}` with its status.
Money is integer minor units (`priceCents`) plus `currency`. Lists take `?limit=` (1-100,
default 20) and an opaque `cursor`, and answer `{"items": [...], "nextCursor": ...}`.
Routes other than the public ones need `Authorization: Bearer <JWT>` from register or login;
the role (`customer` or `admin`) comes only from the signed token.
"""

ACCESS_NOTE = {
    "public": "Public (no token needed).",
    "user": "Any signed-in user.",
    "customer": "Customers only (admins get 403).",
    "admin": "Admins only.",
}


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as a parameter: just ``X`` (null cannot be sent in a query, path or header)."""
    out = dict(schema)
    branches = out.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches:
        rest = [b for b in branches if b != {"type": "null"}]
        del out["anyOf"]
        out = {**(rest[0] if len(rest) == 1 else {"anyOf": rest}), **out}
    if out.get("default", ...) is None:
        del out["default"]
    out.pop("title", None)
    return out


def _allows_null(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    return kinds == "null" or (isinstance(kinds, list) and "null" in kinds) or any(
        _allows_null(branch) for branch in schema.get("anyOf", ()) if isinstance(branch, dict))


def _drop_null_defaults(node: Any) -> Any:
    """Remove ``"default": null`` where null is not allowed (fields that are absent, never null)."""
    if isinstance(node, dict):
        out = {k: _drop_null_defaults(v) for k, v in node.items()}
        if "default" in out and out["default"] is None and not _allows_null(out):
            del out["default"]
        return out
    if isinstance(node, list):
        return [_drop_null_defaults(v) for v in node]
    return node


def _parameters(model: type[BaseModel], where: Literal["query", "path", "header"],
                schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """One OpenAPI parameter per field of ``model`` (by alias), with the field's JSON Schema."""
    full = model.model_json_schema(ref_template=REF_TEMPLATE, by_alias=True)
    schemas.update(full.get("$defs", {}))
    required = set(full.get("required", ()))
    params = []
    for name, prop in full.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required,
                                 "schema": _strip_null(prop)}
        description = prop.get("description")
        if description:
            param["description"] = description
        params.append(param)
    return params


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _operation(route: Route, refs: Mapping[Any, dict[str, Any]],
               schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "description": ACCESS_NOTE[route.access],
        "tags": [route.tag],
    }
    if route.access == "public":
        op["security"] = [{}, {SECURITY_SCHEME: []}] if route.optional_auth else []
    params = []
    if route.path_params is not None:
        params += _parameters(route.path_params, "path", schemas)
    if route.query is not None:
        params += _parameters(route.query, "query", schemas)
    if route.headers is not None:
        params += _parameters(route.headers, "header", schemas)
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": route.body_required, "content": _json(refs[(route.body, "validation")])}
    success: dict[str, Any] = {"description": route.summary, "content": _json(refs[(route.response, "serialization")])}
    if route.links:
        success["links"] = {
            name: {"operationId": link.operation_id,
                   **({"parameters": link.parameters} if link.parameters else {}),
                   **({"requestBody": link.request_body} if link.request_body is not None else {})}
            for name, link in route.links.items()
        }
    responses: dict[str, Any] = {str(route.status): success}
    for status in sorted(_error_statuses(route)):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    op["responses"] = responses
    return op


def _error_statuses(route: Route) -> set[int]:
    """The errors a route can answer: implied by its request's shape and access, plus its own."""
    statuses = set(route.errors)
    if any(m is not None for m in (route.body, route.query, route.path_params, route.headers)):
        statuses.add(400)
    if route.access != "public":
        statuses.add(401)
    if route.access in ("customer", "admin"):
        statuses.add(403)
    if route.path_params is not None:
        statuses.add(404)
    if route.body is not None:
        statuses.add(413)
    return statuses


def build_document(routes: tuple[Route, ...] = ROUTES, *, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (with ``servers`` when ``server_url`` is given)."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for route in routes:
        if route.body is not None:
            wanted.append((route.body, "validation"))
        wanted.append((route.response, "serialization"))
    refs, defs = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = _drop_null_defaults(defs.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method] = _operation(route, refs, schemas)
    error_schema = refs[(ErrorBody, "serialization")]
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Serverless shop API", "version": API_VERSION, "description": DESCRIPTION},
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    doc |= {
        "security": [{SECURITY_SCHEME: []}],
        "tags": [{"name": tag} for tag in dict.fromkeys(route.tag for route in routes)],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": {name: {"description": text, "content": _json(error_schema)}
                          for name, text in ERRORS.values()},
            "securitySchemes": {SECURITY_SCHEME: {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "The token from POST /api/auth/register or /api/auth/login.",
            }},
        },
    }
    return doc


@functools.cache
def document() -> OpenApiDocument:
    """The document as GET /api/openapi.json serves it (built once per process)."""
    return OpenApiDocument.model_validate(build_document())

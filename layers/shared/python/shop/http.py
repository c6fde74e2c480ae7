"""Thin-handler plumbing for API Gateway (REST, payload v1.0) functions.

A handler is ``@api_handler`` over ``fn(request) -> (status, body)``. The decorator parses the
event through Powertools' typed view, turns :class:`shop.errors.ShopError` and pydantic
validation errors into the contract's error shape, and adds CORS and JSON headers.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ValidationError
from pymongo.errors import ConnectionFailure

from shop.auth import tokens
from shop.auth.caller import ROLES, Caller
from shop.config import get_settings
from shop.errors import BadRequest, Forbidden, PayloadTooLarge, ServiceUnavailable, ShopError, Unauthorized
from shop.observability import bind_correlation_id, observe

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class Request:
    """A typed view of one API Gateway proxy event, with the helpers handlers need."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.raw = event
        self.event = APIGatewayProxyEvent(event)

    @property
    def correlation_id(self) -> str:
        header = self.header("x-correlation-id")
        if header:
            return header[:128]
        return str(self.event.request_context.request_id or "")

    def header(self, name: str) -> str | None:
        headers = self.event.headers or {}
        lowered = name.lower()
        for key, value in headers.items():
            if key.lower() == lowered:
                return value
        return None

    def path_param(self, name: str) -> str:
        value = (self.event.path_parameters or {}).get(name)
        if not value:
            raise BadRequest(f"path parameter {name!r} is missing")
        return value

    def query(self) -> dict[str, str]:
        return dict(self.event.query_string_parameters or {})

    @property
    def caller(self) -> Caller | None:
        ctx = self.raw.get("requestContext", {}).get("authorizer") or {}
        user_id = ctx.get("userId") or ctx.get("principalId")
        role = ctx.get("role")
        if not user_id or role not in ROLES:
            return None
        return Caller(user_id=str(user_id), role=str(role), email=str(ctx.get("email", "")))

    def token_caller(self) -> Caller | None:
        """On a public route (no authorizer): whom a valid bearer token names, else ``None`` (anonymous)."""
        header = self.header("authorization")
        if header is None:
            return None
        try:
            claims = tokens.verify(tokens.bearer(header))
        except Unauthorized:
            return None
        return Caller(user_id=claims.user_id, role=claims.role, email=claims.email)

    def require_caller(self) -> Caller:
        caller = self.caller
        if caller is None:
            raise Unauthorized("authentication required")
        return caller

    def require_admin(self) -> Caller:
        caller = self.require_caller()
        if not caller.is_admin:
            raise Forbidden("admin role required")
        return caller

    def body_bytes(self) -> bytes:
        body = self.raw.get("body")
        if body is None:
            return b""
        data = base64.b64decode(body) if self.raw.get("isBase64Encoded") else str(body).encode()
        if len(data) > get_settings().max_body_bytes:
            raise PayloadTooLarge(f"body is {len(data)} bytes; the limit is {get_settings().max_body_bytes}")
        return data

    def json(self) -> Any:
        data = self.body_bytes()
        if not data.strip():
            raise BadRequest("request body is missing; send a JSON object", code="invalid_json")
        try:
            return json.loads(data)
        except RecursionError as exc:
            raise BadRequest("request body is nested too deeply", code="invalid_json") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"request body is not valid JSON: {exc}", code="invalid_json") from exc

    def parse(self, model: type[M]) -> M:
        """Validate the JSON body against ``model`` (400 with the failing fields on error)."""
        payload = self.json()
        if not isinstance(payload, dict):
            raise BadRequest("request body must be a JSON object", code="invalid_json")
        return validate(model, payload)

    def parse_query(self, model: type[M]) -> M:
        return validate(model, self.query())

    def parse_headers(self, model: type[M]) -> M:
        """Validate the headers ``model`` names (by alias, any case); absent ones are left out."""
        names = [info.alias or name for name, info in model.model_fields.items()]
        return validate(model, {name: value for name in names if (value := self.header(name)) is not None})


def validate(model: type[M], payload: Any) -> M:
    """``model.model_validate`` with the errors mapped to a 400 that names each bad field."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        fields = ", ".join(d["field"] or "body" for d in details)
        raise BadRequest(f"invalid {fields}", details=details) from exc


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway proxy response with a JSON body and CORS headers.

    A pydantic ``body`` (the routes' response models) is written with the fields it was given.
    """
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", exclude_unset=True)
    out_headers = {
        "Content-Type": "application/json",
        "Access-Control-Allow-Origin": get_settings().cors_allow_origin,
    }
    if headers:
        out_headers.update(headers)
    return {
        "statusCode": status,
        "headers": out_headers,
        "body": "" if body is None else json.dumps(body, separators=(",", ":"), default=str),
        "isBase64Encoded": False,
    }


def error_response(exc: ShopError) -> dict[str, Any]:
    """The contract's error shape for ``exc``, with ``Retry-After`` when the error says when to retry."""
    return response(exc.status, exc.to_body(), {"Retry-After": str(exc.retry_after)} if exc.retry_after else None)


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def api_handler(fn: Callable[[Request], tuple[int, Any]]) -> Handler:
    """Wrap a use-case adapter into a Lambda handler for API Gateway proxy events.

    Every line logged while it runs carries the request's correlation id (see :mod:`shop.observability`).
    """

    @observe
    @functools.wraps(fn)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request = Request(event)
        bind_correlation_id(request.correlation_id)
        try:
            status, body = fn(request)
            return response(status, body)
        except ShopError as exc:
            if exc.status >= 500:
                log.error("request failed: %s", exc.message)
            return error_response(exc)
        except ConnectionFailure as exc:  # the database is away (restarting): a quick 503, not a 500
            log.warning("database unreachable in %s: %s", fn.__name__, exc)
            return error_response(ServiceUnavailable("the database is unreachable; retry in a few seconds"))
        except Exception:
            log.exception("unhandled error in %s", fn.__name__)
            return response(500, ShopError("internal error").to_body())

    return handler

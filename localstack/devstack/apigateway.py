"""The emulated API Gateway: a REST API (proxy integration, payload format 1.0) on aiohttp.

Built from small single-purpose pieces: :class:`RouteMatcher` (template paths → routes),
:func:`build_proxy_event` (the exact v1.0 event), :class:`AuthorizerGate` (Lambda TOKEN
authorizers with a result cache) and :func:`to_http_response` (the function's answer back to
HTTP). Status codes follow API Gateway: unknown route 403 "Missing Authentication Token",
authorizer 401/403, handler error or malformed response 502, integration timeout 504.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from devstack.lambda_runtime import FunctionTimeout, InvocationError, LambdaRuntime
from devstack.logfiles import JsonLog, now_iso
from devstack.template import ApiRoute, App, Authorizer, GatewayResponse
from shop.forwarded import Network, source_ip
from shop.forwarded import trusted_networks as trusted_networks  # the supervisor reads it here

if TYPE_CHECKING:
    from devstack.metrics import RuntimeMetrics

log = logging.getLogger("devstack.apigateway")

API_ID = "localapi01"
MAX_PAYLOAD = 10 * 1024 * 1024
#: Longest request line or header the local gateway reads (aiohttp defaults to 8190 bytes).
MAX_LINE = 64 * 1024
#: API Gateway's REST integration timeout.
INTEGRATION_TIMEOUT = 29.0
#: What a request learns on its way through, for the access log.
REQUEST_ID = web.RequestKey("request_id", str)
FUNCTION = web.RequestKey("function", str)
LAMBDA_REQUEST_ID = web.RequestKey("lambda_request_id", str)


@dataclass(frozen=True)
class Match:
    route: ApiRoute
    path_parameters: dict[str, str]


class RouteMatcher:
    """Matches request paths against the template's resource paths, most specific first."""

    def __init__(self, routes: list[ApiRoute]) -> None:
        compiled = []
        for route in routes:
            literal = 0
            parts = []
            for segment in route.path.strip("/").split("/"):
                m = re.fullmatch(r"\{(\w+)(\+?)\}", segment)
                if m and m.group(2):
                    parts.append(f"(?P<{m.group(1)}>.+)")
                elif m:
                    parts.append(f"(?P<{m.group(1)}>[^/]+)")
                else:
                    literal += 1
                    parts.append(re.escape(segment))
            # A parameter may hold any character but "/" (a decoded %0A too), so DOTALL and fullmatch.
            pattern = re.compile("/" + "/".join(parts) + "/?", re.DOTALL)
            compiled.append((literal, route, pattern))
        compiled.sort(key=lambda item: -item[0])
        self._routes = compiled

    def paths_matching(self, path: str) -> list[Match]:
        out = []
        for _, route, pattern in self._routes:
            m = pattern.fullmatch(path)
            if m:
                out.append(Match(route, {k: v for k, v in m.groupdict().items()}))
        return out

    def match(self, method: str, path: str) -> Match | None:
        candidates = self.paths_matching(path)
        if not candidates:
            return None
        best_resource = candidates[0].route.path
        for candidate in candidates:
            if candidate.route.path != best_resource:
                continue
            if candidate.route.method in (method, "ANY"):
                return candidate
        return None


def _request_time(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def build_proxy_event(
    *,
    method: str,
    path: str,
    resource: str,
    stage: str,
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]],
    path_parameters: dict[str, str],
    body: bytes,
    source_ip: str,
    authorizer: dict[str, Any] | None,
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The API Gateway REST proxy event (payload format 1.0), field for field."""
    ts = time.time() if now is None else now
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    is_binary = False
    text_body: str | None = None
    if body:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body = base64.b64encode(body).decode()
            is_binary = True
    rid = request_id or str(uuid.uuid4())
    user_agent = single_headers.get("User-Agent") or single_headers.get("user-agent")
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": API_ID,
            "authorizer": authorizer,
            "domainName": single_headers.get("Host", "localhost"),
            "domainPrefix": single_headers.get("Host", "localhost").split(".")[0].split(":")[0],
            "extendedRequestId": rid.replace("-", "")[:16] + "=",
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": source_ip,
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
                "apiKey": None,
                "apiKeyId": None,
                "clientCert": None,
            },
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": rid,
            "requestTime": _request_time(ts),
            "requestTimeEpoch": int(ts * 1000),
            "resourceId": format(abs(hash(resource)) % (36**6), "x")[:6],
            "resourcePath": resource,
            "stage": stage,
        },
        "body": text_body,
        "isBase64Encoded": is_binary,
    }


def _json_error(status: int, message: str | None, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"message": message}, status=status, headers=headers or {})


def render_gateway_response(response: GatewayResponse, *, kind: str, status: int, message: str | None,
                            request_id: str) -> web.Response:
    """A ``GatewayResponses`` entry rendered with the ``$context`` variables API Gateway offers."""
    template = response.templates.get("application/json")
    if template is None:
        body = json.dumps({"message": message})
    else:
        values = {
            "$context.error.messageString": json.dumps(message),
            "$context.error.message": message or "",
            "$context.error.responseType": kind,
            "$context.requestId": request_id,
        }
        body = re.sub(r"\$context\.[A-Za-z.]+", lambda m: values.get(m.group(0), ""), template)
    headers = {"Content-Type": "application/json", **response.headers}
    return web.Response(status=response.status or status, text=body, headers=headers)


class AuthorizerGate:
    """Runs a TOKEN authorizer before the integration, caching policies per token for ReauthorizeEvery."""

    def __init__(self, runtime: LambdaRuntime) -> None:
        self.runtime = runtime
        self._cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    async def check(self, auth: Authorizer, token: str | None, method_arn: str) -> tuple[int, dict[str, Any] | None]:
        """(0, context) when allowed, else the HTTP status API Gateway answers with."""
        if not token:
            return 401, None
        key = (auth.name, token)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached and cached[0] > now:
            policy = cached[1]
        else:
            event = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
            try:
                inv = await self.runtime.invoke(auth.function, event)
            except InvocationError as exc:
                if exc.error_message == "Unauthorized":
                    return 401, None
                log.error("authorizer %s failed: %s", auth.function, exc)
                return 500, None
            policy = inv.result if isinstance(inv.result, dict) else {}
            if auth.ttl_seconds > 0:
                self._cache[key] = (now + auth.ttl_seconds, policy)
        if not _allows(policy, method_arn):
            return 403, None
        context = {str(k): v for k, v in (policy.get("context") or {}).items()}
        context["principalId"] = policy.get("principalId")
        context["integrationLatency"] = 0
        return 0, context


def _allows(policy: dict[str, Any], method_arn: str) -> bool:
    statements = (policy.get("policyDocument") or {}).get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for st in statements:
        resources = st.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(_arn_match(r, method_arn) for r in resources):
            if st.get("Effect") == "Deny":
                return False
            if st.get("Effect") == "Allow":
                allowed = True
    return allowed


def _arn_match(pattern: str, arn: str) -> bool:
    """IAM's wildcards on a method ARN: ``*`` any run of characters, ``?`` one, newlines included."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, arn, re.DOTALL) is not None


def to_http_response(result: Any) -> web.Response | None:
    """The function's proxy response as HTTP, or None if it is malformed (→ 502)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return None
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        return None
    headers: list[tuple[str, str]] = []
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), str(value)))
    multi_names = {n.lower() for n, _ in headers}
    for name, value in (result.get("headers") or {}).items():
        if str(name).lower() not in multi_names:
            headers.append((str(name), str(value)))
    body = result.get("body")
    if body is None:
        raw = b""
    elif result.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(str(body))
        except ValueError:
            return None
    else:
        raw = str(body).encode()
    if not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/json"))
    response = web.Response(status=status, body=raw)
    for name, value in headers:
        response.headers.add(name, value)
    return response


class ApiGateway:
    """The aiohttp application serving the template's API."""

    def __init__(self, app: App, runtime: LambdaRuntime, *, access_log: JsonLog | None = None,
                 metrics: RuntimeMetrics | None = None, trusted_proxies: tuple[Network, ...] = ()) -> None:
        self.trusted_proxies = trusted_proxies
        self.app = app
        self.runtime = runtime
        self.matcher = RouteMatcher(app.routes)
        self.gate = AuthorizerGate(runtime)
        self.access_log = access_log
        self.metrics = metrics

    def web_app(self) -> web.Application:
        # Long URLs reach the functions, which answer them in the API's error shape (aiohttp's own
        # limit, 8190 bytes, answered a plain-text 400 first; found by the fuzzing).
        web_app = web.Application(client_max_size=MAX_PAYLOAD,
                                  handler_args={"max_line_size": MAX_LINE, "max_field_size": MAX_LINE})
        # Every path reaches the gateway (a path with an encoded newline too), which answers in the API's shape.
        web_app.router.add_route("*", r"/{tail:[\s\S]*}", self.handle)
        return web_app

    def _cors_preflight(self, path: str) -> web.Response | None:
        cors = self.app.cors
        if cors is None or not self.matcher.paths_matching(path):
            return None
        headers = {"Access-Control-Allow-Origin": cors.allow_origin}
        if cors.allow_headers:
            headers["Access-Control-Allow-Headers"] = cors.allow_headers
        if cors.allow_methods:
            headers["Access-Control-Allow-Methods"] = cors.allow_methods
        if cors.max_age:
            headers["Access-Control-Max-Age"] = cors.max_age
        return web.Response(status=200, headers=headers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started_at = time.time()
        started = time.perf_counter()
        path = request.path
        method = request.method.upper()
        response = await self._dispatch(request, method, path)
        seconds = time.perf_counter() - started
        log.info("%s %s → %s (%.1f ms)", method, request.path_qs, response.status, seconds * 1000)
        function = request.get(FUNCTION)
        if self.metrics is not None:
            self.metrics.observe_request(function or "-", response.status, seconds)
        if self.access_log is not None:
            request_id = request.get(REQUEST_ID) or response.headers.get("x-amzn-RequestId")
            # The same rule as shop.http.Request.correlation_id: the caller's header, else the request id.
            correlation_id = (request.headers.get("X-Correlation-Id") or "")[:128] or request_id
            self.access_log.write("request", timestamp=now_iso(started_at), requestId=request_id,
                                  correlation_id=correlation_id, method=method, path=path, status=response.status,
                                  durationMs=round(seconds * 1000, 1), function=function,
                                  lambdaRequestId=request.get(LAMBDA_REQUEST_ID))
        return response

    def error(self, kind: str, status: int, message: str | None, request_id: str,
              headers: dict[str, str] | None = None) -> web.Response:
        """API Gateway's own error answer, customised by the API's ``GatewayResponses`` when declared."""
        responses = self.app.gateway_responses
        custom = responses.get(kind) or responses.get("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX")
        if custom is None:
            return _json_error(status, message, headers)
        out = render_gateway_response(custom, kind=kind, status=status, message=message, request_id=request_id)
        for name, value in (headers or {}).items():
            out.headers[name] = value
        return out

    async def _dispatch(self, request: web.Request, method: str, path: str) -> web.StreamResponse:
        if method == "OPTIONS":
            preflight = self._cors_preflight(path)
            if preflight is not None:
                return preflight
        request_id = str(uuid.uuid4())
        request[REQUEST_ID] = request_id
        match = self.matcher.match(method, path)
        if match is None:
            return self.error("MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token", request_id)
        route = match.route
        request[FUNCTION] = route.function
        if request.content_length and request.content_length > MAX_PAYLOAD:
            return self.error("REQUEST_TOO_LARGE", 413, "Request Too Long", request_id)
        body = await request.read()
        method_arn = f"arn:aws:execute-api:us-east-1:000000000000:{API_ID}/{self.app.stage}/{method}{path}"
        authorizer_ctx: dict[str, Any] | None = None
        if route.authorizer:
            auth = self.app.authorizers.get(route.authorizer)
            if auth is None:
                return self.error("AUTHORIZER_CONFIGURATION_ERROR", 500, None, request_id)
            status, authorizer_ctx = await self.gate.check(auth, request.headers.get(auth.header), method_arn)
            if status == 401:
                return self.error("UNAUTHORIZED", 401, "Unauthorized", request_id)
            if status == 403:
                return self.error("ACCESS_DENIED", 403, "User is not authorized to access this resource", request_id)
            if status:
                return self.error("AUTHORIZER_FAILURE", 500, None, request_id,
                                  {"x-amzn-ErrorType": "AuthorizerConfigurationException"})
        peer = request.remote or "127.0.0.1"
        event = build_proxy_event(
            method=method,
            path=path,
            resource=route.path,
            stage=self.app.stage,
            headers=list(request.headers.items()),
            query=list(request.query.items()),
            path_parameters=match.path_parameters,
            body=body,
            source_ip=source_ip(peer, request.headers.get("X-Forwarded-For"), self.trusted_proxies),
            authorizer=authorizer_ctx,
            request_id=request_id,
        )
        spec = self.runtime.pools[route.function].spec
        lambda_request_id = str(uuid.uuid4())
        request[LAMBDA_REQUEST_ID] = lambda_request_id
        try:
            inv = await self.runtime.invoke(route.function, event, timeout=min(spec.timeout, INTEGRATION_TIMEOUT),
                                            request_id=lambda_request_id)
        except FunctionTimeout:
            log.error("%s timed out after %.0f s (request %s)", route.function, spec.timeout, request_id)
            return self.error("INTEGRATION_TIMEOUT", 504, "Endpoint request timed out", request_id)
        except InvocationError as exc:
            log.error("%s failed (request %s): %s\n%s", route.function, request_id, exc, "".join(exc.trace))
            return self.error("DEFAULT_5XX", 502, "Internal server error", request_id)
        response = to_http_response(inv.result)
        if response is None:
            log.error("%s returned a malformed proxy response: %r", route.function, inv.result)
            return self.error("DEFAULT_5XX", 502, "Internal server error", request_id)
        response.headers["x-amzn-RequestId"] = request_id
        return response

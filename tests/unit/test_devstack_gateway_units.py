"""Pure pieces of the emulated API Gateway: route matching, policies, response mapping, the proxy event."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from devstack.apigateway import RouteMatcher, _allows, build_proxy_event, to_http_response
from devstack.template import ApiRoute

SAMPLE = Path(__file__).resolve().parents[1] / "events" / "apigateway-aws-proxy.json"


def routes() -> RouteMatcher:
    return RouteMatcher([
        ApiRoute("List", "GET", "/api/orders", "A"),
        ApiRoute("Get", "GET", "/api/orders/{id}", "A"),
        ApiRoute("Stats", "GET", "/api/orders/stats", "A"),
        ApiRoute("Status", "PATCH", "/api/orders/{id}/status", "A"),
        ApiRoute("Any", "ANY", "/api/any/{proxy+}", None),
    ])


def test_literal_segments_win_over_parameters() -> None:
    """/api/orders/stats goes to its own resource, not to /api/orders/{id}."""
    m = routes().match("GET", "/api/orders/stats")
    assert m is not None and m.route.function == "Stats"
    m = routes().match("GET", "/api/orders/o-1")
    assert m is not None and m.route.function == "Get" and m.path_parameters == {"id": "o-1"}


def test_method_mismatch_and_unknown_paths() -> None:
    """A known path with another method, or an unknown path, matches nothing."""
    assert routes().match("DELETE", "/api/orders/o-1") is None
    assert routes().match("GET", "/api/nothing") is None
    m = routes().match("POST", "/api/any/a/b")
    assert m is not None and m.path_parameters == {"proxy": "a/b"}


def test_policy_evaluation() -> None:
    """Allow on a wildcard resource allows; an explicit Deny wins; no statement denies."""
    arn = "arn:aws:execute-api:us-east-1:0:api/local/GET/api/orders"
    allow = {"policyDocument": {"Statement": [{"Effect": "Allow", "Resource": "arn:aws:execute-api:us-east-1:0:api/*/*"}]}}
    deny = {"policyDocument": {"Statement": [allow["policyDocument"]["Statement"][0],
                                             {"Effect": "Deny", "Resource": [arn]}]}}
    assert _allows(allow, arn)
    assert not _allows(deny, arn)
    assert not _allows({}, arn)


def test_a_decoded_newline_is_an_ordinary_character() -> None:
    """An id holding a (percent-decoded) newline reaches its route and the policy's wildcard covers it
    (the fuzzing sent ``/api/orders/%0A`` and got 403, as if the path were unknown or not allowed)."""
    m = routes().match("GET", "/api/orders/a\nb")
    assert m is not None and m.route.function == "Get" and m.path_parameters == {"id": "a\nb"}
    assert routes().match("GET", "/api/orders/o-1\n") is not None
    assert routes().match("GET", "/api/orders\n") is None  # a newline is not the end of the path
    allow = {"policyDocument": {"Statement": [{"Effect": "Allow", "Resource": "arn:aws:execute-api:us-east-1:0:api/*/*"}]}}
    assert _allows(allow, "arn:aws:execute-api:us-east-1:0:api/local/GET/api/orders/\n")


def test_response_mapping() -> None:
    """statusCode/headers/multiValueHeaders/base64 map to HTTP; a malformed result maps to None (502)."""
    r = to_http_response({"statusCode": 201, "headers": {"X-A": "1"}, "multiValueHeaders": {"X-B": ["1", "2"]},
                          "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True})
    assert r is not None and r.status == 201 and r.body == b"\x00\x01"
    assert r.headers.getall("X-B") == ["1", "2"] and r.headers["X-A"] == "1"
    assert to_http_response("nope") is None
    assert to_http_response({"body": "{}"}) is None
    assert to_http_response({"statusCode": "abc"}) is None


def test_proxy_event_has_the_sample_fields() -> None:
    """build_proxy_event carries every top-level and requestContext field of SAM's AwsProxy sample."""
    sample = json.loads(SAMPLE.read_text())
    event = build_proxy_event(method="GET", path="/api/orders/1", resource="/api/orders/{id}", stage="local",
                              headers=[("Host", "localhost:3008"), ("Accept", "a"), ("Accept", "b")],
                              query=[("x", "1"), ("x", "2")], path_parameters={"id": "1"}, body=b"",
                              source_ip="10.0.0.1", authorizer={"userId": "u"}, now=1428582896.0)
    assert set(sample) <= set(event)
    assert set(sample["requestContext"]) <= set(event["requestContext"])
    assert event["headers"]["Accept"] == "b" and event["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["body"] is None
    assert event["requestContext"]["requestTime"] == "09/Apr/2015:12:34:56 +0000"
    assert event["requestContext"]["requestTimeEpoch"] == 1428582896000
    assert event["requestContext"]["authorizer"] == {"userId": "u"}


def test_gateway_responses_from_the_template_render_the_contract_shape() -> None:
    """The shop template's GatewayResponses turn API Gateway errors into the contract's error shape."""
    from devstack.apigateway import render_gateway_response
    from devstack.template import load_app

    app = load_app(Path(__file__).resolve().parents[2] / "template.yaml")
    denied = app.gateway_responses["ACCESS_DENIED"]
    r = render_gateway_response(denied, kind="ACCESS_DENIED", status=403, message='say "no"', request_id="r-1")
    assert r.status == 403 and r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.text is not None
    assert json.loads(r.text) == {"error": {"code": "forbidden", "message": 'say "no"', "details": []}}
    missing = app.gateway_responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing.status == 404

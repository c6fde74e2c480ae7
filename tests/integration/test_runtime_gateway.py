"""The emulated API Gateway, served from a purpose-built template against the real local services."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from devstack.supervisor import PASSTHROUGH
from devstack.testing import RuntimeHarness, Stack

FIXTURE = Path(__file__).resolve().parents[1] / "runtime_fixture"
SAMPLE = Path(__file__).resolve().parents[1] / "events" / "apigateway-aws-proxy.json"


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the fixture application, so a test may edit its code."""
    target = tmp_path_factory.mktemp("runtime-app") / "app"
    shutil.copytree(FIXTURE, target)
    return target


@pytest.fixture(scope="module")
def gateway(stack: Stack, app_dir: Path) -> Iterator[RuntimeHarness]:
    """The fixture template served by our runtime."""
    import os

    env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ} | stack.env
    with RuntimeHarness(app_dir / "template.yaml", parameters={"MongoDbUri": stack.mongodb_uri, "TopicPrefix": "gw"},
                        function_env=env, kafka_bootstrap=stack.kafka_bootstrap,
                        aws_endpoint_url=stack.aws_endpoint_url) as harness:
        yield harness


def call(harness: RuntimeHarness, method: str, path: str, *, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes, list[tuple[str, str]]]:
    req = urllib.request.Request(harness.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers.items()), resp.read(), list(resp.headers.items())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read(), list(err.headers.items())


def test_proxy_event_matches_the_aws_sample_and_powertools(gateway: RuntimeHarness) -> None:
    """The v1.0 event has every field of SAM's AwsProxy sample and reads correctly through Powertools."""
    status, _, body, _ = call(gateway, "POST", "/public/sku-1?color=red&size=s&size=m",
                              headers={"X-Trace": "t1", "Content-Type": "application/json"}, body=b'{"a":1}')
    assert status == 200
    event: dict[str, Any] = json.loads(body)["event"]
    sample = json.loads(SAMPLE.read_text())
    assert set(sample) <= set(event)
    assert set(sample["requestContext"]) <= set(event["requestContext"])
    assert set(sample["requestContext"]["identity"]) <= set(event["requestContext"]["identity"])
    view = APIGatewayProxyEvent(event)
    assert view.http_method == "POST"
    assert view.path == "/public/sku-1"
    assert view.resource == "/public/{item}"
    assert view.path_parameters == {"item": "sku-1"}
    assert view.query_string_parameters == {"color": "red", "size": "m"}
    assert view.multi_value_query_string_parameters == {"color": ["red"], "size": ["s", "m"]}
    assert view.headers.get("x-trace") == "t1"
    assert view.json_body == {"a": 1}
    assert view.request_context.stage == "test"
    assert view.request_context.identity.source_ip == "127.0.0.1"
    assert view.request_context.path == "/test/public/sku-1"
    assert event["isBase64Encoded"] is False
    assert event["stageVariables"] is None


def test_function_environment_and_context_come_from_the_template(gateway: RuntimeHarness) -> None:
    """Globals and per-function Environment reach the handler, and the context knows its Timeout."""
    _, _, body, _ = call(gateway, "GET", "/public/x")
    out = json.loads(body)
    assert out["greeting"] == "hello-from-template"
    assert out["functionName"] == "EchoFunction"
    assert 0 < out["remainingMs"] <= 5000


def test_response_mapping_multi_value_and_base64(gateway: RuntimeHarness) -> None:
    """multiValueHeaders become repeated headers; base64 bodies are decoded to bytes."""
    _, _, _, header_list = call(gateway, "GET", "/public/x")
    assert [v for k, v in header_list if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    status, headers, body, _ = call(gateway, "GET", "/public/x?binary=1")
    assert status == 200 and body == b"\x00\x01binary"
    assert headers["Content-Type"] == "application/octet-stream"


def test_greedy_path_parameter(gateway: RuntimeHarness) -> None:
    """{proxy+} captures the rest of the path."""
    _, _, body, _ = call(gateway, "GET", "/files/a/b/c.txt")
    assert json.loads(body)["event"]["pathParameters"] == {"proxy": "a/b/c.txt"}


def test_unknown_route_and_method_answer_like_api_gateway(gateway: RuntimeHarness) -> None:
    """Unknown resources and methods get 403 Missing Authentication Token."""
    for method, path in (("GET", "/nope"), ("DELETE", "/private")):
        status, _, body, _ = call(gateway, method, path)
        assert status == 403
        assert json.loads(body) == {"message": "Missing Authentication Token"}


def test_cors_preflight_as_configured(gateway: RuntimeHarness) -> None:
    """OPTIONS on a known resource answers with the template's CORS settings, without auth."""
    status, headers, _, _ = call(gateway, "OPTIONS", "/private")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert headers["Access-Control-Allow-Headers"] == "Content-Type,Authorization"


def test_authorizer_401_403_and_context(gateway: RuntimeHarness) -> None:
    """No token → 401, rejected token → 401, Deny → 403, Allow → the context reaches requestContext.authorizer."""
    assert call(gateway, "GET", "/private")[0] == 401
    assert call(gateway, "GET", "/private", headers={"Authorization": "garbage"})[0] == 401
    status, _, body, _ = call(gateway, "GET", "/private", headers={"Authorization": "deny"})
    assert status == 403 and json.loads(body)["message"] == "User is not authorized to access this resource"
    status, _, body, _ = call(gateway, "GET", "/private", headers={"Authorization": "allow-u42"})
    assert status == 200
    authorizer = json.loads(body)["event"]["requestContext"]["authorizer"]
    assert authorizer["userId"] == "u42" and authorizer["principalId"] == "u42"


def test_handler_error_is_502_and_timeout_is_504(gateway: RuntimeHarness) -> None:
    """A raising handler and a malformed response give 502; running past Timeout gives 504."""
    assert call(gateway, "GET", "/misbehave/raise")[0] == 502
    assert call(gateway, "GET", "/misbehave/garbage")[0] == 502
    status, _, body, _ = call(gateway, "GET", "/misbehave/hang")
    assert status == 504 and json.loads(body)["message"] == "Endpoint request timed out"
    assert call(gateway, "GET", "/misbehave/ok")[0] == 200  # the pool recovers after the kill


def test_concurrent_requests_run_in_parallel_workers(gateway: RuntimeHarness) -> None:
    """Four simultaneous requests run in separate worker processes whose executions overlap."""
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: call(gateway, "GET", "/misbehave/ok"), range(4)))  # cold starts
        results = list(pool.map(lambda _: call(gateway, "GET", "/misbehave/ok"), range(4)))
    runs = [json.loads(r[2]) for r in results]
    assert all(r[0] == 200 for r in results)
    assert len({r["pid"] for r in runs}) >= 2
    assert max(r["start"] for r in runs) < min(r["end"] for r in runs)


def test_code_changes_apply_without_restart(gateway: RuntimeHarness, app_dir: Path) -> None:
    """Editing a handler file is picked up by the next request."""
    assert json.loads(call(gateway, "GET", "/public/x")[2])["version"] == "v1"
    source = app_dir / "functions" / "echo.py"
    source.write_text(source.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
    import time

    deadline = time.monotonic() + 10
    version = "v1"
    while version != "v2" and time.monotonic() < deadline:
        version = json.loads(call(gateway, "GET", "/public/x")[2])["version"]
        time.sleep(0.2)
    assert version == "v2"


def test_base64_request_body_for_binary_payloads(gateway: RuntimeHarness) -> None:
    """A body that is not UTF-8 arrives base64-encoded with isBase64Encoded true."""
    _, _, body, _ = call(gateway, "POST", "/public/bin", body=b"\xff\xfe\x00")
    event = json.loads(body)["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe\x00"

"""`sam local invoke`: the shop's functions in real Lambda containers, against a real local stack.

SAM CLI builds its runtime image from the project's stand-in base (``dev.py sam-image``; rebuilt
only when its inputs change) and runs one container per invocation on Docker's bridge; the stack
runs with ``--for-containers`` so the containers reach its database, broker and AWS emulator.
Each answer is compared with what ``dev.py invoke`` answers for the same event.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from kafka import KafkaConsumer, TopicPartition

from devstack.kafka_events import Record, kafka_event
from devstack.sam_env import bridge_address
from devstack.settings import ROOT
from devstack.testing import ADDRESS, EVENTUAL, Stack, remove_data, start_stack, wait_for

SAM = ROOT / ".venv-sam" / "bin" / "sam"
BUILD_DIR = ROOT / "var" / "sam-build"


def _why_not() -> str | None:
    if shutil.which("docker") is None:
        return "Docker is not installed (as root: apt-get install docker.io; .ci/run does it)"
    if subprocess.run(["docker", "version"], capture_output=True).returncode != 0:
        return "the Docker daemon is not running (start dockerd; .ci/run does it)"
    if bridge_address() is None:
        return "this machine has no Docker bridge (docker0) for the containers to reach the stack on"
    if not SAM.exists():
        return "SAM CLI is not installed (python3 dev.py test installs it into .venv-sam)"
    from devstack import sam_image

    if not sam_image.is_current() and shutil.which("debootstrap") is None:
        return f"{sam_image.IMAGE} is missing and debootstrap is not installed to build it"
    return None


_reason = _why_not()
if _reason:
    pytest.skip(f"sam local invoke tests: {_reason}", allow_module_level=True)

pytestmark = [pytest.mark.docker, pytest.mark.stack]


@pytest.fixture(scope="module")
def built() -> Path:
    """The stand-in image (kept while its inputs are unchanged) and ``sam build`` (cached, as `dev.py test` runs it)."""
    from devstack import sam_image

    sam_image.build()
    subprocess.run([str(SAM), "build", "--build-dir", str(BUILD_DIR), "--cache-dir", str(ROOT / "var" / "sam-cache"),
                    "--cached"], cwd=ROOT, check=True, capture_output=True, env=dict(os.environ, SAM_CLI_TELEMETRY="0"))
    # `sam build` packs no bytecode, so every container would compile the layer while it imports
    # it (3 s of a cold start instead of 0.8 s, see the README): compile it once, as its tip says.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(BUILD_DIR)], check=True, capture_output=True)
    return BUILD_DIR / "template.yaml"


@pytest.fixture(scope="module")
def cstack() -> Iterator[Stack]:
    """A stack whose services containers reach (on the bridge's address), functions started on first use."""
    s = start_stack(options=("--for-containers", "--no-prewarm", "--no-relay"))
    try:
        if "127.0.0.1" in s.mongodb_uri:
            pytest.skip("SHOP_TEST_STACK is a stack on 127.0.0.1: start it with `dev.py up --for-containers`")
        yield s
    finally:
        s.close()
        remove_data(s)


@pytest.fixture(scope="module")
def env_file(cstack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sam") / "env.json"
    out = subprocess.run([sys.executable, "-m", "devstack", "sam-env", "--data-dir", str(cstack.data_dir),
                          "-o", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return path


class Answer:
    def __init__(self, out: subprocess.CompletedProcess[str]) -> None:
        self.returncode = out.returncode
        self.stderr = out.stderr
        lines = [line for line in out.stdout.splitlines() if line.strip()]
        self.result: Any = json.loads("\n".join(lines)) if lines else None

    def log_lines(self) -> list[dict[str, Any]]:
        """The function's JSON log lines (Powertools) among the tool's own output."""
        found = []
        for line in self.stderr.splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and "level" in obj:
                found.append(obj)
        return found


def write_event(tmp_path: Path, event: dict[str, Any]) -> Path:
    path = tmp_path / f"event-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(event))
    return path


def sam_invoke(template: Path, env_file: Path, function: str, event: Path) -> Answer:
    from devstack.sam_image import IMAGE

    started = time.monotonic()
    out = subprocess.run([str(SAM), "local", "invoke", function, "-t", str(template), "-e", str(event),
                          "--env-vars", str(env_file), "--invoke-image", IMAGE, "--skip-pull-image"],
                         cwd=ROOT, capture_output=True, text=True, timeout=180,
                         env=dict(os.environ, SAM_CLI_TELEMETRY="0"))
    print(f"sam local invoke {function}: {time.monotonic() - started:.1f}s")
    return Answer(out)


def dev_invoke(stack: Stack, function: str, event: Path) -> Answer:
    return Answer(subprocess.run([sys.executable, "-m", "devstack", "invoke", function, "-e", str(event),
                                  "--data-dir", str(stack.data_dir)], cwd=ROOT, capture_output=True, text=True,
                                 timeout=120))


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and types, not the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def http_shape(result: dict[str, Any]) -> tuple[int, Any]:
    return result["statusCode"], shape(json.loads(result["body"]))


def test_health(built: Path, env_file: Path, cstack: Stack, tmp_path: Path) -> None:
    event = ROOT / "events" / "platform-health.json"
    sam = sam_invoke(built, env_file, "HealthFunction", event)
    assert sam.result is not None and sam.result["statusCode"] == 200, sam.stderr[-3000:]
    assert json.loads(sam.result["body"])["status"] == "ok"
    assert "is a local stand-in for the AWS Lambda Python 3.11 image" in sam.stderr
    dev = dev_invoke(cstack, "HealthFunction", event)
    assert dev.returncode == 0, dev.stderr
    assert http_shape(sam.result) == http_shape(dev.result)


def authorizer_event(token: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}",
            "methodArn": "arn:aws:execute-api:us-east-1:000000000000:localapi01/local/POST/api/orders"}


def test_authorizer_allows_a_real_token_and_refuses_a_forged_one(built: Path, env_file: Path, cstack: Stack,
                                                                 tmp_path: Path) -> None:
    token = cstack.customer_token("sam-auth")
    event = write_event(tmp_path, authorizer_event(token))
    sam = sam_invoke(built, env_file, "AuthorizerFunction", event)
    dev = dev_invoke(cstack, "AuthorizerFunction", event)
    assert sam.result["policyDocument"]["Statement"][0]["Effect"] == "Allow", sam.stderr[-3000:]
    assert sam.result["context"]["role"] == "customer"
    assert shape(sam.result) == shape(dev.result)
    assert sam.result["context"] == dev.result["context"]

    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin"}, "not-the-signing-key-" * 2, algorithm="HS256")
    event = write_event(tmp_path, authorizer_event(forged))
    sam = sam_invoke(built, env_file, "AuthorizerFunction", event)
    dev = dev_invoke(cstack, "AuthorizerFunction", event)
    assert sam.result["errorMessage"] == "Unauthorized", sam.result
    assert dev.returncode == 1 and dev.result["errorMessage"] == "Unauthorized"
    assert sam.result["errorType"] == dev.result["errorType"]


def read_record(stack: Stack, topic: str, partition: int, offset: int) -> Any:
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=10_000)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        for record in consumer:
            return record
    finally:
        consumer.close()
    raise AssertionError(f"no record at {topic}/{partition}@{offset}")


def test_create_order_then_reserve_stock(built: Path, env_file: Path, cstack: Stack, tmp_path: Path) -> None:
    product = cstack.new_product(stock=5, priceCents=1500)
    token = cstack.customer_token("sam-order")
    gen = subprocess.run(
        [sys.executable, "-m", "devstack", "generate-event", "apigateway", "--method", "POST", "--path", "/api/orders",
         "--header", "Content-Type=application/json", "--header", f"Idempotency-Key=sam-{uuid.uuid4()}",
         "--body", json.dumps({"items": [{"productId": product["id"], "quantity": 2}], "shippingAddress": ADDRESS,
                               "paymentToken": "tok_visa"}),
         "--token", token, "--data-dir", str(cstack.data_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr
    event = write_event(tmp_path, json.loads(gen.stdout))

    sam = sam_invoke(built, env_file, "CreateOrderFunction", event)
    assert sam.result is not None and sam.result["statusCode"] == 201, sam.stderr[-3000:]
    order_id = json.loads(sam.result["body"])["id"]
    assert cstack.db()["orders"].find_one({"_id": order_id}) is not None

    # Its log lines: Powertools JSON, the function's name and request id, the event it published.
    published = [line for line in sam.log_lines() if line.get("message") == "event published"]
    assert published and published[0]["level"] == "INFO", sam.stderr[-3000:]
    assert published[0]["function_name"] == "CreateOrderFunction" and published[0]["eventType"] == "order.created"
    record = read_record(cstack, "order.created", published[0]["partition"], published[0]["offset"])
    assert json.loads(record.value)["data"]["orderId"] == order_id

    # The stack's own consumers take it from there.
    def paid() -> bool:
        doc = cstack.db()["orders"].find_one({"_id": order_id})
        return doc is not None and doc["status"] == "paid"

    wait_for(paid, timeout=EVENTUAL, message=f"order {order_id} to be paid by the stack's saga")

    # The same request again through `dev.py invoke`: the idempotent replay, same status and shape.
    dev = dev_invoke(cstack, "CreateOrderFunction", event)
    assert dev.returncode == 0, dev.stderr
    assert http_shape(sam.result) == http_shape(dev.result)
    assert json.loads(dev.result["body"])["id"] == order_id

    # ReserveStock with that record as an aws:kafka event: a redelivery, so nothing moves twice.
    reserved = cstack.db()["inventory"].find_one({"_id": product["id"]})
    headers = tuple((k, v) for k, v in record.headers)
    kafka = kafka_event([Record(record.topic, record.partition, record.offset, record.timestamp, 0, record.key,
                                record.value, headers)], event_source_arn=cstack.msk_cluster_arn,
                        bootstrap_servers=cstack.kafka_bootstrap)
    assert base64.b64decode(kafka["records"][f"order.created-{record.partition}"][0]["value"]) == record.value
    kevent = write_event(tmp_path, kafka)
    sam = sam_invoke(built, env_file, "ReserveStockFunction", kevent)
    dev = dev_invoke(cstack, "ReserveStockFunction", kevent)
    assert sam.result is not None and dev.returncode == 0, sam.stderr[-3000:] + dev.stderr[-3000:]
    assert sam.result == dev.result
    for answer in (sam, dev):  # both print the function's log lines, as the README shows
        consumed = [line for line in answer.log_lines() if line.get("message") == "event consumed"]
        assert consumed and consumed[0]["function_name"] == "ReserveStockFunction", answer.stderr[-3000:]
        assert consumed[0]["eventType"] == "order.created" and consumed[0]["level"] == "INFO"
    assert cstack.db()["inventory"].find_one({"_id": product["id"]}) == reserved

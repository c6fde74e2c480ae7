"""A whole local stack for a test session: started on free ports in a temporary data folder.

``tests/conftest.py`` exposes it as the session fixture ``stack``. Set ``SHOP_TEST_STACK`` to
the ``stack.json`` of a stack you already run (``devstack up``) to test against that instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pymongo
from pymongo.database import Database

from devstack.settings import ROOT

T = TypeVar("T")

#: Deadline for eventual effects (Kafka → consumer → database); generous for a busy shared machine.
EVENTUAL = 90.0

#: The S3 notification queue of a :class:`RuntimeHarness` (the stack's own is ``devstack-s3-events``).
S3_HARNESS_QUEUE = "devstack-s3-events-harness"

#: A valid shipping address for orders placed by tests.
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}

#: How the test stack differs from the dev stack: quick schedules, outbox grace and signing-key refresh.
TEST_ENV = {
    "DEVSTACK_SCHEDULE_INTERVAL": "2",
    "DEVSTACK_ENV_OUTBOX_GRACE_SECONDS": "2",
    "DEVSTACK_ENV_JWT_KEY_MAX_AGE_SECONDS": "2",
    "DEVSTACK_ENV_LOG_LEVEL": "INFO",
}


def wait_for(predicate: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.1,
             message: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}")
        time.sleep(interval)
        last = predicate()
    return last


class Response:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


class Stack:
    """Addresses of a running local stack, plus small helpers for tests."""

    def __init__(self, state_file: Path, *, proc: subprocess.Popen[bytes] | None = None,
                 data_dir: Path | None = None) -> None:
        self.state_file = state_file
        self.proc = proc
        self.data_dir = data_dir or state_file.parent.parent
        state = self.state()
        self.api_url: str = state["apiUrl"]
        self.ws_url: str | None = state.get("wsUrl")
        self.web_url: str | None = state.get("webUrl")
        self.kafka_bootstrap: str = state["kafkaBootstrapServers"]
        self.mongodb_uri: str = state["mongodbUri"]
        self.aws_endpoint_url: str = state["awsEndpointUrl"]
        self.msk_cluster_arn: str = state.get("mskClusterArn", "")
        self.env: dict[str, str] = dict(state["env"])
        self.admin_email: str = state.get("adminEmail", "admin@shop.local")
        self.admin_password: str = os.environ.get("ADMIN_PASSWORD", "admin-password-123")
        self.log_dir = self.data_dir / "logs"
        self._mongo: pymongo.MongoClient[dict[str, Any]] | None = None
        self._admin_token: str | None = None

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.state_file.read_text()))

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run a `devstack` command against this stack, output piped (so logs come out as JSON)."""
        return subprocess.run([sys.executable, "-m", "devstack", *args, "--data-dir", str(self.data_dir)], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, env={**os.environ, "NO_COLOR": "1"})

    def db(self) -> Database[dict[str, Any]]:
        if self._mongo is None:
            self._mongo = pymongo.MongoClient(self.mongodb_uri, tz_aware=True)
        return self._mongo["shop"]

    def secretsmanager(self) -> Any:
        """A boto3 Secrets Manager client on the stack's AWS emulator."""
        return boto3.client("secretsmanager", endpoint_url=self.aws_endpoint_url,
                            region_name=self.env.get("AWS_REGION", "us-east-1"),
                            aws_access_key_id="test", aws_secret_access_key="test")

    @property
    def jwt_secret_id(self) -> str:
        return self.env.get("JWT_SECRET_ID", "shop/jwt-signing-key")

    def signing_key(self) -> str:
        """The JWT signing key the API uses, read from the stack's Secrets Manager."""
        return str(self.secretsmanager().get_secret_value(SecretId=self.jwt_secret_id)["SecretString"])

    def http(self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
             body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 60) -> Response:
        """One HTTP request to the emulated API Gateway (``path`` starts with /api)."""
        data = body
        hdrs = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.api_url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, resp.read(), dict(resp.headers.items()))
        except urllib.error.HTTPError as err:
            return Response(err.code, err.read(), dict(err.headers.items()))

    def login(self, email: str, password: str) -> str:
        r = self.http("POST", "/api/auth/login", json_body={"email": email, "password": password})
        assert r.status == 200, r
        return str(r.json["token"])

    def admin_token(self) -> str:
        """The admin's token (logged in once per session)."""
        if self._admin_token is None:
            self._admin_token = self.login(self.admin_email, self.admin_password)
        return self._admin_token

    def customer_token(self, prefix: str) -> str:
        """A fresh customer's token."""
        return self.register(f"{prefix}-{uuid.uuid4().hex[:12]}@example.com")

    def register(self, email: str, password: str = "correct-horse-battery", name: str = "Test User") -> str:
        r = self.http("POST", "/api/auth/register", json_body={"email": email, "password": password, "name": name})
        assert r.status == 201, r
        return str(r.json["token"])

    def new_product(self, **fields: Any) -> dict[str, Any]:
        """Create a product as the admin (``fields`` are API fields overriding the defaults); its JSON."""
        tag = uuid.uuid4().hex[:10]
        body = {"name": f"Widget {tag}", "description": "test product", "priceCents": 1000, "currency": "USD",
                "sku": f"T-{tag}", "stock": 5, "category": "testing", **fields}
        r = self.http("POST", "/api/products", token=self.admin_token(), json_body=body)
        assert r.status == 201, r
        return dict(r.json)

    def warm_up(self, timeout: float = 180) -> None:
        """Wait out the functions' cold starts once (a busy machine can take longer than one request's timeout).

        Any 5xx answer fails the session: a server error is a defect, not something to retry.
        """
        answers = [
            self.http("GET", "/api/products?limit=1", timeout=timeout),
            self.http("POST", "/api/auth/register", json_body={}, timeout=timeout),
            self.http("POST", "/api/auth/login", timeout=timeout,
                      json_body={"email": self.admin_email, "password": self.admin_password}),
        ]
        assert all(r.status < 500 for r in answers), answers
        self._admin_token = str(answers[-1].json["token"])
        me = self.http("GET", "/api/auth/me", token=self._admin_token, timeout=timeout)
        assert me.status == 200, me

    def restart_broker(self, timeout: float = 60) -> None:
        """Kill the embedded Kafka broker; the supervisor restarts it (empty) and re-creates the topics."""
        state = self.state()
        generation = int(state["brokerGeneration"])
        pid = next(pid for name, pid in state["pids"].items() if name.startswith("Kafka"))
        os.kill(int(pid), signal.SIGKILL)
        wait_for(lambda: int(self.state()["brokerGeneration"]) > generation, timeout=timeout,
                 message="the Kafka broker to come back")

    def close(self) -> None:
        if self._mongo is not None:
            self._mongo.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_stack(*, timeout: float = 180.0, extra_env: dict[str, str] | None = None,
                options: tuple[str, ...] = ()) -> Stack:
    """Start ``devstack up`` on free ports in a fresh temporary data folder and wait until it is ready.

    ``options`` are more of ``up``'s options (``--for-containers``, ``--no-prewarm``, ...).
    """
    existing = os.environ.get("SHOP_TEST_STACK")
    if existing:
        return Stack(Path(existing))
    data_dir = Path(tempfile.mkdtemp(prefix="shop-test-stack-"))
    env = dict(os.environ)
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "AWS_ENDPOINT_URL"):
        env.pop(key, None)
    env.update(TEST_ENV)
    env.update(extra_env or {})
    log = (data_dir / "supervisor.out").open("wb")
    argv = [sys.executable, "-m", "devstack", "up", "--free-ports", "--data-dir", str(data_dir), *options]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    state_file = data_dir / "run" / "stack.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = (data_dir / "supervisor.out").read_text(errors="replace")
            raise RuntimeError(f"the local stack exited with {proc.returncode}:\n{output[-4000:]}")
        if state_file.exists():
            try:
                if json.loads(state_file.read_text()).get("ready"):
                    return Stack(state_file, proc=proc, data_dir=data_dir)
            except ValueError:
                pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the local stack was not ready within {timeout:.0f}s; see {data_dir}")


def remove_data(stack: Stack) -> None:
    if stack.proc is not None and not os.environ.get("SHOP_TEST_KEEP_DATA"):
        shutil.rmtree(stack.data_dir, ignore_errors=True)


class RuntimeHarness:
    """Serves any SAM template with this runtime (gateway + Kafka mappings) in a background thread.

    Used to test the runtime itself against a purpose-built template, with the stack's real
    broker, database and AWS emulator.
    """

    def __init__(self, template: Path, *, parameters: dict[str, str], function_env: dict[str, str],
                 kafka_bootstrap: str, aws_endpoint_url: str, region: str = "us-east-1") -> None:
        from devstack.settings import free_port
        from devstack.template import load_app

        self.app = load_app(template, parameters=parameters, region=region)
        self.function_env = function_env
        self.kafka_bootstrap = kafka_bootstrap
        self.aws_endpoint_url = aws_endpoint_url
        self.region = region
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pollers: list[Any] = []
        self.s3_source: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runtime-harness", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.runtime: Any = None
        self.error: BaseException | None = None

    def __enter__(self) -> RuntimeHarness:
        self._thread.start()
        if not self._ready.wait(60) or self.error:
            raise RuntimeError(f"runtime harness did not start: {self.error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    async def _main(self) -> None:
        from aiohttp import web

        from devstack import s3_events
        from devstack.apigateway import ApiGateway
        from devstack.kafka_esm import start_pollers
        from devstack.lambda_runtime import LambdaRuntime

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runtime = LambdaRuntime(self.app.functions, self.function_env)
        runtime.bind(self._loop)
        self.runtime = runtime
        runner = web.AppRunner(ApiGateway(self.app, runtime).web_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()

        self.pollers = start_pollers(self.app.kafka, runtime, bootstrap=self.kafka_bootstrap,
                                     aws_endpoint_url=self.aws_endpoint_url, region=self.region)
        # Its own queue, so the stack's S3 event source never takes the fixture's notifications.
        await asyncio.to_thread(s3_events.ensure_buckets, self.aws_endpoint_url, self.region, self.app,
                                queue_name=S3_HARNESS_QUEUE)
        self.s3_source = s3_events.start(self.app, runtime, endpoint=self.aws_endpoint_url, region=self.region,
                                         queue_name=S3_HARNESS_QUEUE, retry_delays=(0.2, 0.2))
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            for poller in self.pollers:
                poller.stop()
            if self.s3_source is not None:
                self.s3_source.stop()
            for poller in self.pollers:
                await asyncio.to_thread(poller.join, 5)
            await runner.cleanup()
            await runtime.close()

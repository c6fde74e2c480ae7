"""The realtime relay with real WebSocket clients, real relay processes, the real local broker and moto.

Each test module starts its OWN relay processes (``python -m realtime_relay`` with ``stack.env``) so
they can be restarted and run side by side; envelopes are published straight to Kafka with
kafka-python, always to an explicit partition so that "nothing else arrived" can be checked by
waiting for a later sentinel on the same partition instead of by a timer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from devstack.settings import free_port
from devstack.testing import Stack, wait_for
from shop.auth import tokens

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "https://shop.example"


# --- relay processes -------------------------------------------------------------------------

class RelayProcess:
    """One ``python -m realtime_relay`` process of this test module."""

    def __init__(self, stack: Stack, instance: str, *, port: int | None = None, **env: str) -> None:
        self.stack = stack
        self.instance = instance
        self.port = port or free_port()
        self.env = {**os.environ, **stack.env, "RELAY_HOST": "127.0.0.1", "RELAY_PORT": str(self.port),
                    "RELAY_INSTANCE_ID": instance, "RELAY_ALLOWED_ORIGINS": ORIGIN, **env}
        self.log_path = stack.data_dir / "logs" / f"test-relay-{instance}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> RelayProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "realtime_relay"], cwd=ROOT, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # Start-up rebuilds the replay window from Kafka; generous on a busy shared machine.
        wait_for(self.ready, timeout=180, message=f"relay {self.instance} to be ready")
        return self

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def ready(self) -> bool:
        assert self.proc is None or self.proc.poll() is None, f"relay exited; see {self.log_path}"
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def metrics(self) -> dict[str, Any]:
        return self.get("/stats")[1]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@pytest.fixture(scope="module")
def relay(stack: Stack) -> Iterator[RelayProcess]:
    """The module's main relay process."""
    r = RelayProcess(stack, "test-main").start()
    try:
        yield r
    finally:
        r.stop()


# --- Kafka and tokens ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def secret(stack: Stack) -> str:
    """The JWT signing key the API uses."""
    return stack.signing_key()


class Tokens:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def customer(self, user_id: str | None = None) -> tuple[str, str]:
        uid = user_id or f"cust-{uuid.uuid4().hex[:10]}"
        return uid, tokens.issue(uid, "customer", f"{uid}@test.local", secret=self.secret)

    def admin(self) -> str:
        uid = f"adm-{uuid.uuid4().hex[:8]}"
        return tokens.issue(uid, "admin", f"{uid}@test.local", secret=self.secret)


@pytest.fixture(scope="module")
def mint(secret: str) -> Tokens:
    """Issue tokens exactly as the API does (same key, issuer, claims)."""
    return Tokens(secret)


def publish(producer: KafkaProducer, topic: str, data: dict[str, Any], *, key: str, partition: int = 0,
            event_id: str | None = None) -> str:
    """Publish one contract envelope; returns its id."""
    eid = event_id or str(uuid.uuid4())
    envelope = {"id": eid, "type": topic, "version": 1, "occurredAt": "2026-01-01T00:00:00.000Z",
                "source": "relay-test", "correlationId": eid, "data": data}
    producer.send(topic, key=key.encode(), value=json.dumps(envelope).encode(), partition=partition,
                  headers=[("event-type", topic.encode()), ("correlation-id", eid.encode())]).get(timeout=15)
    return eid


def order_data(buyer: str, **extra: Any) -> dict[str, Any]:
    return {"orderId": str(uuid.uuid4()), "buyerId": buyer, "status": "pending", **extra}


def stock_data(available: int, **extra: Any) -> dict[str, Any]:
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    return {"productId": str(uuid.uuid4()), "sku": sku, "stock": available, "previousStock": available + 1,
            "reserved": 0, "available": available, **extra}


# --- WebSocket clients -----------------------------------------------------------------------

class Client:
    """A real WebSocket client (websockets' sync client) speaking the relay protocol; anonymous
    without a token (``source_address`` picks the local address it connects from)."""

    def __init__(self, url: str, token: str | None = None, *, query_token: bool = False, **kwargs: Any) -> None:
        target = f"{url}?token={token}" if query_token and token else url
        kwargs.setdefault("max_queue", None)
        kwargs.setdefault("ping_interval", None)  # the relay does the keepalive
        self.ws: ClientConnection = connect(target, open_timeout=10, legacy=True, **kwargs)
        self.seen: list[dict[str, Any]] = []
        if token and not query_token:
            self.send({"type": "auth", "token": token})
        if token:
            hello = self.recv()
            assert hello["type"] == "authenticated", hello

    def send(self, body: dict[str, Any]) -> None:
        self.ws.send(json.dumps(body))

    def recv(self, timeout: float = 15) -> dict[str, Any]:
        message = json.loads(self.ws.recv(timeout=timeout))
        self.seen.append(message)
        return dict(message)

    def subscribe(self, channel: str, since: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Frames received before the `subscribed` ack (replay, gap), and the ack."""
        body: dict[str, Any] = {"type": "subscribe", "channel": channel}
        if since is not None:
            body["since"] = since
        self.send(body)
        before: list[dict[str, Any]] = []
        while True:
            message = self.recv()
            if message["type"] == "subscribed" and message["channel"] == channel:
                return before, message
            before.append(message)

    def until(self, event_id: str, timeout: float = 15) -> list[dict[str, Any]]:
        """Every frame up to and including the event with this id."""
        got: list[dict[str, Any]] = []
        while True:
            message = self.recv(timeout)
            got.append(message)
            if message.get("id") == event_id:
                return got

    def until_all(self, event_ids: list[str], timeout: float = 15) -> list[dict[str, Any]]:
        """Every frame until all these event ids arrived (topics are separate logs: no order between them)."""
        wanted = set(event_ids)
        got: list[dict[str, Any]] = []
        while wanted:
            message = self.recv(timeout)
            got.append(message)
            wanted.discard(message.get("id", ""))
        return got

    def drain(self) -> list[dict[str, Any]]:
        """Every frame the relay wrote before answering a ping now."""
        self.send({"type": "ping"})
        got: list[dict[str, Any]] = []
        while (message := self.recv())["type"] != "pong":
            got.append(message)
        return got

    def closed_code(self, timeout: float = 15) -> int | None:
        """Read until the server closes; the close code it sent."""
        try:
            while True:
                self.ws.recv(timeout=timeout)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None

    def close(self) -> None:
        self.ws.close()


def events(frames: list[dict[str, Any]], only: Any = None) -> list[tuple[str, str]]:
    """(event, id) of the event frames, optionally only those whose id is in ``only`` (the shared
    stack's other tests also move stock and orders)."""
    return [(f["event"], f["id"]) for f in frames
            if f.get("type") == "event" and (only is None or f["id"].split(":")[0] in only)]


# --- health, auth, origins, frames -----------------------------------------------------------

def test_health_readiness_and_metrics(relay: RelayProcess) -> None:
    """/healthz and /readyz answer on the WebSocket port; unknown paths are 404."""
    assert relay.get("/healthz") == (200, {"status": "ok", "instance": "test-main"})
    status, body = relay.get("/readyz")
    assert status == 200 and body["ready"] and body["secretLoaded"] and body["kafkaConnected"]
    assert relay.get("/nope")[0] == 404
    metrics = relay.metrics()
    assert metrics["peak_rss_kib"] > 0
    assert metrics["gc"]["frozen"] > 0, "the start-up heap is frozen once the relay is ready"
    assert metrics["loopLagMs"]["max"] >= 0 and len(metrics["gc"]["collections"]) == 3


def test_unauthenticated_socket_is_closed_with_4401_after_5s(relay: RelayProcess) -> None:
    """A socket that never authenticates is closed by the relay with 4401."""
    c = Client(relay.url)
    assert c.closed_code(timeout=20) == 4401


@pytest.mark.parametrize("case", ["garbage", "expired", "foreign-key", "query-garbage"])
def test_auth_failures_close_4401(relay: RelayProcess, mint: Tokens, case: str) -> None:
    """Bad, expired or foreign tokens close with 4401."""
    if case == "query-garbage":
        c = Client(relay.url + "?token=not-a-jwt")
        assert c.closed_code() == 4401
        return
    c = Client(relay.url)
    uid = f"u-{uuid.uuid4().hex[:6]}"
    first: dict[str, Any] = {
        "garbage": {"type": "auth", "token": "not-a-jwt"},
        "expired": {"type": "auth", "token": tokens.issue(uid, "customer", "e@x", secret=mint.secret, ttl=-60)},
        "foreign-key": {"type": "auth", "token": tokens.issue(uid, "admin", "e@x", secret="x" * 40)},
    }[case]
    c.send(first)
    assert c.closed_code() == 4401


def test_query_token_fallback(relay: RelayProcess, mint: Tokens) -> None:
    """?token= authenticates clients that cannot send a first message; it is never logged."""
    _, token = mint.customer()
    c = Client(relay.url, token, query_token=True)
    c.send({"type": "ping"})
    assert c.recv() == {"type": "pong"}
    c.close()
    assert token not in relay.log_path.read_text(errors="replace")


def test_origin_allow_list(relay: RelayProcess, mint: Tokens) -> None:
    """A browser Origin outside RELAY_ALLOWED_ORIGINS is refused at the handshake; a listed one is served."""
    with pytest.raises(InvalidStatus) as refused:
        Client(relay.url, origin="https://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    _, token = mint.customer()
    Client(relay.url, token, origin=ORIGIN).close()  # type: ignore[arg-type]


def test_malformed_and_oversized_frames(relay: RelayProcess, mint: Tokens) -> None:
    """Malformed frames get an error and the socket stays usable; an oversized frame closes it (1009)."""
    _, token = mint.customer()
    c = Client(relay.url, token)
    c.ws.send("{not json")
    assert c.recv()["code"] == "bad_request"
    c.send({"type": "subscribe", "channel": "everything"})
    assert c.recv()["code"] == "bad_request"
    c.ws.send(b"\xff\xfe binary garbage")
    assert c.recv()["type"] == "error"
    c.send({"type": "ping"})
    assert c.recv() == {"type": "pong"}
    c.ws.send("x" * 200_000)
    assert c.closed_code() == 1009
    assert relay.ready()


# --- anonymous sockets (public channels) -----------------------------------------------------

def test_anonymous_socket_gets_the_public_channel_then_becomes_its_user_without_reconnecting(
        relay: RelayProcess, producer: KafkaProducer, mint: Tokens) -> None:
    """No token: `inventory` (stock and catalog changes) only; `orders` is unauthorized and `admin`
    forbidden, the socket stays open; `auth` later makes it the user's socket, `inventory` kept."""
    anonymous = Client(relay.url)
    anonymous.send({"type": "subscribe", "channel": "orders"})
    assert anonymous.recv() == {"type": "error", "code": "unauthorized", "channel": "orders",
                                "message": "the orders channel needs a signed-in user: send auth first"}
    anonymous.send({"type": "subscribe", "channel": "admin"})
    assert anonymous.recv()["code"] == "forbidden"
    anonymous.subscribe("inventory")
    uid, token = mint.customer()
    owner = Client(relay.url, token)
    owner.subscribe("orders")
    product = str(uuid.uuid4())
    public = [
        publish(producer, "inventory.updated", stock_data(3, productId=product), key=product, partition=0),
        publish(producer, "product.created", {"productId": product, "name": "Anon Mug", "sku": "ANON-1",
                                              "priceCents": 900, "currency": "USD", "stock": 3,
                                              "category": "x"}, key=product, partition=0),
        publish(producer, "product.updated", {"productId": product, "name": "Anon Mug 2"}, key=product, partition=0),
    ]
    private = publish(producer, "order.created", order_data(uid), key=uid, partition=0)
    owner.until(private)  # written to every target at once: a leak would now sit ahead of the pong
    got = anonymous.until_all(public) + anonymous.drain()
    assert sorted(events(got, {*public, private})) == sorted(
        [("inventory:updated", public[0]), ("product:created", public[1]), ("product:updated", public[2])])
    assert relay.metrics()["anonymousConnections"] >= 1

    anonymous.send({"type": "auth", "token": token})
    assert anonymous.recv() == {"type": "authenticated", "userId": uid, "role": "customer"}
    anonymous.subscribe("orders")
    mine = publish(producer, "order.created", order_data(uid), key=uid, partition=0)
    stock = publish(producer, "inventory.updated", stock_data(40), key="s", partition=0)
    assert sorted(events(anonymous.until_all([mine, stock]), {mine, stock})) == [("inventory:updated", stock),
                                                                                 ("order:created", mine)]
    anonymous.send({"type": "subscribe", "channel": "admin"})
    assert anonymous.recv()["code"] == "forbidden"
    anonymous.close()
    owner.close()


def test_anonymous_socket_that_leaves_its_public_channel_is_closed_4401(stack: Stack, mint: Tokens) -> None:
    """With no identity and no public channel a socket has no reason to stay: 4401 after the time limit."""
    r = RelayProcess(stack, "test-anon-timeout", RELAY_AUTH_TIMEOUT="1").start()
    try:
        kept = Client(r.url)
        kept.subscribe("inventory")
        left = Client(r.url)
        left.subscribe("inventory")
        left.send({"type": "unsubscribe", "channel": "inventory"})
        assert left.recv() == {"type": "unsubscribed", "channel": "inventory"}
        started = time.monotonic()
        assert left.closed_code() == 4401
        assert 0.5 < time.monotonic() - started < 10
        time.sleep(1.5)
        kept.send({"type": "ping"})
        assert kept.recv() == {"type": "pong"}, "a socket on a public channel stays past the time limit"
    finally:
        r.stop()


def test_anonymous_sockets_are_capped_per_source_address(stack: Stack, producer: KafkaProducer,
                                                         mint: Tokens) -> None:
    """Over RELAY_ANONYMOUS_PER_ADDRESS from one address: closed with 4408; other addresses and
    sockets that authenticate at the handshake still connect; a slot frees when one authenticates."""
    r = RelayProcess(stack, "test-anon-cap", RELAY_ANONYMOUS_PER_ADDRESS="3", RELAY_TRUSTED_PROXIES="127.0.0.2").start()
    try:
        crowd = [Client(r.url) for _ in range(3)]
        for c in crowd:
            c.subscribe("inventory")
        refused = Client(r.url)
        assert refused.closed_code() == 4408
        assert r.metrics()["anonymousRefused"] == 1
        elsewhere = Client(r.url, source_address=("127.0.0.2", 0))
        elsewhere.subscribe("inventory")
        signed_in = Client(r.url, mint.customer()[1], query_token=True)
        signed_in.subscribe("inventory")
        event = publish(producer, "inventory.updated", stock_data(7), key="cap", partition=2)
        for c in [*crowd, elsewhere, signed_in]:
            assert events(c.until(event)) == [("inventory:updated", event)]
        crowd[0].send({"type": "auth", "token": mint.customer()[1]})
        assert crowd[0].recv()["type"] == "authenticated"
        newcomer = Client(r.url)
        newcomer.subscribe("inventory")  # the authenticated socket no longer counts
        assert Client(r.url).closed_code() == 4408
        metrics = r.metrics()
        assert (metrics["anonymousConnections"], metrics["anonymousRefused"]) == (4, 2)
        crowd[1].close()
        wait_for(lambda: r.metrics()["anonymousConnections"] == 3, timeout=10, message="the close to be counted")
        Client(r.url).subscribe("inventory")
        # Behind a trusted proxy (127.0.0.2 here) the client it names in X-Forwarded-For counts;
        # an untrusted peer's header counts for nothing (127.0.0.1 is at its cap).
        proxied = {"source_address": ("127.0.0.2", 0), "additional_headers": {"X-Forwarded-For": "203.0.113.5"}}
        for _ in range(3):
            Client(r.url, **proxied).subscribe("inventory")
        assert Client(r.url, **proxied).closed_code() == 4408
        assert Client(r.url, additional_headers={"X-Forwarded-For": "203.0.113.6"}).closed_code() == 4408
    finally:
        r.stop()


# --- channels and mappings -------------------------------------------------------------------

def test_room_isolation(relay: RelayProcess, producer: KafkaProducer, mint: Tokens) -> None:
    """Customer B receives nothing of customer A's orders; A receives only its own."""
    a_id, a_token = mint.customer()
    b_id, b_token = mint.customer()
    a, b = Client(relay.url, a_token), Client(relay.url, b_token)
    a.subscribe("orders")
    b.subscribe("orders")
    a_events = [publish(producer, t, order_data(a_id), key=a_id, partition=1)
                for t in ("order.created", "order.updated", "order.cancelled", "order.shipped", "order.delivered")]
    b_event = publish(producer, "order.created", order_data(b_id), key=b_id, partition=1)
    got_a = a.until_all(a_events)
    assert sorted(i for _, i in events(got_a)) == sorted(a_events)
    # Every record is written to all its targets at once, so once A has all of its events any
    # leak to B would already sit in B's socket ahead of the pong.
    got_b = b.until_all([b_event]) + b.drain()
    assert events(got_b) == [("order:created", b_event)]
    assert events(a.drain()) == []


def test_admin_gating_by_signed_role(relay: RelayProcess, mint: Tokens) -> None:
    """The admin channel needs role admin in the signed token; an 'admin' user id is not enough."""
    _, token = mint.customer(f"admin-{uuid.uuid4().hex[:6]}")
    c = Client(relay.url, token)
    c.send({"type": "subscribe", "channel": "admin"})
    assert c.recv() == {"type": "error", "code": "forbidden", "message": "the admin channel needs the admin role",
                        "channel": "admin"}
    admin = Client(relay.url, mint.admin())
    assert admin.subscribe("admin")[1]["channel"] == "admin"


def test_every_topic_maps_to_its_websocket_events(relay: RelayProcess, producer: KafkaProducer, mint: Tokens) -> None:
    """Each contract topic becomes the owner / inventory / admin events of CONTRACT §3."""
    uid, token = mint.customer()
    owner, watcher = Client(relay.url, token), Client(relay.url, mint.customer()[1])
    admin = Client(relay.url, mint.admin())
    owner.subscribe("orders")
    watcher.subscribe("inventory")
    admin.subscribe("admin")
    ids = {
        "order.created": publish(producer, "order.created", order_data(uid), key=uid, partition=2),
        "order.updated": publish(producer, "order.updated", order_data(uid, previousStatus="pending"), key=uid,
                                 partition=2),
        "order.shipped": publish(producer, "order.shipped", {"orderId": "o", "buyerId": uid, "shippedAt": "t"},
                                 key=uid, partition=2),
        "order.delivered": publish(producer, "order.delivered", {"orderId": "o", "buyerId": uid, "deliveredAt": "t"},
                                   key=uid, partition=2),
        "order.cancelled": publish(producer, "order.cancelled", order_data(uid), key=uid, partition=2),
        "inventory.updated": publish(producer, "inventory.updated", stock_data(500), key="p", partition=2),
        "product.created": publish(producer, "product.created", {"productId": "p", "name": "n"}, key="p",
                                   partition=2),
        "product.updated": publish(producer, "product.updated", {"productId": "p", "priceCents": 5}, key="p",
                                   partition=2),
    }
    order_ids = [ids[t] for t in ("order.created", "order.updated", "order.shipped", "order.delivered",
                                  "order.cancelled")]
    assert sorted(events(owner.until_all(order_ids))) == sorted([
        ("order:created", ids["order.created"]), ("order:updated", ids["order.updated"]),
        ("order:updated", ids["order.shipped"]), ("order:updated", ids["order.delivered"]),
        ("order:cancelled", ids["order.cancelled"])])
    status = {f["id"]: f["data"]["status"] for f in owner.seen if f.get("type") == "event"}
    assert (status[ids["order.shipped"]], status[ids["order.delivered"]]) == ("shipped", "delivered")
    got = watcher.until_all([ids["inventory.updated"], ids["product.created"], ids["product.updated"]]) + watcher.drain()
    assert sorted(events(got, ids.values())) == sorted([
        ("inventory:updated", ids["inventory.updated"]), ("product:created", ids["product.created"]),
        ("product:updated", ids["product.updated"])])
    assert sorted(events(admin.until_all(list(ids.values())), ids.values())) == sorted([
        ("admin:order:created", ids["order.created"]), ("admin:order:updated", ids["order.updated"]),
        ("admin:order:updated", ids["order.shipped"]), ("admin:order:updated", ids["order.delivered"]),
        ("admin:order:cancelled", ids["order.cancelled"]), ("admin:inventory:updated", ids["inventory.updated"]),
        ("admin:product:created", ids["product.created"]), ("admin:product:updated", ids["product.updated"])])
    assert events(owner.drain()) == []
    assert all(f["cursor"] for f in admin.seen if f.get("type") == "event")


def test_low_and_zero_stock_alerts(relay: RelayProcess, producer: KafkaProducer, mint: Tokens) -> None:
    """available < 10 → admin:alert warning; 0 → critical; plenty → no alert."""
    admin = Client(relay.url, mint.admin())
    admin.subscribe("admin")
    plenty = publish(producer, "inventory.updated", stock_data(10), key="p", partition=0)
    low_data = stock_data(3)
    low = publish(producer, "inventory.updated", low_data, key="p", partition=0)
    zero = publish(producer, "inventory.updated", stock_data(0), key="p", partition=0)
    got = [f for f in admin.until(f"{zero}:alert") if f.get("type") == "event"
           and f["id"].split(":")[0] in (plenty, low, zero)]
    assert [(f["event"], f["id"]) for f in got] == [
        ("admin:inventory:updated", plenty), ("admin:inventory:updated", low), ("admin:alert", f"{low}:alert"),
        ("admin:inventory:updated", zero), ("admin:alert", f"{zero}:alert")]
    warning, critical = got[2]["data"], got[4]["data"]
    assert warning == {"type": "inventory", "severity": "warning", "message": warning["message"],
                       "productId": low_data["productId"], "sku": low_data["sku"], "available": 3}
    assert critical["severity"] == "critical" and critical["available"] == 0


# --- cursors and replay ----------------------------------------------------------------------

def test_replay_after_reconnect(relay: RelayProcess, producer: KafkaProducer, mint: Tokens) -> None:
    """Reconnecting with the last cursor replays what was missed, in order, without duplicates."""
    uid, token = mint.customer()
    observer = Client(relay.url, mint.admin())
    observer.subscribe("admin")
    c = Client(relay.url, token)
    c.subscribe("orders")
    first = publish(producer, "order.created", order_data(uid), key=uid, partition=0)
    cursor = c.until(first)[-1]["cursor"]
    c.close()
    missed = [publish(producer, "order.updated", order_data(uid), key=uid, partition=p % 3) for p in range(6)]
    publish(producer, "order.created", order_data("someone-else"), key="x", partition=0)
    seen_by_relay(observer, missed)
    again = Client(relay.url, token)
    replayed, ack = again.subscribe("orders", since=cursor)
    assert sorted(f["id"] for f in replayed) == sorted(missed) and ack["replayed"] == 6
    for p in range(3):  # per-partition (per-aggregate) order is kept
        assert [f["id"] for f in replayed if f["id"] in missed[p::3]] == missed[p::3]
    last = replayed[-1]["cursor"]
    again.close()
    third = Client(relay.url, token)
    before, ack = third.subscribe("orders", since=last)
    assert before == [] and ack["replayed"] == 0


def seen_by_relay(observer: Client, ids: list[str]) -> None:
    """Wait until an admin observer got every one of these events (so the relay has read them)."""
    wanted = set(ids)
    while wanted:
        wanted.discard(observer.recv().get("id", ""))


def test_unknown_cursor_gets_a_gap(relay: RelayProcess, mint: Tokens) -> None:
    """A cursor the relay cannot honour is answered with a gap, then live events."""
    _, token = mint.customer()
    c = Client(relay.url, token)
    before, ack = c.subscribe("orders", since="AQ-not-a-real-cursor")
    assert [f["type"] for f in before] == ["gap"] and before[0]["channel"] == "orders" and ack["replayed"] == 0


# --- restarts, scale-out, slow clients, broker restarts -------------------------------------

def test_replay_after_relay_restart(stack: Stack, producer: KafkaProducer, mint: Tokens) -> None:
    """A relay killed and started again rebuilds its window from Kafka and honours an old cursor."""
    r = RelayProcess(stack, "test-restart").start()
    try:
        uid, token = mint.customer()
        c = Client(r.url, token)
        c.subscribe("orders")
        first = publish(producer, "order.created", order_data(uid), key=uid, partition=1)
        cursor = c.until(first)[-1]["cursor"]
        r.stop(signal.SIGKILL)
        missed = [publish(producer, t, order_data(uid), key=uid, partition=1)
                  for t in ("order.updated", "order.shipped", "order.cancelled")]
        r.start()
        again = Client(r.url, token)
        replayed, ack = again.subscribe("orders", since=cursor)
        assert sorted(f["id"] for f in replayed) == sorted(missed) and ack["replayed"] == 3
        assert first not in {f["id"] for f in replayed}
    finally:
        r.stop()


def test_two_relay_instances_side_by_side(stack: Stack, relay: RelayProcess, producer: KafkaProducer,
                                          mint: Tokens) -> None:
    """Every client gets its events on whichever instance it is connected to; cursors move between them."""
    other = RelayProcess(stack, "test-second").start()
    try:
        uid, token = mint.customer()
        on_one, on_two = Client(relay.url, token), Client(other.url, token)
        watchers = [Client(relay.url, mint.customer()[1]), Client(other.url, mint.customer()[1])]
        for c in (on_one, on_two):
            c.subscribe("orders")
        for w in watchers:
            w.subscribe("inventory")
        order = publish(producer, "order.created", order_data(uid), key=uid, partition=0)
        stock = publish(producer, "inventory.updated", stock_data(42), key="p", partition=0)
        for c in (on_one, on_two):
            assert events(c.until(order), [order]) == [("order:created", order)]
        for w in watchers:
            assert events(w.until(stock), [stock]) == [("inventory:updated", stock)]
        # The load balancer moves the client: a cursor from instance one is honoured by instance two.
        cursor = on_one.seen[-1]["cursor"]
        on_one.close()
        missed = publish(producer, "order.updated", order_data(uid), key=uid, partition=2)
        on_two.until(missed)
        moved = Client(other.url, token)
        replayed, ack = moved.subscribe("orders", since=cursor)
        assert [f["id"] for f in replayed] == [missed] and ack["replayed"] == 1
        assert other.metrics()["instance"] == "test-second" and relay.metrics()["instance"] == "test-main"
    finally:
        other.stop()


def slow_socket(url: str) -> socket.socket:
    """A connected TCP socket with a tiny receive buffer, for a client that stops reading."""
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return sock


@pytest.mark.parametrize("who", ["signed-in", "anonymous"])
def test_slow_client_is_evicted_without_slowing_others(stack: Stack, producer: KafkaProducer, mint: Tokens,
                                                       who: str) -> None:
    """A client that stops reading is closed with 4429 past its queue bound, signed in or anonymous;
    a fast one gets everything."""
    r = RelayProcess(stack, f"test-slow-{who}", RELAY_CLIENT_QUEUE_BYTES="16384", RELAY_SOCKET_SNDBUF="8192").start()
    try:
        slow = Client(r.url, mint.customer()[1] if who == "signed-in" else None, sock=slow_socket(r.url), max_queue=1)
        fast = Client(r.url, mint.customer()[1])
        slow.subscribe("inventory")
        fast.subscribe("inventory")
        padding = "x" * 8_000
        sent: list[str] = []
        for i in range(1000):  # at most ~8 MB; stops as soon as the relay evicts the slow client
            # One at a time, so the fast client (read by this thread) is never the one falling behind.
            sent.append(publish(producer, "inventory.updated", stock_data(500, note=padding), key="p", partition=1))
            fast.until(sent[-1])
            if i % 10 == 9 and r.metrics()["evictions"] >= 1:
                break
        assert r.metrics()["evictions"] == 1, "the slow client was never evicted"
        last = publish(producer, "inventory.updated", stock_data(500), key="p", partition=1)
        fast.until(last)
        assert slow.closed_code(timeout=30) == 4429
        assert r.ready()
    finally:
        r.stop()


def test_keepalive_pings_close_unresponsive_clients(stack: Stack, producer: KafkaProducer, mint: Tokens) -> None:
    """Clients that answer pings stay connected; one that stopped reading (no pongs) is closed with 1011."""
    r = RelayProcess(stack, "test-keepalive", RELAY_PING_INTERVAL="1").start()
    try:
        alive = Client(r.url, mint.customer()[1])
        stalled = Client(r.url, mint.customer()[1], sock=slow_socket(r.url), max_queue=1)
        stalled.subscribe("inventory")
        # Two frames the stalled client never reads fill its queue: its reader stops, so do its pongs.
        for _ in range(3):
            publish(producer, "inventory.updated", stock_data(500), key="p", partition=2)
        wait_for(lambda: r.metrics()["keepaliveTimeouts"] >= 1, timeout=60, message="a keepalive timeout")
        assert stalled.closed_code(timeout=30) == 1011
        alive.send({"type": "ping"})
        assert alive.recv() == {"type": "pong"}
        assert r.metrics()["keepaliveTimeouts"] == 1
    finally:
        r.stop()


def test_a_client_is_pinged_once_per_interval_and_has_the_interval_to_answer(stack: Stack, mint: Tokens) -> None:
    """With a few connections the keepalive sweep still spreads over the whole interval: a client
    that answers each ping 0.6 s late (well within a 2 s interval) is pinged about once per interval
    and stays connected. (The sweep used to ping a lone connection every 0.25 s and close it with
    1011 when its pong took longer than that: a busy browser tab or test client lost its socket.)"""
    import aiohttp

    r = RelayProcess(stack, "test-ping-spread", RELAY_PING_INTERVAL="2").start()

    async def watch() -> tuple[int, int | None]:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(r.url, autoping=False, headers={"Origin": ORIGIN})
            await ws.send_json({"type": "auth", "token": mint.customer()[1]})
            pings, began = 0, time.monotonic()
            while time.monotonic() - began < 7:
                try:
                    msg = await asyncio.wait_for(ws.receive(), 0.5)
                except TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.PING:
                    pings += 1
                    await asyncio.sleep(0.6)
                    await ws.pong(msg.data)
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    return pings, ws.close_code
            await ws.close()
            return pings, None

    try:
        pings, closed = asyncio.run(watch())
        assert closed is None, f"closed with {closed} after {pings} ping(s)"
        assert 2 <= pings <= 5, pings
        assert r.metrics()["keepaliveTimeouts"] == 0
    finally:
        r.stop()


# --- bounds: replayed bytes and token lifetimes (the stack's own relay) -------------------------

def _memory_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident memory of a process, from /proc (KiB)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def test_non_reading_resubscriber_is_closed_4429_and_memory_stays_bounded(stack: Stack, producer: KafkaProducer,
                                                                          mint: Tokens) -> None:
    """One socket that never reads and re-subscribes ``inventory`` 300 times with an old cursor: its
    replays count against the one per-client bound, so it is closed with 4429 long before the 300
    replays (~50 MB) pile up in the relay; the other clients keep receiving."""
    url, pid = stack.ws_url, int(stack.state()["relayPid"])
    assert url is not None
    fast = Client(url, mint.customer()[1])
    _, ack = fast.subscribe("inventory")
    padding = "x" * 1500
    backlog = [publish(producer, "inventory.updated", stock_data(500, note=padding), key="p", partition=2)
               for _ in range(100)]  # a ~170 KB replay: under the 256 KiB bound on its own
    fast.until(backlog[-1])
    rss_before, peak_before = _memory_kib(pid)
    slow = Client(url, mint.customer()[1], sock=slow_socket(url), max_queue=1)
    sent = 0
    try:
        for _ in range(300):
            slow.send({"type": "subscribe", "channel": "inventory", "since": ack["cursor"]})
            sent += 1
    except (ConnectionClosed, OSError):
        pass  # the relay gave up on it while it was still sending
    live = publish(producer, "inventory.updated", stock_data(500), key="p", partition=2)
    # The live event arrives; nothing of the backlog comes again (other tests' stock moves may interleave).
    assert events(fast.until(live), only={live, *backlog}) == [("inventory:updated", live)]
    code = slow.closed_code(timeout=30)
    wait_for(lambda: _memory_kib(pid)[0] < rss_before + 16 * 1024, timeout=30, message="the relay's memory to return")
    rss_after, peak_after = _memory_kib(pid)
    print(f"\nrelay RSS before {rss_before} KiB (peak {peak_before}), after {sent} re-subscribes {rss_after} KiB "
          f"(peak {peak_after}, +{peak_after - peak_before} KiB)")
    assert code == 4429
    assert peak_after - peak_before < 24 * 1024, (peak_before, peak_after)
    fast.drain()  # still connected and answering (ConnectionClosed otherwise)
    fast.close()


def test_replay_larger_than_the_bound_is_a_gap(stack: Stack, producer: KafkaProducer, mint: Tokens) -> None:
    """A replay that alone exceeds the client's bound is not sent: the client is told ``gap`` (refetch
    over HTTP) and subscribed from now on; a replay that fits is sent as usual."""
    r = RelayProcess(stack, "test-bound", RELAY_CLIENT_QUEUE_BYTES="8192").start()
    try:
        c = Client(r.url, mint.customer()[1])
        _, old = c.subscribe("inventory")
        big = [publish(producer, "inventory.updated", stock_data(500, note="y" * 2000), key="p", partition=0)
               for _ in range(6)]  # ~13 KB: more than the bound
        c.until(big[-1])
        _, recent = c.subscribe("inventory")
        small = [publish(producer, "inventory.updated", stock_data(500), key="p", partition=0) for _ in range(2)]
        c.until(small[-1])
        late = Client(r.url, mint.customer()[1])
        before, done = late.subscribe("inventory", since=old["cursor"])
        assert [f["type"] for f in before] == ["gap"] and "bound" in before[0]["reason"], before
        assert done["replayed"] == 0
        fits = Client(r.url, mint.customer()[1])
        before, done = fits.subscribe("inventory", since=recent["cursor"])
        assert events(before, only=set(small)) == [("inventory:updated", eid) for eid in small]
        assert done["replayed"] == len(events(before))
        live = publish(producer, "inventory.updated", stock_data(500), key="p", partition=0)
        assert events(late.until(live), only={live, *big, *small}) == [("inventory:updated", live)]
        assert events(fits.until(live), only={live, *big, *small}) == [("inventory:updated", live)]
    finally:
        r.stop()


def test_socket_is_closed_4401_at_token_expiry_unless_it_reauthenticates(stack: Stack, mint: Tokens) -> None:
    """A socket whose token runs out is closed with 4401 (no more events); one that sent a fresh
    ``auth`` before then stays open; a fresh token for another user closes the socket (4401)."""
    url = stack.ws_url
    assert url is not None
    uid = f"cust-{uuid.uuid4().hex[:10]}"

    def short(user: str = uid, ttl: int = 3) -> str:
        return tokens.issue(user, "customer", f"{user}@test.local", secret=mint.secret, ttl=ttl)

    first = short()
    expires_at = tokens.verify(first, secret=mint.secret).expires_at
    expiring = Client(url, first)
    expiring.subscribe("inventory")
    renewing = Client(url, short())
    renewing.subscribe("orders")
    renewing.send({"type": "auth", "token": short(ttl=3600)})
    assert any(f["type"] == "authenticated" for f in renewing.drain())
    assert expiring.closed_code(timeout=15) == 4401
    assert time.time() >= expires_at - 0.5  # not before the token's expiry (whole seconds)
    wait_for(lambda: time.time() > expires_at + 2, timeout=10)  # past the renewing socket's first token too
    renewing.drain()  # still open (ConnectionClosed otherwise)
    renewing.send({"type": "auth", "token": short(user=f"other-{uid}", ttl=3600)})
    assert renewing.closed_code(timeout=15) == 4401


def test_broker_restart(stack: Stack, producer: KafkaProducer, mint: Tokens) -> None:
    """The broker comes back empty: the relay reconnects, resumes and pushes no duplicate.

    Last in this module: the module's idempotent producer does not survive the broker's restart.
    """
    if not hasattr(stack, "restart_broker"):
        pytest.skip("stack.restart_broker() is not available in this devstack")
    r = RelayProcess(stack, "test-broker").start()
    try:
        uid, token = mint.customer()
        c = Client(r.url, token)
        c.subscribe("orders")
        before = publish(producer, "order.created", order_data(uid), key=uid, partition=0)
        c.until(before)
        stack.restart_broker()
        fresh = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap.split(","), acks="all", linger_ms=0)
        try:
            # The outbox sweeper may publish an event again after the restart: same id, new offset.
            wait_for(lambda: _try_publish(fresh, "order.created", order_data(uid), uid, before), timeout=60,
                     message="the broker to accept records again")
            after = publish(fresh, "order.updated", order_data(uid), key=uid, partition=0)
        finally:
            fresh.close()
        got = c.until(after, timeout=60)
        assert events(got) == [("order:updated", after)]
        assert events(c.drain()) == []
        wait_for(lambda: r.ready(), timeout=30, message="the relay to be ready again")
        # The relay may first read on from its old position; once it sees the topic's new id it
        # re-reads the new epoch from its start and skips the re-published record by its id.
        wait_for(lambda: r.metrics()["duplicates"] >= 1, timeout=30,
                 message="the relay to re-read the new epoch and skip the re-published record")
        assert events(c.drain()) == []
    finally:
        r.stop()


def _try_publish(p: KafkaProducer, topic: str, data: dict[str, Any], key: str, event_id: str) -> bool:
    try:
        publish(p, topic, data, key=key, partition=0, event_id=event_id)
        return True
    except Exception:
        return False


"""Faults under load on a real local stack: nothing accepted is ever stranded.

Every test runs customers (threads) placing orders throughout on a stack of its own (some products
with little stock, so some orders are cancelled ``out_of_stock``; some cards declined), injects one
fault mid-way, and then requires that every order answered 201 reaches ``paid`` or ``cancelled``
within 60 s of recovery, and that the invariant check (``dev.py check``, here with no grace at all)
passes over the whole database: stock figures, stock held for paid orders, none for cancelled
ones, no unrefunded charge of a cancelled order, nobody charged twice. Every customer also watches
its ``orders`` channel over a WebSocket throughout, and one client watches ``inventory`` and the
admin ``admin`` (each reconnecting with its last cursor whenever the socket drops): afterwards each
must have had every event it is owed (by the event log and CONTRACT §3) exactly once, with no
``gap`` frame. Each test prints one row of the README's fault table (``pytest -s`` shows it).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from devstack.testing import ADDRESS, TEST_ENV, Stack, wait_for
from shop.saga import service as saga

pytestmark = [pytest.mark.stack, pytest.mark.disruptive]

ROOT = Path(__file__).resolve().parents[2]

#: The saga timeout of this stack, so a re-drive happens well within the 60 s allowed.
STUCK_AFTER = 15
#: How long a fault may take to settle after recovery (the issue's requirement).
SETTLE = 60.0
CUSTOMERS = 6
#: Each customer's pace (orders per second): together well below what the saga settles per second on
#: a busy 2-core machine, so what is measured is recovery, not a backlog of the load itself.
PACE = 0.75
WARM_UP = 6.0  # seconds of orders before the fault
AFTER = 3.0  # seconds of orders after recovery
#: Longer than a Kafka consumer's retry budget (6 attempts of a 2 s server-selection timeout + backoff).
DATABASE_OUTAGE = 25.0
RELAY_PAUSE = 20.0

FAULT_ENV = {
    **TEST_ENV,
    "DEVSTACK_ENV_SAGA_STUCK_AFTER_SECONDS": str(STUCK_AFTER),
}


# --- a stack this module owns (it is killed whole in one test) ----------------------------------


class OwnStack:
    """``devstack up`` in a data folder of this module; it can be killed and started again on the same data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self._stack: Stack | None = None

    @property
    def stack(self) -> Stack:
        assert self._stack is not None
        return self._stack

    def start(self) -> Stack:
        env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI",
                                                                "AWS_ENDPOINT_URL")}
        env.update(FAULT_ENV)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "supervisor.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "devstack", "up", "--free-ports", "--no-demo", "--data-dir", str(self.data_dir)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)  # its own process group, as a terminal gives `dev.py up`
        proc = self.proc
        state_file = self.data_dir / "run" / "stack.json"

        def ready() -> bool:
            assert proc.poll() is None, (self.data_dir / "supervisor.out").read_text()[-3000:]
            try:
                state = json.loads(state_file.read_text())
            except (OSError, ValueError):
                return False
            return bool(state.get("ready")) and state.get("pid") == proc.pid

        wait_for(ready, timeout=180, interval=0.2, message="the fault stack to be ready")
        self._stack = Stack(state_file, data_dir=self.data_dir)
        return self._stack

    def kill(self) -> None:
        """SIGKILL the whole process group of `dev.py up` (a closed laptop, a killed terminal)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnStack]:
    """A whole local stack for the fault tests (they break it on purpose)."""
    holder = OwnStack(tmp_path_factory.mktemp("faults") / "data")
    holder.start()
    warm_up(holder.stack)
    try:
        yield holder
    finally:
        holder.stop()


def warm_up(stack: Stack) -> None:
    """One paid and one declined order through every function of the saga, so cold starts are not measured."""
    stack.warm_up()
    token = stack.customer_token("fault-warm-up")
    product = str(stack.new_product(stock=10)["id"])
    ids = []
    for payment_token in ("tok_visa", "tok_declined"):
        r = stack.http("POST", "/api/orders", token=token, timeout=180, json_body={
            "items": [{"productId": product, "quantity": 1}], "shippingAddress": ADDRESS,
            "paymentToken": payment_token})
        assert r.status == 201, r
        ids.append(str(r.json["id"]))
    wait_for(lambda: saga.check(stack.db(), stuck_after=0).ok and all(
        d["status"] in ("paid", "cancelled") for d in stack.db()["orders"].find({"_id": {"$in": ids}})),
        timeout=180, interval=0.5, message="the warm-up orders to settle")


# --- customers placing orders throughout ------------------------------------------------------


@dataclass
class Catalog:
    plenty: list[str]
    scarce: list[str]


def catalog(stack: Stack) -> Catalog:
    """Two products nobody can exhaust, two that run out within seconds."""
    return Catalog(plenty=[str(stack.new_product(stock=100_000)["id"]) for _ in range(2)],
                   scarce=[str(stack.new_product(stock=6)["id"]) for _ in range(2)])


@dataclass
class Shoppers:
    """``CUSTOMERS`` threads placing orders until stopped; remembers every order answered 201."""

    own: OwnStack
    products: Catalog
    tokens: list[str]
    accepted: list[tuple[int, str]] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    _halt: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Shoppers:
        for i in range(len(self.tokens)):
            t = threading.Thread(target=self._shop, args=(i,), name=f"shopper-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._halt.set()
        for t in self._threads:
            t.join(30)

    def order_ids(self) -> list[str]:
        with self._lock:
            return [oid for _, oid in self.accepted]

    def _body(self, rng: random.Random, n: int) -> dict[str, Any]:
        items = [{"productId": rng.choice(self.products.plenty), "quantity": rng.randint(1, 3)}]
        if rng.random() < 0.35:
            items.append({"productId": rng.choice(self.products.scarce), "quantity": rng.randint(1, 2)})
        body: dict[str, Any] = {"items": items, "shippingAddress": ADDRESS}
        if n % 4 == 1:  # every fourth card is declined, so cancellations happen throughout
            body["paymentToken"] = "tok_declined"
        return body

    def _shop(self, i: int) -> None:
        rng = random.Random(i)
        n = 0
        while not self._halt.is_set():
            n += 1
            asked = time.monotonic()
            try:
                r = self.own.stack.http("POST", "/api/orders", token=self.tokens[i], json_body=self._body(rng, n),
                                        headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=15)
            except OSError as exc:  # the stack is down (connection refused) or too slow to answer
                with self._lock:
                    self.answers[type(exc).__name__] += 1
                self._halt.wait(0.3)
                continue
            with self._lock:
                self.answers[str(r.status)] += 1
                if r.status == 201:
                    self.accepted.append((i, str(r.json["id"])))
            self._halt.wait(max(0.0, 1 / PACE - (time.monotonic() - asked)))


@pytest.fixture
def shoppers(own: OwnStack) -> Iterator[Shoppers]:
    stack = own.stack
    crowd = Shoppers(own, catalog(stack), [stack.customer_token(f"fault-{i}") for i in range(CUSTOMERS)])
    try:
        yield crowd
    finally:
        crowd.stop()


class Watcher(threading.Thread):
    """One WebSocket on one channel (a customer's ``orders``, or ``inventory``, or ``admin`` as the admin),
    reconnecting with its last cursor whenever it drops."""

    def __init__(self, own: OwnStack, token: str, channel: str = "orders") -> None:
        super().__init__(daemon=True)
        self.own = own
        self.token = token
        self.channel = channel
        self.ids: list[str] = []
        self.gaps: list[str] = []
        self.cursor: str | None = None
        self.reconnects = 0
        self._halt = threading.Event()
        self.subscribed = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self._session()
            except (OSError, TimeoutError, ConnectionClosed, InvalidStatus, ValueError, KeyError, AssertionError):
                # the stack is down or starting again (no state file, relay not ready): try again
                self.reconnects += 1
                self._halt.wait(0.5)

    def _session(self) -> None:
        url = self.own.stack.state()["wsUrl"]
        with connect(url, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "auth", "token": self.token}))
            assert json.loads(ws.recv(timeout=10))["type"] == "authenticated"
            subscribe: dict[str, Any] = {"type": "subscribe", "channel": self.channel}
            if self.cursor:
                subscribe["since"] = self.cursor
            ws.send(json.dumps(subscribe))
            while not self._halt.is_set():
                try:
                    frame = json.loads(ws.recv(timeout=0.5))
                except TimeoutError:
                    continue
                if frame.get("type") == "subscribed":
                    self.subscribed.set()
                    self.cursor = frame.get("cursor") or self.cursor
                elif frame.get("type") == "gap":
                    self.gaps.append(str(frame.get("reason")))
                elif frame.get("type") == "event":
                    self.ids.append(str(frame["id"]))
                    self.cursor = frame.get("cursor") or self.cursor


ORDER_TOPICS = ("order.created", "order.updated", "order.cancelled", "order.shipped", "order.delivered")
#: Every topic the relay pushes (CONTRACT §3): the ``admin`` channel carries all of them.
RELAY_TOPICS = (*ORDER_TOPICS, "inventory.updated", "product.created", "product.updated")
#: CONTRACT §3: an ``inventory.updated`` with fewer available also reaches ``admin`` as ``admin:alert``
#: (its id is the event's id + ``:alert``, docs/RELAY.md).
ALERT_BELOW = 10


@dataclass
class Sockets:
    """The WebSocket figures of one audience in one fault: each event it is owed delivered once, or not."""

    audience: str
    expected: int
    delivered: int
    duplicated: int
    missed: int
    gaps: int
    reconnects: int


@dataclass
class Watchers:
    """Every customer on its ``orders``, one client on ``inventory`` and the admin on ``admin``."""

    customers: list[Watcher]
    inventory: Watcher
    admin: Watcher

    def all(self) -> list[Watcher]:
        return [*self.customers, self.inventory, self.admin]


def relay_stats(stack: Stack) -> dict[str, Any]:
    """The relay's counters (``/stats`` on its WebSocket port)."""
    url = str(stack.state()["wsUrl"]).replace("ws://", "http://", 1).removesuffix("/ws") + "/stats"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return dict(json.loads(resp.read()))


def watch(own: OwnStack, crowd: Shoppers) -> Watchers:
    """Subscribed sockets, before the first order: every customer's ``orders``, ``inventory`` (as a
    customer) and ``admin`` (as the admin)."""
    watchers = Watchers(customers=[Watcher(own, token) for token in crowd.tokens],
                        inventory=Watcher(own, crowd.tokens[0], "inventory"),
                        admin=Watcher(own, own.stack.admin_token(), "admin"))
    for w in watchers.all():
        w.start()
    for w in watchers.all():
        assert w.subscribed.wait(60), f"a client could not subscribe to {w.channel}"
    return watchers


def owed(stack: Stack, crowd: Shoppers) -> tuple[list[set[str]], set[str], set[str]]:
    """The event ids each audience must get, from the event log: per customer the events of its orders;
    ``inventory`` the stock changes of those orders; ``admin`` every event of them and an alert for each
    stock change that leaves fewer than ``ALERT_BELOW`` available."""
    db = stack.db()
    customers: list[set[str]] = []
    orders: list[str] = []
    for token in crowd.tokens:
        me = stack.http("GET", "/api/auth/me", token=token).json["id"]
        mine = [d["_id"] for d in db["orders"].find({"buyerId": me}, {"_id": 1})]
        orders.extend(mine)
        customers.append({d["_id"] for d in db["events"].find(
            {"orderId": {"$in": mine}, "type": {"$in": ORDER_TOPICS}}, {"_id": 1})})
    inventory: set[str] = set()
    admin: set[str] = set()
    for d in db["events"].find({"orderId": {"$in": orders}, "type": {"$in": RELAY_TOPICS}}, {"type": 1, "envelope": 1}):
        admin.add(d["_id"])
        if d["type"] == "inventory.updated":
            inventory.add(d["_id"])
            data = d["envelope"]["data"]
            available = data.get("available", data["stock"] - data.get("reserved", 0))
            if available < ALERT_BELOW:
                admin.add(f"{d['_id']}:alert")
    return customers, inventory, admin


def count(audience: str, watchers: list[Watcher], expected: list[set[str]]) -> Sockets:
    """What ``watchers`` got of what each was owed: an owed event never received, or a ``gap``, is a miss;
    any event received more than once is a duplicate (owed or not)."""
    out = Sockets(audience, expected=sum(len(e) for e in expected), delivered=0, duplicated=0, missed=0,
                  gaps=sum(len(w.gaps) for w in watchers), reconnects=sum(w.reconnects for w in watchers))
    for w, e in zip(watchers, expected, strict=True):
        seen = Counter(w.ids)
        out.delivered += len(e & set(seen))
        out.duplicated += sum(n - 1 for n in seen.values())
        out.missed += len(e - set(seen))
    return out


def delivered(own: OwnStack, crowd: Shoppers, watchers: Watchers) -> list[Sockets]:
    """Wait (at most 30 s) for every audience's events to reach its socket, then count what each got."""
    stack = own.stack
    customers, inventory, admin = owed(stack, crowd)
    pairs = [*zip(watchers.customers, customers, strict=True), (watchers.inventory, inventory),
             (watchers.admin, admin)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(e <= set(w.ids) for w, e in pairs):
        time.sleep(0.5)
    time.sleep(1.0)  # anything still on its way twice
    figures = [count(f"{len(customers)} customers' orders", watchers.customers, customers),
               count("inventory", [watchers.inventory], [inventory]), count("admin", [watchers.admin], [admin])]
    relay = relay_stats(stack)
    for out in figures:
        print(f"WS-TABLE | {out.audience} | events expected {out.expected} | delivered {out.delivered} | "
              f"duplicated {out.duplicated} | missed {out.missed} | gap frames {out.gaps} | "
              f"reconnects {out.reconnects}", flush=True)
    print(f"WS-RELAY | back-filled from the log {relay.get('backfilled')} | log replays {relay.get('logReplays')} | "
          f"duplicates dropped {relay.get('duplicates')}", flush=True)
    for w in watchers.all():
        assert w.gaps == [], (w.channel, w.gaps)
    return figures


# --- settling and the figures ---------------------------------------------------------------


@dataclass
class Outcome:
    fault: str
    accepted: int
    settled: int
    seconds: float
    violations: list[saga.Problem]


def settle(own: OwnStack, fault: str, crowd: Shoppers, recovered_at: float) -> Outcome:
    """Wait (at most ``SETTLE`` s after recovery) for every accepted order to be paid or cancelled
    and for every invariant to hold; print the row of the fault table."""
    crowd.stop()
    ids = crowd.order_ids()
    deadline = recovered_at + SETTLE
    db = own.stack.db()
    settled = 0
    report: saga.Report | None = None
    while time.monotonic() < deadline:
        statuses = {d["_id"]: d["status"] for d in db["orders"].find({"_id": {"$in": ids}}, {"status": 1})}
        settled = sum(1 for oid in ids if statuses.get(oid) in ("paid", "cancelled"))
        if settled == len(ids):
            report = saga.check(db, stuck_after=0)
            if report.ok:
                break
        time.sleep(1.0)
    seconds = time.monotonic() - recovered_at
    if report is None or not report.ok:
        report = saga.check(db, stuck_after=0)
    outcome = Outcome(fault, len(ids), settled, seconds, report.violations)
    print(f"\nFAULT-TABLE | {fault} | accepted {outcome.accepted} | settled {outcome.settled} | "
          f"{outcome.seconds:.1f} s after recovery | violations {len(outcome.violations)} | answers "
          f"{dict(crowd.answers)}", flush=True)
    return outcome


def assert_nothing_stranded(outcome: Outcome, own: OwnStack, ids: list[str]) -> None:
    assert outcome.accepted > 0
    assert outcome.settled == outcome.accepted, f"{outcome.accepted - outcome.settled} order(s) never settled"
    assert outcome.violations == [], outcome.violations[:10]
    db = own.stack.db()
    orders = {d["_id"]: d for d in db["orders"].find({"_id": {"$in": ids}}, {"status": 1, "cancelReason": 1})}
    payments = {d["_id"]: d for d in db["payments"].find({"_id": {"$in": ids}})}
    for oid in ids:
        payment = payments.get(oid) or {}
        if orders[oid]["status"] == "paid":
            assert payment.get("status") == "succeeded", (oid, payment)
        else:  # never charged, or charged and refunded
            assert payment.get("status") in ("voided", "failed", "refunded"), (oid, payment)
    reasons = Counter(o.get("cancelReason") for o in orders.values() if o["status"] == "cancelled")
    assert reasons["payment_declined"] > 0, reasons


def run_under_load(own: OwnStack, crowd: Shoppers, fault: str, inject: Callable[[], float]) -> Outcome:
    """Orders before, during and after ``inject()`` (which returns when the fault is over: the recovery
    time), with every customer watching its orders over a WebSocket throughout."""
    watchers = watch(own, crowd)
    try:
        crowd.start()
        time.sleep(WARM_UP)
        recovered_at = inject()
        time.sleep(AFTER)
        outcome = settle(own, fault, crowd, recovered_at)
        assert_nothing_stranded(outcome, own, crowd.order_ids())
        figures = delivered(own, crowd, watchers)
    finally:
        for w in watchers.all():
            w.stop()
    for sockets in figures:
        assert sockets.duplicated == 0, f"an event reached a socket twice ({sockets.audience})"
        assert sockets.missed == 0, f"an event owed never reached its socket ({sockets.audience})"
        assert sockets.delivered == sockets.expected
    return outcome


def service_pid(stack: Stack, prefix: str) -> int:
    return int(next(pid for name, pid in stack.state()["pids"].items() if name.startswith(prefix)))


def dead_lettered(stack: Stack) -> int:
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="shop-consumer-dlq")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


@contextmanager
def port_held(port: int, timeout: float = 10) -> Iterator[None]:
    """Hold ``port`` so the database cannot come back until the block ends: whoever connects is
    disconnected at once, as by a host whose database will not start."""
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the killed server's connections linger
    deadline = time.monotonic() + timeout
    while True:
        try:
            blocker.bind(("127.0.0.1", port))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    blocker.listen(64)
    blocker.settimeout(0.2)
    held = threading.Event()
    held.set()

    def refuse() -> None:
        while held.is_set():
            try:
                conn, _ = blocker.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    try:
        yield
    finally:
        held.clear()
        thread.join(5)
        blocker.close()


# --- the faults -------------------------------------------------------------------------------


def test_broker_killed(own: OwnStack, shoppers: Shoppers) -> None:
    """SIGKILL of the broker mid-load: it comes back empty, and every accepted order still settles."""

    def inject() -> float:
        own.stack.restart_broker()
        return time.monotonic()

    run_under_load(own, shoppers, "broker SIGKILL (restarted empty)", inject)


def last_record(stack: Stack, topic: str) -> Any:
    """The newest record of ``topic`` (any partition), read back with its key, value and headers."""
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap.split(","), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(partitions)
        newest = max((tp for tp in partitions if ends[tp] > 0), key=lambda tp: ends[tp])
        consumer.assign([newest])
        consumer.seek(newest, ends[newest] - 1)
        for _ in range(20):
            for records in consumer.poll(timeout_ms=500).values():
                return records[-1]
        raise AssertionError(f"could not read back the newest record of {topic}")
    finally:
        consumer.close()


def test_database_down_longer_than_the_retry_budget(own: OwnStack, shoppers: Shoppers) -> None:
    """The database dies and cannot come back for 25 s: requests answer 503 quickly, consumers dead-letter,
    the watchdog restarts it, and the reconciler re-drives the dead-lettered orders.

    The pollers hand a record to its function within milliseconds, so an order's records are seldom
    still in flight when the database dies: the broker redelivers one (the newest ``order.created``,
    at least once as Kafka may) while it is down, which its consumers must then dead-letter."""
    stack = own.stack
    before = dead_lettered(stack)
    port = int(stack.mongodb_uri.rsplit(":", 1)[1].split("/", 1)[0])

    def inject() -> float:
        redelivered = last_record(stack, "order.created")
        old = service_pid(stack, "MongoDB")
        os.kill(old, signal.SIGKILL)
        with port_held(port):
            started = time.monotonic()
            time.sleep(3)  # let the gateway's warm functions notice
            asked = time.monotonic()
            r = stack.http("GET", "/api/products?limit=1", timeout=30)
            took = time.monotonic() - asked
            assert r.status == 503, r
            assert r.headers.get("Retry-After", "").isdigit(), r.headers
            assert r.json["error"]["code"] == "service_unavailable", r.json
            print(f"while the database is down: GET /api/products answered 503 in {took:.2f} s")
            producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap.split(","), acks="all", linger_ms=0)
            try:
                producer.send("order.created", key=redelivered.key, value=redelivered.value,
                              headers=list(redelivered.headers)).get(10)
            finally:
                producer.close(5)
            time.sleep(max(0.0, DATABASE_OUTAGE - (time.monotonic() - started)))
        wait_for(lambda: service_pid(stack, "MongoDB") != old, timeout=30, message="the watchdog to restart the database")
        wait_for(lambda: stack.http("GET", "/api/health").status == 200, timeout=30, message="the API to answer again")
        return time.monotonic()

    run_under_load(own, shoppers, f"database SIGKILL, back after {DATABASE_OUTAGE:.0f} s", inject)
    letters = dead_lettered(stack) - before
    print(f"dead-lettered during the outage: {letters}")
    assert letters > 0, "a record handled while the database was down should have been dead-lettered"


def _workers_of(function: str, supervisor: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(supervisor)], capture_output=True, text=True)
    found = []
    for pid in (int(p) for p in out.stdout.split()):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"AWS_LAMBDA_FUNCTION_NAME={function}".encode() in environ:
            found.append(pid)
    return found


def test_function_workers_killed(own: OwnStack, shoppers: Shoppers) -> None:
    """The stock-reservation function's workers are SIGKILLed again and again for 6 s (mid-step crashes)."""
    stack = own.stack
    supervisor = int(stack.state()["pid"])

    def inject() -> float:
        killed = 0
        until = time.monotonic() + 6
        while time.monotonic() < until:
            for pid in _workers_of("ReserveStockFunction", supervisor):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        print(f"killed {killed} ReserveStockFunction worker(s)")
        assert killed > 0
        return time.monotonic()

    run_under_load(own, shoppers, "ReserveStock workers SIGKILLed for 6 s", inject)


def test_pollers_killed(own: OwnStack, shoppers: Shoppers) -> None:
    """The event-source pollers' process is SIGKILLed three times, 2 s apart (as a librdkafka crash would
    end it): the watchdog starts it again, it resumes from the committed offsets, and what it had
    invoked but not committed is delivered again and applied once in effect."""
    stack = own.stack

    def inject() -> float:
        for _ in range(3):
            old = int(stack.state()["pollersPid"])
            os.kill(old, signal.SIGKILL)
            wait_for(lambda old=old: (stack.state().get("pollersPid") or old) != old, timeout=30,
                     message="the watchdog to start the pollers again")
            time.sleep(2)
        return time.monotonic()

    run_under_load(own, shoppers, "event-source pollers SIGKILLed 3 times", inject)
    assert int(stack.state()["pollersRestarts"]) >= 3


def test_relay_paused(own: OwnStack, shoppers: Shoppers) -> None:
    """The relay is SIGSTOPped for 20 s: orders settle, and every customer's socket has each of its order
    events exactly once (none missed, none twice)."""
    relay = int(own.stack.state()["relayPid"])

    def inject() -> float:
        os.kill(relay, signal.SIGSTOP)
        try:
            time.sleep(RELAY_PAUSE)
        finally:
            os.kill(relay, signal.SIGCONT)
        return time.monotonic()

    run_under_load(own, shoppers, f"relay SIGSTOP for {RELAY_PAUSE:.0f} s", inject)


def test_whole_stack_killed_and_started_again(own: OwnStack, shoppers: Shoppers) -> None:
    """SIGKILL of `dev.py up`'s whole process group, then `dev.py up` again on the same data folder."""

    def inject() -> float:
        own.kill()
        time.sleep(2)
        own.start()
        return time.monotonic()

    run_under_load(own, shoppers, "whole stack SIGKILL, started again", inject)
    check = subprocess.run([sys.executable, "-m", "devstack", "check", "--data-dir", str(own.data_dir),
                            "--stuck-after", "0"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "every invariant holds" in check.stdout

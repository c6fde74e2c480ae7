"""The whole shop under rising load: orders/s accepted and settled, and latency percentiles per offered rate.

    .venv/bin/python scripts/bench_load.py                      # starts its own stack on free ports
    .venv/bin/python scripts/bench_load.py --state var/data/run/stack.json   # or a running `dev.py up`
    .venv/bin/python scripts/bench_load.py --rates 100 --seconds 60          # one rate, longer

For each offered rate (orders/s, open loop: a POST is due every 1/rate s, spread over
``--customers`` customers, each order taking one or two of ``--products`` products) it runs
``--seconds`` of load while every customer and one admin keep a WebSocket to the relay, then
prints orders accepted/s (201s), orders settled/s (the buyer's ``order:updated`` with ``paid`` or
``order:cancelled`` arriving inside the window), the backlog left when the window ended, p50/p99
of POST → 201, POST → buyer's ``order:created``, POST → buyer's ``order:updated`` (paid) and POST →
admin's ``admin:order:created``, and Kafka record → function invocation over the mappings that
invoke at once (from the runtime's ``devstack_esm_record_age_seconds`` histogram, interpolated
inside its buckets). CPU per process of the stack (from /proc, % of one core) is sampled over each
window, with the stack's CPU per accepted order and this benchmark's own share. The first rate whose settling
falls behind accepting (settled < 90% of accepted, or a backlog of more than 2 s of orders) is the
saturation rate; higher rates are skipped. Then it measures a function's cold start (new worker:
import + first call) and the warm overhead of one invocation against the same handler called
in-process. The curve is written as an SVG chart to ``--svg``. Figures only; nothing is asserted.

Before any traffic it samples the idle stack's CPU ``--idle`` seconds long, starting ``--idle-after``
seconds after the stack was started (its schedules run every 10 s, as under ``dev.py up``), then
times one order after each of three ``--quiet`` spells (the idle readers' wake-up). After
the load it starts a second stack whose database is behind the command-counting proxy of
``scripts/db_commands.py`` and counts the database commands of ``--db-orders`` orders placed one by
one at 2/s (settled, schedules included). The last lines sum up the figures the event path is
judged by (issue 18's targets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "localstack"), str(ROOT / "scripts")]

from bench_orders import ADDRESS, Api, percentile, setup  # noqa: E402
from db_commands import Proxy  # noqa: E402

from devstack.metrics import samples  # noqa: E402
from devstack.testing import Stack, start_stack  # noqa: E402

SETTLE_WAIT = 30.0
SATURATED_SHARE = 0.9


# --- per-process CPU from /proc -------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    task = Path(f"/proc/{pid}/task")
    for tid in task.glob("*") if task.exists() else []:
        try:
            out.extend(int(c) for c in (tid / "children").read_text().split())
        except OSError:
            continue
    return out


def process_tree(root: int) -> list[int]:
    seen, todo = [], [root]
    while todo:
        pid = todo.pop()
        seen.append(pid)
        todo.extend(_children(pid))
    return seen


def process_name(pid: int) -> str:
    """A readable name: the function of a Lambda worker, the module or program of anything else."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        cmd = [c.decode(errors="replace") for c in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if c]
    except OSError:
        return f"pid {pid}"
    fn = next((e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"AWS_LAMBDA_FUNCTION_NAME=")), None)
    if fn and "devstack.worker" in cmd:
        return f"worker {fn}"
    if "-m" in cmd and cmd.index("-m") + 1 < len(cmd):
        module = cmd[cmd.index("-m") + 1]
        return "supervisor (gateway, pollers)" if module == "devstack" else module
    if len(cmd) > 1 and Path(cmd[0]).name.startswith("python"):
        return Path(cmd[1]).name  # a console script (nx-27017, moto_server)
    return Path(cmd[0]).name if cmd else f"pid {pid}"


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


class CpuMeter:
    """CPU of every process under the supervisor between ``start`` and ``stop``, by process name."""

    def __init__(self, root: int | None) -> None:
        self.root = root
        self._before: dict[int, int] = {}
        self._began = 0.0

    def start(self) -> None:
        self._before = {pid: cpu_ticks(pid) for pid in process_tree(self.root)} if self.root else {}
        self._began = time.monotonic()

    def stop(self) -> dict[str, float]:
        """% of one core per process name (workers of one function summed)."""
        if not self.root:
            return {}
        wall = time.monotonic() - self._began
        out: dict[str, float] = {}
        for pid in process_tree(self.root):
            used = cpu_ticks(pid) - self._before.get(pid, 0)
            name = process_name(pid)
            out[name] = out.get(name, 0.0) + used / TICKS / wall * 100
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def new_product(api: Api, token: str, i: int) -> str:
    status, product = api.call("POST", "/api/products", {
        "name": f"Bench item {i}", "description": "benchmark", "priceCents": 500 + i, "currency": "USD",
        "sku": f"BENCH-{i}-{random.getrandbits(40):x}", "stock": 10_000_000, "category": "bench"}, token)
    assert status == 201, product
    return str(product["id"])


# --- the load -------------------------------------------------------------------------------------

@dataclass
class Order:
    posted: float
    buyer: str
    accepted: float | None = None
    created: float | None = None
    paid: float | None = None
    settled: float | None = None
    admin_created: float | None = None


@dataclass
class Stage:
    rate: float
    seconds: float
    orders: dict[str, Order] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted_at: list[float] = field(default_factory=list)
    began: float = 0.0
    ended: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    load: float = 0.0
    #: Kafka record → function invocation (every mapping), as histogram bucket counts {upper bound: count}
    record_age: dict[float, float] = field(default_factory=dict)
    #: the pollers' work over the stage (sums of the runtime's counters): fetches, end-offset reads, invocations
    esm: dict[str, float] = field(default_factory=dict)
    #: this benchmark's own CPU over the window, % of a core (it shares the machine)
    own_cpu: float = 0.0
    #: events that arrived before their order's 201 did: order id -> [(event, status, time)]
    early: dict[str, list[tuple[str, Any, float]]] = field(default_factory=dict)

    def settled_in_window(self) -> int:
        return sum(1 for o in self.orders.values() if o.settled is not None and o.settled <= self.ended)

    def accepted(self) -> int:
        return sum(1 for t in self.accepted_at if t <= self.ended)

    def latencies(self, attr: str) -> list[float]:
        return sorted((getattr(o, attr) - o.posted) * 1000 for o in self.orders.values()
                      if getattr(o, attr) is not None)

    def saturated(self) -> bool:
        accepted, settled = self.accepted(), self.settled_in_window()
        return accepted > 0 and (settled < SATURATED_SHARE * accepted or accepted - settled > 2 * self.rate)


def record_event(order: Order, event: str, status: Any, at: float) -> None:
    """Note the first arrival of each event of interest for ``order``."""
    if event == "order:created" and order.created is None:
        order.created = at
    elif event == "admin:order:created" and order.admin_created is None:
        order.admin_created = at
    elif event == "order:updated" and status == "paid" and order.paid is None:
        order.paid = at
        order.settled = order.settled or at
    elif event == "order:cancelled" and order.settled is None:
        order.settled = at


class Listener:
    """WebSocket clients (one per buyer, one admin) recording when each order's events arrive."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.stage: Stage | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.ready = 0


    async def connect(self, session: aiohttp.ClientSession, token: str, channel: str) -> None:
        ws = await session.ws_connect(self.ws_url, heartbeat=20)
        await ws.send_json({"type": "auth", "token": token})
        await ws.send_json({"type": "subscribe", "channel": channel})
        self.tasks.append(asyncio.create_task(self._read(ws)))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.perf_counter()
            frame = json.loads(msg.data)
            if frame.get("type") == "subscribed":
                self.ready += 1
            if frame.get("type") != "event":
                continue
            data = frame.get("data") or {}
            oid = str(data.get("orderId") or data.get("id") or "")
            stage = self.stage
            if stage is None or not oid:
                continue
            order = stage.orders.get(oid)
            if order is None:  # the event beat the POST's answer: keep it for when the 201 arrives
                stage.early.setdefault(oid, []).append((str(frame.get("event")), data.get("status"), now))
            else:
                record_event(order, str(frame.get("event")), data.get("status"), now)
        print(f"a WebSocket client was closed (code {ws.close_code}); its events are missing from here on",
              flush=True)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()


def order_body(rng: random.Random, products: list[str]) -> dict[str, Any]:
    """One or two lines of different products from the catalog, one unit each."""
    picked = rng.sample(products, k=min(len(products), rng.choice((1, 1, 2))))
    return {"items": [{"productId": p, "quantity": 1} for p in picked], "shippingAddress": ADDRESS}


async def post_order(session: aiohttp.ClientSession, api_url: str, token: str, buyer: str, body: dict[str, Any],
                     stage: Stage) -> None:
    posted = time.perf_counter()
    async with session.post(f"{api_url}/api/orders", json=body,
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        answer = await resp.json(content_type=None)
        now = time.perf_counter()
        stage.statuses[resp.status] = stage.statuses.get(resp.status, 0) + 1
        if resp.status == 201:
            stage.accepted_at.append(now)
            order_id = str(answer["id"])
            order = stage.orders.setdefault(order_id, Order(posted=posted, buyer=buyer))
            order.posted, order.accepted = posted, now
            for event, status, at in stage.early.pop(order_id, []):
                record_event(order, event, status, at)


ESM_COUNTERS = {"devstack_esm_fetches_total": "fetches", "devstack_esm_end_offset_reads_total": "end-offset reads",
                "devstack_esm_invocations_total": "invocations"}


def runtime_metrics(metrics_url: str | None) -> tuple[dict[float, float], dict[str, float]]:
    """The runtime's cumulative record-age histogram over the mappings that invoke at once
    (``MaximumBatchingWindowInSeconds: 0``; the others wait to fill a batch by design) as {upper bound: count},
    and the pollers' counters summed over every mapping (:data:`ESM_COUNTERS`)."""
    if not metrics_url:
        return {}, {}
    import urllib.request

    with urllib.request.urlopen(metrics_url, timeout=30) as resp:
        text = resp.read().decode()
    out: dict[float, float] = {}
    counters: dict[str, float] = {}
    parsed = list(samples(text))
    immediate = {(labels["function"], labels["mapping"]) for name, labels, _ in parsed
                 if name == "devstack_esm_mapping_info" and labels.get("batching_window_seconds") == "0"}
    for name, labels, value in parsed:
        if name == "devstack_esm_record_age_seconds_bucket" and (labels["function"], labels["mapping"]) in immediate:
            bound = float(labels["le"])
            out[bound] = out.get(bound, 0.0) + value
        elif name in ESM_COUNTERS:
            counters[ESM_COUNTERS[name]] = counters.get(ESM_COUNTERS[name], 0.0) + value
    return out, counters


def bucket_percentile(buckets: dict[float, float], q: float) -> float | None:
    """The q-th percentile (ms) of a cumulative histogram, interpolated inside its bucket."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = total * q / 100, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower * 1000
            share = (rank - below) / (count - below) if count > below else 1.0
            return (lower + (bound - lower) * share) * 1000
        lower, below = bound, count
    return None


async def run_stage(session: aiohttp.ClientSession, api_url: str, listener: Listener, customers: list[tuple[str, str]],
                    products: list[str], stage: Stage, meter: CpuMeter, metrics_url: str | None = None) -> None:
    listener.stage = stage
    rng = random.Random(int(stage.rate * 1000))
    ages_before, esm_before = await asyncio.to_thread(runtime_metrics, metrics_url)
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    pending: set[asyncio.Task[None]] = set()
    total = int(stage.rate * stage.seconds)
    meter.start()
    stage.began = time.perf_counter()
    for i in range(total):
        due = stage.began + i / stage.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        token, buyer = customers[i % len(customers)]
        task = asyncio.create_task(post_order(session, api_url, token, buyer, order_body(rng, products), stage))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.sleep(max(0.0, stage.began + stage.seconds - time.perf_counter()))
    stage.ended = time.perf_counter()
    stage.cpu = meter.stop()
    own = resource.getrusage(resource.RUSAGE_SELF)
    stage.own_cpu = ((own.ru_utime + own.ru_stime) - (own_before.ru_utime + own_before.ru_stime)) \
        / (stage.ended - stage.began) * 100
    stage.load = os.getloadavg()[0]
    if pending:
        await asyncio.wait(pending, timeout=60)
    # let the saga finish this stage's orders before the next rate (bounded wait)
    deadline = time.perf_counter() + SETTLE_WAIT
    while time.perf_counter() < deadline and any(o.settled is None for o in stage.orders.values()):
        await asyncio.sleep(0.2)
    after, esm_after = await asyncio.to_thread(runtime_metrics, metrics_url)
    stage.record_age = {b: after[b] - ages_before.get(b, 0.0) for b in after}
    stage.esm = {k: v - esm_before.get(k, 0.0) for k, v in esm_after.items()}


def fmt(values: list[float]) -> str:
    if not values:
        return "      -       -"
    return f"{percentile(values, 50):7.0f} {percentile(values, 99):7.0f}"


def print_stage(stage: Stage) -> None:
    window = stage.ended - stage.began
    accepted, settled = stage.accepted(), stage.settled_in_window()
    unsettled = sum(1 for o in stage.orders.values() if o.settled is None)
    age = [bucket_percentile(stage.record_age, q) for q in (50, 99)]
    ages = " ".join(f"{v:7.1f}" if v is not None else "      -" for v in age)
    print(f"{stage.rate:7.0f} {accepted / window:9.1f} {settled / window:8.1f} {accepted - settled:8d} "
          f"{fmt(stage.latencies('accepted'))} {fmt(stage.latencies('created'))} {fmt(stage.latencies('paid'))} "
          f"{fmt(stage.latencies('admin_created'))} {ages} {stage.load:5.1f}"
          + (f"   ({unsettled} never settled within {SETTLE_WAIT:.0f}s)" if unsettled else "")
          + ("" if set(stage.statuses) <= {201} else f"   statuses {stage.statuses}"), flush=True)


def print_cpu(stage: Stage, top: int = 12) -> None:
    parts = [f"{name} {share:.1f}%" for name, share in list(stage.cpu.items())[:top] if share >= 0.5]
    total = sum(stage.cpu.values())
    rate = stage.accepted() / (stage.ended - stage.began) if stage.ended > stage.began else 0.0
    per_order = f"; {total * 10 / rate:.0f} ms of CPU per order accepted" if rate else ""
    print(f"        CPU (% of a core) at {stage.rate:.0f}/s: stack {total:.0f}% in all{per_order}, "
          f"this benchmark {stage.own_cpu:.0f}%; " + ", ".join(parts), flush=True)
    if stage.esm and stage.accepted():
        work = ", ".join(f"{v / stage.accepted():.1f} {k}" for k, v in stage.esm.items())
        print(f"        pollers per order accepted (the stage and its settling): {work}", flush=True)


# --- cold start and warm overhead ----------------------------------------------------------------

async def invocation_costs(stack: Stack, function: str, runs: int) -> None:
    """Cold start (a new worker: interpreter, imports, first call) and warm invocations, against the
    same handler called in-process."""
    from devstack.lambda_runtime import FunctionPool
    from devstack.supervisor import PASSTHROUGH
    from devstack.template import load_app

    params = {"MongoDbUri": stack.mongodb_uri, "KafkaBootstrapServers": stack.kafka_bootstrap,
              "AwsEndpointUrl": stack.aws_endpoint_url, "MskClusterArn": stack.msk_cluster_arn}
    app = load_app(ROOT / "template.yaml", parameters=params)
    spec = app.functions[function]
    env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ} | stack.env
    event: dict[str, Any] = {"eventSource": "aws:kafka", "bootstrapServers": stack.kafka_bootstrap, "records": {}}
    cold: list[float] = []
    for _ in range(3):
        pool = FunctionPool(spec, env, hot_reload=False)
        started = time.perf_counter()
        await pool.invoke(event)
        cold.append((time.perf_counter() - started) * 1000)
        await pool.close()
    pool = FunctionPool(spec, env, hot_reload=False)
    await pool.invoke(event)
    warm = []
    for _ in range(runs):
        started = time.perf_counter()
        await pool.invoke(event)
        warm.append((time.perf_counter() - started) * 1000)
    await pool.close()
    os.environ.update(env | spec.environment)
    sys.path[:0] = [str(spec.code_dir), *map(str, spec.layer_dirs)]
    module_name, _, fn_name = spec.handler.rpartition(".")
    handler = getattr(__import__(module_name), fn_name)
    direct = []
    for _ in range(runs):
        started = time.perf_counter()
        handler(event, None)
        direct.append((time.perf_counter() - started) * 1000)
    cold.sort(), warm.sort(), direct.sort()
    print(f"{function}: cold start (new worker, import + first call) p50 {percentile(cold, 50):.0f} ms "
          f"(n={len(cold)}); warm invocation p50 {percentile(warm, 50):.2f} ms, p99 {percentile(warm, 99):.2f} ms; "
          f"in-process call p50 {percentile(direct, 50):.3f} ms → overhead per invocation "
          f"{percentile(warm, 50) - percentile(direct, 50):.2f} ms", flush=True)


# --- chart ----------------------------------------------------------------------------------------

def svg_chart(stages: list[Stage], path: Path) -> None:
    """Two panels against offered rate: throughput (accepted, settled) and latency p50/p99 (log scale)."""
    import math

    w, h, pad = 900, 380, 60
    panel = (w - 3 * pad) / 2
    rates = [s.rate for s in stages]
    xmax = max(rates) * 1.05

    def x(rate: float, left: float) -> float:
        return left + rate / xmax * panel

    def line(points: list[tuple[float, float]], colour: str, dash: str = "") -> str:
        d = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        dots = "".join(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points)
        return f'<polyline fill="none" stroke="{colour}" stroke-width="2"{extra} points="{d}"/>{dots}'

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           f'font-size="12"><rect width="100%" height="100%" fill="white"/>']
    top, bottom = 40, h - pad
    # throughput panel
    left: float = pad
    ymax = max([xmax] + [s.accepted() / (s.ended - s.began) for s in stages]) * 1.05

    def y1(v: float) -> float:
        return bottom - v / ymax * (bottom - top)

    out.append(f'<text x="{left}" y="24" font-weight="bold">orders/s against offered rate</text>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{left + panel}" y2="{bottom}" stroke="black"/>'
               f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="black"/>')
    for r in rates:
        out.append(f'<text x="{x(r, left):.1f}" y="{bottom + 16}" text-anchor="middle">{r:.0f}</text>')
    for step in range(0, int(ymax) + 1, max(1, int(ymax / 5 // 10 * 10) or 10)):
        out.append(f'<text x="{left - 6}" y="{y1(step) + 4:.1f}" text-anchor="end">{step}</text>')
    out.append(line([(x(0, left), y1(0)), (x(xmax / 1.05, left), y1(xmax / 1.05))], "#bbb", "4 4"))
    out.append(line([(x(s.rate, left), y1(s.accepted() / (s.ended - s.began))) for s in stages], "#1f77b4"))
    out.append(line([(x(s.rate, left), y1(s.settled_in_window() / (s.ended - s.began))) for s in stages], "#2ca02c"))
    out.append(f'<text x="{left + 10}" y="{top + 12}" fill="#1f77b4">accepted</text>'
               f'<text x="{left + 80}" y="{top + 12}" fill="#2ca02c">settled</text>'
               f'<text x="{left + 140}" y="{top + 12}" fill="#999">offered</text>')
    out.append(f'<text x="{left + panel / 2}" y="{h - 20}" text-anchor="middle">offered orders/s</text>')
    # latency panel (log scale, ms)
    left = 2 * pad + panel
    series = [("accepted", "POST→201", "#1f77b4"), ("created", "→order:created", "#ff7f0e"),
              ("paid", "→paid", "#2ca02c"), ("admin_created", "→admin:created", "#9467bd")]
    values = [v for s in stages for attr, _, _ in series for v in s.latencies(attr)]
    lo, hi = 1.0, max([*values, 10.0]) * 1.5

    def y2(v: float) -> float:
        v = min(max(v, lo), hi)
        return bottom - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (bottom - top)

    out.append(f'<text x="{left}" y="24" font-weight="bold">latency p50 (solid) / p99 (dashed), ms, log</text>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{left + panel}" y2="{bottom}" stroke="black"/>'
               f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="black"/>')
    for r in rates:
        out.append(f'<text x="{x(r, left):.1f}" y="{bottom + 16}" text-anchor="middle">{r:.0f}</text>')
    tick = 1.0
    while tick <= hi:
        out.append(f'<text x="{left - 6}" y="{y2(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>'
                   f'<line x1="{left}" y1="{y2(tick):.1f}" x2="{left + panel}" y2="{y2(tick):.1f}" stroke="#eee"/>')
        tick *= 10
    for i, (attr, label, colour) in enumerate(series):
        with_data = [s for s in stages if s.latencies(attr)]
        for p, dash in ((50, ""), (99, "5 3")):
            out.append(line([(x(s.rate, left), y2(percentile(s.latencies(attr), p))) for s in with_data],
                            colour, dash))
        out.append(f'<text x="{left + 10 + i * 105}" y="{top - 4}" fill="{colour}">{label}</text>')
    out.append(f'<text x="{left + panel / 2}" y="{h - 20}" text-anchor="middle">offered orders/s</text>')
    out.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))


# --- main -----------------------------------------------------------------------------------------

async def drive(stack: Stack, args: argparse.Namespace) -> list[Stage]:
    assert stack.ws_url, "the stack runs without the relay"
    api = Api(stack.api_url)
    product_id, tokens, buyers = setup(api, stack.admin_email, stack.admin_password, args.customers, stock=10_000_000)
    products = [product_id, *(new_product(api, stack.admin_token(), i) for i in range(1, args.products))]
    metrics_url = stack.state().get("metricsUrl")
    customers = list(zip(tokens, buyers, strict=True))
    listener = Listener(stack.ws_url)
    meter = CpuMeter(stack.state().get("pid"))
    limits = aiohttp.TCPConnector(limit=256)
    stages: list[Stage] = []
    async with aiohttp.ClientSession(connector=limits, timeout=aiohttp.ClientTimeout(total=120)) as session:
        for token in tokens:
            await listener.connect(session, token, "orders")
        await listener.connect(session, stack.admin_token(), "admin")
        deadline = time.monotonic() + 30
        while listener.ready < len(tokens) + 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        # warm the functions' worker pools (cold starts are measured separately)
        await run_stage(session, stack.api_url, listener, customers, products,
                        Stage(rate=20, seconds=args.warmup), meter)
        print(f"{len(customers)} customers + 1 admin on the relay; {len(products)} products, 1-2 per order; "
              f"{args.seconds:.0f} s per rate; load average before: {os.getloadavg()[0]:.1f}", flush=True)
        print("offered accepted/s settled/s  backlog   POST→201 p50/p99 →order:created p50/p99 "
              "→paid p50/p99 →admin:created p50/p99 record→fn p50/p99  load  (ms)", flush=True)
        for rate in args.rates:
            stage = Stage(rate=rate, seconds=args.seconds)
            await run_stage(session, stack.api_url, listener, customers, products, stage, meter, metrics_url)
            stages.append(stage)
            print_stage(stage)
            print_cpu(stage)
            if stage.saturated():
                top = next(iter(stage.cpu.items()), ("?", 0.0))
                print(f"saturated at {rate:.0f} orders/s offered: settling fell behind accepting; busiest process "
                      f"{top[0]} ({top[1]:.0f}% of a core)", flush=True)
                break
        else:
            print(f"not saturated up to {args.rates[-1]:.0f} orders/s offered", flush=True)
        await listener.close()
    return stages


def idle_cpu(stack: Stack, seconds: float) -> dict[str, float]:
    """% of a core per process of the stack over ``seconds`` with no traffic and no client."""
    meter = CpuMeter(stack.state().get("pid"))
    meter.start()
    time.sleep(seconds)
    idle = meter.stop()
    print(f"idle stack over {seconds:.0f} s, no clients (% of a core): {sum(idle.values()):.1f}% in all; "
          + ", ".join(f"{name} {share:.1f}%" for name, share in list(idle.items())[:6]), flush=True)
    return idle


def after_quiet(stack: Stack, spells: int, quiet: float) -> list[tuple[float, float]]:
    """POST → 201 and POST → paid (polled every 5 ms) of one order after each of ``spells`` quiet spells."""
    api = Api(stack.api_url)
    product_id, tokens, _ = setup(api, stack.admin_email, stack.admin_password, 1, stock=1_000_000)
    body = {"items": [{"productId": product_id, "quantity": 1}], "shippingAddress": ADDRESS}
    out = []
    for _ in range(spells):
        time.sleep(quiet)
        t0 = time.monotonic()
        status, order = api.call("POST", "/api/orders", body, tokens[0])
        assert status == 201, order
        created = time.monotonic() - t0
        while time.monotonic() - t0 < 30:
            if api.call("GET", f"/api/orders/{order['id']}", None, tokens[0])[1].get("status") == "paid":
                break
            time.sleep(0.005)
        out.append((created * 1000, (time.monotonic() - t0) * 1000))
    print(f"first order after {quiet:.0f} s of quiet, {spells} times (POST → 201 / POST → paid, ms): "
          + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in out), flush=True)
    return out


def db_commands_per_order(args: argparse.Namespace) -> float | None:
    """Database commands per order: a stack of its own whose database is behind a counting proxy."""
    import shutil
    import subprocess
    import tempfile
    import threading

    from devstack.settings import free_port

    nx = shutil.which("nx-27017") or str(Path(sys.executable).parent / "nx-27017")
    data = Path(tempfile.mkdtemp(prefix="bench-db-"))
    db_port, proxy_port = free_port(), free_port()
    db = subprocess.Popen([nx, "--data-dir", str(data), "--host", "127.0.0.1", "-p", str(db_port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = Proxy(db_port)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        server = loop.run_until_complete(asyncio.start_server(proxy.client, "127.0.0.1", proxy_port))
        started.set()
        loop.run_forever()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    try:
        time.sleep(1.0)
        thread.start()
        started.wait(10)
        stack = start_stack(extra_env={"MONGODB_URI": f"mongodb://127.0.0.1:{proxy_port}/?directConnection=true",
                                       "DEVSTACK_SCHEDULE_INTERVAL": "10"})
        try:
            stack.warm_up()
            api = Api(stack.api_url)
            product_id, tokens, _ = setup(api, stack.admin_email, stack.admin_password, 2, stock=10_000_000)
            body = {"items": [{"productId": product_id, "quantity": 1}], "shippingAddress": ADDRESS}
            for token in tokens:  # warm every function's path once, uncounted
                api.call("POST", "/api/orders", body, token)
            time.sleep(5)
            baseline = dict(proxy.counts)
            before = sum(baseline.values())
            ids = []
            for i in range(args.db_orders):
                status, order = api.call("POST", "/api/orders", body, tokens[i % len(tokens)])
                assert status == 201, order
                ids.append(str(order["id"]))
                time.sleep(0.5)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                states = {api.call("GET", f"/api/orders/{oid}", None, tokens[i % len(tokens)])[1].get("status")
                          for i, oid in enumerate(ids[-2:], start=len(ids) - 2)}
                if states <= {"paid", "cancelled"}:
                    break
                time.sleep(0.5)
            time.sleep(3)
            counted = sum(proxy.counts.values()) - before
            by_command = {name: n - baseline.get(name, 0) for name, n in proxy.counts.items()}
        finally:
            stack.close()
    finally:
        db.terminate()
        db.wait(10)
        loop.call_soon_threadsafe(loop.stop)
        shutil.rmtree(data, ignore_errors=True)
    per_order = counted / args.db_orders
    print(f"database commands: {counted} for {args.db_orders} orders placed at 2/s and settled "
          f"(schedules every 10 s included): {per_order:.1f} per order; by command and collection: "
          + ", ".join(f"{name} {n / args.db_orders:.2f}" for name, n in
                      sorted(by_command.items(), key=lambda kv: -kv[1]) if n > 0), flush=True)
    return per_order


def summary(idle: dict[str, float], quiet: list[tuple[float, float]], stages: list[Stage], db: float | None,
            requested: list[float]) -> None:
    """The figures the event path is judged by, in one place."""
    print(f"\nsummary (load average now {os.getloadavg()[0]:.1f}):", flush=True)
    if idle:
        print(f"  idle stack CPU: {sum(idle.values()):.1f}% of a core", flush=True)
    if quiet:
        paid = sorted(b for _, b in quiet)
        print(f"  first order after a quiet spell: POST→paid {paid[0]:.0f}-{paid[-1]:.0f} ms", flush=True)
    by_rate = {s.rate: s for s in stages}
    for rate in requested:
        stage = by_rate.get(rate)
        if stage is None:
            print(f"  {rate:.0f}/s: not run (saturated at a lower rate)", flush=True)
            continue
        window = stage.ended - stage.began
        accepted, settled = stage.accepted(), stage.settled_in_window()
        age = bucket_percentile(stage.record_age, 50)
        paid = stage.latencies("paid")
        total = sum(stage.cpu.values())
        per_order = total * 10 / (accepted / window) if accepted else float("nan")
        print(f"  {rate:.0f}/s: accepted {accepted / window:.1f}/s, settled {settled / window:.1f}/s "
              f"({settled / accepted * 100 if accepted else 0:.0f}% of accepted); record→function p50 "
              + (f"{age:.1f} ms" if age is not None else "-")
              + (f"; POST→paid p50 {percentile(paid, 50):.0f} ms, p99 {percentile(paid, 99):.0f} ms" if paid else "")
              + f"; stack CPU {per_order:.1f} ms per order; load average {stage.load:.1f}", flush=True)
    if db is not None:
        print(f"  database commands per order: {db:.1f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", help="stack.json of a running `dev.py up` (default: start a stack)")
    parser.add_argument("--rates", default="2,45,80,100", help="offered orders/s, comma-separated")
    parser.add_argument("--products", type=int, default=20, help="catalog size; each order takes 1-2 of them")
    parser.add_argument("--seconds", type=float, default=15.0, help="load window per rate")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of unmeasured load first")
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU sampling first (0: skip)")
    parser.add_argument("--idle-after", type=float, default=60.0,
                        help="start the idle sampling this long after the stack started (its own stack only)")
    parser.add_argument("--quiet", type=float, default=10.0,
                        help="seconds of quiet before each of 3 orders timed after the idle sampling (0: skip)")
    parser.add_argument("--db-orders", type=int, default=40,
                        help="orders whose database commands are counted on a second stack (0: skip)")
    parser.add_argument("--cold-function", default="OrderSagaFunction", help="function for the cold-start figure")
    parser.add_argument("--svg", default=str(ROOT / "var" / "bench" / "load.svg"))
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")

    began = time.monotonic()
    # Schedules as under `dev.py up` (the test stack's 2 s would dominate an idle stack).
    stack = Stack(Path(args.state)) if args.state else start_stack(extra_env={"DEVSTACK_SCHEDULE_INTERVAL": "10"})
    idle: dict[str, float] = {}
    quiet: list[tuple[float, float]] = []
    try:
        if args.idle > 0:
            if not args.state:
                time.sleep(max(0.0, began + args.idle_after - time.monotonic()))
                print(f"stack started {time.monotonic() - began:.0f} s ago; load average "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
            idle = idle_cpu(stack, args.idle)
        stack.warm_up()
        if args.quiet > 0:
            quiet = after_quiet(stack, 3, args.quiet)
        stages = asyncio.run(drive(stack, args))
        asyncio.run(invocation_costs(stack, args.cold_function, runs=200))
    finally:
        stack.close()
    svg = Path(args.svg)
    svg_chart(stages, svg)
    print(f"chart: {svg}")
    db = db_commands_per_order(args) if args.db_orders > 0 and not args.state else None
    summary(idle, quiet, stages, db, args.rates)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Orders through the emulated API Gateway: sustained POST /api/orders rate, and the time from
POST /api/orders until the order is paid (order.created → payments → payment.succeeded → saga).

    python scripts/bench_orders.py --state var/data/run/stack.json           # a running `devstack up`
    python scripts/bench_orders.py --state ... --seconds 20 -c 4 --paid 30

Phase 1 keeps ``-c`` clients placing orders for ``--seconds`` and prints orders/s and POST
latency. Phase 2 places ``--paid`` orders one at a time on a quiet stack and measures POST →
paid, using the order's ``updatedAt`` of the paid transition (read from MongoDB) so polling adds
no error. Prints figures only; never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pymongo
from pymongo.database import Database

ADDRESS = {"line1": "1 Bench Rd", "city": "Benchville", "postalCode": "00000", "country": "US"}


class Api:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return int(resp.status), json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return int(err.code), json.loads(err.read() or b"null")


def percentile(sorted_values: list[float], p: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def summary(values: list[float]) -> str:
    s = sorted(values)
    return (f"p50={percentile(s, 50):7.1f} ms  p90={percentile(s, 90):7.1f} ms  p99={percentile(s, 99):7.1f} ms  "
            f"max={s[-1]:7.1f} ms  mean={statistics.fmean(s):7.1f} ms")


def setup(api: Api, admin_email: str, admin_password: str, customers: int,
          stock: int) -> tuple[str, list[str], list[str]]:
    status, login = api.call("POST", "/api/auth/login", {"email": admin_email, "password": admin_password})
    assert status == 200, login
    status, product = api.call("POST", "/api/products", {
        "name": "Bench widget", "description": "benchmark", "priceCents": 999, "currency": "USD",
        "sku": f"BENCH-{uuid.uuid4().hex[:10]}", "stock": stock, "category": "bench"}, login["token"])
    assert status == 201, product
    tokens, buyers = [], []
    for _ in range(customers):
        status, reg = api.call("POST", "/api/auth/register", {
            "email": f"bench-{uuid.uuid4().hex[:10]}@example.com", "password": "bench-password-1", "name": "Bench"})
        assert status == 201, reg
        tokens.append(reg["token"])
        buyers.append(str(reg["user"]["id"]))
    return str(product["id"]), tokens, buyers


def body(product_id: str) -> dict[str, Any]:
    return {"items": [{"productId": product_id, "quantity": 1}], "shippingAddress": ADDRESS}


def hammer(api: Api, product_id: str, tokens: list[str], seconds: float) -> tuple[list[float], dict[int, int], float]:
    """One client per token places orders back to back for ``seconds``."""
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(token: str) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            status, _ = api.call("POST", "/api/orders", body(product_id), token)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    began = time.perf_counter()
    with ThreadPoolExecutor(len(tokens)) as pool:
        list(pool.map(client, tokens))
    return latencies, statuses, time.perf_counter() - began


def sustained(api: Api, product_id: str, tokens: list[str], seconds: float) -> int:
    """The measured phase; returns how many orders it created."""
    latencies, statuses, wall = hammer(api, product_id, tokens, seconds)
    created = statuses.get(201, 0)
    print(f"POST /api/orders  c={len(tokens)}  {seconds:.0f}s  created={created}  {created / wall:6.1f} orders/s  "
          f"statuses={statuses}")
    print(f"  POST latency     {summary(latencies)}")
    return created


def drain(db: Database[dict[str, Any]], buyers: list[str], timeout: float = 300.0) -> float:
    """Wait until every order of the bench customers left ``pending`` (the saga caught up); returns the wait."""
    began = time.perf_counter()
    pending = 0
    while time.perf_counter() - began < timeout:
        pending = db["orders"].count_documents({"buyerId": {"$in": buyers}, "status": "pending"})
        if pending == 0:
            return time.perf_counter() - began
        time.sleep(0.2)
    print(f"  saga backlog     still {pending} orders pending after {timeout:.0f}s")
    return time.perf_counter() - began


def time_to_paid(api: Api, db: Database[dict[str, Any]], product_id: str, token: str, n: int, timeout: float) -> None:
    samples: list[float] = []
    misses = 0
    for _ in range(n):
        started = time.time()
        status, order = api.call("POST", "/api/orders", body(product_id), token)
        assert status == 201, order
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = db["orders"].find_one({"_id": order["id"]}, {"status": 1, "updatedAt": 1})
            if doc and doc["status"] == "paid":
                paid_at = datetime.fromisoformat(doc["updatedAt"].replace("Z", "+00:00")).timestamp()
                samples.append((paid_at - started) * 1000)
                break
            time.sleep(0.005)
        else:
            misses += 1
    if samples:
        print(f"POST → paid       n={len(samples)}  {summary(samples)}  not paid in {timeout:.0f}s: {misses}")
    else:
        print(f"POST → paid       no order was paid within {timeout:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", default="var/data/run/stack.json", help="stack.json of a running devstack")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the sustained phase")
    parser.add_argument("-c", "--concurrency", type=int, default=4, help="clients in the sustained phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of unmeasured load first")
    parser.add_argument("--paid", type=int, default=25, help="orders timed from POST to paid")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up on one order being paid after this")
    parser.add_argument("--admin-email", default="admin@shop.local")
    parser.add_argument("--admin-password", default="admin-password-123")
    args = parser.parse_args()

    state = json.loads(Path(args.state).read_text())
    api = Api(state["apiUrl"])
    db: Database[dict[str, Any]] = pymongo.MongoClient(state["mongodbUri"])["shop"]
    product_id, tokens, buyers = setup(api, args.admin_email, args.admin_password, max(1, args.concurrency),
                                       stock=1_000_000)
    hammer(api, product_id, tokens, args.warmup)  # scale the worker pools up before measuring
    drain(db, buyers)
    created = sustained(api, product_id, tokens, args.seconds)
    backlog = drain(db, buyers)  # and time single orders on a quiet stack afterwards
    print(f"  end to end       the saga settled them {backlog:5.1f}s after the last POST: "
          f"{created / (args.seconds + backlog):6.1f} orders/s placed → paid (or cancelled)")
    time_to_paid(api, db, product_id, tokens[0], args.paid, args.timeout)


if __name__ == "__main__":
    main()

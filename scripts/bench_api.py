"""Latency of two hot routes through the emulated API Gateway: GET /api/products and POST /api/auth/login.

    python scripts/bench_api.py                      # against `devstack up` on :3008
    python scripts/bench_api.py --api-url http://127.0.0.1:PORT -n 300 -c 4

Prints p50/p90/p99/max and throughput per route; never asserts on time. Login is argon2id-bound
(tens of milliseconds of CPU per attempt, by design), so it gets fewer requests by default. With
``-c`` above 1 the first requests also pay for starting extra function workers (cold starts).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def request(url: str, *, method: str = "GET", body: dict[str, object] | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def percentile(sorted_ms: list[float], p: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms)) - 1))
    return sorted_ms[index]


def run(name: str, call: Callable[[], int], n: int, concurrency: int, warmup: int) -> None:
    for _ in range(warmup):
        call()

    def timed(_: int) -> tuple[float, int]:
        start = time.perf_counter()
        status = call()
        return (time.perf_counter() - start) * 1000, status

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(timed, range(n)))
    wall = time.perf_counter() - began
    ms = sorted(r[0] for r in results)
    errors = sum(1 for r in results if r[1] >= 400)
    print(f"{name:<24} n={n:<5} c={concurrency:<3} p50={percentile(ms, 50):7.1f} ms  p90={percentile(ms, 90):7.1f} ms  "
          f"p99={percentile(ms, 99):7.1f} ms  max={ms[-1]:7.1f} ms  mean={statistics.fmean(ms):7.1f} ms  "
          f"{n / wall:6.1f} req/s  errors={errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", default=os.environ.get("SHOP_API_URL", "http://127.0.0.1:3008"))
    parser.add_argument("-n", type=int, default=300, help="requests for GET /api/products")
    parser.add_argument("--login-n", type=int, default=100, help="requests for POST /api/auth/login")
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--email", default=os.environ.get("ADMIN_EMAIL", "admin@shop.local"))
    parser.add_argument("--password", default=os.environ.get("ADMIN_PASSWORD", "admin-password-123"))
    args = parser.parse_args()
    base = args.api_url.rstrip("/")
    credentials: dict[str, object] = {"email": args.email, "password": args.password}

    print(f"API {base}")
    run("GET /api/products", lambda: request(f"{base}/api/products?limit=20"), args.n, args.concurrency, args.warmup)
    run("GET /api/products?search", lambda: request(f"{base}/api/products?search=a&category=books&limit=5"),
        args.n, args.concurrency, args.warmup)
    run("POST /api/auth/login", lambda: request(f"{base}/api/auth/login", method="POST", body=credentials),
        args.login_n, args.concurrency, args.warmup)


if __name__ == "__main__":
    main()

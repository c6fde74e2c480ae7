"""How light the web client is: bytes the storefront loads, and navigation → product grid rendered.

    python scripts/bench_web.py                          # against `devstack up` (site on :3000)
    python scripts/bench_web.py --web-url http://127.0.0.1:PORT/ -n 20

Drives headless Chromium (Debian's, through Playwright's ``executable_path``) on loopback. Each
run opens a fresh browser context (empty cache) and reads ``performance.now()`` (milliseconds
since navigation start) at the first animation frame where the grid has a product card.

Baseline, measured in the same process and browser: the same first page of products rendered by
Python into static HTML (escaped) with the same stylesheet, served to the page from memory, so
it shows what the page's own modules and its API call add over a page that needs no script.
Prints figures; never asserts on time.
"""

from __future__ import annotations

import argparse
import html
import json
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Request, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
GRID_READY = "() => document.querySelector('.grid .card') ? performance.now() : false"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def storefront_once(browser: Browser, url: str) -> tuple[float, dict[str, int], int]:
    """(ms to grid, bytes by kind for HTML/CSS/JS, number of those files) for one cold load."""
    context = browser.new_context()
    page = context.new_page()
    sizes: dict[str, int] = {"html": 0, "css": 0, "js": 0}
    files = 0
    finished: list[Request] = []
    page.on("requestfinished", lambda request: finished.append(request))
    page.goto(url)
    ms = float(page.wait_for_function(GRID_READY, polling="raf").json_value())
    page.wait_for_load_state("networkidle")
    for request in finished:
        kind = {"document": "html", "stylesheet": "css", "script": "js"}.get(request.resource_type)
        if kind is None:
            continue
        response = request.response()
        if response is None:
            continue
        sizes[kind] += len(response.body())
        files += 1
    context.close()
    return ms, sizes, files


def baseline_once(browser: Browser, url: str, static_html: str) -> float:
    """ms to the first product card of a server-rendered page with the same stylesheet."""
    context = browser.new_context()
    page = context.new_page()
    page.route(url + "baseline.html", lambda route: route.fulfill(body=static_html, content_type="text/html"))
    page.goto(url + "baseline.html")
    ms = float(page.wait_for_function(GRID_READY, polling="raf").json_value())
    context.close()
    return ms


def static_grid(products: list[dict[str, Any]]) -> str:
    cards = "".join(
        f'<li class="card"><h2><a href="#/product/{html.escape(p["id"])}">{html.escape(p["name"])}</a></h2>'
        f'<span class="tag">{html.escape(p["category"])}</span>'
        f'<span class="price">${p["priceCents"] / 100:.2f}</span><span class="stock ok">{p["available"]} left</span>'
        '<div class="actions"><button>Add to cart</button></div></li>'
        for p in products)
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>'
            '<link rel="stylesheet" href="css/app.css"></head><body><main><h1>Products</h1>'
            f'<ul class="grid">{cards}</ul></main></body></html>')


def summary(label: str, values: list[float]) -> str:
    return (f"{label:<44} n={len(values):<3} p50={percentile(values, 50):6.1f} ms  "
            f"p90={percentile(values, 90):6.1f} ms  min={min(values):6.1f} ms  max={max(values):6.1f} ms  "
            f"mean={statistics.fmean(values):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--web-url", default="http://localhost:3000/")
    parser.add_argument("-n", type=int, default=15, help="cold loads of each page")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    url = args.web_url.rstrip("/") + "/"
    with urllib.request.urlopen(url + "config.json", timeout=10) as resp:
        config = json.load(resp)
    started = time.perf_counter()
    with urllib.request.urlopen(config["apiUrl"] + "/api/products?limit=12", timeout=30) as resp:
        products = json.load(resp)["items"]
    api_ms = (time.perf_counter() - started) * 1000

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        storefront_once(browser, url)  # warm the server and the API function once
        baseline_once(browser, url, static_grid(products))
        loads = [storefront_once(browser, url) for _ in range(args.n)]
        baseline = [baseline_once(browser, url, static_grid(products)) for _ in range(args.n)]
        browser.close()

    ms = [m for m, _, _ in loads]
    sizes = loads[-1][1]
    files = loads[-1][2]
    total = sum(sizes.values())
    web_root = Path(__file__).resolve().parents[1] / "web"
    on_disk = sum(f.stat().st_size for f in web_root.rglob("*") if f.suffix in (".html", ".css", ".js"))
    print(f"storefront HTML+CSS+JS loaded: {total:,} bytes uncompressed in {files} files "
          f"(html {sizes['html']:,}, css {sizes['css']:,}, js {sizes['js']:,}); all of web/: {on_disk:,} bytes")
    print(summary("navigation → product grid rendered", ms))
    print(summary("baseline: same grid as static HTML, no JS", baseline))
    print(f"one GET /api/products?limit=12 from Python: {api_ms:.1f} ms ({len(products)} products)")


if __name__ == "__main__":
    main()

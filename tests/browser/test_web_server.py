"""The static server of the web client (``devstack.web``): CSP, runtime config, fresh files, no escape from web/."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from devstack.web import WebConfig, content_security_policy, resolve, web_app

CONFIG = WebConfig(api_url="http://127.0.0.1:3008", ws_url="ws://127.0.0.1:3009/ws", tax_rate_bps=800)


def test_csp_allows_only_own_scripts_and_the_api_and_relay() -> None:
    """Scripts and styles only from the site; connections only to the site, the API and the relay."""
    csp = content_security_policy(CONFIG)
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "connect-src 'self' http://127.0.0.1:3008 ws://127.0.0.1:3009;" in csp
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_resolve_stays_inside_the_root(tmp_path: Path) -> None:
    """``/`` is index.html; ``..`` and missing files are not served."""
    (tmp_path / "index.html").write_text("home")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "app.js").write_text("//")
    assert resolve(tmp_path, "/") == tmp_path / "index.html"
    assert resolve(tmp_path, "/js/app.js") == tmp_path / "js" / "app.js"
    assert resolve(tmp_path, "/../" + tmp_path.name + "/index.html") == tmp_path / "index.html"
    assert resolve(tmp_path, "/../etc/passwd") is None
    assert resolve(tmp_path, "/missing.js") is None


def test_serves_fresh_files_with_headers_and_config(tmp_path: Path) -> None:
    """An edited file shows on the next request; every response has the CSP; config.json is the runtime config."""
    (tmp_path / "index.html").write_text("<p>one</p>")

    async def run() -> None:
        async with TestServer(web_app(CONFIG, tmp_path), host="127.0.0.1") as server, ClientSession() as http:
            async with http.get(server.make_url("/")) as r:
                assert r.status == 200
                assert await r.text() == "<p>one</p>"
                assert r.headers["Content-Type"].startswith("text/html")
                assert r.headers["Content-Security-Policy"] == content_security_policy(CONFIG)
                assert r.headers["X-Content-Type-Options"] == "nosniff"
            (tmp_path / "index.html").write_text("<p>two</p>")
            async with http.get(server.make_url("/")) as r:
                assert await r.text() == "<p>two</p>"
            async with http.get(server.make_url("/config.json")) as r:
                assert await r.json() == {"apiUrl": "http://127.0.0.1:3008", "wsUrl": "ws://127.0.0.1:3009/ws",
                                          "taxRateBps": 800}
                assert "Content-Security-Policy" in r.headers
            async with http.get(server.make_url("/nope.js")) as r:
                assert r.status == 404
            async with http.post(server.make_url("/")) as r:
                assert r.status == 405

    # In a thread of its own: a running Playwright (sync API) holds this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()

"""The web client's static server: ``web/`` as files, a runtime ``config.json`` and a strict CSP.

Files are read from disk on every request (no cache), so editing anything under ``web/`` shows
on the next reload. ``config.json`` is written here from the stack's addresses, as a deployment
writes one next to the site in S3, so the same files work locally and in AWS.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from devstack.settings import ROOT

WEB_ROOT = ROOT / "web"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class WebConfig:
    """What the page learns at run time: where the API and the relay are, and the tax rate they charge;
    and where product pictures come from (the CSP allows them, and uploads to them)."""

    api_url: str
    ws_url: str
    tax_rate_bps: int
    images_url: str | None = None

    def body(self) -> dict[str, object]:
        """The ``config.json`` document."""
        return {"apiUrl": self.api_url, "wsUrl": self.ws_url, "taxRateBps": self.tax_rate_bps}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(config: WebConfig) -> str:
    """No inline script or style, no plugins, no framing; network only to the site, the API, the relay and
    the pictures' bucket (uploads); images only from the site and that bucket."""
    bucket = [origin_of(config.images_url)] if config.images_url else []
    connect = " ".join(dict.fromkeys(["'self'", origin_of(config.api_url), origin_of(config.ws_url), *bucket]))
    img = " ".join(["'self'", "data:", *bucket])
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {img}; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


def security_headers(config: WebConfig) -> dict[str, str]:
    """Headers every response of the site carries."""
    return {
        "Content-Security-Policy": content_security_policy(config),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def resolve(root: Path, request_path: str) -> Path | None:
    """The file under ``root`` a request path names (``/`` → ``index.html``); None outside ``root`` or missing."""
    relative = request_path.lstrip("/") or "index.html"
    base = root.resolve()
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base):
        return None
    if candidate.is_dir():
        candidate = candidate / "index.html"
    return candidate if candidate.is_file() else None


def web_app(config: WebConfig, root: Path = WEB_ROOT) -> web.Application:
    """The aiohttp application serving the site."""
    headers = security_headers(config)

    async def config_json(request: web.Request) -> web.Response:
        return web.json_response(config.body(), headers=headers, dumps=lambda o: json.dumps(o, indent=2))

    async def static(request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"], headers=headers)
        path = resolve(root, request.path)
        if path is None:
            return web.Response(status=404, text="not found\n", headers=headers)
        kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return web.Response(body=path.read_bytes(), headers={**headers, "Content-Type": kind})

    app = web.Application()
    app.router.add_get("/config.json", config_json)
    app.router.add_route("*", "/{tail:.*}", static)
    return app

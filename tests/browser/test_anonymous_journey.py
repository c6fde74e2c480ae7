"""A visitor who has not signed in gets a live storefront (the relay's public channel), cannot
subscribe to the private channels, and keeps the same socket when signing in; one host cannot
hold more anonymous sockets than the relay's cap."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from devstack.testing import Stack
from tests.browser.conftest import LIVE, Person, Shots, customer_account, make_product, paid_order

pytestmark = [pytest.mark.browser, pytest.mark.stack]

#: In the page: a socket of its own, without a token, asks for the private channels.
PRIVATE_SUBSCRIBES = """(url) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url);
  const got = [];
  ws.onopen = () => ["orders", "admin"].forEach((channel) => ws.send(JSON.stringify({ type: "subscribe", channel })));
  ws.onmessage = (m) => {
    got.push(JSON.parse(m.data));
    if (got.length === 2) {
      ws.close();
      resolve(got);
    }
  };
  ws.onclose = (ev) => reject(new Error(`closed ${ev.code} after ${JSON.stringify(got)}`));
})"""


def sockets(person: Person) -> list[str]:
    return [u for u in person.urls if u.startswith("ws")]


def set_stock(stack: Stack, product_id: str, stock: int) -> None:
    r = stack.http("PATCH", f"/api/inventory/{product_id}", token=stack.admin_token(), json_body={"stock": stock})
    assert r.status == 200, r


def test_anonymous_storefront_is_live_and_signing_in_keeps_its_socket(
        stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    """The header says Live before sign-in; a new product, a stock change and a price change show
    without a reload; `orders` and `admin` are refused to an anonymous socket; signing in sends
    `auth` on the same socket, which then brings the user's order updates."""
    visitor = people("visitor")
    page = visitor.page
    visitor.go(f"/?search={tag}")
    visitor.wait_live(signed_in=False)
    expect(page.locator("#conn .conn-label")).to_have_text("Live")
    expect(page.locator("main")).to_contain_text("No products match")
    visitor.mark()
    shot(page, "anonymous storefront live")

    product = make_product(stack, f"Anon Kettle {tag}", stock=15, price=2400)
    card = page.locator(f".card[data-product-id='{product['id']}']")
    expect(card).to_contain_text("15 left", timeout=LIVE)  # product:created
    set_stock(stack, product["id"], 4)
    expect(card).to_contain_text("4 left", timeout=LIVE)  # inventory:updated
    r = stack.http("PATCH", f"/api/products/{product['id']}", token=stack.admin_token(), json_body={"priceCents": 1999})
    assert r.status == 200, r
    expect(card).to_contain_text("$19.99", timeout=LIVE)  # product:updated
    visitor.nav(f"/product/{product['id']}")
    expect(page.locator(".detail [data-stock]")).to_have_text("4 left")
    set_stock(stack, product["id"], 3)
    expect(page.locator(".detail [data-stock]")).to_have_text("3 left", timeout=LIVE)
    assert visitor.not_reloaded()
    shot(page, "anonymous product page live")

    ws_url = page.evaluate("() => import('./js/config.js').then((m) => m.config.wsUrl)")
    refused = page.evaluate(PRIVATE_SUBSCRIBES, ws_url)
    assert sorted((f["type"], f["code"], f["channel"]) for f in refused) == [
        ("error", "forbidden", "admin"), ("error", "unauthorized", "orders")]
    opened = sockets(visitor)
    assert len(opened) == 2  # the page's own socket, and the one above

    email, password, token = customer_account(stack, "anon")
    visitor.nav(f"/login?next=/product/{product['id']}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    visitor.wait_live()
    order = paid_order(stack, token, product["id"])
    assert visitor.toasts_with(f"Order {order['id'][-8:]}") >= 1  # the user's own channel, on the same socket
    assert sockets(visitor) == opened, "signing in opened a new socket instead of authenticating the open one"
    set_stock(stack, product["id"], 9)
    expect(page.locator(".detail [data-stock]")).to_have_text("8 left", timeout=LIVE)  # 1 is the order's
    assert visitor.not_reloaded()
    assert visitor.errors() == []


def anonymous_socket(url: str, **kwargs: Any) -> tuple[ClientConnection, int | None]:
    """An anonymous socket subscribed to `inventory`, or the close code the relay sent instead."""
    ws = connect(url, open_timeout=10, legacy=True, **kwargs)
    try:
        ws.send(json.dumps({"type": "subscribe", "channel": "inventory"}))
        while (frame := json.loads(ws.recv(timeout=15)))["type"] != "subscribed":
            assert frame["type"] != "error", frame
        return ws, None
    except ConnectionClosed as exc:
        return ws, exc.rcvd.code if exc.rcvd else None


def test_one_address_over_the_anonymous_cap_is_refused_while_others_connect(
        stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    """Anonymous sockets from this host up to the relay's cap (RELAY_ANONYMOUS_PER_ADDRESS): the
    next one, and a storefront opened then, are closed with 4408 (the header says why and
    retries); another address still connects and open storefronts stay live; once the host's
    sockets close, the refused storefront goes live."""
    assert stack.ws_url
    product = make_product(stack, f"Capped Lamp {tag}", stock=30)
    first = people("first")
    first.go(f"/?search={tag}")
    first.wait_live(signed_in=False)
    crowd: list[ClientConnection] = []
    try:
        for _ in range(1000):
            ws, code = anonymous_socket(stack.ws_url)
            crowd.append(ws)
            if code is not None:
                break
        assert code == 4408, code
        print(f"anonymous sockets held from 127.0.0.1 before the refusal: {len(crowd) - 1} (and the storefront's)")

        second = people("second")
        second.go(f"/?search={tag}")
        expect(second.page.locator("#conn")).to_have_attribute("data-state", "reconnecting", timeout=LIVE)
        expect(second.page.locator("#conn")).to_have_attribute("title", "Too many live connections from this network; retrying")
        shot(second.page, "refused storefront reconnecting")

        other, code = anonymous_socket(stack.ws_url, source_address=("127.0.0.2", 0))
        assert code is None, "another address was refused"
        other.close()
        set_stock(stack, product["id"], 21)
        expect(first.page.locator(".card")).to_contain_text("21 left", timeout=LIVE)
        expect(second.page.locator("#conn")).not_to_have_attribute("data-state", "live")
    finally:
        for ws in crowd:
            ws.close()
    second.wait_live(signed_in=False)
    set_stock(stack, product["id"], 17)
    expect(second.page.locator(".card")).to_contain_text("17 left", timeout=LIVE)
    shot(second.page, "storefront live once the host's sockets closed")
    assert first.errors() == []

"""The relay restarts while a customer's order page is open; nothing is missed or shown twice."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from playwright.sync_api import expect

from devstack.testing import Stack, wait_for
from tests.browser.conftest import LIVE, Shots, customer_account, make_product, on_paid_order, paid_order

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.disruptive]

#: a function, not an expression: Playwright evaluates an expression string with eval, which the site's CSP refuses
RECONNECTING = "() => document.getElementById('conn').dataset.state === 'reconnecting'"


def test_relay_restart_resumes_from_the_cursor_without_duplicates(
        stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    """Journey 4: the indicator goes to reconnecting and back, the status changed meanwhile shows,
    and its toast appears once."""
    stool = make_product(stack, f"Stool {tag}", stock=10)
    email, password, token = customer_account(stack, "reconnect")
    order = paid_order(stack, token, stool["id"])
    oid = order["id"]
    customer, detail = on_paid_order(people, email, password, oid)
    page = customer.page
    shot(page, "order live before restart")

    first = stack.state()
    os.kill(int(first["relayPid"]), signal.SIGKILL)
    page.wait_for_function(RECONNECTING, polling="raf", timeout=LIVE)
    shot(page, "indicator reconnecting")
    # The order moves on while the page has no relay.
    r = stack.http("PATCH", f"/api/orders/{oid}/status", token=stack.admin_token(), json_body={"status": "processing"})
    assert r.status == 200, r

    wait_for(lambda: stack.state()["relayPid"] not in (None, first["relayPid"]), timeout=60,
             message="the supervisor to restart the relay")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=90_000)
    expect(detail).to_have_attribute("data-status", "processing", timeout=LIVE)
    shot(page, "back live with the missed status")

    # A later change arrives after the replayed one (same order, same partition): by then any
    # duplicate of the replayed event would have been shown too.
    r = stack.http("PATCH", f"/api/orders/{oid}/status", token=stack.admin_token(), json_body={"status": "shipped"})
    assert r.status == 200, r
    expect(detail).to_have_attribute("data-status", "shipped", timeout=LIVE)
    customer.nav("/notifications")
    items = page.locator(".notifications li")
    expect(items.filter(has_text=f"Order {oid[-8:]} is now shipped")).to_have_count(1)
    expect(items.filter(has_text=f"Order {oid[-8:]} is now processing")).to_have_count(1)
    assert customer.toasts_with(f"Order {oid[-8:]} is now processing") == 1
    assert customer.toasts_with(f"Order {oid[-8:]} is now shipped") == 1
    assert customer.not_reloaded()
    shot(page, "notifications once each")
    # Chromium logs the refused WebSocket connections while the relay is down.
    assert customer.errors(r"WebSocket connection to .* failed") == []

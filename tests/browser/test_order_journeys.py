"""A customer and an admin, each in their own browser context, watching the same orders live."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from playwright.sync_api import Route, expect
from websockets.sync.client import connect

from devstack.testing import Stack, wait_for
from tests.browser.conftest import LIVE, Person, Shots, customer_account, make_product, on_paid_order, paid_order

pytestmark = [pytest.mark.browser, pytest.mark.stack]

#: The browser logs a failed request as a console error; these are the ones a test causes on purpose.
ABORTED = r"net::ERR_FAILED|Failed to load resource"


def admin_tab(people: Any, stack: Stack, path: str, label: str) -> Person:
    admin = people(label)
    admin.sign_in(stack.admin_email, stack.admin_password, then=path)
    admin.mark()
    return admin


def test_customer_checks_out_and_both_sides_follow_the_order_live(
        stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    """Journey 1: register, search, two products to the cart, checkout (retried after a network
    error: one order), paid live; the admin sees the order and the stock drop live, ships it, and
    the customer sees it with a toast."""
    lamp = make_product(stack, f"Desk Lamp {tag}", stock=20, price=2999)
    make_product(stack, f"Tea Mug {tag}", stock=20, price=1250)
    orders = admin_tab(people, stack, "/admin/orders", "admin-orders")
    inventory = admin_tab(people, stack, "/admin/inventory", "admin-inventory")
    lamp_row = inventory.page.locator(f"tr[data-product-id='{lamp['id']}']")
    expect(lamp_row.locator("[data-col=available]")).to_have_text("20")
    expect(lamp_row.locator("[data-col=state]")).to_have_text("OK")  # no alert: nothing after it
    shot(orders.page, "admin orders before")
    shot(inventory.page, "admin inventory before")

    customer = people("customer")
    page = customer.page
    customer.go("/register")
    shot(page, "register")
    page.get_by_label("Name").fill("Robin Customer")
    page.get_by_label("Email").fill(f"robin-{tag}@example.com")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Create account").click()
    customer.wait_live()
    customer.mark()

    page.get_by_label("Search").fill(tag)
    page.get_by_role("button", name="Apply").click()
    cards = page.locator(".card")
    expect(cards).to_have_count(2)
    shot(page, "storefront search")
    page.get_by_role("button", name=f"Add to cart: Desk Lamp {tag}").click()
    page.get_by_role("button", name=f"Add to cart: Tea Mug {tag}").click()
    expect(page.locator("#nav .badge-count")).to_have_text("2")
    page.get_by_role("link", name=f"Desk Lamp {tag}").click()
    expect(page.locator("h1")).to_have_text(f"Desk Lamp {tag}")
    expect(page.locator(".detail [data-stock]")).to_have_text("20 left")
    shot(page, "product detail")

    customer.nav("/cart")
    expect(page.locator("[data-total=subtotal]")).to_have_text("$42.49")
    expect(page.locator("[data-total=tax]")).to_have_text("$3.40")  # 8% of 42.49, half up, as the API charges
    expect(page.locator("[data-total=total]")).to_have_text("$45.89")
    page.get_by_label(f"Quantity of Tea Mug {tag}").fill("50")
    page.get_by_label(f"Quantity of Tea Mug {tag}").press("Tab")
    expect(page.get_by_label(f"Quantity of Tea Mug {tag}")).to_have_value("20")  # bounded by what is available
    page.get_by_label(f"Quantity of Tea Mug {tag}").fill("1")
    page.get_by_label(f"Quantity of Tea Mug {tag}").press("Tab")
    expect(page.locator("[data-total=total]")).to_have_text("$45.89")
    shot(page, "cart")

    page.get_by_role("link", name="Checkout").click()
    page.get_by_label("Address").fill("1 Main Street")
    page.get_by_label("City").fill("Oslo")
    page.get_by_label("Postal code").fill("0150")
    page.get_by_label("Country").fill("NO")
    shot(page, "checkout")

    # The first attempt reaches the API, but its answer is lost on the way back.
    def lose_answer(route: Route) -> None:
        route.fetch()
        route.abort()

    page.route("**/api/orders", lose_answer, times=1)
    page.get_by_role("button", name="Place order").click()
    expect(page.locator(".notice.error")).to_contain_text("will not be placed twice")
    shot(page, "checkout network error")
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("h1")).to_contain_text("Order ")
    order_id = page.url.split("#/orders/")[1].split("?")[0]
    mine = stack.http("GET", "/api/orders", token=customer.token()).json["items"]
    assert [o["id"] for o in mine] == [order_id], "the retried checkout placed exactly one order"

    detail = page.locator(f".detail[data-order-id='{order_id}']")
    expect(detail).to_have_attribute("data-status", "paid", timeout=LIVE)
    shot(page, "order paid")

    row = orders.page.locator(f"tr[data-order-id='{order_id}']")
    expect(row).to_be_visible()
    expect(orders.page.locator("tbody tr").first).to_have_attribute("data-order-id", order_id)
    expect(row).to_have_attribute("data-status", "paid")
    expect(lamp_row.locator("[data-col=available]")).to_have_text("19")
    assert orders.not_reloaded() and inventory.not_reloaded()
    shot(orders.page, "admin orders new order")
    shot(inventory.page, "admin inventory stock dropped")

    # Only the legal next states are offered.
    select = row.get_by_label(f"New status for order {order_id[-8:]}")
    assert select.locator("option").all_inner_texts() == ["processing", "cancelled"]
    select.select_option("processing")
    row.get_by_role("button", name=f"Set status of order {order_id[-8:]}").click()
    expect(row).to_have_attribute("data-status", "processing")
    assert select.locator("option").all_inner_texts() == ["shipped", "cancelled"]
    select.select_option("shipped")
    row.get_by_role("button", name=f"Set status of order {order_id[-8:]}").click()
    expect(row).to_have_attribute("data-status", "shipped")
    expect(row.get_by_label(f"New status for order {order_id[-8:]}").locator("option")).to_have_text(["delivered"])
    shot(orders.page, "admin orders shipped")

    expect(detail).to_have_attribute("data-status", "shipped", timeout=LIVE)
    assert customer.toasts_with(f"Order {order_id[-8:]} is now shipped") == 1
    expect(detail.get_by_role("button", name="Cancel order")).to_have_count(0)  # a shipped order cannot be cancelled
    assert customer.not_reloaded()
    shot(page, "order shipped with toast")

    customer.nav("/notifications")
    expect(page.locator(".notifications li", has_text=f"Order {order_id[-8:]} is now shipped")).to_have_count(1)
    shot(page, "notifications")
    assert customer.errors(ABORTED) == []
    assert orders.errors() == [] and inventory.errors() == []


def test_customer_cancels_a_paid_order_and_both_sides_see_refund_and_stock(
        stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    """Journey 2: the customer cancels a paid order; the admin sees it live; refund and returned stock show on both sides."""
    kettle = make_product(stack, f"Kettle {tag}", stock=10, price=4000)
    email, password, token = customer_account(stack, "canceller")
    order = paid_order(stack, token, kettle["id"], quantity=2)
    oid = order["id"]

    orders = admin_tab(people, stack, "/admin/orders", "admin-orders")
    inventory = admin_tab(people, stack, "/admin/inventory", "admin-inventory")
    kettle_row = inventory.page.locator(f"tr[data-product-id='{kettle['id']}']")
    expect(kettle_row.locator("[data-col=available]")).to_have_text("8")
    row = orders.page.locator(f"tr[data-order-id='{oid}']")
    expect(row).to_have_attribute("data-status", "paid")

    customer, detail = on_paid_order(people, email, password, oid)
    page = customer.page
    shot(page, "paid order")
    page.get_by_role("button", name="Cancel order").click()
    shot(page, "confirm cancel")
    page.get_by_role("button", name="Yes, cancel it").click()
    expect(detail).to_have_attribute("data-status", "cancelled")
    expect(detail.get_by_role("button", name="Cancel order")).to_have_count(0)

    expect(row).to_have_attribute("data-status", "cancelled", timeout=LIVE)
    assert orders.toasts_with(f"Order {oid[-8:]} was cancelled by the customer") == 1
    shot(orders.page, "admin sees cancellation")

    expect(detail).to_have_attribute("data-payment", "refunded", timeout=LIVE)
    expect(detail).to_contain_text("Refunded: $86.40")
    assert customer.toasts_with(f"Order {oid[-8:]} was refunded") == 1
    shot(page, "customer sees refund")
    expect(row).to_contain_text("Refunded", timeout=LIVE)
    expect(kettle_row.locator("[data-col=available]")).to_have_text("10", timeout=LIVE)
    assert orders.not_reloaded() and inventory.not_reloaded() and customer.not_reloaded()
    shot(orders.page, "admin sees refund")
    shot(inventory.page, "admin sees stock returned")

    page.get_by_role("link", name=f"Kettle {tag}").click()
    expect(page.locator(".detail [data-stock]")).to_have_text("10 left")
    shot(page, "customer sees stock returned")
    for person in (customer, orders, inventory):
        assert person.errors() == [], person.label


def test_a_live_change_keeps_the_cancel_confirmation_open(stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    """The order changes live while the shopper is confirming its cancellation: the confirmation
    stays open with the focus on it, the new status shows, and "Yes, cancel it" still cancels."""
    lamp = make_product(stack, f"Lamp {tag}", stock=5, price=2500)
    email, password, token = customer_account(stack, "confirming")
    oid = paid_order(stack, token, lamp["id"])["id"]
    customer, detail = on_paid_order(people, email, password, oid)
    page = customer.page
    page.get_by_role("button", name="Cancel order").click()
    yes = page.get_by_role("button", name="Yes, cancel it")
    expect(yes).to_be_focused()

    r = stack.http("PATCH", f"/api/orders/{oid}/status", token=stack.admin_token(), json_body={"status": "processing"})
    assert r.status == 200, r
    expect(detail).to_have_attribute("data-status", "processing", timeout=LIVE)
    expect(page.get_by_role("group", name="Confirm cancellation")).to_be_visible()
    expect(yes).to_be_focused()
    shot(page, "confirmation open across a live change")
    yes.click()
    expect(detail).to_have_attribute("data-status", "cancelled")
    expect(detail).to_have_attribute("data-payment", "refunded", timeout=LIVE)
    assert customer.not_reloaded()
    assert customer.errors() == []


def test_declined_card_cancels_the_order(stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    """The documented declined-card token makes the order fail visibly: cancelled, payment declined."""
    toaster = make_product(stack, f"Toaster {tag}", stock=5, price=1999)
    email, password, _ = customer_account(stack, "declined")
    customer = people("customer", width=375, height=800)
    customer.sign_in(email, password, then=f"/product/{toaster['id']}")
    customer.mark()
    page = customer.page
    page.get_by_role("button", name=f"Add to cart: Toaster {tag}").click()
    customer.nav("/checkout")
    for label, value in (("Address", "2 Side Road"), ("City", "Bergen"), ("Postal code", "5003"), ("Country", "NO")):
        page.get_by_label(label).fill(value)
    page.get_by_label("Test payment token").fill("tok_declined")
    shot(page, "checkout declined token phone width")
    page.get_by_role("button", name="Place order").click()
    detail = page.locator(".detail[data-order-id]")
    expect(detail).to_have_attribute("data-status", "cancelled", timeout=LIVE)
    expect(detail).to_contain_text("the payment was declined")
    expect(detail).to_have_attribute("data-payment", "failed")
    assert customer.toasts_with("is now cancelled (the payment was declined)") == 1
    shot(page, "order declined phone width")
    assert customer.errors() == []


def test_a_change_that_arrives_while_the_order_page_loads_is_not_lost(
        stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    """The order page's first fetch reads the order, the order changes, and the change's live event
    reaches the page before that fetch's answer: the page must end up showing the change (it fetches
    again), not the older answer. The test holds the fetch's answer until its own socket has seen
    the event (the same relay write reaches the page's socket)."""
    stool = make_product(stack, f"Race Stool {tag}", stock=5, price=1999)
    email, password, token = customer_account(stack, "race")
    oid = paid_order(stack, token, stool["id"])["id"]
    customer = people("customer")
    customer.sign_in(email, password, then="/orders")
    customer.mark()
    page = customer.page

    with connect(stack.state()["wsUrl"], open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        ws.send(json.dumps({"type": "subscribe", "channel": "orders"}))

        def processing_seen() -> bool:
            frame = json.loads(ws.recv(timeout=LIVE / 1000))
            return frame.get("event") == "order:updated" and frame["data"].get("status") == "processing"

        def answer_late(route: Route) -> None:
            # Blocks Playwright (not the page): read the order, change it, let the event out, then answer.
            before = route.fetch()
            assert before.json()["status"] == "paid"
            r = stack.http("PATCH", f"/api/orders/{oid}/status", token=stack.admin_token(),
                           json_body={"status": "processing"})
            assert r.status == 200, r
            wait_for(processing_seen, timeout=LIVE / 1000, interval=0, message="the relay to push the change")
            time.sleep(1.0)
            route.fulfill(response=before)

        page.route(f"**/api/orders/{oid}", answer_late, times=1)
        customer.nav(f"/orders/{oid}")
        detail = page.locator(f".detail[data-order-id='{oid}']")
        expect(detail).to_have_attribute("data-status", "processing", timeout=LIVE)
    assert customer.toasts_with(f"Order {oid[-8:]} is now processing") == 1
    assert customer.not_reloaded()
    shot(page, "order page after a late first answer")
    assert customer.errors() == []

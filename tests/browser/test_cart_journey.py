"""The cart page shows one state: a typed edit, an availability refresh and a live stock event, in
every order, leave the page, the stored cart and the order checkout sends in agreement."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from devstack.testing import Stack
from tests.browser.conftest import LIVE, Shots, customer_account, make_product

pytestmark = [pytest.mark.browser, pytest.mark.stack]

PRICE = 1250
TYPED = 50  # more than the 20 in stock
LATER_STOCK = 12  # what the admin sets while the shopper is on the page
#: After the shopper starts typing: the commit (Tab), the held availability answer, and the live
#: stock event, in every order. Steps before "commit" arrive mid-edit.
ORDERS = list(itertools.permutations(("commit", "refresh", "stock")))


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def stored(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("() => JSON.parse(localStorage.getItem('shop.cart') || '[]')"))


def assert_page_shows_the_store(page: Page, product_id: str, tax_bps: int, *, committed: bool) -> dict[str, Any]:
    """Every figure on the page is the stored cart's: quantity (unless being typed), line total,
    subtotal, tax, total and the header's count."""
    (line,) = [line for line in stored(page) if line["productId"] == product_id]
    assert 0 <= line["quantity"] <= line["available"], line
    row = page.locator(f"tr[data-product-id='{product_id}']")
    subtotal = line["priceCents"] * line["quantity"]
    tax = (subtotal * tax_bps + 5000) // 10000  # half up, as the API charges
    if committed:
        expect(row.locator("input")).to_have_value(str(line["quantity"]))
    expect(row.locator("[data-line-total]")).to_have_text(money(subtotal))
    expect(page.locator("[data-total=subtotal]")).to_have_text(money(subtotal))
    expect(page.locator("[data-total=tax]")).to_have_text(money(tax))
    expect(page.locator("[data-total=total]")).to_have_text(money(subtotal + tax))
    badge = page.locator("#nav .badge-count")
    if line["quantity"]:
        expect(badge).to_have_text(str(line["quantity"]))
    else:
        expect(badge).to_have_count(0)
    return line


@pytest.mark.parametrize("steps", ORDERS, ids=["-".join(o) for o in ORDERS])
def test_cart_page_store_and_checkout_agree_whatever_order_edit_refresh_and_stock_event_arrive_in(
        stack: Stack, people: Any, shot: Shots, tag: str, steps: tuple[str, ...]) -> None:
    """The shopper types 50 for a mug with 20 available; the page's availability answer is held
    (Playwright routing) and the admin sets the stock to 12 (a live event) around the edit. A
    quantity being typed is never overwritten; after every step every figure is the store's; the
    order checkout sends has the quantity the page shows."""
    email, password, _ = customer_account(stack, "cart")
    name = f"Tea Mug {tag}"
    product = make_product(stack, name, stock=20, price=PRICE)
    pid = product["id"]
    shopper = people("shopper")
    shopper.sign_in(email, password, then="/")
    page = shopper.page
    tax_bps = int(page.evaluate("() => import('./js/config.js').then((m) => m.config.taxRateBps)"))

    held: list[Route] = []
    page.route(f"**/api/products/{pid}", lambda route: held.append(route))  # the cart's availability refresh waits
    sent: list[Any] = []

    def capture(route: Route) -> None:
        if route.request.method == "POST":
            sent.append(route.request.post_data_json)
        route.continue_()

    page.route("**/api/orders", capture)
    page.evaluate("line => localStorage.setItem('shop.cart', JSON.stringify([line]))", {
        "productId": pid, "name": name, "sku": product["sku"], "priceCents": PRICE, "currency": "USD",
        "available": 20, "quantity": 1})
    shopper.nav("/cart")
    page.reload()  # a new document: the cart store reads localStorage
    shopper.wait_live()
    while not held:  # the refresh request has reached the route (wait_for_timeout lets Playwright deliver it)
        page.wait_for_timeout(50)
    qty = page.get_by_label(f"Quantity of {name}")
    expect(qty).to_have_value("1")
    assert_page_shows_the_store(page, pid, tax_bps, committed=True)

    qty.fill(str(TYPED))  # typed, not yet committed
    committed = False
    for step in steps:
        if step == "commit":
            qty.press("Tab")
            committed = True
        elif step == "refresh":
            held.pop().continue_()
            expect(page.locator("main [aria-busy]")).to_have_attribute("aria-busy", "false")
        else:
            r = stack.http("PATCH", f"/api/inventory/{pid}", token=stack.admin_token(), json_body={"stock": LATER_STOCK})
            assert r.status == 200, r
            page.wait_for_function("([id, n]) => JSON.parse(localStorage.getItem('shop.cart')).some("
                                   "(l) => l.productId === id && l.available === n)", arg=[pid, LATER_STOCK], timeout=LIVE)
            expect(page.locator(f"tr[data-product-id='{pid}'] [data-stock]")).to_have_text(f"{LATER_STOCK} left")
        if not committed:
            expect(qty).to_have_value(str(TYPED))  # never overwritten under the shopper's hands
        assert_page_shows_the_store(page, pid, tax_bps, committed=committed)
    line = assert_page_shows_the_store(page, pid, tax_bps, committed=True)
    assert (line["quantity"], line["available"]) == (LATER_STOCK, LATER_STOCK)
    expect(page.locator("main .notice.warning")).to_contain_text(f"of {name} ({product['sku']}) available")
    shot(page, f"cart after {'-'.join(steps)}")

    page.get_by_role("link", name="Checkout").click()
    for label, value in (("Address", "3 Cart Lane"), ("City", "Oslo"), ("Postal code", "0150"), ("Country", "NO")):
        page.get_by_label(label).fill(value)
    expect(page.locator("[data-total=total]")).to_have_text(
        money(LATER_STOCK * PRICE + (LATER_STOCK * PRICE * tax_bps + 5000) // 10000))
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("h1")).to_contain_text("Order", timeout=LIVE)
    assert [body["items"] for body in sent] == [[{"productId": pid, "quantity": LATER_STOCK}]]
    assert stored(page) == []
    assert shopper.errors() == []

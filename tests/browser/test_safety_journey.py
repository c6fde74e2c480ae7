"""Hostile strings stay text, the pages carry a CSP without inline scripts, the token never
enters a URL, and no page logs a console error."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from devstack.testing import Stack
from shop.orders.domain import TRANSITIONS
from tests.browser.conftest import Person, Shots, customer_account, make_product, paid_order

pytestmark = [pytest.mark.browser, pytest.mark.stack]

XSS = "<img src=x onerror=alert(1)>"


def visit(person: Person, shot: Shots, path: str, name: str, ready: str) -> None:
    person.nav(path)
    person.page.locator(ready).first.wait_for()
    shot(person.page, name)


def test_hostile_names_render_as_text_and_no_page_logs_an_error(
        stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    """Journey 5: the XSS product name shows literally everywhere; every page is error-free."""
    product = make_product(stack, XSS, stock=7, price=999)
    for i in range(13):
        make_product(stack, f"Bulk item {i:02d}", category=f"bulk{tag}")
    email, password, token = customer_account(stack, "careful")
    order = paid_order(stack, token, product["id"])

    customer = people("customer")
    response = customer.go("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "object-src 'none'" in csp
    page = customer.page
    expect(page.locator(".card").first).to_be_visible()
    shot(page, "storefront signed out")
    customer.nav(f"/?category=bulk{tag}")
    expect(page.locator(".card")).to_have_count(12)
    shot(page, "storefront first page of a category")
    page.get_by_role("button", name="Load more").click()
    expect(page.locator(".card")).to_have_count(13)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    customer.nav("/?search=onerror")
    card = page.locator(f".card[data-product-id='{product['id']}']")
    expect(card.locator("h2")).to_have_text(XSS)
    assert card.locator("img:not(.product-image)").count() == 0  # the product's picture is its only image
    expect(card.locator("img.product-image")).to_have_attribute("alt", XSS)
    shot(page, "xss product in storefront")
    customer.sign_in(email, password, then=f"/product/{product['id']}")
    expect(page.locator("h1")).to_have_text(XSS)
    assert page.locator("main img:not(.product-image)").count() == 0
    shot(page, "xss product detail")
    page.get_by_role("button", name=f"Add to cart: {XSS}").click()
    visit(customer, shot, "/cart", "cart", "table")
    expect(page.locator("tbody tr").first).to_contain_text(XSS)
    visit(customer, shot, "/checkout", "checkout", "form")
    visit(customer, shot, "/orders", "my orders", f"tr[data-order-id='{order['id']}']")
    visit(customer, shot, f"/orders/{order['id']}", "order detail", ".detail")
    expect(page.locator(".detail tbody")).to_contain_text(XSS)
    visit(customer, shot, "/notifications", "notifications", ".notifications")
    visit(customer, shot, "/admin", "admin page as a customer", ".notice.warning")
    expect(page.locator(".notice.warning")).to_contain_text("needs the admin role")
    # The state machine the pages offer is the server's.
    offered = page.evaluate("() => import('./js/orderstates.js').then(m => m.TRANSITIONS)")
    assert {k: sorted(v) for k, v in offered.items()} == {k: sorted(v) for k, v in TRANSITIONS.items()}

    admin = people("admin")
    admin.sign_in(stack.admin_email, stack.admin_password, then="/admin")
    expect(admin.page.locator(".chart svg")).to_have_count(3)
    expect(admin.page.locator('[data-stat="Orders"]')).to_be_visible()  # the stats have loaded too
    shot(admin.page, "admin dashboard")
    visit(admin, shot, "/admin/orders", "admin orders", f"tr[data-order-id='{order['id']}']")
    expect(admin.page.locator(f"tr[data-order-id='{order['id']}']")).to_contain_text(XSS)
    visit(admin, shot, "/admin/inventory", "admin inventory", f"tr[data-product-id='{product['id']}']")
    expect(admin.page.locator(f"tr[data-product-id='{product['id']}'] td").first).to_contain_text(XSS)
    visit(admin, shot, "/admin/products", "admin products", f"tr[data-product-id='{product['id']}']")
    visit(admin, shot, f"/admin/products/{product['id']}", "admin product form", "form")
    expect(admin.page.get_by_label("Name")).to_have_value(XSS)
    visit(admin, shot, "/register", "register page", "form")
    assert admin.page.locator("main img").count() == 0

    phone = people("phone", width=375, height=800)
    phone.sign_in(email, password, then="/")
    expect(phone.page.locator(".card").first).to_be_visible()
    width = phone.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375, f"the storefront scrolls sideways at 375 px ({width} px wide)"
    shot(phone.page, "storefront at 375 px")
    visit(phone, shot, f"/orders/{order['id']}", "order at 375 px", ".detail")

    for person in (customer, admin, phone):
        assert person.dialogs == [], f"{person.label}: a script ran: {person.dialogs}"
        assert person.errors() == [], f"{person.label}: {person.errors()}"
        leaked = [u for u in person.urls if person.token() in u]
        assert leaked == [], f"{person.label}: the token appeared in a URL"

"""The admin adds a product that open storefronts show at once, and stock alerts reach the dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from devstack.testing import Stack
from tests.browser.conftest import LIVE, Shots, customer_account

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def test_new_product_shows_in_open_storefronts_and_low_stock_alerts_the_dashboard(
        stack: Stack, people: Any, shot: Shots, tag: str) -> None:
    """Journey 3: create a product in the admin form; a signed-in storefront shows it without a
    reload; lowering its stock below the threshold raises the alert on the dashboard."""
    email, password, _ = customer_account(stack, "watcher")
    shopper = people("shopper")
    shopper.sign_in(email, password, then="/")
    shopper.mark()
    expect(shopper.page.locator(".card").first).to_be_visible()
    shot(shopper.page, "storefront before")

    admin = people("admin")
    admin.sign_in(stack.admin_email, stack.admin_password, then="/admin/products/new")
    admin.mark()
    page = admin.page
    name = f"Garden Chair {tag}"
    sku = f"GC-{tag}".upper()
    page.get_by_label("Name").fill(name)
    page.get_by_label("SKU").fill("not a sku!")
    page.get_by_label("Category").fill("garden")
    page.get_by_label("Price").fill("49.50")
    page.get_by_label("Initial stock").fill("25")
    page.get_by_role("button", name="Create product").click()
    expect(page.locator("#" + page.get_by_label("SKU").get_attribute("id") + "-error")).to_contain_text("should match pattern")
    expect(page.get_by_label("SKU")).to_have_attribute("aria-invalid", "true")
    shot(page, "product form API validation")
    page.get_by_label("SKU").fill(sku)
    page.get_by_role("button", name="Create product").click()
    expect(page.locator("h1")).to_have_text("Products")
    expect(page.locator("tbody tr", has_text=name)).to_have_count(1)
    shot(page, "products list")

    card = shopper.page.locator(".card", has_text=name)
    expect(card).to_be_visible(timeout=LIVE)
    expect(card).to_contain_text("$49.50")
    expect(card).to_contain_text("25 left")
    assert shopper.not_reloaded()
    shot(shopper.page, "storefront shows the new product")

    page.get_by_role("link", name=f"Edit {name}").click()
    expect(page.get_by_label("Price")).to_have_value("49.50")
    page.get_by_label("Price").fill("45")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("h1")).to_have_text("Products")
    expect(card).to_contain_text("$45.00", timeout=LIVE)  # product:updated, live
    shot(shopper.page, "storefront shows the new price")

    admin.nav("/admin/inventory")
    row = page.locator("tr", has_text=sku)
    expect(row.locator("[data-col=available]")).to_have_text("25")
    row.get_by_label(f"Set stock of {sku} to").fill("-4")
    row.get_by_role("button", name="Set").click()
    expect(row.locator(".field-error").last).to_have_text("Stock cannot be negative")
    shot(page, "inventory validation")
    row.get_by_label(f"Set stock of {sku} to").fill("3")
    row.get_by_role("button", name="Set").click()
    expect(row).to_have_attribute("data-level", "low")
    low = f"{name} ({sku}) is low on stock (3 available)"  # the product's name, then its SKU
    expect(row.locator("[data-alert=warning]")).to_have_text(low, timeout=LIVE)
    assert admin.toasts_with(low) == 1
    expect(card).to_contain_text("3 left", timeout=LIVE)
    shot(page, "inventory low stock highlighted")
    shot(shopper.page, "storefront stock follows")

    page.get_by_role("link", name="Dashboard").click()
    alert = page.locator(".alerts li", has_text=low)
    expect(alert).to_have_count(1)
    expect(page.locator("[data-stat='Low stock'] .value")).not_to_have_text("0")
    expect(page.locator(".chart svg")).to_have_count(3)
    assert admin.not_reloaded()
    shot(page, "dashboard alert")
    assert shopper.errors() == []
    assert admin.errors(r"status of 400") == []  # the deliberate validation error above

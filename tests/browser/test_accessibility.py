"""axe-core on every page, customer and admin, at 1280 and 375 px wide: no serious or critical violation.

axe-core comes from PyPI's ``axe-playwright-python`` (its release is printed with every finding,
see ``conftest.axe_core_version``); minor and moderate findings are printed, not failed.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from devstack.testing import Stack
from tests.browser.conftest import (
    LIVE,
    Person,
    Shots,
    axe_core_version,
    axe_failures,
    customer_account,
    make_product,
    paid_order,
    readme_image,
)

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def check(person: Person, shot: Shots, path: str, ready: str, failures: list[str]) -> None:
    """Open ``path`` inside the open page, wait for ``ready``, and collect axe-core's serious findings."""
    person.nav(path)
    person.page.locator(ready).first.wait_for()
    person.page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")
    shot(person.page, f"{person.label} {path}")
    failures.extend(axe_failures(person.page, f"{person.label} {path}"))


@pytest.mark.parametrize("width", [1280, 375])
def test_no_page_has_a_serious_or_critical_accessibility_violation(
        stack: Stack, people: Any, shot: Shots, tag: str, width: int) -> None:
    """Every route of the site, as a visitor, a signed-in customer (with an order, a cart and a
    notification) and an admin; the live header in its Live state."""
    height = 900 if width > 600 else 800
    product = make_product(stack, f"Reading Lamp {tag}", stock=8, price=3450)
    email, password, token = customer_account(stack, "axe")
    order = paid_order(stack, token, product["id"])
    failures: list[str] = []

    visitor = people(f"visitor-{width}", width=width, height=height)
    visitor.go("/")
    visitor.wait_live(signed_in=False)
    for path, ready in [("/", ".card"), (f"/product/{product['id']}", ".detail"), ("/login", "form"),
                        ("/register", "form"), ("/cart", "main h1"), ("/orders", ".notice.warning")]:
        check(visitor, shot, path, ready, failures)

    customer = people(f"customer-{width}", width=width, height=height)
    customer.sign_in(email, password, then=f"/product/{product['id']}")
    customer.page.locator(".detail button", has_text="Add to cart").click()
    expect(customer.page.locator("#toasts .toast")).to_have_count(1)  # a toast on the page while checked
    check(customer, shot, f"/product/{product['id']}", ".detail", failures)
    for path, ready in [("/", ".card"), ("/cart", "tbody tr"), ("/checkout", "form"),
                        ("/orders", f"tr[data-order-id='{order['id']}']"), (f"/orders/{order['id']}", ".detail"),
                        ("/notifications", ".notifications"), ("/admin", ".notice.warning")]:
        check(customer, shot, path, ready, failures)

    admin = people(f"admin-{width}", width=width, height=height)
    admin.sign_in(stack.admin_email, stack.admin_password, then="/admin")
    expect(admin.page.locator(".chart svg")).to_have_count(3, timeout=LIVE)
    for path, ready in [("/admin", '[data-stat="Orders"]'), ("/admin/orders", f"tr[data-order-id='{order['id']}']"),
                        ("/admin/inventory", f"tr[data-product-id='{product['id']}']"),
                        ("/admin/products", f"tr[data-product-id='{product['id']}']"),
                        ("/admin/products/new", "form"), (f"/admin/products/{product['id']}", "form"),
                        ("/notifications", ".notifications"), ("/", ".card")]:
        check(admin, shot, path, ready, failures)
        if path == "/admin" and width == 1280:
            readme_image(admin.page, "admin-dashboard-1280")

    print(f"axe-core {axe_core_version()}: {width} px, {len(failures)} serious or critical")
    assert failures == [], "\n".join(failures)

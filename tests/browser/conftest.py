"""Browser tests: Playwright for Python driving Debian's Chromium against the real local stack.

Every test is marked ``browser`` (``pytest -m browser`` runs only these). Without Chromium at
``SHOP_CHROMIUM`` (default ``/usr/bin/chromium``) or without the ``playwright`` package they are
skipped with a message saying so. Each test saves a screenshot of every page it visits under
``var/screenshots/<test>/``; the folder is named at the end of the run.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.settings import ROOT
from devstack.testing import Stack

CHROMIUM = Path(os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "var" / "screenshots"
#: where the README's screenshots go: docs/images with SHOP_README_IMAGES=1 (to refresh them), else beside the rest
README_IMAGES = ROOT / "docs" / "images" if os.environ.get("SHOP_README_IMAGES") else SHOTS / "readme"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
#: How long a live change may take to show (a loaded 2-core machine; the figure is a bound, not a timing).
LIVE = 60_000
#: axe-core impacts that fail a test (minor and moderate ones are printed only).
FAILING_IMPACTS = ("serious", "critical")


def readme_image(page: Any, name: str) -> None:
    """The viewport as a small palette PNG (tens of KB) for the README: ``README_IMAGES/<name>.png``."""
    import io

    from PIL import Image

    picture = Image.open(io.BytesIO(page.screenshot()))
    README_IMAGES.mkdir(parents=True, exist_ok=True)
    picture.convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(
        README_IMAGES / f"{name}.png", optimize=True)


def _why_skipped() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if not CHROMIUM.exists():
        return (f"no Chromium at {CHROMIUM}: install Debian's chromium package (apt-get install chromium; "
                ".ci/run does it when run as root) or point SHOP_CHROMIUM at one")
    return None


SKIP_REASON = _why_skipped()
_RAN: list[bool] = []  # the browser started this session (so the screenshots are this run's)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium through Playwright against the local stack")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        browser_test = Path(str(item.fspath)).is_relative_to(here) and item.get_closest_marker("browser") is not None
        if browser_test and SKIP_REASON:
            item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {SKIP_REASON}"))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if SKIP_REASON:
        terminalreporter.write_line(f"browser tests skipped: {SKIP_REASON}")
        return
    shots = sorted(SHOTS.rglob("*.png")) if _RAN and SHOTS.exists() else []
    if shots:
        terminalreporter.write_line(f"browser screenshots: {SHOTS} ({len(shots)} files)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (Playwright's sync API holds an event loop while it
    runs, which would stop later tests from using asyncio.run)."""
    from playwright.sync_api import sync_playwright

    if not _RAN:
        shutil.rmtree(SHOTS, ignore_errors=True)
        _RAN.append(True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def web_url(stack: Stack) -> str:
    """Where the stack serves the web client."""
    assert stack.web_url, "the stack serves no web client (stack.json has no webUrl)"
    return stack.web_url.rstrip("/") + "/"


class Shots:
    """Numbered screenshots of one test: ``var/screenshots/<test>/NN-<name>.png``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.n = 0

    def __call__(self, page: Any, name: str) -> Path:
        self.n += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.n:02d}-{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(request: pytest.FixtureRequest, browser: Any) -> Shots:
    return Shots(SHOTS / request.node.name)


class Person:
    """One browser context (one person, one tab) with everything the page logged."""

    def __init__(self, browser: Any, base: str, label: str, *, width: int = 1200, height: int = 900) -> None:
        self.base = base
        self.label = label
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.set_default_timeout(LIVE)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.urls: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.console_errors.append(f"uncaught: {e}"))
        self.page.on("request", lambda r: self.urls.append(r.url))
        self.page.on("websocket", lambda ws: self.urls.append(ws.url))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def go(self, path: str) -> Any:
        """Open ``#<path>`` (a full page load when the site is not open yet)."""
        return self.page.goto(self.base + "#" + path)

    def nav(self, path: str) -> None:
        """Move inside the open page (no reload), as a link click would."""
        self.page.evaluate("p => { location.hash = p; }", "#" + path)

    def mark(self) -> None:
        """Mark this document (:meth:`not_reloaded` proves later that it was never reloaded) and
        record every toast it shows from now on (they leave the page after a few seconds)."""
        self.page.evaluate("""() => {
            window.__browserTestMark = 'kept';
            window.__browserTestToasts = [];
            new MutationObserver((changes) => changes.forEach((c) => c.addedNodes.forEach((n) =>
                window.__browserTestToasts.push(n.textContent)))).observe(document.getElementById('toasts'), {childList: true});
        }""")

    def toasts_with(self, text: str) -> int:
        """How many toasts containing ``text`` the page has shown since :meth:`mark`, once at least one has."""
        self.page.wait_for_function("t => window.__browserTestToasts.some((x) => x.includes(t))", arg=text)
        return int(self.page.evaluate("t => window.__browserTestToasts.filter((x) => x.includes(t)).length", text))

    def not_reloaded(self) -> bool:
        return bool(self.page.evaluate("() => window.__browserTestMark === 'kept'"))

    def sign_in(self, email: str, password: str, then: str = "/") -> None:
        self.go("/login?next=" + then)
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.wait_live()

    def wait_live(self, signed_in: bool = True) -> None:
        """Live, on the signed-in user's channels too (``signed_in``) or on the public one only."""
        self.page.locator(f"#conn[data-state='live'][data-audience='{'user' if signed_in else 'public'}']").wait_for()

    def token(self) -> str:
        return str(self.page.evaluate("() => JSON.parse(sessionStorage.getItem('shop.session')).token"))

    def errors(self, *allowed: str) -> list[str]:
        """Console errors, less those matching one of the ``allowed`` patterns."""
        return [e for e in self.console_errors if not any(re.search(a, e) for a in allowed)]

    def close(self) -> None:
        self.context.close()


def axe_core_version() -> str:
    """The axe-core release that axe-playwright-python ships (the banner of its ``axe.min.js``)."""
    from axe_playwright_python.base import AXE_SCRIPT

    match = re.match(r"/\*! axe v(\S+)", AXE_SCRIPT)
    return match.group(1) if match else "unknown"


def axe_failures(page: Any, where: str) -> list[str]:
    """Run axe-core (from axe-playwright-python) on the page as it is now, its experimental rules
    too (``label-content-name-mismatch``, WCAG 2.5.3 label in name, is one and off by default);
    its serious and critical violations, each with the elements it names. Lesser ones are printed."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    page.evaluate(axe.axe_script)
    experimental = page.evaluate("() => axe.getRules(['experimental']).map((r) => r.ruleId)")
    options = {"resultTypes": ["violations"], "rules": {rule: {"enabled": True} for rule in experimental}}
    found = []
    for v in axe.run(page, options=options).response["violations"]:
        line = (f"{where}: {v['id']} ({v['impact']}) {v['help']}: "
                + "; ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:5]))
        if v["impact"] in FAILING_IMPACTS:
            found.append(line)
        else:
            print(f"axe-core {axe_core_version()}, not failing: {line}")
    return found


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def people(request: pytest.FixtureRequest, browser: Any, web_url: str, shot: Shots) -> Iterator[Any]:
    """``people("customer")`` opens a new browser context; all are closed after the test (and
    photographed first when the test failed)."""
    made: list[Person] = []

    def make(label: str, **kwargs: Any) -> Person:
        person = Person(browser, web_url, label, **kwargs)
        made.append(person)
        return person

    yield make
    failed = request.node.stash.get(_FAILED, False)
    for person in made:
        if failed:
            try:
                shot(person.page, f"at failure {person.label}")
            except Exception as exc:  # the page may be gone; the failure itself is what matters
                print(f"no failure screenshot of {person.label}: {exc}")
        person.close()


@pytest.fixture
def tag() -> str:
    """A short unique word for this test's products and accounts."""
    return uuid.uuid4().hex[:8]


def make_product(stack: Stack, name: str, *, stock: int = 20, price: int = 1250, category: str = "browser") -> dict[str, Any]:
    """A product created through the API as the admin."""
    sku = "BT-" + uuid.uuid4().hex[:10].upper()
    r = stack.http("POST", "/api/products", token=stack.admin_token(), json_body={
        "name": name, "priceCents": price, "currency": "USD", "sku": sku, "stock": stock,
        "category": category, "description": f"made by a browser test ({sku})"})
    assert r.status == 201, r
    return dict(r.json)


def customer_account(stack: Stack, prefix: str) -> tuple[str, str, str]:
    """A registered customer: (email, password, token)."""
    email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct-horse-battery"
    return email, password, stack.register(email, password, name=prefix.title())


def on_paid_order(people: Any, email: str, password: str, order_id: str) -> tuple[Any, Any]:
    """A customer signed in on the page of their paid order, marked: (the person, the order's detail)."""
    from playwright.sync_api import expect

    customer = people("customer")
    customer.sign_in(email, password, then=f"/orders/{order_id}")
    customer.mark()
    detail = customer.page.locator(f".detail[data-order-id='{order_id}']")
    expect(detail).to_have_attribute("data-status", "paid")
    return customer, detail


def paid_order(stack: Stack, token: str, product_id: str, quantity: int = 1) -> dict[str, Any]:
    """An order placed through the API, once the saga has made it ``paid``."""
    from devstack.testing import wait_for

    r = stack.http("POST", "/api/orders", token=token, headers={"Idempotency-Key": uuid.uuid4().hex}, json_body={
        "items": [{"productId": product_id, "quantity": quantity}],
        "shippingAddress": {"line1": "1 Test Street", "city": "Oslo", "postalCode": "0150", "country": "NO"},
        "paymentToken": "tok_visa"})
    assert r.status == 201, r
    order_id = r.json["id"]

    def paid() -> dict[str, Any] | None:
        got = stack.http("GET", f"/api/orders/{order_id}", token=token).json
        return dict(got) if got["status"] == "paid" else None

    return wait_for(paid, timeout=60, message=f"order {order_id} to be paid")

"""``devstack check``: the shop's invariants over the database, and what is inconsistent.

Reads the database of the running stack (its ``stack.json``), or ``MONGODB_URI`` when set, and
evaluates :func:`shop.saga.service.check`: each product's stock, reserved and sold against the
holds and sales of orders; every paid (or later) order with a succeeded payment and its stock
held or sold; no cancelled order holding stock or with an unrefunded charge; nobody charged twice;
nothing between saga steps for longer than ``--stuck-after`` seconds. Exit code 1 when anything is
violated, 2 when the database cannot be reached.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from devstack.settings import StackSettings

SHOWN = 20


def database_uri(settings: StackSettings) -> str:
    """``MONGODB_URI``, else the running stack's database, else the stack's default address."""
    if os.environ.get("MONGODB_URI"):
        return os.environ["MONGODB_URI"]
    try:
        state = json.loads(settings.state_file.read_text())
        return str(state["mongodbUri"])
    except (OSError, ValueError, KeyError):
        return settings.mongodb


def run_check(settings: StackSettings, *, stuck_after: float | None, as_json: bool) -> int:
    import pymongo
    from pymongo.errors import PyMongoError

    from shop.config import get_settings
    from shop.saga import service

    uri = database_uri(settings)
    bound = get_settings().saga_stuck_after_seconds if stuck_after is None else stuck_after
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=3000,
                                                                      tz_aware=True)
    try:
        report = service.check(client[get_settings().mongodb_db], stuck_after=bound)
    except PyMongoError as exc:
        print(f"✗ the database at {uri} cannot be read: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
    if as_json:
        print(json.dumps({
            "ok": report.ok, "orders": report.orders, "products": report.products, "byStatus": report.by_status,
            "stuckAfterSeconds": bound, "violations": [vars(p) for p in report.violations],
            "inFlight": [vars(p) for p in report.in_flight],
        }, indent=2))
        return 0 if report.ok else 1
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(report.by_status.items())) or "none"
    print(f"checked {report.orders} orders ({statuses}) and {report.products} products at {uri}")
    if report.in_flight:
        print(f"  {len(report.in_flight)} problem(s) of orders that changed in the last {bound:g} s "
              "(still in flight, not counted)")
    if report.ok:
        print(f"✓ every invariant holds (nothing between saga steps for more than {bound:g} s)")
        return 0
    counts = ", ".join(f"{n} {code}" for code, n in sorted(report.counts().items()))
    print(f"✗ {len(report.violations)} violation(s): {counts}")
    for p in report.violations[:SHOWN]:
        print(f"  {p.code:26} {p.subject}  {p.message}")
    if len(report.violations) > SHOWN:
        print(f"  ... and {len(report.violations) - SHOWN} more (--json lists them all)")
    return 1

"""The saga reconciler (a saga timeout) and the invariant check over the whole database.

:func:`reconcile` is one pass of the scheduled ``SagaReconcilerFunction``. It looks at every order
once nothing of it changed for ``stuck_after`` seconds (orders whose ``updatedAt`` passed since its
watermark), plus the orders on its watch list. An order whose saga is not settled is kept on the
watch list; once it is stuck, its logged events are published again with their original ids, at
most once per ``stuck_after``, until it settles. A volatile broker, a lost batch or a dead-lettered
record therefore delays an order; it does not strand it.

:func:`check` evaluates the same predicates over every order and product (``dev.py check``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shop import envelope as ev
from shop import eventlog
from shop.saga import domain, store
from shop.saga.domain import Problem

log = logging.getLogger(__name__)

Db = store.Db
Sender = Callable[[list[dict[str, Any]]], None]

#: The watermark trails the window's end by this much, so a write that took a while between
#: computing its ``updatedAt`` and landing is still seen by a later pass.
WATERMARK_MARGIN = 15.0

PAGE = 500

#: Re-drives of an order that does not settle back off: after ``stuck_after`` (at least ``MIN_BACKOFF``
#: seconds), then twice that, up to ``2 ** MAX_DOUBLINGS`` times it.
MIN_BACKOFF = 5.0
MAX_DOUBLINGS = 6


@dataclass
class PassResult:
    """What one reconciler pass saw and did."""

    examined: int = 0
    unsettled: int = 0
    redriven: list[str] = field(default_factory=list)
    republished: int = 0
    settled: int = 0
    watching: int = 0
    not_in_log: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"examined": self.examined, "unsettled": self.unsettled, "redriven": len(self.redriven),
                "republished": self.republished, "settled": self.settled, "watching": self.watching,
                "notInLog": len(self.not_in_log)}


def _send(events: list[dict[str, Any]]) -> None:
    from shop import outbox  # the producer is only built when something is re-published

    outbox.send(events)


def reconcile(db: Db, *, stuck_after: float, now: float | None = None, send: Sender | None = None,
              limit: int = PAGE) -> PassResult:
    """One pass: re-drive the orders stuck between saga steps for ``stuck_after`` seconds or more.

    ``stuck_after`` 0 (the broker came back empty) re-drives every unsettled order at once, whatever
    its back-off.
    """
    now = time.time() if now is None else now
    send = send or _send
    result = PassResult()
    since = store.watermark(db)
    window_end = store.iso(now - stuck_after)
    fresh = store.orders_updated_between(db, since, window_end, limit)
    watching = store.watched(db, limit, due_by=None if stuck_after == 0 else now)
    orders = {str(o["_id"]): o for o in fresh}
    orders.update({str(o["_id"]): o for o in store.orders_by_id(db, set(watching) - set(orders))})
    snaps = store.snapshots(db, list(orders.values()))
    result.examined = len(snaps)

    due: list[domain.Snapshot] = []
    settled = set(watching) - set(orders)  # watched orders that no longer exist
    for s in snaps:
        if not domain.order_problems(s):
            if s.order_id in watching:
                settled.add(s.order_id)
            continue
        result.unsettled += 1
        entry = watching.get(s.order_id)
        last_redrive = (entry or {}).get("redrivenAt")
        if (domain.stuck(s, now=now, bound=stuck_after) and not s.order.get("outboxPending")
                and (last_redrive is None or now - float(last_redrive) >= stuck_after)):
            due.append(s)
        elif entry is None:
            store.watch(db, s.order_id, {"since": now, "nextAt": (s.last_activity() or now) + stuck_after,
                                         "redrivenAt": None, "redrives": 0})

    if due:
        wanted = {s.order_id: domain.redrive_types(s) for s in due}
        logged = eventlog.for_orders(db, wanted, {t for types in wanted.values() for t in types})
        batch: list[dict[str, Any]] = []
        for s in due:
            types = wanted[s.order_id]
            events = [e for e in logged.get(s.order_id, []) if e["type"] in types]
            missing = sorted(set(types) - {e["type"] for e in events})
            if missing:
                result.not_in_log[s.order_id] = missing
            if events:
                batch.extend(events)
                result.redriven.append(s.order_id)
        if batch:
            send(batch)  # a broker that is away fails the pass; the next one tries again
            result.republished = len(batch)
        for s in due:
            entry = watching.get(s.order_id) or {"since": now, "redrives": 0}
            redrives = int(entry.get("redrives", 0)) + 1
            store.watch(db, s.order_id, {
                "since": entry["since"], "redrivenAt": now, "redrives": redrives,
                # an order that does not settle is looked at less and less often, so it cannot crowd out others
                "nextAt": now + max(stuck_after, MIN_BACKOFF) * 2 ** min(redrives - 1, MAX_DOUBLINGS),
                "problems": [p.code for p in domain.order_problems(s)],
            })
    result.settled = store.unwatch(db, settled)
    result.watching = result.unsettled

    if len(fresh) >= limit:  # a full page: the next pass goes on from its last second
        last = domain.epoch(fresh[-1]["updatedAt"]) or now
        store.set_watermark(db, store.iso(last) if store.iso(last) > since else store.iso(last + 1))
    else:
        store.set_watermark(db, max(since, min(window_end, store.iso(now - WATERMARK_MARGIN))))
    if result.redriven:
        log.warning("saga reconciler re-published %d event(s) of %d stuck order(s): %s", result.republished,
                    len(result.redriven), ", ".join(result.redriven[:10]))
    if result.not_in_log:
        log.warning("saga reconciler: events of %d stuck order(s) are not in the event log: %s",
                    len(result.not_in_log), dict(list(result.not_in_log.items())[:5]))
    return result


@dataclass
class Report:
    """The invariant check: violations, problems of orders still in flight, and what was examined."""

    orders: int = 0
    products: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    violations: list[Problem] = field(default_factory=list)
    in_flight: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.violations:
            out[p.code] = out.get(p.code, 0) + 1
        return out


def check(db: Db, *, stuck_after: float, now: float | None = None) -> Report:
    """Every invariant over the whole database; an order's saga problems count as violations
    once nothing of it changed for ``stuck_after`` seconds (0: any problem is a violation)."""
    now = time.time() if now is None else now
    report = Report()
    inventory = store.inventory_records(db)
    report.products = len(inventory)
    for doc in inventory:
        report.violations.extend(domain.product_problems(doc))
    known: set[str] = set()
    for page in store.all_orders(db):
        for s in store.snapshots(db, page, inventory=inventory):
            known.add(s.order_id)
            status = str(s.order.get("status"))
            report.by_status[status] = report.by_status.get(status, 0) + 1
            problems = domain.order_problems(s)
            if domain.stuck(s, now=now, bound=stuck_after):
                report.violations.extend(problems)
            else:
                report.in_flight.extend(problems)
    report.orders = len(known)
    held = domain.per_order(inventory, "holds")
    sold = domain.per_order(inventory, "committed")
    report.violations.extend(domain.orphan_holds({**sold, **held}, known))
    succeeded = (d["envelope"] for d in eventlog.events(db).find({"type": ev.PAYMENT_SUCCEEDED}, {"envelope": 1}))
    report.violations.extend(domain.charged_twice(succeeded))
    report.violations.extend(domain.duplicate_payment_ids(db["payments"].find({}, {"paymentId": 1})))
    return report

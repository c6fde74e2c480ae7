"""The saga reconciler and the invariant check (``dev.py check``) against the real local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from devstack.testing import ADDRESS, EVENTUAL, Stack, wait_for
from shop import clients, eventlog
from shop.envelope import wire_value
from shop.orders import service, store
from shop.orders.models import CreateOrder
from shop.saga import service as saga

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]


def lost_order(stack: Stack, token: str, product_id: str) -> dict[str, Any]:
    """An order whose ``order.created`` was published and then lost with the broker: only the event log has it."""
    me = stack.http("GET", "/api/auth/me", token=token).json
    body = CreateOrder.model_validate({"items": [{"productId": product_id, "quantity": 2}],
                                       "shippingAddress": ADDRESS})
    clients.set_clients(mongo=stack.db().client)
    doc = service.build_order(str(me["id"]), body, None, f"test-{uuid.uuid4()}")
    events = doc["outbox"]
    store.insert({**doc, "outbox": [], "outboxPending": False})
    assert eventlog.record(stack.db(), events) == 1
    return {**doc, "outbox": events}


def test_an_order_the_broker_lost_is_redriven_from_the_event_log(stack: Stack, producer: KafkaProducer) -> None:
    """The reconciler publishes the logged order.created again, with its id: the order gets paid and its
    stock held, and a later pass leaves the settled order alone."""
    token = stack.customer_token("redrive")
    product = stack.new_product(stock=5)["id"]
    order = lost_order(stack, token, product)
    created = order["outbox"][0]

    def send(events: list[dict[str, Any]]) -> None:
        for e in events:
            producer.send(e["type"], key=str(e["key"]).encode(), value=json.dumps(wire_value(e)).encode(),
                          headers=[("event-type", e["type"].encode())]).get(timeout=10)

    # A second later: the reconciler's window is in whole seconds (see shop.saga.store).
    first = saga.reconcile(stack.db(), stuck_after=0, send=send, now=time.time() + 1)
    assert order["_id"] in first.redriven
    db = stack.db()
    wait_for(lambda: (db["orders"].find_one({"_id": order["_id"]}) or {}).get("status") == "paid",
             timeout=EVENTUAL, message="the re-driven order to be paid")
    wait_for(lambda: (db["inventory"].find_one({"_id": product}) or {}).get("holds", {}).get(order["_id"]) == 2,
             timeout=EVENTUAL, message="its stock to be held")
    wait_for(lambda: db["audit"].find_one({"_id": created["id"]}) is not None, timeout=EVENTUAL,
             message="the audit to record the original event id")
    again = saga.reconcile(stack.db(), stuck_after=0, send=send, now=time.time() + 1)
    assert order["_id"] not in again.redriven
    assert db["saga_watch"].find_one({"_id": order["_id"]}) is None


def test_check_names_each_broken_invariant(stack: Stack) -> None:
    """`devstack check` exits 1 and names an order paid with no payment and no stock held, and units held
    for an order that does not exist."""
    db = stack.db()
    product = stack.new_product(stock=5)["id"]
    broken = f"00000000-0000-7000-8000-{uuid.uuid4().hex[:12]}"
    ghost = f"00000000-0000-7000-8000-{uuid.uuid4().hex[:12]}"
    db["orders"].insert_one({"_id": broken, "buyerId": "nobody", "status": "paid", "paymentStatus": "paid",
                             "items": [{"productId": product, "quantity": 1}], "version": 1,
                             "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"})
    inventory = db["inventory"].find_one({"_id": product})
    assert inventory is not None  # a whole-document replace, as every write of the shop (shop.store)
    db["inventory"].replace_one({"_id": product}, {**inventory, "holds": {ghost: 1}, "reserved": 1, "available": 4,
                                                   "version": inventory["version"] + 1})
    try:
        env = {**os.environ, "MONGODB_URI": stack.mongodb_uri}
        run = subprocess.run([sys.executable, "-m", "devstack", "check", "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 1, run.stdout + run.stderr
        found = {(v["code"], v["subject"]) for v in json.loads(run.stdout)["violations"]}
        assert {("paid_without_payment", broken), ("paid_without_stock", broken), ("orphan_hold", ghost)} <= found
    finally:
        db["orders"].delete_one({"_id": broken})
        db["saga_watch"].delete_one({"_id": broken})
        db["inventory"].replace_one({"_id": product}, {**inventory, "version": inventory["version"] + 2})

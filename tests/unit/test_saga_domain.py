"""The saga's invariants and re-drive rules (shop.saga.domain), without any service."""

from __future__ import annotations

from typing import Any

from shop import envelope as ev
from shop.saga import domain
from shop.saga.domain import Snapshot

T0 = "2026-12-01T10:00:00.000Z"
T0_EPOCH = 1796119200.0


def order(status: str = "pending", payment_status: str = "pending", **extra: Any) -> dict[str, Any]:
    return {"_id": "o-1", "status": status, "paymentStatus": payment_status, "updatedAt": T0,
            "items": [{"productId": "p-1", "quantity": 2}, {"productId": "p-2", "quantity": 1}], **extra}


def reservation(status: str) -> dict[str, Any]:
    return {"_id": "o-1", "status": status, "updatedAt": T0}


def payment(status: str, **extra: Any) -> dict[str, Any]:
    return {"_id": "o-1", "status": status, "updatedAt": T0, **extra}


HELD = {"p-1": 2, "p-2": 1}


def codes(s: Snapshot) -> list[str]:
    return [p.code for p in domain.order_problems(s)]


def test_a_paid_order_with_its_stock_held_and_its_payment_succeeded_is_settled() -> None:
    """paid + reserved (every line held) + succeeded payment: no problem, nothing to re-drive."""
    s = Snapshot(order("paid", "paid"), reservation("reserved"), payment("succeeded"), holds=HELD)
    assert codes(s) == []
    assert domain.redrive_types(s) == []


def test_a_cancelled_order_released_and_voided_or_refunded_is_settled() -> None:
    """cancelled + released + voided (or refunded and so recorded): settled."""
    assert codes(Snapshot(order("cancelled"), reservation("released"), payment("voided"))) == []
    assert codes(Snapshot(order("cancelled", "refunded"), reservation("failed"), payment("refunded"))) == []
    assert codes(Snapshot(order("cancelled", "failed"), reservation("released"), payment("failed"))) == []


def test_a_pending_order_is_redriven_with_its_creation_and_any_lost_outcome() -> None:
    """pending with nothing downstream → order.created; with outcomes recorded → those outcomes too."""
    lost = Snapshot(order())
    assert codes(lost) == ["pending"]
    assert domain.redrive_types(lost) == [ev.ORDER_CREATED]
    charged = Snapshot(order(), reservation("reserved"), payment("succeeded"), holds=HELD)
    assert domain.redrive_types(charged) == [ev.ORDER_CREATED, ev.PAYMENT_SUCCEEDED]
    assert set(codes(charged)) == {"pending", "payment_status_stale"}
    short = Snapshot(order(), reservation("failed"), payment("succeeded"))
    assert domain.redrive_types(short) == [ev.ORDER_CREATED, ev.INVENTORY_RESERVATION_FAILED, ev.PAYMENT_SUCCEEDED]
    declined = Snapshot(order(), reservation("reserving"), payment("failed"))
    assert domain.redrive_types(declined) == [ev.ORDER_CREATED, ev.PAYMENT_FAILED]


def test_paid_without_stock_is_a_problem_redriven_by_order_created() -> None:
    """paid with no reservation, a half-made one, or a failed one: each is named and re-driven."""
    none = Snapshot(order("paid", "paid"), None, payment("succeeded"))
    assert codes(none) == ["paid_without_stock"]
    assert domain.redrive_types(none) == [ev.ORDER_CREATED]
    half = Snapshot(order("paid", "paid"), reservation("reserving"), payment("succeeded"), holds={"p-1": 2})
    assert codes(half) == ["paid_without_stock"]
    assert domain.redrive_types(half) == [ev.ORDER_CREATED]
    failed = Snapshot(order("paid", "paid"), reservation("failed"), payment("succeeded"))
    assert domain.redrive_types(failed) == [ev.INVENTORY_RESERVATION_FAILED]
    reserved_but_not_held = Snapshot(order("processing", "paid"), reservation("reserved"), payment("succeeded"))
    assert codes(reserved_but_not_held) == ["paid_without_stock"]


def test_paid_without_a_succeeded_payment_is_a_problem() -> None:
    """An order paid (or later) needs a succeeded payment; a refunded or missing one is named."""
    assert codes(Snapshot(order("paid", "paid"), reservation("reserved"), None, holds=HELD)) == \
        ["paid_without_payment"]
    refunded = Snapshot(order("shipped", "paid"), reservation("reserved"), payment("refunded"), holds=HELD)
    assert set(codes(refunded)) == {"paid_without_payment", "payment_status_stale"}


def test_a_cancelled_order_still_holding_stock_or_charged_is_redriven_by_its_cancellation() -> None:
    """cancelled but holding units, or with a succeeded charge: order.cancelled again."""
    holding = Snapshot(order("cancelled"), reservation("reserved"), payment("voided"), holds=HELD)
    assert codes(holding) == ["cancelled_holding_stock"]
    assert domain.redrive_types(holding) == [ev.ORDER_CANCELLED]
    charged = Snapshot(order("cancelled", "paid"), reservation("released"), payment("succeeded"))
    assert codes(charged) == ["cancelled_charged"]
    assert domain.redrive_types(charged) == [ev.ORDER_CANCELLED]
    unseen = Snapshot(order("cancelled"), None, None)
    assert codes(unseen) == ["cancellation_not_applied"]
    assert domain.redrive_types(unseen) == [ev.ORDER_CANCELLED]


def test_a_charge_stuck_in_charging_resumes_and_voids_when_the_order_was_cancelled() -> None:
    """charging without the cancellation → order.cancelled; with it noted → order.created, which voids."""
    unseen = Snapshot(order("cancelled"), reservation("released"), payment("charging"))
    assert domain.redrive_types(unseen) == [ev.ORDER_CANCELLED]
    noted = Snapshot(order("cancelled"), reservation("released"), payment("charging", cancelRequested=True))
    assert codes(noted) == ["cancelled_charged"]
    assert domain.redrive_types(noted) == [ev.ORDER_CREATED]


def test_a_lost_refund_is_republished() -> None:
    """refunded payment, order still says paid: payment.refunded again."""
    s = Snapshot(order("cancelled", "paid"), reservation("released"), payment("refunded"))
    assert codes(s) == ["payment_status_stale"]
    assert domain.redrive_types(s) == [ev.PAYMENT_REFUNDED]


def test_a_delivered_order_needs_its_units_sold() -> None:
    """delivered with the reservation still reserved → order.delivered again; committed and sold → settled."""
    reserved = Snapshot(order("delivered", "paid"), reservation("reserved"), payment("succeeded"), holds=HELD)
    assert codes(reserved) == ["delivered_without_sale"]
    assert domain.redrive_types(reserved) == [ev.ORDER_DELIVERED]
    sold = Snapshot(order("delivered", "paid"), reservation("committed"), payment("succeeded"), sold=HELD)
    assert codes(sold) == []


def test_stuck_means_quiet_for_the_bound_on_all_three_documents() -> None:
    """The latest updatedAt of order, reservation and payment counts; a missing one does not."""
    s = Snapshot(order(), reservation("reserving"), payment("charging", updatedAt="2026-12-01T10:00:30.000Z"))
    assert s.last_activity() == T0_EPOCH + 30
    assert not domain.stuck(s, now=T0_EPOCH + 35, bound=10)
    assert domain.stuck(s, now=T0_EPOCH + 40, bound=10)
    assert domain.stuck(Snapshot(order(updatedAt=None)), now=T0_EPOCH, bound=1000)


def test_product_figures_add_up_against_holds_and_sales() -> None:
    """reserved = Σ holds, sold = Σ committed, available = stock - reserved, nothing negative."""
    good = {"_id": "p-1", "stock": 10, "reserved": 3, "sold": 4, "available": 7,
            "holds": {"o-1": 2, "o-2": 1}, "committed": {"o-3": 4}}
    assert domain.product_problems(good) == []
    bad = {**good, "reserved": 5, "available": 5}
    assert [p.message for p in domain.product_problems(bad)] == ["reserved 5 but its holds name 3 units"]
    over = {**good, "stock": 2, "available": -1}
    assert [p.code for p in domain.product_problems(over)] == ["bad_figures"]
    drift = {**good, "available": 6}
    assert "available 6" in domain.product_problems(drift)[0].message


def test_holds_are_inverted_per_order_and_orphans_named() -> None:
    """Holds of unknown orders are orphans."""
    inventory = [{"_id": "p-1", "holds": {"o-1": 2, "o-9": 1}}, {"_id": "p-2", "holds": {"o-1": 1}}]
    by_order = domain.per_order(inventory, "holds")
    assert by_order == {"o-1": {"p-1": 2, "p-2": 1}, "o-9": {"p-1": 1}}
    assert [(p.code, p.subject) for p in domain.orphan_holds(by_order, ["o-1"])] == [("orphan_hold", "o-9")]


def test_two_distinct_payment_succeeded_events_for_one_order_is_a_double_charge() -> None:
    """The same event twice is one charge; two events (or one payment id on two orders) are two."""
    once = {"id": "e-1", "key": "o-1", "data": {"orderId": "o-1"}}
    assert domain.charged_twice([once, once]) == []
    twice = [once, {"id": "e-2", "key": "o-1", "data": {"orderId": "o-1"}}]
    assert [p.subject for p in domain.charged_twice(twice)] == ["o-1"]
    shared = [{"paymentId": "pay_1"}, {"paymentId": "pay_1"}, {"paymentId": None}]
    assert [p.subject for p in domain.duplicate_payment_ids(shared)] == ["pay_1"]

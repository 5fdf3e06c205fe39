"""The default collection obeys its descriptions: every stated rule, checked both ways.

For each rule of the twelve default APIs (docs/default-collection-rules.md) the call that breaks
it fails with the rule's message and changes nothing (the episode's state hash is unchanged),
and the call that meets it succeeds and has the effects the description states (stock moves,
seats are released, the bill is marked paid, a payment row is written, ...). Everything runs on
the synthesized default build through the real runtime (EnvRuntime, EpisodeStore, execute_tool).
Test setups put rows in the state a rule needs with plain SQL on the episode, so no case
depends on what the random seed happened to generate.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from servers.executor import execute_tool
from servers.program import DEFAULT_CLOCK
from servers.spec import load_envspec
from servers.state import EnvRuntime, Episode, EpisodeStore
from synth.envs.synthesize import SynthSettings, synthesize

TODAY = DEFAULT_CLOCK[:10]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, tuple[EnvRuntime, EpisodeStore]]:
    out = tmp_path_factory.mktemp("rules")
    report = synthesize(None, out, SynthSettings(seed=0, progress=False, workers=1, draw=False))
    assert report.tools_kept == report.tools_ingested == 192
    specs = [load_envspec(p) for p in sorted((out / "envs").glob("*.json"))]
    runtimes = {s.name: EnvRuntime(s) for s in specs}
    store = EpisodeStore(runtimes)
    return {name: (runtime, store) for name, runtime in runtimes.items()}


class World:
    """One fresh episode of an environment, with helpers to set up rows and check calls."""

    def __init__(self, runtime: EnvRuntime, store: EpisodeStore) -> None:
        self.runtime = runtime
        self.episode: Episode = store.create(runtime.spec.name)

    def sql(self, statement: str, *params: Any) -> None:
        self.episode.conn.execute(statement, params)

    def val(self, query: str, *params: Any) -> Any:
        row = self.episode.conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def refused(self, tool: str, args: dict[str, Any], *fragments: str) -> str:
        before = self.episode.state_hash()
        outcome = execute_tool(self.runtime, self.episode.conn, tool, args)
        assert not outcome.ok, f"{tool}({args}) should break a rule but returned {outcome.data}"
        for fragment in fragments:
            assert fragment in (outcome.error or ""), outcome.error
        assert self.episode.state_hash() == before, f"{tool} failed but changed the state"
        return outcome.error or ""

    def accepted(self, tool: str, args: dict[str, Any]) -> Any:
        before = self.episode.state_hash()
        outcome = execute_tool(self.runtime, self.episode.conn, tool, args)
        assert outcome.ok, f"{tool}({args}) should meet every rule: {outcome.error}"
        if not self.runtime.tools[tool].read_only:
            assert self.episode.state_hash() != before, f"{tool} succeeded but changed nothing"
        return outcome.data


@pytest.fixture
def world(worlds):
    def make(env: str) -> World:
        return World(*worlds[env])

    return make


def test_new_ids_use_their_tables_prefix(worlds):
    """Programs name the prefix of the ids they generate; it must be the one synthesis gave the table."""
    call = re.compile(r"envhub_next_id\('([^']*)', \(SELECT json_group_array\((\w+)\) FROM (\w+)\)\)")
    found = 0
    for runtime, _ in worlds.values():
        for tool in runtime.spec.tools:
            for prefix, key, table in call.findall(tool.operation.model_dump_json()):
                found += 1
                assert runtime.tables[table].id_prefix == prefix and runtime.tables[table].primary_key == key, tool.name
    assert found >= 25


# ---------------------------------------------------------------------------------------------
# order-desk
# ---------------------------------------------------------------------------------------------


def _order(w: World, status: str, *, with_items: bool = True) -> str:
    """An order in `status` (with at least one item when asked)."""
    query = "SELECT MIN(order_id) FROM orders o" + (
        " WHERE EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.order_id)" if with_items else "")
    order_id = w.val(query)
    w.sql("UPDATE orders SET status = ?, cancel_reason = NULL WHERE order_id = ?", status, order_id)
    return order_id


def test_order_desk_create_order_defaults_to_pending_and_can_then_be_cancelled(world):
    w = world("order-desk")
    customer = w.val("SELECT MIN(customer_id) FROM customers")
    w.refused("create_order", {"customer_id": "CUS-404", "shipping_address": "1 Main St"}, "customer CUS-404 not found")
    order = w.accepted("create_order", {"customer_id": customer, "shipping_address": "1 Main St"})
    assert order["status"] == "pending" and order["total"] == 0 and order["shipping_method"] == "standard"
    assert order["created_at"].startswith(TODAY)
    cancelled = w.accepted("cancel_order", {"order_id": order["order_id"], "cancel_reason": "changed my mind"})
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "changed my mind"


def test_order_desk_cancel_order_only_pending_or_confirmed(world):
    w = world("order-desk")
    shipped = _order(w, "shipped")
    w.refused("cancel_order", {"order_id": shipped, "cancel_reason": "late"}, "must be pending, confirmed")
    confirmed = _order(w, "confirmed", with_items=False)
    assert w.accepted("cancel_order", {"order_id": confirmed, "cancel_reason": "late"})["status"] == "cancelled"


def test_order_desk_update_order_refuses_cancelled_and_shipped_orders(world):
    w = world("order-desk")
    order = _order(w, "cancelled")
    w.refused("update_order", {"order_id": order, "shipping_address": "2 Side St"},
              f"order {order} is cancelled", "only pending or confirmed")
    w.sql("UPDATE orders SET status = 'shipped' WHERE order_id = ?", order)
    w.refused("update_order", {"order_id": order, "shipping_method": "express"}, "once shipped the address is fixed")
    w.sql("UPDATE orders SET status = 'confirmed' WHERE order_id = ?", order)
    updated = w.accepted("update_order", {"order_id": order, "shipping_address": "2 Side St"})
    assert updated["shipping_address"] == "2 Side St"


def test_order_desk_add_order_item_pending_active_in_stock_at_current_price(world):
    w = world("order-desk")
    order = _order(w, "shipped")
    product = w.val("SELECT MIN(product_id) FROM products")
    w.sql("UPDATE products SET active = 1, stock = 10, price = 12.5 WHERE product_id = ?", product)
    w.refused("add_order_item", {"order_id": order, "product_id": product, "quantity": 1},
              f"order {order} is shipped", "only while an order is pending")
    w.sql("UPDATE orders SET status = 'pending' WHERE order_id = ?", order)
    w.sql("UPDATE products SET active = 0 WHERE product_id = ?", product)
    w.refused("add_order_item", {"order_id": order, "product_id": product, "quantity": 1}, "discontinued")
    w.sql("UPDATE products SET active = 1 WHERE product_id = ?", product)
    w.refused("add_order_item", {"order_id": order, "product_id": product, "quantity": 99999}, "only 10 units in stock")
    total_before = w.val("SELECT SUM(quantity * unit_price) FROM order_items WHERE order_id = ?", order)
    line = w.accepted("add_order_item", {"order_id": order, "product_id": product, "quantity": 3})
    assert line["unit_price"] == 12.5 and line["quantity"] == 3 and line["order_id"] == order
    assert line["order_item_id"].startswith("OI-")
    assert w.val("SELECT stock FROM products WHERE product_id = ?", product) == 7
    assert w.val("SELECT total FROM orders WHERE order_id = ?", order) == pytest.approx(round(total_before + 37.5, 2))


def test_order_desk_remove_order_item_checks_its_parent_order_and_status(world):
    w = world("order-desk")
    item, owner = w.episode.conn.execute("SELECT order_item_id, order_id FROM order_items ORDER BY order_item_id").fetchone()
    other = w.val("SELECT MIN(order_id) FROM orders WHERE order_id != ?", owner)
    w.sql("UPDATE orders SET status = 'pending' WHERE order_id IN (?, ?)", owner, other)
    w.refused("remove_order_item", {"order_id": other, "order_item_id": item},
              f"order item {item} does not belong to order {other}")
    w.sql("UPDATE orders SET status = 'confirmed' WHERE order_id = ?", owner)
    w.refused("remove_order_item", {"order_id": owner, "order_item_id": item}, "only from pending orders")
    w.sql("UPDATE orders SET status = 'pending' WHERE order_id = ?", owner)
    product, quantity = w.episode.conn.execute(
        "SELECT product_id, quantity FROM order_items WHERE order_item_id = ?", (item,)).fetchone()
    stock = w.val("SELECT stock FROM products WHERE product_id = ?", product)
    removed = w.accepted("remove_order_item", {"order_id": owner, "order_item_id": item})
    assert removed["order_item_id"] == item
    assert w.val("SELECT COUNT(*) FROM order_items WHERE order_item_id = ?", item) == 0
    assert w.val("SELECT stock FROM products WHERE product_id = ?", product) == stock + quantity
    rest = w.val("SELECT COALESCE(SUM(quantity * unit_price), 0) FROM order_items WHERE order_id = ?", owner)
    assert w.val("SELECT total FROM orders WHERE order_id = ?", owner) == pytest.approx(round(rest, 2))


def test_order_desk_create_return_only_for_items_of_delivered_orders(world):
    w = world("order-desk")
    item, owner = w.episode.conn.execute("SELECT order_item_id, order_id FROM order_items ORDER BY order_item_id").fetchone()
    w.sql("UPDATE orders SET status = 'shipped' WHERE order_id = ?", owner)
    w.refused("create_return", {"order_id": owner, "order_item_id": item, "reason": "damaged"},
              "only delivered orders accept returns")
    other = w.val("SELECT MIN(order_id) FROM orders WHERE order_id != ?", owner)
    w.sql("UPDATE orders SET status = 'delivered' WHERE order_id IN (?, ?)", owner, other)
    w.refused("create_return", {"order_id": other, "order_item_id": item, "reason": "damaged"}, "does not belong to order")
    ret = w.accepted("create_return", {"order_id": owner, "order_item_id": item, "reason": "damaged"})
    assert ret["status"] == "requested" and ret["refund_method"] == "original_payment" and ret["order_id"] == owner


def test_order_desk_cancel_return_only_requested_and_update_customer_email_unique(world):
    w = world("order-desk")
    ret = w.val("SELECT MIN(return_id) FROM returns")
    w.sql("UPDATE returns SET status = 'approved' WHERE return_id = ?", ret)
    w.refused("cancel_return", {"return_id": ret}, "must be requested")
    w.sql("UPDATE returns SET status = 'requested' WHERE return_id = ?", ret)
    assert w.accepted("cancel_return", {"return_id": ret})["status"] == "cancelled"
    first, second = [r[0] for r in w.episode.conn.execute("SELECT email FROM customers ORDER BY customer_id LIMIT 2")]
    customer = w.val("SELECT customer_id FROM customers WHERE email = ?", first)
    w.refused("update_customer", {"customer_id": customer, "email": second}, "already belongs to another customer")
    assert w.accepted("update_customer", {"customer_id": customer, "phone": "+14155550100"})["phone"] == "+14155550100"


def test_order_desk_seed_respects_the_rules(world):
    w = world("order-desk")
    # Totals are the sum of their items; returns name an item of their own, delivered order.
    assert w.val("SELECT COUNT(*) FROM orders o WHERE abs(o.total - (SELECT COALESCE(SUM(quantity * unit_price), 0) "
                 "FROM order_items i WHERE i.order_id = o.order_id)) > 0.01") == 0
    assert w.val("SELECT COUNT(*) FROM returns r JOIN order_items i ON i.order_item_id = r.order_item_id "
                 "JOIN orders o ON o.order_id = r.order_id WHERE i.order_id != r.order_id OR o.status != 'delivered'") == 0
    assert w.val("SELECT COUNT(*) FROM orders WHERE cancel_reason IS NOT NULL AND status != 'cancelled'") == 0
    assert w.val("SELECT COUNT(*) FROM order_items WHERE unit_price IS NULL") == 0
    # Every order's shipping fee follows its method and its customer's tier; a return exists to act on.
    assert w.val(f"SELECT COUNT(*) FROM orders o WHERE o.shipping_fee IS NOT {_FEE_SQL.format(order='o')}") == 0
    assert w.val("SELECT COUNT(*) FROM returns") >= 1


# Stated by the orders API: standard 4.99, express 9.99, overnight 24.99; express is free for premium customers.
_FEE_SQL = ("(CASE WHEN {order}.shipping_method = 'express' AND (SELECT tier FROM customers c WHERE c.customer_id = "
            "{order}.customer_id) = 'premium' THEN 0 WHEN {order}.shipping_method = 'express' THEN 9.99 "
            "WHEN {order}.shipping_method = 'overnight' THEN 24.99 ELSE 4.99 END)")


def test_order_desk_premium_customers_get_free_express_shipping(world):
    w = world("order-desk")
    premium, regular = w.val("SELECT MIN(customer_id) FROM customers"), w.val("SELECT MAX(customer_id) FROM customers")
    w.sql("UPDATE customers SET tier = 'premium' WHERE customer_id = ?", premium)
    w.sql("UPDATE customers SET tier = 'plus' WHERE customer_id = ?", regular)
    address = {"shipping_address": "1 Main St"}
    free = w.accepted("create_order", {"customer_id": premium, **address, "shipping_method": "express"})
    assert free["shipping_method"] == "express" and free["shipping_fee"] == 0 and free["total"] == 0
    charged = w.accepted("create_order", {"customer_id": regular, **address, "shipping_method": "express"})
    assert charged["shipping_fee"] == 9.99 and charged["total"] == 0  # the total covers the items only
    # Only express is free: premium customers pay for the other methods.
    assert w.accepted("create_order", {"customer_id": premium, **address})["shipping_fee"] == 4.99
    assert w.accepted("create_order", {"customer_id": premium, **address,
                                       "shipping_method": "overnight"})["shipping_fee"] == 24.99
    w.refused("create_order", {"customer_id": premium, **address, "shipping_method": "drone"}, "drone")
    # A new method sets the fee again, by the order's own customer.
    assert w.accepted("update_order", {"order_id": charged["order_id"],
                                       "shipping_method": "standard"})["shipping_fee"] == 4.99
    assert w.accepted("update_order", {"order_id": free["order_id"], "shipping_method": "overnight"})["shipping_fee"] == 24.99
    assert w.accepted("update_order", {"order_id": free["order_id"], "shipping_method": "express"})["shipping_fee"] == 0
    # A refused change keeps method and fee.
    w.sql("UPDATE orders SET status = 'shipped' WHERE order_id = ?", charged["order_id"])
    w.refused("update_order", {"order_id": charged["order_id"], "shipping_method": "express"}, "once shipped")
    assert w.val("SELECT shipping_method || ' ' || shipping_fee FROM orders WHERE order_id = ?",
                 charged["order_id"]) == "standard 4.99"


# ---------------------------------------------------------------------------------------------
# retail-banking
# ---------------------------------------------------------------------------------------------


def _account(w: World, status: str, balance: float = 500.0, overdraft: float = 100.0) -> str:
    account = w.val("SELECT MIN(account_id) FROM accounts")
    w.sql("UPDATE accounts SET status = ?, balance = ?, overdraft_limit = ? WHERE account_id = ?",
          status, balance, overdraft, account)
    return account


def test_retail_banking_create_transfer_from_active_account_within_balance_and_overdraft(world):
    w = world("retail-banking")
    account = _account(w, "frozen")
    transfer = {"account_id": account, "payee_name": "Ada", "payee_iban": "DE89370400440532013000",
                "amount": 99999999, "scheduled_for": "2025-02-01"}
    w.refused("create_transfer", transfer, f"account {account} is frozen", "only be sent from an active account")
    w.sql("UPDATE accounts SET status = 'active' WHERE account_id = ?", account)
    w.refused("create_transfer", transfer, "exceeds what account", "600")
    w.refused("create_transfer", {**transfer, "amount": 600.01}, "balance plus overdraft limit")
    w.refused("create_transfer", {**transfer, "amount": 50, "scheduled_for": "2024-12-31"}, "today (2025-01-01) or later")
    made = w.accepted("create_transfer", {**transfer, "amount": 600})
    assert made["status"] == "scheduled" and made["amount"] == 600
    assert made["transfer_id"].startswith(w.runtime.tables["transfers"].id_prefix)


def test_retail_banking_dispute_transaction_only_posted_debits(world):
    w = world("retail-banking")
    tx = w.val("SELECT MIN(transaction_id) FROM transactions")
    w.sql("UPDATE transactions SET status = 'pending', direction = 'debit', dispute_reason = NULL WHERE transaction_id = ?", tx)
    w.refused("dispute_transaction", {"transaction_id": tx, "dispute_reason": "not me"}, "pending ones must settle first")
    w.sql("UPDATE transactions SET status = 'posted', direction = 'credit' WHERE transaction_id = ?", tx)
    w.refused("dispute_transaction", {"transaction_id": tx, "dispute_reason": "not me"}, "only debits can be disputed")
    w.sql("UPDATE transactions SET direction = 'debit' WHERE transaction_id = ?", tx)
    done = w.accepted("dispute_transaction", {"transaction_id": tx, "dispute_reason": "not me"})
    assert done["status"] == "disputed" and done["dispute_reason"] == "not me"


def test_retail_banking_cards_lock_unlock_lost_and_limits(world):
    w = world("retail-banking")
    card = w.val("SELECT MIN(card_id) FROM cards")
    account = w.val("SELECT account_id FROM cards WHERE card_id = ?", card)
    w.sql("UPDATE cards SET status = 'reported_lost' WHERE card_id = ?", card)
    w.refused("unlock_card", {"card_id": card}, "must be locked")
    w.refused("report_card_lost", {"card_id": card}, "only active or locked cards")
    w.refused("lock_card", {"card_id": card}, "must be active")
    w.sql("UPDATE cards SET status = 'locked' WHERE card_id = ?", card)
    w.refused("update_card_limit", {"card_id": card, "daily_limit": 100}, "only an active card's limit")
    assert w.accepted("unlock_card", {"card_id": card})["status"] == "active"
    w.refused("update_card_limit", {"card_id": card, "daily_limit": 10001}, "between 0 and 10000")
    assert w.accepted("update_card_limit", {"card_id": card, "daily_limit": 250})["daily_limit"] == 250
    assert w.accepted("lock_card", {"card_id": card})["status"] == "locked"
    cards_before = w.val("SELECT COUNT(*) FROM cards WHERE account_id = ? AND status = 'active'", account)
    assert w.accepted("report_card_lost", {"card_id": card})["status"] == "reported_lost"
    # "a replacement is posted automatically": a new active card on the same account.
    assert w.val("SELECT COUNT(*) FROM cards WHERE account_id = ? AND status = 'active'", account) == cards_before + 1


def test_retail_banking_account_and_transfer_transitions(world):
    w = world("retail-banking")
    account = _account(w, "closed")
    w.refused("freeze_account", {"account_id": account}, "must be active")
    w.sql("UPDATE accounts SET status = 'active' WHERE account_id = ?", account)
    assert w.accepted("freeze_account", {"account_id": account})["status"] == "frozen"
    transfer = w.val("SELECT MIN(transfer_id) FROM transfers")
    w.sql("UPDATE transfers SET status = 'completed' WHERE transfer_id = ?", transfer)
    w.refused("cancel_transfer", {"transfer_id": transfer}, "must be scheduled")
    w.sql("UPDATE transfers SET status = 'scheduled' WHERE transfer_id = ?", transfer)
    assert w.accepted("cancel_transfer", {"transfer_id": transfer})["status"] == "cancelled"


# ---------------------------------------------------------------------------------------------
# flight-booking
# ---------------------------------------------------------------------------------------------


def _flight(w: World, status: str = "scheduled", seats: int = 10, route: tuple[str, str] = ("LIS", "OSL")) -> str:
    flight = w.val("SELECT MIN(flight_id) FROM flights")
    w.sql("UPDATE flights SET status = ?, seats_available = ?, origin = ?, destination = ?, economy_price = 120, "
          "business_price = 480 WHERE flight_id = ?", status, seats, *route, flight)
    return flight


def _booking(w: World, status: str, flight: str) -> str:
    booking = w.val("SELECT MIN(booking_id) FROM bookings")
    w.sql("UPDATE bookings SET status = ?, flight_id = ?, seat = '14C' WHERE booking_id = ?", status, flight, booking)
    return booking


def test_flight_booking_book_flight_takes_a_seat_and_a_payment(world):
    w = world("flight-booking")
    passenger = w.val("SELECT MIN(passenger_id) FROM passengers")
    flight = _flight(w, "cancelled")
    w.refused("book_flight", {"passenger_id": passenger, "flight_id": flight}, "only scheduled or delayed flights")
    w.sql("UPDATE flights SET status = 'delayed', seats_available = 0 WHERE flight_id = ?", flight)
    w.refused("book_flight", {"passenger_id": passenger, "flight_id": flight}, "no seats available")
    w.sql("UPDATE flights SET seats_available = 3 WHERE flight_id = ?", flight)
    w.refused("book_flight", {"passenger_id": passenger, "flight_id": flight, "checked_bags": 4}, "between 0 and 3")
    payments = w.val("SELECT COUNT(*) FROM payments")
    booking = w.accepted("book_flight", {"passenger_id": passenger, "flight_id": flight, "cabin_class": "business"})
    assert booking["status"] == "confirmed" and booking["price"] == 480 and booking["checked_bags"] == 0
    assert w.val("SELECT seats_available FROM flights WHERE flight_id = ?", flight) == 2
    assert w.val("SELECT COUNT(*) FROM payments") == payments + 1
    assert w.episode.conn.execute("SELECT amount, status FROM payments WHERE booking_id = ?",
                                  (booking["booking_id"],)).fetchone() == (480, "captured")


def test_flight_booking_cancel_booking_only_confirmed_and_releases_the_seat(world):
    w = world("flight-booking")
    flight = _flight(w, seats=5)
    booking = _booking(w, "checked_in", flight)
    w.refused("cancel_booking", {"booking_id": booking}, "is checked_in", "offloaded at the airport")
    w.sql("UPDATE bookings SET status = 'confirmed' WHERE booking_id = ?", booking)
    done = w.accepted("cancel_booking", {"booking_id": booking})
    assert done["status"] == "cancelled" and done["seat"] is None
    assert w.val("SELECT seats_available FROM flights WHERE flight_id = ?", flight) == 6


def test_flight_booking_change_booking_flight_confirmed_same_route(world):
    w = world("flight-booking")
    old = _flight(w, seats=5)
    new = w.val("SELECT MAX(flight_id) FROM flights")
    w.sql("UPDATE flights SET status = 'scheduled', seats_available = 2, origin = 'LIS', destination = 'MAD' "
          "WHERE flight_id = ?", new)
    booking = _booking(w, "checked_in", old)
    w.refused("change_booking_flight", {"booking_id": booking, "flight_id": new}, "not after check-in")
    w.sql("UPDATE bookings SET status = 'confirmed' WHERE booking_id = ?", booking)
    w.refused("change_booking_flight", {"booking_id": booking, "flight_id": new}, "same route")
    w.sql("UPDATE flights SET destination = 'OSL' WHERE flight_id = ?", new)
    moved = w.accepted("change_booking_flight", {"booking_id": booking, "flight_id": new})
    assert moved["flight_id"] == new and moved["seat"] is None and moved["cabin_class"]
    assert w.val("SELECT seats_available FROM flights WHERE flight_id = ?", old) == 6
    assert w.val("SELECT seats_available FROM flights WHERE flight_id = ?", new) == 1


def test_flight_booking_check_in_seat_and_bags(world):
    w = world("flight-booking")
    flight = _flight(w, "cancelled")
    booking = _booking(w, "confirmed", flight)
    w.refused("check_in_booking", {"booking_id": booking}, "is cancelled; it cannot be checked in")
    w.sql("UPDATE flights SET status = 'scheduled' WHERE flight_id = ?", flight)
    assert w.accepted("check_in_booking", {"booking_id": booking})["status"] == "checked_in"
    w.refused("check_in_booking", {"booking_id": booking}, "only confirmed bookings can be checked in")
    assert w.accepted("assign_seat", {"booking_id": booking, "seat": "2A"})["seat"] == "2A"
    w.refused("update_booking_baggage", {"booking_id": booking, "checked_bags": 4}, "between 0 and 3")
    w.sql("UPDATE bookings SET checked_bags = 0 WHERE booking_id = ?", booking)  # seeds now hold 0-3 bags too
    assert w.accepted("update_booking_baggage", {"booking_id": booking, "checked_bags": 2})["checked_bags"] == 2
    w.sql("UPDATE bookings SET status = 'flown' WHERE booking_id = ?", booking)
    w.refused("assign_seat", {"booking_id": booking, "seat": "3B"}, "only to confirmed or checked-in")
    w.refused("update_booking_baggage", {"booking_id": booking, "checked_bags": 1}, "only on confirmed or checked-in")


def test_flight_booking_refund_only_cancelled_bookings_or_flights(world):
    w = world("flight-booking")
    flight = _flight(w)
    booking = _booking(w, "confirmed", flight)
    payment = w.val("SELECT MIN(payment_id) FROM payments")
    w.sql("UPDATE payments SET booking_id = ?, status = 'captured' WHERE payment_id = ?", booking, payment)
    w.refused("refund_payment", {"payment_id": payment}, "refund only payments of cancelled bookings or cancelled flights")
    w.sql("UPDATE flights SET status = 'cancelled' WHERE flight_id = ?", flight)
    assert w.accepted("refund_payment", {"payment_id": payment})["status"] == "refunded"
    w.refused("refund_payment", {"payment_id": payment}, "only captured payments")


# ---------------------------------------------------------------------------------------------
# telecom-plans
# ---------------------------------------------------------------------------------------------


def test_telecom_pay_bill_in_full_marks_it_paid_and_records_the_payment(world):
    w = world("telecom-plans")
    bill = w.val("SELECT MIN(bill_id) FROM bills")
    w.sql("UPDATE bills SET status = 'open', amount_due = 75.3 WHERE bill_id = ?", bill)
    w.refused("pay_bill", {"bill_id": bill, "amount": 1.0, "method": "card_on_file"},
              "must be paid in full", "75.3")
    payments = w.val("SELECT COUNT(*) FROM bill_payments")
    paid = w.accepted("pay_bill", {"bill_id": bill, "amount": 75.3, "method": "card_on_file"})
    assert paid["amount"] == 75.3 and paid["bill_id"] == bill
    assert w.val("SELECT status FROM bills WHERE bill_id = ?", bill) == "paid"
    assert w.val("SELECT COUNT(*) FROM bill_payments") == payments + 1
    w.refused("pay_bill", {"bill_id": bill, "amount": 75.3, "method": "card_on_file"}, "only open or overdue bills")


def test_telecom_lines_top_ups_plans_and_transitions(world):
    w = world("telecom-plans")
    line = w.val("SELECT MIN(line_id) FROM lines")
    w.sql("UPDATE lines SET status = 'suspended', extra_data_gb = 2 WHERE line_id = ?", line)
    w.refused("add_data_top_up", {"line_id": line, "extra_data_gb": 5}, "only to an active line")
    w.refused("suspend_line", {"line_id": line}, "must be active")
    assert w.accepted("resume_line", {"line_id": line})["status"] == "active"
    w.refused("add_data_top_up", {"line_id": line, "extra_data_gb": 3}, "1, 5 or 10 GB")
    assert w.accepted("add_data_top_up", {"line_id": line, "extra_data_gb": 5})["extra_data_gb"] == 7
    plan = w.val("SELECT MIN(plan_id) FROM plans WHERE plan_id != (SELECT plan_id FROM lines WHERE line_id = ?)", line)
    w.sql("UPDATE plans SET available = 0 WHERE plan_id = ?", plan)
    w.refused("change_line_plan", {"line_id": line, "plan_id": plan}, "no longer available")
    w.sql("UPDATE plans SET available = 1 WHERE plan_id = ?", plan)
    assert w.accepted("change_line_plan", {"line_id": line, "plan_id": plan})["plan_id"] == plan
    assert w.accepted("cancel_line", {"line_id": line})["status"] == "cancelled"
    w.refused("resume_line", {"line_id": line}, "must be suspended")
    w.refused("cancel_line", {"line_id": line}, "must be active, suspended")


def test_telecom_add_line_active_subscriber_available_plan(world):
    w = world("telecom-plans")
    subscriber = w.val("SELECT MIN(subscriber_id) FROM subscribers")
    plan = w.val("SELECT MIN(plan_id) FROM plans")
    w.sql("UPDATE subscribers SET account_status = 'suspended' WHERE subscriber_id = ?", subscriber)
    w.sql("UPDATE plans SET available = 1 WHERE plan_id = ?", plan)
    args = {"subscriber_id": subscriber, "plan_id": plan, "phone_number": "+15550001111"}
    w.refused("add_line", args, "only to an active account")
    w.sql("UPDATE subscribers SET account_status = 'active' WHERE subscriber_id = ?", subscriber)
    w.sql("UPDATE plans SET available = 0 WHERE plan_id = ?", plan)
    w.refused("add_line", args, "no longer available")
    w.sql("UPDATE plans SET available = 1 WHERE plan_id = ?", plan)
    line = w.accepted("add_line", args)
    assert line["status"] == "active" and line["activated_on"] == TODAY and line["extra_data_gb"] == 0


def test_telecom_dispute_bill_only_open_or_overdue(world):
    w = world("telecom-plans")
    bill = w.val("SELECT MIN(bill_id) FROM bills")
    w.sql("UPDATE bills SET status = 'paid' WHERE bill_id = ?", bill)
    w.refused("dispute_bill", {"bill_id": bill, "dispute_reason": "double charge"}, "must be open, overdue")
    w.sql("UPDATE bills SET status = 'overdue' WHERE bill_id = ?", bill)
    done = w.accepted("dispute_bill", {"bill_id": bill, "dispute_reason": "double charge"})
    assert done["status"] == "disputed" and done["dispute_reason"] == "double charge"


# ---------------------------------------------------------------------------------------------
# hotel-reservations
# ---------------------------------------------------------------------------------------------


def _room_type(w: World, rooms: int = 3, occupancy: int = 2, rate: float = 100.0) -> tuple[str, str]:
    room_type, hotel = w.episode.conn.execute(
        "SELECT room_type_id, hotel_id FROM room_types ORDER BY room_type_id").fetchone()
    w.sql("UPDATE room_types SET rooms_available = ?, max_occupancy = ?, nightly_rate = ? WHERE room_type_id = ?",
          rooms, occupancy, rate, room_type)
    return room_type, hotel


def test_hotel_create_reservation_room_of_the_hotel_available_and_fitting(world):
    w = world("hotel-reservations")
    room_type, hotel = _room_type(w)
    guest = w.val("SELECT MIN(guest_id) FROM guests")
    other_hotel = w.val("SELECT MIN(hotel_id) FROM hotels WHERE hotel_id != ?", hotel)
    args = {"guest_id": guest, "hotel_id": hotel, "room_type_id": room_type, "check_in_date": "2025-03-01",
            "check_out_date": "2025-03-04", "guests": 2}
    w.refused("create_reservation", {**args, "hotel_id": other_hotel}, "does not belong to hotel")
    w.refused("create_reservation", {**args, "guests": 3}, "fits at most 2 guests")
    w.refused("create_reservation", {**args, "check_out_date": "2025-03-01"}, "must be after check_in_date")
    w.sql("UPDATE room_types SET rooms_available = 0 WHERE room_type_id = ?", room_type)
    w.refused("create_reservation", args, "no rooms available")
    w.sql("UPDATE room_types SET rooms_available = 3 WHERE room_type_id = ?", room_type)
    made = w.accepted("create_reservation", args)
    assert made["status"] == "confirmed" and made["total_price"] == 300
    assert w.val("SELECT rooms_available FROM room_types WHERE room_type_id = ?", room_type) == 2


def test_hotel_cancel_and_modify_only_confirmed_reservations(world):
    w = world("hotel-reservations")
    room_type, hotel = _room_type(w, rooms=1, occupancy=3, rate=80.0)
    reservation = w.val("SELECT MIN(reservation_id) FROM reservations")
    w.sql("UPDATE reservations SET status = 'checked_in', room_type_id = ?, hotel_id = ?, check_in_date = '2025-05-01', "
          "check_out_date = '2025-05-03', guests = 1 WHERE reservation_id = ?", room_type, hotel, reservation)
    w.refused("cancel_reservation", {"reservation_id": reservation}, "only confirmed reservations can be cancelled")
    w.refused("modify_reservation", {"reservation_id": reservation, "guests": 2}, "only confirmed reservations can be modified")
    w.sql("UPDATE reservations SET status = 'confirmed' WHERE reservation_id = ?", reservation)
    w.refused("modify_reservation", {"reservation_id": reservation, "guests": 4}, "fits at most 3 guests")
    changed = w.accepted("modify_reservation", {"reservation_id": reservation, "check_out_date": "2025-05-06"})
    assert changed["total_price"] == 400  # 5 nights at 80.00: the price is recalculated
    w.sql("UPDATE room_types SET refundable = 0 WHERE room_type_id = ?", room_type)
    cancelled = w.accepted("cancel_reservation", {"reservation_id": reservation})
    assert cancelled["status"] == "cancelled" and cancelled["refund_amount"] == 0  # non-refundable: no refund
    assert w.val("SELECT rooms_available FROM room_types WHERE room_type_id = ?", room_type) == 2


def test_hotel_refundable_rates_are_refunded_in_full(world):
    w = world("hotel-reservations")
    room_type, hotel = _room_type(w)
    w.sql("UPDATE room_types SET refundable = 1 WHERE room_type_id = ?", room_type)
    guest = w.val("SELECT MIN(guest_id) FROM guests")
    made = w.accepted("create_reservation", {"guest_id": guest, "hotel_id": hotel, "room_type_id": room_type,
                                             "check_in_date": "2025-03-01", "check_out_date": "2025-03-03", "guests": 1})
    assert made["refund_amount"] is None
    cancelled = w.accepted("cancel_reservation", {"reservation_id": made["reservation_id"]})
    assert cancelled["refund_amount"] == made["total_price"] == 200


def test_hotel_guests_and_service_requests(world):
    w = world("hotel-reservations")
    email = w.val("SELECT email FROM guests ORDER BY guest_id")
    w.refused("create_guest", {"first_name": "A", "last_name": "B", "email": email}, "already in use")
    guest = w.accepted("create_guest", {"first_name": "A", "last_name": "B", "email": "new.guest@example.com"})
    assert guest["loyalty_level"] == "none"
    reservation = w.val("SELECT MIN(reservation_id) FROM reservations")
    w.sql("UPDATE reservations SET status = 'checked_out' WHERE reservation_id = ?", reservation)
    w.refused("create_service_request", {"reservation_id": reservation, "kind": "extra_towels"}, "confirmed or checked-in")
    w.sql("UPDATE reservations SET status = 'checked_in' WHERE reservation_id = ?", reservation)
    request = w.accepted("create_service_request", {"reservation_id": reservation, "kind": "extra_towels"})
    assert request["status"] == "open"
    assert w.accepted("cancel_service_request", {"service_request_id": request["service_request_id"]})["status"] == "cancelled"
    w.refused("cancel_service_request", {"service_request_id": request["service_request_id"]}, "must be open")


# ---------------------------------------------------------------------------------------------
# calendar
# ---------------------------------------------------------------------------------------------


def test_calendar_events_attendees_rooms_and_cancellation(world):
    w = world("calendar")
    calendar = w.val("SELECT MIN(calendar_id) FROM calendars")
    new = {"calendar_id": calendar, "title": "Sync", "date": "2025-02-03", "start_time": "10:00", "end_time": "09:00"}
    w.refused("create_event", new, "must be after start_time")
    event = w.accepted("create_event", {**new, "end_time": "11:00"})
    assert event["status"] == "confirmed" and event["visibility"] == "default"
    eid = event["event_id"]
    attendee = w.accepted("add_attendee", {"event_id": eid, "email": "x@example.com"})
    assert attendee["response"] == "needs_action"
    w.accepted("add_attendee", {"event_id": eid, "email": "y@example.com"})
    w.refused("respond_to_invitation", {"attendee_id": attendee["attendee_id"], "response": "needs_action"},
              "accepted, declined or tentative")
    assert w.accepted("respond_to_invitation", {"attendee_id": attendee["attendee_id"], "response": "accepted"})["response"] == "accepted"
    room = w.val("SELECT MIN(meeting_room_id) FROM meeting_rooms")
    w.sql("UPDATE meeting_rooms SET capacity = 1 WHERE meeting_room_id = ?", room)
    w.refused("book_meeting_room", {"event_id": eid, "meeting_room_id": room}, "seats 1", "has 2 attendees")
    w.sql("UPDATE meeting_rooms SET capacity = 8 WHERE meeting_room_id = ?", room)
    assert w.accepted("book_meeting_room", {"event_id": eid, "meeting_room_id": room})["meeting_room_id"] == room
    w.refused("update_event", {"event_id": eid, "end_time": "08:00"}, "end time must be after the start time")
    assert w.accepted("cancel_event", {"event_id": eid})["status"] == "cancelled"
    w.refused("cancel_event", {"event_id": eid}, "must be confirmed, tentative")
    w.refused("update_event", {"event_id": eid, "title": "Late"}, "cancelled events cannot be edited")
    w.refused("add_attendee", {"event_id": eid, "email": "z@example.com"}, "not cancelled")
    w.refused("book_meeting_room", {"event_id": eid, "meeting_room_id": room}, "not cancelled")


def test_calendar_cancel_event_notifies_exactly_its_attendees(world):
    w = world("calendar")
    calendar = w.val("SELECT MIN(calendar_id) FROM calendars")
    new = {"calendar_id": calendar, "title": "Review", "date": "2025-02-03", "start_time": "10:00", "end_time": "11:00"}
    event, other = (w.accepted("create_event", new)["event_id"] for _ in range(2))
    guests = [w.accepted("add_attendee", {"event_id": event, "email": f"g{i}@example.com"})["attendee_id"] for i in range(2)]
    bystander = w.accepted("add_attendee", {"event_id": other, "email": "b@example.com"})["attendee_id"]
    assert w.val("SELECT COUNT(*) FROM attendees WHERE attendee_id IN (?, ?, ?) AND notified_at IS NOT NULL",
                 *guests, bystander) == 0
    assert w.accepted("cancel_event", {"event_id": event})["status"] == "cancelled"
    notified = w.episode.conn.execute(
        "SELECT attendee_id, notified_at FROM attendees WHERE notified_at IS NOT NULL AND event_id IN (?, ?)",
        (event, other)).fetchall()
    assert sorted(notified) == sorted((g, DEFAULT_CLOCK) for g in guests)
    # A refused cancel notifies nobody and changes nothing (refused() checks the state hash).
    w.refused("cancel_event", {"event_id": event}, "must be confirmed, tentative")
    w.sql("UPDATE events SET status = 'cancelled' WHERE event_id = ?", other)
    w.refused("cancel_event", {"event_id": other}, f"event {other} is cancelled")
    assert w.val("SELECT notified_at FROM attendees WHERE attendee_id = ?", bystander) is None
    w.refused("cancel_event", {"event_id": "EVE-404"}, "event EVE-404 not found")


def test_calendar_delete_event_removes_it_for_good_with_its_guests_and_reminders(world):
    w = world("calendar")
    event = w.val("SELECT event_id FROM events e WHERE EXISTS (SELECT 1 FROM attendees a WHERE a.event_id = e.event_id) "
                  "ORDER BY event_id")
    w.refused("delete_event", {"event_id": "EVE-404"}, "not found")
    deleted = w.accepted("delete_event", {"event_id": event})
    assert deleted["event_id"] == event
    for table in ("events", "attendees", "reminders"):
        assert w.val(f"SELECT COUNT(*) FROM {table} WHERE event_id = ?", event) == 0


# ---------------------------------------------------------------------------------------------
# car-rental
# ---------------------------------------------------------------------------------------------


def test_car_rental_reserve_vehicle_available_at_its_branch_with_a_valid_licence(world):
    w = world("car-rental")
    vehicle, branch = w.episode.conn.execute("SELECT vehicle_id, rental_location_id FROM vehicles ORDER BY vehicle_id").fetchone()
    other_branch = w.val("SELECT MIN(rental_location_id) FROM rental_locations WHERE rental_location_id != ?", branch)
    renter = w.val("SELECT MIN(renter_id) FROM renters")
    w.sql("UPDATE vehicles SET status = 'maintenance', daily_rate = 40 WHERE vehicle_id = ?", vehicle)
    w.sql("UPDATE renters SET license_expiry = '2025-03-02' WHERE renter_id = ?", renter)
    args = {"renter_id": renter, "vehicle_id": vehicle, "rental_location_id": branch,
            "pickup_date": "2025-03-01", "return_date": "2025-03-04"}
    w.refused("reserve_vehicle", args, "only available vehicles")
    w.sql("UPDATE vehicles SET status = 'available' WHERE vehicle_id = ?", vehicle)
    w.refused("reserve_vehicle", {**args, "rental_location_id": other_branch}, "from its own branch")
    w.refused("reserve_vehicle", args, "licence expires on 2025-03-02")
    w.sql("UPDATE renters SET license_expiry = '2030-01-01' WHERE renter_id = ?", renter)
    rental = w.accepted("reserve_vehicle", args)
    assert rental["status"] == "reserved" and rental["total_price"] == 120 and rental["insurance"] == "basic"
    assert w.val("SELECT status FROM vehicles WHERE vehicle_id = ?", vehicle) == "reserved"
    w.refused("return_rental", {"rental_id": rental["rental_id"], "odometer_km": 100}, "only active rentals")
    w.refused("report_damage", {"rental_id": rental["rental_id"], "description": "dent", "severity": "minor"},
              "only on an active or returned rental")
    changed = w.accepted("update_rental", {"rental_id": rental["rental_id"], "return_date": "2025-03-06"})
    assert changed["total_price"] == 200  # the price is recalculated
    assert w.accepted("pick_up_rental", {"rental_id": rental["rental_id"]})["status"] == "active"
    assert w.val("SELECT status FROM vehicles WHERE vehicle_id = ?", vehicle) == "rented"
    w.refused("update_rental", {"rental_id": rental["rental_id"], "insurance": "full"}, "only reserved rentals")
    w.refused("cancel_rental", {"rental_id": rental["rental_id"]}, "only reserved rentals")
    report = w.accepted("report_damage", {"rental_id": rental["rental_id"], "description": "dent", "severity": "minor"})
    assert report["status"] == "reported"
    assert w.accepted("return_rental", {"rental_id": rental["rental_id"], "odometer_km": 100})["status"] == "returned"
    assert w.val("SELECT status FROM vehicles WHERE vehicle_id = ?", vehicle) == "available"


def test_car_rental_cancel_frees_the_vehicle(world):
    w = world("car-rental")
    rental, vehicle = w.episode.conn.execute("SELECT rental_id, vehicle_id FROM rentals ORDER BY rental_id").fetchone()
    w.sql("UPDATE rentals SET status = 'reserved' WHERE rental_id = ?", rental)
    w.sql("UPDATE vehicles SET status = 'reserved' WHERE vehicle_id = ?", vehicle)
    assert w.accepted("cancel_rental", {"rental_id": rental})["status"] == "cancelled"
    assert w.val("SELECT status FROM vehicles WHERE vehicle_id = ?", vehicle) == "available"
    w.refused("pick_up_rental", {"rental_id": rental}, "only reserved rentals can be picked up")


# ---------------------------------------------------------------------------------------------
# clinic-appointments
# ---------------------------------------------------------------------------------------------


def test_clinic_book_appointment_open_slot_of_the_doctor_new_patients_rule(world):
    w = world("clinic-appointments")
    slot, doctor = w.episode.conn.execute("SELECT slot_id, doctor_id FROM slots ORDER BY slot_id").fetchone()
    other_doctor = w.val("SELECT MIN(doctor_id) FROM doctors WHERE doctor_id != ?", doctor)
    patient = w.val("SELECT MIN(patient_id) FROM patients")
    w.sql("DELETE FROM appointments WHERE patient_id = ? AND doctor_id = ?", patient, doctor)
    w.sql("UPDATE slots SET status = 'booked' WHERE slot_id = ?", slot)
    w.sql("UPDATE doctors SET accepting_new_patients = 0 WHERE doctor_id = ?", doctor)
    args = {"patient_id": patient, "doctor_id": doctor, "slot_id": slot, "reason": "checkup"}
    w.refused("book_appointment", args, "only open slots")
    w.sql("UPDATE slots SET status = 'open' WHERE slot_id = ?", slot)
    w.refused("book_appointment", {**args, "doctor_id": other_doctor}, "belongs to another doctor")
    w.refused("book_appointment", args, "does not accept new patients")
    w.sql("UPDATE doctors SET accepting_new_patients = 1 WHERE doctor_id = ?", doctor)
    made = w.accepted("book_appointment", args)
    assert made["status"] == "scheduled" and made["visit_type"] == "in_person"
    assert w.val("SELECT status FROM slots WHERE slot_id = ?", slot) == "booked"
    # A patient the doctor has seen may book even when the doctor takes no new patients.
    w.sql("UPDATE doctors SET accepting_new_patients = 0 WHERE doctor_id = ?", doctor)
    second = w.val("SELECT MAX(slot_id) FROM slots")
    w.sql("UPDATE slots SET status = 'open', doctor_id = ? WHERE slot_id = ?", doctor, second)
    w.accepted("book_appointment", {**args, "slot_id": second})


def test_clinic_cancel_reschedule_update_only_scheduled(world):
    w = world("clinic-appointments")
    appointment, slot, doctor = w.episode.conn.execute(
        "SELECT appointment_id, slot_id, doctor_id FROM appointments ORDER BY appointment_id").fetchone()
    target = w.val("SELECT MAX(slot_id) FROM slots WHERE slot_id != ?", slot)
    w.sql("UPDATE appointments SET status = 'checked_in' WHERE appointment_id = ?", appointment)
    w.sql("UPDATE slots SET status = 'booked', doctor_id = ? WHERE slot_id = ?", doctor, slot)
    w.sql("UPDATE slots SET status = 'open', doctor_id = ? WHERE slot_id = ?", doctor, target)
    w.refused("cancel_appointment", {"appointment_id": appointment, "cancel_reason": "ill"}, "only scheduled appointments")
    w.refused("reschedule_appointment", {"appointment_id": appointment, "slot_id": target}, "only scheduled")
    w.refused("update_appointment", {"appointment_id": appointment, "visit_type": "video"}, "only scheduled")
    w.sql("UPDATE appointments SET status = 'scheduled', visit_type = 'in_person' WHERE appointment_id = ?", appointment)
    w.sql("UPDATE slots SET doctor_id = (SELECT MIN(doctor_id) FROM doctors WHERE doctor_id != ?) WHERE slot_id = ?", doctor, target)
    w.refused("reschedule_appointment", {"appointment_id": appointment, "slot_id": target}, "same doctor")
    w.sql("UPDATE slots SET doctor_id = ? WHERE slot_id = ?", doctor, target)
    assert w.accepted("reschedule_appointment", {"appointment_id": appointment, "slot_id": target})["slot_id"] == target
    assert w.val("SELECT status FROM slots WHERE slot_id = ?", slot) == "open"
    assert w.val("SELECT status FROM slots WHERE slot_id = ?", target) == "booked"
    assert w.accepted("update_appointment", {"appointment_id": appointment, "visit_type": "video"})["visit_type"] == "video"
    done = w.accepted("cancel_appointment", {"appointment_id": appointment, "cancel_reason": "ill"})
    assert done["status"] == "cancelled" and done["cancel_reason"] == "ill"
    assert w.val("SELECT status FROM slots WHERE slot_id = ?", target) == "open"


def test_clinic_request_refill_uses_up_one_refill(world):
    w = world("clinic-appointments")
    prescription = w.val("SELECT MIN(prescription_id) FROM prescriptions")
    w.sql("UPDATE prescriptions SET status = 'active', refills_remaining = 0, refill_count = 1 WHERE prescription_id = ?", prescription)
    w.refused("request_refill", {"prescription_id": prescription}, "no refills remaining")
    w.sql("UPDATE prescriptions SET refills_remaining = 2, status = 'expired' WHERE prescription_id = ?", prescription)
    w.refused("request_refill", {"prescription_id": prescription}, "only active prescriptions")
    w.sql("UPDATE prescriptions SET status = 'active' WHERE prescription_id = ?", prescription)
    done = w.accepted("request_refill", {"prescription_id": prescription})
    assert done["refills_remaining"] == 1 and done["refill_count"] == 2


# ---------------------------------------------------------------------------------------------
# event-tickets
# ---------------------------------------------------------------------------------------------


def _tier(w: World, show_status: str = "on_sale", seats: int = 5, price: float = 30.0) -> tuple[str, str]:
    tier, show = w.episode.conn.execute("SELECT price_tier_id, show_id FROM price_tiers ORDER BY price_tier_id").fetchone()
    w.sql("UPDATE price_tiers SET seats_remaining = ?, price = ? WHERE price_tier_id = ?", seats, price, tier)
    w.sql("UPDATE shows SET status = ? WHERE show_id = ?", show_status, show)
    return tier, show


def test_event_tickets_purchase_rules(world):
    w = world("event-tickets")
    tier, show = _tier(w, "postponed")
    other_show = w.val("SELECT MIN(show_id) FROM shows WHERE show_id != ?", show)
    fan = w.val("SELECT MIN(fan_id) FROM fans")
    w.sql("UPDATE fans SET phone = NULL WHERE fan_id = ?", fan)
    args = {"fan_id": fan, "show_id": show, "price_tier_id": tier, "quantity": 2, "delivery": "will_call"}
    w.refused("purchase_tickets", args, "only for on-sale shows")
    w.sql("UPDATE shows SET status = 'on_sale' WHERE show_id IN (?, ?)", show, other_show)
    w.refused("purchase_tickets", {**args, "show_id": other_show}, "is not a tier of show")
    w.refused("purchase_tickets", {**args, "quantity": 9}, "between 1 and 8")
    w.refused("purchase_tickets", {**args, "quantity": 6}, "only 5 seats remaining")
    w.refused("purchase_tickets", {**args, "delivery": "mobile"}, "needs a phone number")
    bought = w.accepted("purchase_tickets", args)
    assert bought["status"] == "active" and bought["total_price"] == 60
    assert w.val("SELECT seats_remaining FROM price_tiers WHERE price_tier_id = ?", tier) == 3
    purchase = bought["ticket_purchase_id"]
    w.refused("change_ticket_delivery", {"ticket_purchase_id": purchase, "delivery": "mobile"}, "needs a phone number")
    w.refused("refund_ticket_purchase", {"ticket_purchase_id": purchase}, "only when the show was cancelled or postponed")
    w.refused("transfer_tickets", {"ticket_purchase_id": purchase, "fan_id": fan}, "already belongs")
    cancelled = w.accepted("cancel_ticket_purchase", {"ticket_purchase_id": purchase})
    assert cancelled["status"] == "cancelled"
    assert w.val("SELECT seats_remaining FROM price_tiers WHERE price_tier_id = ?", tier) == 5  # the seats go back
    w.refused("transfer_tickets", {"ticket_purchase_id": purchase, "fan_id": fan}, "only active purchases")


def test_event_tickets_refund_only_for_cancelled_or_postponed_shows(world):
    w = world("event-tickets")
    tier, show = _tier(w, "on_sale", seats=10)
    fan, other_fan = [r[0] for r in w.episode.conn.execute("SELECT fan_id FROM fans ORDER BY fan_id LIMIT 2")]
    w.sql("UPDATE fans SET phone = '+15550100' WHERE fan_id = ?", fan)
    bought = w.accepted("purchase_tickets", {"fan_id": fan, "show_id": show, "price_tier_id": tier, "quantity": 1})
    purchase = bought["ticket_purchase_id"]
    assert bought["delivery"] == "mobile"
    assert w.accepted("transfer_tickets", {"ticket_purchase_id": purchase, "fan_id": other_fan})["fan_id"] == other_fan
    w.sql("UPDATE shows SET status = 'cancelled' WHERE show_id = ?", show)
    w.refused("cancel_ticket_purchase", {"ticket_purchase_id": purchase}, "use refund_ticket_purchase")
    assert w.accepted("refund_ticket_purchase", {"ticket_purchase_id": purchase})["status"] == "refunded"
    email = w.val("SELECT email FROM fans WHERE fan_id = ?", fan)
    w.refused("create_fan", {"name": "Dup", "email": email.upper()}, "already in use")
    assert w.accepted("create_fan", {"name": "New", "email": "new.fan@example.com"})["email"] == "new.fan@example.com"


# ---------------------------------------------------------------------------------------------
# food-delivery
# ---------------------------------------------------------------------------------------------


def test_food_delivery_items_of_the_same_restaurant_while_placed(world):
    w = world("food-delivery")
    diner = w.val("SELECT MIN(diner_id) FROM diners")
    restaurant = w.val("SELECT restaurant_id FROM menu_items GROUP BY restaurant_id ORDER BY restaurant_id")
    other_item = w.val("SELECT MIN(menu_item_id) FROM menu_items WHERE restaurant_id != ?", restaurant)
    item = w.val("SELECT MIN(menu_item_id) FROM menu_items WHERE restaurant_id = ?", restaurant)
    w.sql("UPDATE restaurants SET is_open = 0 WHERE restaurant_id = ?", restaurant)
    place = {"diner_id": diner, "restaurant_id": restaurant, "delivery_address": "5 Elm St"}
    w.refused("place_delivery_order", place, "is closed")
    w.sql("UPDATE restaurants SET is_open = 1 WHERE restaurant_id = ?", restaurant)
    order = w.accepted("place_delivery_order", place)
    assert order["status"] == "placed" and order["subtotal"] == 0 and order["tip"] == 0
    oid = order["delivery_order_id"]
    w.sql("UPDATE menu_items SET available = 1, price = 9.5 WHERE menu_item_id IN (?, ?)", item, other_item)
    w.refused("add_delivery_item", {"delivery_order_id": oid, "menu_item_id": other_item, "quantity": 1}, "another restaurant")
    w.sql("UPDATE menu_items SET available = 0 WHERE menu_item_id = ?", item)
    w.refused("add_delivery_item", {"delivery_order_id": oid, "menu_item_id": item, "quantity": 1}, "not available")
    w.sql("UPDATE menu_items SET available = 1 WHERE menu_item_id = ?", item)
    line = w.accepted("add_delivery_item", {"delivery_order_id": oid, "menu_item_id": item, "quantity": 2})
    assert line["unit_price"] == 9.5
    assert w.val("SELECT subtotal FROM delivery_orders WHERE delivery_order_id = ?", oid) == 19
    other_order = w.val("SELECT MIN(delivery_order_id) FROM delivery_orders WHERE delivery_order_id != ?", oid)
    w.refused("remove_delivery_item", {"delivery_order_id": other_order, "delivery_item_id": line["delivery_item_id"]},
              "does not belong to delivery order")
    w.sql("UPDATE delivery_orders SET status = 'accepted' WHERE delivery_order_id = ?", oid)
    w.refused("add_delivery_item", {"delivery_order_id": oid, "menu_item_id": item, "quantity": 1}, "only while it is placed")
    w.refused("remove_delivery_item", {"delivery_order_id": oid, "delivery_item_id": line["delivery_item_id"]},
              "only while it is placed")
    w.sql("UPDATE delivery_orders SET status = 'placed' WHERE delivery_order_id = ?", oid)
    w.accepted("remove_delivery_item", {"delivery_order_id": oid, "delivery_item_id": line["delivery_item_id"]})
    assert w.val("SELECT subtotal FROM delivery_orders WHERE delivery_order_id = ?", oid) == 0


def test_food_delivery_update_cancel_and_rate(world):
    w = world("food-delivery")
    order = w.val("SELECT MIN(delivery_order_id) FROM delivery_orders")
    w.sql("UPDATE delivery_orders SET status = 'out_for_delivery', rating = NULL WHERE delivery_order_id = ?", order)
    w.refused("update_delivery_order", {"delivery_order_id": order, "tip": 3}, "not yet out for delivery")
    w.refused("cancel_delivery_order", {"delivery_order_id": order}, "must be placed, accepted")
    w.refused("rate_delivery_order", {"delivery_order_id": order, "rating": 5}, "only delivered orders")
    w.sql("UPDATE delivery_orders SET status = 'preparing' WHERE delivery_order_id = ?", order)
    assert w.accepted("update_delivery_order", {"delivery_order_id": order, "tip": 3})["tip"] == 3
    w.sql("UPDATE delivery_orders SET status = 'delivered' WHERE delivery_order_id = ?", order)
    w.refused("rate_delivery_order", {"delivery_order_id": order, "rating": 6}, "between 1 and 5")
    assert w.accepted("rate_delivery_order", {"delivery_order_id": order, "rating": 4})["rating"] == 4
    w.sql("UPDATE delivery_orders SET status = 'accepted' WHERE delivery_order_id = ?", order)
    assert w.accepted("cancel_delivery_order", {"delivery_order_id": order})["status"] == "cancelled"
    email = w.val("SELECT email FROM diners ORDER BY diner_id")
    w.refused("create_diner", {"name": "D", "email": email, "phone": "+1555", "default_address": "x"}, "already in use")


# ---------------------------------------------------------------------------------------------
# library-loans
# ---------------------------------------------------------------------------------------------


def test_library_check_out_copy_active_member_low_fines_available_copy(world):
    w = world("library-loans")
    member = w.val("SELECT MIN(member_id) FROM members")
    copy = w.val("SELECT MIN(copy_id) FROM copies")
    w.sql("UPDATE members SET status = 'suspended', fines_due = 2 WHERE member_id = ?", member)
    w.sql("UPDATE copies SET status = 'on_loan' WHERE copy_id = ?", copy)
    args = {"member_id": member, "copy_id": copy}
    w.refused("check_out_copy", args, "only active members can borrow")
    w.sql("UPDATE members SET status = 'active', fines_due = 10.01 WHERE member_id = ?", member)
    w.refused("check_out_copy", args, "more than 10.00 in fines")
    w.sql("UPDATE members SET fines_due = 10 WHERE member_id = ?", member)
    w.refused("check_out_copy", args, "only available copies")
    w.sql("UPDATE copies SET status = 'available' WHERE copy_id = ?", copy)
    loan = w.accepted("check_out_copy", args)
    assert loan["status"] == "active" and loan["checkout_date"] == TODAY and loan["due_date"] == "2025-01-22"
    assert w.val("SELECT status FROM copies WHERE copy_id = ?", copy) == "on_loan"
    w.refused("check_out_copy", args, "only available copies")


def test_library_renew_return_and_lose_loans(world):
    w = world("library-loans")
    loan, copy, member = w.episode.conn.execute("SELECT loan_id, copy_id, member_id FROM loans ORDER BY loan_id").fetchone()
    book = w.val("SELECT book_id FROM copies WHERE copy_id = ?", copy)
    w.sql("UPDATE loans SET status = 'active', renewals = 2, due_date = '2025-01-10' WHERE loan_id = ?", loan)
    w.sql("UPDATE copies SET status = 'on_loan' WHERE copy_id = ?", copy)
    w.refused("renew_loan", {"loan_id": loan}, "renewed at most twice")
    w.sql("UPDATE loans SET renewals = 1 WHERE loan_id = ?", loan)
    other = w.val("SELECT MIN(member_id) FROM members WHERE member_id != ?", member)
    w.sql("INSERT INTO holds (hold_id, member_id, book_id, pickup_branch, status, placed_on) "
          "VALUES ('HOL-9999', ?, ?, 'central', 'waiting', '2025-01-01')", other, book)
    w.refused("renew_loan", {"loan_id": loan}, "another member holds this book")
    w.sql("UPDATE holds SET status = 'cancelled' WHERE hold_id = 'HOL-9999'")
    renewed = w.accepted("renew_loan", {"loan_id": loan})
    assert renewed["due_date"] == "2025-01-31" and renewed["renewals"] == 2
    returned = w.accepted("return_loan", {"loan_id": loan})
    assert returned["status"] == "returned" and returned["returned_date"] == TODAY
    assert w.val("SELECT status FROM copies WHERE copy_id = ?", copy) == "available"
    w.refused("return_loan", {"loan_id": loan}, "only active or overdue loans")
    w.refused("report_loan_lost", {"loan_id": loan}, "only active or overdue loans")
    w.sql("UPDATE loans SET status = 'overdue' WHERE loan_id = ?", loan)
    w.sql("UPDATE books SET replacement_cost = 24.5 WHERE book_id = ?", book)
    fines = w.val("SELECT fines_due FROM members WHERE member_id = ?", member)
    assert w.accepted("report_loan_lost", {"loan_id": loan})["status"] == "lost"
    assert w.val("SELECT status FROM copies WHERE copy_id = ?", copy) == "lost"
    # "the replacement cost is added to the member's fines"
    assert w.val("SELECT fines_due FROM members WHERE member_id = ?", member) == pytest.approx(round(fines + 24.5, 2))


def test_library_pay_fines_and_holds(world):
    w = world("library-loans")
    member = w.val("SELECT MIN(member_id) FROM members")
    w.sql("UPDATE members SET status = 'suspended', fines_due = 25 WHERE member_id = ?", member)
    w.refused("pay_fines", {"member_id": member, "amount_paid": 30}, "exceeds", "25")
    partly = w.accepted("pay_fines", {"member_id": member, "amount_paid": 10})
    assert partly["fines_due"] == 15 and partly["status"] == "suspended"
    book = w.val("SELECT MIN(book_id) FROM books")
    w.refused("place_hold", {"member_id": member, "book_id": book, "pickup_branch": "central"}, "only active members")
    paid = w.accepted("pay_fines", {"member_id": member, "amount_paid": 5})
    assert paid["fines_due"] == 10 and paid["status"] == "active"  # 10.00 or less: active again
    hold = w.accepted("place_hold", {"member_id": member, "book_id": book, "pickup_branch": "central"})
    assert hold["status"] == "waiting" and hold["placed_on"] == TODAY
    assert w.accepted("cancel_hold", {"hold_id": hold["hold_id"]})["status"] == "cancelled"
    w.refused("cancel_hold", {"hold_id": hold["hold_id"]}, "must be waiting, ready")


# ---------------------------------------------------------------------------------------------
# support-ticket
# ---------------------------------------------------------------------------------------------


def test_support_ticket_lifecycle(world):
    w = world("support-ticket")
    contact = w.val("SELECT MIN(contact_id) FROM contacts")
    ticket = w.accepted("create_ticket", {"contact_id": contact, "subject": "Login", "description": "Cannot log in",
                                          "category": "account"})
    assert ticket["status"] == "new" and ticket["priority"] == "normal" and ticket["created_at"].startswith(TODAY)
    tid = ticket["ticket_id"]
    agent = w.val("SELECT MIN(support_agent_id) FROM support_agents")
    w.sql("UPDATE support_agents SET active = 0 WHERE support_agent_id = ?", agent)
    w.refused("assign_ticket", {"ticket_id": tid, "support_agent_id": agent}, "only to active agents")
    w.sql("UPDATE support_agents SET active = 1 WHERE support_agent_id = ?", agent)
    assigned = w.accepted("assign_ticket", {"ticket_id": tid, "support_agent_id": agent})
    assert assigned["status"] == "open" and assigned["support_agent_id"] == agent
    assert w.accepted("escalate_ticket", {"ticket_id": tid})["priority"] == "urgent"
    w.refused("escalate_ticket", {"ticket_id": tid}, "already urgent")
    w.refused("reopen_ticket", {"ticket_id": tid}, "must be solved")
    w.refused("close_ticket", {"ticket_id": tid}, "must be solved")
    assert w.accepted("solve_ticket", {"ticket_id": tid})["status"] == "solved"
    w.sql("UPDATE tickets SET priority = 'low' WHERE ticket_id = ?", tid)
    w.refused("escalate_ticket", {"ticket_id": tid}, "only new, open or pending")
    assert w.accepted("reopen_ticket", {"ticket_id": tid})["status"] == "open"
    w.accepted("solve_ticket", {"ticket_id": tid})
    assert w.accepted("close_ticket", {"ticket_id": tid})["status"] == "closed"
    w.refused("reopen_ticket", {"ticket_id": tid}, "must be solved")
    w.refused("update_ticket", {"ticket_id": tid, "priority": "high"}, "closed tickets cannot be changed")
    w.refused("assign_ticket", {"ticket_id": tid, "support_agent_id": agent}, "closed tickets cannot be assigned")
    w.refused("add_comment", {"ticket_id": tid, "author_email": "a@example.com", "body": "hi"}, "not closed")


def test_support_comments_and_contacts(world):
    w = world("support-ticket")
    ticket = w.val("SELECT MIN(ticket_id) FROM tickets")
    w.sql("UPDATE tickets SET status = 'pending' WHERE ticket_id = ?", ticket)
    comment = w.accepted("add_comment", {"ticket_id": ticket, "author_email": "a@example.com", "body": "on it"})
    assert comment["public"] in (1, True) and comment["created_at"].startswith(TODAY)
    assert w.accepted("update_ticket", {"ticket_id": ticket, "priority": "high"})["priority"] == "high"
    email = w.val("SELECT email FROM contacts ORDER BY contact_id")
    w.refused("create_contact", {"name": "Dup", "email": email}, "already belongs to an existing contact")
    assert w.accepted("create_contact", {"name": "New", "email": "new.contact@example.com"})["plan"] == "free"


# ---------------------------------------------------------------------------------------------
# Gold calls
# ---------------------------------------------------------------------------------------------


def test_generated_gold_calls_respect_the_rules(worlds):
    """Tasks of the default build replay on a fresh episode: every gold call meets the rules
    (the runtime enforces them; a drawn call a program refuses is never emitted) and the final
    state is the task's gold state."""
    from synth.tasks.generate import generate_tasks

    specs = [runtime.spec for runtime, _ in worlds.values()]
    tasks = generate_tasks(specs, 4, seed=11)
    assert len(tasks) >= 4 * len(specs) - 4
    programs = {t.name for s in specs for t in s.tools if t.operation.kind == "program"}
    assert any(call.name in programs for task in tasks for call in task.gold_calls)
    for task in tasks:
        runtime, store = worlds[task.env]
        episode = store.create(task.env, seed=task.initial_state.seed)
        for call in task.gold_calls:
            outcome = execute_tool(runtime, episode.conn, call.name, call.arguments)
            assert outcome.ok, (task.task_id, call, outcome.error)
        assert episode.state_hash() == task.gold_state_hash, task.task_id


# ---------------------------------------------------------------------------------------------
# What synthesis derives without a stated program
# ---------------------------------------------------------------------------------------------


def test_without_stated_programs_synthesis_still_checks_path_parents_and_defaults(tmp_path):
    """An API that states no program still gets two rules from its shape: a write on a nested
    record (`DELETE /orders/{order_id}/items/{order_item_id}`) checks the record belongs to the
    parent in its path, and inserts store the schema's declared defaults (`status: pending`)."""
    import yaml

    from synth.data.default_apis import default_api_dir

    doc = yaml.safe_load((default_api_dir() / "orders.yaml").read_text(encoding="utf-8"))
    for item in doc["paths"].values():
        for op in item.values():
            if isinstance(op, dict):
                op.pop("x-envhub-operation", None)
                op.pop("x-envhub-seed", None)
    src = tmp_path / "orders.yaml"
    src.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    report = synthesize([src], tmp_path / "out", SynthSettings(seed=0, progress=False, workers=1, draw=False))
    assert report.tools_kept == report.tools_ingested
    spec = load_envspec(tmp_path / "out" / "envs" / "order-desk.json")
    remove = spec.tool("remove_order_item").operation
    assert remove.kind == "delete" and [(p.column, p.value.arg) for p in remove.preconditions] == [("order_id", "order_id")]
    runtime = EnvRuntime(spec)
    w = World(runtime, EpisodeStore({spec.name: runtime}))
    item, owner = w.episode.conn.execute(
        "SELECT order_item_id, order_id FROM order_items i WHERE NOT EXISTS "
        "(SELECT 1 FROM returns r WHERE r.order_item_id = i.order_item_id) ORDER BY order_item_id").fetchone()
    other = w.val("SELECT MIN(order_id) FROM orders WHERE order_id != ?", owner)
    w.refused("remove_order_item", {"order_id": other, "order_item_id": item}, f"does not belong to order {other}")
    w.accepted("remove_order_item", {"order_id": owner, "order_item_id": item})
    customer = w.val("SELECT MIN(customer_id) FROM customers")
    created = w.accepted("create_order", {"customer_id": customer, "shipping_address": "1 Main St"})
    assert created["status"] == "pending" and created["total"] == 0
    assert w.accepted("cancel_order", {"order_id": created["order_id"], "cancel_reason": "test"})["status"] == "cancelled"


def test_a_bad_stated_program_or_seed_rule_is_reported_with_its_path(tmp_path):
    import yaml

    from synth.data.default_apis import default_api_dir

    doc = yaml.safe_load((default_api_dir() / "orders.yaml").read_text(encoding="utf-8"))
    ops = {op["operationId"]: op for item in doc["paths"].values() for op in item.values() if isinstance(op, dict)}
    ops["update_order"]["x-envhub-operation"]["steps"][2]["require"] = "SELECT colour FROM orders WHERE order_id = :order_id"
    src = tmp_path / "orders.yaml"
    src.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    report = synthesize([src], tmp_path / "a", SynthSettings(seed=0, progress=False, workers=1, draw=False))
    detail = report.data["dropped_tools"]["invalid operation"]["examples"][0]
    assert detail["tool"] == "update_order"
    assert "('update_order').operation.steps.2.require" in detail["detail"] and "colour" in detail["detail"]
    assert report.tools_kept == report.tools_ingested - 1

    ops["update_order"]["x-envhub-operation"]["steps"][2]["require"] = "SELECT 1"
    ops["create_return"]["x-envhub-seed"].append("DELETE FROM sqlite_master")
    src.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    report = synthesize([src], tmp_path / "b", SynthSettings(seed=0, progress=False, workers=1, draw=False))
    reason = report.data["environments"][0]["reason"]
    assert report.environments_passing == 0 and "invalid seed rules" in reason and "x-envhub-seed of" in reason


SEED_VIOLATIONS = {
    "retail-banking": [
        "SELECT COUNT(*) FROM transactions WHERE (status = 'disputed') != (dispute_reason IS NOT NULL)",
        "SELECT COUNT(*) FROM transactions WHERE status = 'disputed' AND direction != 'debit'",
    ],
    "flight-booking": [
        "SELECT COUNT(*) FROM bookings WHERE status = 'cancelled' AND seat IS NOT NULL",
        "SELECT COUNT(*) FROM bookings b JOIN flights f ON f.flight_id = b.flight_id WHERE b.status = 'checked_in' AND f.status = 'cancelled'",
    ],
    "telecom-plans": [
        "SELECT COUNT(*) FROM bill_payments p JOIN bills b ON b.bill_id = p.bill_id WHERE p.amount != b.amount_due OR b.status != 'paid'",
        "SELECT COUNT(*) FROM bills WHERE (status = 'disputed') != (dispute_reason IS NOT NULL)",
    ],
    "hotel-reservations": [
        "SELECT COUNT(*) FROM reservations WHERE (status = 'cancelled') != (refund_amount IS NOT NULL)",
        "SELECT COUNT(*) FROM reservations r JOIN room_types t ON t.room_type_id = r.room_type_id WHERE r.hotel_id != t.hotel_id "
        "OR julianday(r.check_out_date) <= julianday(r.check_in_date) OR r.guests > t.max_occupancy "
        "OR abs(r.total_price - t.nightly_rate * (julianday(r.check_out_date) - julianday(r.check_in_date))) > 0.01",
    ],
    "calendar": [
        "SELECT COUNT(*) FROM events WHERE time(end_time) <= time(start_time)",
        "SELECT COUNT(*) FROM attendees a JOIN events e ON e.event_id = a.event_id WHERE (e.status = 'cancelled') != "
        "(a.notified_at IS NOT NULL)",
    ],
    "car-rental": [
        "SELECT COUNT(*) FROM rentals r JOIN vehicles v ON v.vehicle_id = r.vehicle_id WHERE julianday(r.return_date) <= "
        "julianday(r.pickup_date) OR r.rental_location_id != v.rental_location_id",
        "SELECT COUNT(*) FROM rentals r JOIN vehicles v ON v.vehicle_id = r.vehicle_id WHERE r.status = 'active' AND v.status != 'rented'",
        "SELECT COUNT(*) FROM damage_reports d JOIN rentals r ON r.rental_id = d.rental_id WHERE r.status NOT IN ('active', 'returned')",
    ],
    "clinic-appointments": [
        "SELECT COUNT(*) FROM appointments a JOIN slots s ON s.slot_id = a.slot_id WHERE a.doctor_id != s.doctor_id",
        "SELECT COUNT(*) FROM appointments a JOIN slots s ON s.slot_id = a.slot_id WHERE a.status = 'scheduled' AND s.status != 'booked'",
        "SELECT COUNT(*) FROM appointments WHERE (status = 'cancelled') != (cancel_reason IS NOT NULL)",
    ],
    "event-tickets": [
        "SELECT COUNT(*) FROM ticket_purchases p JOIN price_tiers t ON t.price_tier_id = p.price_tier_id WHERE p.show_id != t.show_id "
        "OR p.quantity NOT BETWEEN 1 AND 8 OR abs(p.total_price - t.price * p.quantity) > 0.01",
    ],
    "food-delivery": [
        "SELECT COUNT(*) FROM delivery_items i JOIN menu_items m ON m.menu_item_id = i.menu_item_id JOIN delivery_orders o "
        "ON o.delivery_order_id = i.delivery_order_id WHERE m.restaurant_id != o.restaurant_id",
        "SELECT COUNT(*) FROM delivery_orders WHERE rating IS NOT NULL AND status != 'delivered'",
    ],
    "library-loans": [
        "SELECT COUNT(*) FROM loans WHERE renewals NOT BETWEEN 0 AND 2 OR (status = 'returned') != (returned_date IS NOT NULL)",
        "SELECT COUNT(*) FROM loans l JOIN copies c ON c.copy_id = l.copy_id WHERE l.status IN ('active', 'overdue') AND c.status != 'on_loan'",
    ],
    "support-ticket": ["SELECT COUNT(*) FROM tickets WHERE status = 'escalated' OR (status = 'new' AND support_agent_id IS NOT NULL)"],
}


@pytest.mark.parametrize("env", sorted(SEED_VIOLATIONS))
def test_seed_rows_respect_the_rules(world, env):
    w = world(env)
    for query in SEED_VIOLATIONS[env]:
        assert w.val(query) == 0, query

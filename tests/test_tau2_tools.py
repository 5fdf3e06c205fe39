"""Each ported τ² tool refuses what τ²'s tool refuses, with τ²'s message, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("tau2.domains.retail.tools", reason="τ²-bench is not installed: pip install 'envhub[tau2]'")

from servers.executor import execute_tool  # noqa: E402
from servers.state import EnvRuntime, EpisodeStore  # noqa: E402
from synth.importers.tau2.build import build_envspec  # noqa: E402
from synth.importers.tau2.compare import Tau2Runner  # noqa: E402
from synth.importers.tau2.source import load_domain  # noqa: E402


class Ported:
    def __init__(self, name: str) -> None:
        domain = load_domain(name)
        self.spec = build_envspec(domain)
        self.runtime = EnvRuntime(self.spec)
        self.store = EpisodeStore({self.spec.name: self.runtime})
        self.tau2 = Tau2Runner(domain)
        self.db = self.tau2.base.model_dump()

    def check_refusal(self, name: str, arguments: dict[str, Any], message: str) -> None:
        theirs = self.tau2.run([{"name": name, "arguments": arguments}])
        assert theirs.outcomes == [(False, message)], theirs.outcomes
        assert theirs.hash() == self.tau2.base.get_hash()
        episode = self.store.create(self.spec.name)
        before = episode.state_hash()
        try:
            outcome = execute_tool(self.runtime, episode.conn, name, arguments)
            assert not outcome.ok and outcome.error == message, outcome.error
            episode.forget_hash()
            assert episode.state_hash() == before
        finally:
            self.store.close(episode.id)


@pytest.fixture(scope="module")
def retail() -> Ported:
    return Ported("retail")


@pytest.fixture(scope="module")
def airline() -> Ported:
    return Ported("airline")


def _orders(db: dict, status: str) -> list[dict]:
    return [o for o in db["orders"].values() if o["status"] == status]


def _gift_card(user: dict) -> tuple[str, float] | None:
    for pm_id, pm in user["payment_methods"].items():
        if pm["source"] == "gift_card":
            return pm_id, pm["balance"]
    return None


def _costly_swap(db: dict, order: dict, budget: float, same_id_ok: bool = False) -> tuple[str, str] | None:
    """(item in the order, an available variant of its product costing more than price + budget)."""
    for item in order["items"]:
        for variant_id, variant in db["products"][item["product_id"]]["variants"].items():
            if variant["available"] and variant["price"] - item["price"] > budget and variant_id != item["item_id"]:
                return item["item_id"], variant_id
    return None


def test_cancel_pending_order_refusals(retail: Ported):
    delivered = _orders(retail.db, "delivered")[0]["order_id"]
    pending = _orders(retail.db, "pending")[0]["order_id"]
    retail.check_refusal("cancel_pending_order", {"order_id": delivered, "reason": "no longer needed"},
                         "Non-pending order cannot be cancelled")
    retail.check_refusal("cancel_pending_order", {"order_id": pending, "reason": "too slow"}, "Invalid reason")
    retail.check_refusal("cancel_pending_order", {"order_id": "#W0000000", "reason": "no longer needed"},
                         "Order not found")


def test_exchange_refusals(retail: Ported):
    db = retail.db
    pending = _orders(db, "pending")[0]
    delivered = _orders(db, "delivered")[0]
    item = delivered["items"][0]
    pm = delivered["payment_history"][0]["payment_method_id"]
    retail.check_refusal("exchange_delivered_order_items", {"order_id": pending["order_id"], "item_ids": [
        pending["items"][0]["item_id"]], "new_item_ids": [pending["items"][0]["item_id"]], "payment_method_id": pm},
        "Non-delivered order cannot be exchanged")
    retail.check_refusal("exchange_delivered_order_items", {"order_id": delivered["order_id"], "item_ids": [
        "0000000000"], "new_item_ids": [item["item_id"]], "payment_method_id": pm}, "Number of 0000000000 not found.")
    retail.check_refusal("exchange_delivered_order_items", {"order_id": delivered["order_id"], "item_ids": [
        item["item_id"]], "new_item_ids": [], "payment_method_id": pm},
        "The number of items to be exchanged should match.")
    retail.check_refusal("exchange_delivered_order_items", {"order_id": delivered["order_id"], "item_ids": [
        item["item_id"]], "new_item_ids": ["0000000000"], "payment_method_id": pm}, "Variant not found")
    unavailable = next((o, i, v) for o in _orders(db, "delivered") for i in o["items"]
                       for v, var in db["products"][i["product_id"]]["variants"].items() if not var["available"])
    order, old, new = unavailable
    retail.check_refusal("exchange_delivered_order_items", {"order_id": order["order_id"], "item_ids": [
        old["item_id"]], "new_item_ids": [new], "payment_method_id": order["payment_history"][0]["payment_method_id"]},
        f"New item {new} not found or available")
    poor = next((o, card, swap) for o in _orders(db, "delivered")
                if (card := _gift_card(db["users"][o["user_id"]])) and (swap := _costly_swap(db, o, card[1])))
    order, (card_id, _balance), (old_id, new_id) = poor
    retail.check_refusal("exchange_delivered_order_items", {"order_id": order["order_id"], "item_ids": [old_id],
                                                            "new_item_ids": [new_id], "payment_method_id": card_id},
                         "Insufficient gift card balance to pay for the price difference")


def test_modify_pending_order_items_refusals(retail: Ported):
    db = retail.db
    pending = _orders(db, "pending")[0]
    item = pending["items"][0]["item_id"]
    pm = pending["payment_history"][0]["payment_method_id"]
    retail.check_refusal("modify_pending_order_items", {"order_id": _orders(db, "delivered")[0]["order_id"],
                                                        "item_ids": [item], "new_item_ids": [item],
                                                        "payment_method_id": pm},
                         "Non-pending order cannot be modified")
    retail.check_refusal("modify_pending_order_items", {"order_id": pending["order_id"], "item_ids": [item],
                                                        "new_item_ids": [item], "payment_method_id": pm},
                         "The new item id should be different from the old item id")
    poor = next((o, card, swap) for o in _orders(db, "pending")
                if (card := _gift_card(db["users"][o["user_id"]])) and (swap := _costly_swap(db, o, card[1])))
    order, (card_id, _balance), (old_id, new_id) = poor
    retail.check_refusal("modify_pending_order_items", {"order_id": order["order_id"], "item_ids": [old_id],
                                                        "new_item_ids": [new_id], "payment_method_id": card_id},
                         "Insufficient gift card balance to pay for the new item")


def test_payment_address_and_return_refusals(retail: Ported):
    db = retail.db
    pending = _orders(db, "pending")[0]
    current = pending["payment_history"][0]["payment_method_id"]
    retail.check_refusal("modify_pending_order_payment", {"order_id": pending["order_id"], "payment_method_id": current},
                         "The new payment method should be different from the current one")
    retail.check_refusal("modify_pending_order_payment", {"order_id": pending["order_id"],
                                                          "payment_method_id": "paypal_0000000"},
                         "Payment method not found")
    address = {"address1": "1 Main St", "address2": "", "city": "Austin", "state": "TX", "country": "USA",
               "zip": "78701"}
    delivered = _orders(db, "delivered")[0]
    retail.check_refusal("modify_pending_order_address", {"order_id": delivered["order_id"], **address},
                         "Non-pending order cannot be modified")
    retail.check_refusal("modify_user_address", {"user_id": "nobody_0000", **address}, "User not found")
    retail.check_refusal("return_delivered_order_items", {"order_id": pending["order_id"], "item_ids": [
        pending["items"][0]["item_id"]], "payment_method_id": current}, "Non-delivered order cannot be returned")
    other = next((o, pm_id) for o in _orders(db, "delivered") for pm_id, pm in db["users"][o["user_id"]][
        "payment_methods"].items() if pm["source"] != "gift_card" and pm_id != o["payment_history"][0][
        "payment_method_id"])
    order, pm_id = other
    retail.check_refusal("return_delivered_order_items", {"order_id": order["order_id"], "item_ids": [
        order["items"][0]["item_id"]], "payment_method_id": pm_id},
        "Payment method should be the original payment method")
    retail.check_refusal("return_delivered_order_items", {"order_id": delivered["order_id"], "item_ids": [
        "0000000000"], "payment_method_id": delivered["payment_history"][0]["payment_method_id"]},
        "Some item not found")


def test_lookup_refusals(retail: Ported):
    retail.check_refusal("find_user_id_by_email", {"email": "nobody@example.com"}, "User not found")
    retail.check_refusal("get_product_details", {"product_id": "0000000000"}, "Product not found")
    retail.check_refusal("calculate", {"expression": "2 ** 8; import os"}, "Invalid characters in expression")


def _available(db: dict) -> tuple[str, str, dict]:
    for number, flight in db["flights"].items():
        for date, data in flight["dates"].items():
            if data["status"] == "available" and min(data["available_seats"].values()) > 3:
                return number, date, data
    raise AssertionError("no available flight")


def test_book_reservation_refusals(airline: Ported):
    db = airline.db
    user_id, user = next((u_id, u) for u_id, u in db["users"].items()
                         if any(pm["source"] == "credit_card" for pm in u["payment_methods"].values()))
    card = next(pm_id for pm_id, pm in user["payment_methods"].items() if pm["source"] == "credit_card")
    number, date, data = _available(db)
    flight = db["flights"][number]
    passenger = {"first_name": "Ada", "last_name": "Lovelace", "dob": "1990-01-01"}
    price = data["prices"]["economy"]

    def book(**changes: Any) -> dict:
        args = {"user_id": user_id, "origin": flight["origin"], "destination": flight["destination"],
                "flight_type": "one_way", "cabin": "economy", "flights": [{"flight_number": number, "date": date}],
                "passengers": [passenger], "payment_methods": [{"payment_id": card, "amount": price}],
                "total_baggages": 0, "nonfree_baggages": 0, "insurance": "no"}
        args.update(changes)
        return args

    airline.check_refusal("book_reservation", book(user_id="nobody_0000"), "User nobody_0000 not found")
    airline.check_refusal("book_reservation", book(flights=[{"flight_number": "HAT999", "date": date}]),
                          "Flight HAT999 not found")
    airline.check_refusal("book_reservation", book(flights=[{"flight_number": number, "date": "2030-01-01"}]),
                          f"Flight {number} not found on date 2030-01-01")
    landed = next(d for d, v in flight["dates"].items() if v["status"] != "available")
    airline.check_refusal("book_reservation", book(flights=[{"flight_number": number, "date": landed}]),
                          f"Flight {number} not available on date {landed}")
    crowd = [passenger] * (data["available_seats"]["economy"] + 1)
    airline.check_refusal("book_reservation", book(passengers=crowd), f"Not enough seats on flight {number}")
    airline.check_refusal("book_reservation", book(payment_methods=[{"payment_id": "gift_card_0", "amount": price}]),
                          "Payment method gift_card_0 not found")
    airline.check_refusal("book_reservation", book(payment_methods=[{"payment_id": card, "amount": price + 1}]),
                          f"Payment amount does not add up, total price is {price}, but paid {price + 1}")
    holder, certificate, amount = next((u_id, pm_id, pm["amount"]) for u_id, u in db["users"].items()
                                       for pm_id, pm in u["payment_methods"].items() if pm["source"] == "certificate")
    airline.check_refusal("book_reservation", book(user_id=holder, payment_methods=[
        {"payment_id": certificate, "amount": int(amount) + 10_000}]),
        f"Not enough balance in payment method {certificate}")


def test_reservation_update_refusals(airline: Ported):
    db = airline.db
    airline.check_refusal("cancel_reservation", {"reservation_id": "ZZZZZZ"}, "Reservation ZZZZZZ not found")
    reservation = next(r for r in db["reservations"].values() if r["status"] is None)
    rid = reservation["reservation_id"]
    user = db["users"][reservation["user_id"]]
    airline.check_refusal("update_reservation_passengers", {"reservation_id": rid, "passengers": []},
                          "Number of passengers does not match")
    with_certificate = next(((r, pm_id) for r in db["reservations"].values()
                             for pm_id, pm in db["users"][r["user_id"]]["payment_methods"].items()
                             if pm["source"] == "certificate"), None)
    assert with_certificate is not None
    res, certificate = with_certificate
    airline.check_refusal("update_reservation_baggages", {"reservation_id": res["reservation_id"], "total_baggages": 9,
                                                          "nonfree_baggages": res["nonfree_baggages"] + 2,
                                                          "payment_id": certificate},
                          "Certificate cannot be used to update reservation")
    poor = next(((r, pm_id) for r in db["reservations"].values()
                 for pm_id, pm in db["users"][r["user_id"]]["payment_methods"].items()
                 if pm["source"] == "gift_card" and pm["amount"] < 5000), None)
    assert poor is not None
    res, card = poor
    airline.check_refusal("update_reservation_baggages", {"reservation_id": res["reservation_id"], "total_baggages": 200,
                                                          "nonfree_baggages": res["nonfree_baggages"] + 100,
                                                          "payment_id": card}, "Gift card balance is not enough")
    number, date, _data = next((n, d, v) for n, f in db["flights"].items() for d, v in f["dates"].items()
                               if v["status"] != "available")
    any_card = next(iter(user["payment_methods"]))
    airline.check_refusal("update_reservation_flights", {"reservation_id": rid, "cabin": reservation["cabin"],
                                                         "flights": [{"flight_number": number, "date": date}],
                                                         "payment_id": any_card},
                          f"Flight {number} not available on date {date}")
    airline.check_refusal("send_certificate", {"user_id": "nobody_0000", "amount": 100}, "User nobody_0000 not found")
    airline.check_refusal("get_flight_status", {"flight_number": "HAT999", "date": "2024-05-15"},
                          "Flight HAT999 not found")

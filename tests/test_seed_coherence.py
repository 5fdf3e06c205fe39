"""Seeds agree with themselves: one test per invariant over every default environment, each
shown able to fail on a corrupted copy of a real seed, the placeholder share, and the same
relations produced by the generator alone (no `x-envhub-seed` statement) on a spec built here.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from servers.seedgen import generate_rows
from servers.seedrules import other_trip_end
from servers.spec import EnvSpec, load_envspec, parse_envspec
from synth.envs.seedcheck import (
    CHECKS,
    CheckResult,
    check_payments,
    check_places,
    check_ranges,
    check_references,
    check_tiers,
    check_time_order,
    check_totals,
    check_unit_prices,
    is_placeholder,
    placeholder_share,
)
from synth.envs.synthesize import SynthSettings, synthesize


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, EnvSpec]:
    out = tmp_path_factory.mktemp("seeds")
    report = synthesize(None, out, SynthSettings(seed=0, progress=False, workers=1, draw=False))
    assert report.tools_kept == report.tools_ingested == 192
    return {p.stem: load_envspec(p) for p in sorted((out / "envs").glob("*.json"))}


def _over_all(specs: dict[str, EnvSpec], check) -> CheckResult:
    total = CheckResult(check.__name__)
    for spec in specs.values():
        result = check(spec)
        total.checked += result.checked
        total.failures += [f"{spec.name}: {f}" for f in result.failures]
    return total


def _broken(spec: EnvSpec, table: str, where: dict[str, Any], **changes: Any) -> EnvSpec:
    """A copy of `spec` whose first seed row of `table` matching `where` has `changes`."""
    data = json.loads(spec.model_dump_json(by_alias=True))
    rows = data["seed"]["rows"][table]
    row = next(r for r in rows if all(r.get(k) == v for k, v in where.items()))
    row.update(changes)
    return parse_envspec(data, origin="broken copy")


def _row(spec: EnvSpec, table: str, **where: Any) -> dict[str, Any]:
    return next(r for r in spec.seed.rows[table] if all(r.get(k) == v for k, v in where.items()))


def test_times_run_forward_in_every_env(specs):
    result = _over_all(specs, check_time_order)
    assert result.checked >= 150 and result.failures == []
    for r in specs["hotel-reservations"].seed.rows["reservations"]:
        assert r["check_in_date"] < r["check_out_date"]
    for r in specs["car-rental"].seed.rows["rentals"]:
        assert r["pickup_date"] < r["return_date"]
    customers = {c["customer_id"]: c for c in specs["order-desk"].seed.rows["customers"]}
    for order in specs["order-desk"].seed.rows["orders"]:
        assert customers[order["customer_id"]]["created_at"] <= order["created_at"] <= "2025-01-01"


def test_time_order_check_can_fail(specs):
    spec = specs["hotel-reservations"]
    first = spec.seed.rows["reservations"][0]
    broken = _broken(spec, "reservations", {"reservation_id": first["reservation_id"]},
                     check_in_date=first["check_out_date"], check_out_date=first["check_in_date"])
    assert any("check_in_date" in f for f in check_time_order(broken).failures)
    future = _broken(specs["order-desk"], "orders", {}, created_at="2026-05-01")
    assert any("after the clock" in f for f in check_time_order(future).failures)


def test_totals_are_the_sum_of_their_items_in_every_env(specs):
    result = _over_all(specs, check_totals)
    assert result.checked >= 20 and result.failures == []
    spec = specs["order-desk"]
    for order in spec.seed.rows["orders"]:
        items = [i for i in spec.seed.rows["order_items"] if i["order_id"] == order["order_id"]]
        assert order["total"] == pytest.approx(round(sum(i["quantity"] * i["unit_price"] for i in items), 2))
    assert sum(1 for o in spec.seed.rows["orders"] if o["total"] > 0) >= 8  # orders have items


def test_totals_check_can_fail(specs):
    spec = specs["order-desk"]
    order = spec.seed.rows["orders"][0]
    broken = _broken(spec, "orders", {"order_id": order["order_id"]}, total=order["total"] + 5)
    assert [f for f in check_totals(broken).failures if order["order_id"] in f]


def test_unit_prices_are_the_products_price_in_every_env(specs):
    result = _over_all(specs, check_unit_prices)
    assert result.checked >= 30 and result.failures == []
    spec = specs["flight-booking"]
    flights = {f["flight_id"]: f for f in spec.seed.rows["flights"]}
    for booking in spec.seed.rows["bookings"]:
        assert booking["price"] == flights[booking["flight_id"]][f"{booking['cabin_class']}_price"]


def test_unit_price_check_can_fail(specs):
    spec = specs["order-desk"]
    item = spec.seed.rows["order_items"][0]
    broken = _broken(spec, "order_items", {"order_item_id": item["order_item_id"]}, unit_price=item["unit_price"] + 1)
    assert [f for f in check_unit_prices(broken).failures if item["order_item_id"] in f]


def test_payments_are_the_amount_due_in_every_env(specs):
    result = _over_all(specs, check_payments)
    assert result.checked >= 20 and result.failures == []


def test_payment_check_can_fail(specs):
    spec = specs["telecom-plans"]
    payment = spec.seed.rows["bill_payments"][0]
    broken = _broken(spec, "bill_payments", {"bill_payment_id": payment["bill_payment_id"]}, amount=0.5)
    assert check_payments(broken).failures


def test_children_agree_with_their_parents_in_every_env(specs):
    result = _over_all(specs, check_references)
    assert result.checked >= 40 and result.failures == []
    spec = specs["order-desk"]
    item_order = {i["order_item_id"]: i["order_id"] for i in spec.seed.rows["order_items"]}
    for ret in spec.seed.rows["returns"]:
        assert ret["order_id"] == item_order[ret["order_item_id"]]
    hotels = specs["hotel-reservations"]
    room_hotel = {t["room_type_id"]: t["hotel_id"] for t in hotels.seed.rows["room_types"]}
    for res in hotels.seed.rows["reservations"]:
        assert res["hotel_id"] == room_hotel[res["room_type_id"]]


def test_reference_check_can_fail(specs):
    spec = specs["hotel-reservations"]
    res = spec.seed.rows["reservations"][0]
    other = next(h["hotel_id"] for h in spec.seed.rows["hotels"] if h["hotel_id"] != res["hotel_id"])
    broken = _broken(spec, "reservations", {"reservation_id": res["reservation_id"]}, hotel_id=other)
    assert [f for f in check_references(broken).failures if res["reservation_id"] in f]


def test_ranges_and_enums_hold_in_every_env(specs):
    result = _over_all(specs, check_ranges)
    assert result.checked >= 3000 and result.failures == []
    assert {b["checked_bags"] for b in specs["flight-booking"].seed.rows["bookings"]} <= {0, 1, 2, 3}


def test_range_check_can_fail(specs):
    spec = specs["flight-booking"]
    booking = spec.seed.rows["bookings"][0]
    broken = _broken(spec, "bookings", {"booking_id": booking["booking_id"]}, checked_bags=90)
    assert [f for f in check_ranges(broken).failures if "checked_bags" in f]


def test_fare_tiers_are_ordered_in_every_env(specs):
    result = _over_all(specs, check_tiers)
    assert result.checked >= 8 and result.failures == []


def test_tier_check_can_fail(specs):
    spec = specs["flight-booking"]
    flight = spec.seed.rows["flights"][0]
    broken = _broken(spec, "flights", {"flight_id": flight["flight_id"]},
                     economy_price=flight["business_price"] + 1)
    assert check_tiers(broken).failures


def test_places_agree_in_every_env(specs):
    result = _over_all(specs, check_places)
    assert result.checked >= 8 and result.failures == []


def test_place_check_can_fail(specs):
    spec = specs["hotel-reservations"]
    hotel = spec.seed.rows["hotels"][0]
    broken = _broken(spec, "hotels", {"hotel_id": hotel["hotel_id"]}, city="Austin", country="India")
    assert [f for f in check_places(broken).failures if "Austin, India" in f]


def test_every_invariant_has_a_test():
    tested = {check_time_order, check_totals, check_unit_prices, check_payments, check_references, check_ranges,
              check_tiers, check_places}
    assert set(CHECKS.values()) == tested


def test_placeholder_pattern():
    for value, table, column in [("monthly-1", "plans", "name"), ("Annual subscriber 1", "subscribers", "name"),
                                 ("Request hotel 1", "hotels", "name"), ("user12", "users", "login"),
                                 ("Seasonal delivery for service requests", "service_requests", "notes"),
                                 ("string", "things", "label"), ("Lorem ipsum dolor sit amet", "posts", "body")]:
        assert is_placeholder(value, table, column), value
    for value, table, column in [("Harborview Hotel", "hotels", "name"), ("12C", "bookings", "seat"),
                                 ("ava.nguyen@example.com", "users", "email"), ("TP1234", "flights", "number"),
                                 ("Please leave the package with the front desk.", "orders", "notes"),
                                 ("Lisbon", "hotels", "city")]:
        assert not is_placeholder(value, table, column), value


def test_placeholder_share_of_default_seeds_is_at_most_two_percent(specs):
    placeholders = total = 0
    for spec in specs.values():
        p, t, _ = placeholder_share(spec)
        placeholders += p
        total += t
    assert total >= 800
    assert placeholders / total <= 0.02, placeholders


def _shop() -> EnvSpec:
    """A shop with no stated seed rules: every relation below comes from names and keys alone."""
    money = {"type": "number"}
    return parse_envspec({
        "name": "shop", "description": "A shop.",
        "tables": [
            {"name": "customers", "primary_key": "customer_id", "columns": [
                {"name": "customer_id"}, {"name": "full_name"}, {"name": "email"}, {"name": "city"},
                {"name": "country"}, {"name": "phone"}, {"name": "created_at", "type": "date"}]},
            {"name": "products", "primary_key": "product_id", "columns": [
                {"name": "product_id"}, {"name": "name"}, {"name": "price", **money},
                {"name": "description"}]},
            {"name": "orders", "primary_key": "order_id", "columns": [
                {"name": "order_id"}, {"name": "customer_id"}, {"name": "total", **money},
                {"name": "created_at", "type": "date"}, {"name": "updated_at", "type": "date"},
                {"name": "notes"}],
             "foreign_keys": [{"column": "customer_id", "ref_table": "customers", "ref_column": "customer_id"}]},
            {"name": "order_items", "primary_key": "order_item_id", "columns": [
                {"name": "order_item_id"}, {"name": "order_id"}, {"name": "product_id"},
                {"name": "quantity", "type": "integer", "description": "How many (1-4)."},
                {"name": "unit_price", **money}],
             "foreign_keys": [{"column": "order_id", "ref_table": "orders", "ref_column": "order_id"},
                              {"column": "product_id", "ref_table": "products", "ref_column": "product_id"}]},
            {"name": "returns", "primary_key": "return_id", "columns": [
                {"name": "return_id"}, {"name": "order_id"}, {"name": "order_item_id"},
                {"name": "created_at", "type": "date"}],
             "foreign_keys": [{"column": "order_id", "ref_table": "orders", "ref_column": "order_id"},
                              {"column": "order_item_id", "ref_table": "order_items", "ref_column": "order_item_id"}]},
            {"name": "payments", "primary_key": "payment_id", "columns": [
                {"name": "payment_id"}, {"name": "order_id"}, {"name": "amount", **money}],
             "foreign_keys": [{"column": "order_id", "ref_table": "orders", "ref_column": "order_id"}]},
            {"name": "stays", "primary_key": "stay_id", "columns": [
                {"name": "stay_id"}, {"name": "check_in_date", "type": "date"},
                {"name": "check_out_date", "type": "date"}, {"name": "economy_rate", **money},
                {"name": "business_rate", **money}]},
        ],
        "tools": [{"name": "list_orders", "description": "List orders.",
                   "operation": {"kind": "find", "table": "orders"}}],
    }, origin="shop")


def test_generator_alone_makes_the_relations_hold():
    spec = _shop()
    rows = generate_rows(spec, 3, {t.name: 12 for t in spec.tables})
    seeded = parse_envspec({**json.loads(spec.model_dump_json(by_alias=True)),
                            "seed": {"rows": rows, "generate": None}}, origin="shop seeded")
    for name, check in CHECKS.items():
        result = check(seeded)
        assert result.failures == [], (name, result.failures[:3])
        assert result.checked > 0, name
    assert {i["quantity"] for i in rows["order_items"]} <= {1, 2, 3, 4}
    for customer in rows["customers"]:
        first, last = customer["full_name"].lower().split(" ", 1)
        assert customer["email"].split("@")[0].startswith(first.split()[0][:2])
    p, t, examples = placeholder_share(seeded)
    assert t > 50 and p == 0, examples


def test_generator_is_deterministic():
    spec = _shop()
    counts = {t.name: 9 for t in spec.tables}
    assert json.dumps(generate_rows(spec, 5, counts)) == json.dumps(generate_rows(spec, 5, counts))
    assert json.dumps(generate_rows(spec, 5, counts)) != json.dumps(generate_rows(spec, 6, counts))


def test_declared_minimum_and_maximum_bound_the_seed():
    """A property's `minimum`/`maximum` (no range in its text) reach the column and bound its seed."""
    from synth.envs.draft import draft_envspec
    from synth.tooldef import ToolDef

    record = {"type": "object", "properties": {
        "table_booking_id": {"type": "string"},
        "party_size": {"type": "integer", "description": "How many guests.", "minimum": 2, "maximum": 4},
        "deposit": {"type": "number", "minimum": 5, "maximum": 9}}}
    tools = [
        ToolDef(name="create_table_booking", description="Book a table.", source="test", api="Tables",
                method="post", path="/table-bookings", returns=record, returns_status="201",
                parameters={"type": "object", "properties": {k: v for k, v in record["properties"].items()
                                                             if k != "table_booking_id"}}),
        ToolDef(name="get_table_booking", description="One booking.", source="test", api="Tables",
                method="get", path="/table-bookings/{table_booking_id}", returns=record, returns_status="200",
                parameters={"type": "object", "properties": {"table_booking_id": {"type": "string"}},
                            "required": ["table_booking_id"]}),
    ]
    spec = draft_envspec("tables", "tables", tools).spec
    assert spec is not None
    table = spec.tables[0]
    assert "(2 to 4)" in table.column("party_size").description
    rows = spec.seed.rows[table.name]
    assert rows and all(2 <= r["party_size"] <= 4 and 5 <= r["deposit"] <= 9 for r in rows)


def test_a_trip_whose_ends_reference_a_table_keeps_both_ends_rows_of_it():
    spec = parse_envspec({
        "name": "trips", "tables": [
            {"name": "airports", "primary_key": "airport_id", "columns": [{"name": "airport_id"}]},
            {"name": "routes", "primary_key": "route_id", "columns": [
                {"name": "route_id"}, {"name": "origin"}, {"name": "destination"}],
             "foreign_keys": [{"column": "destination", "ref_table": "airports", "ref_column": "airport_id"}]},
        ], "tools": []})
    routes = spec.table("routes")
    index = {"airports": {"AIR-1": {}, "AIR-2": {}, "AIR-3": {}}}
    rng = random.Random(0)
    picked = {other_trip_end(routes, "destination", "AIR-1", index, rng) for _ in range(20)}
    assert picked <= {"AIR-2", "AIR-3"} and picked, "another airport row, never the start"
    # A plain string end gets another airport code.
    assert other_trip_end(routes, "origin", "YYZ", index, rng) != "YYZ"


def test_coordinates_written_as_text_are_numbers():
    """WMATA types `Lat`, `Lon` and `Radius` as strings: their seeds are numbers written as text,
    not words (`lat mentions 'misty-island'`)."""
    from servers.seedvalues import ColumnKind, RowContext
    from servers.spec import Column, Table

    table = Table(name="stops", primary_key="stop_id", columns=[
        Column(name="stop_id"), Column(name="lat"), Column(name="lon"), Column(name="radius"), Column(name="name")])
    for column in ("lat", "lon", "radius"):
        kind = ColumnKind(table.column(column), table)
        assert kind.kind == "numeral"
        value = kind.value(RowContext(random.Random(7)), 0)
        assert isinstance(value, str)
        float(value)  # a number written as text, or this raises
    assert ColumnKind(table.column("name"), table).kind != "numeral"


def test_a_whole_unit_payment_is_not_held_to_a_fractional_due():
    """Rebilly: an integer payment `amount` against a customer's number `amount` can never be equal
    (166 vs 165.66), so no payment rule applies or is checked there; same types keep the rule."""
    from types import SimpleNamespace

    from servers.seedrules import payment_links
    from servers.spec import Column, ForeignKey, Table

    def world(paid_type: str, due_type: str) -> tuple[Any, Table]:
        customers = Table(name="customers", primary_key="customer_id",
                          columns=[Column(name="customer_id"), Column(name="amount", type=due_type)])
        payments = Table(name="payments", primary_key="payment_id",
                         columns=[Column(name="payment_id"), Column(name="customer_id"),
                                  Column(name="amount", type=paid_type)],
                         foreign_keys=[ForeignKey(column="customer_id", ref_table="customers",
                                                  ref_column="customer_id")])
        return SimpleNamespace(tables=[customers, payments]), payments

    assert payment_links(*world("integer", "number")) == []
    assert [(paid, due) for paid, _, due in payment_links(*world("integer", "integer"))] == [("amount", "amount")]
    assert [(paid, due) for paid, _, due in payment_links(*world("number", "number"))] == [("amount", "amount")]

"""The default collection becomes one coherent world per API: domains follow APIs, state changes
update the record they act on, collection creates insert, and the package's own files are not
read as inputs."""

from __future__ import annotations

import json

import pytest

from servers.spec import load_envspec
from synth.data.default_apis import default_api_files
from synth.envs.synthesize import SynthSettings, synthesize
from synth.graph import api_slug, build_tool_graph, partition_domains
from synth.ingest import ingest_paths
from tests.test_graph_partition import synthetic_tools

EXPECTED_ENVS = {
    "Retail Banking API": "retail-banking",
    "Calendar API": "calendar",
    "Car Rental API": "car-rental",
    "Clinic Appointments API": "clinic-appointments",
    "Event Tickets API": "event-tickets",
    "Flight Booking API": "flight-booking",
    "Food Delivery API": "food-delivery",
    "Hotel Reservations API": "hotel-reservations",
    "Library Loans API": "library-loans",
    "Order Desk API": "order-desk",
    "Support Ticket API": "support-ticket",
    "Telecom Plans API": "telecom-plans",
}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("worlds")
    report = synthesize(None, out, SynthSettings(seed=0, progress=False, workers=1))
    specs = {path.stem: load_envspec(path) for path in sorted((out / "envs").glob("*.json"))}
    return out, report, specs


@pytest.fixture(scope="module")
def default_tools():
    return ingest_paths(default_api_files()).tools


def test_default_build_has_one_env_per_api_named_after_it(build, default_tools):
    out, _, specs = build
    assert set(specs) == set(EXPECTED_ENVS.values())
    api_of = {tool.name: tool.api for tool in default_tools}
    for api, env in EXPECTED_ENVS.items():
        tools = {t.name for t in specs[env].tools}
        assert {api_of[name] for name in tools} == {api}, env
        assert tools == {t.name for t in default_tools if t.api == api}
    data = json.loads((out / "report.json").read_text())
    assert data["tools_kept"] == data["tools_ingested"] == 192


def test_no_file_of_the_package_is_skipped(build):
    out, _, _ = build
    data = json.loads((out / "report.json").read_text())
    assert data["files_skipped"] == []
    assert data["inputs_read"] == 12


def test_no_table_is_invented_for_a_state_change(build):
    _, _, specs = build
    tables = {t.name for spec in specs.values() for t in spec.tables}
    for junk in ("account_freezes", "transaction_disputes", "card_report_losts", "loan_returns",
                 "ticket_solves", "line_top_ups", "bill_disputes", "rental_pickups", "rental_returns",
                 "booking_seats", "delivery_order_ratings", "prescription_refills", "event_rooms"):
        assert junk not in tables
    assert len(tables) == 58  # one per entity of the collection, nothing more


def test_nested_records_keep_the_name_their_keys_give_them(build):
    _, _, specs = build
    fks = {
        (table.name, fk.column): fk.ref_table
        for spec in specs.values() for table in spec.tables for fk in table.foreign_keys
    }
    # `/restaurants/{id}/menu-items` holds `menu_item_id` records that delivery items refer to.
    assert fks[("delivery_items", "menu_item_id")] == "menu_items"
    # `GET /locations/{rental_location_id}`: the key names the entity.
    assert fks[("vehicles", "rental_location_id")] == "rental_locations"


def _op(specs, env: str, tool: str):  # type: ignore[no-untyped-def]
    return next(t for t in specs[env].tools if t.name == tool).operation


def _derived(default_tools, tool: str):  # type: ignore[no-untyped-def]
    """The shorthand synthesis derives from the tool's shape (its API may state a program instead)."""
    from servers.spec import ToolSpec
    from synth.envs.operations import build_tool
    from synth.envs.schema import infer_schema
    from synth.envs.shapes import reconcile_shapes, shape_tool

    api = next(t.api for t in default_tools if t.name == tool)
    shapes = reconcile_shapes([shape_tool(t) for t in default_tools if t.api == api])
    schema = infer_schema(shapes)
    shape = next(s for s in shapes if s.tool.name == tool)
    return ToolSpec.model_validate(build_tool(shape, tool, schema, derived_only=True)).operation


def _writes(specs, env: str, tool: str) -> set[str]:  # type: ignore[no-untyped-def]
    from servers.program import program_writes

    return program_writes(_op(specs, env, tool))


def test_freeze_account_updates_the_account_with_its_stated_precondition(build):
    _, _, specs = build
    op = _op(specs, "retail-banking", "freeze_account")
    assert op.kind == "update" and op.table == "accounts"
    assert op.set["status"].const == "frozen"
    assert [(p.column, p.op, p.value.const) for p in op.preconditions] == [("status", "in", ["active"])]
    # The seed holds a row the transition can start from, so a task can use it.
    rows = specs["retail-banking"].seed.rows["accounts"]
    assert any(row["status"] == "active" for row in rows)


def test_state_changes_without_a_transition_update_the_parent(build, default_tools):
    # These tools' APIs state their rules as programs; the shape synthesis derives (which says what
    # their arguments address) still updates the parent, and the program writes that same table.
    _, _, specs = build
    seat = _derived(default_tools, "assign_seat")
    assert seat.kind == "update" and seat.table == "bookings" and "seat" in seat.set
    assert _writes(specs, "flight-booking", "assign_seat") == {"bookings"}
    rating = _derived(default_tools, "rate_delivery_order")
    assert rating.kind == "update" and rating.table == "delivery_orders" and "rating" in rating.set
    assert _writes(specs, "food-delivery", "rate_delivery_order") == {"delivery_orders"}
    transfer = _derived(default_tools, "transfer_tickets")
    assert transfer.kind == "update" and set(transfer.set) == {"fan_id"}
    assert _writes(specs, "event-tickets", "transfer_tickets") == {"ticket_purchases"}
    check_in = _derived(default_tools, "check_in_booking")
    assert check_in.kind == "update" and check_in.set["status"].const == "checked_in"
    assert _writes(specs, "flight-booking", "check_in_booking") == {"bookings"}


def test_check_out_copy_inserts_a_loan(build, default_tools):
    _, _, specs = build
    op = _derived(default_tools, "check_out_copy")
    assert op.kind == "insert" and op.table == "loans"
    assert "copy_id" in op.values
    # The stated program inserts the loan and marks the copy lent.
    assert _writes(specs, "library-loans", "check_out_copy") == {"loans", "copies"}


def test_declared_filters_map_to_their_property(build):
    _, _, specs = build
    op = _op(specs, "hotel-reservations", "list_room_types")
    ops = {(f.column, f.op, f.value.arg) for f in op.filters}
    assert ("max_occupancy", "ge", "min_occupancy") in ops
    assert ("nightly_rate", "le", "max_nightly_rate") in ops


def test_ingest_keeps_vendor_extensions(default_tools):
    by_name = {tool.name: tool for tool in default_tools}
    assert by_name["freeze_account"].extensions["x-state-transition"] == {
        "field": "status", "from": ["active"], "to": "frozen"
    }
    assert by_name["search_products"].extensions["x-filter"]["max_price"] == {"property": "price", "op": "le"}
    assert by_name["check_out_copy"].returns_status == "201"
    assert by_name["get_order"].extensions == {}


def test_small_related_apis_still_merge_and_unrelated_ones_do_not():
    # Five 2-tool APIs per vocabulary: the pool of small APIs is grouped by similarity.
    tools = synthetic_tools(per_api=12)
    small = []
    for tool in tools:
        index = int(tool.name.rsplit("_", 1)[-1]) if tool.name[-1].isdigit() else 0
        small.append(tool.model_copy(update={"api": f"{tool.api} {index // 2}"}))
    domains = partition_domains(build_tool_graph(small), small, max_size=40)
    family = {tool.name: tool.api.rsplit(" ", 2)[0] for tool in tools}
    for domain in domains:
        families = {family[name] for name in domain.tools} - {"Translator"}
        assert len(families) == 1, domain.tools
        # Whole APIs: no API is split across domains.
    api_of = {tool.name: tool.api for tool in small}
    homes: dict[str, set[str]] = {}
    for domain in domains:
        for name in domain.tools:
            homes.setdefault(api_of[name], set()).add(domain.name)
    assert all(len(found) == 1 for found in homes.values())
    assert len(domains) < len({tool.api for tool in small}) / 2


def test_api_slug_drops_a_trailing_api():
    assert api_slug("Order Desk API") == "order-desk"
    assert api_slug("Swagger Petstore") == "swagger-petstore"
    assert api_slug("API") == "api"

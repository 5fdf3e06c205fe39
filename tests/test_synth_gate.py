"""The quality gate calls every tool: broken tools are dropped, fixable ones repaired, good ones kept."""

from __future__ import annotations

from servers.spec import parse_envspec
from synth.envs.draft import draft_envspec
from synth.envs.quality_gate import run_gate
from tests.test_synth_schema import SHOP


def _with_extra_tools(spec, tools):
    data = spec.model_dump(mode="json", by_alias=True)
    data["tools"] += tools
    return parse_envspec(data, origin="test")


BROKEN_FK = {  # inserts a line item for an order that never exists: fails on every row
    "name": "add_ghost_item", "description": "broken", "input_schema": {"type": "object", "properties": {}},
    "operation": {"kind": "insert", "table": "order_items", "values": {"order_id": {"const": "NOPE-1"}}},
}
NO_OP_WRITE = {  # "updates" an order to what it already is: the state never changes
    "name": "touch_order", "description": "no-op",
    "input_schema": {"type": "object", "properties": {"orderId": {"type": "string"}}, "required": ["orderId"]},
    "operation": {"kind": "sequence", "steps": [
        {"bind": "cur", "op": {"kind": "get", "table": "orders", "key": {"arg": "orderId"}}},
        {"bind": "new", "op": {"kind": "update", "table": "orders", "key": {"arg": "orderId"},
                               "set": {"total": {"op": "add", "left": {"ref": "cur.total"}, "right": {"const": 0}}}}},
    ]},
}
WRONG_TYPE = {  # asks for an integer key while the keys are strings: repairable
    "name": "get_order_by_number", "description": "typed wrong",
    "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    "operation": {"kind": "get", "table": "orders", "key": {"arg": "n"}},
}


def test_gate_drops_broken_tools_repairs_and_keeps_good_ones():
    spec = _with_extra_tools(draft_envspec("shop", "shop", SHOP, seed=2).spec, [BROKEN_FK, NO_OP_WRITE, WRONG_TYPE])
    result = run_gate(spec)
    verdicts = {v.name: v for v in result.verdicts}
    assert result.passed
    assert not verdicts["add_ghost_item"].ok and verdicts["add_ghost_item"].reason == "call failed"
    assert "NOPE-1" in verdicts["add_ghost_item"].detail
    assert not verdicts["touch_order"].ok and verdicts["touch_order"].reason == "write changed nothing"
    assert verdicts["get_order_by_number"].ok and verdicts["get_order_by_number"].repaired
    assert result.spec.tool("get_order_by_number").input_schema["properties"]["n"]["type"] == "string"
    kept = {t.name for t in result.spec.tools}
    assert {t.name for t in SHOP} <= kept
    assert not {"add_ghost_item", "touch_order"} & kept
    # Dependencies never point at a dropped tool.
    assert all(d.source in kept and d.target in kept for d in result.spec.dependencies)


def test_gate_picks_a_row_the_preconditions_allow():
    spec = draft_envspec("shop", "shop", SHOP, seed=5).spec
    data = spec.model_dump(mode="json", by_alias=True)
    # All but one order are already cancelled: the gate has to find the one it may cancel.
    orders = data["seed"]["rows"]["orders"]
    for row in orders:
        row["status"] = "cancelled"
    orders[-1]["status"] = "pending"
    result = run_gate(parse_envspec(data, origin="test"))
    cancel = next(v for v in result.verdicts if v.name == "cancel_order")
    assert cancel.ok and cancel.repaired is None
    assert cancel.arguments == {"orderId": orders[-1]["order_id"]}


def test_environment_with_too_few_working_tools_is_dropped():
    spec = draft_envspec("tiny", "tiny", SHOP[:2], seed=0).spec
    spec = _with_extra_tools(spec, [])
    result = run_gate(spec, min_tools=3)
    assert not result.passed and result.spec is None
    assert "too few working tools" in result.reason


def test_tools_without_http_become_a_working_environment():
    from tests.test_synth_schema import named

    s, status = {"type": "string"}, {"type": "string", "enum": ["booked", "checked_in", "cancelled"]}
    booking = {"booking_id": s, "guest_name": s, "hotel_id": s, "nights": {"type": "integer"}, "status": status}
    tools = [
        named("get_booking", {"booking_id": s}, ["booking_id"]),
        named("search_bookings", {"guest_name": s, "status": status, "limit": {"type": "integer"}}),
        named("book_hotel", {"hotel_id": s, "guest_name": s, "nights": {"type": "integer"}}, ["hotel_id"]),
        named("update_booking", {"booking_id": s, "nights": {"type": "integer"}}, ["booking_id"]),
        named("cancel_booking", {"booking_id": s}, ["booking_id"]),
        named("get_hotel", {"hotel_id": s}, ["hotel_id"]),
    ]
    tools[0] = tools[0].model_copy(update={"returns": {"type": "object", "properties": booking}})
    draft = draft_envspec("hotels", "hotels", tools, seed=0)
    kinds = {t.name: t.operation.kind for t in draft.spec.tools}
    assert kinds == {"get_booking": "get", "search_bookings": "find", "book_hotel": "insert",
                     "update_booking": "update", "cancel_booking": "update", "get_hotel": "get"}
    book = draft.spec.tool("book_hotel").operation
    assert book.table == "bookings" and book.values["hotel_id"].arg == "hotel_id"
    assert any(fk.column == "hotel_id" and fk.ref_table == "hotels" for fk in draft.spec.table("bookings").foreign_keys)
    result = run_gate(draft.spec)
    assert result.passed and len(result.kept) == len(tools), [v for v in result.verdicts if not v.ok]


def test_the_gate_probes_a_bulk_delete_with_existing_keys():
    from servers.semantics import spec_semantics
    from synth.arguments.planner import probe_arguments

    # Deleting orders by a list of their ids (orders with line items are refused, as one by one).
    spec = _with_extra_tools(draft_envspec("shop", "shop", SHOP, seed=2).spec, [{
        "name": "delete_orders", "description": "Delete orders by their ids.",
        "input_schema": {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "string"}}},
                         "required": ["ids"]},
        "operation": {"kind": "delete", "table": "orders", "key": {"arg": "ids"}, "many": True}}])
    sem = spec_semantics(spec)["delete_orders"]
    key = spec.table("orders").primary_key
    rows = {"orders": [{key: "O-1"}, {key: "O-2"}, {key: "O-3"}]}
    # Two keys that exist, so the call shows it deletes every key it is given.
    assert probe_arguments(spec, sem, rows, 1) == {"ids": ["O-2", "O-3"]}
    assert probe_arguments(spec, sem, {"orders": [{key: "O-1"}]}, 0) == {"ids": ["O-1"]}
    result = run_gate(spec)
    verdict = next(v for v in result.verdicts if v.name == "delete_orders")
    assert verdict.ok, verdict

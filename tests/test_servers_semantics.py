"""servers.semantics: what operations read, write, require and return; the one comparison; the one
validator module; and the rule that offline generation asks these modules instead of reading
operation classes itself."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from servers.examples import example_spec_paths
from servers.executor import execute_tool
from servers.mcp_server import mcp_tools
from servers.semantics import (
    compare,
    deletes,
    read_only,
    result_step,
    spec_semantics,
    steps,
    without_preconditions,
    written_tables,
)
from servers.spec import load_envspec, parse_envspec
from servers.state import EnvRuntime, EpisodeStore
from servers.validation import ToolValidators, argument_validator

REPO = Path(__file__).resolve().parents[1]
OPERATION_CLASSES = {"GetOp", "FindOp", "InsertOp", "UpdateOp", "DeleteOp", "SequenceOp", "SimpleOp", "Step"}


def _order_desk():
    return next(load_envspec(p) for p in example_spec_paths() if Path(p).stem == "order-desk")


def test_steps_say_what_each_operation_reads_writes_and_returns():
    spec = _order_desk()
    place, cancel = spec.tool("place_order").operation, spec.tool("cancel_order").operation
    assert [s.kind for s in steps(place)] == ["get", "get", "update", "insert", "insert"]
    assert written_tables(place) == ["order_items", "orders", "products"]
    assert not read_only(place) and not deletes(place)
    assert read_only(spec.tool("get_order").operation) and written_tables(spec.tool("get_order").operation) == []
    assert written_tables(cancel) == ["orders"] and steps(cancel)[0].preconditions
    assert result_step(spec.tool("list_customer_orders").operation).returns_list
    relaxed = without_preconditions(cancel)
    assert relaxed is not None and not steps(relaxed)[0].preconditions
    assert without_preconditions(spec.tool("get_order").operation) is None
    # The MCP annotations say the same as the semantics.
    hints = {t.name: t.annotations for t in mcp_tools(EnvRuntime(spec))}
    for tool in spec.tools:
        assert hints[tool.name].read_only_hint == read_only(tool.operation), tool.name


def test_argument_uses_references_and_provided_keys():
    spec = _order_desk()
    sems = spec_semantics(spec)
    get_order = sems["get_order"]
    assert get_order.key_arg() == "order_id" and get_order.primary_use("order_id").role == "key"
    assert get_order.references(spec) == {"order_id": ("orders", "order_id")}
    provided = get_order.provided_keys(spec)
    assert provided[("orders", "order_id")] == "order_id" and provided[("customers", "customer_id")] == "customer_id"
    listing = sems["list_customer_orders"]
    assert listing.searches and listing.output_is_list and listing.output_table == "orders"
    assert listing.references(spec)["customer_id"] == ("customers", "customer_id")
    place = sems["place_order"]
    assert place.kind == "sequence" and not place.read_only
    # An amount subtracted from stock is drawn as arithmetic, not as a plain stored value.
    assert any(use.role == "arith" for uses in place.uses.values() for use in uses)


VALUES = [None, 0, 3, 7, "alpha", "Beta", "beta gamma"]
OPS = ["eq", "ne", "lt", "le", "gt", "ge", "in", "contains"]


@pytest.mark.parametrize("column_type", ["integer", "string"])
def test_compare_is_what_the_executor_keeps(column_type):
    """A precondition (compared in Python) and a filter (run as SQL) mean the same thing, except
    that a filter never matches a row whose column is null (SQL), where `ne` accepts it."""
    values = [v for v in VALUES if v is None or isinstance(v, int if column_type == "integer" else str)]
    rows = [{"row_id": f"R-{i}", "v": v} for i, v in enumerate(values)]
    spec = parse_envspec({
        "name": "cmp",
        "tables": [{"name": "items", "primary_key": "row_id", "id_prefix": "R-",
                    "columns": [{"name": "row_id"}, {"name": "v", "type": column_type}]}],
        "tools": [{"name": f"find_{op}", "description": "d",
                   "input_schema": {"type": "object", "properties": {"x": {}}, "required": ["x"]},
                   "operation": {"kind": "find", "table": "items", "limit": 100,
                                 "filters": [{"column": "v", "op": op, "value": {"arg": "x"}}]}}
                  for op in OPS],
        "seed": {"rows": {"items": rows}},
    })
    runtime = EnvRuntime(spec)
    store = EpisodeStore({"cmp": runtime})
    episode = store.create("cmp")
    probes = [v for v in values if v is not None] + [[values[1], values[2]]]
    checked = 0
    for op, expected in itertools.product(OPS, probes):
        if isinstance(expected, list) != (op == "in"):
            continue
        outcome = execute_tool(runtime, episode.conn, f"find_{op}", {"x": expected})
        assert outcome.ok, outcome.error
        found = {r["row_id"] for r in outcome.data["results"]}
        kept = {r["row_id"] for r in rows if r["v"] is not None and compare(op, r["v"], expected)}
        assert found == kept, (op, expected)
        assert compare(op, None, expected) == (op == "ne")
        checked += 1
    assert checked >= 20
    store.close_all()


def test_one_validator_module_compiled_or_not_says_the_same():
    spec = _order_desk()
    tool = spec.tool("update_shipping_address")
    compiled, plain = argument_validator(tool), argument_validator(tool, compiled=False)
    for arguments in ({"order_id": 5, "shipping_address": "x"}, {"order_id": "O-1"}, {"nope": 1},
                      {"order_id": "O-1", "shipping_address": "1 Main St"}):
        assert compiled(arguments) == plain(arguments)
    assert "unknown argument(s) 'nope'" in (plain({"nope": 1}) or "")
    # The runtime uses the validators it was given (the quality gate's uncompiled ones).
    runtime = EnvRuntime(spec, validators=ToolValidators(compiled=False))
    assert runtime.validators.compiled is False
    store = EpisodeStore({spec.name: runtime})
    outcome = execute_tool(runtime, store.create(spec.name).conn, tool.name, {"order_id": 5, "shipping_address": "x"})
    assert not outcome.ok and "invalid argument 'order_id'" in (outcome.error or "")
    store.close_all()


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("servers."):
            names |= {alias.name for alias in node.names}
    return names


def test_offline_generation_asks_servers_semantics_instead_of_reading_operation_classes():
    offenders = {
        str(path.relative_to(REPO)): sorted(_imported_names(path) & OPERATION_CLASSES)
        for path in sorted((REPO / "synth").rglob("*.py"))
    }
    assert not {k: v for k, v in offenders.items() if v}

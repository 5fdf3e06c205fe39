"""Programs can read and write only their environment's tables: checked at load and at run time."""

from __future__ import annotations

import copy

import pytest

from servers.executor import execute_tool
from servers.program import ProgramAnalysis
from servers.spec import ExecStep, LetStep, ProgramOp, ProgramResult, SpecError, ToolSpec, parse_envspec
from servers.state import EnvRuntime, EpisodeStore
from tests.test_program_language import SHOP, S, _obj


def _spec_with(steps: list, result: dict | None = None, props: dict | None = None) -> dict:
    spec = copy.deepcopy(SHOP)
    operation = {"kind": "program", "steps": steps}
    if result is not None:
        operation["result"] = result
    spec["tools"].append({"name": "probe", "description": "d", "input_schema": _obj(props or {"order_id": S}),
                          "operation": operation})
    return spec


PROBE = "shop.json: tools.4 ('probe').operation"


@pytest.mark.parametrize(
    ("steps", "where", "problem"),
    [
        ([{"let": "x", "query": "SELECT sql FROM sqlite_master"}], "steps.0.query",
         "reads 'sqlite_master', which is not a table of this environment"),
        ([{"let": "x", "query": "SELECT name FROM sqlite_schema WHERE type = 'table'"}], "steps.0.query",
         "reads 'sqlite_master', which is not a table of this environment"),
        ([{"exec": "DELETE FROM secrets"}], "steps.0.exec", "no such table: secrets"),
        ([{"exec": "ATTACH DATABASE '/tmp/other.db' AS other"}], "steps.0.exec",
         "an exec step must be one INSERT, UPDATE or DELETE statement"),
        ([{"let": "x", "query": "ATTACH DATABASE '/tmp/other.db' AS other"}], "steps.0.query",
         "uses ATTACH, which programs may not use"),
        ([{"let": "x", "query": "PRAGMA table_info(orders)"}], "steps.0.query",
         "uses PRAGMA, which programs may not use"),
        ([{"let": "x", "query": "SELECT name FROM pragma_table_info('orders')"}], "steps.0.query",
         "reads 'pragma_table_info', which is not a table of this environment"),
        ([{"let": "x", "query": "SELECT load_extension('/tmp/evil.so')"}], "steps.0.query",
         "calls function 'load_extension', which programs may not use"),
        ([{"let": "x", "query": "SELECT random()"}], "steps.0.query",
         "calls function 'random', which programs may not use"),
        ([{"exec": "UPDATE orders SET total = randomblob(4)"}], "steps.0.exec",
         "calls function 'randomblob', which programs may not use"),
        ([{"let": "x", "query": "DELETE FROM orders RETURNING order_id"}], "steps.0.query",
         "writes table 'orders' outside an exec step (only exec steps write)"),
        ([{"require": "SELECT 1; DELETE FROM orders", "message": "m"}], "steps.0.require",
         "You can only execute one statement at a time."),
        ([{"exec": "SELECT * FROM orders"}], "steps.0.exec",
         "an exec step must be one INSERT, UPDATE or DELETE statement"),
        ([{"exec": "DROP TABLE orders"}], "steps.0.exec",
         "an exec step must be one INSERT, UPDATE or DELETE statement"),
        ([{"let": "x", "query": "CREATE TABLE t (a)"}], "steps.0.query",
         "writes 'sqlite_master', which is not a table of this environment"),
        ([{"let": "x", "query": "CREATE TEMP VIEW v AS SELECT 1"}], "steps.0.query",
         "which is not a table of this environment"),
        ([{"let": "x", "query": "BEGIN"}], "steps.0.query", "uses transaction control"),
        ([{"let": "x", "query": "SELECT 1 FROM orders WHERE order_id = ?"}], "steps.0.query",
         "positional '?' parameters are not allowed; use :name"),
        ([{"let": "x", "query": "SELECT :nobody"}], "steps.0.query",
         "unknown parameter(s) :nobody (not an argument of the tool, :now/:today, or a name bound by an earlier step)"),
        ([{"let": "x", "query": "SELECT status FROM orders WHERE order_id = :order_id"},
          {"require": "SELECT :x = 'pending'", "message": "order {order_id} is {state}"}], "steps.1.message",
         "message names unknown value(s) {state}"),
        ([{"let": "order_id", "query": "SELECT 1"}], "steps.0.let",
         "'order_id' is already an argument, a reserved name or a loop variable"),
        ([{"if": "SELECT 1", "then": [{"exec": "UPDATE orders SET nope = 1"}]}], "steps.0.then.0.exec",
         "no such column: nope"),
        ([{"for_each": "SELECT value FROM json_each(:order_id)", "as": "v",
           "steps": [{"exec": "UPDATE orders SET total = :v_missing"}]}], "steps.0.steps.0.exec",
         "unknown parameter(s) :v_missing"),
        ([{"for_each": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) AS c FROM n",
           "as": "v", "steps": [{"fail": "never"}]}], "steps.0.for_each", "interrupted"),
        ([{"explode": "SELECT 1"}], "steps.0", "a program step needs one of: let, require, exec, fail, if, for_each"),
    ],
)
def test_unsafe_or_broken_program_fails_to_load(steps, where, problem):
    with pytest.raises(SpecError) as info:
        parse_envspec(_spec_with(steps), origin="shop.json")
    message = str(info.value)
    assert message.startswith(f"{PROBE}.{where}: ") or (where == "steps.0" and message.startswith("shop.json: tools.4")), message
    assert problem in message


def test_result_query_is_checked_too():
    with pytest.raises(SpecError, match=r"operation\.result\.query: no such column: colour"):
        parse_envspec(_spec_with([], {"query": "SELECT colour FROM orders", "shape": "rows"}), origin="shop.json")


def test_reserved_argument_names_are_refused():
    with pytest.raises(SpecError, match=r"argument name\(s\) \['now'\] are reserved"):
        parse_envspec(_spec_with([{"let": "x", "query": "SELECT 1"}], props={"now": S}), origin="shop.json")


def _smuggle(runtime: EnvRuntime, steps: list, result: ProgramResult | None = None) -> None:
    """A program that never went through load-time checks, as if a loader had been bypassed."""
    op = ProgramOp.model_construct(kind="program", steps=steps, result=result)
    op._analysis = ProgramAnalysis(reads=frozenset(), writes=frozenset({"orders"}), write_kinds=frozenset(),
                                   bound_names=frozenset({"x"}))
    tool = ToolSpec.model_construct(name="smuggled", description="d", input_schema=_obj({}), output_schema=None,
                                    operation=op)
    runtime.tools["smuggled"] = tool


@pytest.mark.parametrize(
    ("steps", "result", "problem"),
    [
        ([ExecStep.model_construct(exec="UPDATE orders SET total = 0"),
          LetStep.model_construct(let="x", query="SELECT sql FROM sqlite_master")], None,
         "reads 'sqlite_master', which is not a table of this environment"),
        ([ExecStep.model_construct(exec="DELETE FROM orders"),
          ExecStep.model_construct(exec="ATTACH DATABASE ':memory:' AS other")], None, "uses ATTACH"),
        ([ExecStep.model_construct(exec="DELETE FROM order_items"),
          LetStep.model_construct(let="x", query="PRAGMA writable_schema = 1")], None, "uses PRAGMA"),
        ([ExecStep.model_construct(exec="DELETE FROM order_items")],
         ProgramResult.model_construct(query="SELECT load_extension('x')", shape="value", message=None),
         "calls function 'load_extension'"),
        ([ExecStep.model_construct(exec="DELETE FROM order_items"),
          ExecStep.model_construct(exec="UPDATE orders SET total = (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                                        "SELECT i + 1 FROM n) SELECT count(*) FROM n)")], None,
         "exceeded the work limit"),
    ],
)
def test_statement_reaching_runtime_is_refused_and_changes_nothing(steps, result, problem):
    runtime = EnvRuntime(parse_envspec(copy.deepcopy(SHOP)))
    store = EpisodeStore({"shop": runtime})
    episode = store.create("shop")
    before = episode.state_hash()
    _smuggle(runtime, steps, result)
    out = execute_tool(runtime, episode.conn, "smuggled", {})
    assert not out.ok and problem in out.error, out.error
    assert "nothing was changed" in out.error
    assert episode.state_hash() == before
    # The episode still works afterwards, and the authorizer is gone for the hub's own statements.
    assert execute_tool(runtime, episode.conn, "order_lines", {"order_id": "O-1001"}).ok
    assert episode.row_counts()["orders"] == 1
    store.close_all()

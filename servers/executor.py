"""Run a tool call: validate its arguments, interpret its declarative operation on an episode's DB.

Every call is one transaction: a failing step of a sequence (or a failing single write) rolls
back everything the call did. Bad input never raises: `execute_tool` returns an error outcome
whose message says what was wrong in words a model can act on ("order O-17 has status
'delivered'; cancel_order needs status 'pending'"). Values only ever travel as SQL parameters;
identifiers come from the spec, where they were checked against a strict pattern, and are quoted.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from servers.jsonvalues import SQLITE_INT_MAX, SQLITE_INT_MIN, check_argument_values, finite_json_data
from servers.program import ProgramError, run_program
from servers.seedgen import default_prefix, next_key
from servers.semantics import compare
from servers.sorting import column_named, parse_sort_value, sort_direction
from servers.spec import (
    ArgValue,
    ArithValue,
    Column,
    ConstValue,
    DeleteOp,
    FindOp,
    GetOp,
    InsertOp,
    Precondition,
    ProgramOp,
    RefValue,
    SequenceOp,
    SortKey,
    Table,
    ToolSpec,
    UpdateOp,
    Value,
    check_value,
)
from servers.state import EnvRuntime, quote, release_page_cache, to_sql

log = logging.getLogger(__name__)

MAX_FIND_LIMIT = 100
DEFAULT_FIND_LIMIT = 20
MAX_RESULT_CHARS = 64 * 1024

_OP_WORDS = {"eq": "", "ne": "not ", "lt": "< ", "le": "<= ", "gt": "> ", "ge": ">= ", "in": "in ",
             "contains": "containing "}
_SQL_OPS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class ToolError(Exception):
    """A model-readable reason a call cannot be carried out; the transaction is rolled back."""


class _Missing:
    """An optional argument the caller left out (distinct from an explicit null)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass
class ToolOutcome:
    ok: bool
    data: Any
    error: str | None = None
    note: str | None = None  # e.g. that results were cut to fit the size limit

    def to_text(self) -> str:
        if not self.ok:
            return self.error or "error"
        try:
            text = json.dumps(self.data, ensure_ascii=False, separators=(", ", ": "), default=str, allow_nan=False)
        except ValueError:  # a non-finite number in the state: the text must stay JSON all the same
            text = json.dumps(finite_json_data(self.data), ensure_ascii=False, separators=(", ", ": "), default=str)
        if len(text) > MAX_RESULT_CHARS:
            text = (text[:MAX_RESULT_CHARS] + f" … [result truncated: {len(text)} characters, "
                    f"limit {MAX_RESULT_CHARS}; ask for fewer rows or fields]")
        if self.note:
            text += f"\n({self.note})"
        return text


# ---------------------------------------------------------------------------------------------
# Argument validation (servers.validation, compiled once per tool, lazily)
# ---------------------------------------------------------------------------------------------


def _accepts_null(prop: Any) -> bool:
    if not isinstance(prop, dict) or "type" not in prop and not any(k in prop for k in ("anyOf", "oneOf")):
        return True
    kind = prop.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_accepts_null(p) and isinstance(p, dict) and "type" in p
               for p in prop.get("anyOf", []) + prop.get("oneOf", []))


def drop_null_optionals(tool: ToolSpec, arguments: dict) -> dict:
    """Optional arguments sent as null count as left out (models often send null for "not given"),
    unless the schema accepts null for them, where null means "set it to null"."""
    if not any(v is None for v in arguments.values()):
        return arguments
    schema = tool.input_schema
    required = set(schema.get("required", []))
    props = schema.get("properties", {})
    return {
        k: v for k, v in arguments.items()
        if v is not None or k in required or k not in props or _accepts_null(props[k])
    }


def validate_arguments(runtime: EnvRuntime, tool: ToolSpec, arguments: dict) -> str | None:
    return runtime.validators.arguments(tool)(arguments)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


class _Call:
    """The state of one tool call: its arguments, bindings of earlier steps, the connection."""

    def __init__(self, runtime: EnvRuntime, conn: sqlite3.Connection, tool: ToolSpec, arguments: dict):
        self.runtime = runtime
        self.conn = conn
        self.tool = tool
        self.arguments = arguments
        self.bindings: dict[str, Any] = {}
        self.schema_props: dict = tool.input_schema.get("properties", {})

    def value(self, v: Value) -> Any:
        if isinstance(v, ArgValue):
            if v.arg in self.arguments:
                return self.arguments[v.arg]
            if v.default is not None:
                return v.default
            prop = self.schema_props.get(v.arg)
            if isinstance(prop, dict) and "default" in prop:
                return prop["default"]
            return MISSING
        if isinstance(v, ConstValue):
            return v.const
        if isinstance(v, RefValue):
            name, _, field = v.ref.partition(".")
            bound = self.bindings.get(name, MISSING)
            if bound is MISSING:
                raise ToolError(f"internal reference to step '{name}', which has not run")
            if not field:
                return bound
            if not isinstance(bound, dict) or field not in bound:
                raise ToolError(f"step '{name}' has no field '{field}' to refer to")
            return bound[field]
        if isinstance(v, ArithValue):
            left, right = self.value(v.left), self.value(v.right)
            for side in (left, right):
                if side is MISSING or side is None or isinstance(side, bool) or not isinstance(side, (int, float)):
                    raise ToolError(
                        f"cannot {v.op} {_describe(v.left, left)} and {_describe(v.right, right)}: "
                        "both must be numbers"
                    )
            result = {"add": left + right, "sub": left - right, "mul": left * right}[v.op]
            if (isinstance(result, float) and not math.isfinite(result)) or (
                isinstance(result, int) and not SQLITE_INT_MIN <= result <= SQLITE_INT_MAX
            ):
                raise ToolError(f"cannot {v.op} {_describe(v.left, left)} and {_describe(v.right, right)}: "
                                "the result is too large to store")
            # Money arithmetic in binary floats leaves noise (80.04999999999998); cut it off.
            return round(result, 9) if isinstance(result, float) else result
        raise ToolError(f"unsupported value {v!r}")

    def required(self, v: Value, what: str) -> Any:
        value = self.value(v)
        if value is MISSING:
            arg = v.arg if isinstance(v, ArgValue) else what
            raise ToolError(f"missing required argument '{arg}' for tool '{self.tool.name}'")
        return value


def _describe(v: Value, resolved: Any) -> str:
    if isinstance(v, ArgValue):
        return f"argument '{v.arg}' ({'missing' if resolved is MISSING else repr(resolved)})"
    return repr(None if resolved is MISSING else resolved)


def _fit(column: Column, value: Any) -> Any:
    """The value coerced to the column's type where that is lossless; ToolError when it cannot fit."""
    if column.type == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    problem = check_value(column, value)
    if problem:
        raise ToolError(problem)
    return value


def _key_value(table: Table, key: Any) -> Any:
    """A primary key as stored: '17' finds integer key 17."""
    if table.pk_column.type == "integer" and isinstance(key, str) and key.strip().lstrip("-").isdigit():
        return int(key)
    return key


def _label(table: Table) -> str:
    """'orders' -> 'order', for messages like "order O-17 has status ..."."""
    name = table.name
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("ses") or name.endswith("xes"):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------


def _fetch(call: _Call, table: Table, key: Any) -> dict | None:
    cur = call.conn.execute(
        f"SELECT * FROM {quote(table.name)} WHERE {quote(table.primary_key)} = ?", (to_sql(table.pk_column, key),)
    )
    row = cur.fetchone()
    return None if row is None else call.runtime.decode_row(table, row)


def _fetch_required(call: _Call, table: Table, key: Any) -> dict:
    row = _fetch(call, table, key)
    if row is None:
        raise ToolError(f"no {table.name} row with {table.primary_key} {key!r}")
    return row


def _project(row: dict, fields: list[str]) -> dict:
    return {f: row[f] for f in fields} if fields else row


def _check_parents(call: _Call, table: Table, values: dict) -> None:
    """Every foreign key written must point at an existing row."""
    for fk in table.foreign_keys:
        value = values.get(fk.column)
        if value is None or fk.column not in values:
            continue
        ref = call.runtime.tables[fk.ref_table]
        ref_col = ref.column(fk.ref_column)
        assert ref_col is not None
        found = call.conn.execute(
            f"SELECT 1 FROM {quote(ref.name)} WHERE {quote(fk.ref_column)} = ? LIMIT 1", (to_sql(ref_col, value),)
        ).fetchone()
        if found is None:
            raise ToolError(
                f"{fk.column} {value!r} does not exist: no {ref.name} row with {fk.ref_column} {value!r}"
            )


def _check_children(call: _Call, table: Table, row: dict) -> None:
    """A row other rows refer to cannot be deleted (it would leave them pointing at nothing)."""
    for child, fk in call.runtime.referrers.get(table.name, []):
        value = row.get(fk.ref_column)
        if value is None:
            continue
        col = child.column(fk.column)
        assert col is not None
        count = call.conn.execute(
            f"SELECT COUNT(*) FROM {quote(child.name)} WHERE {quote(fk.column)} = ?", (to_sql(col, value),)
        ).fetchone()[0]
        if count:
            raise ToolError(
                f"cannot delete {_label(table)} {row[table.primary_key]!r}: {count} {child.name} row(s) "
                f"refer to it through {fk.column}"
            )


def _check_preconditions(call: _Call, table: Table, key: Any, row: dict, preconditions: list[Precondition]) -> None:
    for pre in preconditions:
        expected = call.value(pre.value)
        if expected is MISSING:
            continue  # a condition on an optional argument the caller left out
        actual = row.get(pre.column)
        if compare(pre.op, actual, expected):
            continue
        if pre.message:
            try:
                raise ToolError(pre.message.format(table=table.name, key=key, column=pre.column,
                                                   actual=actual, expected=expected))
            except (KeyError, IndexError, ValueError):
                raise ToolError(pre.message) from None
        raise ToolError(
            f"{_label(table)} {key} has {pre.column} {actual!r}; {call.tool.name} needs "
            f"{pre.column} {_OP_WORDS[pre.op]}{expected!r}"
        )


def _next_key(call: _Call, table: Table) -> Any:
    pk = table.primary_key
    if table.pk_column.type == "integer":
        keys = call.conn.execute(f"SELECT MAX({quote(pk)}) FROM {quote(table.name)}").fetchall()
    else:
        prefix = default_prefix(table)
        keys = call.conn.execute(
            f"SELECT {quote(pk)} FROM {quote(table.name)} WHERE substr({quote(pk)}, 1, ?) = ?", (len(prefix), prefix)
        ).fetchall()
    return next_key(table, (k for (k,) in keys))


# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------


def _run_get(call: _Call, op: GetOp) -> dict:
    table = call.runtime.tables[op.table]
    key = _key_value(table, call.required(op.key, table.primary_key))
    row = _fetch_required(call, table, key)
    _check_preconditions(call, table, key, row, op.preconditions)
    return _project(row, op.fields)


def _run_find(call: _Call, op: FindOp) -> dict:
    table = call.runtime.tables[op.table]
    where: list[str] = []
    params: list[Any] = []
    for f in op.filters:
        value = call.value(f.value)
        if value is MISSING:
            continue
        column = table.column(f.column)
        assert column is not None
        col = quote(f.column)
        if f.op == "in":
            items = value if isinstance(value, list) else [value]
            if not items:
                where.append("0")
                continue
            where.append(f"{col} IN ({', '.join('?' for _ in items)})")
            params += [to_sql(column, v) for v in items]
        elif f.op == "contains":
            where.append(f"instr(lower(CAST({col} AS TEXT)), lower(?)) > 0")
            params.append(str(value))
        elif value is None and f.op in ("eq", "ne"):
            where.append(f"{col} IS {'NOT ' if f.op == 'ne' else ''}NULL")
        else:
            where.append(f"{col} {_SQL_OPS[f.op]} ?")
            params.append(to_sql(column, value))
    limit = op.limit if isinstance(op.limit, int) else call.value(op.limit)
    if limit is MISSING or limit is None:
        limit = DEFAULT_FIND_LIMIT
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)  # JSON Schema counts 2.0 as an integer; so does the executor
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ToolError(f"limit must be an integer, got {limit!r}")
    limit = max(1, min(limit, MAX_FIND_LIMIT))
    offset = 0 if op.offset is None else op.offset if isinstance(op.offset, int) else call.value(op.offset)
    if offset is MISSING or offset is None:
        offset = 0
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise ToolError(f"offset must be an integer, got {offset!r}")
    order = []
    for key in op.sort:
        column, descending = _sort_term(call, table, key)
        order.append(f"{quote(column)}{' DESC' if descending else ''}")
    order.append(quote(table.primary_key))  # a stable order among equal sort values
    sql = f"SELECT * FROM {quote(table.name)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {', '.join(order)} LIMIT ? OFFSET ?"
    rows = [
        call.runtime.decode_row(table, r)
        for r in call.conn.execute(sql, (*params, limit, max(0, offset))).fetchall()
    ]
    results = [_project(r, op.fields) for r in rows]
    return {"results": results, "count": len(results)}


def _sort_term(call: _Call, table: Table, key: SortKey) -> tuple[str, bool]:
    """The column and direction one sort key orders by in this call."""
    column, descending = key.column, key.descending
    if key.by is not None:
        raw = call.value(key.by)
        parsed = None if raw is MISSING else parse_sort_value(raw)
        if parsed is not None:
            field, stated = parsed
            mapped = key.by_columns.get(str(raw)) or key.by_columns.get(field) or column_named(table, field)
            if mapped is not None:
                column = mapped
            if stated is not None:
                descending = stated
    if key.direction is not None:
        raw = call.value(key.direction)
        stated = None if raw is MISSING else sort_direction(raw)
        if stated is not None:
            descending = stated
    return column, descending


def _run_insert(call: _Call, op: InsertOp) -> dict:
    table = call.runtime.tables[op.table]
    values: dict[str, Any] = {}
    for name, v in op.values.items():
        value = call.value(v)
        if value is not MISSING:
            values[name] = value
    pk = table.primary_key
    if values.get(pk) is None:
        values[pk] = _next_key(call, table)
    else:
        values[pk] = _key_value(table, values[pk])
        if _fetch(call, table, values[pk]) is not None:
            raise ToolError(f"a {table.name} row with {pk} {values[pk]!r} already exists")
    for column in table.columns:
        if column.name in values:
            values[column.name] = _fit(column, values[column.name])
        elif not column.nullable and column.default is None:
            raise ToolError(f"missing value for '{column.name}': {table.name} rows need one")
    _check_parents(call, table, values)
    cols = list(values)
    call.conn.execute(
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [to_sql(table.column(c), values[c]) for c in cols],  # type: ignore[arg-type]
    )
    return _fetch_required(call, table, values[pk])


def _run_update(call: _Call, op: UpdateOp) -> dict:
    table = call.runtime.tables[op.table]
    key = _key_value(table, call.required(op.key, table.primary_key))
    row = _fetch_required(call, table, key)
    _check_preconditions(call, table, key, row, op.preconditions)
    changes: dict[str, Any] = {}
    for name, v in op.set.items():
        value = call.value(v)
        if value is MISSING:
            continue  # optional field the caller did not ask to change
        column = table.column(name)
        assert column is not None
        changes[name] = _fit(column, value)
    if not changes:
        optional = sorted(v.arg for v in op.set.values() if isinstance(v, ArgValue))
        raise ToolError(f"nothing to change: pass at least one of {', '.join(optional) or 'the fields'}")
    _check_parents(call, table, changes)
    assignments = ", ".join(f"{quote(c)} = ?" for c in changes)
    call.conn.execute(
        f"UPDATE {quote(table.name)} SET {assignments} WHERE {quote(table.primary_key)} = ?",
        [*(to_sql(table.column(c), v) for c, v in changes.items()), to_sql(table.pk_column, key)],  # type: ignore[arg-type]
    )
    return _fetch_required(call, table, key)


def _run_delete(call: _Call, op: DeleteOp) -> dict:
    table = call.runtime.tables[op.table]
    if op.many:
        return _run_bulk_delete(call, op, table)
    key = _key_value(table, call.required(op.key, table.primary_key))
    row = _fetch_required(call, table, key)
    _check_preconditions(call, table, key, row, op.preconditions)
    _check_children(call, table, row)
    call.conn.execute(
        f"DELETE FROM {quote(table.name)} WHERE {quote(table.primary_key)} = ?", (to_sql(table.pk_column, key),)
    )
    return row


def _run_bulk_delete(call: _Call, op: DeleteOp, table: Table) -> dict:
    """Delete every row the list of keys names: each must exist and pass the checks a single
    delete makes, else nothing is deleted (the call's transaction rolls back)."""
    given = call.required(op.key, table.primary_key)
    arg = op.key.arg if isinstance(op.key, ArgValue) else table.primary_key
    if not isinstance(given, list) or not given \
            or any(isinstance(k, bool) or not isinstance(k, (str, int)) for k in given):
        raise ToolError(f"'{arg}' must be a non-empty list of {table.primary_key} values, got {given!r}")
    keys = list(dict.fromkeys(_key_value(table, k) for k in given))
    rows = []
    for key in keys:
        row = _fetch_required(call, table, key)
        _check_preconditions(call, table, key, row, op.preconditions)
        rows.append(row)
    for key, row in zip(keys, rows, strict=True):
        _check_children(call, table, row)
        call.conn.execute(
            f"DELETE FROM {quote(table.name)} WHERE {quote(table.primary_key)} = ?", (to_sql(table.pk_column, key),)
        )
    return {"results": rows, "count": len(rows)}


_RUNNERS = {"get": _run_get, "find": _run_find, "insert": _run_insert, "update": _run_update, "delete": _run_delete}


def _run(call: _Call) -> Any:
    op = call.tool.operation
    if isinstance(op, ProgramOp):
        return run_program(call.runtime, call.conn, call.tool, call.arguments)
    if isinstance(op, SequenceOp):
        for step in op.steps:
            call.bindings[step.bind] = _RUNNERS[step.op.kind](call, step.op)
        return call.bindings[op.result or op.steps[-1].bind]
    return _RUNNERS[op.kind](call, op)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def unknown_tool_message(runtime: EnvRuntime, name: Any) -> str:
    names = list(runtime.tools)
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
    shown = close + [n for n in names if n not in close]
    listed = ", ".join(shown[:8]) + (f" (and {len(names) - 8} more)" if len(names) > 8 else "")
    return f"unknown tool {name!r} in environment '{runtime.name}'; valid tools: {listed or 'none'}"


def _cap_find_result(data: Any) -> tuple[Any, str | None]:
    """Drop trailing find results until the JSON text fits MAX_RESULT_CHARS."""
    if not (isinstance(data, dict) and isinstance(data.get("results"), list)):
        return data, None
    size = len(json.dumps(data, ensure_ascii=False, default=str))
    if size <= MAX_RESULT_CHARS:
        return data, None
    results = list(data["results"])
    total = len(results)
    while results and len(json.dumps({**data, "results": results}, ensure_ascii=False, default=str)) > MAX_RESULT_CHARS:
        results = results[: max(0, len(results) * 3 // 4)]
    capped = {**data, "results": results, "count": len(results)}
    return capped, (f"showing {len(results)} of {total} results to stay under {MAX_RESULT_CHARS} characters; "
                    "narrow the filters or lower the limit")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def execute_tool(runtime: EnvRuntime, conn: sqlite3.Connection, name: str, arguments: dict | None) -> ToolOutcome:
    """Validate and run one tool call in one transaction; never raises for bad input."""
    tool = runtime.tools.get(name) if isinstance(name, str) else None
    if tool is None:
        return ToolOutcome(ok=False, data=None, error=unknown_tool_message(runtime, name))
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return ToolOutcome(ok=False, data=None,
                           error=f"arguments for tool '{name}' must be a JSON object, got {type(arguments).__name__}")
    arguments = drop_null_optionals(tool, arguments)
    arguments, problem = check_argument_values(tool.input_schema, arguments)
    if problem:
        return ToolOutcome(ok=False, data=None, error=problem)
    try:
        problem = validate_arguments(runtime, tool, arguments)
    except Exception as err:  # a schema that even jsonschema cannot use
        log.exception("argument validation failed for tool %s", name)
        return ToolOutcome(ok=False, data=None, error=f"tool '{name}' has an unusable input schema ({type(err).__name__})")
    if problem:
        return ToolOutcome(ok=False, data=None, error=problem)
    try:
        return _execute_in_transaction(_Call(runtime, conn, tool, arguments))
    finally:
        release_page_cache(conn)


def _size_budget_message(conn: sqlite3.Connection, name: str) -> str:
    pages, page_size = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("max_page_count", "page_size"))
    return (f"'{name}' would grow this episode's data beyond its size budget of {pages * page_size} bytes; "
            "nothing was changed. Write smaller values or delete rows you no longer need")


def _execute_in_transaction(call: _Call) -> ToolOutcome:
    conn, name = call.conn, call.tool.name
    try:
        conn.execute("BEGIN")
    except sqlite3.Error as err:
        return ToolOutcome(ok=False, data=None, error=f"the episode's database is not usable ({err})")
    try:
        data = _run(call)
    except (ToolError, ProgramError) as err:
        _rollback(conn)
        return ToolOutcome(ok=False, data=None, error=str(err))
    except sqlite3.OperationalError as err:
        _rollback(conn)  # SQLITE_FULL has rolled the transaction back already
        if err.sqlite_errorcode != sqlite3.SQLITE_FULL:
            log.exception("tool %s failed unexpectedly", name)
            return ToolOutcome(ok=False, data=None,
                               error=f"internal error while running tool '{name}' (OperationalError); nothing was changed")
        return ToolOutcome(ok=False, data=None, error=_size_budget_message(conn, name))
    except Exception as err:
        _rollback(conn)
        log.exception("tool %s failed unexpectedly", name)
        return ToolOutcome(ok=False, data=None,
                           error=f"internal error while running tool '{name}' ({type(err).__name__}); nothing was changed")
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as err:
        _rollback(conn)
        return ToolOutcome(ok=False, data=None, error=f"could not save the changes of '{name}' ({err}); nothing was changed")
    data, note = _cap_find_result(data)
    return ToolOutcome(ok=True, data=data, error=None, note=note)

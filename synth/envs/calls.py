"""Valid arguments for a tool call, drawn from an environment's state.

Walks a tool's operation to learn what each argument is for (a table's key, a filter on a
column, a value to store) and picks values that make the call meaningful: keys of rows that
exist (and that satisfy the operation's constant preconditions), filter values copied from a
real row, new values that differ from what a row holds, foreign keys that resolve. Used by the
quality gate; every candidate is deterministic in its `attempt` number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servers.spec import (
    ArgValue,
    ArithValue,
    Column,
    ConstValue,
    DeleteOp,
    EnvSpec,
    FindOp,
    GetOp,
    InsertOp,
    Precondition,
    ProgramOp,
    Table,
    ToolSpec,
    UpdateOp,
    Value,
    simple_ops,
)

Rows = dict[str, list[dict[str, Any]]]
# Real request bodies nest deeply (AWS); required members below this depth are not filled.
MAX_EXAMPLE_DEPTH = 10


@dataclass
class _Roles:
    """What the operation does with each argument."""

    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # arg -> (table, op kind)
    filters: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # arg -> (table, column, op)
    values: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # arg -> (table, column, kind)
    limits: set[str] = field(default_factory=set)
    preconditions: dict[str, list[Precondition]] = field(default_factory=dict)  # table -> checks


def _arg(value: Value | int) -> str | None:
    return value.arg if isinstance(value, ArgValue) else None


def _roles(tool: ToolSpec) -> _Roles:
    roles = _Roles()
    op = tool.operation
    ops = simple_ops(op)  # none for a program
    for sop in ops:
        if isinstance(sop, (GetOp, UpdateOp, DeleteOp)) and (a := _arg(sop.key)):
            roles.keys.setdefault(a, (sop.table, sop.kind))
        if isinstance(sop, FindOp):
            for f in sop.filters:
                if a := _arg(f.value):
                    roles.filters.setdefault(a, (sop.table, f.column, f.op))
            if a := _arg(sop.limit):
                roles.limits.add(a)
        if isinstance(sop, InsertOp):
            for col, v in sop.values.items():
                for a in _value_args(v):
                    roles.values.setdefault(a, (sop.table, col, "insert"))
        if isinstance(sop, UpdateOp):
            for col, v in sop.set.items():
                for a in _value_args(v):
                    roles.values.setdefault(a, (sop.table, col, "update"))
        if isinstance(sop, (UpdateOp, DeleteOp)) and sop.preconditions:
            roles.preconditions.setdefault(sop.table, []).extend(sop.preconditions)
    return roles


def _value_args(value: Value) -> list[str]:
    if isinstance(value, ArgValue):
        return [value.arg]
    if isinstance(value, ArithValue):
        return _value_args(value.left) + _value_args(value.right)
    return []


def _meets(row: dict[str, Any], checks: list[Precondition]) -> bool:
    """Whether a row passes the constant preconditions (argument-valued ones are not known yet)."""
    for p in checks:
        if not isinstance(p.value, ConstValue):
            continue
        actual, expected = row.get(p.column), p.value.const
        ok = {
            "eq": actual == expected, "ne": actual != expected,
            "in": isinstance(expected, list) and actual in expected,
        }.get(p.op, True)
        if not ok:
            return False
    return True


def _has_children(spec: EnvSpec, rows: Rows, table: Table, key: Any) -> bool:
    for other in spec.tables:
        for fk in other.foreign_keys:
            if fk.ref_table == table.name and any(r.get(fk.column) == key for r in rows.get(other.name, [])):
                return True
    return False


def _candidate_rows(spec: EnvSpec, rows: Rows, table: str, kind: str, checks: list[Precondition]) -> list[dict]:
    t = spec.table(table)
    pool = [r for r in rows.get(table, []) if r.get(t.primary_key) is not None]
    good = [r for r in pool if _meets(r, checks)]
    if kind == "delete":
        free = [r for r in good if not _has_children(spec, rows, t, r[t.primary_key])]
        good = free or good
    return good or pool


def example_value(schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """A value that validates against a (cleaned) JSON Schema."""
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    t = schema.get("type")
    if t == "integer":
        return max(1, int(schema.get("minimum", 1) or 1))
    if t == "number":
        return float(max(1, schema.get("minimum", 1) or 1))
    if t == "boolean":
        return True
    if t == "array":
        item = example_value(schema.get("items") or {"type": "string"}, name, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1) or 1))
    if t == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if depth >= MAX_EXAMPLE_DEPTH:
            return {}
        return {k: example_value(props[k], k, depth + 1) for k in schema.get("required", []) if k in props}
    text = f"example-{name or 'value'}"
    low, high = int(schema.get("minLength", 0) or 0), schema.get("maxLength")
    if isinstance(high, int) and high >= 0:
        text = text[:high]
    return text + "x" * max(0, low - len(text))


def fresh_value(column: Column, current: Any, attempt: int, schema: dict[str, Any]) -> Any:
    """A value for `column` that differs from `current` and fits both the column and the argument schema."""
    choices = schema.get("enum") if isinstance(schema.get("enum"), list) else None
    if column.type == "enum" or choices:
        options = [v for v in (choices or column.enum or []) if v != current] or list(choices or column.enum or [])
        return options[attempt % len(options)] if options else current
    if column.type == "boolean":
        return not bool(current)
    if column.type == "integer":
        return (current + 1 + attempt) if isinstance(current, int) and not isinstance(current, bool) else 7 + attempt
    if column.type == "number":
        return round(current + 1.5 + attempt, 2) if isinstance(current, (int, float)) else 12.5 + attempt
    if column.type == "date":
        return f"2026-0{1 + attempt % 9}-1{attempt % 10}"
    return f"updated {column.name.replace('_', ' ')} {attempt + 1}"


def plan_arguments(spec: EnvSpec, tool: ToolSpec, rows: Rows, attempt: int) -> dict[str, Any] | None:
    """Arguments for one call of `tool`, or None when the state has no row to call it on."""
    if isinstance(tool.operation, ProgramOp):
        # A program's rules are SQL checks: find a call it accepts by trying candidates on a copy.
        from synth.envs.program_calls import plan_program_arguments

        return plan_program_arguments(spec, tool, rows, attempt)
    roles = _roles(tool)
    props: dict[str, Any] = tool.input_schema.get("properties", {})
    required = set(tool.input_schema.get("required", []))
    args: dict[str, Any] = {}
    chosen: dict[str, dict] = {}  # table -> the row this call works on

    for arg, (table, kind) in roles.keys.items():
        pool = _candidate_rows(spec, rows, table, kind, roles.preconditions.get(table, []))
        if not pool:
            return None
        row = pool[attempt % len(pool)]
        chosen[table] = row
        args[arg] = row[spec.table(table).primary_key]
    # A nested record's parent in the path (`order_id` of an order item) is the chosen row's own.
    for table, checks in roles.preconditions.items():
        row = chosen.get(table)
        for p in checks:
            if row is not None and p.op == "eq" and isinstance(p.value, ArgValue) and p.value.arg not in args:
                args[p.value.arg] = row.get(p.column)
    for arg, (table, column, _op) in roles.filters.items():
        pool = rows.get(table, [])
        row = chosen.get(table) or (pool[attempt % len(pool)] if pool else None)
        if row is None:
            continue
        chosen.setdefault(table, row)
        value = row.get(column)
        if value is not None:
            args[arg] = value
    for arg in roles.limits:
        schema = props.get(arg, {})
        low, high = schema.get("minimum"), schema.get("maximum")
        value = 5 if not isinstance(low, (int, float)) else max(5, int(low) + (0 if low == int(low) else 1))
        args[arg] = min(value, int(high)) if isinstance(high, (int, float)) else value
    for arg, (table, column, kind) in roles.values.items():
        t = spec.table(table)
        col = t.column(column)
        if col is None:
            continue
        fk = next((f for f in t.foreign_keys if f.column == column), None)
        current = chosen.get(table, {}).get(column)
        if fk is not None:
            parents = [r.get(fk.ref_column) for r in rows.get(fk.ref_table, []) if r.get(fk.ref_column) is not None]
            different = [p for p in parents if p != current] or parents
            if different:
                args[arg] = different[attempt % len(different)]
            continue
        if column == t.primary_key and kind == "insert":
            existing = {r.get(column) for r in rows.get(table, [])}
            value: Any = (max((k for k in existing if isinstance(k, int)), default=0) + 100 + attempt) \
                if col.type == "integer" else f"{t.id_prefix or 'ID-'}{9001 + attempt}"
            args[arg] = value
            continue
        args[arg] = fresh_value(col, current, attempt, props.get(arg, {}))
    for name in required:
        if name not in args and name in props:
            args[name] = example_value(props[name], name)
    return {k: v for k, v in args.items() if k in props}

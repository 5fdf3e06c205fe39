"""Directed tool dependencies: which tool's output can provide another tool's id argument.

`find_orders` returns rows of `orders` carrying `order_id`, so it feeds `get_order(order_id)`
and `cancel_order(order_id)`; `get_order` returns `customer_id` (a foreign key to customers),
so it feeds `get_customer(customer_id)`; `create_order` returns the new order's key. Only key
and foreign-key arguments are linked: those are the values an agent cannot invent and must
obtain from an earlier call, which is what task generation walks.
"""

from __future__ import annotations

from typing import Any

from servers.spec import (
    ArgValue,
    DeleteOp,
    EnvSpec,
    FindOp,
    GetOp,
    InsertOp,
    ProgramOp,
    SequenceOp,
    ToolDependency,
    ToolSpec,
    UpdateOp,
    simple_ops,
)


def _result_op(tool: ToolSpec) -> Any:
    op = tool.operation
    if isinstance(op, SequenceOp):
        wanted = op.result or op.steps[-1].bind
        return next(s.op for s in op.steps if s.bind == wanted)
    return op


def key_arguments(spec: EnvSpec, tool: ToolSpec) -> dict[str, tuple[str, str]]:
    """Argument -> (table, key column) for every argument that carries some table's key."""
    out: dict[str, tuple[str, str]] = {}
    ops = simple_ops(tool.operation)  # none for a program
    for op in ops:
        table = spec.table(op.table)
        fks = {fk.column: fk for fk in table.foreign_keys}

        def note(column: str, value: Any, table: Any = table, fks: dict = fks) -> None:
            if not isinstance(value, ArgValue) or value.arg in out:
                return
            if column == table.primary_key:
                out[value.arg] = (table.name, table.primary_key)
            elif column in fks:
                out[value.arg] = (fks[column].ref_table, fks[column].ref_column)

        if isinstance(op, (GetOp, UpdateOp, DeleteOp)):
            note(table.primary_key, op.key)
        if isinstance(op, FindOp):
            for f in op.filters:
                if f.op == "eq":
                    note(f.column, f.value)
        if isinstance(op, InsertOp):
            for column, value in op.values.items():
                if column != table.primary_key:
                    note(column, value)
        if isinstance(op, UpdateOp):
            for column, value in op.set.items():
                note(column, value)
    return out


def _provided(spec: EnvSpec, tool: ToolSpec) -> dict[tuple[str, str], str]:
    """(table, key column) -> the column of this tool's output that carries that key."""
    op = _result_op(tool)
    if isinstance(op, (DeleteOp, ProgramOp)):  # a program's result shape is its own SQL: not derived
        return {}
    table = spec.table(op.table)
    fields = set(getattr(op, "fields", []) or [])
    out: dict[tuple[str, str], str] = {}
    if not fields or table.primary_key in fields:
        out[(table.name, table.primary_key)] = table.primary_key
    for fk in table.foreign_keys:
        if not fields or fk.column in fields:
            out.setdefault((fk.ref_table, fk.ref_column), fk.column)
    return out


def derive_dependencies(spec: EnvSpec) -> list[ToolDependency]:
    needs = {t.name: key_arguments(spec, t) for t in spec.tools}
    gives = {t.name: _provided(spec, t) for t in spec.tools}
    required_keys = {
        t.name: {key for arg, key in needs[t.name].items() if arg in t.input_schema.get("required", [])}
        for t in spec.tools
    }
    deps: list[ToolDependency] = []
    for target in spec.tools:
        for argument, key in needs[target.name].items():
            for source in spec.tools:
                if source.name == target.name:
                    continue
                column = gives[source.name].get(key)
                # A tool that already needs this key as input cannot be where the key comes from.
                if column is None or key in required_keys[source.name]:
                    continue
                deps.append(ToolDependency(source=source.name, target=target.name, argument=argument, column=column))
    return deps

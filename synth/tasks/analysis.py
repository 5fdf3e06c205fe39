"""What each tool of an EnvSpec reads, writes and returns, worked out from its declarative operation.

Task generation needs to know, per tool argument, which table column it addresses and in what
role (the key of the row a write touches, a search filter, a value to insert, an amount that is
added to a balance...), and, per tool, which table its result comes from and whether it is one
row or a list. The operation language makes all of this static, so it is computed once per spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from servers.spec import (
    WRITE_KINDS,
    ArgValue,
    ArithValue,
    DeleteOp,
    EnvSpec,
    FindOp,
    GetOp,
    InsertOp,
    Precondition,
    ProgramOp,
    SequenceOp,
    SimpleOp,
    Table,
    ToolSpec,
    UpdateOp,
    Value,
)

Role = Literal["key", "filter", "value", "set", "arith", "precondition", "limit"]

# When one argument plays several roles, the first in this order decides how it is drawn.
# An amount that is both subtracted from a balance and recorded is drawn as an amount the balance bears.
ROLE_PRIORITY: tuple[Role, ...] = ("key", "filter", "arith", "set", "value", "precondition", "limit")


@dataclass(frozen=True)
class ArgTarget:
    """One place an argument is used: `table.column` in `role` (with the filter/precondition op)."""

    role: Role
    table: str
    column: str | None
    op: str = "eq"
    # For arithmetic: the column the result is written to and how (e.g. balance, "sub").
    arith: str | None = None
    # The simple operation's kind the use belongs to (get/find/insert/update/delete).
    kind: str = ""


@dataclass
class ToolShape:
    """The static facts about one tool that walks, argument drawing and goals rely on."""

    tool: ToolSpec
    read_only: bool
    # The kind that characterises the tool: its first write step's kind, else its result step's.
    kind: str
    # The table of that characteristic step.
    table: str
    # The table the result rows come from, whether it is a list ({"results","count"}) or one row,
    # and which columns a result row carries.
    output_table: str
    output_is_list: bool
    output_columns: list[str]
    targets: dict[str, list[ArgTarget]] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    preconditions: list[tuple[str, Precondition]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.tool.name

    def primary_target(self, arg: str) -> ArgTarget | None:
        uses = self.targets.get(arg, [])
        for role in ROLE_PRIORITY:
            for use in uses:
                if use.role == role:
                    return use
        return None

    def key_arg(self) -> str | None:
        """The argument naming the row the characteristic step works on (get/update/delete)."""
        for arg, uses in self.targets.items():
            for use in uses:
                if use.role == "key" and use.table == self.table:
                    return arg
        return None


def _columns(table: Table, fields: list[str]) -> list[str]:
    return list(fields) if fields else [c.name for c in table.columns]


def _value_uses(value: Value | int, role: Role, table: str, column: str | None, op: str, kind: str) -> list[tuple[str, ArgTarget]]:
    if isinstance(value, ArgValue):
        return [(value.arg, ArgTarget(role, table, column, op, kind=kind))]
    if isinstance(value, ArithValue):
        uses: list[tuple[str, ArgTarget]] = []
        for side in (value.left, value.right):
            if isinstance(side, ArgValue):
                uses.append((side.arg, ArgTarget("arith", table, column, op, arith=value.op, kind=kind)))
            elif isinstance(side, ArithValue):
                uses += _value_uses(side, "arith", table, column, op, kind)
        return uses
    return []


def _op_uses(sop: SimpleOp) -> list[tuple[str, ArgTarget]]:
    t, k = sop.table, sop.kind
    uses: list[tuple[str, ArgTarget]] = []
    if isinstance(sop, (GetOp, UpdateOp, DeleteOp)):
        uses += _value_uses(sop.key, "key", t, None, "eq", k)
    if isinstance(sop, FindOp):
        for f in sop.filters:
            uses += _value_uses(f.value, "filter", t, f.column, f.op, k)
        if not isinstance(sop.limit, int):
            uses += _value_uses(sop.limit, "limit", t, None, "eq", k)
    if isinstance(sop, InsertOp):
        for col, v in sop.values.items():
            uses += _value_uses(v, "value", t, col, "eq", k)
    if isinstance(sop, UpdateOp):
        for col, v in sop.set.items():
            uses += _value_uses(v, "set", t, col, "eq", k)
    if isinstance(sop, (UpdateOp, DeleteOp)):
        for p in sop.preconditions:
            uses += _value_uses(p.value, "precondition", t, p.column, p.op, k)
    return uses


def analyse_tool(spec: EnvSpec, tool: ToolSpec) -> ToolShape:
    op = tool.operation
    if isinstance(op, ProgramOp):
        from synth.tasks.program_analysis import program_shape

        return program_shape(spec, tool)
    steps: list[tuple[str | None, SimpleOp]] = (
        [(s.bind, s.op) for s in op.steps] if isinstance(op, SequenceOp) else [(None, op)]
    )
    result_op = steps[-1][1]
    if isinstance(op, SequenceOp) and op.result is not None:
        result_op = next(s for b, s in steps if b == op.result)
    writes = [s for _, s in steps if s.kind in WRITE_KINDS]
    main = writes[0] if writes else result_op
    result_table = spec.table(result_op.table)
    fields = result_op.fields if isinstance(result_op, (GetOp, FindOp)) else []
    shape = ToolShape(
        tool=tool,
        read_only=not writes,
        kind="sequence" if isinstance(op, SequenceOp) and len(writes) > 1 else main.kind,
        table=main.table,
        output_table=result_op.table,
        output_is_list=isinstance(result_op, FindOp),
        output_columns=_columns(result_table, fields),
        required=list(tool.input_schema.get("required", [])),
        properties=dict(tool.input_schema.get("properties", {})),
    )
    for _, sop in steps:
        for arg, target in _op_uses(sop):
            shape.targets.setdefault(arg, []).append(target)
        if isinstance(sop, (UpdateOp, DeleteOp)):
            shape.preconditions += [(sop.table, p) for p in sop.preconditions]
    return shape


def analyse(spec: EnvSpec) -> dict[str, ToolShape]:
    return {tool.name: analyse_tool(spec, tool) for tool in spec.tools}

"""The static facts task generation needs about a `program` tool, read from its SQL.

A program's arguments are `:name` parameters of SQL statements. What walks and argument drawing
need is coarser than what the program does: which table the call acts on (the row its exec
steps address by key), whether it inserts, updates or deletes there, which arguments name a
row by its key (`order_id` is the key of `orders`), which are values stored in a column of
that table, and which table the result rows come from. Rules need not be understood here: gold
calls run on the runtime, which enforces them, and a call a program refuses is redrawn.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from servers.program import program_writes
from servers.spec import EnvSpec, ExecStep, ForEachStep, IfStep, ProgramOp, ToolSpec

if TYPE_CHECKING:
    from synth.tasks.analysis import ArgTarget, ToolShape

_EXEC = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)\"?", re.I)
_KEYED = re.compile(r"\bWHERE\s+\"?(\w+)\"?\s*=\s*:(\w+)", re.I)
_FROM = re.compile(r"\bFROM\s+\"?(\w+)\"?", re.I)
_INSERT_COLUMNS = re.compile(r"^\s*INSERT\s+INTO\s+\"?\w+\"?\s*\(([^)]*)\)", re.I)
_SET_COLUMN = re.compile(r"\b(\w+)\s*=\s*(?:COALESCE\s*\(\s*)?:(\w+)", re.I)
_KIND = {"insert": "insert", "update": "update", "delete": "delete"}


def _execs(steps: list) -> list[str]:
    out: list[str] = []
    for step in steps:
        if isinstance(step, ExecStep):
            out.append(step.exec)
        elif isinstance(step, IfStep):
            out += _execs(step.then) + _execs(step.else_)
        elif isinstance(step, ForEachStep):
            out += _execs(step.steps)
    return out


def _main_write(spec: EnvSpec, tool: ToolSpec, execs: list[str]) -> tuple[str, str] | None:
    """(kind, table) of the write that characterises the call: a delete, else an insert, else the
    update of the row an argument names by its key (`cancel_booking` updates the booking, not
    the flight whose seats it releases)."""
    args = set(tool.input_schema.get("properties", {}))
    parsed = []
    for sql in execs:
        m = _EXEC.match(sql)
        if m is None:
            continue
        kind = _KIND[m.group(1).split()[0].lower()]
        table = m.group(2)
        keyed = any(col == spec.table(table).primary_key and arg in args for col, arg in _KEYED.findall(sql))
        parsed.append((kind, table, keyed))
    for wanted in ("delete", "insert"):
        for kind, table, _ in parsed:
            if kind == wanted:
                return kind, table
    for kind, table, keyed in parsed:
        if keyed:
            return kind, table
    return (parsed[0][0], parsed[0][1]) if parsed else None


def program_shape(spec: EnvSpec, tool: ToolSpec) -> ToolShape:
    from synth.tasks.analysis import ArgTarget, ToolShape

    op = tool.operation
    assert isinstance(op, ProgramOp)
    execs = _execs(op.steps)
    main = _main_write(spec, tool, execs)
    result_sql = op.result.query if op.result is not None else ""
    result_tables = [t for t in _FROM.findall(result_sql) if t in {x.name for x in spec.tables}]
    written = sorted(program_writes(op))
    output_table = result_tables[0] if result_tables else (main[1] if main else (written[0] if written else spec.tables[0].name))
    kind, table = main if main else ("get" if op.result is None or op.result.shape != "rows" else "find", output_table)
    props = dict(tool.input_schema.get("properties", {}))
    shape = ToolShape(
        tool=tool,
        read_only=not execs,
        kind=kind,
        table=table,
        output_table=output_table,
        output_is_list=op.result is not None and op.result.shape == "rows",
        output_columns=[c.name for c in spec.table(output_table).columns],
        required=list(tool.input_schema.get("required", [])),
        properties=props,
    )
    by_key = {t.primary_key: t.name for t in spec.tables}
    stored: dict[str, str] = {}  # argument -> column of the main table it is written to
    for sql in execs:
        m = _EXEC.match(sql)
        if m is None or m.group(2) != table:
            continue
        columns = _INSERT_COLUMNS.match(sql)
        if columns is not None:
            for column in (c.strip().strip('"') for c in columns.group(1).split(",")):
                if column in props:
                    stored.setdefault(column, column)
        for column, arg in _SET_COLUMN.findall(sql):
            if arg in props and spec.table(table).column(column) is not None:
                stored.setdefault(arg, column)
    for arg in props:
        targets: list[ArgTarget] = []
        if arg in by_key and not (kind == "insert" and by_key[arg] == table):
            targets.append(ArgTarget("key", by_key[arg], None, "eq", kind="get" if by_key[arg] != table else kind))
        elif arg in stored:
            role = "value" if kind == "insert" else "set"
            targets.append(ArgTarget(role, table, stored[arg], "eq", kind=kind))
        if targets:
            shape.targets[arg] = targets
    return shape

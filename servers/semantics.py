"""What an operation does: the one place that reads the operation language for meaning.

For a tool of an EnvSpec this module answers what the operation reads and writes, what it
requires (preconditions), what it returns (one row or a list, of which table, with which
columns), and what each argument is for: the key of the row a step works on, a search filter,
a value to store, an amount in arithmetic, a precondition, a result limit. The spec checks, the
MCP annotations, the quality gate, the dependency graph and task generation all ask here, so
that they cannot disagree about what a call does; `compare` is the meaning of the comparison
operators, shared with the executor, which is the truth about what a call does.

A kind of operation plugs in at one place: a function that turns one operation of that kind
into its `Step`s (`_STEPS`). Everything else is worked out from the steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from servers.spec import (
    ArgValue,
    ArithValue,
    DeleteOp,
    EnvSpec,
    ExecStep,
    FindOp,
    ForEachStep,
    GetOp,
    IfStep,
    InsertOp,
    Operation,
    Precondition,
    ProgramOp,
    SequenceOp,
    SimpleOp,
    ToolSpec,
    UpdateOp,
    Value,
)

Role = Literal["key", "filter", "value", "set", "arith", "precondition", "limit", "paging"]
# Where in a step an argument is read: the row's key, a filter, the limit, a value of a new row,
# a new value of an existing row, or a precondition.
# `paging` is the sort field/direction and offset a find reads from the call (ingest's paging roles).
Clause = Literal["key", "filter", "limit", "values", "set", "precondition", "paging"]

# When one argument plays several roles, the first in this order decides how it is drawn.
# An amount that is both subtracted from a balance and recorded is drawn as an amount the balance bears.
ROLE_PRIORITY: tuple[Role, ...] = ("key", "filter", "arith", "set", "value", "precondition", "limit", "paging")
_CLAUSE_ROLE: dict[Clause, Role] = {"key": "key", "filter": "filter", "limit": "limit", "values": "value",
                                    "set": "set", "precondition": "precondition", "paging": "paging"}


# ---------------------------------------------------------------------------------------------
# Comparisons (filters and preconditions)
# ---------------------------------------------------------------------------------------------


def compare(op: str, actual: Any, expected: Any) -> bool:
    """Whether `actual op expected` holds: what a precondition checks, and what a filter keeps.

    `in` needs a list; `contains` is a case-insensitive substring test on the text of a value;
    an order comparison with a missing value, or between values of different types, is false.
    A filter runs as SQL, where a null column matches nothing: it keeps a row when the column is
    not null and this holds (the one difference: `ne` accepts a null column in a precondition).
    """
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op == "in":
        return isinstance(expected, list) and actual in expected
    if op == "contains":
        return actual is not None and str(expected).lower() in str(actual).lower()
    if actual is None or expected is None:
        return False
    try:
        return {"lt": actual < expected, "le": actual <= expected, "gt": actual > expected,
                "ge": actual >= expected}[op]
    except TypeError:
        return False


def meets_const_preconditions(row: dict[str, Any], preconditions: list[Precondition]) -> bool:
    """Whether `row` passes the preconditions that compare against constants (the others depend
    on arguments, which are not known before the call)."""
    for p in preconditions:
        const = getattr(p.value, "const", _MISSING)
        if const is not _MISSING and not compare(p.op, row.get(p.column), const):
            return False
    return True


_MISSING = object()


# ---------------------------------------------------------------------------------------------
# Steps: one table operation each
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArgUse:
    """One place an argument is used: `table.column` in `role` (with the filter/precondition op).

    A key use has no column (it addresses the row by the table's primary key)."""

    role: Role
    table: str
    column: str | None
    op: str = "eq"
    # For arithmetic: how the amount is combined with the other operand (add/sub/mul).
    arith: str | None = None
    # The kind of the step the use belongs to (get/find/insert/update/delete).
    kind: str = ""
    clause: Clause = "key"

    @property
    def many(self) -> bool:
        """Whether the argument is a list of keys (a bulk delete's ids), not one key."""
        return self.role == "key" and self.op == "in"


class Read(NamedTuple):
    """One value a step reads: where (`clause`), for which column (None for the key and the limit),
    compared how (`op`, for filters and preconditions)."""

    clause: Clause
    column: str | None
    op: str
    value: Value

    @property
    def argument(self) -> str | None:
        """The argument the value is, when it is a plain argument (not arithmetic, a constant...)."""
        return self.value.arg if isinstance(self.value, ArgValue) else None


@dataclass(slots=True)
class Step:
    """What one table operation does (built for every check of a spec: plain slots, no freezing)."""

    kind: str
    table: str
    bind: str | None = None
    writes: bool = False
    deletes: bool = False
    # Whether the step's result is a list of rows ({"results", "count"}) rather than one row.
    returns_list: bool = False
    # Only these columns in the result (all when empty).
    fields: tuple[str, ...] = ()
    # Columns the step names (they must exist), in the order the spec checks them.
    columns: tuple[str, ...] = ()
    # Columns of an existing row that the step gives new values.
    updated_columns: tuple[str, ...] = ()
    # Every value the step reads, in the order it reads them.
    reads: tuple[Read, ...] = ()
    preconditions: tuple[Precondition, ...] = ()
    # A write a program makes besides the one that characterises the call (the stock a cancelled
    # order releases, the payment row a refund records): it does not make the tool a "sequence".
    side_effect: bool = False

    def uses(self) -> list[tuple[str, ArgUse]]:
        """(argument, use) for every argument the step reads, in the order the step reads them."""
        return [pair for r in self.reads for pair in _value_uses(r.value, r.clause, self.table, r.column, r.op, self.kind)]

    def reads_of(self, *clauses: Clause) -> list[Read]:
        return [r for r in self.reads if r.clause in clauses]


def _value_uses(value: Value | int, clause: Clause, table: str, column: str | None, op: str,
                kind: str) -> list[tuple[str, ArgUse]]:
    if isinstance(value, ArgValue):
        return [(value.arg, ArgUse(_CLAUSE_ROLE[clause], table, column, op, kind=kind, clause=clause))]
    if isinstance(value, ArithValue):
        uses: list[tuple[str, ArgUse]] = []
        for side in (value.left, value.right):
            if isinstance(side, ArgValue):
                uses.append((side.arg, ArgUse("arith", table, column, op, arith=value.op, kind=kind, clause=clause)))
            elif isinstance(side, ArithValue):
                uses += _value_uses(side, clause, table, column, op, kind)
        return uses
    return []


def _get_step(op: GetOp, bind: str | None) -> Step:
    reads = [Read("key", None, "eq", op.key)]
    reads += [Read("precondition", p.column, p.op, p.value) for p in op.preconditions]
    return Step("get", op.table, bind, fields=tuple(op.fields),
                columns=(*op.fields, *(p.column for p in op.preconditions)),
                reads=tuple(reads), preconditions=tuple(op.preconditions))


def _find_step(op: FindOp, bind: str | None) -> Step:
    reads = [Read("filter", f.column, f.op, f.value) for f in op.filters]
    if not isinstance(op.limit, int):
        reads.append(Read("limit", None, "eq", op.limit))
    reads += [Read("paging", None, "eq", v) for s in op.sort for v in (s.by, s.direction) if v is not None]
    if op.offset is not None and not isinstance(op.offset, int):
        reads.append(Read("paging", None, "eq", op.offset))
    columns = [*op.fields, *(f.column for f in op.filters), *(s.column for s in op.sort),
               *(c for s in op.sort for c in s.by_columns.values())]
    return Step("find", op.table, bind, returns_list=True, fields=tuple(op.fields), columns=tuple(columns),
                reads=tuple(reads))


def _insert_step(op: InsertOp, bind: str | None) -> Step:
    return Step("insert", op.table, bind, writes=True, columns=tuple(op.values),
                reads=tuple(Read("values", c, "eq", v) for c, v in op.values.items()))


def _update_step(op: UpdateOp, bind: str | None) -> Step:
    reads = [Read("key", None, "eq", op.key)]
    reads += [Read("set", c, "eq", v) for c, v in op.set.items()]
    reads += [Read("precondition", p.column, p.op, p.value) for p in op.preconditions]
    return Step("update", op.table, bind, writes=True, columns=(*op.set, *(p.column for p in op.preconditions)),
                updated_columns=tuple(op.set), reads=tuple(reads), preconditions=tuple(op.preconditions))


def _delete_step(op: DeleteOp, bind: str | None) -> Step:
    # A bulk delete reads a list of keys (`in`) and returns the deleted rows as a list.
    reads = [Read("key", None, "in" if op.many else "eq", op.key)]
    reads += [Read("precondition", p.column, p.op, p.value) for p in op.preconditions]
    return Step("delete", op.table, bind, writes=True, deletes=True, returns_list=op.many,
                columns=tuple(p.column for p in op.preconditions), reads=tuple(reads),
                preconditions=tuple(op.preconditions))


_SIMPLE_STEPS: dict[str, Callable[[Any, str | None], Step]] = {
    "get": _get_step, "find": _find_step, "insert": _insert_step, "update": _update_step, "delete": _delete_step,
}


def _simple(op: SimpleOp) -> list[Step]:
    return [_SIMPLE_STEPS[op.kind](op, None)]


def _sequence(op: SequenceOp) -> list[Step]:
    return [_SIMPLE_STEPS[s.op.kind](s.op, s.bind) for s in op.steps]


# ---------------------------------------------------------------------------------------------
# Programs: what walks, argument planning and the gate need, read from the SQL
# ---------------------------------------------------------------------------------------------
# A program's arguments are `:name` parameters of SQL statements, and its rules are SQL checks the
# runtime enforces (a call they refuse is redrawn or dropped), so what is read here is coarser than
# what the program does: the table it acts on (the row its exec steps address by key), whether it
# inserts, updates or deletes there, which arguments name a row by its key, which are values stored
# in a column of that table, and which table the result rows come from. The tables a program
# touches are exact (the authorizer saw them when the spec loaded: servers.program).

_EXEC = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)\"?", re.I)
_KEYED = re.compile(r"\bWHERE\s+\"?(\w+)\"?\s*=\s*:(\w+)", re.I)
_FROM = re.compile(r"\bFROM\s+\"?(\w+)\"?", re.I)
_INSERT_COLUMNS = re.compile(r"^\s*INSERT\s+INTO\s+\"?\w+\"?\s*\(([^)]*)\)", re.I)
_SET_COLUMN = re.compile(r"\b(\w+)\s*=\s*(?:COALESCE\s*\(\s*)?:(\w+)", re.I)


def _program_execs(steps_: list) -> list[str]:
    out: list[str] = []
    for step in steps_:
        if isinstance(step, ExecStep):
            out.append(step.exec)
        elif isinstance(step, IfStep):
            out += _program_execs(step.then) + _program_execs(step.else_)
        elif isinstance(step, ForEachStep):
            out += _program_execs(step.steps)
    return out


def _exec_targets(execs: list[str]) -> list[tuple[str, str, str]]:
    """(kind, table, sql) of every exec statement, in program order."""
    out = []
    for sql in execs:
        m = _EXEC.match(sql)
        if m is not None:
            out.append((m.group(1).split()[0].lower(), m.group(2), sql))
    return out


def _program(op: ProgramOp) -> list[Step]:
    """Without the spec's tables: one write step per exec statement's table (enough for read_only,
    deletes and the tables written); `tool_semantics` reads the arguments too."""
    seen: dict[str, Step] = {}
    for kind, table, _ in _exec_targets(_program_execs(op.steps)):
        step = seen.get(table)
        if step is None:
            seen[table] = Step(kind, table, writes=True, deletes=kind == "delete")
        elif kind == "delete":
            step.deletes = True
    return list(seen.values())


def _main_write(spec: EnvSpec, args: set[str], targets: list[tuple[str, str, str]]) -> tuple[str, str] | None:
    """(kind, table) of the write that characterises the call: a delete, else an insert, else the
    update of the row an argument names by its key (`cancel_booking` updates the booking, not
    the flight whose seats it releases)."""
    for wanted in ("delete", "insert"):
        for kind, table, _ in targets:
            if kind == wanted:
                return kind, table
    for kind, table, sql in targets:
        if any(col == spec.table(table).primary_key and arg in args for col, arg in _KEYED.findall(sql)):
            return kind, table
    return (targets[0][0], targets[0][1]) if targets else None


def _program_steps(spec: EnvSpec, tool: ToolSpec) -> tuple[list[Step], Step]:
    """The steps of a program tool as walks and planners see them, and its result step."""
    from servers.program import program_writes

    op = tool.operation
    assert isinstance(op, ProgramOp)
    props = dict(tool.input_schema.get("properties", {}))
    targets = _exec_targets(_program_execs(op.steps))
    main = _main_write(spec, set(props), targets)
    table_names = {t.name for t in spec.tables}
    result_sql = op.result.query if op.result is not None else ""
    result_tables = [t for t in _FROM.findall(result_sql) if t in table_names]
    written = sorted(program_writes(op))
    output_table = result_tables[0] if result_tables else (main[1] if main else (written[0] if written else spec.tables[0].name))
    returns_list = op.result is not None and op.result.shape == "rows"
    kind, table = main if main else ("find" if returns_list else "get", output_table)
    by_key = {t.primary_key: t.name for t in spec.tables}
    stored: dict[str, str] = {}  # argument -> column of the main table it is written to
    for _, target, sql in targets:
        if target != table:
            continue
        columns = _INSERT_COLUMNS.match(sql)
        if columns is not None:
            for column in (c.strip().strip('"') for c in columns.group(1).split(",")):
                if column in props:
                    stored.setdefault(column, column)
        for column, arg in _SET_COLUMN.findall(sql):
            if arg in props and spec.table(table).column(column) is not None:
                stored.setdefault(arg, column)
    lookups: list[Step] = []
    main_reads: list[Read] = []
    for arg in props:
        keyed = by_key.get(arg)
        if keyed is not None and not (kind == "insert" and keyed == table):
            read = Read("key", None, "eq", ArgValue(arg=arg))
            if keyed == table:
                main_reads.append(read)
            else:
                lookups.append(Step("get", keyed, reads=(read,)))
        elif arg in stored:
            main_reads.append(Read("values" if kind == "insert" else "set", stored[arg], "eq", ArgValue(arg=arg)))
    result = Step("find" if returns_list else "get", output_table, bind="result", returns_list=returns_list)
    if main is None:
        return [*lookups, result], result
    main_step = Step(kind, table, writes=True, deletes=kind == "delete", reads=tuple(main_reads),
                     updated_columns=tuple(r.column for r in main_reads if r.clause == "set" and r.column))
    others = [Step("update", t, writes=True, side_effect=True) for t in written if t != table]
    return [*lookups, main_step, *others, result], result


def is_program(op: Operation) -> bool:
    """Whether the operation's rules are SQL checks (a program) rather than shorthand preconditions."""
    return op.kind == "program"


# Operation kind -> its steps. A new kind of operation plugs in here.
_STEPS: dict[str, Callable[[Any], list[Step]]] = {
    "get": _simple, "find": _simple, "insert": _simple, "update": _simple, "delete": _simple,
    "sequence": _sequence, "program": _program,
}


def steps(op: Operation) -> list[Step]:
    """The table operations `op` runs, in order."""
    of_kind = _STEPS.get(op.kind)
    if of_kind is None:
        raise ValueError(f"unknown operation kind {op.kind!r}")
    return of_kind(op)


def result_step(op: Operation) -> Step:
    """The step whose result the tool returns (a sequence's `result`, else its last step)."""
    all_steps = steps(op)
    wanted = getattr(op, "result", None)
    if isinstance(wanted, str):  # a sequence's named result (a program's result is its own query)
        return next(s for s in all_steps if s.bind == wanted)
    return all_steps[-1]


def writes(op: Operation) -> bool:
    return any(s.writes for s in steps(op))


def read_only(op: Operation) -> bool:
    return not writes(op)


def deletes(op: Operation) -> bool:
    """Whether the operation may delete rows (an MCP client's `destructiveHint`)."""
    return any(s.deletes for s in steps(op))


def written_tables(op: Operation) -> list[str]:
    return sorted({s.table for s in steps(op) if s.writes})


def deleted_tables(op: Operation) -> set[str]:
    return {s.table for s in steps(op) if s.deletes}


def preconditions(op: Operation) -> list[tuple[str, Precondition]]:
    """(table, precondition) for every check the operation makes before it writes."""
    return [(s.table, p) for s in steps(op) for p in s.preconditions]


def without_preconditions(op: Operation) -> Operation | None:
    """The operation with no preconditions, or None when it has none to drop (the quality gate's
    repair for a seed where no row meets them). A new kind with preconditions drops them here too."""
    if not preconditions(op):
        return None
    if isinstance(op, SequenceOp):
        return op.model_copy(update={"steps": [
            s.model_copy(update={"op": _drop_preconditions(s.op)}) for s in op.steps]})
    return _drop_preconditions(op)


def _drop_preconditions(op: Any) -> Any:
    return op.model_copy(update={"preconditions": []}) if getattr(op, "preconditions", None) else op


# ---------------------------------------------------------------------------------------------
# Tools: the facts walks, argument planning, goals and the gate rely on
# ---------------------------------------------------------------------------------------------


@dataclass
class ToolSemantics:
    """The static facts about one tool of a spec."""

    tool: ToolSpec
    read_only: bool
    # The kind that characterises the tool: its first write step's kind, else its result step's
    # ("sequence" for several writes).
    kind: str
    # The table of that characteristic step.
    table: str
    # The table the result rows come from, whether it is a list ({"results","count"}) or one row,
    # and which columns a result row carries.
    output_table: str
    output_is_list: bool
    output_columns: list[str]
    # Whether the result step deletes its row (its keys then lead nowhere).
    output_deleted: bool
    steps: list[Step]
    uses: dict[str, list[ArgUse]] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    preconditions: list[tuple[str, Precondition]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.tool.name

    @property
    def searches(self) -> bool:
        """Whether the tool is a search: its point is to find rows by filters."""
        return self.kind == "find" or (self.read_only and self.output_is_list)

    def primary_use(self, arg: str) -> ArgUse | None:
        """The use that decides what an argument is (ROLE_PRIORITY), or None when no step reads it."""
        uses = self.uses.get(arg, [])
        for role in ROLE_PRIORITY:
            for use in uses:
                if use.role == role:
                    return use
        return None

    def key_arg(self) -> str | None:
        """The argument naming the row the characteristic step works on (get/update/delete)."""
        for arg, uses in self.uses.items():
            for use in uses:
                if use.role == "key" and use.table == self.table:
                    return arg
        return None

    def first_uses(self, *clauses: Clause, direct: bool = True) -> dict[str, ArgUse]:
        """Argument -> its first use in one of `clauses`; `direct`: only arguments used as the value
        itself, not as an operand of arithmetic."""
        out: dict[str, ArgUse] = {}
        for arg, use in self._ordered_uses():
            if use.clause in clauses and (not direct or use.role != "arith"):
                out.setdefault(arg, use)
        return out

    def _ordered_uses(self) -> list[tuple[str, ArgUse]]:
        return [pair for step in self.steps for pair in step.uses()]

    def references(self, spec: EnvSpec) -> dict[str, tuple[str, str]]:
        """Argument -> (table, key column) for every argument that carries some table's key: a
        row's key, an equality filter on a key or foreign key, a foreign key stored in a row."""
        out: dict[str, tuple[str, str]] = {}
        for arg, use in self._ordered_uses():
            if arg in out or use.role not in ("key", "filter", "value", "set") or (use.role == "filter" and use.op != "eq"):
                continue
            table = spec.table(use.table)
            column = table.primary_key if use.role == "key" else use.column
            if column == table.primary_key and use.role != "value":
                out[arg] = (table.name, table.primary_key)
                continue
            fks = {fk.column: fk for fk in table.foreign_keys}
            if column in fks and column != table.primary_key:
                out[arg] = (fks[column].ref_table, fks[column].ref_column)
        return out

    def provided_keys(self, spec: EnvSpec) -> dict[tuple[str, str], str]:
        """(table, key column) -> the column of this tool's result that carries that key."""
        if self.output_deleted:
            return {}
        table = spec.table(self.output_table)
        out: dict[tuple[str, str], str] = {}
        if table.primary_key in self.output_columns:
            out[(table.name, table.primary_key)] = table.primary_key
        for fk in table.foreign_keys:
            if fk.column in self.output_columns:
                out.setdefault((fk.ref_table, fk.ref_column), fk.column)
        return out


def tool_semantics(spec: EnvSpec, tool: ToolSpec) -> ToolSemantics:
    if is_program(tool.operation):
        all_steps, result = _program_steps(spec, tool)
    else:
        all_steps, result = steps(tool.operation), result_step(tool.operation)
    writing = [s for s in all_steps if s.writes and not s.side_effect]
    main = writing[0] if writing else result
    result_table = spec.table(result.table)
    sem = ToolSemantics(
        tool=tool,
        read_only=not any(s.writes for s in all_steps),
        kind="sequence" if len(writing) > 1 else main.kind,
        table=main.table,
        output_table=result.table,
        output_is_list=result.returns_list,
        output_columns=list(result.fields) if result.fields else [c.name for c in result_table.columns],
        output_deleted=result.deletes,
        steps=all_steps,
        required=list(tool.input_schema.get("required", [])),
        properties=dict(tool.input_schema.get("properties", {})),
    )
    for step in all_steps:
        for arg, use in step.uses():
            sem.uses.setdefault(arg, []).append(use)
        sem.preconditions += [(step.table, p) for p in step.preconditions]
    return sem


def spec_semantics(spec: EnvSpec) -> dict[str, ToolSemantics]:
    return {tool.name: tool_semantics(spec, tool) for tool in spec.tools}

"""Arguments for tool calls, planned from an environment's state: the one argument planner.

What each argument is for comes from `servers.semantics` (a row's key, a search filter, a value
to store, an amount...), and the planner picks values that make the call meaningful: keys of
rows that exist and meet the operation's constant preconditions (`servers.semantics.compare`,
the executor's own comparison), filter values copied from a real row, new values that differ
from what a row holds, foreign keys that resolve, new keys by the runtime's key rule
(`servers.seedgen.next_key`).

Two callers want different calls from it, so it has two entry points over the same pieces:

- `probe_arguments` (the quality gate) exercises a tool: deterministic in its `attempt`
  number, it fills every argument the operation reads, so the whole schema is tried once;
- `ArgumentDrawer` (task generation) draws what a user would ask: seeded, it says one or two
  things a person would change, anchors searches on one real row and keeps amounts within
  what a balance bears.
"""

from __future__ import annotations

import random
from typing import Any

from servers.seedgen import next_key, next_keys
from servers.semantics import ArgUse, ToolSemantics, is_program, meets_const_preconditions
from servers.spec import Column, EnvSpec, Precondition, Table

from .values import example_value, fresh_value, from_schema, new_value, schema_fit

Rows = dict[str, list[dict[str, Any]]]
_MISSING: Any = object()


# ---------------------------------------------------------------------------------------------
# Pieces both entry points use
# ---------------------------------------------------------------------------------------------


def rows_meeting(rows: list[dict[str, Any]], preconditions: list[Precondition]) -> list[dict[str, Any]]:
    """The rows a write with these preconditions can act on (as far as constants tell)."""
    return [r for r in rows if meets_const_preconditions(r, preconditions)]


def _keys(table: Table, rows: Rows) -> list[Any]:
    return [r.get(table.primary_key) for r in rows.get(table.name, [])]


def _parent_keys(table: Table, column: str, rows: Rows) -> list[Any] | None:
    """The keys a foreign-key column may point at, or None when the column is no foreign key."""
    fk = next((f for f in table.foreign_keys if f.column == column), None)
    if fk is None:
        return None
    return [r.get(fk.ref_column) for r in rows.get(fk.ref_table, []) if r.get(fk.ref_column) is not None]


def _has_children(spec: EnvSpec, rows: Rows, table: Table, key: Any) -> bool:
    for other in spec.tables:
        for fk in other.foreign_keys:
            if fk.ref_table == table.name and any(r.get(fk.column) == key for r in rows.get(other.name, [])):
                return True
    return False


def _table_checks(sem: ToolSemantics, table: str) -> list[Precondition]:
    return [p for t, p in sem.preconditions if t == table]


# ---------------------------------------------------------------------------------------------
# The gate's probe
# ---------------------------------------------------------------------------------------------


def _probe_rows(spec: EnvSpec, rows: Rows, use: ArgUse, checks: list[Precondition]) -> list[dict]:
    t = spec.table(use.table)
    pool = [r for r in rows.get(use.table, []) if r.get(t.primary_key) is not None]
    good = rows_meeting(pool, checks)
    if use.kind == "delete":
        free = [r for r in good if not _has_children(spec, rows, t, r[t.primary_key])]
        good = free or good
    # No row meets the preconditions: call anyway, the failure is what the gate reports.
    return good or pool


def probe_arguments(spec: EnvSpec, sem: ToolSemantics, rows: Rows, attempt: int) -> dict[str, Any] | None:
    """Arguments for one probe call of a tool, or None when the state has no row to call it on."""
    if is_program(sem.tool.operation):
        # A program's rules are SQL checks: find a call it accepts by trying candidates on a copy.
        from .program import plan_program_arguments

        return plan_program_arguments(spec, sem.tool, rows, attempt)
    props = sem.properties
    args: dict[str, Any] = {}
    chosen: dict[str, dict] = {}  # table -> the row this call works on

    for arg, use in sem.first_uses("key").items():
        pool = _probe_rows(spec, rows, use, _table_checks(sem, use.table))
        if not pool:
            return None
        row = pool[attempt % len(pool)]
        chosen[use.table] = row
        pk = spec.table(use.table).primary_key
        if use.many:
            # A bulk delete's list of keys: two rows where the state has them, so the call shows
            # that it acts on every key it is given.
            second = pool[(attempt + 1) % len(pool)]
            args[arg] = list(dict.fromkeys([row[pk], second[pk]]))
            continue
        args[arg] = row[pk]
    for arg, use in sem.first_uses("filter").items():
        pool = rows.get(use.table, [])
        row = chosen.get(use.table) or (pool[attempt % len(pool)] if pool else None)
        if row is None:
            continue
        chosen.setdefault(use.table, row)
        value = row.get(use.column or "")
        if value is not None:
            args[arg] = value
    # A check tied to an argument (a nested record's parent in the path: the `order_id` of an order
    # item) takes the chosen row's own value.
    for arg, use in sem.first_uses("precondition").items():
        row = chosen.get(use.table)
        if arg not in args and use.op == "eq" and row is not None and use.column:
            args[arg] = row.get(use.column)
    for arg in sem.first_uses("limit"):
        schema = props.get(arg, {})
        low, high = schema.get("minimum"), schema.get("maximum")
        value = 5 if not isinstance(low, (int, float)) else max(5, int(low) + (0 if low == int(low) else 1))
        args[arg] = min(value, int(high)) if isinstance(high, (int, float)) else value
    for arg, use in sem.first_uses("values", "set", direct=False).items():
        t = spec.table(use.table)
        col = t.column(use.column or "")
        if col is None:
            continue
        current = chosen.get(use.table, {}).get(col.name)
        parents = _parent_keys(t, col.name, rows)
        if parents is not None:
            different = [p for p in parents if p != current] or parents
            if different:
                args[arg] = different[attempt % len(different)]
            continue
        if col.name == t.primary_key and use.clause == "values":
            args[arg] = next_keys(t, _keys(t, rows), attempt + 1)[-1]
            continue
        args[arg] = fresh_value(col, current, attempt, props.get(arg, {}))
    for name in sem.required:
        if name not in args and name in props:
            args[name] = example_value(props[name], name)
    return {k: v for k, v in args.items() if k in props}


def _listed(value: Any) -> list[Any]:
    """The keys a key argument gives: its value, or the values of a bulk delete's list."""
    return [v for v in value if not isinstance(v, (list, dict))] if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------------------------
# Task generation's drawer
# ---------------------------------------------------------------------------------------------


class ArgumentDrawer:
    """Draws one call's arguments for a tool, given the state and the values earlier steps fed in."""

    def __init__(self, spec: EnvSpec, rng: random.Random):
        self.spec = spec
        self.rng = rng

    def draw(self, sem: ToolSemantics, rows: Rows, fed: dict[str, Any]) -> dict[str, Any] | None:
        """The arguments, or None when the state offers nothing to act on (no row, no candidate)."""
        rng = self.rng
        args: dict[str, Any] = dict(fed)
        # Rows the call works on, by table: keys first, because amounts and new values depend on them.
        context: dict[str, dict[str, Any]] = {}
        for arg, value in fed.items():
            use = sem.primary_use(arg)
            if use is not None and use.role == "key":
                if use.many and not isinstance(value, list):
                    # The one record an earlier step found, handed to a bulk delete's list of keys.
                    value = args[arg] = [value]
                row = self._row_by_key(use.table, rows, value[0] if use.many and value else value)
                if row is not None:
                    context.setdefault(use.table, row)
        taken: dict[str, set[Any]] = {}
        for arg in sem.properties:
            use = sem.primary_use(arg)
            if arg in args or use is None or use.role != "key":
                continue
            table = self.spec.table(use.table)
            pres = _table_checks(sem, use.table)
            used = taken.setdefault(use.table, {k for a in args if (u := sem.primary_use(a)) and u.role == "key"
                                                and u.table == use.table for k in _listed(args[a])})
            candidates = [r for r in rows_meeting(rows.get(use.table, []), pres)
                          if r.get(table.primary_key) not in used]
            if not candidates:
                return None
            row = rng.choice(candidates)
            args[arg] = [row[table.primary_key]] if use.many else row[table.primary_key]
            used.add(row[table.primary_key])
            context.setdefault(use.table, row)
        if sem.searches and not self._draw_filters(sem, rows, args):
            return None
        # A person changes one or two things at a time, not every optional field of a record.
        optional_sets = [a for a in sem.properties if a not in args and a not in sem.required
                         and (u := sem.primary_use(a)) is not None and u.role == "set"]
        rng.shuffle(optional_sets)
        required_sets = [a for a in sem.required if (u := sem.primary_use(a)) is not None and u.role == "set"]
        skipped_sets = set(optional_sets[(0 if required_sets else 1) + (1 if rng.random() < 0.3 else 0):])
        for arg in sem.properties:
            if arg in args or arg in skipped_sets:
                continue
            use = sem.primary_use(arg)
            required = arg in sem.required
            value = self._draw_other(sem, arg, use, required, rows, context)
            if value is _MISSING or (not required and value in ("", [], {}, None)):
                if required:
                    return None
                continue
            args[arg] = value
        for arg, value in list(args.items()):
            if arg not in fed:
                args[arg] = schema_fit(sem.properties.get(arg, {}), value, rng)
        return args

    # -- pieces ---------------------------------------------------------------------------------

    def _row_by_key(self, table_name: str, rows: Rows, key: Any) -> dict[str, Any] | None:
        pk = self.spec.table(table_name).primary_key
        return next((r for r in rows.get(table_name, []) if r.get(pk) == key), None)

    def _draw_filters(self, sem: ToolSemantics, rows: Rows, args: dict[str, Any]) -> bool:
        """Filter values taken from one real row so the search finds it; at least one filter."""
        filters = [(a, sem.primary_use(a)) for a in sem.properties if a not in args]
        filters = [(a, u) for a, u in filters if u is not None and u.role == "filter" and u.column]
        if not filters:
            return True
        required = [(a, u) for a, u in filters if a in sem.required]
        optional = [(a, u) for a, u in filters if a not in sem.required]
        self.rng.shuffle(optional)
        # Equality filters on short values read as natural requests ("my pending orders").
        optional.sort(key=lambda au: 0 if au[1].op in ("eq", "in") else 1)
        chosen = required + optional[: (0 if required else 1) + (1 if self.rng.random() < 0.3 else 0)]
        table_rows = rows.get(chosen[0][1].table, []) if chosen else []
        if not table_rows:
            return not required
        anchor = self.rng.choice(table_rows)
        for arg, use in chosen:
            value = anchor.get(use.column or "")
            if value is None or isinstance(value, bool) and use.op not in ("eq", "ne"):
                if arg in sem.required:
                    return False
                continue
            if use.op == "contains":
                words = [w for w in str(value).split() if len(w) > 2] or [str(value)]
                value = self.rng.choice(words)
            elif use.op == "in":
                value = [value]
            elif use.op == "ne":
                column = self.spec.table(use.table).column(use.column or "")
                if column is None:
                    continue
                value = new_value(column, self.rng, [r.get(column.name) for r in table_rows], avoid=value)
            args[arg] = value
        return True

    def _draw_other(self, sem: ToolSemantics, arg: str, use: ArgUse | None, required: bool,
                    rows: Rows, context: dict[str, dict[str, Any]]) -> Any:
        rng = self.rng
        schema = sem.properties.get(arg, {})
        if use is None:
            return from_schema(schema, rng, arg) if required else _MISSING
        table = self.spec.table(use.table)
        column = table.column(use.column) if use.column else None
        existing = [r.get(use.column) for r in rows.get(use.table, [])] if use.column else []
        row = context.get(use.table)
        if use.role == "filter":
            return _MISSING if not required else (rng.choice([v for v in existing if v is not None] or [None]) if existing else _MISSING)
        if use.role == "limit":
            return 10 if required else _MISSING
        if use.role == "paging":
            # Sort and offset shape a listing; a task states them only when the API demands them.
            return from_schema(schema, rng, arg) if required else _MISSING
        if use.role == "set":
            if column is None:
                return _MISSING
            return new_value(column, rng, existing, avoid=row.get(column.name) if row else None)
        if use.role == "value":
            if column is None:
                return _MISSING
            if column.name == table.primary_key:
                return next_key(table, _keys(table, rows)) if required else _MISSING
            refs = _parent_keys(table, column.name, rows)
            if refs is not None:
                return rng.choice(refs) if refs else _MISSING
            # Optional fields of a new record are mostly left out, as a person filling a form would.
            if not required and column.nullable and rng.random() < 0.75:
                return _MISSING
            return new_value(column, rng, existing)
        if use.role == "arith":
            return self._amount(use, column, row, schema)
        if use.role == "precondition":
            current = row.get(use.column) if row and use.column else None
            if use.op in ("eq", "le", "ge", "in") and current is not None:
                return [current] if use.op == "in" else current
            return from_schema(schema, rng, arg) if required else _MISSING
        return _MISSING

    def _amount(self, use: ArgUse, column: Column | None, row: dict[str, Any] | None, schema: dict[str, Any]) -> Any:
        """An amount for `column = column (+|-|*) amount` that the row can bear."""
        rng = self.rng
        integer = schema.get("type") == "integer" or (column is not None and column.type == "integer" and schema.get("type") != "number")
        if use.arith == "mul":
            return rng.randint(1, 4)
        current = row.get(use.column) if row and use.column else None
        if isinstance(current, (int, float)) and not isinstance(current, bool) and current > 1:
            top = current * (0.5 if use.arith == "sub" else 1.0)
            if integer:
                # Counts (items, seats) are small in real requests, whatever the stock.
                return rng.randint(1, max(1, min(3, int(top))))
            # Round amounts read like what a person asks for ("send 40"), and JSON keeps them ints.
            return int(round(rng.uniform(max(1.0, top * 0.1), max(1.0, top))))
        if integer:
            return rng.randint(1, 5)
        return rng.choice([10, 20, 25, 40, 50, 75, 100])

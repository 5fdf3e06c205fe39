"""Arguments for a call of a `program` tool: found by trying candidate calls on a scratch copy.

A program's rules (the order must be pending, the item must belong to the order, the amount
must equal the amount due) are SQL checks, not shorthand preconditions a planner can read.
Rather than guess at them, the planner proposes candidate calls built from the state (keys of
rows that exist, a child's parent key taken from the child row, numbers taken from columns that
share the argument's name, dates in argument order) and runs each on an in-memory copy of the
rows, in a transaction that is rolled back; the first call the program accepts is the answer.
Candidates are tried in an order rotated by `attempt`, so later attempts try other rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

from servers.executor import execute_tool
from servers.semantics import is_program, writes
from servers.spec import EnvSpec, Table, ToolSpec
from servers.state import EnvRuntime, canonical_state_hash

Rows = dict[str, list[dict[str, Any]]]
# Candidate calls tried per plan; each is one rolled-back transaction on a small in-memory copy.
MAX_TRIES = 160
# Rows per key argument considered when several keys are combined, and key combinations drawn from.
MAX_ROWS_PER_KEY = 24
MAX_COMBINATIONS = 4096
_FIRST_DATE = dt.date(2026, 3, 2)
_RUNTIMES: dict[int, tuple[EnvSpec, EnvRuntime]] = {}


def _runtime(spec: EnvSpec) -> EnvRuntime:
    cached = _RUNTIMES.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    if len(_RUNTIMES) >= 8:
        _RUNTIMES.pop(next(iter(_RUNTIMES)))
    runtime = EnvRuntime(spec, template_cache_size=1)
    _RUNTIMES[id(spec)] = (spec, runtime)
    return runtime


def _key_tables(spec: EnvSpec, tool: ToolSpec) -> dict[str, Table]:
    """Argument -> the table whose primary key it is named after (`order_id` -> orders)."""
    by_key = {t.primary_key: t for t in spec.tables}
    return {arg: by_key[arg] for arg in tool.input_schema.get("properties", {}) if arg in by_key}


def _words(name: str) -> set[str]:
    return {w for w in name.lower().split("_") if w and w not in {"id", "of", "the"}}


def _value_candidates(arg: str, schema: dict[str, Any], rows: list[dict[str, Any]], date_index: int,
                      attempt: int) -> list[Any]:
    """Values to try for a non-key argument, the likeliest first."""
    kind = schema.get("type")
    out: list[Any] = []
    if "default" in schema and schema["default"] is not None:
        out.append(schema["default"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        values = list(schema["enum"])
        shift = attempt % len(values)
        out += values[shift:] + values[:shift]
        return list(dict.fromkeys(out))
    if kind == "boolean":
        return list(dict.fromkeys(out + [True, False]))
    if kind in ("integer", "number"):
        # A number the state already holds under a similar name (`amount` <- `amount_due`).
        for row in rows:
            for column, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and _words(column) & _words(arg):
                    out.append(value if kind == "number" else int(value))
        out += [1, 2, 5] if kind == "integer" else [1.0, 10.0]
        return list(dict.fromkeys(out))
    words = _words(arg)
    if words & {"date", "on", "for", "until", "expiry", "day"} or arg.endswith(("_date", "_on", "_at")):
        out.append((_FIRST_DATE + dt.timedelta(days=7 * attempt + 3 * date_index)).isoformat())
    if "email" in words:
        out.append(f"{arg.replace('_', '.')}{attempt + 1}@example.com")
    if words & {"time", "start", "end"} and not out:
        out.append(f"{9 + 2 * date_index:02d}:00")
    out.append(f"example {arg.replace('_', ' ')} {attempt + 1}")
    return list(dict.fromkeys(out))


def _rotated(pool: list[dict[str, Any]], attempt: int) -> list[dict[str, Any]]:
    if not pool:
        return pool
    shift = attempt % len(pool)
    return (pool[shift:] + pool[:shift])[:MAX_ROWS_PER_KEY]


def _key_choices(keys: dict[str, Table], rows: Rows, attempt: int) -> list[dict[str, Any]]:
    """Assignments of the key arguments, rows rotated by `attempt`. First those where a key that
    a chosen row refers to (`order_item.order_id`) is taken from that row, as a parent in the
    path must be; then every key drawn on its own (`change_booking_flight` needs another flight
    than the booking's)."""
    derived: dict[str, tuple[str, str]] = {}  # key arg -> (other key arg, column of its row)
    for arg, table in keys.items():
        for fk in table.foreign_keys:
            if fk.column in keys and fk.column != arg and fk.ref_table == keys[fk.column].name:
                derived.setdefault(fk.column, (arg, fk.column))
    pools = {arg: _rotated([r for r in rows.get(t.name, []) if r.get(t.primary_key) is not None], attempt)
             for arg, t in keys.items()}
    out: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    for free in ([a for a in keys if a not in derived], list(keys)):
        combos = list(itertools.islice(itertools.product(*[pools[a] or [None] for a in free]), MAX_COMBINATIONS))
        # Several keys vary together: a seeded shuffle, so the first tries are not all one row.
        if len(free) > 1:
            random.Random(attempt).shuffle(combos)
        for combo in combos:
            chosen = {arg: row for arg, row in zip(free, combo, strict=True)}
            values = {arg: row[keys[arg].primary_key] for arg, row in chosen.items() if row is not None}
            for arg, (source, column) in derived.items():
                row = chosen.get(source)
                if arg not in values and row is not None and row.get(column) is not None:
                    values[arg] = row[column]
            marker = tuple(sorted((k, repr(v)) for k, v in values.items()))
            if marker in seen:
                continue
            seen.add(marker)
            out.append({"values": values, "rows": [r for r in chosen.values() if r is not None]})
            if len(out) >= MAX_TRIES:
                return out
    return out


def plan_program_arguments(spec: EnvSpec, tool: ToolSpec, rows: Rows, attempt: int) -> dict[str, Any] | None:
    """Arguments the tool's program accepts on `rows`, or None when no candidate is accepted."""
    assert is_program(tool.operation)
    props: dict[str, Any] = tool.input_schema.get("properties", {})
    keys = _key_tables(spec, tool)
    runtime = _runtime(spec)
    conn = runtime.build_connection(rows)
    writing = writes(tool.operation)
    before = canonical_state_hash(runtime.read_rows(conn), spec) if writing else ""
    tries = 0
    try:
        for choice in _key_choices(keys, rows, attempt):
            others = [a for a in props if a not in choice["values"]]
            dates = [a for a in others if props[a].get("type") == "string"]
            options = [
                _value_candidates(a, props[a] if isinstance(props[a], dict) else {}, choice["rows"],
                                  dates.index(a) if a in dates else 0, attempt)
                for a in others
            ]
            # One argument varied at a time from the likeliest values: a handful of calls per key choice.
            base = [o[0] for o in options]
            variants = [base] + [base[:i] + [v] + base[i + 1:] for i, o in enumerate(options) for v in o[1:4]]
            for values in variants:
                args = {**choice["values"], **dict(zip(others, values, strict=True))}
                outcome = execute_tool(runtime, conn, tool.name, args)
                tries += 1
                if outcome.ok:
                    if not writing:
                        return args
                    after = canonical_state_hash(runtime.read_rows(conn), spec)
                    if after != before:
                        return args
                    # Accepted but a no-op (the booking is already in that room): a probe of a
                    # write must show the write, so keep looking.
                if tries >= MAX_TRIES:
                    return None
        return None
    finally:
        conn.close()

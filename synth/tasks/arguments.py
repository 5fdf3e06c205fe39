"""Drawing plausible tool arguments from an episode's current state.

Keys name rows that exist (and meet the write's preconditions), search filters are taken from
one real row so the search finds something, new values fit their column (enum members, dates,
numbers in the column's range, strings that look like the column's content) and differ from
the value they replace, and amounts stay within what a balance or stock allows.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any

from servers.spec import Column, EnvSpec, Precondition, Table, check_value

from .analysis import ArgTarget, ToolShape

Rows = dict[str, list[dict[str, Any]]]

_FIRST = ["Ana", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam",
          "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yara"]
_LAST = ["Alvarez", "Brown", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
         "Kowalski", "Lopez", "Müller", "Nakamura", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Weber"]
_CITIES = ["Lisbon", "Denver", "Osaka", "Toronto", "Nairobi", "Oslo", "Austin", "Porto", "Seattle", "Lyon",
           "Madrid", "Boston", "Dublin", "Vienna", "Chicago", "Zurich"]
_COUNTRIES = ["Portugal", "Canada", "Japan", "Kenya", "Norway", "Spain", "Ireland", "Austria", "Germany"]
_STREETS = ["Maple Street", "Harbor Road", "Oak Avenue", "Station Lane", "Park Place", "River Drive"]
_COMPANIES = ["Northwind Traders", "Blue Harbor Ltd", "Acme Supplies", "Greenfield Co", "Summit Labs"]
_PHRASES = ["arrives too late", "no longer needed", "ordered by mistake", "found a better option",
            "change of plans", "duplicate request", "please handle with care", "urgent for Friday",
            "gift for a friend", "needed for the team offsite", "wrong size", "schedule conflict"]
_TITLES = ["Quarterly review", "Team offsite", "Spring update", "Product launch", "Weekly sync",
           "Budget plan", "Customer visit", "Design notes"]
_WORDS = ["amber", "cedar", "delta", "ember", "falcon", "harbor", "iris", "juniper", "lumen", "meadow",
          "nova", "orbit", "pine", "quartz", "river", "sierra", "tundra", "willow"]

_NUMERIC_SUFFIX = re.compile(r"^(.*?)(\d+)$")


def _words(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower()))


def new_string(column: Column, rng: random.Random, existing: list[Any]) -> str:
    """A new value that looks like the column's content, from its name and its current values."""
    w = _words(column.name)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    if "email" in w or "mail" in w:
        return f"{first.lower()}.{last.lower().replace('ü', 'u')}@example.com"
    if w & {"phone", "mobile", "tel", "telephone"}:
        return f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if w & {"first", "firstname", "given"}:
        return first
    if w & {"last", "lastname", "surname", "family"}:
        return last
    if w & {"name", "owner", "holder", "passenger", "customer", "author", "contact", "assignee", "user"}:
        return f"{first} {last}"
    if w & {"city", "origin", "destination", "town"}:
        return rng.choice(_CITIES)
    if "country" in w:
        return rng.choice(_COUNTRIES)
    if w & {"address", "street"}:
        return f"{rng.randint(1, 250)} {rng.choice(_STREETS)}"
    if w & {"company", "vendor", "supplier", "merchant", "organization", "org"}:
        return rng.choice(_COMPANIES)
    if w & {"reason", "note", "notes", "comment", "comments", "message", "description", "memo", "remarks"}:
        return rng.choice(_PHRASES)
    if w & {"title", "subject", "summary", "label"}:
        return rng.choice(_TITLES)
    strings = [v for v in existing if isinstance(v, str) and v]
    if strings:
        sample = rng.choice(strings)
        match = _NUMERIC_SUFFIX.match(sample)
        if match and " " not in sample:
            # Codes like "SEAT-12A" or "AB123": keep the shape, change the number.
            prefix, digits = match.groups()
            return f"{prefix}{rng.randint(1, 10 ** len(digits) - 1):0{len(digits)}d}"
        if " " not in sample and sample.isupper():
            return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in sample)
    return f"{rng.choice(_WORDS)} {rng.choice(_WORDS)}"


def _shift_date(value: str, days: int) -> str:
    try:
        base = dt.date.fromisoformat(value[:10])
    except ValueError:
        base = dt.date(2026, 6, 15)
    return (base + dt.timedelta(days=days)).isoformat() + value[10:]


def new_value(column: Column, rng: random.Random, existing: list[Any], avoid: Any = None) -> Any:
    """A value that fits `column` and differs from `avoid` (the value it replaces)."""
    values = [v for v in existing if v is not None]
    for _ in range(12):
        value = _draw(column, rng, values)
        if value != avoid and check_value(column, value) is None:
            return value
    return value


def _draw(column: Column, rng: random.Random, values: list[Any]) -> Any:
    t = column.type
    if t == "enum":
        return rng.choice(column.enum or [])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "date":
        base = rng.choice([v for v in values if isinstance(v, str)] or ["2026-06-15"])
        return _shift_date(base, rng.choice([-1, 1]) * rng.randint(1, 30))
    if t in ("integer", "number"):
        nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        lo, hi = (min(nums), max(nums)) if nums else (1, 100)
        if hi <= lo:
            hi = lo + max(10, abs(lo))
        if t == "integer" or all(isinstance(v, int) for v in nums) and nums:
            return rng.randint(int(lo), int(hi))
        return round(rng.uniform(lo, hi), 2)
    return new_string(column, rng, values)


def new_key(table: Table, rows: list[dict[str, Any]]) -> Any:
    """The next free primary key in the table's own style (id_prefix + number, or integer)."""
    pk = table.pk_column
    keys = [r.get(table.primary_key) for r in rows]
    if pk.type == "integer":
        return max([k for k in keys if isinstance(k, int)], default=0) + 1
    prefix, width, top = table.id_prefix, 0, 0
    for k in keys:
        match = _NUMERIC_SUFFIX.match(str(k))
        if match and (prefix is None or match.group(1) == prefix):
            prefix = match.group(1) if prefix is None else prefix
            width = max(width, len(match.group(2)))
            top = max(top, int(match.group(2)))
    prefix = prefix if prefix is not None else f"{table.name[:3].upper()}-"
    return f"{prefix}{top + 1:0{width}d}" if width else f"{prefix}{top + 1001}"


def _compare(actual: Any, op: str, expected: Any) -> bool:
    try:
        if op == "eq":
            return actual == expected
        if op == "ne":
            return actual != expected
        if op == "in":
            return actual in (expected or [])
        if op == "contains":
            return str(expected).lower() in str(actual).lower()
        if actual is None or expected is None:
            return False
        return {"lt": actual < expected, "le": actual <= expected, "gt": actual > expected,
                "ge": actual >= expected}[op]
    except TypeError:
        return False


def meets_const_preconditions(row: dict[str, Any], preconditions: list[Precondition]) -> bool:
    """Whether `row` passes the preconditions that compare against constants (the others depend on arguments)."""
    for p in preconditions:
        const = getattr(p.value, "const", _MISSING)
        if const is not _MISSING and not _compare(row.get(p.column), p.op, const):
            return False
    return True


_MISSING = object()


def _schema_fit(schema: dict[str, Any], value: Any, rng: random.Random) -> Any:
    """Bring a drawn value in line with the argument's JSON Schema (enum, type, bounds)."""
    if "enum" in schema and schema["enum"] and value not in schema["enum"]:
        return rng.choice(schema["enum"])
    typ = schema.get("type")
    if typ == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if typ == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None and value < lo:
            value = lo
        if hi is not None and value > hi:
            value = hi
    if typ == "string" and value is not None and not isinstance(value, str):
        value = str(value)
    return value


def _from_schema(schema: dict[str, Any], rng: random.Random, name: str = "") -> Any:
    """A value for an argument no column explains, from its schema and its name."""
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    typ = schema.get("type")
    if typ == "integer":
        return rng.randint(int(schema.get("minimum", 1)), int(schema.get("maximum", 5)))
    if typ == "number":
        return round(rng.uniform(float(schema.get("minimum", 1)), float(schema.get("maximum", 100))), 2)
    if typ == "boolean":
        return True
    if typ == "array":
        return []
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    if len(words) > 1 and words[-1] in ("id", "key", "code", "ref", "number"):
        return f"{words[0][:3].upper()}-{rng.randint(1000, 9999)}"
    return new_string(Column(name=name if re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", name) else "text"), rng, [])


class ArgumentDrawer:
    """Draws one call's arguments for a tool, given the state and the values earlier steps fed in."""

    def __init__(self, spec: EnvSpec, rng: random.Random):
        self.spec = spec
        self.rng = rng

    def draw(self, shape: ToolShape, rows: Rows, fed: dict[str, Any]) -> dict[str, Any] | None:
        """The arguments, or None when the state offers nothing to act on (no row, no candidate)."""
        rng = self.rng
        args: dict[str, Any] = dict(fed)
        # Rows the call works on, by table: keys first, because amounts and new values depend on them.
        context: dict[str, dict[str, Any]] = {}
        for arg, value in fed.items():
            use = shape.primary_target(arg)
            if use is not None and use.role == "key":
                row = self._row_by_key(use.table, rows, value)
                if row is not None:
                    context.setdefault(use.table, row)
        taken: dict[str, set[Any]] = {}
        for arg in shape.properties:
            use = shape.primary_target(arg)
            if arg in args or use is None or use.role != "key":
                continue
            table = self.spec.table(use.table)
            pres = [p for t, p in shape.preconditions if t == use.table]
            used = taken.setdefault(use.table, {args[a] for a in args if (u := shape.primary_target(a)) and u.role == "key" and u.table == use.table})
            candidates = [r for r in rows.get(use.table, [])
                          if r.get(table.primary_key) not in used and meets_const_preconditions(r, pres)]
            if not candidates:
                return None
            row = rng.choice(candidates)
            args[arg] = row[table.primary_key]
            used.add(args[arg])
            context.setdefault(use.table, row)
        if (shape.kind == "find" or (shape.read_only and shape.output_is_list)) and not self._draw_filters(shape, rows, args):
            return None
        # A person changes one or two things at a time, not every optional field of a record.
        optional_sets = [a for a in shape.properties if a not in args and a not in shape.required
                         and (u := shape.primary_target(a)) is not None and u.role == "set"]
        rng.shuffle(optional_sets)
        required_sets = [a for a in shape.required if (u := shape.primary_target(a)) is not None and u.role == "set"]
        skipped_sets = set(optional_sets[(0 if required_sets else 1) + (1 if rng.random() < 0.3 else 0):])
        for arg in shape.properties:
            if arg in args or arg in skipped_sets:
                continue
            use = shape.primary_target(arg)
            required = arg in shape.required
            value = self._draw_other(shape, arg, use, required, rows, context)
            if value is _MISSING or (not required and value in ("", [], {}, None)):
                if required:
                    return None
                continue
            args[arg] = value
        for arg, value in list(args.items()):
            if arg not in fed:
                args[arg] = _schema_fit(shape.properties.get(arg, {}), value, rng)
        return args

    # -- pieces ---------------------------------------------------------------------------------

    def _row_by_key(self, table_name: str, rows: Rows, key: Any) -> dict[str, Any] | None:
        pk = self.spec.table(table_name).primary_key
        return next((r for r in rows.get(table_name, []) if r.get(pk) == key), None)

    def _draw_filters(self, shape: ToolShape, rows: Rows, args: dict[str, Any]) -> bool:
        """Filter values taken from one real row so the search finds it; at least one filter."""
        filters = [(a, shape.primary_target(a)) for a in shape.properties if a not in args]
        filters = [(a, u) for a, u in filters if u is not None and u.role == "filter" and u.column]
        if not filters:
            return True
        required = [(a, u) for a, u in filters if a in shape.required]
        optional = [(a, u) for a, u in filters if a not in shape.required]
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
                if arg in shape.required:
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

    def _draw_other(self, shape: ToolShape, arg: str, use: ArgTarget | None, required: bool,
                    rows: Rows, context: dict[str, dict[str, Any]]) -> Any:
        rng = self.rng
        schema = shape.properties.get(arg, {})
        if use is None:
            return _from_schema(schema, rng, arg) if required else _MISSING
        table = self.spec.table(use.table)
        column = table.column(use.column) if use.column else None
        existing = [r.get(use.column) for r in rows.get(use.table, [])] if use.column else []
        row = context.get(use.table)
        if use.role == "filter":
            return _MISSING if not required else (rng.choice([v for v in existing if v is not None] or [None]) if existing else _MISSING)
        if use.role == "limit":
            return 10 if required else _MISSING
        if use.role == "set":
            if column is None:
                return _MISSING
            return new_value(column, rng, existing, avoid=row.get(column.name) if row else None)
        if use.role == "value":
            if column is None:
                return _MISSING
            if column.name == table.primary_key:
                return new_key(table, rows.get(table.name, [])) if required else _MISSING
            fk = next((f for f in table.foreign_keys if f.column == column.name), None)
            if fk is not None:
                refs = [r.get(fk.ref_column) for r in rows.get(fk.ref_table, []) if r.get(fk.ref_column) is not None]
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
            return _from_schema(schema, rng, arg) if required else _MISSING
        return _MISSING

    def _amount(self, use: ArgTarget, column: Column | None, row: dict[str, Any] | None, schema: dict[str, Any]) -> Any:
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

"""Relations between seed values, inferred from column names and foreign keys, and the pass that
makes generated rows respect them.

- References agree: a row that references both a parent and another row of that parent takes the
  parent from that row (a return's order is its item's order, a reservation's hotel is its room
  type's hotel); two references to rows of one grandparent pick rows of the same grandparent (a
  delivery's items come from its restaurant's menu).
- Time runs forward within a row: created <= start < end, created <= updated
  (check-in < check-out, pickup < return, departure < arrival, issued < due).
- Derived values: a line's unit price is its product's price, a price picked by a class ("business")
  is the parent's `business_price`, a parent's total is the sum of its lines, a payment is the
  amount due.
- Tiers are ordered: economy_price <= premium_price <= business_price <= first_price.
- A trip's origin differs from its destination.

Everything here changes only rows the generator made in this run (`fresh`); the one exception is
a given parent the generator added lines to, whose total is summed again.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable
from typing import Any

from servers.seedvalues import name_words
from servers.spec import EnvSpec, ForeignKey, Table

Rows = dict[str, list[dict[str, Any]]]

CREATE_WORDS = {"created", "creation", "registered", "joined", "opened", "placed", "ordered", "booked",
                "requested", "submitted", "issued", "reported", "purchased", "applied", "signed", "inserted",
                "insert", "filed", "enrolled", "posted", "paid"}
START_WORDS = {"start", "starts", "begin", "begins", "from", "pickup", "departure", "depart", "departs",
               "effective", "started", "commenced", "checkin"}
END_WORDS = {"end", "ends", "to", "until", "return", "returned", "dropoff", "arrival", "arrive", "arrives",
             "finish", "finished", "expiry", "expires", "expiration", "expire", "due", "closed", "resolved",
             "completed", "ended", "deadline", "checkout"}
UPDATE_WORDS = {"updated", "modified", "changed"}
TOTAL_COLUMNS = ("total", "subtotal", "total_price", "total_amount", "amount_total", "order_total",
                 "grand_total", "items_total")
UNIT_PRICE_COLUMNS = ("unit_price", "price", "unit_cost", "price_each", "unit_amount", "item_price")
QUANTITY_WORDS = {"quantity", "qty", "units"}
DUE_COLUMNS = ("amount_due", "balance_due", "total", "total_price", "total_amount", "price", "subtotal", "amount")
PAID_COLUMNS = ("amount", "amount_paid", "paid_amount", "payment_amount")
EXTRA_CHARGE_WORDS = {"fee", "tax", "tip", "surcharge"}
TIER_RANK = {"basic": 0, "economy": 1, "coach": 1, "standard": 1, "regular": 1, "plus": 2, "premium": 3,
             "business": 4, "first": 5}


def _compact(name: str) -> str:
    """'check_in_date' -> 'checkindate': joined forms match 'checkin', 'pickup', 'dropoff'."""
    return name.lower().replace("_", "").replace("-", "")


def time_role(column_name: str, table: Table) -> str | None:
    """'create', 'start', 'end' or 'update' for a time column, from its name (None when unknown)."""
    words = set(name_words(column_name))
    compact = _compact(column_name)
    has_check_in = any("checkin" in _compact(c.name) for c in table.columns)
    if "checkin" in compact:
        words.add("checkin")
    if "checkout" in compact:
        # A hotel's check-out ends a stay; a library's checkout (with a due date) starts a loan.
        words.add("checkout" if has_check_in else "start")
        if not has_check_in:
            words.discard("checkout")
    if "pickup" in compact:
        words.add("pickup")
    if "dropoff" in compact:
        words.add("dropoff")
    if words & {"birth", "dob", "born"}:
        return None
    if words & UPDATE_WORDS:
        return "update"
    if words & CREATE_WORDS:
        return "create"
    if words & END_WORDS:
        return "end"
    if words & START_WORDS:
        return "start"
    return None


def parse_time(value: Any) -> tuple[dt.datetime, bool] | None:
    """(moment, has_time) of an ISO date or date-time string (or a yyyymmdd number), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 19000101 <= value <= 99991231:
        try:
            return dt.datetime.strptime(str(value), "%Y%m%d"), False
        except ValueError:
            return None
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        if len(value) == 10:
            return dt.datetime.fromisoformat(value), False
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None), True
    except ValueError:
        return None


_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_clock(value: Any) -> dt.datetime | None:
    """A time of day ("HH:MM") as a moment on one fixed day, or None."""
    match = _CLOCK.match(value) if isinstance(value, str) else None
    return dt.datetime(2000, 1, 1, int(match.group(1)), int(match.group(2))) if match else None


def _date_only(value: Any) -> bool:
    return (isinstance(value, str) and len(value) == 10) or isinstance(value, int)


def _format_like(moment: dt.datetime, template: Any) -> Any:
    if isinstance(template, int):
        return int(moment.strftime("%Y%m%d"))
    if _CLOCK.match(template):
        return moment.strftime("%H:%M")
    if len(template) == 10:
        return moment.date().isoformat()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + "Z" if template.endswith("Z") else text


def time_columns(table: Table) -> dict[str, str]:
    """Column -> time role for the table's columns that have one (an arrival time of day that
    "may be on the next day" has none: it can be earlier than its departure)."""
    out = {}
    for column in table.columns:
        if column.type in ("date", "string", "integer") and column.name != table.primary_key:
            role = time_role(column.name, table)
            if role is not None and "next day" not in (column.description or "").lower():
                out[column.name] = role
    return out


def _moments(roles: dict[str, str], row: dict[str, Any]) -> dict[str, list[tuple[str, dt.datetime, bool]]]:
    """role -> [(column, moment, is_clock)] of a row's parseable time values."""
    out: dict[str, list[tuple[str, dt.datetime, bool]]] = {}
    for name, role in roles.items():
        parsed = parse_time(row.get(name))
        clock = parse_clock(row.get(name)) if parsed is None else None
        if parsed is not None:
            out.setdefault(role, []).append((name, parsed[0], False))
        elif clock is not None:
            out.setdefault(role, []).append((name, clock, True))
    return out


def time_violations(table: Table, row: dict[str, Any], roles: dict[str, str] | None = None) -> list[str]:
    """The pairs of a row's time columns in the wrong order ("start 'a' ... after end 'b'")."""
    roles = time_columns(table) if roles is None else roles
    by_role = _moments(roles, row)
    problems = []
    for early, late, strict in TIME_ORDER:
        for a, va, ca in by_role.get(early, []):
            for b, vb, cb in by_role.get(late, []):
                if ca != cb:
                    continue  # a time of day says nothing about the order of a date
                if _date_only(row[a]) or _date_only(row[b]):
                    va, vb = dt.datetime.combine(va.date(), dt.time()), dt.datetime.combine(vb.date(), dt.time())
                if vb < va or (strict and vb == va):
                    problems.append(f"{table.name}.{a}={row[a]} is after {b}={row[b]}")
    return problems


TIME_ORDER = (("create", "start", False), ("start", "end", True), ("create", "end", False),
              ("create", "update", False))


def order_times(table: Table, row: dict[str, Any], rng: random.Random, roles: dict[str, str],
                now: dt.datetime) -> None:
    """Move a row's later times after its earlier ones: created <= start < end, created <= updated,
    and what already happened (created, updated) no later than the episode clock `now`."""
    for clocks in (False, True):
        _order_times(row, rng, roles, now, clocks)


def _order_times(row: dict[str, Any], rng: random.Random, roles: dict[str, str], now: dt.datetime,
                 clocks: bool) -> None:
    def values(role: str) -> list[tuple[str, dt.datetime]]:
        return [(n, v) for n, v, c in _moments(roles, row).get(role, []) if c == clocks]

    step = (lambda: dt.timedelta(minutes=15 * rng.randint(2, 8))) if clocks else None
    if not clocks:
        for role in ("create", "update"):
            for name, v in values(role):
                if v > now:
                    row[name] = _format_like(now - dt.timedelta(days=rng.randint(1, 400), hours=rng.randint(0, 8)),
                                             row[name])
    if clocks:
        anchor_values = [v for _, v in values("start")] or [v for _, v in values("create")]
        if anchor_values:
            anchor = max(anchor_values)
            for name, v in values("end"):
                if v <= anchor:
                    assert step is not None
                    row[name] = _format_like(min(anchor + step(), dt.datetime(2000, 1, 1, 23, 45)), row[name])
        return

    creates = values("create")
    if creates:
        # Starts move after the creation (not the creation before them): the creation is also
        # bound by the row's parents and the clock.
        latest_create = max(v for _, v in creates)
        for name, v in values("start"):
            if v < latest_create:
                row[name] = _format_like(latest_create + dt.timedelta(days=rng.randint(1, 30)), row[name])
    anchor_values = [v for _, v in values("start")] or [v for _, v in values("create")]
    if anchor_values:
        anchor = max(anchor_values)
        for name, v in values("end"):
            if v <= anchor:
                row[name] = _format_like(anchor + dt.timedelta(days=rng.randint(1, 14), hours=rng.randint(0, 8)),
                                         row[name])
    creates = values("create")
    if creates:
        latest_create = max(v for _, v in creates)
        for name, v in values("update"):
            if v < latest_create:
                later = latest_create + dt.timedelta(days=rng.randint(0, 30), hours=1)
                row[name] = _format_like(max(latest_create, min(later, now)), row[name])


def parent_time_bounds(table: Table, row: dict[str, Any], tables: dict[str, Table],
                       index: dict[str, dict[Any, dict[str, Any]]],
                       roles_of: dict[str, dict[str, str]] | None = None,
                       ) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(earliest, latest) a row's creation may be given its parents: not before a parent was
    created (an order after its customer), not after a parent starts (a booking before its flight).
    `roles_of` caches `time_columns` per table name."""
    low: dt.datetime | None = None
    high: dt.datetime | None = None
    roles_of = {} if roles_of is None else roles_of
    for fk in table.foreign_keys:
        parent_table = tables.get(fk.ref_table)
        parent = index.get(fk.ref_table, {}).get(row.get(fk.column))
        if parent_table is None or parent is None or parent is row:
            continue
        if parent_table.name not in roles_of:
            roles_of[parent_table.name] = time_columns(parent_table)
        for name, role in roles_of[parent_table.name].items():
            parsed = parse_time(parent.get(name))
            if parsed is None:
                continue
            if role == "create":
                low = parsed[0] if low is None else max(low, parsed[0])
            elif role == "start":
                high = parsed[0] if high is None else min(high, parsed[0])
    return low, high


def follow_parents(table: Table, row: dict[str, Any], roles: dict[str, str], tables: dict[str, Table],
                   index: dict[str, dict[Any, dict[str, Any]]], rng: random.Random, now: dt.datetime,
                   roles_of: dict[str, dict[str, str]]) -> None:
    """Move a row's creation inside its parents' bounds (and not after `now`) when they leave room."""
    if "create" not in roles.values():
        return
    low, high = parent_time_bounds(table, row, tables, index, roles_of)
    high = now if high is None else min(high, now)
    if low is None and high is None or (low is not None and high is not None and high < low):
        return
    for name, role in roles.items():
        parsed = parse_time(row.get(name))
        if role != "create" or parsed is None:
            continue
        moment = parsed[0]
        if low is not None and moment < low:
            room = (high - low).days if high is not None else 30
            moment = low + dt.timedelta(days=rng.randint(0, max(0, min(room, 30))), hours=rng.randint(0, 6))
            if high is not None and moment > high:
                moment = low
        elif high is not None and moment > high:
            moment = high - dt.timedelta(days=rng.randint(1, 60))
            if low is not None and moment < low:
                moment = low
        row[name] = _format_like(moment, row[name])


def order_tiers(table: Table, row: dict[str, Any]) -> None:
    """economy_price <= business_price: numbers of one stem sorted by their tier's rank."""
    for group in tier_groups(table):
        present = [(TIER_RANK[tier], name) for tier, name in group if isinstance(row.get(name), (int, float))]
        ordered = sorted(row[name] for _, name in present)
        for value, (_, name) in zip(ordered, sorted(present), strict=True):
            row[name] = value


def tier_groups(table: Table) -> list[list[tuple[str, str]]]:
    """[[(tier, column), ...], ...]: numeric columns named '<tier>_<stem>' sharing a stem (2+ tiers)."""
    stems: dict[str, list[tuple[str, str]]] = {}
    for column in table.columns:
        if column.type not in ("integer", "number"):
            continue
        words = name_words(column.name)
        if len(words) >= 2 and words[0] in TIER_RANK:
            stems.setdefault("_".join(words[1:]), []).append((words[0], column.name))
    return [group for group in stems.values() if len({TIER_RANK[t] for t, _ in group}) > 1]


def trip_ends(table: Table) -> list[tuple[str, str]]:
    """(origin, destination)-like string column pairs of a table."""
    names = {c.name for c in table.columns if c.type == "string"}
    pairs = [("origin", "destination"), ("from_airport", "to_airport"), ("departure_airport", "arrival_airport"),
             ("src", "dst"), ("source_airport", "destination_airport")]
    return [(a, b) for a, b in pairs if a in names and b in names]


# -- references ------------------------------------------------------------------------------


class ReferencePlan:
    """How one table's foreign keys are filled so that they agree with each other.

    `derived[x] = (y, z)`: column x is not drawn but read from the row that column y references
    (its column z), because y's table references x's table too. `siblings[y] = (x, a, b)`: column y
    draws among rows whose column b equals column a of the row x references (same grandparent).
    """

    def __init__(self, spec: EnvSpec, table: Table) -> None:
        tables = {t.name: t for t in spec.tables}
        fks = [fk for fk in table.foreign_keys if fk.ref_table != table.name]
        self.derived: dict[str, tuple[str, str]] = {}
        self.siblings: dict[str, tuple[str, str, str]] = {}
        for fk in fks:
            for other in fks:
                if other is fk or other.column in self.derived:
                    continue
                via = _reference_to(tables.get(other.ref_table), fk.ref_table, fk.ref_column)
                if via is not None and fk.column not in self.derived:
                    self.derived[fk.column] = (other.column, via)
        drawn = [fk for fk in fks if fk.column not in self.derived]
        for i, fk in enumerate(drawn):
            for earlier in drawn[:i]:
                shared = _shared_parent(tables.get(earlier.ref_table), tables.get(fk.ref_table))
                if shared is not None and fk.column not in self.siblings:
                    self.siblings[fk.column] = (earlier.column, shared[0], shared[1])

    def order(self, table: Table) -> list[str]:
        """The table's columns in fill order: drawn references, then derived ones, then the rest."""
        names = [c.name for c in table.columns]
        derived: list[str] = []

        def visit(name: str, path: set[str]) -> None:
            if name in derived or name in path:
                return
            via = self.derived[name][0]
            if via in self.derived:  # read from a reference that is itself read: that one first
                visit(via, path | {name})
            derived.append(name)

        for name in names:
            if name in self.derived:
                visit(name, set())
        return [n for n in names if n not in self.derived] + derived


def _reference_to(table: Table | None, ref_table: str, ref_column: str) -> str | None:
    if table is None or table.name == ref_table:
        return None
    for fk in table.foreign_keys:
        if fk.ref_table == ref_table and fk.ref_column == ref_column:
            return fk.column
    return None


def _shared_parent(a: Table | None, b: Table | None) -> tuple[str, str] | None:
    """(column of a, column of b) that reference the same third table, if any."""
    if a is None or b is None or a.name == b.name:
        return None
    for fa in a.foreign_keys:
        for fb in b.foreign_keys:
            if fa.ref_table == fb.ref_table and fa.ref_column == fb.ref_column \
                    and fa.ref_table not in (a.name, b.name):
                return fa.column, fb.column
    return None


def reference_violations(spec: EnvSpec, table: Table, rows: Rows) -> list[str]:
    """Rows whose references disagree: a derived reference not equal to the one its sibling implies."""
    plan = ReferencePlan(spec, table)
    index = {t.name: {r.get(t.primary_key): r for r in rows.get(t.name, [])} for t in spec.tables}
    fk_of = {fk.column: fk for fk in table.foreign_keys}
    problems = []
    for row in rows.get(table.name, []):
        for column, (via, parent_column) in plan.derived.items():
            target = index[fk_of[via].ref_table].get(row.get(via))
            if target is None or row.get(via) is None or row.get(column) is None or target.get(parent_column) is None:
                continue  # nothing to agree with
            if target.get(parent_column) != row.get(column):
                problems.append(f"{table.name} {row.get(table.primary_key)}: {column}={row.get(column)} but its "
                                f"{via} {row.get(via)} has {parent_column}={target.get(parent_column)}")
    return problems


# -- derived values ---------------------------------------------------------------------------


def _column(table: Table, candidates: Iterable[str], types: tuple[str, ...] = ("number", "integer")) -> str | None:
    names = {c.name: c for c in table.columns}
    for name in candidates:
        col = names.get(name)
        if col is not None and col.type in types and name != table.primary_key:
            return name
    return None


def quantity_column(table: Table) -> str | None:
    for c in table.columns:
        if c.type in ("integer", "number") and set(name_words(c.name)) & QUANTITY_WORDS:
            return c.name
    return None


def unit_price_links(spec: EnvSpec, table: Table) -> list[tuple[str, ForeignKey, str]]:
    """(child column, foreign key, parent column): a line's unit price copied from what it buys."""
    tables = {t.name: t for t in spec.tables}
    quantity = quantity_column(table)
    out = []
    for name in UNIT_PRICE_COLUMNS:
        if _column(table, [name]) is None or (quantity is None and not name.startswith("unit")):
            continue
        for fk in table.foreign_keys:
            parent = tables.get(fk.ref_table)
            if parent is None or parent.name == table.name:
                continue
            source = _column(parent, [name, name.removeprefix("unit_"), "price", "unit_price"])
            if source is not None:
                out.append((name, fk, source))
                break
        break
    return out


def class_price_links(spec: EnvSpec, table: Table) -> list[tuple[str, str, ForeignKey, dict[str, str]]]:
    """(child column, enum column, foreign key, {enum value: parent column}): a fare picked by class."""
    tables = {t.name: t for t in spec.tables}
    out = []
    for col in table.columns:
        if col.type not in ("number", "integer") or not set(name_words(col.name)) & {"price", "fare", "rate"}:
            continue
        for enum_col in (c for c in table.columns if c.type == "enum"):
            for fk in table.foreign_keys:
                parent = tables.get(fk.ref_table)
                if parent is None:
                    continue
                names = {c.name for c in parent.columns}
                choice = {v: f"{v}_{col.name}" if f"{v}_{col.name}" in names else f"{v}_price"
                          for v in enum_col.enum or []}
                choice = {v: p for v, p in choice.items() if p in names}
                if len(choice) >= 2:
                    out.append((col.name, enum_col.name, fk, choice))
    return out


def total_links(spec: EnvSpec, table: Table) -> list[tuple[str, Table, ForeignKey, str, str]]:
    """(parent total column, child table, child foreign key, quantity column, price column)."""
    total = _column(table, ["subtotal"]) or _column(table, TOTAL_COLUMNS)
    if total is None:
        return []
    out = []
    for child in spec.tables:
        if child.name == table.name:
            continue
        for fk in child.foreign_keys:
            if fk.ref_table != table.name:
                continue
            quantity, price = quantity_column(child), _column(child, UNIT_PRICE_COLUMNS)
            if quantity is not None and price is not None:
                out.append((total, child, fk, quantity, price))
                return out
    return out


def payment_links(spec: EnvSpec, table: Table) -> list[tuple[str, ForeignKey, str]]:
    """(paid column, foreign key, parent's due column): a payment pays what its parent is due."""
    words = set(name_words(table.name))
    if not words & {"payment", "payments"}:
        return []
    paid = _column(table, PAID_COLUMNS)
    if paid is None:
        return []
    tables = {t.name: t for t in spec.tables}
    for fk in table.foreign_keys:
        parent = tables.get(fk.ref_table)
        if parent is None or parent.name == table.name:
            continue
        due = _column(parent, DUE_COLUMNS)
        # A whole-unit payment cannot equal a fractional due (Rebilly's integer payment `amount`
        # against a customer's number `amount`): no relation to keep or to check there.
        if due is not None and not (table.column(paid).type == "integer" and parent.column(due).type == "number"):
            return [(paid, fk, due)]
    return []


def _money(value: float, integer: bool) -> float | int:
    return int(round(value)) if integer else round(value, 2)


def make_consistent(spec: EnvSpec, rows: Rows, fresh: set[int], rng: random.Random, order: list[Table]) -> None:
    """Apply the row-local and cross-table relations to the rows whose id() is in `fresh`."""
    def is_fresh(row: dict[str, Any]) -> bool:
        return id(row) in fresh

    index = {t.name: {r.get(t.primary_key): r for r in rows.get(t.name, [])} for t in spec.tables}
    columns = {t.name: {c.name: c for c in t.columns} for t in spec.tables}
    from servers.program import DEFAULT_CLOCK  # servers.program imports this module's importers

    now = dt.datetime.fromisoformat(DEFAULT_CLOCK)
    tables = {t.name: t for t in spec.tables}
    roles_of = {t.name: time_columns(t) for t in spec.tables}
    for table in order:
        roles = roles_of[table.name]
        tiers = tier_groups(table)
        trips = trip_ends(table)
        for row in rows.get(table.name, []):
            if not is_fresh(row):
                continue
            if roles:
                order_times(table, row, rng, roles, now)
                follow_parents(table, row, roles, tables, index, rng, now, roles_of)
                order_times(table, row, rng, roles, now)
            if tiers:
                order_tiers(table, row)
            for a, b in trips:
                if row.get(a) is not None and row.get(a) == row.get(b):
                    row[b] = other_trip_end(table, b, row[a], index, rng)
    for table in order:
        for child_col, fk, parent_col in unit_price_links(spec, table):
            integer = columns[table.name][child_col].type == "integer"
            for row in rows.get(table.name, []):
                parent = index[fk.ref_table].get(row.get(fk.column))
                if is_fresh(row) and parent is not None and isinstance(parent.get(parent_col), (int, float)):
                    row[child_col] = _money(parent[parent_col], integer)
        for child_col, enum_col, fk, choice in class_price_links(spec, table):
            integer = columns[table.name][child_col].type == "integer"
            for row in rows.get(table.name, []):
                parent = index[fk.ref_table].get(row.get(fk.column))
                source = choice.get(row.get(enum_col))
                if is_fresh(row) and parent is not None and source and isinstance(parent.get(source), (int, float)):
                    row[child_col] = _money(parent[source], integer)
    for table in order:
        for total, child, fk, quantity, price in total_links(spec, table):
            integer = columns[table.name][total].type == "integer"
            sums: dict[Any, float] = {}
            grown: set[Any] = set()  # given parents the generator added lines to
            for line in rows.get(child.name, []):
                q, p = line.get(quantity), line.get(price)
                if isinstance(q, (int, float)) and isinstance(p, (int, float)):
                    sums[line.get(fk.column)] = sums.get(line.get(fk.column), 0.0) + q * p
                if is_fresh(line):
                    grown.add(line.get(fk.column))
            extras = [c.name for c in table.columns if c.type in ("number", "integer") and c.name != total
                      and set(name_words(c.name)) & EXTRA_CHARGE_WORDS]
            grand = _column(table, ["total"]) if total == "subtotal" else None
            for row in rows.get(table.name, []):
                if not is_fresh(row) and row.get(fk.ref_column) not in grown:
                    continue
                row[total] = _money(sums.get(row.get(fk.ref_column), 0.0), integer)
                if grand is not None:
                    charges = sum(row.get(c) or 0 for c in extras if isinstance(row.get(c), (int, float)))
                    row[grand] = _money(row[total] + charges, columns[table.name][grand].type == "integer")
    for table in order:
        for paid, fk, due in payment_links(spec, table):
            integer = columns[table.name][paid].type == "integer"
            for row in rows.get(table.name, []):
                parent = index[fk.ref_table].get(row.get(fk.column))
                if is_fresh(row) and parent is not None and isinstance(parent.get(due), (int, float)):
                    row[paid] = _money(parent[due], integer)


def other_trip_end(table: Table, column: str, start: Any, index: dict[str, dict[Any, dict]], rng: random.Random) -> Any:
    """A trip's other end, not its start: another airport code, or, when the column references a
    table (`destination` -> airports), another row's key of that table, so the reference holds."""
    fk = next((fk for fk in table.foreign_keys if fk.column == column), None)
    if fk is None:
        return _other_airport(start, rng)
    others = sorted((k for k in index.get(fk.ref_table, {}) if k is not None and k != start), key=str)
    return rng.choice(others) if others else start


def _other_airport(code: str, rng: random.Random) -> str:
    from servers.seeddata import PLACES

    choices = [p.airport for p in PLACES if p.airport != code]
    return rng.choice(choices)

"""Does an environment's seed agree with itself? One check per invariant, and the placeholder share.

Each check reads an EnvSpec's `seed.rows` and returns how many rows (or pairs) it could check and
the ones that break the invariant, so a test can require zero failures and a benchmark can count
passes. The relations checked are the ones `servers.seedrules` infers from names and foreign keys;
the checks never trust the generator, they recompute from the rows.

Placeholder strings (`is_placeholder`): a non-id seed string is a placeholder when
  (a) it is words (with a lower-case letter) followed by a counter: `monthly-1`,
      "Annual subscriber 1", "Request hotel 1", "user12" (regex `COUNTER`); or
  (b) every word of it is a word of its own table or column name or a stock filler word
      (`FILLER_WORDS`: articles, "string", "example", "test", "lorem", ... and the words the old
      generator glued together): "Seasonal delivery for service requests", "string"; or
  (c) it contains "lorem ipsum".
Non-id strings are the string-typed values of columns that are neither keys nor references nor
named `...id`/`...uuid`/`...arn` (`servers.seedvalues.is_identifier`); empty strings are skipped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from servers.program import DEFAULT_CLOCK
from servers.seeddata import CITY_COUNTRY, COUNTRY_CODES
from servers.seedrules import (
    class_price_links,
    parent_time_bounds,
    parse_time,
    payment_links,
    reference_violations,
    tier_groups,
    time_columns,
    time_violations,
    total_links,
    trip_ends,
    unit_price_links,
)
from servers.seedvalues import is_identifier, name_words, singular, stated_range
from servers.spec import EnvSpec, Table, check_value

COUNTER = re.compile(r"^(?=.*[a-z])[A-Za-z][A-Za-z ]*[ _-]?\d{1,6}$")
FILLER_WORDS = frozenset({
    "a", "an", "the", "for", "of", "and", "or", "to", "in", "on", "with", "new", "my", "some",
    "string", "text", "value", "example", "sample", "test", "testing", "foo", "bar", "baz", "qux",
    "lorem", "ipsum", "placeholder", "dummy", "default", "tbd", "todo", "none", "null", "xxx", "abc",
    "data", "item", "name", "info", "misc", "generic", "unknown", "various",
    # the words the word-list generator glued together before issue 11
    "quick", "review", "update", "priority", "standard", "follow", "up", "request", "delivery", "account",
    "support", "seasonal", "annual", "monthly", "express", "regional",
})
MONEY_TOLERANCE = 0.011


@dataclass
class CheckResult:
    invariant: str
    checked: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return self.checked - len(self.failures)


def _rows(spec: EnvSpec) -> dict[str, list[dict[str, Any]]]:
    return {t.name: spec.seed.rows.get(t.name, []) for t in spec.tables}


def _index(spec: EnvSpec) -> dict[str, dict[Any, dict[str, Any]]]:
    rows = _rows(spec)
    return {t.name: {r.get(t.primary_key): r for r in rows[t.name]} for t in spec.tables}


def _close(a: Any, b: Any) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= MONEY_TOLERANCE


def check_time_order(spec: EnvSpec) -> CheckResult:
    """created <= start < end and created <= updated within every row; what already happened
    (created, updated) is not after the episode clock; a row is created after its parents were
    and before they start (an order after its customer, a booking before its flight)."""
    result = CheckResult("time order")
    rows, index = _rows(spec), _index(spec)
    tables = {t.name: t for t in spec.tables}
    now = dt.datetime.fromisoformat(DEFAULT_CLOCK)
    for table in spec.tables:
        roles = time_columns(table)
        for row in rows[table.name]:
            present = {roles[c] for c in roles if row.get(c) is not None}
            if len(present) >= 2:
                result.checked += 1
                result.failures += time_violations(table, row, roles)
            low, high = parent_time_bounds(table, row, tables, index)
            for name, role in roles.items():
                parsed = parse_time(row.get(name))
                if parsed is None or role not in ("create", "update"):
                    continue
                result.checked += 1
                if parsed[0] > now:
                    result.failures.append(f"{table.name}.{name}={row[name]} is after the clock {DEFAULT_CLOCK}")
                if role != "create" or (low is not None and high is not None and high < low):
                    continue
                moment = parsed[0]
                if not parsed[1]:  # a date says "that day": compare days
                    low = None if low is None else dt.datetime.combine(low.date(), dt.time())
                    high = None if high is None else dt.datetime.combine(high.date(), dt.time())
                if (low is not None and moment < low) or (high is not None and moment > high):
                    result.failures.append(f"{table.name} {row.get(table.primary_key)}: {name}={row[name]} "
                                           f"outside its parents' times [{low}, {high}]")
    return result


def check_totals(spec: EnvSpec) -> CheckResult:
    """A parent's total (or subtotal) is the sum of quantity x unit price over its lines."""
    result = CheckResult("totals are the sum of their lines")
    rows = _rows(spec)
    for table in spec.tables:
        for total, child, fk, quantity, price in total_links(spec, table):
            sums: dict[Any, float] = {}
            for line in rows[child.name]:
                if isinstance(line.get(quantity), (int, float)) and isinstance(line.get(price), (int, float)):
                    sums[line.get(fk.column)] = sums.get(line.get(fk.column), 0.0) + line[quantity] * line[price]
            for row in rows[table.name]:
                if row.get(total) is None:
                    continue
                result.checked += 1
                want = round(sums.get(row.get(fk.ref_column), 0.0), 2)
                if not _close(row[total], want):
                    result.failures.append(f"{table.name} {row.get(table.primary_key)}: {total}={row[total]}, "
                                           f"its {child.name} sum to {want}")
    return result


def _compare_with_parent(result: CheckResult, table: Table, rows: list[dict[str, Any]],
                         parents: dict[Any, dict[str, Any]], column: str, fk: Any,
                         source_of: Callable[[dict[str, Any]], str | None],
                         describe: Callable[[dict[str, Any], str, dict[str, Any]], str]) -> None:
    """Each row's `column` must equal its parent's `source_of(row)` column (rows without either are skipped)."""
    for row in rows:
        parent = parents.get(row.get(fk.column))
        source = source_of(row)
        if parent is None or source is None or row.get(column) is None:
            continue
        result.checked += 1
        if not _close(row[column], parent.get(source)):
            result.failures.append(f"{table.name} {row.get(table.primary_key)}: {describe(row, source, parent)}")


def check_unit_prices(spec: EnvSpec) -> CheckResult:
    """A line's unit price is its product's price; a class fare is the parent's price of that class."""
    result = CheckResult("prices are the referenced price")
    rows, index = _rows(spec), _index(spec)
    for table in spec.tables:
        for column, fk, source in unit_price_links(spec, table):
            _compare_with_parent(
                result, table, rows[table.name], index[fk.ref_table], column, fk,
                lambda row, source=source: source,
                lambda row, src, parent, column=column, fk=fk: (
                    f"{column}={row[column]}, {fk.ref_table} {row.get(fk.column)} has {src}={parent.get(src)}"))
        for column, enum_column, fk, choice in class_price_links(spec, table):
            _compare_with_parent(
                result, table, rows[table.name], index[fk.ref_table], column, fk,
                lambda row, choice=choice, enum_column=enum_column: choice.get(row.get(enum_column)),
                lambda row, src, parent, column=column, enum_column=enum_column, fk=fk: (
                    f"{column}={row[column]} for {row.get(enum_column)}, {fk.ref_table} has {src}={parent.get(src)}"))
    return result


def check_payments(spec: EnvSpec) -> CheckResult:
    """A payment's amount is the amount its parent is due."""
    result = CheckResult("payments are the amount due")
    rows, index = _rows(spec), _index(spec)
    for table in spec.tables:
        for paid, fk, due in payment_links(spec, table):
            _compare_with_parent(
                result, table, rows[table.name], index[fk.ref_table], paid, fk,
                lambda row, due=due: due,
                lambda row, src, parent, paid=paid, fk=fk: (
                    f"{paid}={row[paid]}, {fk.ref_table} {row.get(fk.column)} is due {parent.get(src)}"))
    return result


def check_references(spec: EnvSpec) -> CheckResult:
    """A row's references agree: a return's order is its item's order, a room type is its hotel's."""
    result = CheckResult("children agree with parents")
    rows = _rows(spec)
    from servers.seedrules import ReferencePlan

    for table in spec.tables:
        plan = ReferencePlan(spec, table)
        if not plan.derived:
            continue
        index = {t.name: {r.get(t.primary_key): r for r in rows[t.name]} for t in spec.tables}
        fk_of = {fk.column: fk for fk in table.foreign_keys}
        for column, (via, parent_column) in plan.derived.items():
            for row in rows[table.name]:
                target = index[fk_of[via].ref_table].get(row.get(via))
                if row.get(column) is not None and target is not None and target.get(parent_column) is not None:
                    result.checked += 1
        result.failures += reference_violations(spec, table, rows)
    return result


def check_ranges(spec: EnvSpec) -> CheckResult:
    """Numbers within the range their description states; every value fits its column (enums)."""
    result = CheckResult("ranges and enums")
    rows = _rows(spec)
    for table in spec.tables:
        for column in table.columns:
            low, high = stated_range(column) if column.type in ("integer", "number") else (None, None)
            for row in rows[table.name]:
                value = row.get(column.name)
                if value is None:
                    continue
                result.checked += 1
                problem = check_value(column, value)
                outside = (low is not None and value < low) or (high is not None and value > high)
                if problem is None and isinstance(value, (int, float)) and outside:
                    problem = f"'{column.name}'={value} outside [{low}, {high}] stated by its description"
                if problem:
                    result.failures.append(f"{table.name} {row.get(table.primary_key)}: {problem}")
    return result


def check_tiers(spec: EnvSpec) -> CheckResult:
    """economy_price <= premium_price <= business_price <= first_price within a row."""
    from servers.seedrules import TIER_RANK

    result = CheckResult("tiers are ordered")
    rows = _rows(spec)
    for table in spec.tables:
        for group in tier_groups(table):
            for row in rows[table.name]:
                values = sorted((TIER_RANK[t], row[c], c) for t, c in group if isinstance(row.get(c), (int, float)))
                if len(values) < 2:
                    continue
                result.checked += 1
                for (ra, va, ca), (rb, vb, cb) in zip(values, values[1:], strict=False):
                    if ra < rb and vb < va:
                        result.failures.append(f"{table.name} {row.get(table.primary_key)}: {cb}={vb} < {ca}={va}")
    return result


def check_places(spec: EnvSpec) -> CheckResult:
    """A row's city lies in its country; a trip's origin is not its destination."""
    result = CheckResult("places agree")
    rows = _rows(spec)
    for table in spec.tables:
        words = {c.name: set(name_words(c.name)) for c in table.columns
                 if c.type == "string" and not is_identifier(c, table)}
        cities = [c for c, w in words.items() if w & {"city", "town"}]
        countries = [c for c, w in words.items() if w & {"country"} and not w & {"code", "iso"}]
        for row in rows[table.name]:
            for city in cities:
                for country in countries:
                    if row.get(city) is None or row.get(country) is None:
                        continue
                    result.checked += 1
                    country_name = CITY_COUNTRY.get(row[city])
                    if row[country] not in (country_name, COUNTRY_CODES.get(country_name or "")):
                        result.failures.append(f"{table.name} {row.get(table.primary_key)}: "
                                               f"{row[city]}, {row[country]}")
            for a, b in trip_ends(table):
                if row.get(a) is None or row.get(b) is None:
                    continue
                result.checked += 1
                if row[a] == row[b]:
                    result.failures.append(f"{table.name} {row.get(table.primary_key)}: {a} = {b} = {row[a]}")
    return result


CHECKS: dict[str, Callable[[EnvSpec], CheckResult]] = {
    "time_order": check_time_order,
    "totals": check_totals,
    "unit_prices": check_unit_prices,
    "payments": check_payments,
    "references": check_references,
    "ranges": check_ranges,
    "tiers": check_tiers,
    "places": check_places,
}


def is_placeholder(value: str, table_name: str, column_name: str) -> bool:
    """Whether a seed string says nothing beyond a counter, its schema's names and filler words."""
    text = value.strip()
    if COUNTER.match(text) or "lorem ipsum" in text.lower():
        return True
    # Single letters ("29A", "B") are parts of codes, not words.
    words = [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 1]
    if not words:
        return False
    schema = set(name_words(table_name)) | set(name_words(column_name))
    schema |= {singular(w) for w in schema}
    return all(w in schema or singular(w) in schema or w in FILLER_WORDS for w in words)


def placeholder_share(spec: EnvSpec) -> tuple[int, int, list[str]]:
    """(placeholders, non-id seed strings, a few examples) of one environment's seed."""
    placeholders, total, examples = 0, 0, []
    rows = _rows(spec)
    for table in spec.tables:
        for column in table.columns:
            if column.type != "string" or is_identifier(column, table):
                continue
            for row in rows[table.name]:
                value = row.get(column.name)
                if not isinstance(value, str) or not value.strip():
                    continue
                total += 1
                if is_placeholder(value, table.name, column.name):
                    placeholders += 1
                    if len(examples) < 5:
                        examples.append(f"{table.name}.{column.name}={value!r}")
    return placeholders, total, examples

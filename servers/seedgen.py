"""Deterministic, realistic seed rows for an EnvSpec's tables.

Values fit each column's name and type (an `email` column gets e-mail addresses, a `price`
column gets prices, an enum column one of its values), foreign keys take keys that exist in the
referenced table, and parents are generated before children. Only the standard library's
`random.Random(seed)` is used, so the same spec and seed give the same rows on every machine
and Python version.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
from collections.abc import Iterable
from typing import Any

from servers.spec import Column, EnvSpec, Table

DEFAULT_GENERATED_ROWS = 20
# Prefixed keys count from here when a table has none yet, so generated ids look like "O-1001".
FIRST_PREFIXED_NUMBER = 1001

_FIRST_NAMES = [
    "Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Iris", "Lucas", "Nora", "Omar", "Priya", "Mateo",
    "Hana", "Felix", "Sofia", "Kenji", "Amara", "Jonas", "Leila", "Diego", "Chloe", "Ravi", "Elena",
    "Tariq", "Grace", "Yusuf", "Mila", "Aaron", "Ingrid", "Kofi",
]
_LAST_NAMES = [
    "Nguyen", "Smith", "Garcia", "Okafor", "Müller", "Rossi", "Kowalski", "Tanaka", "Silva", "Haddad",
    "Johansson", "Patel", "Dubois", "Kim", "Novak", "Fischer", "Moreau", "Chen", "Alvarez", "Brown",
    "Ivanova", "Murphy", "Larsen", "Costa", "Schmidt",
]
_CITIES = [
    ("Lisbon", "Portugal"), ("Berlin", "Germany"), ("Toronto", "Canada"), ("Osaka", "Japan"),
    ("Austin", "United States"), ("Lyon", "France"), ("Nairobi", "Kenya"), ("Melbourne", "Australia"),
    ("Seattle", "United States"), ("Madrid", "Spain"), ("Oslo", "Norway"), ("Pune", "India"),
    ("Denver", "United States"), ("Krakow", "Poland"), ("Dublin", "Ireland"), ("Bogotá", "Colombia"),
]
_AIRPORTS = ["LIS", "BER", "YYZ", "KIX", "AUS", "LYS", "NBO", "MEL", "SEA", "MAD", "OSL", "PNQ", "DEN", "DUB"]
_STREETS = ["Oak Street", "Maple Avenue", "Harbor Road", "King's Way", "Elm Court", "Station Lane",
            "Riverside Drive", "Hill Street", "Market Square", "Cedar Boulevard"]
_COMPANIES = ["Northwind", "Bluepeak", "Acme Supply", "Lumen Labs", "Cobalt & Co", "Greenfield",
              "Orbit Freight", "Silverline", "Redwood Retail", "Atlas Works"]
_PRODUCT_ADJ = ["Compact", "Wireless", "Ergonomic", "Classic", "Foldable", "Smart", "Ceramic",
                "Waterproof", "Portable", "Deluxe"]
_PRODUCT_NOUN = ["Desk Lamp", "Headphones", "Office Chair", "Backpack", "Kettle", "Monitor Stand",
                 "Water Bottle", "Keyboard", "Blender", "Umbrella", "Notebook", "Speaker"]
_WORDS = ["quick", "review", "update", "priority", "standard", "follow-up", "request", "delivery",
          "account", "support", "seasonal", "annual", "monthly", "express", "regional"]
_CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CAD"]
_CATEGORIES = ["electronics", "home", "office", "outdoor", "kitchen", "books", "toys", "sports"]
# Nullable columns that describe an exception (why something was cancelled) are mostly empty.
_OFTEN_EMPTY = {"reason", "note", "notes", "comment", "memo"}
_DATE_START = dt.date(2024, 1, 1)
_DATE_SPAN_DAYS = 900


def _words(name: str) -> set[str]:
    """Lower-case word parts of a column name: 'customerEmail' and 'customer_email' -> {customer, email}."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return {w for w in spaced.lower().split("_") if w}


class _RowFactory:
    """Makes the values of one table's rows; one instance per (table, generation run)."""

    def __init__(self, table: Table, rng: random.Random) -> None:
        self.table = table
        self.rng = rng

    def value(self, column: Column, n: int, row: dict[str, Any]) -> Any:
        rng = self.rng
        words = _words(column.name)
        name = column.name.lower()
        if column.type == "enum":
            return rng.choice(column.enum or [""])
        if column.type == "boolean":
            # Flags that describe a normal state ("active", "verified") are mostly true.
            if words & {"active", "enabled", "verified", "available", "refundable", "open"}:
                return rng.random() < 0.85
            return rng.random() < 0.3
        if column.type == "date":
            if words & {"birth", "dob", "birthday"}:
                return (dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20_000))).isoformat()
            day = _DATE_START + dt.timedelta(days=rng.randrange(_DATE_SPAN_DAYS))
            if words & {"time", "timestamp", "datetime"}:
                return f"{day.isoformat()}T{rng.randrange(6, 22):02d}:{rng.choice([0, 15, 30, 45]):02d}:00Z"
            return day.isoformat()
        if column.nullable and words & _OFTEN_EMPTY and rng.random() < 0.6:
            return None
        if column.type == "integer":
            return self._integer(words, name)
        if column.type == "number":
            return self._number(words, name)
        return self._string(words, name, n, row)

    def _integer(self, words: set[str], name: str) -> int:
        rng = self.rng
        if words & {"quantity", "qty", "count", "nights", "guests", "passengers"}:
            return rng.randint(1, 5)
        if words & {"stock", "inventory", "available", "remaining", "seats"}:
            return rng.randint(0, 120)
        if "age" in words:
            return rng.randint(18, 80)
        if "year" in words:
            return rng.randint(1995, 2025)
        if words & {"rating", "stars", "score"}:
            return rng.randint(1, 5)
        if words & {"minutes", "duration"}:
            return rng.randint(30, 600)
        if words & {"cents", "amount", "price", "balance", "total"}:
            return rng.randint(100, 500_000)
        return rng.randint(1, 1000)

    def _number(self, words: set[str], name: str) -> float:
        rng = self.rng
        if words & {"lat", "latitude"}:
            return round(rng.uniform(-60, 70), 5)
        if words & {"lon", "lng", "longitude"}:
            return round(rng.uniform(-180, 180), 5)
        if words & {"rating", "stars", "score"}:
            return round(rng.uniform(1, 5), 1)
        if words & {"rate", "percent", "pct", "discount", "tax"}:
            return round(rng.uniform(0, 30), 2)
        if words & {"balance", "limit"}:
            return round(rng.uniform(50, 25_000), 2)
        if words & {"weight", "kg"}:
            return round(rng.uniform(0.1, 40), 2)
        return round(rng.uniform(4, 600), 2)

    def _string(self, words: set[str], name: str, n: int, row: dict[str, Any]) -> str:
        rng = self.rng
        table_words = _words(self.table.name)
        person = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        if "email" in words:
            first, last = self._person_of(row) or person
            return f"{_ascii(first)}.{_ascii(last)}{n}@example.com".lower()
        if words & {"time", "hour"}:
            return f"{rng.randint(5, 22):02d}:{rng.choice([0, 10, 20, 30, 40, 50]):02d}"
        if re.fullmatch(r"last\d", name) or words & {"pin", "cvv", "digits", "last4"}:
            return f"{rng.randrange(10_000):04d}"
        if words & {"phone", "mobile", "tel"}:
            return f"+1-555-{rng.randrange(100, 1000):03d}-{rng.randrange(0, 10000):04d}"
        if "first" in words:
            return person[0]
        if words & {"last", "surname"}:
            return person[1]
        if words & {"city", "town"}:
            return rng.choice(_CITIES)[0]
        if "country" in words:
            return rng.choice(_CITIES)[1]
        if words & {"address", "street"}:
            return f"{rng.randint(1, 250)} {rng.choice(_STREETS)}, {rng.choice(_CITIES)[0]}"
        if words & {"zip", "postal", "postcode"}:
            return f"{rng.randrange(10000, 99999)}"
        if words & {"origin", "destination", "airport", "from", "to"} or name in {"src", "dst"}:
            return rng.choice(_AIRPORTS)
        if words & {"currency"}:
            return rng.choice(_CURRENCIES)
        if words & {"company", "vendor", "supplier", "merchant", "airline", "bank"}:
            return rng.choice(_COMPANIES)
        if words & {"category", "type", "kind", "department"}:
            return rng.choice(_CATEGORIES)
        if words & {"url", "website", "link"}:
            return f"https://example.com/{self.table.name}/{n}"
        if words & {"sku", "code", "number", "iban", "reference", "ref"}:
            return f"{self.table.name[:3].upper()}{rng.randrange(10_000, 99_999)}"
        if words & {"seat"}:
            return f"{rng.randint(1, 40)}{rng.choice('ABCDEF')}"
        if words & {"description", "notes", "note", "comment", "reason", "message", "summary", "memo"}:
            return f"{rng.choice(_WORDS).capitalize()} {rng.choice(_WORDS)} for {self.table.name.replace('_', ' ')}"
        if words & {"name", "title", "label"}:
            if table_words & {"customer", "customers", "user", "users", "passenger", "passengers",
                              "employee", "employees", "person", "people", "member", "members",
                              "owner", "owners", "contact", "contacts", "patient", "patients"} \
                    or words & {"full", "holder", "owner", "customer", "passenger"}:
                return f"{person[0]} {person[1]}"
            if table_words & {"product", "products", "item", "items"}:
                return f"{rng.choice(_PRODUCT_ADJ)} {rng.choice(_PRODUCT_NOUN)}"
            if table_words & {"company", "companies", "vendor", "vendors", "merchant", "merchants"}:
                return rng.choice(_COMPANIES)
            return f"{rng.choice(_WORDS).capitalize()} {self.table.name.rstrip('s').replace('_', ' ')} {n}"
        if "status" in words or "state" in words:
            return rng.choice(["active", "pending", "closed"])
        return f"{rng.choice(_WORDS)}-{n}"

    def _person_of(self, row: dict[str, Any]) -> tuple[str, str] | None:
        """The person already named in this row, so their e-mail matches their name."""
        first = next((v for k, v in row.items() if "first" in _words(k) and isinstance(v, str)), None)
        last = next((v for k, v in row.items() if _words(k) & {"last", "surname"} and isinstance(v, str)), None)
        if first and last:
            return first, last
        full = next((v for k, v in row.items() if "name" in _words(k) and isinstance(v, str) and " " in v), None)
        if full:
            a, b = full.split(" ", 1)
            return a, b.replace(" ", "")
        return None


def _ascii(text: str) -> str:
    return text.encode("ascii", "ignore").decode() or "user"


def table_order(spec: EnvSpec) -> list[Table]:
    """Tables with every referenced table before its referrers (cycles broken in spec order)."""
    tables = {t.name: t for t in spec.tables}
    done: list[Table] = []
    seen: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name in visiting:
            return
        visiting.add(name)
        for fk in tables[name].foreign_keys:
            if fk.ref_table != name:
                visit(fk.ref_table)
        visiting.discard(name)
        seen.add(name)
        done.append(tables[name])

    for t in spec.tables:
        visit(t.name)
    return done


def default_prefix(table: Table) -> str:
    """The id prefix of a string-keyed table that declares none: 'orders' -> 'ORD-'."""
    return table.id_prefix if table.id_prefix is not None else f"{table.name[:3].upper()}-"


def next_key_number(keys: Iterable[Any], prefix: str) -> int:
    """The number after the largest f"{prefix}<number>" key, at least FIRST_PREFIXED_NUMBER."""
    best = FIRST_PREFIXED_NUMBER - 1
    for key in keys:
        if isinstance(key, str) and key.startswith(prefix):
            tail = key[len(prefix):]
            if tail.isdigit():
                best = max(best, int(tail))
    return best + 1


def next_key(table: Table, keys: Iterable[Any]) -> Any:
    """The key a new row of `table` gets, given the keys its rows have: the one key rule, used
    by the executor (an insert without a key), seed generation and task generation (a new key
    a user states).

    Integer keys count on from the largest. String keys are f"{prefix}{number}" (the table's
    `id_prefix`, else one made from its name) with the number after the largest among the keys
    of that prefix, and at least FIRST_PREFIXED_NUMBER ("ORD-1001").
    """
    return next_keys(table, keys, 1)[0]


def next_keys(table: Table, keys: Iterable[Any], count: int) -> list[Any]:
    """The keys of `count` new rows of `table` (see `next_key`)."""
    if table.pk_column.type == "integer":
        start = max((k for k in keys if isinstance(k, int) and not isinstance(k, bool)), default=0) + 1
        return list(range(start, start + count))
    prefix = default_prefix(table)
    start = next_key_number(keys, prefix)
    return [f"{prefix}{n}" for n in range(start, start + count)]


def generate_rows(
    spec: EnvSpec,
    seed: int,
    counts: dict[str, int],
    existing: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """`counts[table]` new rows per table, deterministic in `seed`.

    Keys never collide with `existing` rows, and foreign keys may point at existing or newly
    generated parent rows. A table left out of `counts` gets no rows. Raises ValueError when a
    non-nullable foreign key has no parent row to point at.
    """
    existing = existing or {}
    unknown = sorted(set(counts) - {t.name for t in spec.tables})
    if unknown:
        raise ValueError(f"cannot generate rows for unknown table(s) {unknown}")
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {t.name: [] for t in spec.tables}
    for table in table_order(spec):
        count = int(counts.get(table.name, 0))
        if count <= 0:
            continue
        # Each table draws from its own stream so adding a table does not reshuffle the others.
        factory = _RowFactory(table, random.Random(f"{seed}:{table.name}:{rng.random()}"))
        keys = next_keys(table, [r.get(table.primary_key) for r in existing.get(table.name, [])], count)
        fks = {fk.column: fk for fk in table.foreign_keys}
        # Candidate parent keys per foreign key, gathered once (a self-reference grows as rows are made).
        parents_of = {
            fk.column: [
                r[fk.ref_column]
                for r in [*existing.get(fk.ref_table, []), *out[fk.ref_table]]
                if r.get(fk.ref_column) is not None
            ]
            for fk in table.foreign_keys
        }
        for i, key in enumerate(keys):
            row: dict[str, Any] = {}
            for column in table.columns:
                if column.name == table.primary_key:
                    continue
                fk = fks.get(column.name)
                if fk is not None:
                    parents = parents_of[fk.column]
                    self_ref = fk.ref_table == table.name and fk.ref_column == table.primary_key
                    if parents:
                        row[column.name] = factory.rng.choice(parents)
                    elif self_ref:
                        row[column.name] = key  # the first row of a self-referencing table points at itself
                    elif column.nullable:
                        row[column.name] = None
                    else:
                        raise ValueError(
                            f"cannot generate rows for '{table.name}': '{column.name}' references "
                            f"'{fk.ref_table}', which has no rows (generate some '{fk.ref_table}' rows too)"
                        )
                    continue
                row[column.name] = factory.value(column, i + 1, row)
            new_row = {table.primary_key: key, **row}
            for fk in table.foreign_keys:
                if fk.ref_table == table.name and new_row.get(fk.ref_column) is not None:
                    parents_of[fk.column].append(new_row[fk.ref_column])
            out[table.name].append(new_row)
    return out


def initial_rows(spec: EnvSpec, seed: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """The rows an episode starts with: the spec's explicit rows, plus generated ones.

    Generated rows come from `spec.seed.generate` (with `seed` replacing its seed when given);
    a spec without a generator still gets DEFAULT_GENERATED_ROWS per table on top of its own rows
    when a seed is given, so tasks can ask for varied states of any environment.
    """
    rows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in spec.tables}
    for name, table_rows in spec.seed.rows.items():
        rows[name] = copy.deepcopy(table_rows)
    generator = spec.seed.generate
    if generator is not None:
        counts = dict(generator.rows)
        gen_seed = generator.seed if seed is None else seed
    elif seed is not None:
        counts = {t.name: DEFAULT_GENERATED_ROWS for t in spec.tables}
        gen_seed = seed
    else:
        return rows
    generated = generate_rows(spec, gen_seed, counts, existing=rows)
    for name, new_rows in generated.items():
        rows[name].extend(new_rows)
    return rows

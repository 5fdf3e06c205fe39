"""Deterministic seed rows for an EnvSpec's tables that agree with themselves.

Values fit each column's semantic kind (servers.seedvalues: an `email` column gets e-mail
addresses matching the row's person, a `city` and a `country` of one row name one place, a
`checked_bags` column stays in the "(0-3)" its description states), parents are generated before
children, references agree with each other (a return's order is its item's order), and a final
pass (servers.seedrules) orders times, derives unit prices, totals and payments, and orders tiers.
Only the standard library's `random.Random(seed)` is used, so the same spec and seed give the same
rows on every machine and Python version.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from typing import Any

from servers.seedrules import ReferencePlan, make_consistent, total_links
from servers.seedvalues import ColumnKind, RowContext
from servers.spec import EnvSpec, Table

DEFAULT_GENERATED_ROWS = 20
# Prefixed keys count from here when a table has none yet, so generated ids look like "O-1001".
FIRST_PREFIXED_NUMBER = 1001

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
    generated parent rows; the first rows of a child table cover every parent once, so parents
    have children. A table left out of `counts` gets no rows. Raises ValueError when a
    non-nullable foreign key has no parent row to point at.
    """
    existing = existing or {}
    unknown = sorted(set(counts) - {t.name for t in spec.tables})
    if unknown:
        raise ValueError(f"cannot generate rows for unknown table(s) {unknown}")
    rng = random.Random(seed)
    order = table_order(spec)
    out: dict[str, list[dict[str, Any]]] = {t.name: [] for t in spec.tables}
    by_key = {t.name: {r.get(t.primary_key): r for r in existing.get(t.name, [])} for t in spec.tables}
    for table in order:
        count = int(counts.get(table.name, 0))
        if count <= 0:
            continue
        # Each table draws from its own stream so adding a table does not reshuffle the others.
        table_rng = random.Random(f"{seed}:{table.name}:{rng.random()}")
        out[table.name] = _table_rows(spec, table, count, table_rng, existing, out, by_key)
        by_key[table.name].update({r[table.primary_key]: r for r in out[table.name]})
    fresh = {id(r) for table_rows in out.values() for r in table_rows}
    merged = {t.name: [*existing.get(t.name, []), *out[t.name]] for t in spec.tables}
    make_consistent(spec, merged, fresh, random.Random(f"{seed}:consistency"), order)
    return out


def _table_rows(
    spec: EnvSpec,
    table: Table,
    count: int,
    rng: random.Random,
    existing: dict[str, list[dict[str, Any]]],
    out: dict[str, list[dict[str, Any]]],
    by_key: dict[str, dict[Any, dict[str, Any]]],
) -> list[dict[str, Any]]:
    kinds = {c.name: ColumnKind(c, table) for c in table.columns}
    columns = {c.name: c for c in table.columns}
    plan = ReferencePlan(spec, table)
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
    # Lines of a parent whose total sums them (order items) take every parent once first, so no
    # order is left with nothing in it; other children (payments, bookings) pick parents freely.
    tables = {t.name: t for t in spec.tables}
    summed = {fk.column for fk in table.foreign_keys
              if any(child.name == table.name and link.column == fk.column
                     for _, child, link, _, _ in total_links(spec, tables[fk.ref_table]))}
    cover = {name: rng.sample(keys_, len(keys_)) for name, keys_ in parents_of.items() if name in summed}
    unique_seen: dict[str, set[str]] = {}
    rows: list[dict[str, Any]] = []
    for i, key in enumerate(keys):
        ctx = RowContext(rng)
        row: dict[str, Any] = {}
        for name in plan.order(table):
            column = columns[name]
            if name == table.primary_key:
                continue
            fk = fks.get(name)
            if fk is None:
                value = kinds[name].value(ctx, i + 1)
                if kinds[name].kind in ("email", "username") and isinstance(value, str):
                    value = _unique(value, unique_seen.setdefault(name, set()))
                row[name] = value
                continue
            if name in plan.derived:
                via, parent_column = plan.derived[name]
                via_fk = fks[via]
                source = by_key[via_fk.ref_table].get(row.get(via))
                if source is not None and source.get(parent_column) is not None:
                    row[name] = source[parent_column]
                    continue
            parents = parents_of[name]
            if name in plan.siblings:
                parents = _same_grandparent(spec, table, row, name, plan.siblings[name], parents, by_key) or parents
            self_ref = fk.ref_table == table.name and fk.ref_column == table.primary_key
            if parents:
                covering = cover.get(name, [])
                row[name] = covering[i] if i < len(covering) and name not in plan.siblings else rng.choice(parents)
            elif self_ref:
                row[name] = key  # the first row of a self-referencing table points at itself
            elif column.nullable:
                row[name] = None
            else:
                raise ValueError(
                    f"cannot generate rows for '{table.name}': '{name}' references "
                    f"'{fk.ref_table}', which has no rows (generate some '{fk.ref_table}' rows too)"
                )
        new_row = {table.primary_key: key, **{c.name: row[c.name] for c in table.columns if c.name in row}}
        for fk in table.foreign_keys:
            if fk.ref_table == table.name and new_row.get(fk.ref_column) is not None:
                parents_of[fk.column].append(new_row[fk.ref_column])
        rows.append(new_row)
    return rows


def _unique(value: str, seen: set[str]) -> str:
    """The value, or it with a number before its '@' (or at its end) when a row already has it."""
    candidate, n = value, 2
    while candidate in seen:
        local, at, domain = value.partition("@")
        candidate = f"{local}{n}{at}{domain}"
        n += 1
    seen.add(candidate)
    return candidate


def _same_grandparent(
    spec: EnvSpec,
    table: Table,
    row: dict[str, Any],
    name: str,
    sibling: tuple[str, str, str],
    parents: list[Any],
    by_key: dict[str, dict[Any, dict[str, Any]]],
) -> list[Any]:
    """The candidate parents of `name` that share a grandparent with the row's sibling reference."""
    earlier, earlier_column, own_column = sibling
    fks = {fk.column: fk for fk in table.foreign_keys}
    chosen = by_key[fks[earlier].ref_table].get(row.get(earlier))
    if chosen is None:
        return []
    target = chosen.get(earlier_column)
    ref_rows = by_key[fks[name].ref_table]
    return [k for k in parents if ref_rows.get(k, {}).get(own_column) == target]


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

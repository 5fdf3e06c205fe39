"""Directed tool dependencies: which tool's output can provide another tool's id argument.

`find_orders` returns rows of `orders` carrying `order_id`, so it feeds `get_order(order_id)`
and `cancel_order(order_id)`; `get_order` returns `customer_id` (a foreign key to customers),
so it feeds `get_customer(customer_id)`; `create_order` returns the new order's key. Only key
and foreign-key arguments are linked: those are the values an agent cannot invent and must
obtain from an earlier call, which is what task generation walks. What a tool takes and returns
is `servers.semantics`' answer (`references`, `provided_keys`).

An environment with no such edge (a read-only API keyed by symbols or codes, not ids) still
has values one call must take from another: `list_symbols` returns `symbol`, which
`get_quotes(symbol)` filters on. Only there, an equality filter on a column is linked to the
tools whose results carry that column of the same table.
"""

from __future__ import annotations

from servers.semantics import spec_semantics
from servers.spec import EnvSpec, ToolDependency
from synth.envs.names import identifier


def derive_dependencies(spec: EnvSpec, described: dict[str, set[str]] | None = None) -> list[ToolDependency]:
    """Key edges, else value edges (module docstring). `described`: table -> the columns a
    response schema describes (synth.envs.schema.DomainSchema.described); a column a source
    takes as an argument hands on a value of its own only if a response describes it."""
    sems = spec_semantics(spec)
    needs = {name: sem.references(spec) for name, sem in sems.items()}
    gives = {name: sem.provided_keys(spec) for name, sem in sems.items()}
    required_keys = {
        t.name: {key for arg, key in needs[t.name].items() if arg in t.input_schema.get("required", [])}
        for t in spec.tools
    }
    echoed = {name: _echoed_foreign_keys(spec, sem) for name, sem in sems.items()}
    deps: list[ToolDependency] = []
    for target in spec.tools:
        for argument, key in needs[target.name].items():
            for source in spec.tools:
                if _same_call(source, target):
                    continue
                column = gives[source.name].get(key)
                # A tool that already needs this key as input cannot be where the key comes from.
                if column is None or key in required_keys[source.name] or column in echoed[source.name]:
                    continue
                deps.append(ToolDependency(source=source.name, target=target.name, argument=argument, column=column))
    return deps or _value_dependencies(spec, sems, described or {})


def _same_call(source, target) -> bool:
    """The same tool, or the same operation under another name (WMATA serves each read twice,
    `JSON_Elevator_Escalator_Outages` and its `XML_` twin): no call hands a value to itself."""
    return source.name == target.name or source.operation == target.operation


def _echoed_foreign_keys(spec: EnvSpec, sem) -> set[str]:
    """Foreign keys of the tool's result that only echo its own filters: when every column of
    the result's table but its key is one the tool's arguments fill (the API describes no
    record: `organization_activity_list(id)`, `getTuneinLinks(showID, tweet, hashtags)`), the
    parent key its rows carry is the one the caller gave, not a value the call found."""
    table = spec.table(sem.output_table)
    reads = {use.column for use in _argument_reads(sem, table.name)}
    if not {c.name for c in table.columns} - {table.primary_key} <= reads | {
            u.column for uses in sem.uses.values() for u in uses if u.table == table.name and u.column}:
        return set()
    return {fk.column for fk in table.foreign_keys} & reads


def _argument_reads(sem, table: str) -> list:
    """The equality filters and values of the tool's arguments on `table`."""
    return [use for uses in sem.uses.values() for use in uses if use.table == table and use.column
            and (use.role in ("value", "set") or use.role == "filter" and use.op == "eq")]


def _given_columns(sem, table: str) -> set[str]:
    """Columns of `table` whose value in the tool's result its caller always gives: what it writes
    from its arguments, and what a required argument filters on."""
    return {use.column for arg, uses in sem.uses.items() for use in uses
            if use.table == table and use.column
            and (use.role in ("value", "set") or use.role == "filter" and use.op == "eq" and arg in sem.required)}


# Column names too generic to say that two tables hold the same kind of value.
GENERIC_COLUMNS = frozenset({
    "name", "title", "type", "kind", "status", "state", "description", "value", "text", "label", "date",
    "created", "updated", "created_at", "updated_at", "time", "count", "limit", "format", "lang", "language",
})


def _value_dependencies(spec: EnvSpec, sems: dict, described: dict[str, set[str]]) -> list[ToolDependency]:
    """Equality filters fed by a result column of the same name (same table, or a specific name
    such as `symbol` or `iata_code` in another table). Not from a source that echoes the column:
    one that writes it or filters on it as a required argument (the caller gave the value), one
    that takes it as any other argument when no response describes it (`fromdate` of one report
    handed to another, `ada` of one restroom search to the next), or its own key when it is
    looked up by key."""
    echoes = {name: _echoed_columns(spec, sem, described) for name, sem in sems.items()}
    deps: list[ToolDependency] = []
    for target in spec.tools:
        for argument, use in sems[target.name].first_uses("filter").items():
            if use.op != "eq" or not use.column:
                continue
            for source in spec.tools:
                sem = sems[source.name]
                if _same_call(source, target) or sem.output_deleted or argument in sem.required \
                        or use.column in echoes[source.name]:
                    continue
                same_table = sem.output_table == use.table
                if use.column in sem.output_columns and (same_table or use.column not in GENERIC_COLUMNS):
                    deps.append(ToolDependency(source=source.name, target=target.name, argument=argument,
                                               column=use.column))
    return deps


def _echoed_columns(spec: EnvSpec, sem, described: dict[str, set[str]]) -> set[str]:
    """Columns of the tool's result whose value came from its caller (`_value_dependencies`):
    the ones its caller always gives, the others it takes as arguments unless a response
    describes them, and its own key when it is looked up by key."""
    table = spec.table(sem.output_table)
    taken = {u.column for u in _argument_reads(sem, table.name)} | {identifier(p) for p in sem.properties}
    echoed = _given_columns(sem, table.name) | (taken - described.get(table.name, set()))
    if any(u.role == "key" and u.table == table.name for uses in sem.uses.values() for u in uses):
        echoed.add(table.primary_key)
    return echoed

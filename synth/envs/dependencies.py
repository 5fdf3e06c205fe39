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


def derive_dependencies(spec: EnvSpec) -> list[ToolDependency]:
    sems = spec_semantics(spec)
    needs = {name: sem.references(spec) for name, sem in sems.items()}
    gives = {name: sem.provided_keys(spec) for name, sem in sems.items()}
    required_keys = {
        t.name: {key for arg, key in needs[t.name].items() if arg in t.input_schema.get("required", [])}
        for t in spec.tools
    }
    deps: list[ToolDependency] = []
    for target in spec.tools:
        for argument, key in needs[target.name].items():
            for source in spec.tools:
                if source.name == target.name:
                    continue
                column = gives[source.name].get(key)
                # A tool that already needs this key as input cannot be where the key comes from.
                if column is None or key in required_keys[source.name]:
                    continue
                deps.append(ToolDependency(source=source.name, target=target.name, argument=argument, column=column))
    return deps or _value_dependencies(spec, sems)


# Column names too generic to say that two tables hold the same kind of value.
_GENERIC_COLUMNS = frozenset({
    "name", "title", "type", "kind", "status", "state", "description", "value", "text", "label", "date",
    "created", "updated", "created_at", "updated_at", "time", "count", "limit", "format", "lang", "language",
})


def _value_dependencies(spec: EnvSpec, sems: dict) -> list[ToolDependency]:
    """Equality filters fed by a result column of the same name (same table, or a specific name
    such as `symbol` or `iata_code` in another table)."""
    deps: list[ToolDependency] = []
    for target in spec.tools:
        for argument, use in sems[target.name].first_uses("filter").items():
            if use.op != "eq" or not use.column:
                continue
            for source in spec.tools:
                sem = sems[source.name]
                if source.name == target.name or sem.output_deleted or argument in sem.required:
                    continue
                same_table = sem.output_table == use.table
                if use.column in sem.output_columns and (same_table or use.column not in _GENERIC_COLUMNS):
                    deps.append(ToolDependency(source=source.name, target=target.name, argument=argument,
                                               column=use.column))
    return deps

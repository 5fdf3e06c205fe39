"""One domain's tools -> a draft EnvSpec: tables, operations, seed rows and dependencies.

The draft is validated with `servers.spec.parse_envspec`; a tool whose operation cannot be
served is left out with the reason (the rest of the domain still builds). Seed rows come from
`servers.seedgen.generate_rows`, materialized into `seed.rows` so that the environment file
alone fixes its initial state.

Where the API states rules, the draft carries them: a tool's `x-envhub-operation` becomes its
operation (see synth.envs.operations), a record property's declared `default` becomes its
column's default, and a tool's `x-envhub-seed` statements (SQL UPDATE/DELETE over the generated
rows, run as a program under the same authorizer as any tool) make the seed respect the rule
that tool enforces (an order's total is the sum of its items, a return names an item of its
delivered order). Dependencies and precondition coverage are derived from the shorthand each
tool's shape gives, which says what its arguments address whatever its stated operation does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servers.executor import execute_tool
from servers.seedgen import generate_rows
from servers.semantics import deleted_tables, steps
from servers.spec import EnvSpec, SpecError, parse_envspec
from servers.state import EnvRuntime, EpisodeStore
from synth.data.default_apis import source_name
from synth.envs.dependencies import derive_dependencies
from synth.envs.names import tool_name
from synth.envs.operations import build_tool
from synth.envs.schema import DomainSchema, TableDraft, fitting_default, infer_schema
from synth.envs.shapes import ToolShape, reconcile_shapes, shape_tool
from synth.tooldef import ToolDef

PARENT_ROWS = 8
CHILD_ROWS = 12
FREE_PARENT_ROWS = 3
SEED_EXTENSION = "x-envhub-seed"
SEED_RULES_TOOL = "envhub_seed_rules"


@dataclass
class Draft:
    spec: EnvSpec | None
    # tool name -> the ToolDef it came from (the names in the spec may be disambiguated)
    origins: dict[str, ToolDef] = field(default_factory=dict)
    # (tool name, reason) for tools left out of the draft
    rejected: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None  # why no spec could be drafted at all


def _table_json(t: TableDraft) -> dict[str, Any]:
    return {
        "name": t.name,
        "description": f"{t.entity.replace('_', ' ').capitalize()} records.",
        "primary_key": t.primary_key,
        "columns": [
            {"name": c.name, "type": c.type, "enum": c.enum if c.type == "enum" else None,
             "nullable": c.nullable if c.name != t.primary_key else False, "description": c.description,
             "default": fitting_default(c) if c.name != t.primary_key else None}
            for c in t.columns.values()
        ],
        "id_prefix": t.id_prefix,
    }


def _tables_json(schema: DomainSchema) -> list[dict[str, Any]]:
    out = []
    for t in schema.tables.values():
        data = _table_json(t)
        data["foreign_keys"] = [
            {"column": col, "ref_table": schema.tables[ref].name, "ref_column": schema.tables[ref].primary_key}
            for col, ref in t.foreign_keys.items()
        ]
        out.append(data)
    return out


def _fill_required_columns(tool: dict[str, Any], schema: DomainSchema, shape: ToolShape) -> None:
    """Inserts give non-nullable columns (counters) a starting value the caller never passes."""
    op = tool["operation"]
    if op["kind"] != "insert":
        return
    table = schema.tables[shape.entity]
    for col in table.columns.values():
        if not col.nullable and col.name != table.primary_key and col.name not in op["values"]:
            op["values"][col.name] = {"const": 0 if col.type in ("integer", "number") else ""}


def _describe_env(tools: list[ToolDef], domain: str) -> str:
    apis = sorted({t.api for t in tools if t.api})
    shown = ", ".join(apis[:4]) + (f" and {len(apis) - 4} more" if len(apis) > 4 else "")
    return f"Tools from {shown}." if apis else f"Tools of the '{domain}' domain."


def _cover_preconditions(spec: Any, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Random statuses may leave no `scheduled` transfer for `cancel_transfer` (`status in
    [scheduled]`) to act on; give such a tool a row it can act on, taking rows from the end so
    that tools of one table do not undo each other's fixes."""
    used: dict[str, int] = {}
    for tool in sorted(spec.tools, key=lambda t: t.name):
        for step in steps(tool.operation):
            checks = [p for p in step.preconditions
                      if p.op == "in" and isinstance(getattr(p.value, "const", None), list) and p.value.const]
            table_rows = rows.get(step.table, [])
            if not checks or not table_rows:
                continue
            if any(all(r.get(p.column) in p.value.const for p in checks) for r in table_rows):
                continue
            index = len(table_rows) - 1 - used.get(step.table, 0) % len(table_rows)
            used[step.table] = used.get(step.table, 0) + 1
            for p in checks:
                table_rows[index][p.column] = p.value.const[0]


class SeedRuleError(ValueError):
    """A tool's `x-envhub-seed` statements are not valid SQL over the tables, or refuse to run."""


def _seed_rules(shapes: list[ToolShape], names: dict[int, str], kept: set[str]) -> list[tuple[str, str]]:
    """(tool name, statement) for every `x-envhub-seed` statement of a tool the draft kept, in tool order."""
    out: list[tuple[str, str]] = []
    for i, shape in enumerate(shapes):
        stated = (shape.tool.extensions or {}).get(SEED_EXTENSION)
        if names[i] not in kept or stated is None:
            continue
        statements = stated if isinstance(stated, list) else [stated]
        out += [(names[i], sql) for sql in statements]
    return out


def apply_seed_rules(spec: EnvSpec, rows: dict[str, list[dict[str, Any]]],
                     rules: list[tuple[str, str]]) -> dict[str, list[dict[str, Any]]]:
    """The rows after running `rules` (UPDATE/DELETE statements) over them, in one program.

    The statements run as the exec steps of a program, validated and confined by the same
    authorizer as every tool's program: they can change only this environment's tables."""
    if not rules:
        return rows
    data = spec.model_dump(mode="json", by_alias=True)
    data["tools"] = [{
        "name": SEED_RULES_TOOL, "description": "Make the generated seed respect the tools' rules.",
        "operation": {"kind": "program", "steps": [{"exec": sql} for _, sql in rules]},
    }]
    data["seed"] = {"rows": rows, "generate": None}
    data["dependencies"] = []
    try:
        rules_spec = parse_envspec(data, origin=f"env '{spec.name}' seed rules")
    except SpecError as err:
        owners = ", ".join(dict.fromkeys(tool for tool, _ in rules))
        raise SeedRuleError(f"{SEED_EXTENSION} of {owners}: {err}") from None
    runtime = EnvRuntime(rules_spec, template_cache_size=1)
    store = EpisodeStore({rules_spec.name: runtime}, max_live=1)
    episode = store.create(rules_spec.name)
    try:
        outcome = execute_tool(runtime, episode.conn, SEED_RULES_TOOL, {})
        if not outcome.ok:
            raise SeedRuleError(f"{SEED_EXTENSION}: {outcome.error}")
        return episode.rows()
    finally:
        store.close(episode.id)


def _planning_spec(base: dict[str, Any], derived: list[dict[str, Any]], name: str) -> EnvSpec:
    """The environment with each kept tool's derived shorthand (a tool whose stated operation is
    valid but whose derived one is not is left out: it then has no derived dependencies)."""
    try:
        return parse_envspec({**base, "tools": derived}, origin=f"env '{name}' (derived shorthand)")
    except SpecError:
        valid = []
        for data in derived:
            try:
                parse_envspec({**base, "tools": [data]}, origin=f"tool '{data['name']}'")
                valid.append(data)
            except SpecError:
                continue
        return parse_envspec({**base, "tools": valid}, origin=f"env '{name}' (derived shorthand)")


def draft_envspec(name: str, domain: str, tools: list[ToolDef], *, seed: int = 0) -> Draft:
    all_shapes = reconcile_shapes([shape_tool(t) for t in tools])
    # A tool that maps onto no resource action is left out with the reason (never an insert).
    unmapped = [(s.tool.name, s.problem) for s in all_shapes if s.problem]
    shapes = [s for s in all_shapes if not s.problem]
    schema = infer_schema(shapes)
    taken: set[str] = set()
    tool_json: list[dict[str, Any]] = []
    # The same tools with the shorthand their shape gives: what their arguments address.
    derived_json: dict[str, dict[str, Any]] = {}
    origins: dict[str, ToolDef] = {}
    names: dict[int, str] = {}
    for i, shape in enumerate(shapes):
        tname = tool_name(shape.tool.name, taken)
        names[i] = tname
        data = build_tool(shape, tname, schema)
        _fill_required_columns(data, schema, shape)
        tool_json.append(data)
        derived = build_tool(shape, tname, schema, derived_only=True)
        _fill_required_columns(derived, schema, shape)
        derived_json[tname] = derived
        origins[tname] = shape.tool
    base = {
        "name": name,
        "description": _describe_env(tools, domain),
        "domain": domain,
        "source": sorted({source_name(t.source) for t in tools}),
        "tables": _tables_json(schema),
        "tools": tool_json,
    }
    rejected: list[tuple[str, str]] = [(tool, f"no resource action: {why}") for tool, why in unmapped]
    if not tool_json:
        return Draft(None, origins, rejected, "no tool maps onto a resource action")
    try:
        spec = parse_envspec(base, origin=f"env '{name}'")
    except SpecError:
        # Find the tools that make the draft invalid, one by one, and keep the rest.
        good = []
        for data in tool_json:
            try:
                parse_envspec({**base, "tools": [data]}, origin=f"tool '{data['name']}'")
                good.append(data)
            except SpecError as err:
                rejected.append((data["name"], str(err)))
        try:
            spec = parse_envspec({**base, "tools": good}, origin=f"env '{name}'")
        except SpecError as err:
            return Draft(None, origins, rejected, f"invalid tables: {err}")
    kept = {t.name for t in spec.tools}
    planning = _planning_spec(base, [derived_json[t.name] for t in spec.tools], name)
    counts = {
        t.name: CHILD_ROWS if t.foreign_keys else PARENT_ROWS for t in spec.tables
    }
    rows = generate_rows(spec, seed, counts)
    # Rows generated after the children have none: deletes need such rows to act on.
    deleted = {table for t in planning.tools for table in deleted_tables(t.operation)}
    parents = {fk.ref_table for t in spec.tables for fk in t.foreign_keys}
    extra = {name: FREE_PARENT_ROWS for name in deleted & parents}
    if extra:
        for name, new_rows in generate_rows(spec, seed + 1, extra, existing=rows).items():
            rows[name].extend(new_rows)
    _cover_preconditions(planning, rows)
    try:
        rows = apply_seed_rules(spec, rows, _seed_rules(shapes, names, kept))
    except SeedRuleError as err:
        return Draft(None, origins, rejected, f"invalid seed rules: {err}")
    data = spec.model_dump(mode="json", by_alias=True)
    data["seed"] = {"rows": rows, "generate": None}
    data["dependencies"] = [d.model_dump(mode="json") for d in derive_dependencies(planning, schema.described)]
    try:
        spec = parse_envspec(data, origin=f"env '{name}'")
    except SpecError as err:
        # One environment whose seed breaks a rule is dropped with the reason; the build goes on.
        return Draft(None, origins, rejected, f"invalid seed state: {err}")
    return Draft(spec, origins, rejected)

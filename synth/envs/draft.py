"""One domain's tools -> a draft EnvSpec: tables, operations, seed rows and dependencies.

The draft is validated with `servers.spec.parse_envspec`; a tool whose operation cannot be
served is left out with the reason (the rest of the domain still builds). Seed rows come from
`servers.seedgen.generate_rows`, materialized into `seed.rows` so that the environment file
alone fixes its initial state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servers.seedgen import generate_rows
from servers.semantics import deleted_tables, steps
from servers.spec import EnvSpec, SpecError, parse_envspec
from synth.envs.dependencies import derive_dependencies
from synth.envs.names import tool_name
from synth.envs.operations import build_tool
from synth.envs.schema import DomainSchema, TableDraft, infer_schema
from synth.envs.shapes import ToolShape, reconcile_shapes, shape_tool
from synth.tooldef import ToolDef

PARENT_ROWS = 8
CHILD_ROWS = 12
FREE_PARENT_ROWS = 3


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
             "nullable": c.nullable if c.name != t.primary_key else False, "description": c.description}
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


def draft_envspec(name: str, domain: str, tools: list[ToolDef], *, seed: int = 0) -> Draft:
    shapes = reconcile_shapes([shape_tool(t) for t in tools])
    schema = infer_schema(shapes)
    taken: set[str] = set()
    tool_json: list[dict[str, Any]] = []
    origins: dict[str, ToolDef] = {}
    for shape in shapes:
        tname = tool_name(shape.tool.name, taken)
        data = build_tool(shape, tname, schema)
        _fill_required_columns(data, schema, shape)
        tool_json.append(data)
        origins[tname] = shape.tool
    base = {
        "name": name,
        "description": _describe_env(tools, domain),
        "domain": domain,
        "source": sorted({t.source for t in tools}),
        "tables": _tables_json(schema),
        "tools": tool_json,
    }
    rejected: list[tuple[str, str]] = []
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
    counts = {
        t.name: CHILD_ROWS if t.foreign_keys else PARENT_ROWS for t in spec.tables
    }
    rows = generate_rows(spec, seed, counts)
    # Rows generated after the children have none: deletes need such rows to act on.
    deleted = {table for t in spec.tools for table in deleted_tables(t.operation)}
    parents = {fk.ref_table for t in spec.tables for fk in t.foreign_keys}
    extra = {name: FREE_PARENT_ROWS for name in deleted & parents}
    if extra:
        for name, new_rows in generate_rows(spec, seed + 1, extra, existing=rows).items():
            rows[name].extend(new_rows)
    _cover_preconditions(spec, rows)
    data = spec.model_dump(mode="json", by_alias=True)
    data["seed"] = {"rows": rows, "generate": None}
    data["dependencies"] = [d.model_dump(mode="json") for d in derive_dependencies(spec)]
    spec = parse_envspec(data, origin=f"env '{name}'")
    return Draft(spec, origins, rejected)

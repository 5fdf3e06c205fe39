"""The executable quality gate: every tool is called, for real, before an environment ships.

Each tool gets a fresh episode (EnvRuntime + EpisodeStore, in-process SQLite) and arguments
drawn from the seed state (`synth.envs.calls`). A tool passes when the call succeeds and, for a
write, the state hash changes. A failing tool is retried on other rows, then repaired (its
constant preconditions relaxed, its argument types aligned with the columns they feed) and
tried again; a tool that still fails is dropped, with the reason. An environment left with fewer
than `min_tools` working tools is dropped as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from servers.executor import execute_tool
from servers.seedgen import initial_rows
from servers.spec import (
    WRITE_KINDS,
    ArgValue,
    EnvSpec,
    SpecError,
    ToolSpec,
    parse_envspec,
    simple_ops,
)
from servers.state import EnvRuntime, EpisodeStore, quote
from synth.envs.calls import plan_arguments

ATTEMPTS = 3
MIN_TOOLS = 3
_JSON_TYPE = {"string": "string", "date": "string", "enum": "string", "integer": "integer",
              "number": "number", "boolean": "boolean"}


@dataclass
class ToolVerdict:
    name: str
    ok: bool
    reason: str | None = None  # a short category for the report when not ok
    detail: str | None = None  # the last error message
    repaired: str | None = None  # what the gate changed to make it work
    arguments: dict[str, Any] | None = None  # the call that passed


@dataclass
class GateResult:
    spec: EnvSpec | None  # the environment with only its working tools; None when dropped
    verdicts: list[ToolVerdict] = field(default_factory=list)
    reason: str | None = None  # why the whole environment was dropped

    @property
    def passed(self) -> bool:
        return self.spec is not None

    @property
    def kept(self) -> list[str]:
        return [v.name for v in self.verdicts if v.ok]


def _light_validator(tool: ToolSpec) -> Callable[[dict], str | None]:
    """Argument validation without compiling code per tool.

    The executor compiles a fastjsonschema validator per tool (worth it for a server answering
    many calls); the gate calls each tool once or twice, where compiling costs more than the
    calls. This checks the same things: unknown arguments, then the JSON Schema.
    """
    schema = tool.input_schema
    properties = schema.get("properties", {})
    extra_allowed = schema.get("additionalProperties", False) is not False
    checker = jsonschema.validators.validator_for(schema)(schema)

    def validate(arguments: dict) -> str | None:
        if not extra_allowed:
            unknown = sorted(set(arguments) - set(properties))
            if unknown:
                return f"unknown argument(s) {unknown} for tool '{tool.name}'"
        error = jsonschema.exceptions.best_match(checker.iter_errors(arguments))
        if error is None:
            return None
        where = ".".join(str(p) for p in error.absolute_path)
        return f"invalid argument '{where}' for tool '{tool.name}': {error.message}"

    return validate


def _written_tables(tool: ToolSpec) -> list[str]:
    return sorted({o.table for o in simple_ops(tool.operation) if o.kind in WRITE_KINDS})


class _Probe:
    """Calls tools of one spec on fresh episodes."""

    def __init__(self, spec: EnvSpec) -> None:
        self.spec = spec
        self.runtime = EnvRuntime(spec, template_cache_size=1)
        for tool in spec.tools:
            self.runtime.validators[tool.name] = _light_validator(tool)
        self.store = EpisodeStore({spec.name: self.runtime}, max_live=4)
        # Read-only use: the gate never mutates these, so no copy (initial_rows deep-copies).
        self.rows = spec.seed.rows if spec.seed.generate is None else initial_rows(spec)

    def _contents(self, conn: Any, tables: list[str]) -> list[list[tuple]]:
        """The raw rows of the tables a write touches: equal before and after <=> same state hash,
        since an operation only ever writes the tables it names."""
        return [
            conn.execute(f"SELECT * FROM {quote(t)} ORDER BY {quote(self.runtime.tables[t].primary_key)}").fetchall()
            for t in tables
        ]

    def call(self, tool: ToolSpec) -> tuple[bool, str | None, str | None, dict | None]:
        """(ok, reason, detail, arguments) after up to ATTEMPTS calls on other rows."""
        reason, detail = "no seed row to call it on", None
        for attempt in range(ATTEMPTS):
            args = plan_arguments(self.spec, tool, self.rows, attempt)
            if args is None:
                return False, "no seed row to call it on", None, None
            episode = self.store.create(self.spec.name)
            try:
                written = _written_tables(tool)
                before = self._contents(episode.conn, written)
                outcome = execute_tool(self.runtime, episode.conn, tool.name, args)
                if not outcome.ok:
                    reason, detail = "call failed", outcome.error
                    continue
                if written and self._contents(episode.conn, written) == before:
                    reason, detail = "write changed nothing", f"state hash unchanged after {tool.name}({args})"
                    continue
                return True, None, None, args
            finally:
                self.store.close(episode.id)
        return False, reason, detail, None


def _relaxed(tool: ToolSpec) -> ToolSpec | None:
    """The tool without constant preconditions (the seed may hold no row that meets them)."""
    data = tool.model_dump(mode="json", exclude_none=False)
    changed = False
    ops = [s["op"] for s in data["operation"]["steps"]] if data["operation"]["kind"] == "sequence" else [data["operation"]]
    for op in ops:
        if op.get("preconditions"):
            op["preconditions"] = []
            changed = True
    return ToolSpec.model_validate(data) if changed else None


def _retyped(spec: EnvSpec, tool: ToolSpec) -> ToolSpec | None:
    """The tool with each argument typed like the column it reads or writes."""
    props = dict(tool.input_schema.get("properties", {}))
    changed = False
    op = tool.operation
    ops = simple_ops(op)  # none for a program
    for sop in ops:
        table = spec.table(sop.table)
        pairs: list[tuple[str, Any]] = []
        if hasattr(sop, "key"):
            pairs.append((table.primary_key, sop.key))
        pairs += [(f.column, f.value) for f in getattr(sop, "filters", [])]
        pairs += list(getattr(sop, "values", {}).items()) + list(getattr(sop, "set", {}).items())
        for column_name, value in pairs:
            column = table.column(column_name)
            if not isinstance(value, ArgValue) or column is None or value.arg not in props:
                continue
            want = _JSON_TYPE[column.type]
            prop = dict(props[value.arg]) if isinstance(props[value.arg], dict) else {}
            if prop.get("type") != want or (column.type == "enum" and prop.get("enum") != column.enum):
                prop["type"] = want
                prop.pop("format", None)
                prop.pop("pattern", None)
                if column.type == "enum":
                    prop["enum"] = list(column.enum or [])
                else:
                    prop.pop("enum", None)
                props[value.arg] = prop
                changed = True
    if not changed:
        return None
    return tool.model_copy(update={"input_schema": {**tool.input_schema, "properties": props}})


def _with_tool(spec: EnvSpec, tool: ToolSpec) -> EnvSpec:
    tools = [tool if t.name == tool.name else t for t in spec.tools]
    return spec.model_copy(update={"tools": tools})


def run_gate(spec: EnvSpec, *, min_tools: int = MIN_TOOLS) -> GateResult:
    """Call every tool; return the spec with only the working (possibly repaired) tools."""
    probe = _Probe(spec)
    verdicts: list[ToolVerdict] = []
    final_tools: list[ToolSpec] = []
    for tool in spec.tools:
        ok, reason, detail, args = probe.call(tool)
        repaired = None
        if not ok:
            for label, fix in (("argument types aligned with columns", _retyped(spec, tool)),
                               ("preconditions relaxed", _relaxed(tool))):
                if fix is None:
                    continue
                trial = _Probe(_with_tool(spec, fix))
                ok, reason2, detail2, args = trial.call(fix)
                if ok:
                    tool, repaired = fix, label
                    break
                reason, detail = reason2 or reason, detail2 or detail
        verdicts.append(ToolVerdict(tool.name, ok, None if ok else reason, None if ok else detail, repaired, args))
        if ok:
            final_tools.append(tool)
    if len(final_tools) < min_tools:
        why = "no working tools" if not final_tools else f"too few working tools ({len(final_tools)} < {min_tools})"
        return GateResult(None, verdicts, why)
    kept = {t.name for t in final_tools}
    data = spec.model_dump(mode="json", by_alias=True)
    data["tools"] = [t.model_dump(mode="json", by_alias=True) for t in final_tools]
    data["dependencies"] = [d for d in data["dependencies"] if d["source"] in kept and d["target"] in kept]
    try:
        gated = parse_envspec(data, origin=f"env '{spec.name}' after the gate")
    except SpecError as err:
        return GateResult(None, verdicts, f"invalid after the gate: {err}")
    return GateResult(gated, verdicts)

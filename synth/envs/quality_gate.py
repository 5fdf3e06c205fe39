"""The executable quality gate: every tool is called, for real, before an environment ships.

Each tool gets a fresh episode (EnvRuntime + EpisodeStore, in-process SQLite) and arguments
planned from the seed state (`synth.arguments.probe_arguments`). A tool passes when the call succeeds and, for a
write, the state hash changes. A failing tool is retried on other rows, then repaired (its
constant preconditions relaxed, its argument types aligned with the columns they feed) and
tried again; a tool that still fails is dropped, with the reason. An environment left with fewer
than `min_tools` working tools is dropped as a whole.

Then fidelity (`synth.envs.roundtrip`): every resource with a create and a get tool runs its
create -> get -> list -> update -> delete round trip on one episode, foreign keys checked after
every call; every constant precondition (a state rule) is probed both ways (`synth.envs.ruleprobe`):
a call that meets it passes, the same call on a row that breaks it fails and changes nothing.
The tool of a failed step or of a rule that does not hold is dropped with the reason; the
verdicts are kept in `GateResult.round_trips` and `GateResult.rule_probes` for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servers.executor import execute_tool
from servers.seedgen import initial_rows
from servers.semantics import steps, tool_semantics, without_preconditions, written_tables
from servers.spec import EnvSpec, SpecError, ToolSpec, parse_envspec
from servers.state import EnvRuntime, EpisodeStore, quote
from servers.validation import ToolValidators
from synth.arguments import probe_arguments
from synth.envs.roundtrip import RoundTrip, round_trips
from synth.envs.ruleprobe import UNPROBED, RuleProbe, probe_rules

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
    # Each resource's create -> get -> list -> update -> delete, measured before the tool of a
    # failed step was dropped (synth.envs.roundtrip).
    round_trips: list[RoundTrip] = field(default_factory=list)
    # Each constant precondition probed both ways (synth.envs.ruleprobe).
    rule_probes: list[RuleProbe] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.spec is not None

    @property
    def kept(self) -> list[str]:
        return [v.name for v in self.verdicts if v.ok]


class _Probe:
    """Calls tools of one spec on fresh episodes."""

    def __init__(self, spec: EnvSpec) -> None:
        self.spec = spec
        # Each tool is called once or twice: compiling its schema would cost more than the calls.
        self.runtime = EnvRuntime(spec, template_cache_size=1, validators=ToolValidators(compiled=False))
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
        sem = tool_semantics(self.spec, tool)
        written = written_tables(tool.operation)
        for attempt in range(ATTEMPTS):
            args = probe_arguments(self.spec, sem, self.rows, attempt)
            if args is None:
                return False, "no seed row to call it on", None, None
            episode = self.store.create(self.spec.name)
            try:
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
    relaxed = without_preconditions(tool.operation)
    return None if relaxed is None else tool.model_copy(update={"operation": relaxed})


def _retyped(spec: EnvSpec, tool: ToolSpec) -> ToolSpec | None:
    """The tool with each argument typed like the column it matches or stores."""
    props = dict(tool.input_schema.get("properties", {}))
    changed = False
    for step in steps(tool.operation):
        table = spec.table(step.table)
        for read in step.reads_of("key", "filter", "values", "set"):
            column = table.column(read.column or table.primary_key)
            arg = read.argument
            if arg is None or column is None or arg not in props:
                continue
            want = _JSON_TYPE[column.type]
            prop = dict(props[arg]) if isinstance(props[arg], dict) else {}
            if prop.get("type") != want or (column.type == "enum" and prop.get("enum") != column.enum):
                prop["type"] = want
                prop.pop("format", None)
                prop.pop("pattern", None)
                if column.type == "enum":
                    prop["enum"] = list(column.enum or [])
                else:
                    prop.pop("enum", None)
                props[arg] = prop
                changed = True
    if not changed:
        return None
    return tool.model_copy(update={"input_schema": {**tool.input_schema, "properties": props}})


def _with_tool(spec: EnvSpec, tool: ToolSpec) -> EnvSpec:
    tools = [tool if t.name == tool.name else t for t in spec.tools]
    return spec.model_copy(update={"tools": tools})


def run_gate(spec: EnvSpec, *, min_tools: int = MIN_TOOLS, round_trip: bool = True) -> GateResult:
    """Call every tool, then run every resource's round trip; return the spec with only the
    working (possibly repaired) tools that keep their resource coherent."""
    result = _run_tool_gate(spec, min_tools=min_tools)
    if not round_trip or result.spec is None:
        return result
    rows = _Probe(result.spec).rows
    trips = round_trips(result.spec, rows)
    probes = probe_rules(result.spec, rows)
    result.round_trips, result.rule_probes = trips, probes
    # The tool of a failed step is what breaks the resource, the tool of a rule that does not hold
    # both ways what breaks the rule: they go, with the reason.
    failing: dict[str, tuple[str, str | None]] = {}
    for trip in trips:
        if not trip.ok and trip.failed_step:
            failing.setdefault(trip.tools[trip.failed_step], (f"round trip: {trip.failed_step} failed", trip.detail))
    for probe in probes:
        if not probe.held and probe.detail not in UNPROBED:
            failing.setdefault(probe.tool, ("rule does not hold both ways", f"{probe.rule}: {probe.detail}"))
    if not failing:
        return result
    for verdict in result.verdicts:
        if verdict.ok and verdict.name in failing:
            verdict.ok = False
            verdict.reason, verdict.detail = failing[verdict.name]
    kept = [t for t in result.spec.tools if t.name not in failing]
    if len(kept) < min_tools:
        return GateResult(None, result.verdicts, f"too few coherent tools ({len(kept)} < {min_tools})", trips, probes)
    trimmed = _keep_tools(result.spec, kept)
    if isinstance(trimmed, str):
        return GateResult(None, result.verdicts, trimmed, trips, probes)
    return GateResult(trimmed, result.verdicts, None, trips, probes)


def _keep_tools(spec: EnvSpec, tools: list[ToolSpec]) -> EnvSpec | str:
    """The spec with only `tools` (and the dependencies between them), or why it is invalid."""
    kept = {t.name for t in tools}
    data = spec.model_dump(mode="json", by_alias=True)
    data["tools"] = [t.model_dump(mode="json", by_alias=True) for t in tools]
    data["dependencies"] = [d for d in data["dependencies"] if d["source"] in kept and d["target"] in kept]
    try:
        return parse_envspec(data, origin=f"env '{spec.name}' after the gate")
    except SpecError as err:
        return f"invalid after the gate: {err}"


def _run_tool_gate(spec: EnvSpec, *, min_tools: int) -> GateResult:
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
    gated = _keep_tools(spec, final_tools)
    if isinstance(gated, str):
        return GateResult(None, verdicts, gated)
    return GateResult(gated, verdicts)

"""Every stated rule probed both ways: a call that meets it passes, a call that breaks it fails.

A rule here is a constant precondition of a shorthand step (`status in [draft]`, `status ne
cancelled`): the state machines of `synth.envs.states` and the status verbs. For each one, on
fresh episodes:

- **meets**: the tool is called on a row that meets every constant precondition of its step
  (arguments from the one planner, pointed at that row); the call must succeed;
- **breaks**: the row's column is set to a value that breaks this precondition (a value outside
  the `in` list, the value a `ne` forbids), and the same call must fail, leaving the state as it
  was.

Foreign keys must hold after every probe. A rule that does not hold both ways is reported with
the tool, so the gate can drop it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servers.executor import execute_tool
from servers.semantics import ToolSemantics, compare, meets_const_preconditions, spec_semantics
from servers.spec import EnvSpec, Precondition
from servers.state import EnvRuntime, EpisodeStore, quote
from servers.validation import ToolValidators
from synth.arguments import probe_arguments
from synth.envs.roundtrip import foreign_key_violations

# Why a rule could not be probed (not a failure of the rule: the seed gives nothing to try it on).
NO_ROW, NO_BREAKING_VALUE, NO_ARGUMENTS = "no row meets the rule", "no value breaks the rule", "no arguments could be planned"
UNPROBED = frozenset({NO_ROW, NO_BREAKING_VALUE, NO_ARGUMENTS})


@dataclass
class RuleProbe:
    tool: str
    table: str
    rule: str  # `status in ['draft']`
    held: bool
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "table": self.table, "rule": self.rule, "held": self.held, "detail": self.detail}


def _const(pre: Precondition) -> Any:
    return getattr(pre.value, "const", None) if hasattr(pre.value, "const") else None


def _breaking_value(pre: Precondition, values: list[Any]) -> Any:
    """A value the column may hold that breaks `pre`, or None."""
    const = _const(pre)
    for value in values:
        if value is not None and not compare(pre.op, value, const):
            return value
    return None


class RuleProber:
    def __init__(self, spec: EnvSpec, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.spec = spec
        self.rows = rows
        self.runtime = EnvRuntime(spec, template_cache_size=1, validators=ToolValidators(compiled=False))
        self.store = EpisodeStore({spec.name: self.runtime}, max_live=2)

    def run(self) -> list[RuleProbe]:
        out: list[RuleProbe] = []
        for sem in spec_semantics(self.spec).values():
            if sem.tool.operation.kind == "program":
                continue  # a program's rules are SQL checks, probed by its own calls
            for step in sem.steps:
                rules = [p for p in step.preconditions if hasattr(p.value, "const")]
                if not rules or step.kind not in ("get", "update", "delete"):
                    continue
                for pre in rules:
                    out.append(self._probe(sem, step.table, list(step.preconditions), rules, pre))
        return out

    def _probe(self, sem: ToolSemantics, table_name: str, all_checks: list[Precondition],
               rules: list[Precondition], pre: Precondition) -> RuleProbe:
        label = f"{pre.column} {pre.op} {_const(pre)!r}"
        probe = RuleProbe(sem.name, table_name, label, False)
        table = self.spec.table(table_name)
        column = table.column(pre.column)
        meeting = [r for r in self.rows.get(table_name, []) if meets_const_preconditions(r, rules)]
        if column is None or not meeting:
            probe.detail = NO_ROW
            return probe
        if sem.kind == "delete":
            # A row other rows refer to cannot be deleted whatever the rule: probe a free one.
            referred = {r.get(fk.column) for t in self.spec.tables for fk in t.foreign_keys
                        if fk.ref_table == table_name for r in self.rows.get(t.name, [])}
            meeting = [r for r in meeting if r.get(table.primary_key) not in referred] or meeting
        row = meeting[0]
        values = list(column.enum or []) if column.type == "enum" else \
            [r.get(pre.column) for r in self.rows.get(table_name, [])]
        bad = _breaking_value(pre, values)
        if bad is None:
            probe.detail = NO_BREAKING_VALUE
            return probe
        focus = {**self.rows, table_name: [row]}
        args = probe_arguments(self.spec, sem, focus, 0)
        if args is None:
            probe.detail = NO_ARGUMENTS
            return probe
        # Meets: the call passes.
        episode = self.store.create(self.spec.name)
        try:
            outcome = execute_tool(self.runtime, episode.conn, sem.name, args)
            if not outcome.ok:
                probe.detail = f"a call that meets the rule failed: {outcome.error}"
                return probe
            broken = foreign_key_violations(episode.conn, self.spec)
            if broken:
                probe.detail = f"foreign keys broken: {', '.join(broken)}"
                return probe
        finally:
            self.store.close(episode.id)
        # Breaks: the same call on the row moved out of the rule fails and changes nothing.
        episode = self.store.create(self.spec.name)
        try:
            key = row[table.primary_key]
            episode.conn.execute(f"UPDATE {quote(table_name)} SET {quote(pre.column)} = ? WHERE "
                                 f"{quote(table.primary_key)} = ?", (bad, key))
            before = episode.rows()
            outcome = execute_tool(self.runtime, episode.conn, sem.name, args)
            if outcome.ok:
                probe.detail = f"a call on a row with {pre.column} {bad!r} passed"
                return probe
            if episode.rows() != before:
                probe.detail = "a refused call changed the state"
                return probe
        finally:
            self.store.close(episode.id)
        probe.held = True
        return probe


def probe_rules(spec: EnvSpec, rows: dict[str, list[dict[str, Any]]]) -> list[RuleProbe]:
    """Each constant precondition of `spec`'s shorthand tools, probed both ways."""
    return RuleProber(spec, rows).run()

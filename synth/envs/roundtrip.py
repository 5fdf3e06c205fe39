"""The fidelity half of the quality gate: does a resource behave like one?

For every table that has a create tool (an `insert` into it) and a get tool (a `get` by its key),
one episode runs the resource's life cycle with the tools an agent would use:

    create -> get (the same row comes back) -> list (a find on the table shows it)
           -> update (get shows the new values) -> delete (get no longer finds it)

Arguments come from the one argument planner (`synth.arguments.probe_arguments`), pointed at the
created row: the planner picks keys, filters and parent keys from the rows it is given, so giving
it the new row for the resource's table makes every call address that row. After every call the
foreign keys of the whole state are checked (an invariant no probe may break). Each resource gets
a verdict naming the first step that failed and why; steps the resource has no tool for are
skipped, not failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servers.executor import execute_tool
from servers.semantics import ToolSemantics, spec_semantics
from servers.spec import EnvSpec, Table
from servers.state import EnvRuntime, EpisodeStore, quote
from servers.validation import ToolValidators
from synth.arguments import probe_arguments

STEPS = ("create", "get", "list", "update", "delete")


@dataclass
class RoundTrip:
    """One resource's life cycle: which step failed (None: it passed) and with which tools."""

    table: str
    tools: dict[str, str] = field(default_factory=dict)  # step -> tool name
    passed_steps: list[str] = field(default_factory=list)
    failed_step: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_step is None

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "tools": self.tools, "passed": self.passed_steps,
                "failed_step": self.failed_step, "detail": self.detail}


def foreign_key_violations(conn: Any, spec: EnvSpec) -> list[str]:
    """Every foreign key whose value names no parent row, as `table.column -> ref_table`."""
    out = []
    for table in spec.tables:
        for fk in table.foreign_keys:
            sql = (f"SELECT COUNT(*) FROM {quote(table.name)} c WHERE c.{quote(fk.column)} IS NOT NULL AND NOT EXISTS "
                   f"(SELECT 1 FROM {quote(fk.ref_table)} p WHERE p.{quote(fk.ref_column)} = c.{quote(fk.column)})")
            if conn.execute(sql).fetchone()[0]:
                out.append(f"{table.name}.{fk.column} -> {fk.ref_table}")
    return out


def _pick(sems: list[ToolSemantics], kind: str, table: str, *, plain_update: bool = False) -> ToolSemantics | None:
    """The first tool (by name) of `kind` whose main step works on `table`."""
    # Fewest required arguments first: the plainest listing, the plainest get.
    for sem in sorted(sems, key=lambda s: (len(s.required), s.name)):
        if sem.kind != kind or sem.table != table:
            continue
        if kind in ("get", "update", "delete") and sem.key_arg() is None:
            continue
        # A status change or counted action has its own rules; the round trip's update stores
        # what the caller passes.
        stated_rules = any(hasattr(p.value, "const") for _, p in sem.preconditions)
        if plain_update and (stated_rules or not sem.first_uses("set")):
            continue
        return sem
    return None


def _resources(spec: EnvSpec, sems: dict[str, ToolSemantics]) -> list[tuple[Table, dict[str, ToolSemantics]]]:
    """Tables with a create and a get tool, with the tool chosen for each step it has."""
    # Programs state their own rules (an order needs stocked products...): their tools are probed
    # by the gate's calls, not by a generic life cycle.
    tools = [s for s in sems.values() if s.tool.operation.kind != "program"]
    out = []
    for table in spec.tables:
        chosen = {
            "create": _pick(tools, "insert", table.name),
            "get": _pick(tools, "get", table.name),
            "list": _pick(tools, "find", table.name),
            "update": _pick(tools, "update", table.name, plain_update=True),
            "delete": _pick(tools, "delete", table.name),
        }
        if chosen["create"] is not None and chosen["get"] is not None:
            out.append((table, {k: v for k, v in chosen.items() if v is not None}))
    return out


class RoundTripper:
    """Runs every resource's round trip of one spec, each on a fresh episode."""

    def __init__(self, spec: EnvSpec, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.spec = spec
        self.rows = rows
        self.runtime = EnvRuntime(spec, template_cache_size=1, validators=ToolValidators(compiled=False))
        self.store = EpisodeStore({spec.name: self.runtime}, max_live=2)
        self.sems = spec_semantics(spec)

    def run(self) -> list[RoundTrip]:
        return [self._one(table, chosen) for table, chosen in _resources(self.spec, self.sems)]

    def _call(self, conn: Any, sem: ToolSemantics, rows: dict[str, list[dict[str, Any]]], *,
              listing: bool = False) -> tuple[bool, Any, str]:
        args = probe_arguments(self.spec, sem, rows, 0)
        if args is None:
            return False, None, "no arguments could be planned"
        if listing:
            # A listing asks for the resource under its parent: required arguments and equality
            # filters stay; page sizes, offsets and free-text searches would hide the row.
            args = {a: v for a, v in args.items() if a in sem.required or any(
                u.role == "filter" and u.op == "eq" for u in sem.uses.get(a, []))}
            for arg in sem.first_uses("limit"):
                if arg in args:  # a required page size: the largest the API allows
                    high = sem.properties.get(arg, {}).get("maximum")
                    args[arg] = int(high) if isinstance(high, (int, float)) and high < 100 else 100
        outcome = execute_tool(self.runtime, conn, sem.name, args)
        if not outcome.ok:
            return False, None, f"{sem.name}({args}) failed: {outcome.error}"
        broken = foreign_key_violations(conn, self.spec)
        if broken:
            return False, None, f"{sem.name}({args}) broke foreign keys: {', '.join(broken)}"
        return True, (args, outcome.data), ""

    def _one(self, table: Table, chosen: dict[str, ToolSemantics]) -> RoundTrip:
        trip = RoundTrip(table.name, {step: chosen[step].name for step in STEPS if step in chosen})
        episode = self.store.create(self.spec.name)
        pk = table.primary_key
        try:
            ok, got, why = self._call(episode.conn, chosen["create"], self.rows)
            if not ok:
                return self._fail(trip, "create", why)
            created = got[1] if isinstance(got[1], dict) else {}
            key = created.get(pk)
            if key is None:
                return self._fail(trip, "create", f"{chosen['create'].name} returned no {pk}")
            trip.passed_steps.append("create")

            def focus() -> dict[str, list[dict[str, Any]]]:
                now = episode.rows()
                row = next((r for r in now.get(table.name, []) if r.get(pk) == key), None)
                return {**now, table.name: [row] if row is not None else []}

            ok, got, why = self._call(episode.conn, chosen["get"], focus())
            if not ok:
                return self._fail(trip, "get", why)
            row = got[1] if isinstance(got[1], dict) else {}
            if row.get(pk) != key:
                return self._fail(trip, "get", f"{chosen['get'].name} returned {row.get(pk)!r}, not the created {key!r}")
            differs = [c for c, v in created.items() if c in row and row[c] != v]
            if differs:
                return self._fail(trip, "get", f"{chosen['get'].name} returned other values for {', '.join(differs)}")
            trip.passed_steps.append("get")

            if "list" in chosen:
                ok, got, why = self._call(episode.conn, chosen["list"], focus(), listing=True)
                if not ok:
                    return self._fail(trip, "list", why)
                data = got[1] if isinstance(got[1], dict) else {}
                results = data.get("results") if isinstance(data.get("results"), list) else []
                listed = any(isinstance(r, dict) and r.get(pk) == key for r in results)
                keyed = not results or any(isinstance(r, dict) and pk in r for r in results)
                if not listed and keyed:
                    return self._fail(trip, "list", f"{chosen['list'].name}({got[0]}) does not list {key!r}")
                trip.passed_steps.append("list")

            if "update" in chosen:
                ok, got, why = self._call(episode.conn, chosen["update"], focus())
                if not ok:
                    return self._fail(trip, "update", why)
                args = got[0]
                sets = chosen["update"].first_uses("set")
                now = focus()[table.name]
                after = now[0] if now else {}
                stale = [c.column for a, c in sets.items() if a in args and c.column and c.table == table.name
                         and after.get(c.column) != args[a] and not isinstance(args[a], (dict, list))]
                if stale:
                    return self._fail(trip, "update", f"{chosen['update'].name} did not store {', '.join(stale)}")
                trip.passed_steps.append("update")

            if "delete" in chosen:
                ok, got, why = self._call(episode.conn, chosen["delete"], focus())
                if not ok:
                    return self._fail(trip, "delete", why)
                gone = execute_tool(self.runtime, episode.conn, chosen["get"].name,
                                    probe_arguments(self.spec, chosen["get"], {**episode.rows(), table.name: [
                                        {**created}]}, 0) or {})
                if gone.ok:
                    return self._fail(trip, "delete", f"{chosen['get'].name} still finds {key!r} after the delete")
                trip.passed_steps.append("delete")
            return trip
        finally:
            self.store.close(episode.id)

    @staticmethod
    def _fail(trip: RoundTrip, step: str, detail: str) -> RoundTrip:
        trip.failed_step, trip.detail = step, detail[:400]
        return trip


def round_trips(spec: EnvSpec, rows: dict[str, list[dict[str, Any]]]) -> list[RoundTrip]:
    """The round trip of every resource of `spec` that has a create and a get tool."""
    return RoundTripper(spec, rows).run()

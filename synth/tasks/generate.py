"""Verifiable tasks (TaskSpec `envhub.task/1`) from environments: walk, draw, execute, describe.

For each environment: draw a walk over its tool-dependency graph, run it on a fresh in-process
episode with arguments drawn from the live state (earlier results feed later steps), and keep it
when every call succeeds, every write changes the state and the walk is not a duplicate. The
executed calls are the gold calls, the episode's final hash the gold hash, and for questions the
salient values of the final result are what the agent must communicate.

Everything random flows from `random.Random` instances seeded from (seed, env, slot, attempt), so
the same inputs and seed give byte-identical JSONL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts import TASK_FORMAT, TaskSpec, write_jsonl
from servers.executor import execute_tool, validate_arguments
from servers.jsonvalues import check_argument_values
from servers.semantics import ToolSemantics, spec_semantics
from servers.spec import EnvSpec, SpecError, load_envspec
from servers.state import EnvRuntime, EpisodeStore
from synth.arguments import ArgumentDrawer

from .checks import Replay, detours, ghost_ids
from .defaults import DEFAULT_CONDITIONAL_FRACTION, DEFAULT_MAX_STEPS, DEFAULT_REFUSAL_FRACTION, MIN_STEPS
from .goal import GoalInput, compose_goal, fact_text
from .persona import persona
from .walk import Intent, Walk, WalkBuilder, WalkStep, draw_length

logger = logging.getLogger("envsynth.tasks")

ATTEMPTS_PER_TASK = 40
SHRINK_EVERY = 8
# Rows tried when looking for one that a write's rules refuse (a refusal task).
REFUSAL_ROWS = 12
# Rows tried when finding which records a write accepts (steering the lookup that feeds it).
PROBE_ROWS = 24
# Errors that are not a business rule: a missing or mismatched record, an empty or malformed call.
_NOT_A_RULE = re.compile(r"not found|no \w+ row|does not belong|nothing to change|required|must be at least|"
                         r"unknown|already|not of type|is not one of|too (long|short)", re.I)
STEP_RETRIES = 4
# Share of conditional tasks whose `otherwise` branch is another change to the record (when the
# environment has one) rather than "just tell me its status".
OTHERWISE_SHARE = 0.75
LOOKUP_RETRIES = 12
# A question whose answer lists more rows than this is not one a user would ask.
MAX_LISTED_RESULTS = 5
MAX_ANSWER_CHARS = 60

# Columns worth asking about, most telling first: a status, an amount, a date, then other text.
_SALIENT_TYPES = {"enum": 0, "number": 1, "integer": 1, "date": 2, "string": 3}
_LABEL_WORDS = ("name", "title", "number", "code", "flight", "label")


@dataclass
class EnvReport:
    """What happened for one environment (the CLI's summary table)."""

    env: str
    kinds: Counter = field(default_factory=Counter)
    steps: Counter = field(default_factory=Counter)
    duplicates: int = 0
    noops: int = 0
    failed: Counter = field(default_factory=Counter)
    attempts: int = 0


class _Rejected(Exception):
    """A walk that does not make a task; the reason is counted in the report."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _rng(*parts: Any) -> tuple[random.Random, int]:
    # Python's hash() is salted per process; a digest keeps seeds stable across runs.
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    seed = int.from_bytes(digest[:4], "big")
    return random.Random(seed), seed


def load_specs(source: str | Path | Iterable[EnvSpec] | None) -> tuple[list[EnvSpec], list[tuple[str, str]]]:
    """Specs from a build folder (`envs/*.json`), a list of specs, or the built-in examples (None).

    Raises `servers.builddir.BuildError` (a ValueError) when the build folder is missing or has no envs/.
    """
    if source is None:
        return _load_paths(_example_paths())
    if isinstance(source, (str, Path)):
        # The hub's own loader, so tasks exist for exactly the environments `envhub serve` serves.
        from servers.builddir import load_build

        runtimes, skipped = load_build(source)
        return [rt.spec for rt in runtimes.values()], [(s.file, s.reason) for s in skipped]
    return list(source), []


def _example_paths() -> list[Path]:
    from servers.examples import example_spec_paths

    return [Path(p) for p in example_spec_paths()]


def _load_paths(paths: list[Path]) -> tuple[list[EnvSpec], list[tuple[str, str]]]:
    specs: list[EnvSpec] = []
    skipped: list[tuple[str, str]] = []
    names: set[str] = set()
    for path in paths:
        try:
            spec = load_envspec(path)
        except SpecError as err:
            skipped.append((str(path), str(err)))
            continue
        if spec.name in names:
            skipped.append((str(path), f"{path}: name: environment '{spec.name}' is defined twice"))
            continue
        names.add(spec.name)
        specs.append(spec)
    return specs, skipped


class EnvTaskGenerator:
    """Generates the tasks of one environment."""

    def __init__(self, spec: EnvSpec, seed: int, max_steps: int, state_seeds: list[int | None],
                 min_steps: int = MIN_STEPS):
        self.spec = spec
        self.seed = seed
        self.max_steps = max_steps
        self.min_steps = max(1, min(min_steps, max_steps))
        self.state_seeds = state_seeds
        self.runtime = EnvRuntime(spec)
        self.store = EpisodeStore({spec.name: self.runtime}, ttl_seconds=3600, max_live=8)
        self.shapes: dict[str, ToolSemantics] = spec_semantics(spec)
        self.walks = WalkBuilder(spec, self.shapes)
        self.reads = {name for name, s in self.shapes.items() if s.read_only}
        self.report = EnvReport(spec.name)

    def plan(self, count: int, read_fraction: float, conditional_fraction: float = 0.0,
             refusal_fraction: float = 0.0) -> list[str]:
        """The kind of each task slot, mixed in a seeded order."""
        has_read = bool(self.walks.final_tools("read"))
        has_write = bool(self.walks.final_tools("write"))
        # Conditions and refusals add a lookup to a write: they need room for two calls.
        roomy = self.max_steps >= 2 and has_write
        conditionals = round(count * conditional_fraction) if roomy and self._check_tools() else 0
        refusals = round(count * refusal_fraction) if roomy and self._refusable_tools() else 0
        rest = count - conditionals - refusals
        reads = round(rest * read_fraction) if has_read else 0
        if not has_write:
            reads = rest if has_read else 0
        kinds = (["read"] * reads + ["write"] * (rest - reads if has_write else 0)
                 + ["conditional"] * conditionals + ["refusal"] * refusals)
        rng, _ = _rng(self.seed, self.spec.name, "plan")
        rng.shuffle(kinds)
        return kinds

    def generate(self, count: int, read_fraction: float, on_task: Callable[[], None] | None = None,
                 conditional_fraction: float = 0.0, refusal_fraction: float = 0.0) -> list[TaskSpec]:
        tasks: list[TaskSpec] = []
        seen: set[str] = set()
        for slot, kind in enumerate(self.plan(count, read_fraction, conditional_fraction, refusal_fraction)):
            # The slot's length is drawn once, so that long walks, which fail more often, are
            # retried rather than replaced by short ones; it shrinks only after many failures.
            length = draw_length(_rng(self.seed, self.spec.name, slot, "length")[0], self.min_steps, self.max_steps)
            for attempt in range(ATTEMPTS_PER_TASK):
                self.report.attempts += 1
                rng, task_seed = _rng(self.seed, self.spec.name, slot, kind, attempt)
                try:
                    task = self._attempt(rng, task_seed, kind, max(self.min_steps, length - attempt // SHRINK_EVERY),
                                         late=attempt >= ATTEMPTS_PER_TASK // 2)
                except _Rejected as rejected:
                    if rejected.reason == "no-op":
                        self.report.noops += 1
                    else:
                        self.report.failed[rejected.reason] += 1
                    continue
                except Exception as err:  # one odd synthesized tool must not cost the other tasks
                    logger.warning("%s: walk failed unexpectedly: %s: %s", self.spec.name, type(err).__name__, err)
                    self.report.failed[f"error: {type(err).__name__}"] += 1
                    continue
                fingerprint = json.dumps([task["initial_state"], task["gold_calls"], task.get("refusal")],
                                         sort_keys=True)
                if fingerprint in seen:
                    self.report.duplicates += 1
                    continue
                seen.add(fingerprint)
                task["task_id"] = f"{self.spec.name}-{len(tasks):06d}"
                tasks.append(TaskSpec.parse(task, task["task_id"]))
                self.report.kinds[kind] += 1
                self.report.steps[task["steps"]] += 1
                break
            if on_task is not None:
                on_task()
        self.store.close_all()
        return tasks

    # -- one attempt ----------------------------------------------------------------------------

    def _attempt(self, rng: random.Random, task_seed: int, kind: str, length: int, late: bool = False
                 ) -> dict[str, Any]:
        if kind == "refusal":
            return self._refusal(rng, task_seed, length, alone=late or length < 2)
        walk_kind = "read" if kind == "read" else "write"
        if kind == "conditional":
            length = max(1, min(length, self.max_steps) - 1)  # the check adds a call
        walk = self.walks.compose(rng, walk_kind, length)
        if walk is None:
            raise _Rejected("no-walk")
        if len(walk.steps) < self.min_steps or len(walk.steps) > self.max_steps:
            raise _Rejected("walk-length")
        if kind == "conditional" and walk.intents[-1].kind != "write":
            raise _Rejected("no-condition")
        state_seed = rng.choice(self.state_seeds)
        episode = self.store.create(self.spec.name, seed=state_seed)
        try:
            initial_rows = episode.rows()
            initial_hash = episode.state_hash()
            calls, results, facts, rows_before_last = self._run_walk(walk, episode, rng)
            gold_hash = episode.state_hash()
        finally:
            self.store.close(episode.id)
        if walk_kind == "write" and gold_hash == initial_hash:
            raise _Rejected("no-op")
        if walk_kind == "read" and gold_hash != initial_hash:
            raise _Rejected("read-changed-state")
        asked, expected = self._questions(walk.intents, calls, results, facts)
        goal_input = GoalInput(self.spec, self.shapes, walk, calls, results, facts, asked, walk_kind)
        task_kind = walk_kind
        gold_calls, gold_results = calls, results
        condition = None
        if kind == "conditional":
            condition, gold_calls, gold_results, gold_hash, said, otherwise = self._condition(
                walk, calls, rows_before_last, rng, state_seed)
            expected += [v for v in said if v not in expected]
            goal_input.condition = (len(calls) - 1, condition["column"], condition["value"])
            if otherwise is not None:
                goal_input.otherwise = otherwise
            task_kind = "write" if gold_hash != initial_hash else "read"
        goal, user_facts = compose_goal(goal_input, rng)
        task = {
            "format": TASK_FORMAT,
            "task_id": "",
            "env": self.spec.name,
            "initial_state": {"seed": state_seed},
            "kind": task_kind,
            "goal": goal,
            "user_facts": user_facts,
            "gold_calls": gold_calls,
            "gold_state_hash": gold_hash,
            "expected_outputs": expected,
            "steps": len(gold_calls),
            "seed": task_seed,
        }
        if condition is not None:
            task["condition"] = condition
        self._check_properties(task, initial_rows, gold_results)
        return task

    def _check_properties(self, task: dict[str, Any], initial_rows: dict, results: list[Any]) -> None:
        """Drop a task whose gold has a lookup nothing needs, or whose goal names an id that does not exist."""
        spec = TaskSpec.parse({**task, "task_id": task["task_id"] or "candidate"})
        if detours(spec, results, self.reads):
            raise _Rejected("detour")
        if ghost_ids(spec, Replay(initial_rows, results, [None] * len(results), "", "")):
            raise _Rejected("ghost-id")

    def _run_walk(self, walk: Walk, episode: Any, rng: random.Random
                  ) -> tuple[list[dict], list[Any], dict, dict[str, list[dict]]]:
        drawer = ArgumentDrawer(self.spec, rng)
        calls: list[dict[str, Any]] = []
        results: list[Any] = []
        facts: dict[tuple[int, str], Any] = {}
        answers = {intent.last for intent in walk.intents if intent.kind == "read"}
        rows_before_last: dict[str, list[dict]] = {}
        for i, step in enumerate(walk.steps):
            shape = self.shapes[step.tool]
            fed = {arg: _fed_value(results[j], column) for arg, (j, column) in step.feeds.items()}
            if any(v is _AMBIGUOUS for v in fed.values()):
                raise _Rejected("ambiguous-lookup")
            # A looked-up value the user already stated elsewhere means the lookup was a detour.
            for arg, value in fed.items():
                j = step.feeds[arg][0]
                if any(k != j and v == value for (k, _), v in facts.items()):
                    raise _Rejected("circular-lookup")
            passed_on = [column for later in walk.steps[i + 1:] for (j, column) in later.feeds.values() if j == i]
            if i == len(walk.steps) - 1:
                rows_before_last = episode.rows()
            view = self._steer(walk, i, episode, drawer, results) if shape.read_only else None
            # A lookup is redrawn more often: its filters must single out the record the next step needs.
            for _retry in range(LOOKUP_RETRIES if shape.read_only and passed_on else STEP_RETRIES):
                args = drawer.draw(shape, view if view is not None else episode.rows(), fed)
                if args is None:
                    raise _Rejected("nothing-to-act-on")
                # The user states each fact once: a new value equal to an earlier fact of another
                # argument would make "the same" ambiguous in the goal.
                before = None if shape.read_only else episode.state_hash()
                outcome = execute_tool(self.runtime, episode.conn, step.tool, args)
                if not outcome.ok:
                    continue
                if before is not None and episode.state_hash() == before:
                    raise _Rejected("no-op")
                if shape.read_only and not _acceptable_read(outcome.data, i in answers, passed_on):
                    continue
                break
            else:
                raise _Rejected("step-failed")
            calls.append({"name": step.tool, "arguments": args})
            results.append(outcome.data)
            facts.update({(i, a): v for a, v in args.items() if a not in step.feeds})
        self._reject_detours(walk, calls, results)
        # A user asks for one change to a record once ("set my email to A ... set my email to B" is not a request).
        changed = [(c["name"], json.dumps(c["arguments"].get(self.shapes[c["name"]].key_arg() or ""), default=str))
                   for c in calls if not self.shapes[c["name"]].read_only and self.shapes[c["name"]].key_arg()]
        if len(changed) != len(set(changed)):
            raise _Rejected("repeated-change")
        return calls, results, facts, rows_before_last

    def _steer(self, walk: Walk, i: int, episode: Any, drawer: ArgumentDrawer, results: list[Any]
               ) -> dict[str, list[dict]] | None:
        """The state as lookup `i` should see it when drawing: only rows a later write accepts.

        A lookup that hands a record's key to a write (list the customer's orders, then change
        one) would otherwise find any record, and the write's rules (only pending orders can be
        changed) would refuse most. Which keys the write accepts is found by trying it on a fork
        of the episode, since a program's rules are SQL the planner cannot read in advance."""
        step = walk.steps[i]
        shape = self.shapes[step.tool]
        for j in range(i + 1, len(walk.steps)):
            later = self.shapes[walk.steps[j].tool]
            if later.read_only:
                continue
            for arg, (source, column) in walk.steps[j].feeds.items():
                use = later.primary_use(arg)
                if source != i or use is None or use.role != "key":
                    continue
                accepted = self._accepted_keys(later, arg, use.table, episode, drawer, walk.steps[j].feeds, results)
                rows = episode.rows()
                table = shape.output_table
                keep = [r for r in rows.get(table, []) if r.get(column) in accepted]
                if not keep:
                    raise _Rejected("nothing-to-act-on")
                return {**rows, table: keep}
        return None

    def _accepted_keys(self, shape: ToolSemantics, arg: str, table_name: str, episode: Any, drawer: ArgumentDrawer,
                       feeds: dict[str, tuple[int, str]], results: list[Any]) -> set[Any]:
        """Keys of `table_name` for which the write `shape` succeeds with `arg` set to them (tried on forks)."""
        table = self.spec.table(table_name)
        rows = episode.rows()
        pool = list(rows.get(table_name, []))
        drawer.rng.shuffle(pool)
        # Values already handed over by earlier steps stay as they are; the rest are drawn.
        known = {a: _fed_value(results[k], c) for a, (k, c) in feeds.items() if k < len(results)}
        known = {a: v for a, v in known.items() if v is not _AMBIGUOUS}
        accepted: set[Any] = set()
        for row in pool[:PROBE_ROWS]:
            key = row.get(table.primary_key)
            args = drawer.draw(shape, rows, {**known, arg: key})
            if args is None:
                continue
            fork = self.store.fork(episode.id)
            try:
                outcome = execute_tool(self.runtime, fork.conn, shape.name, args)
            finally:
                self.store.close(fork.id)
            if outcome.ok:
                accepted.add(key)
        return accepted

    # -- conditions -----------------------------------------------------------------------------

    def _check_tools(self) -> dict[str, ToolSemantics]:
        """Table -> a read tool that fetches one of its rows by key alone (what a condition or a
        refusal is checked with)."""
        out: dict[str, ToolSemantics] = {}
        for name in sorted(self.shapes):
            s = self.shapes[name]
            key = s.key_arg()
            if s.read_only and not s.output_is_list and key is not None and s.required == [key] \
                    and s.output_table == s.table:
                out.setdefault(s.table, s)
        return out

    def _condition_column(self, table: str, check: ToolSemantics) -> str | None:
        """An enum column of `table` the check returns, a status first: what a condition is about."""
        columns = [c for c in self.spec.table(table).columns
                   if c.type == "enum" and c.enum and len(c.enum) > 1 and c.name in check.output_columns]
        columns.sort(key=lambda c: (0 if "status" in c.name.lower() else 1, c.name))
        return columns[0].name if columns else None

    def _condition(self, walk: Walk, calls: list[dict], rows_before: dict[str, list[dict]], rng: random.Random,
                   state_seed: int | None
                   ) -> tuple[dict[str, Any], list[dict], list[Any], str, list[str], tuple[dict, Any] | None]:
        """Make the last write conditional on its record's state; the gold is the branch the state picks.

        "If order O-1 is still pending, cancel it; otherwise return the lamp" (or "otherwise just
        tell me its status"): the check (a lookup of the record) is added before the write, and the
        gold ends with the write when the condition holds on the state the walk reached, else with
        the `otherwise` change (if any)."""
        last = len(calls) - 1
        shape = self.shapes[calls[last]["name"]]
        key = shape.key_arg()
        check = self._check_tools().get(shape.table)
        if shape.read_only or key is None or key not in calls[last]["arguments"] or check is None:
            raise _Rejected("no-condition")
        column = self._condition_column(shape.table, check)
        if column is None:
            raise _Rejected("no-condition")
        table = self.spec.table(shape.table)
        key_value = calls[last]["arguments"][key]
        row = next((r for r in rows_before.get(shape.table, []) if r.get(table.primary_key) == key_value), None)
        if row is None or row.get(column) is None:
            raise _Rejected("no-condition")
        actual = row[column]
        holds = rng.random() < 0.5
        others = [v for v in (table.column(column).enum or []) if v != actual]
        value = actual if holds or not others else rng.choice(others)
        holds = value == actual
        check_key = check.key_arg() or key
        check_call = {"name": check.name, "arguments": {check_key: key_value}}
        otherwise = self._otherwise(calls, check_call, key_value, rows_before, rng, state_seed) \
            if rng.random() < OTHERWISE_SHARE else None
        if otherwise is not None and not holds:
            # `_otherwise` already ran exactly this gold on a fresh episode.
            gold, (results, gold_hash) = calls[:last] + [check_call, otherwise[0]], otherwise[1:]
        else:
            gold = calls[:last] + [check_call] + ([calls[last]] if holds else [])
            results, gold_hash = self._execute(gold, state_seed)
        condition = {"check_call": last, "column": column, "op": "eq", "value": value, "holds": holds}
        if otherwise is None:
            return condition, gold, results, gold_hash, [fact_text(actual)], None
        condition["otherwise"] = otherwise[0]
        return condition, gold, results, gold_hash, [fact_text(actual)], (otherwise[0], otherwise[1][-1])

    def _otherwise(self, calls: list[dict], check_call: dict, key_value: Any, rows_before: dict[str, list[dict]],
                   rng: random.Random, state_seed: int | None) -> tuple[dict, list[Any], str] | None:
        """Another change to the same record, for when the condition does not hold ("if it has not
        shipped, cancel it; otherwise return the lamp"): a write tool of the same table keyed by
        the same record, drawn on the state before the write, that runs there and changes it.
        (call, the results and final hash of the walk's calls + check + it), or None when the table
        has no such tool."""
        last = len(calls) - 1
        write = self.shapes[calls[last]["name"]]
        names = sorted(name for name, s in self.shapes.items()
                       if name != write.name and not s.read_only and s.table == write.table and s.key_arg())
        rng.shuffle(names)
        drawer = ArgumentDrawer(self.spec, rng)
        unchanged: str | None = None
        for name in names:
            alt = self.shapes[name]
            args = drawer.draw(alt, rows_before, {alt.key_arg(): key_value})
            if args is None:
                continue
            call = {"name": name, "arguments": args}
            try:
                results, changed = self._execute(calls[:last] + [check_call, call], state_seed)
                if unchanged is None:
                    unchanged = self._execute(calls[:last] + [check_call], state_seed)[1]
            except _Rejected:
                continue
            if changed != unchanged:
                return call, results, changed
        return None

    def _execute(self, calls: list[dict], state_seed: int | None) -> tuple[list[Any], str]:
        """Run calls on a fresh episode: their results and the final hash (a failing call drops the walk)."""
        episode = self.store.create(self.spec.name, seed=state_seed)
        try:
            results = []
            for call in calls:
                outcome = execute_tool(self.runtime, episode.conn, call["name"], dict(call["arguments"]))
                if not outcome.ok:
                    raise _Rejected("step-failed")
                results.append(outcome.data)
            return results, episode.state_hash()
        finally:
            self.store.close(episode.id)

    # -- refusals -------------------------------------------------------------------------------

    def _refusable_tools(self) -> list[str]:
        """Writes that act on one existing row by key and whose row can be checked first."""
        checks = self._check_tools()
        return [name for name, s in sorted(self.shapes.items())
                if not s.read_only and s.kind in ("update", "delete") and s.key_arg() is not None
                and s.table in checks]

    def _refusal(self, rng: random.Random, task_seed: int, length: int, alone: bool) -> dict[str, Any]:
        """A request the environment's rules refuse: the user asks for a change to a record that
        breaks a precondition of the write (cancel a shipped order), usually after other things
        they want done (`alone`: it is the only request, the fallback once such walks keep failing).
        The gold is those other calls plus the lookup that shows why; the right answer makes the
        other changes, not that one, and says why."""
        tools = self._refusable_tools()
        if not tools:
            raise _Rejected("no-refusal")
        name = rng.choice(tools)
        shape = self.shapes[name]
        key = shape.key_arg()
        assert key is not None
        check = self._check_tools()[shape.table]
        table = self.spec.table(shape.table)
        tool = self.runtime.tools[name]
        walk = None
        if not alone:
            walk = self.walks.compose(rng, "write", length - 1)
        state_seed = rng.choice(self.state_seeds)
        drawer = ArgumentDrawer(self.spec, rng)
        episode = self.store.create(self.spec.name, seed=state_seed)
        try:
            initial_rows = episode.rows()
            calls: list[dict[str, Any]] = []
            results: list[Any] = []
            facts: dict[tuple[int, str], Any] = {}
            if walk is not None:
                calls, results, facts, _ = self._run_walk(walk, episode, rng)
            rows = episode.rows()
            start_hash = episode.state_hash()
            named = {json.dumps(v, sort_keys=True, default=str) for c in calls for v in c["arguments"].values()}
            pool = [r for r in rows.get(shape.table, [])
                    if json.dumps(r.get(table.primary_key), default=str) not in named]
            rng.shuffle(pool)
            for row in pool[:REFUSAL_ROWS]:
                args = drawer.draw(shape, rows, {key: row[table.primary_key]})
                if args is None:
                    continue
                checked, problem = check_argument_values(tool.input_schema, dict(args))
                if problem or validate_arguments(self.runtime, tool, checked):
                    continue
                # Tried on a fork: a call the rules allow must not change the task's state.
                fork = self.store.fork(episode.id)
                try:
                    outcome = execute_tool(self.runtime, fork.conn, name, dict(args))
                finally:
                    self.store.close(fork.id)
                reason = outcome.error or ""
                if outcome.ok or _NOT_A_RULE.search(reason):
                    continue
                mention = _mentioned_value(reason, row, table.primary_key, check.output_columns)
                if mention is None:
                    continue
                check_call = {"name": check.name, "arguments": {check.key_arg() or key: row[table.primary_key]}}
                outcome = execute_tool(self.runtime, episode.conn, check_call["name"], dict(check_call["arguments"]))
                if not outcome.ok or episode.state_hash() != start_hash:
                    continue
                return self._refusal_task(rng, task_seed, state_seed, walk, calls, results, facts,
                                          {"name": name, "arguments": args}, reason, mention, check_call,
                                          outcome.data, initial_rows, start_hash)
        finally:
            self.store.close(episode.id)
        raise _Rejected("no-refusal")

    def _refusal_task(self, rng: random.Random, task_seed: int, state_seed: int | None, walk: Walk | None,
                      calls: list[dict], results: list[Any], facts: dict, refused: dict[str, Any], reason: str,
                      mention: str, check_call: dict[str, Any], check_result: Any, initial_rows: dict,
                      gold_hash: str) -> dict[str, Any]:
        steps = list(walk.steps) if walk is not None else []
        intents = list(walk.intents) if walk is not None else []
        asked, expected = self._questions(intents, calls, results, facts)
        n = len(steps)
        # The refused change is the last thing the user asks for: the goal says it like any other.
        told = Walk([*steps, WalkStep(refused["name"])], [*intents, Intent("write", (n,))])
        told_facts = {**facts, **{(n, a): v for a, v in refused["arguments"].items()}}
        goal_input = GoalInput(self.spec, self.shapes, told, [*calls, refused], [*results, None], told_facts, asked,
                               "write")
        goal, user_facts = compose_goal(goal_input, rng)
        gold = [*calls, check_call]
        task = {
            "format": TASK_FORMAT,
            "task_id": "",
            "env": self.spec.name,
            "initial_state": {"seed": state_seed},
            "kind": "refusal",
            "goal": goal,
            "user_facts": user_facts,
            "gold_calls": gold,
            "gold_state_hash": gold_hash,
            "expected_outputs": [*expected, *([mention] if mention not in expected else [])],
            "steps": len(gold),
            "seed": task_seed,
            "refusal": {"call": refused, "reason": reason},
        }
        self._check_properties(task, initial_rows, [*results, check_result])
        return task

    def _questions(self, intents: list[Intent], calls: list[dict], results: list[Any], facts: dict
                   ) -> tuple[dict[int, list[str]], list[str]]:
        """For each question among the intents: the fields it asks for; and every value to say."""
        asked: dict[int, list[str]] = {}
        expected: list[str] = []
        for intent in intents:
            if intent.kind == "read":
                fields, values = self._answer(intent.last, calls, results, facts)
                asked[intent.last] = fields
                expected += [v for v in values if v not in expected]
        return asked, expected

    def _reject_detours(self, walk: Walk, calls: list[dict], results: list[Any]) -> None:
        """A lookup made only with looked-up values, whose every hand-over the earlier result already
        carried, is a call an agent does not need (list orders -> get order -> list its items)."""
        for j, step in enumerate(walk.steps[:-1]):
            if not self.shapes[step.tool].read_only or set(calls[j]["arguments"]) - set(step.feeds):
                continue
            sources = {i for i, _ in step.feeds.values()}
            handed = [(column, later) for later in walk.steps[j + 1:] for (i, column) in later.feeds.values() if i == j]
            if handed and all(
                any(_fed_value(results[i], column) == _fed_value(results[j], column) for i in sources)
                for column, _ in handed
            ):
                raise _Rejected("detour-lookup")

    def _answer(self, last: int, calls: list[dict], results: list[Any], facts: dict) -> tuple[list[str], list[str]]:
        """The fields a question (answered by call `last`) asks for and the values (as text) the agent must say."""
        shape = self.shapes[calls[last]["name"]]
        table = self.spec.table(shape.output_table)
        known = {fact_text(v) for v in facts.values()}
        result = results[last]
        rows = result.get("results", []) if shape.output_is_list else [result]
        candidates = []
        for name in shape.output_columns:
            column = table.column(name)
            if column is None or column.type == "boolean":
                continue
            values = [fact_text(r.get(name)) for r in rows if r.get(name) is not None]
            if len(values) != len(rows) or not values or any(len(v) > MAX_ANSWER_CHARS or v in known for v in values):
                continue
            if shape.output_is_list:
                # Name what each row is: its name/number, else a readable key, else what it points at;
                # a bare row counter ("3") would be "said" by almost any answer.
                is_pk = name == table.primary_key
                if not is_pk and any(w in name.lower() for w in _LABEL_WORDS):
                    rank = 0
                elif is_pk:
                    rank = 1 if column.type == "string" else 4
                elif any(fk.column == name for fk in table.foreign_keys):
                    rank = 2
                else:
                    rank = 3
            else:
                if name == table.primary_key or any(fk.column == name for fk in table.foreign_keys):
                    continue
                rank = _SALIENT_TYPES.get(column.type, 3)
            candidates.append((rank, name, values))
        if not candidates:
            raise _Rejected("nothing-to-ask")
        candidates.sort(key=lambda c: c[0])
        best = [c for c in candidates if c[0] == candidates[0][0]]
        rng, _ = _rng(self.seed, json.dumps(calls[:last + 1], sort_keys=True, default=str))
        chosen = rng.sample(best, k=min(len(best), 1 if shape.output_is_list else 2))
        if not shape.output_is_list and len(chosen) == 1 and len(candidates) > len(best):
            chosen.append(candidates[len(best)])
        chosen.sort(key=lambda c: shape.output_columns.index(c[1]))
        expected: list[str] = []
        for _, _, values in chosen:
            expected += [v for v in values if v not in expected]
        return [c[1] for c in chosen], expected


def _mentioned_value(message: str, row: dict[str, Any], key_column: str, shown: list[str]) -> str | None:
    """A value of the refused record that the rule's message names (its status "shipped"), from a
    column the check lookup shows: the fact an explanation of the refusal turns on."""
    for column, value in row.items():
        if column == key_column or column not in shown or value is None or isinstance(value, bool):
            continue
        text = fact_text(value)
        if len(text) >= 3 and re.search(rf"(?<![\w-]){re.escape(text)}(?![\w-])", message):
            return text
    return None


class _Ambiguous:
    pass


_AMBIGUOUS: Any = _Ambiguous()


def _fed_value(result: Any, column: str) -> Any:
    """The value an earlier result passes on: its column, or the one value all its rows share."""
    if isinstance(result, dict) and isinstance(result.get("results"), list):
        values = {json.dumps(r.get(column), sort_keys=True) for r in result["results"]}
        if len(values) != 1:
            return _AMBIGUOUS
        return result["results"][0].get(column)
    if isinstance(result, dict):
        return result.get(column)
    return _AMBIGUOUS


def _acceptable_read(data: Any, step_is_last: bool, feeds: list[str]) -> bool:
    """A lookup that finds nothing, too much to recite, or several candidates for the next step is redrawn."""
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        rows = data["results"]
        if not rows:
            return False
        if step_is_last and len(rows) > MAX_LISTED_RESULTS:
            return False
        return all(_fed_value(data, column) is not _AMBIGUOUS for column in feeds)
    return data is not None


def generate_tasks(
    source: str | Path | Iterable[EnvSpec] | None,
    per_env: int,
    seed: int = 0,
    max_steps: int = DEFAULT_MAX_STEPS,
    read_fraction: float = 0.4,
    state_seeds: int = 0,
    paraphraser: Any = None,
    reports: list[EnvReport] | None = None,
    on_task: Callable[[str], None] | None = None,
    min_steps: int = MIN_STEPS,
    conditional_fraction: float = DEFAULT_CONDITIONAL_FRACTION,
    refusal_fraction: float = DEFAULT_REFUSAL_FRACTION,
) -> list[TaskSpec]:
    """TaskSpecs for every environment of a build folder, a list of EnvSpecs, or the examples.

    `state_seeds` > 0 spreads tasks over that many generated initial states (seeds 1..N passed to
    the episode store) instead of the environment's own seed state. `paraphraser` (a
    `synth.tasks.paraphrase.Paraphraser`) rewrites goals and personas, keeping a template when a
    fact goes missing. Walks have `min_steps`..`max_steps` calls (a walk shorter than `min_steps`
    is kept only when `max_steps` is smaller); `conditional_fraction` and `refusal_fraction` of
    each environment's tasks are conditional and refusal tasks, `read_fraction` of the rest questions.
    """
    if per_env < 1:
        raise ValueError(f"per_env must be at least 1, got {per_env}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    for name, value in (("read_fraction", read_fraction), ("conditional_fraction", conditional_fraction),
                        ("refusal_fraction", refusal_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    if conditional_fraction + refusal_fraction > 1.0:
        raise ValueError("conditional_fraction + refusal_fraction must be at most 1, "
                         f"got {conditional_fraction + refusal_fraction}")
    if min_steps < 1:
        raise ValueError(f"min_steps must be at least 1, got {min_steps}")
    specs, _ = load_specs(source)
    seeds: list[int | None] = [None] if state_seeds <= 0 else list(range(1, state_seeds + 1))
    tasks: list[TaskSpec] = []
    for spec in specs:
        generator = EnvTaskGenerator(spec, seed, max_steps, seeds, min_steps=min_steps)
        env_tasks = generator.generate(per_env, read_fraction,
                                       on_task=(lambda name=spec.name: on_task(name)) if on_task else None,
                                       conditional_fraction=conditional_fraction, refusal_fraction=refusal_fraction)
        env_tasks = [task.model_copy(update={"persona": persona(task)}) for task in env_tasks]
        if paraphraser is not None:
            paraphraser.forbid(tool.name for tool in spec.tools)
            env_tasks = [
                task.model_copy(update={"goal": paraphraser.paraphrase(task.goal, task.user_facts),
                                        "persona": paraphraser.paraphrase_persona(task.persona or "")})
                for task in env_tasks
            ]
        tasks += env_tasks
        if reports is not None:
            reports.append(generator.report)
    return tasks


def write_tasks(tasks: Iterable[TaskSpec], path: str | Path) -> Path:
    """Write tasks as JSONL (one task per line), atomically: a crash leaves the old file intact."""
    return write_jsonl(path, tasks)

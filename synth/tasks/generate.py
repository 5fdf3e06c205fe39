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
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts import TASK_FORMAT, TaskSpec, write_jsonl
from servers.executor import execute_tool
from servers.semantics import ToolSemantics, spec_semantics
from servers.spec import EnvSpec, SpecError, load_envspec
from servers.state import EnvRuntime, EpisodeStore
from synth.arguments import ArgumentDrawer

from .goal import GoalInput, compose_goal, fact_text
from .walk import Walk, WalkBuilder

logger = logging.getLogger("envsynth.tasks")

ATTEMPTS_PER_TASK = 25
STEP_RETRIES = 4
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

    def __init__(self, spec: EnvSpec, seed: int, max_steps: int, state_seeds: list[int | None]):
        self.spec = spec
        self.seed = seed
        self.max_steps = max_steps
        self.state_seeds = state_seeds
        self.runtime = EnvRuntime(spec)
        self.store = EpisodeStore({spec.name: self.runtime}, ttl_seconds=3600, max_live=8)
        self.shapes: dict[str, ToolSemantics] = spec_semantics(spec)
        self.walks = WalkBuilder(spec, self.shapes)
        self.report = EnvReport(spec.name)

    def plan(self, count: int, read_fraction: float) -> list[str]:
        """The kind of each task slot, mixed in a seeded order."""
        has_read = bool(self.walks.final_tools("read"))
        has_write = bool(self.walks.final_tools("write"))
        reads = round(count * read_fraction) if has_read else 0
        if not has_write:
            reads = count if has_read else 0
        kinds = ["read"] * reads + ["write"] * (count - reads if has_write else 0)
        rng, _ = _rng(self.seed, self.spec.name, "plan")
        rng.shuffle(kinds)
        return kinds

    def generate(self, count: int, read_fraction: float, on_task: Callable[[], None] | None = None) -> list[TaskSpec]:
        tasks: list[TaskSpec] = []
        seen: set[str] = set()
        for slot, kind in enumerate(self.plan(count, read_fraction)):
            for attempt in range(ATTEMPTS_PER_TASK):
                self.report.attempts += 1
                rng, task_seed = _rng(self.seed, self.spec.name, slot, kind, attempt)
                try:
                    task = self._attempt(rng, task_seed, kind)
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
                fingerprint = json.dumps([task["initial_state"], task["gold_calls"]], sort_keys=True)
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

    def _attempt(self, rng: random.Random, task_seed: int, kind: str) -> dict[str, Any]:
        walk = self.walks.draw(rng, kind, self.max_steps)
        if walk is None:
            raise _Rejected("no-walk")
        state_seed = rng.choice(self.state_seeds)
        episode = self.store.create(self.spec.name, seed=state_seed)
        try:
            initial_hash = episode.state_hash()
            calls, results, facts = self._run_walk(walk, episode, rng)
            gold_hash = episode.state_hash()
        finally:
            self.store.close(episode.id)
        if kind == "write" and gold_hash == initial_hash:
            raise _Rejected("no-op")
        if kind == "read" and gold_hash != initial_hash:
            raise _Rejected("read-changed-state")
        asked, expected = self._answer(walk, calls, results, facts) if kind == "read" else ([], [])
        goal_input = GoalInput(self.spec, self.shapes, walk, calls, results, facts, asked, kind)
        goal, user_facts = compose_goal(goal_input, rng)
        return {
            "format": TASK_FORMAT,
            "task_id": "",
            "env": self.spec.name,
            "initial_state": {"seed": state_seed},
            "kind": kind,
            "goal": goal,
            "user_facts": user_facts,
            "gold_calls": calls,
            "gold_state_hash": gold_hash,
            "expected_outputs": expected,
            "steps": len(calls),
            "seed": task_seed,
        }

    def _run_walk(self, walk: Walk, episode: Any, rng: random.Random) -> tuple[list[dict], list[Any], dict]:
        drawer = ArgumentDrawer(self.spec, rng)
        calls: list[dict[str, Any]] = []
        results: list[Any] = []
        facts: dict[tuple[int, str], Any] = {}
        last = len(walk.steps) - 1
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
            for _retry in range(STEP_RETRIES):
                args = drawer.draw(shape, episode.rows(), fed)
                if args is None:
                    raise _Rejected("nothing-to-act-on")
                before = None if shape.read_only else episode.state_hash()
                outcome = execute_tool(self.runtime, episode.conn, step.tool, args)
                if not outcome.ok:
                    continue
                if before is not None and episode.state_hash() == before:
                    raise _Rejected("no-op")
                if shape.read_only and not _acceptable_read(outcome.data, i == last, passed_on):
                    continue
                break
            else:
                raise _Rejected("step-failed")
            calls.append({"name": step.tool, "arguments": args})
            results.append(outcome.data)
            facts.update({(i, a): v for a, v in args.items() if a not in step.feeds})
        self._reject_detours(walk, calls, results)
        return calls, results, facts

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

    def _answer(self, walk: Walk, calls: list[dict], results: list[Any], facts: dict) -> tuple[list[str], list[str]]:
        """The fields a question asks for and the values (as text) the agent must say."""
        shape = self.shapes[walk.steps[-1].tool]
        table = self.spec.table(shape.output_table)
        known = {fact_text(v) for v in facts.values()}
        result = results[-1]
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
        rng, _ = _rng(self.seed, json.dumps(calls, sort_keys=True, default=str))
        chosen = rng.sample(best, k=min(len(best), 1 if shape.output_is_list else 2))
        if not shape.output_is_list and len(chosen) == 1 and len(candidates) > len(best):
            chosen.append(candidates[len(best)])
        chosen.sort(key=lambda c: shape.output_columns.index(c[1]))
        expected: list[str] = []
        for _, _, values in chosen:
            expected += [v for v in values if v not in expected]
        return [c[1] for c in chosen], expected


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
    max_steps: int = 3,
    read_fraction: float = 0.4,
    state_seeds: int = 0,
    paraphraser: Any = None,
    reports: list[EnvReport] | None = None,
    on_task: Callable[[str], None] | None = None,
) -> list[TaskSpec]:
    """TaskSpecs for every environment of a build folder, a list of EnvSpecs, or the examples.

    `state_seeds` > 0 spreads tasks over that many generated initial states (seeds 1..N passed to
    the episode store) instead of the environment's own seed state. `paraphraser` (a
    `synth.tasks.paraphrase.Paraphraser`) rewrites goals, keeping a template when a fact goes missing.
    """
    if per_env < 1:
        raise ValueError(f"per_env must be at least 1, got {per_env}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    if not 0.0 <= read_fraction <= 1.0:
        raise ValueError(f"read_fraction must be between 0 and 1, got {read_fraction}")
    specs, _ = load_specs(source)
    seeds: list[int | None] = [None] if state_seeds <= 0 else list(range(1, state_seeds + 1))
    tasks: list[TaskSpec] = []
    for spec in specs:
        generator = EnvTaskGenerator(spec, seed, max_steps, seeds)
        env_tasks = generator.generate(per_env, read_fraction,
                                       on_task=(lambda name=spec.name: on_task(name)) if on_task else None)
        if paraphraser is not None:
            paraphraser.forbid(tool.name for tool in spec.tools)
            env_tasks = [
                task.model_copy(update={"goal": paraphraser.paraphrase(task.goal, task.user_facts)})
                for task in env_tasks
            ]
        tasks += env_tasks
        if reports is not None:
            reports.append(generator.report)
    return tasks


def write_tasks(tasks: Iterable[TaskSpec], path: str | Path) -> Path:
    """Write tasks as JSONL (one task per line), atomically: a crash leaves the old file intact."""
    return write_jsonl(path, tasks)

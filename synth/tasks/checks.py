"""Properties every generated task must have, checked on the executed gold calls.

These are the task generator's own gate (a walk that breaks one is dropped) and what the tests
assert over whole task files, so they read only what a task file holds plus a replay of its gold
calls on a fresh episode:

- **no detour**: every lookup in the gold calls is needed. A read call is needed when a later call
  uses a value that this call's result is the first to carry (not a fact the user gave, not a value
  an earlier result already showed), or when its result holds a value the agent must say
  (`expected_outputs`: an answer, the fact a condition or a refusal turns on), and it does not
  repeat an identical earlier lookup with no write in between.
- **no ghost id**: every id-like token of the goal (`O-1003`, `ORD-2010`, `CAL-1008`) names a value of
  the initial state or one a gold call returned (a record the task creates).
- **dependent chain**: some call takes a value that an earlier call returned and the user never said.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from contracts import TaskSpec
from servers.executor import execute_tool
from servers.spec import EnvSpec
from servers.state import EnvRuntime, EpisodeStore

# What a generated record id looks like in a goal: a short upper-case prefix, a dash, digits.
ID_TOKEN = re.compile(r"\b[A-Z][A-Z0-9]{0,7}-\d{2,}\b")


@dataclass
class Replay:
    """The gold calls of a task run on a fresh episode."""

    initial_rows: dict[str, list[dict[str, Any]]]
    results: list[Any]
    errors: list[str | None]
    initial_hash: str
    final_hash: str
    final_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def replay(spec: EnvSpec, task: TaskSpec, runtime: EnvRuntime | None = None) -> Replay:
    runtime = runtime or EnvRuntime(spec)
    store = EpisodeStore({spec.name: runtime}, ttl_seconds=60, max_live=2)
    episode = store.create(spec.name, seed=task.initial_state.seed)
    try:
        initial_rows = episode.rows()
        initial_hash = episode.state_hash()
        results: list[Any] = []
        errors: list[str | None] = []
        for call in task.gold_calls:
            outcome = execute_tool(runtime, episode.conn, call.name, dict(call.arguments))
            results.append(outcome.data if outcome.ok else None)
            errors.append(None if outcome.ok else outcome.error)
        return Replay(initial_rows, results, errors, initial_hash, episode.state_hash(), episode.rows())
    finally:
        store.close_all()


def _scalars(value: Any) -> set[str]:
    """Every scalar of a JSON value, as canonical text (so 3 and 3.0 and "3" compare as one)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for v in value.values():
            out |= _scalars(v)
    elif isinstance(value, list):
        for v in value:
            out |= _scalars(v)
    elif value is not None and not isinstance(value, bool):
        out.add(_text(value))
    return out


def _handed_values(value: Any) -> set[str]:
    """The values that can carry a record from one call to the next: text, not bare numbers (a
    quantity of 3 and a stock of 3 coincide without one feeding the other)."""
    return {v for v in _scalars(value) if not _NUMBER.fullmatch(v)}


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _fact_values(task: TaskSpec) -> set[str]:
    return _scalars(list(task.user_facts.values()))


def handed_on(task: TaskSpec, results: list[Any]) -> dict[int, set[str]]:
    """Read call index -> the values it is the first to produce that a later call takes."""
    facts = _fact_values(task)
    seen: set[str] = set()
    out: dict[int, set[str]] = {}
    for i, result in enumerate(results):
        new = _handed_values(result) - seen - facts
        seen |= _handed_values(result)
        later = set().union(*(_handed_values(c.arguments) for c in task.gold_calls[i + 1:]))
        out[i] = new & later
    return out


def detours(task: TaskSpec, results: list[Any], reads: set[str]) -> list[int]:
    """Indices of gold read calls whose result neither feeds a later call nor holds a value to say.

    `reads`: the names of the environment's read-only tools."""
    used = handed_on(task, results)
    said = {e.lower() for e in task.expected_outputs}
    out = []
    for i, call in enumerate(task.gold_calls):
        if call.name not in reads:
            continue
        # The same lookup again with nothing changed in between shows nothing new.
        same = [k for k in range(i) if task.gold_calls[k] == call]
        if same and all(task.gold_calls[k].name in reads for k in range(same[-1] + 1, i)):
            out.append(i)
            continue
        if used.get(i):
            continue
        if said and any(v.lower() in said for v in _scalars(results[i])):
            continue
        out.append(i)
    return out


def ghost_ids(task: TaskSpec, run: Replay) -> list[str]:
    """Id-like tokens of the goal that no record of the initial state or gold result carries."""
    known = _scalars(run.initial_rows) | _scalars(run.results) | _scalars(run.final_rows)
    return sorted({t for t in ID_TOKEN.findall(task.goal) if t not in known})


def dependent(task: TaskSpec, results: list[Any]) -> bool:
    """Whether some call takes a value an earlier call returned that the user never said."""
    return any(handed_on(task, results).values())


@dataclass
class Audit:
    """The properties of a task set (`envhub tasks` prints it; the tests assert on it)."""

    tasks: int = 0
    depths: list[int] = field(default_factory=list)
    dependent: int = 0
    conditional: int = 0
    refusal: int = 0
    detours: list[str] = field(default_factory=list)  # task ids
    ghosts: list[str] = field(default_factory=list)  # task ids
    failed_replays: list[str] = field(default_factory=list)  # task ids whose gold calls no longer run

    @property
    def median_depth(self) -> float:
        return statistics.median(self.depths) if self.depths else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "depth_median": self.median_depth,
            "depth_max": max(self.depths, default=0),
            "depths": dict(sorted(Counter(self.depths).items())),
            "dependent_chains": self.dependent,
            "dependent_pct": round(100.0 * self.dependent / self.tasks, 1) if self.tasks else 0.0,
            "conditional": self.conditional,
            "refusal": self.refusal,
            "detours": len(self.detours),
            "ghost_ids": len(self.ghosts),
            "failed_replays": len(self.failed_replays),
        }


def audit(specs: list[EnvSpec], tasks: list[TaskSpec]) -> Audit:
    """Replay every task's gold calls and count its properties."""
    from servers.semantics import spec_semantics

    by_name = {s.name: s for s in specs}
    runtimes: dict[str, EnvRuntime] = {}
    reads: dict[str, set[str]] = {}
    out = Audit()
    for task in tasks:
        spec = by_name.get(task.env)
        if spec is None:
            raise ValueError(f"task {task.task_id}: environment {task.env!r} is not among the specs given")
        if spec.name not in runtimes:
            runtimes[spec.name] = EnvRuntime(spec)
            reads[spec.name] = {n for n, s in spec_semantics(spec).items() if s.read_only}
        run = replay(spec, task, runtimes[spec.name])
        out.tasks += 1
        out.depths.append(len(task.gold_calls))
        out.conditional += task.condition is not None
        out.refusal += task.kind == "refusal"
        if any(e is not None for e in run.errors) or run.final_hash != task.gold_state_hash:
            out.failed_replays.append(task.task_id)
        if dependent(task, run.results):
            out.dependent += 1
        if detours(task, run.results, reads[spec.name]):
            out.detours.append(task.task_id)
        if ghost_ids(task, run):
            out.ghosts.append(task.task_id)
    return out

"""TaskSpec files (`envhub.task/1`): load and check them before any episode starts.

The agent never imports the task generator; it reads the JSONL it produced. Every problem is
reported with the file, the line and the field so a broken task file fails fast and clearly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASK_FORMAT = "envhub.task/1"


class TaskFileError(ValueError):
    """A task file that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class GoldCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    env: str
    kind: str  # "read" or "write"
    goal: str
    user_facts: dict[str, Any] = field(default_factory=dict)
    gold_calls: tuple[GoldCall, ...] = ()
    gold_state_hash: str | None = None
    expected_outputs: tuple[str, ...] = ()
    initial_seed: int | None = None
    steps: int = 0
    seed: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: Any, where: str = "<task>") -> TaskSpec:
        if not isinstance(data, dict):
            raise TaskFileError(f"{where}: expected a JSON object, got {type(data).__name__}")
        fmt = data.get("format", TASK_FORMAT)
        if fmt != TASK_FORMAT:
            raise TaskFileError(f"{where}: format: expected {TASK_FORMAT!r}, got {fmt!r}")
        for key in ("task_id", "env", "goal"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise TaskFileError(f"{where}: {key}: must be a non-empty string, got {data.get(key)!r}")
        kind = data.get("kind", "write")
        if kind not in ("read", "write"):
            raise TaskFileError(f"{where}: kind: must be 'read' or 'write', got {kind!r}")
        facts = data.get("user_facts") or {}
        if not isinstance(facts, dict):
            raise TaskFileError(f"{where}: user_facts: must be an object, got {type(facts).__name__}")
        calls_raw = data.get("gold_calls") or []
        if not isinstance(calls_raw, list):
            raise TaskFileError(f"{where}: gold_calls: must be a list")
        calls = []
        for i, call in enumerate(calls_raw):
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise TaskFileError(f"{where}: gold_calls[{i}]: needs a string 'name'")
            args = call.get("arguments") or {}
            if not isinstance(args, dict):
                raise TaskFileError(f"{where}: gold_calls[{i}].arguments: must be an object, got {args!r}")
            calls.append(GoldCall(call["name"], args))
        outputs = data.get("expected_outputs") or []
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            raise TaskFileError(f"{where}: expected_outputs: must be a list of strings")
        gold_hash = data.get("gold_state_hash")
        if gold_hash is not None and not isinstance(gold_hash, str):
            raise TaskFileError(f"{where}: gold_state_hash: must be a string or null, got {gold_hash!r}")
        initial = data.get("initial_state") or {}
        if not isinstance(initial, dict):
            raise TaskFileError(f"{where}: initial_state: must be an object like {{'seed': null}}")
        init_seed = initial.get("seed")
        if init_seed is not None and (not isinstance(init_seed, int) or isinstance(init_seed, bool)):
            raise TaskFileError(f"{where}: initial_state.seed: must be an integer or null, got {init_seed!r}")
        return cls(
            task_id=data["task_id"], env=data["env"], kind=kind, goal=data["goal"],
            user_facts=facts, gold_calls=tuple(calls), gold_state_hash=gold_hash,
            expected_outputs=tuple(outputs), initial_seed=init_seed,
            steps=int(data.get("steps") or len(calls)), seed=data.get("seed"), raw=data,
        )


def load_tasks(path: str | Path) -> list[TaskSpec]:
    """Read a TaskSpec JSONL file; duplicate task_ids are an error (resume keys on them)."""
    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: task file not found")
    tasks: list[TaskSpec] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as err:
                raise TaskFileError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
            task = TaskSpec.from_dict(data, where)
            if task.task_id in seen:
                raise TaskFileError(f"{where}: task_id: {task.task_id!r} already used on line {seen[task.task_id]}")
            seen[task.task_id] = lineno
            tasks.append(task)
    if not tasks:
        raise TaskFileError(f"{path}: no tasks in file")
    return tasks

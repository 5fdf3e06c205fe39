"""TaskSpec files (`contracts.TaskSpec`): load and check them before any episode starts.

The agent never imports the task generator; it reads the JSONL it produced. Every problem is
reported with the file, the line and the field so a broken task file fails fast and clearly.
"""

from __future__ import annotations

from pathlib import Path

from contracts import ContractError, TaskSpec, read_jsonl


class TaskFileError(ValueError):
    """A task file that cannot be used; the message names the file, line and field."""


def load_tasks(path: str | Path) -> list[TaskSpec]:
    """Read a TaskSpec JSONL file; duplicate task_ids are an error (resume keys on them)."""
    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: task file not found")
    try:
        lines = read_jsonl(path, TaskSpec)
    except ContractError as err:
        raise TaskFileError(str(err)) from None
    seen: dict[str, int] = {}
    for line in lines:
        task_id = line.record.task_id
        if task_id in seen:
            raise TaskFileError(f"{line.where}: task_id: {task_id!r} already used on line {seen[task_id]}")
        seen[task_id] = line.number
    if not lines:
        raise TaskFileError(f"{path}: no tasks in file")
    return [line.record for line in lines]

"""Load a build folder (the output of `envhub synth`) into runtimes the hub can serve.

A build folder holds one EnvSpec per `envs/*.json` and, optionally, the tasks generated for
them in `tasks.jsonl`. One bad file must not take the other environments down: it is skipped,
and the reason is kept so `GET /envs` can show it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts import Rejected, TaskSpec, scan_jsonl
from servers.spec import EnvSpec, SpecError, load_envspec
from servers.state import EnvRuntime

logger = logging.getLogger("envservers.builddir")

@dataclass(frozen=True)
class Skipped:
    """A file that was not loaded, and why."""

    file: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}


@dataclass(frozen=True)
class TaskStart:
    """What the hub needs from a task to start an episode for it."""

    task_id: str
    env: str
    seed: int | None


class BuildError(ValueError):
    """The build folder itself cannot be used (missing, not a folder, no envs/ inside)."""


# Called after each file with (files done, files in all), e.g. to drive a progress bar.
Progress = Callable[[int, int], None]


def load_build(build_dir: str | Path, progress: Progress | None = None) -> tuple[dict[str, EnvRuntime], list[Skipped]]:
    """Runtimes by environment name for every loadable `BUILD_DIR/envs/*.json`, plus the skipped files."""
    envs_dir = _envs_dir(Path(build_dir))
    return load_spec_files(sorted(envs_dir.glob("*.json")), progress)


def load_spec_files(paths: list[Path], progress: Progress | None = None) -> tuple[dict[str, EnvRuntime], list[Skipped]]:
    runtimes: dict[str, EnvRuntime] = {}
    origins: dict[str, Path] = {}
    skipped: list[Skipped] = []
    for done, path in enumerate(paths, start=1):
        if progress is not None:
            progress(done, len(paths))
        try:
            spec = load_envspec(path)
        except SpecError as err:
            skipped.append(Skipped(str(path), str(err)))
            logger.warning("skipping %s", err)
            continue
        if spec.name in runtimes:
            reason = f"{path}: name: environment '{spec.name}' is already defined by {origins[spec.name]}"
            skipped.append(Skipped(str(path), reason))
            logger.warning("skipping %s", reason)
            continue
        try:
            runtimes[spec.name] = EnvRuntime(spec)
        except Exception as err:  # a spec that validates but cannot be materialised
            reason = f"{path}: cannot build the environment: {type(err).__name__}: {err}"
            skipped.append(Skipped(str(path), reason))
            logger.warning("skipping %s", reason)
            continue
        origins[spec.name] = path
    return runtimes, skipped


def load_tasks(build_dir: str | Path, envs: dict[str, EnvRuntime] | None = None) -> tuple[dict[str, TaskStart], list[Skipped]]:
    """`BUILD_DIR/tasks.jsonl` as task starts by task id; missing file -> no tasks.

    Lines that are not TaskSpecs, or name an environment this build does not have, are skipped
    with their line number.
    """
    path = Path(build_dir) / "tasks.jsonl"
    tasks: dict[str, TaskStart] = {}
    skipped: list[Skipped] = []
    if not path.is_file():
        return tasks, skipped
    for line in scan_jsonl(path, TaskSpec):
        if isinstance(line, Rejected):
            skipped.append(Skipped(line.where, str(line.error)))
            continue
        task, where = line.record, line.where
        if envs is not None and task.env not in envs:
            skipped.append(Skipped(where, f"{where}: env: unknown environment '{task.env}'"))
            continue
        if task.task_id in tasks:
            skipped.append(Skipped(where, f"{where}: task_id: '{task.task_id}' appears twice"))
            continue
        tasks[task.task_id] = TaskStart(task_id=task.task_id, env=task.env, seed=task.initial_state.seed)
    if skipped:
        logger.warning("skipped %d line(s) of %s", len(skipped), path)
    return tasks, skipped


def _envs_dir(build_dir: Path) -> Path:
    if not build_dir.exists():
        raise BuildError(f"{build_dir}: build folder does not exist")
    if not build_dir.is_dir():
        raise BuildError(f"{build_dir}: not a folder (expected a build folder with envs/*.json)")
    envs_dir = build_dir / "envs"
    if not envs_dir.is_dir():
        raise BuildError(f"{build_dir}: has no envs/ folder; is this the output of `envhub synth`?")
    return envs_dir


def spec_summary(spec: EnvSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "description": spec.description,
        "domain": spec.domain,
        "tools": len(spec.tools),
        "tables": len(spec.tables),
    }

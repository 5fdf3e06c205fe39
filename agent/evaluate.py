"""`envhub eval`: run a local model (before and after fine-tuning) as a policy on held-out tasks.

The model plays the agent through MCP exactly as in collection, against the same hub and the same
filters, once without an adapter and once per adapter given; the result is one table of pass
rates per filter, before vs after, plus `report.json` and a PNG.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

from agent.intervals import wilson_interval


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a local model (+ LoRA adapters) on held-out tasks through MCP, before vs after",
        description=__doc__,
    )
    p.add_argument("target", help="a build folder (a hub is started for the run) or a running hub's URL")
    p.add_argument("--tasks", required=True, help="TaskSpec JSONL of held-out tasks")
    p.add_argument("--model", required=True, help="a Hugging Face causal-LM folder (the base model)")
    p.add_argument("--adapter", action="append", default=[], metavar="DIR",
                   help="a PEFT adapter folder to evaluate on top of the base (repeatable)")
    p.add_argument("--no-base", action="store_true", help="skip the base model (before) run")
    p.add_argument("--out", type=Path, required=True, help="folder for trajectories, report.json and pass_rates.png")
    p.add_argument("--max-turns", type=int, default=6)
    p.add_argument("--user-disclosure", choices=["ask", "upfront"], default="ask",
                   help="the scripted user gives ids when asked (default) or states every fact in its opening; "
                        "use the setting the training trajectories were collected with")
    p.add_argument("--max-tokens", type=int, default=160, help="new tokens per model turn")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--concurrency", type=int, default=8,
                   help="episodes in flight; their model turns are decoded together in one batch (default 8)")
    p.add_argument("--episode-timeout", type=float, default=900.0)
    p.add_argument("--tool-budget", type=int, default=None, metavar="TOKENS",
                   help="most tokens of tools shown per task, under the rule `envhub train` used (default: the "
                        "adapter's tool_budget.json, else 1024 like `envhub train`; 0: every tool)")
    p.add_argument("--tool-budget-seed", type=int, default=None, help="tie-break seed of the tool budget rule")
    p.add_argument("--token", help="the hub's bearer token")
    p.set_defaults(handler=handle_eval)


def eval_tool_budget(adapters: list[str], max_tokens: int | None, seed: int | None):
    """The context-budget settings of an evaluation: the flags, else those the adapter was trained with.

    Before and after are shown the same tools (one setting for every run), and by default the
    ones the model was trained on: `envhub train` writes its settings beside the adapter.
    """
    from contracts.tool_budget import DEFAULT_MAX_TOKENS, BudgetSettings

    trained = None
    for adapter in adapters:
        path = Path(adapter) / "tool_budget.json"
        if path.is_file():
            try:
                settings = BudgetSettings.from_json(json.loads(path.read_text(encoding="utf-8")), str(path))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: not valid JSON: {err.msg}") from None
            if trained is not None and settings != trained and max_tokens is None:
                raise ValueError(f"the adapters were trained under different tool budgets ({trained.to_json()} vs "
                                 f"{settings.to_json()} in {path}); give --tool-budget to evaluate them alike")
            trained = settings
    if max_tokens is None and trained is not None:
        return BudgetSettings(trained.max_tokens, trained.strategy, trained.seed if seed is None else seed)
    tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    return BudgetSettings.from_flag(tokens, 0 if seed is None else seed)


def _label(adapter: str | None) -> str:
    if adapter is None:
        return "before (base model)"
    return f"after ({Path(adapter).parent.name}/{Path(adapter).name})"


def handle_eval(args: argparse.Namespace) -> int:
    from rich.console import Console

    from agent.tasks import TaskFileError, load_tasks

    console = Console(stderr=True)
    try:
        tasks = load_tasks(args.tasks)
    except TaskFileError as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    if not Path(args.model).is_dir():
        console.print(f"[red]error:[/] --model {args.model!r} is not a model folder")
        return 2
    for adapter in args.adapter:
        if not (Path(adapter) / "adapter_config.json").exists():
            console.print(f"[red]error:[/] --adapter {adapter!r} has no adapter_config.json")
            return 2
    runs: list[str | None] = ([] if args.no_base else [None]) + list(args.adapter)
    from agent.policies.local_hf import adapter_chat_template

    # Before and after are prompted alike: the base run uses the template the adapter was trained
    # with, so the comparison measures the weights, not a change of prompt format.
    chat_template = next((t for t in map(adapter_chat_template, args.adapter) if t), None)
    if not runs:
        console.print("[red]error:[/] nothing to evaluate: --no-base and no --adapter")
        return 2
    try:
        args.budget = eval_tool_budget(args.adapter, args.tool_budget, args.tool_budget_seed)
    except ValueError as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    console.print(f"tool budget: {args.budget.to_json()}")
    args.out.mkdir(parents=True, exist_ok=True)

    with contextlib.ExitStack() as stack:
        target = args.target
        if Path(target).is_dir():
            from agent.hubproc import serve_build_dir

            console.print(f"starting `envhub serve {target}` for the evaluation ...")
            target = stack.enter_context(serve_build_dir(target, token=args.token))
        elif not target.startswith(("http://", "https://")):
            console.print(f"[red]error:[/] TARGET {target!r} is neither a folder nor an http(s) URL")
            return 2
        rows = [_evaluate_one(args, tasks, target, adapter, chat_template, console) for adapter in runs]

    report = {"tasks": str(args.tasks), "model": str(args.model), "rows": rows}
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    _print_table(rows, console)
    _plot(rows, args.out / "pass_rates.png")
    console.print(f"report: {args.out / 'report.json'}, picture: {args.out / 'pass_rates.png'}")
    return 0


def _evaluate_one(args: argparse.Namespace, tasks: list, url: str, adapter: str | None, chat_template: str | None,
                  console: Any) -> dict:
    from agent.filters import FILTER_NAMES
    from agent.report import ProgressDisplay
    from agent.run import collect_sync
    from agent.settings import EngineConfig, PolicySettings

    label = _label(adapter)
    slug = "base" if adapter is None else f"adapter-{len(list(args.out.glob('adapter-*.jsonl')))}"
    out_file = args.out / f"{slug}.jsonl"
    console.rule(label)
    settings = PolicySettings(policy="local", model_dir=str(args.model), adapter=adapter,
                              temperature=args.temperature, max_tokens=args.max_tokens, user="scripted",
                              user_disclosure=args.user_disclosure, chat_template=chat_template)
    config = EngineConfig(url=url, is_hub=True, token=args.token, concurrency=args.concurrency,
                          max_turns=args.max_turns, episode_timeout=args.episode_timeout, retries=1,
                          tool_budget=args.budget)
    display = ProgressDisplay(len(tasks), console=console)
    with display:
        summary = collect_sync(tasks, config, settings, out_file, keep="all", overwrite=True,
                               on_result=display.update)
    episodes = max(summary.done, 1)
    filters = {}
    for name in FILTER_NAMES:
        counts = summary.filters[name]
        applicable = counts["pass"] + counts["fail"]
        filters[name] = None if applicable == 0 else counts["pass"] / applicable
    # Whether the model calls tools at all is the first thing fine-tuning changes, long before
    # the calls are right: report it next to the filters.
    from contracts import Trajectory, read_jsonl

    calls = call_validity([line.record for line in read_jsonl(out_file, Trajectory)])
    return {
        "label": label, "adapter": adapter, "trajectories": str(out_file), "tool_calls": calls["tool_calls"],
        "valid_tool_calls": calls["valid_tool_calls"], "tool_call_validity": calls["tool_call_validity"],
        "episodes": summary.done, "passed": summary.passed, "pass_rate": summary.passed / episodes,
        "pass_interval": wilson_interval(summary.passed, summary.done).to_json(),
        "errors": summary.errors, "filters": filters, "tokens": dict(summary.tokens),
        "seconds": round(summary.seconds, 1),
    }


def call_validity(trajectories: list) -> dict[str, Any]:
    """Tool calls made, and how many were well formed: a listed tool, JSON-object arguments, no error back.

    An error answer counts against the call whatever caused it (a bad argument value, a rule the
    environment enforces): it is the share of calls that did what the model meant them to do.
    """
    from agent.filters import parse_arguments

    total = valid = 0
    for trajectory in trajectories:
        listed = {tool.function.name for tool in trajectory.tools}
        answers = {m.tool_call_id: m.content for m in trajectory.messages if m.role == "tool"}
        for message in trajectory.messages:
            for call in message.tool_calls or []:
                total += 1
                answer = answers.get(call.id)
                ok_answer = isinstance(answer, str) and not answer.startswith("Error")
                if call.function.name in listed and parse_arguments(call.function.arguments) is not None and ok_answer:
                    valid += 1
    return {"tool_calls": total, "valid_tool_calls": valid, "tool_call_validity": valid / total if total else None}


def format_interval(row: dict) -> str:
    low, high = row.get("pass_interval") or wilson_interval(row["passed"], row["episodes"]).to_json()
    return f"{low:.0%}-{high:.0%}"


def _print_table(rows: list[dict], console: Any) -> None:
    from rich.table import Table

    from agent.filters import FILTER_NAMES

    table = Table(title="held-out evaluation: pass rates")
    table.add_column("model")
    table.add_column("episodes", justify="right")
    table.add_column("tool calls", justify="right")
    for name in FILTER_NAMES:
        table.add_column(name, justify="right")
    table.add_column("valid calls", justify="right")
    table.add_column("all filters", justify="right", style="bold")
    table.add_column("95% CI", justify="right")
    for row in rows:
        cells = ["n/a" if row["filters"][n] is None else f"{row['filters'][n]:.0%}" for n in FILTER_NAMES]
        validity = row.get("tool_call_validity")
        table.add_row(row["label"], str(row["episodes"]), str(row["tool_calls"]), *cells,
                      "n/a" if validity is None else f"{validity:.0%}",
                      f"{row['pass_rate']:.0%} ({row['passed']}/{row['episodes']})", format_interval(row))
    console.print(table)


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agent.filters import FILTER_NAMES

    names = [*FILTER_NAMES, "all"]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / max(len(rows), 1)
    for i, row in enumerate(rows):
        values = [row["filters"][n] or 0.0 for n in FILTER_NAMES] + [row["pass_rate"]]
        xs = [x + i * width for x in range(len(names))]
        ax.bar(xs, values, width, label=row["label"])
        # The overall pass rate with its 95% Wilson interval.
        interval = wilson_interval(row["passed"], row["episodes"])
        ax.errorbar([xs[-1]], [row["pass_rate"]], yerr=[[row["pass_rate"] - interval.low],
                                                        [interval.high - row["pass_rate"]]],
                    fmt="none", ecolor="black", capsize=3)
    ax.set_xticks([x + width * (len(rows) - 1) / 2 for x in range(len(names))], names)
    ax.set_ylim(0, 1)
    ax.set_ylabel("pass rate")
    ax.set_title("held-out tasks: before vs after fine-tuning")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

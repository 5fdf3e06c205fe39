"""`envhub collect`: run a policy against environments and write filtered Trajectory JSONL.

Heavy dependencies (torch, transformers, ray, openai) are imported inside the handler only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from agent.settings import EngineConfig, PolicySettings


def _defaults(cls: type) -> dict[str, Any]:
    """A settings dataclass's field defaults: the CLI's defaults, so there is one copy of each."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def register(subparsers: Any) -> None:
    policy_defaults, run_defaults = _defaults(PolicySettings), _defaults(EngineConfig)
    p = subparsers.add_parser(
        "collect", help="collect agent trajectories over MCP and filter them",
        description="Run a policy and a simulated user on TaskSpec tasks against an envhub hub (a URL, or a "
                    "BUILD_DIR served for the run) or a plain MCP server, and write Trajectory JSONL.",
    )
    p.add_argument("target", help="BUILD_DIR (a hub is started for the run), a hub URL, or an MCP server URL")
    p.add_argument("--tasks", required=True, help="TaskSpec JSONL file")
    p.add_argument("--out", required=True, help="Trajectory JSONL output")
    p.add_argument("--mcp-url", action="store_true",
                   help="treat TARGET as a plain MCP server URL (no hub; state_match = null)")
    pol = p.add_argument_group("policy")
    pol.add_argument("--policy", choices=["scripted", "openai", "local"], default=policy_defaults["policy"])
    pol.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    pol.add_argument("--model", help="model name at --base-url")
    pol.add_argument("--api-key", help="API key for --base-url (default: $OPENAI_API_KEY or 'EMPTY')")
    pol.add_argument("--temperature", type=float)
    pol.add_argument("--max-tokens", type=int)
    pol.add_argument("--model-dir", help="--policy local: Hugging Face model folder")
    pol.add_argument("--adapter", help="--policy local: LoRA adapter folder (peft)")
    pol.add_argument("--scripted-latency", type=float, default=policy_defaults["scripted_latency"],
                     help="--policy scripted: simulated model latency per turn, seconds (benchmarks)")
    pol.add_argument("--scripted-mode", choices=["dialogue", "replay", "careless"],
                     default=policy_defaults["scripted_mode"],
                     help="--policy scripted: a dialogue (asks, confirms, recovers), a replay of the gold "
                          "calls, or a careless agent whose episodes must fail the filters")
    pol.add_argument("--scripted-seed", type=int, default=policy_defaults["scripted_seed"], help="--policy scripted: wording and mistake seed")
    pol.add_argument("--mistake-rate", type=float, default=policy_defaults["scripted_mistake_rate"],
                     help="--policy scripted: share of dialogues with one rejected call that is then repaired")
    usr = p.add_argument_group("simulated user")
    usr.add_argument("--user", choices=["scripted", "llm"], default=policy_defaults["user"])
    usr.add_argument("--user-disclosure", choices=["ask", "upfront"], default=policy_defaults["user_disclosure"],
                     help="scripted user: give ids when asked (default) or state every fact in the opening")
    usr.add_argument("--user-base-url")
    usr.add_argument("--user-model")
    usr.add_argument("--user-api-key")
    run = p.add_argument_group("run")
    run.add_argument("--concurrency", type=int, default=run_defaults["concurrency"], help="episodes in flight")
    run.add_argument("--keep", choices=["passed", "all"], default="all",
                     help="'passed': failed episodes go to <out>.rejected.jsonl instead of --out")
    run.add_argument("--resume", action="store_true", help="skip task_ids already in --out (and its sidecar)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    run.add_argument("--max-turns", type=int, default=run_defaults["max_turns"], help="assistant turns per episode")
    run.add_argument("--tool-budget", type=_budget_tokens, default=0, metavar="TOKENS",
                     help="show the policy at most this many tokens of tools, under the rule `envhub train` "
                          "and `envhub eval` use (default 0: every tool; docs/train.md, Context budget)")
    run.add_argument("--call-timeout", type=float, default=run_defaults["call_timeout"],
                     help="seconds per HTTP/MCP call")
    run.add_argument("--episode-timeout", type=float, default=run_defaults["episode_timeout"],
                     help="seconds per episode")
    run.add_argument("--retries", type=int, default=run_defaults["retries"],
                     help="retries of an episode after a transient failure")
    run.add_argument("--max-outage", type=float, default=run_defaults["max_outage"], metavar="SECONDS",
                     help="stop the run when the hub has not been reachable for this long (default 30; 0 = never)")
    run.add_argument("--mcp-client", choices=["sdk", "fast"], default=run_defaults["mcp_client"],
                     help="sdk: the official MCP client (any server); fast: minimal 2026-07-28 JSON-RPC client")
    run.add_argument("--token", help="bearer token of the hub")
    run.add_argument("--fsync", action="store_true", help="fsync after every trajectory")
    run.add_argument("--ray", metavar="ADDRESS", help="spread shards over a Ray cluster ('auto' or an address)")
    run.add_argument("--shards", type=int, default=0, help="Ray shards (default: number of cluster CPUs)")
    run.add_argument("--summary-json", help="also write the run summary as JSON to this file")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle_collect)


def policy_settings(args: argparse.Namespace) -> PolicySettings:
    import os

    return PolicySettings(
        policy=args.policy, base_url=args.base_url, model=args.model,
        api_key=args.api_key or os.environ.get("OPENAI_API_KEY"), temperature=args.temperature,
        max_tokens=args.max_tokens, model_dir=args.model_dir, adapter=args.adapter,
        scripted_latency=args.scripted_latency, scripted_mode=args.scripted_mode,
        scripted_seed=args.scripted_seed, scripted_mistake_rate=args.mistake_rate, user=args.user, user_base_url=args.user_base_url,
        user_model=args.user_model, user_api_key=args.user_api_key, user_disclosure=args.user_disclosure,
    )


def handle_collect(args: argparse.Namespace) -> int:
    from rich.console import Console

    from agent.tasks import TaskFileError, load_tasks

    console = Console(stderr=True)
    try:
        tasks = load_tasks(args.tasks)
        settings = policy_settings(args)
        _check_settings(args, settings)
    except (TaskFileError, ValueError) as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    target = args.target
    with contextlib.ExitStack() as stack:
        if args.ray and not args.mcp_url and Path(target).is_dir():
            # Every Ray shard starts its own hub from the build folder (reachable on any node).
            return _run(args, tasks, settings, "", True, console, build_dir=target)
        if not args.mcp_url and Path(target).is_dir():
            from agent.hubproc import serve_build_dir

            console.print(f"starting `envhub serve {target}` for this run ...")
            try:
                target = stack.enter_context(serve_build_dir(target, token=args.token))
            except RuntimeError as err:
                console.print(f"[red]error:[/] could not start a hub for {args.target}: {err}")
                return 2
        elif not target.startswith(("http://", "https://")):
            console.print(f"[red]error:[/] TARGET {target!r} is neither a folder nor an http(s) URL")
            return 2
        from agent.retry import HubUnreachable

        try:
            is_hub = False if args.mcp_url else asyncio.run(_probe(target, args.token))
        except HubUnreachable as err:
            console.print(f"[red]error:[/] {err}")
            return 3
        if not is_hub:
            console.print(f"{target} is not an envhub hub (no /health): plain MCP mode, state_match = null")
        return _run(args, tasks, settings, target, is_hub, console)


def _check_settings(args: argparse.Namespace, settings: PolicySettings) -> None:
    if args.concurrency < 1:
        raise ValueError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.retries < 0:
        raise ValueError(f"--retries must be >= 0, got {args.retries}")
    if args.policy == "openai" and not args.model:
        raise ValueError("--policy openai needs --model")
    if args.policy == "local" and not (args.model_dir and Path(args.model_dir).is_dir()):
        raise ValueError(f"--policy local needs --model-dir pointing at a model folder, got {args.model_dir!r}")
    if args.adapter and not Path(args.adapter).is_dir():
        raise ValueError(f"--adapter {args.adapter!r} is not a folder")
    if args.user == "llm" and not (args.user_model or args.model):
        raise ValueError("--user llm needs --user-model")


async def _probe(url: str, token: str | None) -> bool:
    import httpx2

    from agent.engine import shared_http_client
    from agent.hubclient import probe_hub
    from agent.retry import HubUnreachable, describe

    async with shared_http_client(4, 10.0, token) as http:
        try:  # any answer, even 404, means something listens there
            await http.get(url.rstrip("/") + "/health", timeout=10.0)
        except httpx2.TransportError as err:
            raise HubUnreachable(f"{url} cannot be reached ({describe(err)})") from None
        return await probe_hub(http, url, token)


def _budget_tokens(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0: every tool), got {value}")
    return value


def _tool_budget(max_tokens: int):
    from contracts.tool_budget import BudgetSettings

    return BudgetSettings.from_flag(max_tokens) if max_tokens else None


def _run(args: argparse.Namespace, tasks: list, settings: PolicySettings, url: str, is_hub: bool, console: Any,
         build_dir: str | None = None) -> int:
    from agent.report import ProgressDisplay, summary_tables
    from agent.retry import HubUnreachable
    from agent.run import CollectionTerminated
    from agent.store import OutputExistsError

    config = EngineConfig(url=url, is_hub=is_hub, token=args.token, concurrency=args.concurrency,
                          max_turns=args.max_turns, call_timeout=args.call_timeout,
                          episode_timeout=args.episode_timeout, retries=args.retries, mcp_client=args.mcp_client,
                          max_outage=args.max_outage, tool_budget=_tool_budget(args.tool_budget))
    try:
        if args.ray:
            from agent.ray_runner import collect_with_ray

            summary = collect_with_ray(tasks, config, settings, args.out, address=args.ray, shards=args.shards,
                                       keep=args.keep, resume=args.resume, overwrite=args.overwrite,
                                       build_dir=build_dir, console=console, quiet=args.quiet)
        else:
            from agent.run import collect_sync

            display = ProgressDisplay(len(tasks), console=console, disable=args.quiet)

            def on_start(initial: Any) -> None:
                display.progress.update(display.task, completed=initial.skipped)

            with display:
                summary = collect_sync(tasks, config, settings, args.out, keep=args.keep, resume=args.resume,
                                       overwrite=args.overwrite, fsync=args.fsync, on_start=on_start,
                                       on_result=display.update)
    except OutputExistsError as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    except HubUnreachable as err:
        console.print(f"[red]error:[/] {err}. Finished episodes are in {args.out}; rerun with --resume once the "
                      "hub is back")
        return 3
    except (KeyboardInterrupt, CollectionTerminated):
        console.print(f"[yellow]interrupted[/]: finished episodes are in {args.out}; rerun with --resume")
        return 130
    for table in summary_tables(summary):
        console.print(table)
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary.to_dict(), indent=2))
    if summary.errors:
        console.print(f"[yellow]{summary.errors} episode(s) failed after retries; they are recorded with "
                      f"`error` set and will be retried by --resume[/]")
    return 1 if summary.errors else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="agent.cli")
    register(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args()
    sys.exit(parsed.handler(parsed))

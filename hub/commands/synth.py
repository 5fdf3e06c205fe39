"""`envhub synth`: API descriptions -> a build folder of executable, gated environments."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from synth.envs.synthesize import SynthSettings

    defaults = SynthSettings()
    parser = subparsers.add_parser(
        "synth",
        help="synthesize environments from API descriptions (default: the embedded collection)",
        description=(
            "Ingest API descriptions (OpenAPI, OpenAI/BFCL/ToolBench tool files, MCP tool lists; files, "
            "folders or .tar.gz/.zip archives), group the tools into domains, build one executable "
            "environment per domain, call every tool through the quality gate and write "
            "BUILD_DIR/envs/*.json, BUILD_DIR/report.json and BUILD_DIR/domains.png."
        ),
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", type=Path,
                        help="API description files, folders or archives (none: the embedded default collection)")
    parser.add_argument("--out", required=True, type=Path, metavar="BUILD_DIR", help="the build folder to write")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help=f"seed for the partition and the seed state (default {defaults.seed})")
    parser.add_argument("--vectorizer", choices=["hashing", "minilm"], default=defaults.vectorizer,
                        help=f"tool text embedding for the tool graph (default {defaults.vectorizer})")
    parser.add_argument("--min-domain", type=int, default=defaults.min_domain,
                        help=f"smallest domain, in tools (default {defaults.min_domain})")
    parser.add_argument("--max-domain", type=int, default=defaults.max_domain,
                        help=f"largest domain, in tools (default {defaults.max_domain})")
    parser.add_argument("--min-tools", type=int, default=defaults.min_tools,
                        help=f"environments with fewer working tools are dropped (default {defaults.min_tools})")
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="processes synthesizing domains in parallel (default: up to 2)")
    parser.add_argument("--llm-base-url", default=None,
                        help="OpenAI-compatible endpoint for optional spec refinement (e.g. http://127.0.0.1:8000/v1)")
    parser.add_argument("--llm-model", default=None, help="model name for refinement")
    parser.add_argument("--llm-api-key", default=None,
                        help="API key for the endpoint (default: $OPENAI_API_KEY, else none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from synth.envs.synthesize import LLMConfig, SynthSettings, synthesize

    console = Console(stderr=True)
    if (args.llm_base_url is None) != (args.llm_model is None):
        console.print("[red]error:[/red] --llm-base-url and --llm-model go together")
        return 2
    if args.min_domain < 1 or args.max_domain < args.min_domain:
        console.print(f"[red]error:[/red] need 1 <= --min-domain <= --max-domain, got "
                      f"{args.min_domain} and {args.max_domain}")
        return 2
    missing = [str(p) for p in args.inputs if not p.exists()]
    if missing:
        console.print(f"[red]error:[/red] input not found: {', '.join(missing)}")
        return 2
    llm = None
    if args.llm_base_url and args.llm_model:
        llm = LLMConfig(args.llm_base_url, args.llm_model, args.llm_api_key or os.environ.get("OPENAI_API_KEY"))
    try:
        settings = SynthSettings(seed=args.seed, vectorizer=args.vectorizer, min_domain=args.min_domain,
                                 max_domain=args.max_domain, min_tools=args.min_tools, workers=args.workers,
                                 llm=llm, progress=not args.no_progress)
        report = synthesize(list(args.inputs) or None, args.out, settings)
    except (ValueError, OSError) as err:
        console.print(f"[red]error:[/red] {err}")
        return 1
    data = report.data

    table = Table(title=f"envhub synth -> {args.out}")
    table.add_column("stage")
    table.add_column("result", justify="right")
    table.add_row("inputs read", f"{data['inputs_read']}")
    table.add_row("files skipped", f"{len(data['files_skipped'])}")
    table.add_row("tools ingested", f"{data['tools_ingested']}")
    if data.get("ingest"):
        reasons = ", ".join(f"{k} {v['count']}" for k, v in list(data["ingest"]["dropped_by_reason"].items())[:4])
        table.add_row("transport parameters dropped", f"{data['ingest']['parameters_dropped']} ({reasons or 'none'})")
    table.add_row("domains", f"{data['domains']}")
    table.add_row("environments built", f"{data['environments_built']}")
    table.add_row("environments passing", f"{data['environments_passing']}")
    table.add_row("tools kept", f"{data['tools_kept']} ({data['yield']:.1%})")
    table.add_row("tools repaired by the gate", f"{data['tools_repaired']}")
    if data.get("loans"):
        borrowers = len({loan["env"] for loan in data["loans"]})
        table.add_row("key producers lent between pieces", f"{len(data['loans'])} to {borrowers} environments")
    if data["refine"]:
        table.add_row("LLM refinements accepted", f"{data['refine']['accepted']} / {data['refine']['attempted']}")
    table.add_row("seconds", " / ".join(f"{k} {v:.1f}" for k, v in data["seconds"].items()))
    console.print(table)
    if data["dropped_tools"] or data["dropped_environments"]:
        why = Table(title="dropped, by reason")
        why.add_column("what")
        why.add_column("reason")
        why.add_column("count", justify="right")
        why.add_column("example")
        for kind, reasons in (("tool", data["dropped_tools"]), ("environment", data["dropped_environments"])):
            for reason, entry in list(reasons.items())[:8]:
                example = entry["examples"][0] if entry["examples"] else {}
                text = f"{example.get('env', '')}/{example.get('tool', '')}: {example.get('detail', '')}"
                why.add_row(kind, reason, str(entry["count"]), text[:90])
        console.print(why)
    console.print(f"wrote {data['environments_passing']} environments to {args.out / 'envs'}; "
                  f"report: {args.out / 'report.json'}")
    return 0 if data["environments_passing"] > 0 else 1

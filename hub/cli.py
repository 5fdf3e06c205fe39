"""The `envhub` command line: one subcommand per stage of the pipeline.

Each stage keeps its own argument parser next to its code (`register(subparsers)`), and heavy
imports (torch, transformers) happen inside the handlers so `envhub --help` stays instant.
The trainer and the agent are separate packages that never import hub/; only this top-level
command line composes them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, attribute) pairs; each module exposes register(subparsers) -> None.
_COMMAND_MODULES = [
    "hub.commands.synth",
    "hub.commands.serve",
    "hub.commands.mcp_config",
    "hub.commands.tasks",
    "hub.commands.importer",
    "agent.cli",
    "agent.evaluate",
    "trainer.cli",
    "hub.commands.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envhub",
        description="Synthesize tool-use environments, serve them over MCP, collect and train.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            # A stage whose optional extra is not installed still lets the others run.
            if err.name and err.name.split(".")[0] in {"hub", "agent", "trainer", "servers"}:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

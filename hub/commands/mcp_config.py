"""`envhub mcp-config`: an `mcpServers` snippet for desktop MCP clients (Claude Desktop, Cursor, ...).

Desktop clients start stdio servers in a folder of their own choosing with a minimal environment,
so the snippet names everything absolutely: the Python interpreter running this command, the
build folder, and (only when this checkout is not installed in that interpreter) the PYTHONPATH
that makes `hub` importable. See docs/desktop-clients.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import hub


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser(
        "mcp-config",
        help="print an mcpServers JSON snippet (Claude Desktop, Cursor) for environments of a build",
        description=(
            "Print a ready `mcpServers` configuration that launches `envhub stdio` for each ENV of "
            "BUILD_DIR (default: every environment), with absolute paths so it works from any folder."
        ),
    )
    command.add_argument("build_dir", type=Path, metavar="BUILD_DIR", help="build folder with envs/*.json")
    command.add_argument("envs", nargs="*", metavar="ENV", help="environment names (default: all of the build)")
    command.add_argument("--episode-dir", type=Path, default=None, metavar="DIR",
                         help="keep each environment's episode in DIR/<env>.sqlite, so it survives client "
                              "restarts and clients that start one process per call share it")
    command.add_argument("--seed", type=int, default=None, help="seed of the initial state (default: the spec's own)")
    command.add_argument("--prefix", default="", metavar="TEXT",
                         help="prepended to each server name, e.g. 'envhub-' (default: none)")
    command.set_defaults(handler=run_mcp_config)


def run_mcp_config(args: argparse.Namespace) -> int:
    build_dir = args.build_dir.expanduser().absolute()
    try:
        names = environment_names(build_dir)
    except LookupError as err:
        print(f"envhub mcp-config: {err}", file=sys.stderr)
        return 2
    chosen = args.envs or names
    unknown = [env for env in chosen if env not in names]
    if unknown:
        print(f"envhub mcp-config: {build_dir}: no environment(s) {', '.join(unknown)}; "
              f"available: {', '.join(names) or 'none'}", file=sys.stderr)
        return 2
    episode_dir = args.episode_dir.expanduser().absolute() if args.episode_dir is not None else None
    snippet = mcp_servers(build_dir, chosen, episode_dir=episode_dir, seed=args.seed, prefix=args.prefix)
    print(json.dumps(snippet, indent=2, ensure_ascii=False))
    return 0


def environment_names(build_dir: Path) -> list[str]:
    """Names of the environments in `build_dir/envs` (as declared inside the files)."""
    from servers.builddir import BuildError, load_build

    try:
        runtimes, _ = load_build(build_dir)
    except BuildError as err:
        raise LookupError(str(err)) from None
    return sorted(runtimes)


def mcp_servers(build_dir: Path, envs: list[str], *, episode_dir: Path | None = None, seed: int | None = None,
                prefix: str = "") -> dict[str, Any]:
    """The `{"mcpServers": {...}}` object: one stdio server per environment."""
    extra_env = launch_environment()
    servers: dict[str, Any] = {}
    for env in envs:
        args = ["-m", "hub.cli", "stdio", str(build_dir), env]
        if seed is not None:
            args += ["--seed", str(seed)]
        if episode_dir is not None:
            args += ["--episode-file", str(episode_dir / f"{env}.sqlite")]
        entry: dict[str, Any] = {"command": sys.executable, "args": args}
        if extra_env:
            entry["env"] = extra_env
        servers[prefix + env] = entry
    return {"mcpServers": servers}


def launch_environment() -> dict[str, str]:
    """Variables the launched server needs: PYTHONPATH when `hub` would otherwise not be this checkout.

    Checked by asking the interpreter itself, from an empty folder and without PYTHONPATH, where
    it finds `hub`, which is what a desktop client launching it will get.
    """
    here = Path(hub.__file__).resolve().parent
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory() as empty:
        probe = subprocess.run(
            [sys.executable, "-c", "import hub, os; print(os.path.dirname(os.path.realpath(hub.__file__)))"],
            cwd=empty, env=clean, capture_output=True, text=True, timeout=60,
        )
    if probe.returncode == 0 and Path(probe.stdout.strip()) == here:
        return {}
    return {"PYTHONPATH": str(here.parent)}

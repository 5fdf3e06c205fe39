"""Serve one environment over stdio: one process is one episode.

    python -m servers.stdio SPEC.json [--seed N]

Any MCP client that launches servers as subprocesses (Claude Desktop, the SDK's
`StdioServerParameters`) can use an EnvSpec this way; the episode lives as long as the process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio
from mcp.server.stdio import stdio_server

from servers.mcp_server import build_server
from servers.spec import EnvSpec, SpecError, load_envspec
from servers.state import EnvRuntime, EpisodeStore


def _load(spec_path_or_spec: str | Path | EnvSpec) -> EnvSpec:
    if isinstance(spec_path_or_spec, EnvSpec):
        return spec_path_or_spec
    return load_envspec(spec_path_or_spec)


async def serve_stdio(spec: EnvSpec, seed: int | None = None) -> None:
    runtime = EnvRuntime(spec, template_cache_size=1)
    # No idle expiry: the episode ends with the process.
    store = EpisodeStore({spec.name: runtime}, ttl_seconds=float("inf"), max_live=1)
    episode = store.create(spec.name, seed=seed)
    server = build_server(runtime, lambda ctx: store.get(episode.id))
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def run_stdio(spec_path_or_spec: str | Path | EnvSpec, seed: int | None = None) -> None:
    """Serve the environment over this process's stdin/stdout until the client disconnects."""
    spec = _load(spec_path_or_spec)
    anyio.run(serve_stdio, spec, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m servers.stdio", description="Serve one EnvSpec as an MCP server over stdio (one episode)."
    )
    parser.add_argument("spec", help="path to an EnvSpec JSON file")
    parser.add_argument("--seed", type=int, default=None, help="seed of the initial state (default: the spec's own)")
    args = parser.parse_args(argv)
    try:
        spec = load_envspec(args.spec)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    run_stdio(spec, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Serve one environment over stdio: one process is one episode.

    python -m servers.stdio SPEC.json [--seed N] [--episode-file FILE]

Any MCP client that launches servers as subprocesses (Claude Desktop, Cursor, the SDK's
`StdioServerParameters`) can use an EnvSpec this way; the episode lives as long as the process,
or, with `--episode-file`, in FILE: a client that starts a new process per call (Inspector CLI,
langchain-mcp-adapters without a session) then keeps working on the same state.

A server that cannot start (missing spec or build, unknown environment) still answers: every
request gets a JSON-RPC error naming the cause, so the client shows the reason instead of
"Connection closed"; the same message goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import anyio
from mcp.server import ServerRequestContext
from mcp.server.stdio import stdio_server

from servers.mcp_server import build_server
from servers.spec import EnvSpec, SpecError, load_envspec
from servers.state import EnvRuntime, Episode, EpisodeStore

# JSON-RPC "server error" range: the server exists but cannot serve (its configuration is wrong).
STARTUP_ERROR_CODE = -32000
# A client sends its first request right after launching the server; a process nobody talks to
# (e.g. launched by hand with a wrong argument) should not wait forever.
STARTUP_ERROR_IDLE_SECONDS = 30.0


def _load(spec_path_or_spec: str | Path | EnvSpec) -> EnvSpec:
    if isinstance(spec_path_or_spec, EnvSpec):
        return spec_path_or_spec
    return load_envspec(spec_path_or_spec)


async def serve_stdio(spec: EnvSpec, seed: int | None = None, episode_file: Path | None = None) -> None:
    runtime = EnvRuntime(spec, template_cache_size=1)
    journal = None
    if episode_file is not None:
        from servers.durable import EpisodeFile

        journal = EpisodeFile(episode_file)
    # No idle expiry: the episode ends with the process (or lives on in the episode file).
    store = EpisodeStore({spec.name: runtime}, ttl_seconds=float("inf"), max_live=1, journal=journal)
    episode = store.create(spec.name, seed=seed)

    def resolve(ctx: ServerRequestContext[Any, Any]) -> Episode:
        current = store.get(episode.id)
        if journal is not None:
            # Other processes (a client that launches one per call) may be calling or have
            # written the file: wait for them and read it. The call's touch() saves and releases.
            journal.begin_call(current)
        return current

    server = build_server(runtime, resolve)
    try:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        store.close_all()


def run_stdio(spec_path_or_spec: str | Path | EnvSpec, seed: int | None = None,
              episode_file: Path | None = None) -> None:
    """Serve the environment over this process's stdin/stdout until the client disconnects."""
    spec = _load(spec_path_or_spec)
    anyio.run(serve_stdio, spec, seed, episode_file)


def answer_with_startup_error(message: str, *, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None,
                              stderr: TextIO | None = None, idle_seconds: float = STARTUP_ERROR_IDLE_SECONDS) -> None:
    """Tell the client why this server cannot start: a JSON-RPC error for each request, until EOF.

    MCP clients show the error of their first request (`initialize` or `server/discover`), while
    most of them hide a server's stderr; so the message goes to both. Returns when stdin closes,
    after `idle_seconds` without input, or at once when stdin cannot be read (not a pipe or file).
    """
    stderr = stderr or sys.stderr
    print(message, file=stderr, flush=True)
    try:
        stdin = stdin or sys.stdin.buffer
        stdout = stdout or sys.stdout.buffer
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return
    if os.isatty(fd):
        return
    pending = b""
    deadline = time.monotonic() + idle_seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            ready, _, _ = select.select([fd], [], [], remaining)
        except (OSError, ValueError):
            return
        if not ready:
            return
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        deadline = time.monotonic() + idle_seconds
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            for reply in _error_replies(line, message):
                stdout.write(reply + b"\n")
            stdout.flush()


def _error_replies(line: bytes, message: str) -> list[bytes]:
    if not line.strip():
        return []
    try:
        payload = json.loads(line)
    except ValueError:
        return []
    requests = payload if isinstance(payload, list) else [payload]
    replies = []
    for request in requests:
        # Notifications (no id) get no answer; every request does.
        if isinstance(request, dict) and "method" in request and request.get("id") is not None:
            error = {"code": STARTUP_ERROR_CODE, "message": message, "data": {"cwd": os.getcwd()}}
            replies.append(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}).encode())
    return replies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m servers.stdio", description="Serve one EnvSpec as an MCP server over stdio (one episode)."
    )
    parser.add_argument("spec", type=Path, help="path to an EnvSpec JSON file")
    parser.add_argument("--seed", type=int, default=None, help="seed of the initial state (default: the spec's own)")
    parser.add_argument("--episode-file", type=Path, default=None, metavar="FILE",
                        help="keep the episode's database in FILE (created if missing) so that every process "
                             "started with it continues the same episode")
    args = parser.parse_args(argv)
    try:
        spec = load_envspec(args.spec.expanduser().absolute())
    except SpecError as err:
        answer_with_startup_error(f"error: {err}{_cwd_hint(args.spec)}")
        return 2
    return serve_or_explain(spec, seed=args.seed, episode_file=args.episode_file, prog="servers.stdio")


def serve_or_explain(spec: EnvSpec, *, seed: int | None, episode_file: Path | None, prog: str) -> int:
    """Serve `spec`; an episode file that cannot be used is explained to the client instead."""
    from servers.durable import EpisodeFileError

    if episode_file is not None:
        episode_file = episode_file.expanduser().absolute()
    try:
        run_stdio(spec, seed=seed, episode_file=episode_file)
    except EpisodeFileError as err:
        answer_with_startup_error(f"{prog}: {err}")
        return 2
    return 0


def _cwd_hint(path: Path) -> str:
    if path.is_absolute():
        return ""
    return (f" (the relative path '{path}' was resolved against the working directory {os.getcwd()}; "
            "MCP clients start servers in a folder of their choosing: use an absolute path)")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())

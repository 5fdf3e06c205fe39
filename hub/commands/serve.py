"""`envhub serve` (every environment of a build over MCP + REST) and `envhub stdio` (one, over stdio)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from hub.hosting.config import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_EPISODE_BYTES,
    DEFAULT_MAX_SNAPSHOT_BYTES,
    DEFAULT_MAX_SNAPSHOTS,
    DEFAULT_REQUEST_READ_TIMEOUT,
    TOKEN_ENV_VAR,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="host every environment of a build folder as MCP servers with a REST API",
        description=(
            "Serve every BUILD_DIR/envs/*.json as an MCP server (one episode per "
            "/envs/{env}/episodes/{id}/mcp) plus the REST API of docs/CONTRACTS.md. "
            "With no BUILD_DIR the built-in example environments are served."
        ),
    )
    serve.add_argument("build_dir", nargs="?", type=Path, default=None, metavar="BUILD_DIR",
                       help="build folder with envs/*.json (and optionally tasks.jsonl)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; any other address requires a token)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument("--token", default=None,
                       help=f"bearer token every request except /health must carry (default ${TOKEN_ENV_VAR})")
    serve.add_argument("--allowed-host", action="append", default=[], metavar="NAME", dest="allowed_hosts",
                       help="host name accepted in the Host header besides localhost (repeatable); "
                            "with a token on a public address and none given, any host is accepted")
    serve.add_argument("--ttl", type=float, default=900.0, metavar="SECONDS",
                       help="idle seconds after which an episode expires (default 900)")
    serve.add_argument("--max-episodes", type=int, default=20_000, metavar="N",
                       help="live episodes allowed at once; beyond it creation answers 429 (default 20000)")
    serve.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, metavar="BYTES",
                       help="largest request body accepted, counted as it is read; larger ones get 413 "
                            "(default 1 MiB)")
    serve.add_argument("--max-episode-bytes", type=int, default=DEFAULT_MAX_EPISODE_BYTES, metavar="BYTES",
                       help="size budget of one episode's database; a tool call that would exceed it fails "
                            "and changes nothing (default 16 MiB)")
    serve.add_argument("--max-snapshots", type=int, default=DEFAULT_MAX_SNAPSHOTS, metavar="N",
                       help=f"snapshots one episode may hold (default {DEFAULT_MAX_SNAPSHOTS})")
    serve.add_argument("--max-snapshot-bytes", type=int, default=DEFAULT_MAX_SNAPSHOT_BYTES, metavar="BYTES",
                       help="bytes one episode's snapshots may hold together (default 64 MiB)")
    serve.add_argument("--request-read-timeout", type=float, default=DEFAULT_REQUEST_READ_TIMEOUT,
                       metavar="SECONDS",
                       help="seconds a client may take to send a request's headers, and again its body; "
                            f"slower connections are dropped (default {DEFAULT_REQUEST_READ_TIMEOUT:g})")
    serve.add_argument("--exit-with-stdin", action="store_true",
                       help="shut down when stdin is closed (for a parent process that starts the hub "
                            "for itself: the hub then never outlives it)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"], help="log level (default info)")
    durable = serve.add_argument_group("durable episodes (docs/durability.md)")
    durable.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                         help="keep episodes and snapshots in DIR so a restart loses none (default: memory only)")
    durable.add_argument("--state-url", default=None, metavar="URL",
                         help="SQLAlchemy URL of the episode registry, e.g. to share one between hubs "
                              "(default: sqlite file DIR/registry.sqlite)")
    durable.add_argument("--state-fsync", action="store_true",
                         help="fsync every saved episode file: survives power loss, costs a disk flush per write call")
    serve.set_defaults(handler=run_serve)

    stdio = subparsers.add_parser(
        "stdio",
        help="serve one environment of a build folder as an MCP server over stdio (one episode)",
        description="Serve environment ENV of BUILD_DIR over stdio, e.g. as a command for an MCP client.",
    )
    stdio.add_argument("build_dir", type=Path, metavar="BUILD_DIR", help="build folder with envs/*.json")
    stdio.add_argument("env", metavar="ENV", help="environment name (see `GET /envs` or BUILD_DIR/envs/)")
    stdio.add_argument("--seed", type=int, default=None, help="seed of the initial state (default: the spec's own)")
    stdio.add_argument("--episode-file", type=Path, default=None, metavar="FILE",
                       help="keep the episode's database in FILE (created if missing): every process started "
                            "with it continues the same episode (docs/desktop-clients.md)")
    stdio.set_defaults(handler=run_stdio_command)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from rich.console import Console

    from hub.hosting import HubConfig, HubConfigError, create_app
    from hub.hosting.protocol import h11_protocol_with_timeout
    from servers.builddir import BuildError

    console = Console(stderr=True)
    if args.exit_with_stdin:  # first, so that a parent dying while environments load is noticed too
        _exit_when_stdin_closes()
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV_VAR) or None
    try:
        config = HubConfig(
            build_dir=args.build_dir,
            bind_host=args.host,
            token=token,
            allowed_hosts=tuple(args.allowed_hosts),
            episode_ttl_seconds=args.ttl,
            max_live_episodes=args.max_episodes,
            max_body_bytes=args.max_body_bytes,
            state_dir=args.state_dir,
            state_url=args.state_url,
            state_fsync=args.state_fsync,
            max_episode_bytes=args.max_episode_bytes,
            max_snapshots_per_episode=args.max_snapshots,
            max_snapshot_bytes=args.max_snapshot_bytes,
            request_read_timeout_seconds=args.request_read_timeout,
        )
        environments = _load_with_progress(console, config.build_dir)
    except (HubConfigError, BuildError) as err:
        console.print(f"[red]envhub serve: {err}[/red]")
        return 2
    if not environments.runtimes:
        console.print("[red]envhub serve: no environment could be loaded[/red]")
        _print_skipped(console, environments.skipped)
        return 2
    try:
        app = create_app(config, environments=environments)
    except HubConfigError as err:
        console.print(f"[red]envhub serve: {err}[/red]")
        return 2
    _print_summary(console, config, environments, args.port)
    _print_durable(console, app.state.store)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.log_level == "debug",
                timeout_graceful_shutdown=5, http=h11_protocol_with_timeout(config.request_read_timeout_seconds))
    return 0


def _exit_when_stdin_closes() -> None:
    """Shut down (as on SIGTERM) once stdin reaches end of file.

    A process that starts the hub for its own use keeps the write end of a pipe to our stdin;
    the kernel closes it when that process dies, even by SIGKILL, so the hub never outlives it.
    """
    import signal
    import threading

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(65536):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stdin-watchdog", daemon=True).start()


def _load_with_progress(console, build_dir):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from hub.hosting import load_environments

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.0f} files/s" if task.speed else "")

    columns = (TextColumn("loading environments"), BarColumn(), MofNCompleteColumn(), RateColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("load", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return load_environments(build_dir, progress=advance)


def _print_summary(console, config, environments, port: int) -> None:
    from rich.table import Table

    table = Table(title=f"envhub: {len(environments.runtimes)} environment(s)", show_lines=False)
    table.add_column("environment")
    table.add_column("domain")
    table.add_column("tools", justify="right")
    table.add_column("tables", justify="right")
    shown = list(environments.runtimes.values())[:30]
    for runtime in shown:
        spec = runtime.spec
        table.add_row(spec.name, spec.domain, str(len(spec.tools)), str(len(spec.tables)))
    if len(environments.runtimes) > len(shown):
        table.add_row(f"… and {len(environments.runtimes) - len(shown)} more", "", "", "")
    console.print(table)
    _print_skipped(console, environments.skipped)
    host = f"[{config.bind_host}]" if ":" in config.bind_host else config.bind_host
    console.print(
        f"REST  http://{host}:{port}/envs   MCP  http://{host}:{port}/envs/<env>/episodes/<id>/mcp   "
        f"token: {'required' if config.token else 'none (loopback only)'}   "
        f"tasks: {len(environments.tasks)}   episode TTL: {config.episode_ttl_seconds:g} s"
    )


def _print_durable(console, store) -> None:
    journal = store.journal
    if journal is not None:
        console.print(f"episodes: durable in {journal.describe()}; recovered {journal.recovered}, "
                      f"{journal.expired_on_start} expired while the hub was down")


def _print_skipped(console, skipped) -> None:
    for item in skipped:
        console.print(f"[yellow]skipped[/yellow] {item.reason}")


def run_stdio_command(args: argparse.Namespace) -> int:
    """Serve one environment over stdio; a build or environment that is missing is explained to the
    client as a JSON-RPC error (MCP clients show that, and hide stderr), and on stderr."""
    from servers.stdio import answer_with_startup_error, serve_or_explain

    build_dir = args.build_dir.expanduser()
    try:
        spec = find_env_spec(build_dir.absolute(), args.env)
    except LookupError as err:
        hint = "" if build_dir.is_absolute() else (
            f" (the relative path '{build_dir}' was resolved against the working directory {Path.cwd()}; "
            "MCP clients start servers in a folder of their choosing: use an absolute path, "
            "or print a ready configuration with `envhub mcp-config BUILD_DIR`)")
        answer_with_startup_error(f"envhub stdio: {err}{hint}")
        return 2
    return serve_or_explain(spec, seed=args.seed, episode_file=args.episode_file, prog="envhub stdio")


def find_env_spec(build_dir: Path, env: str):
    """The EnvSpec named `env` in `build_dir/envs/`: `<env>.json` first, else any file declaring that name."""
    from servers.spec import SpecError, load_envspec

    if not build_dir.is_dir():
        raise LookupError(f"{build_dir}: no such build folder (make one with `envhub synth --out {build_dir}`)")
    envs_dir = build_dir / "envs"
    if not envs_dir.is_dir():
        raise LookupError(f"{envs_dir}: no such folder; is {build_dir} a build folder (output of `envhub synth`)?")
    direct = envs_dir / f"{env}.json"
    problems: list[str] = []
    candidates = [direct] if direct.is_file() else []
    candidates += [p for p in sorted(envs_dir.glob("*.json")) if p != direct]
    for path in candidates:
        try:
            spec = load_envspec(path)
        except SpecError as err:
            if path == direct:
                raise LookupError(str(err)) from None
            problems.append(str(err))
            continue
        if spec.name == env:
            return spec
    available = sorted(p.stem for p in envs_dir.glob("*.json"))
    raise LookupError(f"{envs_dir}: no such environment '{env}'; available: {', '.join(available) or 'none'}")

"""The hub: one Starlette app that hosts every environment of a build over MCP and REST.

    HubGate (arrival socket, Host allow-list, bearer token, body limit and read timeout)
      └─ McpRouter: /envs/{env}/mcp and /envs/{env}/episodes/{id}/mcp -> the env's MCP server
           └─ Starlette: REST routes (rest.py), JSON errors, lifespan (MCP servers, TTL expiry)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.hosting.config import HubConfig, HubConfigError
from hub.hosting.gate import HubGate, send_error
from hub.hosting.mcp_endpoints import McpEndpoints
from hub.hosting.metrics import HubMetrics
from hub.hosting.rest import RestApi, episode_error, http_error
from servers.builddir import Progress, Skipped, TaskStart, load_build, load_spec_files, load_tasks
from servers.state import EnvRuntime, EpisodeError, EpisodeJournal, EpisodeStore

logger = logging.getLogger("envhub.hub")


@dataclass
class HubEnvironments:
    """What a hub serves: runtimes by name, the files it skipped, and the build's tasks."""

    runtimes: dict[str, EnvRuntime]
    skipped: list[Skipped] = field(default_factory=list)
    tasks: dict[str, TaskStart] = field(default_factory=dict)


def load_environments(build_dir: str | Path | None = None, progress: Progress | None = None) -> HubEnvironments:
    """A build folder's environments and tasks, or the built-in examples when `build_dir` is None."""
    if build_dir is None:
        from servers.examples import example_spec_paths

        runtimes, skipped = load_spec_files(list(example_spec_paths()), progress)
        return HubEnvironments(runtimes, skipped)
    runtimes, skipped = load_build(build_dir, progress)
    tasks, skipped_tasks = load_tasks(build_dir, runtimes)
    return HubEnvironments(runtimes, skipped + skipped_tasks, tasks)


class McpRouter:
    """Sends the two MCP paths straight to the environment's server, everything else to `app`.

    Done by splitting the path rather than by Starlette routes, so that the lookup stays one
    dict access with thousands of environments.
    """

    def __init__(self, app: ASGIApp, endpoints: McpEndpoints, runtimes: dict[str, EnvRuntime]):
        self.app = app
        self.endpoints = endpoints
        self.runtimes = runtimes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/envs/") and (path.endswith("/mcp") or path.endswith("/mcp/")):
                parts = path.rstrip("/").split("/")
                # ["", "envs", env, "mcp"] or ["", "envs", env, "episodes", id, "mcp"]
                if len(parts) == 4 or (len(parts) == 6 and parts[3] == "episodes"):
                    env = parts[2]
                    if env not in self.runtimes:
                        await send_error(send, 404, f"unknown environment '{env}' (GET /envs lists the "
                                         f"{len(self.runtimes)} served)", mcp=True)
                        return
                    await self.endpoints.handle(scope, receive, send, env, parts[4] if len(parts) == 6 else None)
                    return
        await self.app(scope, receive, send)


def create_app(config: HubConfig | None = None, *, environments: HubEnvironments | None = None) -> ASGIApp:
    """The hub as an ASGI app; run it with uvicorn (its lifespan must run)."""
    config = config or HubConfig()
    envs = environments if environments is not None else load_environments(config.build_dir)
    store = EpisodeStore(
        envs.runtimes,
        ttl_seconds=config.episode_ttl_seconds,
        max_live=config.max_live_episodes,
        max_episode_bytes=config.max_episode_bytes,
        max_snapshots=config.max_snapshots_per_episode,
        max_snapshot_bytes=config.max_snapshot_bytes,
        journal=open_journal(config),
    )
    metrics = HubMetrics(live_episodes=lambda: store.live_count, mcp_sessions=lambda: endpoints.legacy_sessions)
    endpoints = McpEndpoints(
        store,
        session_idle_timeout=config.episode_ttl_seconds,
        max_body_bytes=config.max_body_bytes,
        on_tool_call=lambda env, tool, ok, seconds: metrics.tool_call(env, ok, seconds),
        on_episode_created=metrics.episode_created,
    )
    rest = RestApi(store, metrics, skipped=envs.skipped, tasks=envs.tasks)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with endpoints.running(), anyio.create_task_group() as background:
            background.start_soon(_expire_idle_episodes, store, endpoints, metrics, config.expiry_interval)
            logger.info("hub serving %d environment(s)", len(envs.runtimes))
            try:
                yield
            finally:
                background.cancel_scope.cancel()
                store.close_all()

    starlette = Starlette(
        routes=rest.routes(),
        exception_handlers={HTTPException: http_error, EpisodeError: episode_error},
        lifespan=lifespan,
    )
    starlette.state.store = store
    starlette.state.metrics = metrics
    starlette.state.endpoints = endpoints
    app = HubGate(McpRouter(starlette, endpoints, envs.runtimes), config)
    # Handy for tests and embedding: reach the store and metrics from the outer app.
    app.state = starlette.state  # type: ignore[attr-defined]
    return app


def open_journal(config: HubConfig) -> EpisodeJournal | None:
    """The persistence layer of a hub with `state_dir` (docs/durability.md); None = memory only."""
    if config.state_dir is None:
        return None
    from servers.durable import DurableEpisodes, DurableStateError

    try:
        return DurableEpisodes(config.state_dir, config.state_url, fsync=config.state_fsync)
    except DurableStateError as err:
        raise HubConfigError(str(err)) from None


async def _expire_idle_episodes(
    store: EpisodeStore, endpoints: McpEndpoints, metrics: HubMetrics, interval: float
) -> None:
    while True:
        await anyio.sleep(interval)
        try:
            expired = store.expire_idle()
        except Exception:  # keep the loop alive; one failure must not stop expiry for good
            logger.exception("episode expiry failed")
            continue
        metrics.episodes_expired(expired)
        if expired:
            logger.info("expired %d idle episode(s)", expired)
        # Episodes also go when closed over REST: sessions bound to a gone episode reserve a slot again.
        if endpoints.legacy_sessions:
            endpoints.sweep_sessions()

"""The MCP side of the hub: one low-level `Server` per environment, shared by all its episodes.

Every environment gets one `Server` and one streamable-HTTP session manager, created on the
first MCP request for that environment (a build may hold thousands of environments; most are
never spoken to). Episodes are selected per request, never per server:

1. the URL path `/envs/{env}/episodes/{episode_id}/mcp` (works with any client),
2. the `X-Episode-Id` header, or `_meta["envhub/episode"]` on the request, on `/envs/{env}/mcp`,
3. a legacy (2025-11-25 handshake) client on `/envs/{env}/mcp` that selected nothing gets an
   episode of its own, keyed by its `Mcp-Session-Id`; it is closed when the client ends the
   session with DELETE, and otherwise expires with the episode TTL.

A 2026-07-28 client has no session, so a tool call without a selector is refused with an error
that says how to address an episode: creating one on demand would lose its state right after.
`server/discover` and `tools/list` need no episode.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from anyio.abc import TaskGroup, TaskStatus
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import X_MCP_HEADER_KEY
from starlette.types import Receive, Scope, Send

from servers.mcp_server import build_server
from servers.state import EnvRuntime, Episode, EpisodeError, EpisodeStore

logger = logging.getLogger("envhub.hub.mcp")

EPISODE_HEADER = "x-episode-id"
EPISODE_META_KEY = "envhub/episode"
SESSION_HEADER = "mcp-session-id"

NO_EPISODE_MESSAGE = (
    "No episode selected for environment '{env}'. Create one with POST /envs/{env}/episodes and "
    "use its mcp_url (/envs/{env}/episodes/<episode_id>/mcp), or send the header "
    "'X-Episode-Id: <episode_id>', or put '" + EPISODE_META_KEY + "' in the request's _meta."
)

OnToolCall = Callable[[str, str, bool, float], None]


class McpEndpoints:
    """Routes MCP requests to the environment's server and tells it which episode they address."""

    def __init__(
        self,
        store: EpisodeStore,
        *,
        session_idle_timeout: float,
        max_body_bytes: int,
        on_tool_call: OnToolCall | None = None,
        on_episode_created: Callable[[str], None] | None = None,
    ):
        self._store = store
        self._session_idle_timeout = session_idle_timeout
        self._max_body_bytes = max_body_bytes
        self._on_tool_call = on_tool_call
        self._on_episode_created = on_episode_created
        self._managers: dict[str, StreamableHTTPSessionManager] = {}
        self._creating = anyio.Lock()
        self._task_group: TaskGroup | None = None
        # (env, Mcp-Session-Id) -> episode id of the legacy sessions that got their own episode.
        self._session_episodes: dict[tuple[str, str], str] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Hosts the session managers; a mounted manager's own lifespan would never run."""
        async with anyio.create_task_group() as task_group:
            self._task_group = task_group
            try:
                yield
            finally:
                self._task_group = None
                self._managers.clear()
                task_group.cancel_scope.cancel()

    @property
    def started_environments(self) -> int:
        return len(self._managers)

    @property
    def legacy_sessions(self) -> int:
        return len(self._session_episodes)

    async def _manager(self, env: str) -> StreamableHTTPSessionManager:
        manager = self._managers.get(env)
        if manager is not None:
            return manager
        async with self._creating:
            manager = self._managers.get(env)
            if manager is None:
                manager = await self._start_manager(env)
                self._managers[env] = manager
        return manager

    async def _start_manager(self, env: str) -> StreamableHTTPSessionManager:
        if self._task_group is None:
            raise RuntimeError("the hub's lifespan is not running; serve the app with uvicorn")
        server = self.build_env_server(self._store.runtimes[env])
        manager = StreamableHTTPSessionManager(
            server,
            json_response=True,
            stateless=False,
            # Host/Origin are checked once for every route in front of the app (HubGate).
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            session_idle_timeout=self._session_idle_timeout,
            # The gate enforces the hub's limit with a JSON error first; this is a backstop.
            max_request_body_size=self._max_body_bytes + 1,
        )
        await self._task_group.start(_run_manager, manager)
        logger.debug("started MCP server for environment %s", env)
        return manager

    def build_env_server(self, runtime: EnvRuntime) -> Server[Any]:
        env = runtime.spec.name
        on_call = None
        if self._on_tool_call is not None:
            report = self._on_tool_call

            def on_call(tool: str, ok: bool, seconds: float) -> None:
                report(env, tool, ok, seconds)

        server = build_server(runtime, self._resolver(env), on_call=on_call)
        # OpenTelemetry middleware with no exporter is pure per-request overhead.
        server.middleware = []
        if not _declares_mcp_param_headers(runtime):
            # The SDK walks a tool's input schema on every 2026-07-28 call looking for
            # `x-mcp-header` declarations (SEP-2243) to check Mcp-Param-* headers against.
            # With no declaration anywhere there is nothing to check, so skip the walk.
            server.get_tool_input_schema = _no_header_declarations
        return server

    # -- request handling -----------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send, env: str, episode_id: str | None) -> None:
        scope["path_params"] = {"env": env, "episode_id": episode_id} if episode_id else {"env": env}
        manager = await self._manager(env)
        await manager.handle_request(scope, receive, send)
        if scope["method"] == "DELETE" and episode_id is None:
            self._end_legacy_session(env, scope)

    def _end_legacy_session(self, env: str, scope: Scope) -> None:
        session_id = _header(scope, b"mcp-session-id")
        if session_id is None:
            return
        episode_id = self._session_episodes.pop((env, session_id), None)
        if episode_id is None:
            return
        with contextlib.suppress(EpisodeError):  # already closed or expired
            self._store.close(episode_id)

    def prune_sessions(self, live: Callable[[str], bool]) -> int:
        """Forget legacy sessions whose episode is gone (expired or closed); returns how many."""
        gone = [key for key, episode_id in self._session_episodes.items() if not live(episode_id)]
        for key in gone:
            del self._session_episodes[key]
        return len(gone)

    def _resolver(self, env: str) -> Callable[[ServerRequestContext[Any, Any]], Episode]:
        store = self._store

        def resolve_episode(ctx: ServerRequestContext[Any, Any]) -> Episode:
            request = ctx.request
            episode_id: Any = None
            if request is not None:
                episode_id = request.path_params.get("episode_id") or request.headers.get(EPISODE_HEADER)
            if not episode_id and ctx.meta:
                episode_id = ctx.meta.get(EPISODE_META_KEY)
            if not episode_id:
                session_id = request.headers.get(SESSION_HEADER) if request is not None else None
                if session_id:
                    return self._session_episode(env, session_id)
                raise MCPError(code=types.INVALID_PARAMS, message=NO_EPISODE_MESSAGE.format(env=env))
            if not isinstance(episode_id, str):
                raise MCPError(
                    code=types.INVALID_PARAMS,
                    message=f"_meta['{EPISODE_META_KEY}'] must be an episode id string, got {episode_id!r}",
                )
            try:
                episode = store.get(episode_id)
            except EpisodeError as err:
                raise MCPError(code=types.INVALID_PARAMS, message=str(err)) from None
            if episode.env != env:
                raise MCPError(
                    code=types.INVALID_PARAMS,
                    message=f"episode '{episode_id}' belongs to environment '{episode.env}', not '{env}'",
                )
            return episode

        return resolve_episode

    def _session_episode(self, env: str, session_id: str) -> Episode:
        key = (env, session_id)
        episode_id = self._session_episodes.get(key)
        if episode_id is None:
            try:
                episode = self._store.create(env)
            except EpisodeError as err:
                raise MCPError(code=types.INVALID_PARAMS, message=str(err)) from None
            self._session_episodes[key] = episode.id
            if self._on_episode_created is not None:
                self._on_episode_created(env)
            logger.info("legacy session %s of %s got episode %s", session_id[:12], env, episode.id)
            return episode
        try:
            return self._store.get(episode_id)
        except EpisodeError as err:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"this session's episode '{episode_id}' is gone ({err}); start a new MCP session",
            ) from None


def _declares_mcp_param_headers(runtime: EnvRuntime) -> bool:
    return any(X_MCP_HEADER_KEY in json.dumps(tool.input_schema) for tool in runtime.spec.tools)


def _no_header_declarations(tool_name: str) -> None:
    return None


async def _run_manager(manager: StreamableHTTPSessionManager, *, task_status: TaskStatus[None]) -> None:
    async with manager.run():
        task_status.started()
        await anyio.sleep_forever()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None

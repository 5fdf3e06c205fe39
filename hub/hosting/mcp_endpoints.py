"""The MCP side of the hub: one low-level `Server` per environment, shared by all its episodes.

Every environment gets one `Server` and one streamable-HTTP session manager, created on the
first MCP request for that environment (a build may hold thousands of environments; most are
never spoken to). Episodes are selected per request, never per server:

1. the URL path `/envs/{env}/episodes/{episode_id}/mcp` (works with any client),
2. the `X-Episode-Id` header, or `_meta["envhub/episode"]` on the request, on `/envs/{env}/mcp`,
3. a legacy (2025-11-25 handshake) client on `/envs/{env}/mcp` that selected nothing gets an
   episode of its own, keyed by its `Mcp-Session-Id`. The episode is closed when the session
   ends (the client's DELETE, or the SDK reaping it after the idle timeout). When the episode
   expires first, the session stays bound to it: its next call gets a JSON-RPC error saying the
   episode expired, never a fresh episode that would silently reset the client's state.

Every open legacy session counts against the hub's live-episode cap until it has an episode of
its own (then the episode counts): sessions cost memory whether or not they ever call a tool.

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
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from anyio.abc import TaskGroup, TaskStatus
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import X_MCP_HEADER_KEY
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import Receive, Scope, Send

from hub.hosting.gate import send_error
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


@dataclass
class _LegacySession:
    env: str
    episode_id: str | None = None  # its own episode, once a call needed one
    spent: bool = False  # its episode is gone (expired or closed); the session is told so


class _SessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager, telling the hub when a stateful session opens and ends.

    The SDK ends a session on the client's DELETE, on its idle timeout, and when it crashes; all
    three go through `_discard_session`, so that is where the hub releases what it holds for the
    session. `_admit_session` runs under the SDK's creation lock, so the cap check there cannot
    be raced by concurrent handshakes.
    """

    def __init__(self, *args: Any, may_open: Callable[[], bool], opened: Callable[[str, str], None],
                 ended: Callable[[str], None], env: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._may_open, self._opened, self._ended, self._env = may_open, opened, ended, env

    def _admit_session(self, requestor: Any) -> StreamableHTTPServerTransport | None:
        if not self._may_open():
            return None  # the SDK answers 503 "Too many open sessions"
        transport = super()._admit_session(requestor)
        if transport is not None and transport.mcp_session_id is not None:
            self._opened(transport.mcp_session_id, self._env)
        return transport

    async def _discard_session(self, session_id: str, transport: StreamableHTTPServerTransport) -> None:
        known = session_id in self._server_instances  # discarding runs twice for a DELETEd session
        await super()._discard_session(session_id, transport)
        if known:
            self._ended(session_id)


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
        # Mcp-Session-Id -> the open legacy session (ids are random UUIDs, unique across envs).
        self._sessions: dict[str, _LegacySession] = {}
        # Open sessions holding no live episode of their own: the slots they reserve in the store.
        self._unbound = 0
        store.reserved_slots = lambda: self._unbound

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
        return len(self._sessions)

    def _may_open_session(self) -> bool:
        if self._store.has_room():
            return True
        self._store.expire_idle()
        self.sweep_sessions()
        return self._store.has_room()

    def _session_opened(self, session_id: str, env: str) -> None:
        self._sessions[session_id] = _LegacySession(env)
        self._unbound += 1

    def _session_ended(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        if session.episode_id is None or session.spent:
            self._unbound -= 1
            return
        with contextlib.suppress(EpisodeError):  # closed or expired meanwhile
            self._store.close(session.episode_id)
        logger.info("legacy session %s ended; closed its episode %s", session_id[:12], session.episode_id)

    def sweep_sessions(self) -> int:
        """Mark sessions whose episode is gone (expired, closed over REST) as holding none; returns how many."""
        marked = 0
        for session in self._sessions.values():
            if session.episode_id is not None and not session.spent and session.episode_id not in self._store:
                session.spent = True
                self._unbound += 1
                marked += 1
        return marked

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
        manager = _SessionManager(
            server,
            json_response=True,
            stateless=False,
            # Host/Origin are checked once for every route in front of the app (HubGate).
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            session_idle_timeout=self._session_idle_timeout,
            # The gate enforces the hub's limit with a JSON error first; this is a backstop.
            max_request_body_size=self._max_body_bytes + 1,
            max_sessions=self._store.max_live,
            may_open=self._may_open_session,
            opened=self._session_opened,
            ended=self._session_ended,
            env=env,
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
        if _opens_legacy_session(scope) and not self._may_open_session():
            # Checked again under the SDK's lock (_SessionManager); here for a message that says why.
            await send_error(send, 429, f"live episode cap of {self._store.max_live} reached (open MCP sessions "
                             "count too); close finished sessions or episodes, or wait for idle ones to expire",
                             mcp=True)
            return
        manager = await self._manager(env)
        await manager.handle_request(scope, receive, send)

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
        session = self._sessions.get(session_id)
        if session is None or session.env != env:
            raise MCPError(code=types.INVALID_PARAMS,
                           message=f"unknown MCP session for environment '{env}'; start a new MCP session")
        if session.episode_id is None:
            self._unbound -= 1  # the reservation becomes the episode itself
            try:
                episode = self._store.create(env)
            except EpisodeError as err:
                self._unbound += 1
                raise MCPError(code=types.INVALID_PARAMS, message=str(err)) from None
            session.episode_id = episode.id
            if self._on_episode_created is not None:
                self._on_episode_created(env)
            logger.info("legacy session %s of %s got episode %s", session_id[:12], env, episode.id)
            return episode
        try:
            return self._store.get(session.episode_id)
        except EpisodeError:
            if not session.spent:
                session.spent = True
                self._unbound += 1
            advice = (f"this MCP session is bound to it, so start a new MCP session for a fresh episode, or "
                      f"create one with POST /envs/{env}/episodes and use its mcp_url")
            raise MCPError(code=types.INVALID_PARAMS,
                           message=self._store.missing_message(session.episode_id, advice)) from None


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


def _opens_legacy_session(scope: Scope) -> bool:
    """A POST without Mcp-Session-Id in the handshake era: the SDK would open a stateful session."""
    if scope["method"] != "POST" or _header(scope, b"mcp-session-id") is not None:
        return False
    version = _header(scope, b"mcp-protocol-version")
    return version is None or version in HANDSHAKE_PROTOCOL_VERSIONS

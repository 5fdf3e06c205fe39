"""An MCP server for one environment; which episode a request acts on is decided by the host.

`build_server` returns the SDK's low-level `Server`: tools come from the EnvSpec, a call runs
through `servers.executor` on the episode `resolve_episode(ctx)` picks (from the URL, a header,
`_meta`, or the one episode of a stdio process). Every failure a caller can cause comes back as a
model-readable `is_error` result, never as a crash or a protocol error with a leaked traceback.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import fastjsonschema
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from servers.executor import ToolOutcome, execute_tool, unknown_tool_message
from servers.program import program_deletes
from servers.spec import DeleteOp, ProgramOp, ToolSpec, simple_ops
from servers.state import EnvRuntime, Episode, EpisodeError

log = logging.getLogger(__name__)

STATE_HASH_URI = "envhub://episode/state-hash"
DIFF_URI = "envhub://episode/diff"
SERVER_VERSION = "0.1.0"

_RESOURCES = [
    types.Resource(uri=STATE_HASH_URI, name="state-hash", title="Episode state hash",
                   description="Canonical sha256 of every table of this episode (text/plain)", mime_type="text/plain"),
    types.Resource(uri=DIFF_URI, name="diff", title="Episode diff",
                   description="Rows inserted, deleted and updated since the episode started (JSON)",
                   mime_type="application/json"),
]


def _annotations(tool: ToolSpec) -> types.ToolAnnotations:
    a = tool.annotations
    read_only = tool.read_only if a.readOnlyHint is None else a.readOnlyHint
    destructive = a.destructiveHint
    if destructive is None and not read_only:
        destructive = any(isinstance(op, DeleteOp) for op in simple_ops(tool.operation)) or (
            isinstance(tool.operation, ProgramOp) and program_deletes(tool.operation))
    idempotent = read_only if a.idempotentHint is None else a.idempotentHint
    return types.ToolAnnotations(
        title=a.title,
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=False if a.openWorldHint is None else a.openWorldHint,
    )


def mcp_tools(runtime: EnvRuntime) -> list[types.Tool]:
    """The environment's tools as MCP `Tool` objects (built once per runtime)."""
    cached = runtime.mcp_cache.get("tools")
    if cached is None:
        cached = [
            types.Tool(
                name=t.name,
                title=t.annotations.title,
                description=t.description,
                input_schema=t.input_schema,
                output_schema=t.output_schema,
                annotations=_annotations(t),
            )
            for t in runtime.spec.tools
        ]
        runtime.mcp_cache["tools"] = cached
    return cached


def _output_problem(runtime: EnvRuntime, tool: ToolSpec, data: Any) -> str | None:
    """Why `data` breaks the tool's output_schema (the SDK client would reject the result)."""
    if tool.output_schema is None:
        return None
    validators: dict[str, Any] = runtime.mcp_cache.setdefault("output_validators", {})
    check = validators.get(tool.name)
    if check is None:
        try:
            check = fastjsonschema.compile(tool.output_schema, use_default=False)
        except Exception:
            check = False  # a dialect fastjsonschema cannot compile: let the client judge
        validators[tool.name] = check
    if check is False:
        return None
    try:
        check(data)
    except fastjsonschema.JsonSchemaException as err:
        return str(err.message)
    return None


def _error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def tool_result(runtime: EnvRuntime, tool: ToolSpec | None, outcome: ToolOutcome) -> types.CallToolResult:
    """An executor outcome as an MCP result: JSON text, plus structured content for objects."""
    if not outcome.ok:
        return _error_result(outcome.to_text())
    data = outcome.data
    if tool is not None:
        problem = _output_problem(runtime, tool, data)
        if problem:
            log.warning("tool %s returned output that breaks its output_schema: %s", tool.name, problem)
            return _error_result(
                f"tool '{tool.name}' produced a result that does not match its output schema ({problem}); "
                "the change it made stands"
            )
    structured = data if isinstance(data, dict) else None
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=outcome.to_text())],
        structured_content=structured,
    )


def build_server(
    runtime: EnvRuntime,
    resolve_episode: Callable[[ServerRequestContext], Episode],
    *,
    on_call: Callable[[str, bool, float], None] | None = None,
) -> Server:
    """A low-level MCP `Server` for `runtime`'s tools, acting on the episode `resolve_episode` picks."""
    spec = runtime.spec

    def episode_for(ctx: ServerRequestContext) -> Episode:
        episode = resolve_episode(ctx)
        if episode.runtime is not runtime and episode.env != spec.name:
            raise EpisodeError(
                f"episode '{episode.id}' belongs to environment '{episode.env}', not '{spec.name}'", status=400
            )
        return episode

    def report(name: str, ok: bool, started: float) -> None:
        if on_call is None:
            return
        try:
            on_call(name, ok, time.perf_counter() - started)
        except Exception:  # metrics must never break a tool call
            log.exception("on_call hook failed")

    async def list_tools(ctx: ServerRequestContext, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=mcp_tools(runtime))

    async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        started = time.perf_counter()
        name = params.name
        tool = runtime.tools.get(name)
        if tool is None:
            report(name, False, started)
            return _error_result(unknown_tool_message(runtime, name))
        try:
            episode = episode_for(ctx)
        except EpisodeError as err:
            report(name, False, started)
            return _error_result(str(err))
        try:
            outcome = execute_tool(episode.runtime, episode.conn, name, params.arguments)
            episode.touch()
            result = tool_result(episode.runtime, tool, outcome)
        except Exception as err:  # execute_tool does not raise; this guards the conversion as well
            log.exception("tool %s crashed", name)
            result = _error_result(f"internal error while running tool '{name}' ({type(err).__name__})")
        report(name, not result.is_error, started)
        return result

    async def list_resources(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=_RESOURCES)

    async def read_resource(ctx: ServerRequestContext, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri not in (STATE_HASH_URI, DIFF_URI):
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"unknown resource {uri!r}; resources: {STATE_HASH_URI}, {DIFF_URI}",
            )
        try:
            episode = episode_for(ctx)
        except EpisodeError as err:
            raise MCPError(code=types.INVALID_PARAMS, message=str(err)) from None
        episode.touch()
        if uri == STATE_HASH_URI:
            return types.ReadResourceResult(
                contents=[types.TextResourceContents(uri=uri, text=episode.state_hash(), mime_type="text/plain")]
            )
        body = {"episode_id": episode.id, "changes": episode.diff()}
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, text=json.dumps(body, ensure_ascii=False),
                                                 mime_type="application/json")]
        )

    def input_schema(name: str) -> dict | None:
        tool = runtime.tools.get(name)
        return tool.input_schema if tool is not None else None

    server = Server(
        f"envhub-{spec.name}",
        version=SERVER_VERSION,
        title=spec.name,
        description=spec.description or None,
        instructions=spec.description or None,
        get_tool_input_schema=input_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )
    server.middleware = []  # the default OpenTelemetry middleware costs time and exports nowhere
    return server

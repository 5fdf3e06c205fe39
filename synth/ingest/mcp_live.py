"""Read the tools of a live MCP server (streamable HTTP URL or stdio command line) via tools/list."""

from __future__ import annotations

import asyncio
import shlex
import threading
from typing import Any

import anyio

from synth.ingest.common import IngestError, clip_description, normalize_schema, object_schema, sanitize_name
from synth.ingest.roles import parameter_roles
from synth.ingest.transport import drop_transport_properties
from synth.tooldef import ToolDef

DEFAULT_TIMEOUT_S = 60.0
# A server that pages forever (a bug) must not hang the ingest.
_MAX_PAGES = 1000


def _server_target(target: str) -> Any:
    from mcp import StdioServerParameters

    if target.startswith(("http://", "https://")):
        return target
    argv = shlex.split(target)
    if not argv:
        raise IngestError("empty MCP target: give a URL (http://...) or a command line")
    return StdioServerParameters(command=argv[0], args=argv[1:])


async def ingest_mcp_async(target: str, timeout: float = DEFAULT_TIMEOUT_S) -> list[ToolDef]:
    """Every tool the server lists (all pages), as ToolDefs with api = the server's name."""
    from mcp import Client

    server = _server_target(target)
    listed: list[Any] = []
    try:
        with anyio.fail_after(timeout):
            async with Client(server) as client:
                cursor: str | None = None
                for _ in range(_MAX_PAGES):
                    page = await client.list_tools(cursor=cursor)
                    listed.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
                info = client.server_info
                api = (getattr(info, "name", None) or "").strip()
    except TimeoutError:
        raise IngestError(f"{target}: MCP server did not list its tools within {timeout:.0f} s") from None
    except IngestError:
        raise
    except Exception as err:  # noqa: BLE001 - transport errors come in many types; report them all by name
        raise IngestError(f"{target}: cannot list MCP tools: {type(err).__name__}: {err}") from None
    tools: list[ToolDef] = []
    for tool in listed:
        wire = tool.model_dump(by_alias=True, exclude_none=True, mode="json")
        try:
            parameters = object_schema(normalize_schema(wire.get("inputSchema"), f"{tool.name}.inputSchema"))
        except IngestError as err:
            raise IngestError(f"{target}: {err}") from None
        parameters, dropped = drop_transport_properties(parameters)
        output = wire.get("outputSchema")
        tools.append(
            ToolDef(
                name=sanitize_name(tool.name),
                description=clip_description(wire.get("title"), wire.get("description")),
                parameters=parameters,
                returns=output if isinstance(output, dict) else None,
                source=target,
                original_name=tool.name,
                api=api or target,
                annotations=wire.get("annotations") or None,
                format="mcp",
                param_roles=parameter_roles(parameters.get("properties") or {}),
                dropped_params=dropped,
            )
        )
    return tools


def ingest_mcp(target: str, timeout: float = DEFAULT_TIMEOUT_S) -> list[ToolDef]:
    """Blocking `ingest_mcp_async`; safe to call from inside a running event loop (uses a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(ingest_mcp_async(target, timeout))
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["tools"] = asyncio.run(ingest_mcp_async(target, timeout))
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = err

    worker = threading.Thread(target=run, name="ingest-mcp", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["tools"]

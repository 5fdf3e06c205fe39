"""One episode's MCP connection: list tools, call tools, and convert tools to OpenAI format.

Two interchangeable connections:
- `sdk` (default): the official `mcp.Client` over `streamable_http_client` on the shared httpx2
  client. It negotiates the protocol (2026-07-28 or a legacy handshake), so it works against any
  MCP server.
- `fast`: a minimal JSON-RPC client for the sessionless 2026-07-28 protocol on the same shared
  client. It skips the SDK's per-call machinery (~1.5 ms CPU per call) which matters when
  thousands of episodes are in flight; it only talks to 2026-era servers such as the envhub hub.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2

from agent.retry import EpisodeGoneError, TransientError

MODERN_PROTOCOL = "2026-07-28"
CLIENT_INFO = {"name": "envhub-agent", "version": "0.1.0"}


@dataclass(frozen=True)
class ToolResult:
    text: str
    is_error: bool


class ToolCallError(RuntimeError):
    """The server answered a tools/call with a JSON-RPC error (unknown tool, bad params...)."""


class EpisodeConnection(Protocol):
    async def list_tools(self) -> list[dict[str, Any]]: ...

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult: ...


def mcp_tool_to_openai(tool: dict[str, Any]) -> dict[str, Any]:
    """An MCP tool (wire form, camelCase) as an OpenAI function-calling tool."""
    parameters = tool.get("inputSchema") or {"type": "object", "properties": {}}
    return {
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool.get("description") or tool.get("title") or "",
            "parameters": parameters,
        },
    }


def _result_text(content: list[dict[str, Any]], structured: Any) -> str:
    texts = [part.get("text", "") for part in content if part.get("type") == "text"]
    if texts:
        return "\n".join(texts)
    if structured is not None:
        return json.dumps(structured, ensure_ascii=False, sort_keys=True)
    return json.dumps(content, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# SDK connection
# ---------------------------------------------------------------------------------------------


class SdkConnection:
    def __init__(self, client: Any, call_timeout: float):
        self.client = client
        self.call_timeout = call_timeout

    async def list_tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor = None
        while True:
            result = await self.client.list_tools(cursor=cursor)
            tools += [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in result.tools]
            cursor = result.next_cursor
            if not cursor:
                return tools

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        from mcp import MCPError

        try:
            result = await self.client.call_tool(name, arguments, read_timeout_seconds=self.call_timeout)
        except MCPError as err:
            raise ToolCallError(f"MCP error {err.code}: {err.error.message}") from err
        content = [part.model_dump(by_alias=True, mode="json", exclude_none=True) for part in result.content]
        return ToolResult(_result_text(content, result.structured_content), bool(result.is_error))


@contextlib.asynccontextmanager
async def open_sdk_connection(url: str, http: httpx2.AsyncClient, call_timeout: float
                              ) -> AsyncIterator[SdkConnection]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    # Entered and exited in the caller's task: anyio cancel scopes require it.
    async with Client(streamable_http_client(url, http_client=http), read_timeout_seconds=call_timeout) as client:
        yield SdkConnection(client, call_timeout)


# ---------------------------------------------------------------------------------------------
# Fast 2026-07-28 JSON-RPC connection
# ---------------------------------------------------------------------------------------------


class FastConnection:
    def __init__(self, url: str, http: httpx2.AsyncClient, call_timeout: float):
        self.url = url
        self.http = http
        self.call_timeout = call_timeout
        self._next_id = 0
        self._meta = {
            "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL,
            "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
            "io.modelcontextprotocol/clientCapabilities": {},
        }

    async def _rpc(self, method: str, params: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        body = {"jsonrpc": "2.0", "id": self._next_id, "method": method,
                "params": {**params, "_meta": self._meta}}
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json",
                   "mcp-protocol-version": MODERN_PROTOCOL, "mcp-method": method}
        if name is not None and name.isascii():
            headers["mcp-name"] = name
        response = await self.http.post(self.url, content=json.dumps(body), headers=headers,
                                        timeout=self.call_timeout)
        if response.status_code == 404:
            raise EpisodeGoneError(f"POST {self.url}: HTTP 404 (episode or endpoint not found)")
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientError(f"POST {self.url}: HTTP {response.status_code}")
        message = _decode_rpc_body(response)
        if response.status_code >= 400 and "error" not in message:
            raise ToolCallError(f"POST {self.url}: HTTP {response.status_code}: {response.text[:200]}")
        if "error" in message:
            err = message["error"]
            raise ToolCallError(f"MCP error {err.get('code')}: {err.get('message')}")
        return message.get("result") or {}

    async def list_tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        while True:
            result = await self._rpc("tools/list", params)
            tools += result.get("tools", [])
            if not result.get("nextCursor"):
                return tools
            params = {"cursor": result["nextCursor"]}

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        result = await self._rpc("tools/call", {"name": name, "arguments": arguments}, name=name)
        return ToolResult(_result_text(result.get("content") or [], result.get("structuredContent")),
                          bool(result.get("isError")))


def _decode_rpc_body(response: httpx2.Response) -> dict[str, Any]:
    """A JSON-RPC response delivered as JSON or as an SSE stream (the last `data:` message wins)."""
    ctype = response.headers.get("content-type", "")
    if ctype.startswith("text/event-stream"):
        message: dict[str, Any] = {}
        for line in response.text.splitlines():
            if line.startswith("data:"):
                candidate = json.loads(line[5:].strip() or "{}")
                if "result" in candidate or "error" in candidate:
                    message = candidate
        return message
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.asynccontextmanager
async def open_connection(kind: str, url: str, http: httpx2.AsyncClient, call_timeout: float
                          ) -> AsyncIterator[EpisodeConnection]:
    if kind == "fast":
        yield FastConnection(url, http, call_timeout)
    elif kind == "sdk":
        async with open_sdk_connection(url, http, call_timeout) as conn:
            yield conn
    else:
        raise ValueError(f"unknown MCP client kind {kind!r} (expected 'sdk' or 'fast')")

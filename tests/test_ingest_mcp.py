"""Ingest from live MCP servers started by the test: a stdio command and a streamable HTTP URL."""

from __future__ import annotations

import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from synth.ingest import IngestError, ingest_mcp, ingest_mcp_async

# One tiny low-level MCP server; `stdio` or `http PORT` picks the transport.
SERVER_SCRIPT = textwrap.dedent(
    """
    import sys

    import anyio
    import mcp_types as types
    from mcp.server import Server

    TOOLS = [
        types.Tool(
            name="lookup_order",
            title="Look up an order",
            description="Find one order by its id.",
            input_schema={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
            output_schema={"type": "object", "properties": {"status": {"type": "string"}}},
            annotations=types.ToolAnnotations(read_only_hint=True),
        ),
        types.Tool(
            name="cancel.order",
            description="Cancel an order.",
            input_schema={"type": "object", "properties": {"order_id": {"type": "string"}, "reason": {"type": "string"}}},
        ),
    ]


    async def list_tools(ctx, params):
        return types.ListToolsResult(tools=TOOLS)


    server = Server("orders-demo", version="1.0", on_list_tools=list_tools)

    if sys.argv[1] == "stdio":
        from mcp.server.stdio import stdio_server

        async def main():
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(main)
    else:
        import uvicorn

        app = server.streamable_http_app(json_response=True)
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error")
    """
)


@pytest.fixture
def server_script(tmp_path: Path) -> Path:
    path = tmp_path / "orders_server.py"
    path.write_text(SERVER_SCRIPT)
    return path


def check_tools(tools, source: str) -> None:  # type: ignore[no-untyped-def]
    by_name = {tool.name: tool for tool in tools}
    assert set(by_name) == {"lookup_order", "cancel_order"}
    lookup = by_name["lookup_order"]
    assert lookup.format == "mcp" and lookup.api == "orders-demo" and lookup.source == source
    assert lookup.parameters["required"] == ["order_id"]
    assert lookup.returns == {"type": "object", "properties": {"status": {"type": "string"}}}
    assert lookup.annotations is not None and lookup.annotations["readOnlyHint"] is True
    assert lookup.description.startswith("Look up an order")
    assert by_name["cancel_order"].original_name == "cancel.order"


def test_ingest_mcp_stdio_command(server_script: Path) -> None:
    command = f"{sys.executable} {server_script} stdio"
    check_tools(ingest_mcp(command), command)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_server(server_script: Path) -> Iterator[str]:
    import subprocess

    port = free_port()
    process = subprocess.Popen([sys.executable, str(server_script), "http", str(port)])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("MCP HTTP server did not start")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_ingest_mcp_http_url_from_inside_event_loop(http_server: str) -> None:
    # The blocking form must also work when the caller already runs an event loop.
    results: list = []
    worker = threading.Thread(target=lambda: results.append(ingest_mcp(http_server)))
    worker.start()
    worker.join(30)
    check_tools(results[0], http_server)
    check_tools(await ingest_mcp_async(http_server), http_server)
    check_tools(ingest_mcp(http_server), http_server)


def test_ingest_mcp_unreachable_reports_target() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with pytest.raises(IngestError, match=f"127.0.0.1:{port}"):
        ingest_mcp(url, timeout=10)

"""The MCP face of an environment: in process (SDK `Client(server)`) and over stdio."""

from __future__ import annotations

import json
import sys

import pytest
from mcp import Client, StdioServerParameters

from servers.examples import example_spec_paths
from servers.mcp_server import DIFF_URI, STATE_HASH_URI, build_server, mcp_tools
from servers.spec import load_envspec
from servers.state import EnvRuntime, EpisodeStore

ORDER_DESK = next(p for p in example_spec_paths() if p.stem == "order-desk")


@pytest.fixture
def hosted():
    runtime = EnvRuntime(load_envspec(ORDER_DESK))
    store = EpisodeStore({"order-desk": runtime})
    episode = store.create("order-desk")
    calls: list[tuple[str, bool, float]] = []
    server = build_server(runtime, lambda ctx: store.get(episode.id), on_call=lambda *c: calls.append(c))
    return runtime, store, episode, server, calls


async def test_list_tools_carries_schemas_and_annotations(hosted):
    runtime, _, _, server, _ = hosted
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {t.name for t in runtime.spec.tools}
    assert tools["get_order"].annotations.read_only_hint is True
    assert tools["cancel_order"].annotations.read_only_hint is False
    assert tools["cancel_order"].annotations.destructive_hint is True
    assert tools["get_order"].output_schema["required"] == ["order_id", "status", "total"]
    assert tools["place_order"].input_schema["required"] == ["customer_id", "product_id", "quantity", "shipping_address"]
    assert mcp_tools(runtime) is mcp_tools(runtime)


async def test_call_tools_and_read_resources(hosted):
    _, _, episode, server, calls = hosted
    async with Client(server) as client:
        start_hash = (await client.read_resource(STATE_HASH_URI)).contents[0].text
        assert start_hash == episode.state_hash()
        got = await client.call_tool("get_order", {"order_id": "O-1002"})
        assert not got.is_error and got.structured_content["status"] == "pending"
        assert json.loads(got.content[0].text) == got.structured_content
        cancelled = await client.call_tool("cancel_order", {"order_id": "O-1002", "reason": "too slow"})
        assert not cancelled.is_error and cancelled.structured_content["status"] == "cancelled"
        refused = await client.call_tool("cancel_order", {"order_id": "O-1002", "reason": "again"})
        assert refused.is_error
        assert refused.content[0].text == "order O-1002 has status 'cancelled'; cancel_order needs status 'pending'"
        unknown = await client.call_tool("cancel_ordr", {"order_id": "O-1"})
        assert unknown.is_error and "unknown tool 'cancel_ordr'" in unknown.content[0].text
        bad = await client.call_tool("get_order", {"order_id": 3})
        assert bad.is_error and "argument 'order_id'" in bad.content[0].text
        new_hash = (await client.read_resource(STATE_HASH_URI)).contents[0].text
        assert new_hash == episode.state_hash() != start_hash
        diff = json.loads((await client.read_resource(DIFF_URI)).contents[0].text)
        assert diff["episode_id"] == episode.id
        assert diff["changes"]["orders"]["updated"][0]["after"]["cancel_reason"] == "too slow"
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert listed == {STATE_HASH_URI, DIFF_URI}
    assert [(name, ok) for name, ok, _ in calls] == [
        ("get_order", True), ("cancel_order", True), ("cancel_order", False), ("cancel_ordr", False), ("get_order", False)]
    assert all(seconds >= 0 for _, _, seconds in calls)


async def test_closed_episode_is_a_readable_error_not_a_crash(hosted):
    _, store, episode, server, _ = hosted
    async with Client(server) as client:
        store.close(episode.id)
        result = await client.call_tool("get_order", {"order_id": "O-1001"})
        assert result.is_error and f"episode '{episode.id}' was closed" in result.content[0].text
        with pytest.raises(Exception, match="was closed"):
            await client.read_resource(STATE_HASH_URI)


async def test_stdio_server_lists_calls_and_hashes():
    params = StdioServerParameters(command=sys.executable, args=["-m", "servers.stdio", str(ORDER_DESK)])
    async with Client(params) as client:
        tools = (await client.list_tools()).tools
        assert "place_order" in {t.name for t in tools}
        placed = await client.call_tool("place_order", {"customer_id": "C-1003", "product_id": "P-1001", "quantity": 2,
                                                        "shipping_address": "88 Station Lane, Pune"})
        assert not placed.is_error and placed.structured_content["total"] == 179.98
        state_hash = (await client.read_resource(STATE_HASH_URI)).contents[0].text
    runtime = EnvRuntime(load_envspec(ORDER_DESK))
    local = EpisodeStore({"order-desk": runtime}).create("order-desk")
    from servers.executor import execute_tool

    execute_tool(runtime, local.conn, "place_order", {"customer_id": "C-1003", "product_id": "P-1001", "quantity": 2,
                                                      "shipping_address": "88 Station Lane, Pune"})
    assert state_hash == local.state_hash()


def test_stdio_rejects_a_bad_spec(tmp_path):
    import subprocess

    bad = tmp_path / "bad.json"
    bad.write_text("{")
    # stdin closed: a server that cannot start answers requests with errors until its client hangs up.
    proc = subprocess.run([sys.executable, "-m", "servers.stdio", str(bad)], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and f"{bad}: not valid JSON" in proc.stderr

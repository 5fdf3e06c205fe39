"""The hub's MCP endpoints with the SDK's real client, in both protocol generations."""

from __future__ import annotations

import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.hubserver import running_hub

ENV = "order-desk"
MODES = ["auto", "legacy"]


@pytest.fixture(scope="module")
def hub_url():
    with running_hub() as url:
        yield url


def new_episode(hub_url: str, env: str = ENV) -> dict:
    response = httpx2.post(f"{hub_url}/envs/{env}/episodes", json={})
    assert response.status_code == 201, response.text
    return response.json()


def state(hub_url: str, episode_id: str) -> dict:
    response = httpx2.get(f"{hub_url}/episodes/{episode_id}/state", params={"rows": 1})
    assert response.status_code == 200, response.text
    return response.json()


def order_status(hub_url: str, episode_id: str, order_id: str) -> str:
    rows = state(hub_url, episode_id)["rows"]["orders"]
    return next(r["status"] for r in rows if r["order_id"] == order_id)


def result_json(result) -> dict:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


@pytest.mark.parametrize("mode", MODES)
async def test_episode_url_lists_calls_and_reads_state(hub_url, mode):
    episode = new_episode(hub_url)
    async with Client(episode["mcp_url"], mode=mode) as client:
        expected_version = "2025-11-25" if mode == "legacy" else "2026-07-28"
        assert client.protocol_version == expected_version
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"get_order", "cancel_order", "place_order"} <= set(tools)
        assert tools["get_order"].annotations.read_only_hint is True
        order = result_json(await client.call_tool("get_order", {"order_id": "O-1002"}))
        assert order["status"] == "pending"
        cancelled = result_json(await client.call_tool("cancel_order", {"order_id": "O-1002", "reason": "late"}))
        assert cancelled["status"] == "cancelled"
        resource = await client.read_resource("envhub://episode/state-hash")
        served_hash = resource.contents[0].text
    current = state(hub_url, episode["episode_id"])
    assert current["state_hash"] in served_hash
    assert current["state_hash"] != episode["state_hash"]
    assert order_status(hub_url, episode["episode_id"], "O-1002") == "cancelled"


@pytest.mark.parametrize("mode", MODES)
async def test_env_url_with_episode_header(hub_url, mode):
    episode = new_episode(hub_url)
    headers = {"X-Episode-Id": episode["episode_id"]}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(f"{hub_url}/envs/{ENV}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:
            result_json(await client.call_tool("cancel_order", {"order_id": "O-1006", "reason": "changed mind"}))
            diff = await client.read_resource("envhub://episode/diff")
            assert "O-1006" in diff.contents[0].text
    assert order_status(hub_url, episode["episode_id"], "O-1006") == "cancelled"


@pytest.mark.parametrize("mode", MODES)
async def test_env_url_with_meta_selector(hub_url, mode):
    first, second = new_episode(hub_url), new_episode(hub_url)
    async with Client(f"{hub_url}/envs/{ENV}/mcp", mode=mode) as client:
        await client.call_tool("cancel_order", {"order_id": "O-1002", "reason": "x"},
                               meta={"envhub/episode": first["episode_id"]})
        result = await client.call_tool("get_order", {"order_id": "O-1002"},
                                        meta={"envhub/episode": second["episode_id"]})
        assert result_json(result)["status"] == "pending"
    assert order_status(hub_url, first["episode_id"], "O-1002") == "cancelled"
    assert order_status(hub_url, second["episode_id"], "O-1002") == "pending"


async def test_modern_client_without_selector_is_told_how_to_address_an_episode(hub_url):
    live_before = httpx2.get(f"{hub_url}/health").json()["live_episodes"]
    async with Client(f"{hub_url}/envs/{ENV}/mcp") as client:
        assert client.protocol_version == "2026-07-28"
        tools = await client.list_tools()  # needs no episode
        assert len(tools.tools) >= 5
        with pytest.raises(MCPError) as err:
            await client.call_tool("get_order", {"order_id": "O-1001"})
    message = str(err.value)
    assert "No episode selected" in message and "X-Episode-Id" in message and "/episodes" in message
    assert httpx2.get(f"{hub_url}/health").json()["live_episodes"] == live_before


async def test_legacy_session_gets_an_episode_of_its_own(hub_url):
    live_before = httpx2.get(f"{hub_url}/health").json()["live_episodes"]
    url = f"{hub_url}/envs/{ENV}/mcp"
    async with Client(url, mode="legacy") as one, Client(url, mode="legacy") as two:
        result_json(await one.call_tool("cancel_order", {"order_id": "O-1002", "reason": "one"}))
        # The second session starts from the seed state, untouched by the first.
        assert result_json(await two.call_tool("get_order", {"order_id": "O-1002"}))["status"] == "pending"
        # The first session keeps its own state across calls.
        assert result_json(await one.call_tool("get_order", {"order_id": "O-1002"}))["status"] == "cancelled"
        assert httpx2.get(f"{hub_url}/health").json()["live_episodes"] == live_before + 2
    # Closing the sessions (DELETE) closed their episodes.
    assert httpx2.get(f"{hub_url}/health").json()["live_episodes"] == live_before


async def test_legacy_session_whose_episode_was_closed_is_told_so(hub_url):
    async with Client(f"{hub_url}/envs/{ENV}/mcp", mode="legacy") as client:
        result_json(await client.call_tool("get_order", {"order_id": "O-1001"}))
        diff = json.loads((await client.read_resource("envhub://episode/diff")).contents[0].text)
        assert httpx2.delete(f"{hub_url}/episodes/{diff['episode_id']}").status_code == 204
        with pytest.raises(MCPError, match="start a new MCP session"):
            await client.call_tool("get_order", {"order_id": "O-1001"})


@pytest.mark.parametrize("mode", MODES)
async def test_bad_arguments_are_tool_errors_and_the_server_keeps_serving(hub_url, mode):
    episode = new_episode(hub_url)
    async with Client(episode["mcp_url"], mode=mode) as client:
        wrong_type = await client.call_tool("get_order", {"order_id": 12345})
        assert wrong_type.is_error
        assert "order_id" in wrong_type.content[0].text
        missing = await client.call_tool("cancel_order", {"order_id": "O-1002"})
        assert missing.is_error and "reason" in missing.content[0].text
        extra = await client.call_tool("get_order", {"order_id": "O-1001", "drop": "table"})
        assert extra.is_error
        precondition = await client.call_tool("cancel_order", {"order_id": "O-1001", "reason": "x"})
        assert precondition.is_error  # delivered orders cannot be cancelled
        not_found = await client.call_tool("get_order", {"order_id": "O-9999"})
        assert not_found.is_error and "O-9999" in not_found.content[0].text
        unknown_tool_failed = False
        try:
            unknown = await client.call_tool("drop_all_tables", {})
            unknown_tool_failed = unknown.is_error
        except MCPError as err:
            unknown_tool_failed = "drop_all_tables" in str(err)
        assert unknown_tool_failed
        # Still serving, and nothing changed.
        assert result_json(await client.call_tool("get_order", {"order_id": "O-1001"}))["status"] == "delivered"
    assert state(hub_url, episode["episode_id"])["state_hash"] == episode["state_hash"]


async def test_sql_injection_strings_are_plain_data(hub_url):
    episode = new_episode(hub_url)
    evil = ["O-1001' OR '1'='1", "O-1001\"; DROP TABLE orders; --", "'; DELETE FROM customers; --"]
    async with Client(episode["mcp_url"]) as client:
        for value in evil:
            result = await client.call_tool("get_order", {"order_id": value})
            assert result.is_error
        stored = result_json(await client.call_tool(
            "update_customer_contact", {"customer_id": "C-1001", "email": evil[1]}))
        assert stored["email"] == evil[1]
        found = result_json(await client.call_tool("find_customers", {}))
        assert found["count"] == 5
    rows = state(hub_url, episode["episode_id"])
    assert rows["row_counts"]["orders"] == 6 and rows["row_counts"]["customers"] == 5


async def call_error(url: str, mode: str = "auto") -> str:
    """The MCP error a get_order call on `url` fails with."""
    async with Client(url, mode=mode) as client:
        with pytest.raises(MCPError) as err:
            await client.call_tool("get_order", {"order_id": "O-1001"})
    return str(err.value)


async def test_unknown_closed_and_foreign_episodes_are_clear_errors(hub_url):
    assert "ep-does-not-exist" in await call_error(f"{hub_url}/envs/{ENV}/episodes/ep-does-not-exist/mcp")
    episode = new_episode(hub_url)
    assert httpx2.delete(f"{hub_url}/episodes/{episode['episode_id']}").status_code == 204
    assert f"episode '{episode['episode_id']}' was closed" in await call_error(episode["mcp_url"], mode="legacy")
    other_env = next(e["name"] for e in httpx2.get(f"{hub_url}/envs").json()["envs"] if e["name"] != ENV)
    foreign = new_episode(hub_url, other_env)
    message = await call_error(f"{hub_url}/envs/{ENV}/episodes/{foreign['episode_id']}/mcp")
    assert "belongs to environment" in message and other_env in message


async def test_expired_episode_is_gone():
    with running_hub(episode_ttl_seconds=0.3, expiry_interval_seconds=0.05) as url:
        episode = new_episode(url)
        async with Client(episode["mcp_url"]) as client:
            result_json(await client.call_tool("get_order", {"order_id": "O-1001"}))
            import anyio

            await anyio.sleep(0.8)
            with pytest.raises(MCPError, match="expired"):
                await client.call_tool("get_order", {"order_id": "O-1001"})
        assert httpx2.get(f"{url}/health").json()["live_episodes"] == 0
        assert httpx2.get(f"{url}/episodes/{episode['episode_id']}/state").status_code == 404


async def test_environment_servers_start_on_first_use_only():
    from hub.hosting import HubConfig, create_app
    from tests.hubserver import serving

    app = create_app(HubConfig())
    endpoints = app.state.endpoints
    with serving(app) as url:
        episode = new_episode(url)
        assert endpoints.started_environments == 0  # REST alone starts no MCP server
        for _ in range(2):
            async with Client(episode["mcp_url"]) as client:
                result_json(await client.call_tool("get_order", {"order_id": "O-1001"}))
        assert endpoints.started_environments == 1  # one server per environment, shared by episodes

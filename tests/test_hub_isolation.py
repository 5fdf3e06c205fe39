"""50 concurrent episodes of one environment over HTTP: each sees only its own writes."""

from __future__ import annotations

import asyncio

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from hub.hosting import load_environments
from servers.executor import execute_tool
from servers.state import EpisodeStore
from tests.hubserver import running_hub

ENV = "order-desk"
EPISODES = 50
CUSTOMERS = ["C-1001", "C-1002", "C-1003", "C-1004", "C-1005"]


def script(i: int) -> list[tuple[str, dict]]:
    """Calls that leave a state unique to episode i (e-mail, city, and whether O-1002 is cancelled)."""
    calls = [
        ("update_customer_contact", {"customer_id": CUSTOMERS[i % 5], "email": f"user{i}@example.com"}),
        ("update_shipping_address", {"order_id": "O-1003", "shipping_address": f"{i} Episode Road"}),
    ]
    if i % 2:
        calls.append(("cancel_order", {"order_id": "O-1002", "reason": f"episode {i}"}))
    return calls


def expected_hashes() -> list[str]:
    """Replay every script on a fresh in-process store, without HTTP."""
    store = EpisodeStore(load_environments(None).runtimes)
    hashes = []
    for i in range(EPISODES):
        episode = store.create(ENV)
        for name, arguments in script(i):
            outcome = execute_tool(episode.runtime, episode.conn, name, arguments)
            assert outcome.ok, outcome.error
        hashes.append(episode.state_hash())
    return hashes


async def test_fifty_concurrent_episodes_stay_isolated():
    expected = expected_hashes()
    assert len(set(expected)) == EPISODES  # the scripts really do differ
    with running_hub() as url:
        async with httpx2.AsyncClient(verify=False, timeout=60) as http:
            created = await asyncio.gather(*(http.post(f"{url}/envs/{ENV}/episodes", json={}) for _ in range(EPISODES)))
            episodes = [r.json() for r in created]
            assert all(r.status_code == 201 for r in created)
            start_hash = episodes[0]["state_hash"]

            async def run(i: int, episode: dict) -> None:
                transport = streamable_http_client(episode["mcp_url"], http_client=http)
                async with Client(transport) as client:
                    for name, arguments in script(i):
                        result = await client.call_tool(name, arguments)
                        assert not result.is_error, (i, name, result.content)
                        await asyncio.sleep(0)  # let the other episodes interleave
                    # Reads see this episode's writes and nobody else's.
                    customer = await client.call_tool("get_customer", {"customer_id": CUSTOMERS[i % 5]})
                    assert f"user{i}@example.com" in customer.content[0].text

            await asyncio.gather(*(run(i, ep) for i, ep in enumerate(episodes)))

            states = await asyncio.gather(
                *(http.get(f"{url}/episodes/{ep['episode_id']}/state", params={"rows": 1}) for ep in episodes)
            )
    for i, (episode, response) in enumerate(zip(episodes, states, strict=True)):
        assert episode["state_hash"] == start_hash
        body = response.json()
        assert body["state_hash"] == expected[i], f"episode {i} ended in a different state"
        addresses = {r["shipping_address"] for r in body["rows"]["orders"]}
        assert f"{i} Episode Road" in addresses
        foreign = {f"{j} Episode Road" for j in range(EPISODES) if j != i}
        assert not addresses & foreign
        emails = {r["email"] for r in body["rows"]["customers"]}
        assert emails & {f"user{j}@example.com" for j in range(EPISODES)} == {f"user{i}@example.com"}

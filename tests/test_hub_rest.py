"""The hub's REST API, auth, limits and metrics over real HTTP (docs/CONTRACTS.md, "Hub HTTP API")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.hosting import HubConfigError, check_bind_security, is_loopback
from hub.hosting.config import HubConfig
from servers.builddir import load_build, load_tasks
from servers.examples import example_spec_paths
from tests.hubserver import running_hub

ENV = "order-desk"


@pytest.fixture(scope="module")
def hub_url():
    with running_hub() as url:
        yield url


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    """A build folder: the examples, one broken spec, one duplicate, and tasks.jsonl."""
    root = tmp_path_factory.mktemp("build")
    envs = root / "envs"
    envs.mkdir()
    for path in example_spec_paths():
        shutil.copy(path, envs / path.name)
    (envs / "broken.json").write_text('{"name": "broken", "tables": [}', encoding="utf-8")
    bad = json.loads(next(iter(example_spec_paths())).read_text())
    bad["name"] = "bad-table"
    bad["tools"][0]["operation"]["table"] = "no_such_table"
    (envs / "bad-table.json").write_text(json.dumps(bad), encoding="utf-8")
    tasks = [
        {"format": "envhub.task/1", "task_id": "orders-seeded", "env": ENV, "initial_state": {"seed": 7},
         "goal": "g", "gold_calls": []},
        {"format": "envhub.task/1", "task_id": "orders-plain", "env": ENV, "initial_state": {"seed": None},
         "goal": "g"},
        {"format": "envhub.task/1", "task_id": "ghost", "env": "no-such-env", "initial_state": {"seed": None},
         "goal": "g"},
    ]
    (root / "tasks.jsonl").write_text("\n".join(json.dumps(t) for t in tasks) + "\nnot json\n", encoding="utf-8")
    return root


def create(url: str, env: str = ENV, **body) -> httpx2.Response:
    return httpx2.post(f"{url}/envs/{env}/episodes", json=body)


# -- environments ---------------------------------------------------------------------------------


def test_health_and_env_listing(hub_url):
    health = httpx2.get(f"{hub_url}/health").json()
    assert health["status"] == "ok" and health["envs"] >= 3 and isinstance(health["live_episodes"], int)
    listing = httpx2.get(f"{hub_url}/envs").json()
    names = {e["name"] for e in listing["envs"]}
    assert {"order-desk", "flight-desk", "bank-desk"} <= names
    order_desk = next(e for e in listing["envs"] if e["name"] == ENV)
    assert order_desk["tools"] == 12 and order_desk["tables"] == 5
    assert set(order_desk) >= {"name", "description", "domain", "tools", "tables"}
    assert listing["skipped"] == []


def test_env_detail_has_mcp_tools_and_tables(hub_url):
    detail = httpx2.get(f"{hub_url}/envs/{ENV}").json()
    tool = next(t for t in detail["tools"] if t["name"] == "get_order")
    assert tool["inputSchema"]["required"] == ["order_id"]
    assert tool["annotations"]["readOnlyHint"] is True
    orders = next(t for t in detail["tables"] if t["name"] == "orders")
    assert orders["primary_key"] == "order_id"
    missing = httpx2.get(f"{hub_url}/envs/no-such-env")
    assert missing.status_code == 404 and "no-such-env" in missing.json()["error"]
    missing_mcp = httpx2.post(f"{hub_url}/envs/no-such-env/mcp", json={})
    # MCP routes answer with a JSON-RPC error object, so MCP clients can show its message.
    assert missing_mcp.status_code == 404 and "no-such-env" in missing_mcp.json()["error"]["message"]


def test_build_folder_skips_bad_files_with_reasons(build_dir):
    seen: list[tuple[int, int]] = []
    runtimes, skipped = load_build(build_dir, progress=lambda done, total: seen.append((done, total)))
    assert {"order-desk", "flight-desk", "bank-desk"} <= set(runtimes)
    assert seen[-1] == (5, 5) and len(seen) == 5
    reasons = {Path(s.file).name: s.reason for s in skipped}
    assert "not valid JSON" in reasons["broken.json"]
    assert "no_such_table" in reasons["bad-table.json"]
    tasks, bad_lines = load_tasks(build_dir, runtimes)
    assert set(tasks) == {"orders-seeded", "orders-plain"} and tasks["orders-seeded"].seed == 7
    assert any("no-such-env" in s.reason for s in bad_lines) and any("not valid JSON" in s.reason for s in bad_lines)


def test_build_hub_serves_tasks_and_lists_skipped(build_dir):
    with running_hub(build_dir) as url:
        skipped = httpx2.get(f"{url}/envs").json()["skipped"]
        assert {Path(s["file"]).name for s in skipped} >= {"broken.json", "bad-table.json"}
        assert all(s["reason"] for s in skipped)
        seeded = create(url, task_id="orders-seeded")
        plain = create(url, task_id="orders-plain")
        direct = create(url, seed=7)
        assert seeded.status_code == plain.status_code == direct.status_code == 201
        assert seeded.json()["state_hash"] == direct.json()["state_hash"]
        assert plain.json()["state_hash"] == create(url).json()["state_hash"]
        unknown = create(url, task_id="nope")
        assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
        wrong_env = create(url, "bank-desk", task_id="orders-seeded")
        assert wrong_env.status_code == 400 and "order-desk" in wrong_env.json()["error"]
        both = create(url, task_id="orders-seeded", seed=3)
        assert both.status_code == 400


# -- episodes -------------------------------------------------------------------------------------


def test_episode_lifecycle(hub_url):
    created = create(hub_url)
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"episode_id", "env", "mcp_url", "state_hash"}
    assert body["env"] == ENV and body["state_hash"].startswith("sha256:")
    assert body["mcp_url"] == f"{hub_url}/envs/{ENV}/episodes/{body['episode_id']}/mcp"
    episode = body["episode_id"]

    st = httpx2.get(f"{hub_url}/episodes/{episode}/state").json()
    assert st["state_hash"] == body["state_hash"] and "rows" not in st
    assert st["row_counts"]["orders"] == 6
    with_rows = httpx2.get(f"{hub_url}/episodes/{episode}/state", params={"rows": 1}).json()
    assert len(with_rows["rows"]["orders"]) == 6
    one_table = httpx2.get(f"{hub_url}/episodes/{episode}/state", params={"rows": 1, "table": "orders"}).json()
    assert list(one_table["rows"]) == ["orders"]
    bad_table = httpx2.get(f"{hub_url}/episodes/{episode}/state", params={"rows": 1, "table": "nope"})
    assert bad_table.status_code == 404 and "nope" in bad_table.json()["error"]
    assert httpx2.get(f"{hub_url}/episodes/{episode}/diff").json() == {"episode_id": episode, "changes": {}}

    snapshot = httpx2.post(f"{hub_url}/episodes/{episode}/snapshot")
    assert snapshot.status_code == 201
    snapshot_id = snapshot.json()["snapshot_id"]

    mutate_over_mcp(hub_url, episode)
    changes = httpx2.get(f"{hub_url}/episodes/{episode}/diff").json()["changes"]
    assert changes["orders"]["updated"][0]["key"] == "O-1002"
    assert changes["orders"]["updated"][0]["after"]["status"] == "cancelled"
    changed_hash = httpx2.get(f"{hub_url}/episodes/{episode}/state").json()["state_hash"]
    assert changed_hash != body["state_hash"]

    fork = httpx2.post(f"{hub_url}/episodes/{episode}/fork")
    assert fork.status_code == 201
    forked = fork.json()
    assert forked["episode_id"] != episode and forked["state_hash"] == changed_hash

    restored = httpx2.post(f"{hub_url}/episodes/{episode}/restore", json={"snapshot_id": snapshot_id})
    assert restored.status_code == 200 and restored.json()["state_hash"] == body["state_hash"]
    # The fork kept the change; restoring the parent did not touch it.
    assert httpx2.get(f"{hub_url}/episodes/{forked['episode_id']}/state").json()["state_hash"] == changed_hash
    bad_restore = httpx2.post(f"{hub_url}/episodes/{episode}/restore", json={"snapshot_id": "snap-nope"})
    assert bad_restore.status_code == 404 and "snap-nope" in bad_restore.json()["error"]

    assert httpx2.delete(f"{hub_url}/episodes/{episode}").status_code == 204
    gone = httpx2.get(f"{hub_url}/episodes/{episode}/state")
    assert gone.status_code == 404 and episode in gone.json()["error"]
    assert httpx2.delete(f"{hub_url}/episodes/{episode}").status_code == 404


def test_mcp_path_with_trailing_slash_and_wrong_methods(hub_url):
    episode = create(hub_url).json()["episode_id"]
    mutate_over_mcp(hub_url, episode, trailing_slash=True)  # no 307 redirect
    assert httpx2.get(f"{hub_url}/episodes/{episode}/diff").json()["changes"]["orders"]
    wrong = httpx2.put(f"{hub_url}/envs/{ENV}/episodes")
    assert wrong.status_code == 405 and wrong.json()["error"]


def mutate_over_mcp(hub_url: str, episode: str, trailing_slash: bool = False) -> None:
    """One raw 2026-07-28 tools/call, as the wire carries it."""
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}
    response = httpx2.post(
        f"{hub_url}/envs/{ENV}/episodes/{episode}/mcp" + ("/" if trailing_slash else ""),
        headers={"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "cancel_order",
                 "accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
              "params": {"name": "cancel_order", "arguments": {"order_id": "O-1002", "reason": "r"}, "_meta": meta}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["isError"] is False


def test_episode_creation_errors(hub_url):
    assert create(hub_url, "no-such-env").status_code == 404
    bad_seed = create(hub_url, seed="seven")
    assert bad_seed.status_code == 400 and "seed" in bad_seed.json()["error"]
    typo = create(hub_url, sede=3)
    assert typo.status_code == 400 and "sede" in typo.json()["error"]
    not_json = httpx2.post(f"{hub_url}/envs/{ENV}/episodes", content=b"{oops")
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]
    assert create(hub_url, seed=3).status_code == 201
    assert httpx2.post(f"{hub_url}/envs/{ENV}/episodes").status_code == 201  # no body at all
    assert httpx2.post(f"{hub_url}/episodes/ep-nope/fork").status_code == 404
    assert httpx2.get(f"{hub_url}/no/such/route").json()["error"]


def test_episode_cap_answers_429():
    with running_hub(max_live_episodes=2) as url:
        assert create(url).status_code == 201 and create(url).status_code == 201
        full = create(url)
        assert full.status_code == 429 and "cap" in full.json()["error"]


def test_metrics_are_prometheus_text(hub_url):
    episode = create(hub_url).json()["episode_id"]
    mutate_over_mcp(hub_url, episode)
    response = httpx2.get(f"{hub_url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    live = families["envhub_live_episodes"].samples[0].value
    assert live >= 1
    calls = {s.labels.get("env"): s.value for s in families["envhub_tool_calls"].samples if s.name.endswith("_total")}
    assert calls[ENV] >= 1
    created = {s.labels.get("env"): s.value for s in families["envhub_episodes_created"].samples
               if s.name.endswith("_total")}
    assert created[ENV] >= 1
    assert "envhub_tool_errors" in families
    count = next(s.value for s in families["envhub_tool_call_seconds"].samples if s.name.endswith("_count"))
    assert count >= 1


# -- auth, hosts, limits --------------------------------------------------------------------------


def test_bearer_token_required_when_set():
    with running_hub(token="s3cret-token") as url:
        assert httpx2.get(f"{url}/health").status_code == 200  # open for healthchecks
        missing = httpx2.get(f"{url}/envs")
        assert missing.status_code == 401 and missing.json()["error"] == "missing bearer token"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = httpx2.get(f"{url}/envs", headers={"Authorization": "Bearer s3cret-tokeX"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid bearer token"
        assert httpx2.get(f"{url}/envs", headers={"Authorization": "Basic s3cret-token"}).status_code == 401
        mcp = httpx2.post(f"{url}/envs/{ENV}/mcp", json={})
        assert mcp.status_code == 401
        ok = httpx2.get(f"{url}/envs", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200


async def test_token_works_with_the_mcp_client():
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    with running_hub(token="tok") as url:
        auth = {"Authorization": "Bearer tok"}
        episode = httpx2.post(f"{url}/envs/{ENV}/episodes", headers=auth, json={}).json()
        async with (
            httpx2.AsyncClient(headers=auth, timeout=30) as http,
            Client(streamable_http_client(episode["mcp_url"], http_client=http)) as client,
        ):
            result = await client.call_tool("get_order", {"order_id": "O-1001"})
            assert not result.is_error


def test_oversized_body_is_413(hub_url):
    with running_hub(max_body_bytes=2048) as url:
        big = {"seed": None, "task_id": "x" * 5000}
        response = httpx2.post(f"{url}/envs/{ENV}/episodes", json=big)
        assert response.status_code == 413 and "2048" in response.json()["error"]
        mcp = httpx2.post(f"{url}/envs/{ENV}/mcp", content=b"{" + b" " * 4000 + b"}",
                          headers={"content-type": "application/json"})
        assert mcp.status_code == 413

        def chunks():
            for _ in range(10):
                yield b" " * 500

        chunked = httpx2.post(f"{url}/envs/{ENV}/episodes", content=chunks())
        assert chunked.status_code == 413
        assert httpx2.get(f"{url}/health").status_code == 200  # still serving


def test_host_header_allow_list(hub_url):
    rebinding = httpx2.get(f"{hub_url}/envs", headers={"Host": "evil.example.com"})
    assert rebinding.status_code == 421 and "evil.example.com" in rebinding.json()["error"]
    bad_origin = httpx2.get(f"{hub_url}/envs", headers={"Origin": "http://evil.example.com"})
    assert bad_origin.status_code == 403
    assert httpx2.get(f"{hub_url}/envs", headers={"Host": "localhost:1234"}).status_code == 200
    with running_hub(allowed_hosts=("hub.internal",)) as url:
        assert httpx2.get(f"{url}/envs", headers={"Host": "hub.internal:8000"}).status_code == 200
        assert httpx2.get(f"{url}/envs", headers={"Host": "other.internal"}).status_code == 421


def test_public_bind_requires_a_token():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("hub.example.com")
    with pytest.raises(HubConfigError, match="without a bearer token"):
        check_bind_security("0.0.0.0", None)
    with pytest.raises(HubConfigError, match="--token"):
        HubConfig(bind_host="0.0.0.0")
    check_bind_security("0.0.0.0", "tok")  # allowed with a token
    check_bind_security("127.0.0.1", None)  # loopback needs none
    assert HubConfig(bind_host="0.0.0.0", token="t").accepts_any_host
    assert not HubConfig(bind_host="0.0.0.0", token="t", allowed_hosts=("a.example",)).accepts_any_host
    assert not HubConfig().accepts_any_host
    with pytest.raises(HubConfigError, match="empty token"):
        HubConfig(token="  ")

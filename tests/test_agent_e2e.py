"""End to end: the scripted policy collects trajectories from a real hub; the file loads with datasets."""

from __future__ import annotations

import json

import pytest

from agent.cli import handle_collect
from agent.engine import EngineConfig
from agent.run import collect_to_file
from agent.settings import PolicySettings
from agent.store import read_trajectories
from agent.tasks import load_tasks
from tests.test_agent_support import gold_state_hash, order_desk_hub, write_tasks

# Hand-written tasks on the built-in order-desk environment; gold hashes are computed by
# running the gold calls on a fresh episode with the MCP SDK directly.
ORDER_DESK_TASKS = [
    {"task_id": "od-read-order", "kind": "read", "goal": "What is the status of my order O-1002?",
     "user_facts": {"order_id": "O-1002"}, "expected_outputs": ["pending"],
     "gold_calls": [{"name": "get_order", "arguments": {"order_id": "O-1002"}}]},
    {"task_id": "od-cancel", "kind": "write", "goal": "Cancel order O-1002, I found it cheaper elsewhere.",
     "user_facts": {"order_id": "O-1002", "reason": "found it cheaper"}, "expected_outputs": [],
     "gold_calls": [{"name": "get_order", "arguments": {"order_id": "O-1002"}},
                    {"name": "cancel_order", "arguments": {"order_id": "O-1002", "reason": "found it cheaper"}}]},
    {"task_id": "od-read-customer", "kind": "read", "goal": "Which email do you have on file for customer C-1001?",
     "user_facts": {"customer_id": "C-1001"}, "expected_outputs": ["ava.nguyen@example.com"],
     "gold_calls": [{"name": "get_customer", "arguments": {"customer_id": "C-1001"}}]},
    {"task_id": "od-ship-address", "kind": "write", "goal": "Please ship order O-1002 to 9 Elm Road, Portland.",
     "user_facts": {"order_id": "O-1002", "shipping_address": "9 Elm Road, Portland"}, "expected_outputs": [],
     "gold_calls": [{"name": "update_shipping_address",
                     "arguments": {"order_id": "O-1002", "shipping_address": "9 Elm Road, Portland"}}]},
    {"task_id": "od-read-items", "kind": "read", "goal": "What products were in order O-1001?",
     "user_facts": {"order_id": "O-1001"}, "expected_outputs": ["P-1001"],
     "gold_calls": [{"name": "list_order_items", "arguments": {"order_id": "O-1001"}}]},
    {"task_id": "od-phone", "kind": "write", "goal": "Update the phone number of customer C-1002 to +353-1-555-0000 — ünïcode ok",
     "user_facts": {"customer_id": "C-1002", "phone": "+353-1-555-0000"}, "expected_outputs": [],
     "gold_calls": [{"name": "update_customer_contact",
                     "arguments": {"customer_id": "C-1002", "phone": "+353-1-555-0000"}}]},
]


async def order_desk_tasks(base_url: str, copies: int = 1) -> list[dict]:
    tasks = []
    for task in ORDER_DESK_TASKS:
        gold = await gold_state_hash(base_url, "order-desk", task["gold_calls"])
        for n in range(copies):
            suffix = f"-{n}" if copies > 1 else ""
            tasks.append({"format": "envhub.task/1", "env": "order-desk", "initial_state": {"seed": None},
                          "steps": len(task["gold_calls"]), "seed": 0, **task,
                          "task_id": task["task_id"] + suffix, "gold_state_hash": gold})
    return tasks


@pytest.mark.parametrize("mcp_client", ["sdk", "fast"])
async def test_scripted_collection_passes_every_filter(tmp_path, mcp_client):
    with order_desk_hub(tmp_path) as base_url:
        tasks_file = write_tasks(tmp_path / "tasks.jsonl", await order_desk_tasks(base_url))
        tasks = load_tasks(tasks_file)
        out = tmp_path / "traj.jsonl"
        config = EngineConfig(url=base_url, concurrency=4, mcp_client=mcp_client)
        summary = await collect_to_file(tasks, config, PolicySettings(), out)
    records = read_trajectories(out)
    assert summary.errors == 0 and summary.passed == len(tasks) == len(records)
    by_id = {r["task_id"]: r for r in records}
    assert set(by_id) == {t.task_id for t in tasks}
    for record in records:
        assert record["format"] == "envhub.trajectory/1" and record["passed"] and record["error"] is None
        assert record["filters"]["valid"] and record["filters"]["state_match"]
        assert record["final_state_hash"] == record["gold_state_hash"]
        assert record["messages"][-1]["role"] == "assistant"
    assert by_id["od-read-order"]["filters"]["exact_match"] is True
    assert by_id["od-read-order"]["filters"]["outputs"] is True
    # exact match covers the writes too (the dialogue rule): the cancellation was made as gold made it
    assert by_id["od-cancel"]["filters"]["exact_match"] is True
    # the tool result really came from the episode's database
    tool_msg = next(m for m in by_id["od-read-order"]["messages"]
                    if m["role"] == "tool" and not m["content"].startswith("Error"))
    assert "pending" in tool_msg["content"]
    assert {t["function"]["name"] for t in by_id["od-cancel"]["tools"]} >= {"get_order", "cancel_order"}


def test_cli_collect_output_loads_with_datasets(tmp_path):
    import argparse

    from datasets import load_dataset

    from agent.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    with order_desk_hub(tmp_path) as base_url:
        import asyncio

        tasks_file = write_tasks(tmp_path / "tasks.jsonl", asyncio.run(order_desk_tasks(base_url)))
        out = tmp_path / "traj.jsonl"
        args = parser.parse_args(["collect", base_url, "--tasks", str(tasks_file), "--out", str(out),
                                  "--concurrency", "3", "--quiet", "--summary-json", str(tmp_path / "s.json")])
        assert handle_collect(args) == 0
        # a second run without --resume refuses to clobber the output
        assert handle_collect(args) == 2
    raw = [json.loads(line) for line in out.read_text().splitlines()]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["passed"] == len(raw) == len(ORDER_DESK_TASKS)
    dataset = load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert {"messages", "tools", "task_id", "filters"} <= set(dataset.column_names)
    for row, original in zip(dataset, raw, strict=True):
        sent = [c["function"]["arguments"] for m in original["messages"] for c in m.get("tool_calls") or []]
        loaded = [c["function"]["arguments"] for m in row["messages"] for c in m.get("tool_calls") or []]
        assert loaded == sent and all(isinstance(a, str) for a in loaded)
        assert [m["role"] for m in row["messages"]] == [m["role"] for m in original["messages"]]
        assert [t["function"]["name"] for t in row["tools"]] == [t["function"]["name"] for t in original["tools"]]


async def test_plain_mcp_server_mode_has_no_state_filter(tmp_path):
    import httpx2

    from agent.hubclient import probe_hub

    with order_desk_hub(tmp_path) as base_url:
        tasks = [t for t in await order_desk_tasks(base_url) if t["task_id"] == "od-read-order"]
        async with httpx2.AsyncClient() as http:
            episode = (await http.post(f"{base_url}/envs/order-desk/episodes", json={"seed": None})).json()
            mcp_url = episode["mcp_url"]
            assert await probe_hub(http, base_url) and not await probe_hub(http, mcp_url)
        out = tmp_path / "traj.jsonl"
        summary = await collect_to_file(load_tasks(write_tasks(tmp_path / "t.jsonl", tasks)),
                                        EngineConfig(url=mcp_url, is_hub=False), PolicySettings(), out)
    (record,) = read_trajectories(out)
    assert summary.errors == 0 and record["passed"]
    assert record["filters"]["state_match"] is None and record["final_state_hash"] is None
    assert record["filters"]["exact_match"] is True


def test_build_dir_target_starts_a_hub_subprocess(tmp_path):
    import asyncio
    import subprocess
    import sys

    from tests.test_agent_support import order_desk_build

    with order_desk_hub(tmp_path) as base_url:
        tasks = asyncio.run(order_desk_tasks(base_url))[:2]
    tasks_file = write_tasks(tmp_path / "tasks.jsonl", tasks)
    out = tmp_path / "traj.jsonl"
    build = order_desk_build(tmp_path / "build2")
    done = subprocess.run([sys.executable, "-m", "agent.cli", "collect", str(build), "--tasks", str(tasks_file),
                           "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "starting `envhub serve" in done.stderr and "collection run" in done.stderr
    assert [r["task_id"] for r in read_trajectories(out)] and all(r["passed"] for r in read_trajectories(out))


async def test_generated_tasks_on_all_example_envs_pass_and_load(tmp_path):
    """Tasks from synth.tasks (plain and seeded initial states) on order/flight/bank-desk."""
    from datasets import load_dataset

    from synth.tasks.generate import generate_tasks
    from tests.hubserver import running_hub

    generated = [t.to_json() for t in generate_tasks(None, per_env=4, seed=5)] + [
        {**t.to_json(), "task_id": t.task_id + "-seeded"} for t in generate_tasks(None, per_env=2, seed=6, state_seeds=2)
    ]
    assert {t["env"] for t in generated} == {"order-desk", "flight-desk", "bank-desk"}
    out = tmp_path / "traj.jsonl"
    with running_hub() as base_url:
        tasks = load_tasks(write_tasks(tmp_path / "tasks.jsonl", generated))
        summary = await collect_to_file(tasks, EngineConfig(url=base_url, concurrency=8, mcp_client="fast"),
                                        PolicySettings(), out)
    assert summary.errors == 0 and summary.passed == len(tasks)
    assert set(summary.per_env) == {"order-desk", "flight-desk", "bank-desk"}
    raw = read_trajectories(out)
    dataset = load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert len(dataset) == len(raw)
    by_id = {r["task_id"]: r for r in raw}
    for row in dataset:
        sent = [c["function"]["arguments"] for m in by_id[row["task_id"]]["messages"] for c in m.get("tool_calls") or []]
        assert [c["function"]["arguments"] for m in row["messages"] for c in m.get("tool_calls") or []] == sent


async def test_token_is_sent_and_a_missing_token_is_a_clear_error(tmp_path):
    with order_desk_hub(tmp_path, token="s3cret") as base_url:
        tasks = load_tasks(write_tasks(tmp_path / "t.jsonl", [
            {"format": "envhub.task/1", "task_id": "plain", "env": "order-desk", "kind": "read",
             "goal": "Status of O-1002?", "gold_calls": [{"name": "get_order", "arguments": {"order_id": "O-1002"}}],
             "expected_outputs": [], "gold_state_hash": None}]))
        good = await collect_to_file(tasks, EngineConfig(url=base_url, token="s3cret", retries=0),
                                     PolicySettings(), tmp_path / "ok.jsonl")
        bad = await collect_to_file(tasks, EngineConfig(url=base_url, retries=2), PolicySettings(),
                                    tmp_path / "bad.jsonl")
    assert good.errors == 0 and good.passed == 1
    (record,) = read_trajectories(tmp_path / "bad.jsonl")
    assert bad.errors == 1 and bad.retries == 0  # a 401 is not retried
    assert "HTTP 401" in record["error"] and record["passed"] is False

"""Unit tests of the agent's pure parts: task loading, filters, tool-call parsing, users, the store."""

from __future__ import annotations

import json

import pytest

from agent.filters import apply_filters, passed, validity_problem
from agent.policies.local_hf import parse_tool_calls
from agent.store import OutputExistsError, TrajectoryStore, read_trajectories, rejected_path
from agent.tasks import TaskFileError, load_tasks
from agent.user import STOP_PHRASE, ScriptedUser
from contracts import TaskSpec, Trajectory

TASK = {
    "format": "envhub.task/1", "task_id": "t-1", "env": "shop", "initial_state": {"seed": None},
    "kind": "read", "goal": "What is the status of order O-1?", "user_facts": {"order_id": "O-1"},
    "gold_calls": [{"name": "get_order", "arguments": {"order_id": "O-1"}}],
    "gold_state_hash": "sha256:aa", "expected_outputs": ["shipped"], "steps": 1, "seed": 1,
}


def call(cid: str, name: str, args: str) -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


def good_messages() -> list[dict]:
    return [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "status of O-1?"},
        {"role": "assistant", "content": None, "tool_calls": [call("c0", "get_order", '{"order_id": "O-1"}')]},
        {"role": "tool", "tool_call_id": "c0", "content": '{"status": "shipped"}'},
        {"role": "assistant", "content": "Your order is Shipped."},
    ]


def test_load_tasks_reports_file_line_and_field(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(TASK) + "\n" + json.dumps({**TASK, "task_id": "t-2", "kind": "maybe"}) + "\n")
    with pytest.raises(TaskFileError, match=r"tasks.jsonl:2: kind: input should be 'read', 'write' or 'refusal'"):
        load_tasks(path)
    path.write_text(json.dumps(TASK) + "\n" + json.dumps(TASK) + "\n")
    with pytest.raises(TaskFileError, match=r":2: task_id: 't-1' already used on line 1"):
        load_tasks(path)
    path.write_text(json.dumps(TASK) + "\n{broken\n")
    with pytest.raises(TaskFileError, match=r"tasks.jsonl:2: not valid JSON"):
        load_tasks(path)
    path.write_text(json.dumps(TASK) + "\n")
    (task,) = load_tasks(path)
    assert task.gold_calls[0].arguments == {"order_id": "O-1"} and task.initial_state.seed is None


def test_filters_pass_good_read_episode():
    task = TaskSpec.model_validate(TASK)
    filters, problem = apply_filters(task, good_messages(), {"get_order"}, "sha256:aa")
    assert problem is None
    assert filters == {"valid": True, "state_match": True, "exact_match": True, "outputs": True}
    assert passed(filters)


def test_filters_catch_each_failure():
    task = TaskSpec.model_validate(TASK)
    msgs = good_messages()
    msgs[2]["tool_calls"][0]["function"]["arguments"] = '{"order_id": O-1'
    filters, problem = apply_filters(task, msgs, {"get_order"}, "sha256:aa")
    assert filters["valid"] is False and "not a JSON object" in problem
    msgs = good_messages()
    msgs[2]["tool_calls"][0]["function"]["arguments"] = '{"order_id": "O-2"}'
    filters, _ = apply_filters(task, msgs, {"get_order"}, "sha256:bb")
    assert filters["valid"] and filters["exact_match"] is False and filters["state_match"] is False
    msgs = good_messages()
    msgs[-1]["content"] = "All good."
    filters, _ = apply_filters(task, msgs, {"get_order"}, None)
    assert filters["outputs"] is False and filters["state_match"] is None and not passed(filters)
    write = TaskSpec.model_validate({**TASK, "kind": "write", "expected_outputs": []})
    filters, _ = apply_filters(write, good_messages(), {"get_order"}, "sha256:aa")
    assert filters["exact_match"] is None and filters["outputs"] is None and passed(filters)


def test_validity_rejects_structure_and_repetition():
    names = {"get_order"}
    assert "unlisted tool" in validity_problem(
        good_messages()[:2] + [{"role": "assistant", "content": None, "tool_calls": [call("c0", "nope", "{}")]},
                               {"role": "tool", "tool_call_id": "c0", "content": "x"},
                               {"role": "assistant", "content": "done"}], names)
    looped = good_messages()[:2]
    for i in range(3):
        looped += [{"role": "assistant", "content": None, "tool_calls": [call(f"c{i}", "get_order", '{"order_id":"O-1"}')]},
                   {"role": "tool", "tool_call_id": f"c{i}", "content": "x"}]
    looped.append({"role": "assistant", "content": "done"})
    assert "3 times in a row" in validity_problem(looped, names)
    repeated = good_messages() + [{"role": "user", "content": "and?"}, {"role": "assistant", "content": "Your order is  Shipped."}]
    assert "repeats" in validity_problem(repeated, names)
    assert "does not end" in validity_problem(good_messages()[:4], names)
    assert "unanswered" in validity_problem(good_messages()[:3], names)
    assert validity_problem(good_messages(), names) is None


def test_parse_tool_calls_hermes_and_json_fallback():
    content, calls = parse_tool_calls('Let me check.<tool_call>\n{"name": "get_order", "arguments": {"order_id": "O-1"}}\n</tool_call>')
    assert content == "Let me check." and calls[0]["function"]["name"] == "get_order"
    assert json.loads(calls[0]["function"]["arguments"]) == {"order_id": "O-1"}
    content, calls = parse_tool_calls('{"name": "get_order", "arguments": {"order_id": "O-9"}}')
    assert content is None and json.loads(calls[0]["function"]["arguments"]) == {"order_id": "O-9"}
    content, calls = parse_tool_calls('<tool_call>{"name": "get_order", "arguments": {oops</tool_call>')
    assert calls[0]["function"]["name"] == "get_order" and calls[0]["function"]["arguments"].startswith("{")
    assert parse_tool_calls("just text") == ("just text", [])


async def test_scripted_user_reveals_facts_then_stops():
    task = TaskSpec.model_validate({**TASK, "user_facts": {"order_id": "O-1", "reason": "too late"}})
    user = ScriptedUser()
    # the opening states the intent but keeps the identifying fact back, to be asked for
    opening = await user.opening(task)
    assert "status of my order" in opening and "O-1" not in opening
    text, done = await user.reply(task, [{"role": "assistant", "content": "What is your order id?"}])
    assert not done and "O-1" in text and "too late" not in text
    text, done = await user.reply(task, [{"role": "assistant", "content": "Anything else I should know?"}])
    assert not done and "too late" in text
    text, done = await user.reply(task, [{"role": "assistant", "content": "Done, cancelled."}])
    assert done and text == STOP_PHRASE


def record(task_id: str, passed: bool, error: str | None) -> Trajectory:
    messages = [] if error else [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    return Trajectory(task_id=task_id, env="shop", messages=messages, passed=passed, error=error)


def test_store_resume_drops_truncated_and_errored_lines(tmp_path):
    out = tmp_path / "traj.jsonl"
    with TrajectoryStore(out) as store:
        store.write(record("a", passed=True, error=None))
        store.write(record("b", passed=False, error="boom"))
    with open(out, "a") as fh:
        fh.write('{"task_id": "c", "pas')  # the process died mid-line
    with pytest.raises(OutputExistsError, match="--resume"):
        TrajectoryStore(out)
    with TrajectoryStore(out, resume=True) as store:
        assert store.done_ids == {"a"} and store.dropped_on_resume == 2
        store.write(record("b", passed=True, error=None))
    assert [t["task_id"] for t in read_trajectories(out)] == ["a", "b"]
    with TrajectoryStore(tmp_path / "p.jsonl", keep="passed") as store:
        store.write(record("x", passed=False, error=None))
        store.write(record("y", passed=True, error=None))
    assert [t["task_id"] for t in read_trajectories(tmp_path / "p.jsonl")] == ["y"]
    assert [t["task_id"] for t in read_trajectories(rejected_path(tmp_path / "p.jsonl"))] == ["x"]
    with TrajectoryStore(tmp_path / "p.jsonl", keep="passed", resume=True) as store:
        assert store.done_ids == {"x", "y"}


class CountingConnection:
    def __init__(self) -> None:
        self.lists = 0

    async def list_tools(self):
        self.lists += 1
        return [{"name": "get_order", "description": "d", "inputSchema": {"type": "object", "properties": {}}}]


async def test_hub_tool_lists_are_fetched_once_per_env_but_plain_servers_every_time():
    from agent.rollout import Target, _episode_tools

    conn = CountingConnection()
    hub_target = Target(http=None, hub=object())  # any hub: it serves one tool list per environment
    first = await _episode_tools("order-desk", conn, hub_target)
    second = await _episode_tools("order-desk", conn, hub_target)
    assert conn.lists == 1 and first == second and first is not second
    await _episode_tools("flight-desk", conn, hub_target)
    assert conn.lists == 2
    plain = Target(http=None, mcp_url="http://127.0.0.1:1/mcp")
    await _episode_tools("order-desk", conn, plain)
    await _episode_tools("order-desk", conn, plain)
    assert conn.lists == 4

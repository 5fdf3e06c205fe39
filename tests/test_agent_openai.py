"""The OpenAI-compatible policy (and LLM user) against a scripted chat-completions server:
the filters must reject exactly the bad episodes."""

from __future__ import annotations

import json

from agent.engine import EngineConfig
from agent.run import collect_to_file
from agent.settings import PolicySettings
from agent.store import read_trajectories
from agent.tasks import load_tasks
from agent.user import ScriptedUser
from contracts import TaskSpec
from tests.test_agent_e2e import order_desk_tasks
from tests.test_agent_support import openai_app, order_desk_hub, serving_app, write_tasks


def gold_plan(task: dict) -> list[dict]:
    plan = [{"tool_calls": [(c["name"], json.dumps(c["arguments"]))]} for c in task["gold_calls"]]
    return plan + [{"content": "All done. " + " ".join(task["expected_outputs"])}]


def plans_for(tasks: list[dict]) -> dict[str, list[dict]]:
    by_id = {t["task_id"]: t for t in tasks}
    plans = {t["goal"]: gold_plan(t) for t in tasks}
    cancel = by_id["od-cancel"]
    # malformed: arguments that are not JSON, then the right calls (state ends right, validity fails)
    plans[cancel["goal"]] = [{"tool_calls": [("get_order", '{"order_id": O-1002')]}] + gold_plan(cancel)
    ship = by_id["od-ship-address"]
    # wrong arguments: a different address, so the final state differs from gold
    plans[ship["goal"]] = [{"tool_calls": [("update_shipping_address",
                                            json.dumps({"order_id": "O-1002", "shipping_address": "1 Wrong St"}))]},
                           {"content": "Updated."}]
    items = by_id["od-read-items"]
    # a read task answered from the wrong order: exact match fails
    plans[items["goal"]] = [{"tool_calls": [("list_order_items", json.dumps({"order_id": "O-1002"}))]},
                            {"content": "It had P-1001."}]
    return plans


async def test_openai_policy_filters_reject_exactly_the_bad_episodes(tmp_path):
    requests: list[dict] = []
    with order_desk_hub(tmp_path) as hub_url:
        tasks = await order_desk_tasks(hub_url)
        plans = plans_for(tasks)
        # the scripted user opens with the goal, its ids held back: map each opening to its goal's plan
        goal_of = {await ScriptedUser().opening(TaskSpec.model_validate(t)): t["goal"] for t in tasks}
        app = openai_app(lambda messages: plans[goal_of[next(m for m in messages if m["role"] == "user")["content"]]],
                         requests)
        with serving_app(app) as llm_url:
            out = tmp_path / "traj.jsonl"
            settings = PolicySettings(policy="openai", base_url=llm_url + "/v1", model="scripted-llm", api_key="k",
                                      temperature=0.3, max_tokens=64)
            summary = await collect_to_file(load_tasks(write_tasks(tmp_path / "t.jsonl", tasks)),
                                            EngineConfig(url=hub_url, concurrency=3, retries=0), settings, out,
                                            keep="passed")
    kept = {r["task_id"]: r for r in read_trajectories(out)}
    rejected = {r["task_id"]: r for r in read_trajectories(tmp_path / "traj.rejected.jsonl")}
    assert set(rejected) == {"od-cancel", "od-ship-address", "od-read-items"}
    assert set(kept) == {"od-read-order", "od-read-customer", "od-phone"}
    assert summary.errors == 0 and summary.passed == 3
    # the malformed call was a lookup the environment rejected; the writes match gold (dialogue rule)
    assert rejected["od-cancel"]["filters"] == {"valid": False, "state_match": True, "exact_match": True,
                                                "outputs": None}
    bad_args = rejected["od-cancel"]["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert bad_args == '{"order_id": O-1002'  # recorded exactly as the model wrote it
    assert "not a JSON object" in rejected["od-cancel"]["messages"][3]["content"]
    assert rejected["od-ship-address"]["filters"]["state_match"] is False
    assert rejected["od-ship-address"]["filters"]["valid"] is True
    assert rejected["od-read-items"]["filters"]["exact_match"] is False
    for record in kept.values():
        assert record["policy"] == {"kind": "openai", "model": "scripted-llm"}
        assert record["usage"]["completion_tokens"] > 0
    # sampling options and tools in OpenAI function format reached the endpoint
    assert requests[0]["temperature"] == 0.3 and requests[0]["max_tokens"] == 64
    assert requests[0]["tools"][0]["type"] == "function" and "parameters" in requests[0]["tools"][0]["function"]


async def test_llm_user_reveals_facts_and_stops(tmp_path):
    task_goal = "What is the status of my order O-1002?"

    def plans(messages: list[dict]) -> list[dict]:
        if messages[0]["content"].startswith("You are role-playing a customer"):
            assert task_goal in messages[0]["content"]
            return [{"content": "Hi, what is the status of my order?"}, {"content": "It is O-1002."},
                    {"content": "###STOP###"}]
        return [{"content": "Which order do you mean?"},
                {"tool_calls": [("get_order", json.dumps({"order_id": "O-1002"}))]},
                {"content": "Order O-1002 is pending."}]

    with order_desk_hub(tmp_path) as hub_url:
        tasks = [t for t in await order_desk_tasks(hub_url) if t["task_id"] == "od-read-order"]
        with serving_app(openai_app(plans, [])) as llm_url:
            settings = PolicySettings(policy="openai", base_url=llm_url + "/v1", model="m", user="llm",
                                      user_base_url=llm_url + "/v1", user_model="u")
            out = tmp_path / "traj.jsonl"
            await collect_to_file(load_tasks(write_tasks(tmp_path / "t.jsonl", tasks)),
                                  EngineConfig(url=hub_url, concurrency=1), settings, out)
    (record,) = read_trajectories(out)
    roles = [m["role"] for m in record["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "tool", "assistant"]
    assert record["messages"][3]["content"] == "It is O-1002."
    assert record["passed"] and record["filters"]["outputs"] is True

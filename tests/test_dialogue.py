"""Dialogues, not replays: the scripted agent asks, confirms, recovers and reports; the filters can fail.

Episodes run against a real hub (uvicorn on loopback) serving the built-in environments; the LLM
user plays against a local fake OpenAI-compatible server.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from agent.engine import EngineConfig, Summary
from agent.filters import apply_filters, exact_match, passed
from agent.policies.base import PolicyTurn, assistant_message, tool_call
from agent.report import summary_tables
from agent.rollout import EpisodeTools, Limits, Target, run_episode
from agent.run import collect_to_file
from agent.settings import PolicySettings
from agent.store import read_trajectories
from agent.tasks import load_tasks
from agent.user import STOP_PHRASE, USER_SYSTEM_PROMPT, ScriptedUser, masked_goal, upfront_goal
from agent.wording import Wording
from contracts import TaskSpec
from tests.test_agent_e2e import order_desk_tasks
from tests.test_agent_support import openai_app, order_desk_hub, serving_app, write_tasks

CONFIRM_WORDS = ("proceed?", "go ahead?")


def texts(record: dict[str, Any], role: str) -> list[str]:
    return [m.get("content") or "" for m in record["messages"] if m["role"] == role]


def call_names(message: dict[str, Any]) -> list[str]:
    return [c["function"]["name"] for c in message.get("tool_calls") or []]


async def collect(base_url: str, tmp_path, tasks: list[dict], settings: dict, name: str,
                  keep: str = "all") -> tuple[Summary, dict[str, dict]]:
    out = tmp_path / f"{name}.jsonl"
    summary = await collect_to_file(load_tasks(write_tasks(tmp_path / f"{name}-tasks.jsonl", tasks)),
                                    EngineConfig(url=base_url, concurrency=3, retries=0), PolicySettings(**settings), out,
                                    keep=keep)
    return summary, {r["task_id"]: r for r in read_trajectories(out)}


async def test_scripted_dialogue_asks_confirms_recovers_and_states_the_outcome(tmp_path):
    settings = {"policy": "scripted", "scripted_mistake_rate": 1.0, "scripted_seed": 3}
    with order_desk_hub(tmp_path) as base_url:
        tasks = await order_desk_tasks(base_url)
        summary, by_id = await collect(base_url, tmp_path, tasks, settings, "dialogue")
    assert summary.errors == 0 and summary.passed == len(tasks)
    cancel = by_id["od-cancel"]["messages"]
    roles = [m["role"] for m in cancel]
    # asks: the opening holds the order id back; a question precedes the user message that gives it
    assert "O-1002" not in cancel[1]["content"]
    given = next(i for i, m in enumerate(cancel) if m["role"] == "user" and "O-1002" in m["content"])
    assert given > 1 and cancel[given - 1]["role"] == "assistant" and cancel[given - 1]["content"].endswith("?")
    assert "order ID" in cancel[given - 1]["content"]
    # identifies the record: the order is looked up before it is changed
    write_at = next(i for i, m in enumerate(cancel) if "cancel_order" in call_names(m))
    assert any("get_order" in call_names(m) for m in cancel[given:write_at])
    # confirms before the destructive write, and the user says yes
    asked = [i for i, m in enumerate(cancel[:write_at]) if m["role"] == "assistant"
             and any(w in (m["content"] or "") for w in CONFIRM_WORDS)]
    assert asked and cancel[asked[-1] + 1]["role"] == "user"
    assert any(w in cancel[asked[-1] + 1]["content"].lower() for w in ("yes", "please do", "go ahead"))
    assert "cancel order" in cancel[asked[-1]]["content"] and "O-1002" in cancel[asked[-1]]["content"]
    # recovers: every episode planted one rejected call, followed by the corrected call that succeeds
    for record in by_id.values():
        messages = record["messages"]
        errors = [i for i, m in enumerate(messages) if m["role"] == "tool" and m["content"].startswith("Error")]
        assert len(errors) == 1, record["task_id"]
        retry = messages[errors[0] + 1]
        assert retry["role"] == "assistant" and retry["tool_calls"] and retry["content"]
        assert call_names(retry) == call_names(messages[errors[0] - 1])
        # the mistaken call is marked not to be trained on; nothing else is
        assert [i for i, m in enumerate(messages) if m.get("weight") == 0] == [errors[0] - 1]
        assert not messages[errors[0] + 2]["content"].startswith("Error")
        # the repair comes from the error message: the argument it names is what the agent fixed
        named = [a for a in json.loads(retry["tool_calls"][0]["function"]["arguments"])
                 if f"'{a}'" in messages[errors[0]]["content"]]
        assert named, (messages[errors[0]]["content"], retry)
    # ends with the outcome: the changed field, and the values a question asked for
    assert "status is now cancelled" in texts(by_id["od-cancel"], "assistant")[-1]
    assert "pending" in texts(by_id["od-read-order"], "assistant")[-1]
    assert "ava.nguyen@example.com" in texts(by_id["od-read-customer"], "assistant")[-1]
    finals = {texts(r, "assistant")[-1] for r in by_id.values()}
    assert len(finals) == len(by_id) and "Done: your request has been completed." not in finals
    assert roles[-1] == "assistant" and sum(r == "user" for r in roles) >= 3


async def test_dialogues_are_deterministic_per_seed(tmp_path):
    with order_desk_hub(tmp_path) as base_url:
        tasks = await order_desk_tasks(base_url)
        runs = []
        for n, seed in enumerate((5, 5, 6)):
            _, by_id = await collect(base_url, tmp_path, tasks, {"policy": "scripted", "scripted_seed": seed,
                                                                 "scripted_mistake_rate": 0.5}, f"seed{n}")
            runs.append({k: r["messages"] for k, r in by_id.items()})
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    wording = [Wording(7, "t-1").pick("s", ["a", "b", "c", "d"]) for _ in range(2)]
    assert wording[0] == wording[1]


async def test_rule_breaking_agent_fails_the_filters(tmp_path):
    with order_desk_hub(tmp_path) as base_url:
        tasks = await order_desk_tasks(base_url)
        summary, by_id = await collect(base_url, tmp_path, tasks, {"policy": "scripted", "scripted_mode": "careless"},
                                       "careless")
    assert summary.passed == 0 and summary.per_policy["scripted:careless"]["passed"] == 0
    # a wrong write: the address it wrote is not the one asked for
    ship = by_id["od-ship-address"]
    assert ship["filters"]["state_match"] is False and ship["filters"]["exact_match"] is False
    assert not any(w in (m.get("content") or "") for m in ship["messages"] for w in CONFIRM_WORDS)
    # an answer without looking anything up
    assert by_id["od-read-order"]["filters"]["outputs"] is False
    assert by_id["od-cancel"]["filters"]["state_match"] is False


class RepeatingPolicy:
    """A test double that breaks the conversation rules: the same lookup three times in a row."""

    kind = "double"
    model = "repeat"

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], task: TaskSpec) -> PolicyTurn:
        calls = sum(len(m.get("tool_calls") or []) for m in messages)
        if calls < 3:
            return PolicyTurn(assistant_message(None, [tool_call(f"c{calls}", "get_order", '{"order_id": "O-1002"}')]))
        return PolicyTurn(assistant_message("Order O-1002 is pending."))

    async def aclose(self) -> None:
        return None


async def test_degenerate_agent_fails_validity(tmp_path):
    import httpx2

    from agent.hubclient import HubClient

    with order_desk_hub(tmp_path) as base_url:
        task = TaskSpec.model_validate(next(t for t in await order_desk_tasks(base_url)
                                            if t["task_id"] == "od-read-order"))
        async with httpx2.AsyncClient() as http:
            target = Target(http=http, hub=HubClient(http, base_url), tool_lists={})
            record = await run_episode(task, RepeatingPolicy(), ScriptedUser(), target, Limits())
    assert record.filters.valid is False and not record.passed
    assert "3 times in a row" in record.rejected_because
    assert isinstance(target.tool_lists["order-desk"], EpisodeTools)


def _episode(*calls: tuple[str, dict, str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]
    for n, (name, arguments, result) in enumerate(calls):
        messages.append(assistant_message(None, [tool_call(f"c{n}", name, json.dumps(arguments))]))
        messages.append({"role": "tool", "tool_call_id": f"c{n}", "content": result})
    messages.append({"role": "assistant", "content": "Done, status cancelled."})
    return messages


def test_exact_match_is_on_writes_and_required_reads_in_order():
    write = TaskSpec.model_validate({
        "task_id": "w", "env": "order-desk", "kind": "write", "goal": "cancel",
        "gold_calls": [{"name": "find_customers", "arguments": {"email": "a@b.c"}},
                       {"name": "cancel_order", "arguments": {"order_id": "O-1", "reason": "r"}}]})
    cancel = ("cancel_order", {"order_id": "O-1", "reason": "r"}, '{"status": "cancelled"}')
    lookup = ("get_order", {"order_id": "O-1"}, '{"status": "pending"}')
    rejected = ("cancel_order", {"order_id": "O-1"}, "Error: 'reason' is a required property")
    # extra lookups and a rejected try do not count; the gold lookup may be skipped
    assert exact_match(write, _episode(lookup, rejected, cancel)) is True
    assert exact_match(write, _episode(cancel)) is True
    # a second write, or a write with other values, does
    assert exact_match(write, _episode(cancel, ("cancel_order", {"order_id": "O-2", "reason": "r"}, "{}"))) is False
    assert exact_match(write, _episode(("cancel_order", {"order_id": "O-1", "reason": "x"}, "{}"))) is False
    assert exact_match(write, _episode(lookup)) is False
    # the old rule is still there: read tasks only, every call
    assert exact_match(write, _episode(cancel), rule="sequence") is None
    read = TaskSpec.model_validate({
        "task_id": "r", "env": "order-desk", "kind": "read", "goal": "status?", "expected_outputs": ["cancelled"],
        "gold_calls": [{"name": "list_customer_orders", "arguments": {"customer_id": "C-1"}},
                       {"name": "get_order", "arguments": {"order_id": "O-1"}}]})
    listed = ("list_customer_orders", {"customer_id": "C-1"}, "[]")
    assert exact_match(read, _episode(listed, ("get_customer", {"customer_id": "C-1"}, "{}"), lookup)) is True
    assert exact_match(read, _episode(lookup, listed)) is False  # required reads out of order
    assert exact_match(read, _episode(listed, lookup), rule="sequence") is True
    assert exact_match(read, _episode(listed, ("get_customer", {}, "{}"), lookup), rule="sequence") is False
    filters, problem = apply_filters(read, _episode(listed, lookup), {"list_customer_orders", "get_order"}, None)
    assert problem is None and passed(filters) and filters["outputs"] is True


def test_exact_match_takes_the_servers_read_only_hints_over_the_verb_rule():
    """`check_in_booking` reads by its verb's look but writes; `order_report` reads though its name says
    nothing: the server's readOnlyHint decides, and the verb rule applies only without hints."""
    hinted = EpisodeTools.from_mcp([
        {"name": "check_in_booking", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": False}},
        {"name": "order_report", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": True}},
    ])
    assert hinted.read_only == frozenset({"order_report"})
    assert hinted.is_read("order_report") and not hinted.is_read("check_in_booking")
    bare = EpisodeTools.from_mcp([{"name": "order_report", "inputSchema": {"type": "object"}}])
    assert bare.read_only is None and not bare.is_read("order_report") and bare.is_read("get_order")
    task = TaskSpec.model_validate({
        "task_id": "h", "env": "x", "kind": "write", "goal": "report then change",
        "gold_calls": [{"name": "order_report", "arguments": {}}, {"name": "change", "arguments": {"a": 1}}]})
    change = ("change", {"a": 1}, "{}")
    # With the hint the report is a read the agent may skip; by the verb rule it is a write it must make.
    assert exact_match(task, _episode(change), reads=hinted.is_read) is True
    assert exact_match(task, _episode(change), reads=bare.is_read) is False


async def test_scripted_user_answers_what_is_asked_and_confirms():
    task = TaskSpec.model_validate({
        "task_id": "u", "env": "order-desk", "goal": "Cancel order O-1002. Reason: found it cheaper.",
        "user_facts": {"order_id": "O-1002", "reason": "found it cheaper"}})
    assert masked_goal(task) == "Cancel my order. Reason: found it cheaper."
    # "confirm" that asks for a fact not yet given is answered with the fact, not a yes
    text, _ = await ScriptedUser().reply(task, [{"role": "assistant", "content": "Can you confirm your order ID?"}])
    assert "O-1002" in text and "yes" not in text.lower()
    user = ScriptedUser()
    opening = await user.opening(task)
    assert "O-1002" not in opening and "found it cheaper" in opening
    text, done = await user.reply(task, [{"role": "assistant", "content": "What is your order ID?"}])
    assert not done and "O-1002" in text and "cheaper" not in text
    text, done = await user.reply(task, [{"role": "assistant", "content":
                                          "I'm about to cancel order O-1002, reason found it cheaper. Shall I proceed?"}])
    assert not done and "O-1002" not in text and any(w in text.lower() for w in ("yes", "go ahead", "please do"))
    text, done = await user.reply(task, [{"role": "assistant", "content": "Order O-1002 is now cancelled."}])
    assert done and text == STOP_PHRASE


async def test_upfront_user_states_its_ids_and_the_agent_asks_nothing(tmp_path):
    task = TaskSpec.model_validate({
        "task_id": "u", "env": "order-desk", "goal": "Cancel my latest order. Reason: found it cheaper.",
        "user_facts": {"order_id": "O-1002", "reason": "found it cheaper", "express": True}})
    # the ids the goal leaves out are added; a flag or a reason the goal already says is not repeated
    assert upfront_goal(task) == "Cancel my latest order. Reason: found it cheaper. My order ID is O-1002."
    assert "O-1002" in await ScriptedUser("upfront").opening(task)
    try:
        ScriptedUser("sometimes")
    except ValueError as err:
        assert "sometimes" in str(err)
    else:
        raise AssertionError("an unknown disclosure must be refused")
    settings = {"policy": "scripted", "scripted_mistake_rate": 0.0, "user_disclosure": "upfront"}
    with order_desk_hub(tmp_path) as base_url:
        tasks = await order_desk_tasks(base_url)
        summary, by_id = await collect(base_url, tmp_path, tasks, settings, "upfront")
        _, asked = await collect(base_url, tmp_path, tasks, {"policy": "scripted", "scripted_mistake_rate": 0.0},
                                 "asked")
    assert summary.errors == 0 and summary.passed == len(tasks)
    cancel = by_id["od-cancel"]["messages"]
    assert "O-1002" in cancel[1]["content"]
    # no question for a fact: the only user turns after the opening answer a confirmation
    for record in by_id.values():
        assert record["user"] == {"kind": "scripted", "disclosure": "upfront"}
        users = texts(record, "user")[1:]
        assert all("O-1" not in text and "@" not in text for text in users), users
    # the default user still holds ids back, and its trajectories carry no `user` record
    assert "O-1002" not in asked["od-cancel"]["messages"][1]["content"]
    assert all("user" not in record for record in asked.values())
    assert sum(len(r["messages"]) for r in by_id.values()) < sum(len(r["messages"]) for r in asked.values())


async def test_llm_user_plays_the_facts_against_the_scripted_agent(tmp_path):
    user_requests: list[dict] = []

    def user_plans(messages: list[dict]) -> list[dict]:
        assert messages[0]["content"].startswith(USER_SYSTEM_PROMPT.split("\n")[0])
        assert "O-1002" in messages[0]["content"] and "without the ids" in messages[0]["content"]
        return [{"content": "I'd like to cancel an order, I found it cheaper elsewhere."},
                {"content": "Sure, it's O-1002."}, {"content": "Yes, go ahead."}, {"content": STOP_PHRASE}]

    with order_desk_hub(tmp_path) as base_url:
        tasks = [t for t in await order_desk_tasks(base_url) if t["task_id"] == "od-cancel"]
        with serving_app(openai_app(user_plans, user_requests)) as llm_url:
            settings = {"policy": "scripted", "scripted_mistake_rate": 0.0, "user": "llm",
                        "user_base_url": llm_url + "/v1", "user_model": "u"}
            summary, by_id = await collect(base_url, tmp_path, tasks, settings, "llm-user")
    record = by_id["od-cancel"]
    users = texts(record, "user")
    assert users == ["I'd like to cancel an order, I found it cheaper elsewhere.", "Sure, it's O-1002.",
                     "Yes, go ahead."]
    assert record["passed"] and record["filters"]["state_match"] and record["filters"]["exact_match"]
    assert len(user_requests) == 4 and summary.passed == 1


async def test_collection_on_generated_tasks_keeps_only_filtered_multi_turn_dialogues(tmp_path):
    from synth.tasks.generate import generate_tasks
    from tests.hubserver import running_hub

    tasks = [t.to_json() for t in generate_tasks(None, per_env=8, seed=11)]
    with running_hub() as base_url:
        summary, kept = await collect(base_url, tmp_path, tasks, {"policy": "scripted", "scripted_seed": 2},
                                      "generated", keep="passed")
        careless, _ = await collect(base_url, tmp_path, tasks, {"policy": "scripted", "scripted_mode": "careless"},
                                    "generated-careless", keep="passed")
    assert summary.errors == 0 and kept and len(kept) == summary.passed
    for record in kept.values():
        filters = record["filters"]
        assert filters["valid"] is True and filters["state_match"] is True and filters["exact_match"] is not False
        assert record["final_state_hash"] == record["gold_state_hash"]
    user_turns = [sum(m["role"] == "user" for m in r["messages"]) for r in kept.values()]
    assert max(user_turns) >= 2 and sum(t >= 2 for t in user_turns) > len(kept) // 2
    assert any(m["role"] == "tool" and m["content"].startswith("Error") for r in kept.values() for m in r["messages"])
    # the yield per policy: the dialogue's episodes are kept, the careless agent's are not
    assert summary.per_policy["scripted:dialogue"]["episodes"] == len(tasks)
    assert careless.per_policy["scripted:careless"]["passed"] == 0 and careless.passed == 0
    summary.merge(careless)
    console = Console(record=True, width=120)
    for table in summary_tables(summary):
        console.print(table)
    shown = console.export_text()
    assert "yield per policy" in shown and "scripted:careless" in shown and "0.0%" in shown

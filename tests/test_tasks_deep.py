"""Tasks like the paper's, on the default collection: deep dependent walks, conditions, refusals.

The default collection is synthesized once (`envhub synth` with no inputs) and its tasks generated
with the defaults of `envhub tasks`; every property is asserted over all of them.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
from collections import Counter

import pytest

from agent.filters import apply_filters, passed
from agent.policies.scripted import ScriptedPolicy
from agent.user import ScriptedUser
from contracts import TaskSpec
from servers.executor import execute_tool
from servers.semantics import spec_semantics
from servers.spec import load_envspec
from servers.state import EnvRuntime, EpisodeStore
from synth.envs.synthesize import SynthSettings, synthesize
from synth.tasks import generate_tasks
from synth.tasks.checks import audit, detours, ghost_ids, replay
from synth.tasks.walk import LENGTH_WEIGHTS, WalkBuilder, draw_length

SYSTEM = "You are a customer support agent for {env}. Use the tools to help the user."


@pytest.fixture(scope="module")
def default_specs(tmp_path_factory):
    out = tmp_path_factory.mktemp("default")
    synthesize(None, out, SynthSettings(seed=0, progress=False, workers=1))
    return [load_envspec(p) for p in sorted((out / "envs").glob("*.json"))]


@pytest.fixture(scope="module")
def default_tasks(default_specs):
    return generate_tasks(default_specs, 20, seed=0)


# --------------------------------------------------------------------------- walks


def test_length_distribution_spans_2_to_10_with_median_at_least_4():
    assert min(LENGTH_WEIGHTS) == 2 and max(LENGTH_WEIGHTS) == 10
    rng = random.Random(0)
    drawn = [draw_length(rng, 2, 10) for _ in range(4000)]
    assert min(drawn) == 2 and max(drawn) == 10
    assert statistics.median(drawn) >= 4
    # a smaller ceiling cuts the distribution instead of failing
    assert {draw_length(rng, 2, 3) for _ in range(200)} == {2, 3}


def test_composed_walks_chain_through_earlier_results(default_specs):
    spec = next(s for s in default_specs if s.name == "order-desk")
    builder = WalkBuilder(spec, spec_semantics(spec))
    rng = random.Random(5)
    fed = grafted = 0
    for _ in range(200):
        walk = builder.compose(rng, "write", 6)
        assert walk is not None and 1 <= len(walk.steps) <= 6
        assert walk.intents and walk.intents[0].kind == "write"
        assert sorted(i for intent in walk.intents for i in intent.steps) == list(range(len(walk.steps)))
        for j, step in enumerate(walk.steps):
            assert all(i < j for i, _ in step.feeds.values())
            fed += bool(step.feeds)
        for intent in walk.intents[1:]:
            grafted += any(i < intent.steps[0] for i, _ in walk.steps[intent.steps[0]].feeds.values())
    assert fed > 200 and grafted > 20


# --------------------------------------------------------------------------- the default collection


def test_default_collection_depth_and_dependency(default_tasks):
    depths = [t.steps for t in default_tasks]
    assert len(default_tasks) >= 12 * 18
    assert statistics.median(depths) >= 4
    assert max(depths) <= 10 and max(depths) >= 6
    # Only refusals (the check lookup) may be a single call; every other task has 2..10.
    assert all(t.steps >= 2 for t in default_tasks if t.kind != "refusal")
    kinds = Counter(t.kind for t in default_tasks)
    assert kinds["read"] and kinds["write"] and kinds["refusal"] >= 12
    assert sum(t.condition is not None for t in default_tasks) >= 12


def test_no_detour_no_ghost_id_and_mostly_dependent_chains(default_specs, default_tasks):
    result = audit(default_specs, default_tasks)
    assert result.failed_replays == []
    assert result.detours == []
    assert result.ghosts == []
    assert result.dependent / result.tasks >= 0.5


def test_the_checks_catch_a_detour_and_a_ghost_id(default_specs, default_tasks):
    spec = next(s for s in default_specs if s.name == "order-desk")
    reads = {n for n, s in spec_semantics(spec).items() if s.read_only}
    task = next(t for t in default_tasks if t.env == spec.name and t.kind == "write")
    # a lookup of a record nobody needs, put in front of the gold
    detour = {"name": "get_product", "arguments": {"product_id": "PRO-1001"}}
    padded = TaskSpec.parse({**task.to_json(), "gold_calls": [detour, *[c.to_json() for c in task.gold_calls]]})
    run = replay(spec, padded)
    assert 0 in detours(padded, run.results, reads)
    # the same lookup twice in a row shows nothing new
    again = TaskSpec.parse({**task.to_json(), "gold_calls": [detour, detour]})
    assert 1 in detours(again, replay(spec, again).results, reads)
    ghost = TaskSpec.parse({**task.to_json(), "goal": task.goal + " My other order is ORD-9999."})
    assert ghost_ids(ghost, replay(spec, ghost)) == ["ORD-9999"]


def test_conditional_gold_is_the_branch_the_state_selects(default_specs, default_tasks):
    specs = {s.name: s for s in default_specs}
    conditional = [t for t in default_tasks if t.condition is not None]
    assert {t.condition.holds for t in conditional} == {True, False}
    for task in conditional:
        cond = task.condition
        run = replay(specs[task.env], task)
        assert all(e is None for e in run.errors), task.task_id
        observed = run.results[cond.check_call][cond.column]
        assert (observed == cond.value) == cond.holds, task.task_id
        # the change follows the check exactly when the condition holds; otherwise the `otherwise`
        # change does, or (without one) the agent says what it found
        after = task.gold_calls[cond.check_call + 1:]
        if cond.holds:
            assert len(after) == 1 and after[0] != cond.otherwise, task.task_id
        else:
            assert after == ([cond.otherwise] if cond.otherwise else []), task.task_id
        assert str(observed) in task.expected_outputs
        assert f"is {cond.value}" in task.goal and "Otherwise" in task.goal
        if cond.otherwise is not None:
            # the other change is to the same record, and the user knows every value it needs
            assert "Otherwise, please" in task.goal, task.goal
            assert not cond.holds or cond.otherwise.name != after[0].name, task.task_id
            key_values = set(task.gold_calls[cond.check_call].arguments.values())
            assert key_values & set(map(str, cond.otherwise.arguments.values())), task.task_id


def test_some_conditions_say_what_to_do_otherwise(default_tasks):
    """"If it is still pending, cancel it; otherwise return it": both branches are changes."""
    conditional = [t for t in default_tasks if t.condition is not None]
    with_otherwise = [t for t in conditional if t.condition.otherwise is not None]
    assert with_otherwise and len(with_otherwise) < len(conditional)
    assert any(not t.condition.holds for t in with_otherwise)
    assert all(t.kind == "write" for t in with_otherwise if not t.condition.holds)


def test_the_otherwise_change_must_end_the_gold_when_the_condition_fails():
    base = {"task_id": "t", "env": "e", "goal": "g", "gold_calls": [
        {"name": "get_order", "arguments": {"order_id": "O-1"}},
        {"name": "return_order", "arguments": {"order_id": "O-1"}}],
        "condition": {"check_call": 0, "column": "status", "value": "pending", "holds": False,
                      "otherwise": {"name": "return_order", "arguments": {"order_id": "O-1"}}}}
    assert TaskSpec.parse(base).condition.otherwise.name == "return_order"
    wrong = {**base, "gold_calls": base["gold_calls"][:1]}
    with pytest.raises(ValueError, match="otherwise"):
        TaskSpec.parse(wrong)


def test_refusal_tasks_name_a_rule_the_environment_enforces(default_specs, default_tasks):
    specs = {s.name: s for s in default_specs}
    refusals = [t for t in default_tasks if t.kind == "refusal"]
    # most refused requests come after other things the user wants done
    assert sum(t.steps >= 2 for t in refusals) >= len(refusals) / 2
    for task in refusals:
        spec = specs[task.env]
        runtime = EnvRuntime(spec)
        store = EpisodeStore({spec.name: runtime})
        episode = store.create(spec.name, seed=task.initial_state.seed)
        for call in task.gold_calls:
            assert execute_tool(runtime, episode.conn, call.name, dict(call.arguments)).ok, task.task_id
        before = episode.state_hash()
        assert before == task.gold_state_hash
        outcome = execute_tool(runtime, episode.conn, task.refusal.call.name, dict(task.refusal.call.arguments))
        assert not outcome.ok and outcome.error == task.refusal.reason, task.task_id
        assert episode.state_hash() == before
        assert task.expected_outputs[-1] in task.refusal.reason
        store.close_all()


# --------------------------------------------------------------------------- grading refusals


def _tools(spec) -> list[dict]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.input_schema}} for t in spec.tools]


async def _converse(policy, spec, task: TaskSpec) -> tuple[list[dict], str]:
    """A scripted user and a policy, the calls run on a fresh episode: the conversation and the final hash."""
    runtime = EnvRuntime(spec)
    store = EpisodeStore({spec.name: runtime})
    episode = store.create(spec.name, seed=task.initial_state.seed)
    user = ScriptedUser()
    tools = _tools(spec)
    messages: list[dict] = [{"role": "system", "content": SYSTEM.format(env=spec.name)},
                            {"role": "user", "content": await user.opening(task)}]
    for _ in range(40):
        message = (await policy.act(messages, tools, task)).message
        messages.append(message)
        if message.get("tool_calls"):
            for call in message["tool_calls"]:
                outcome = execute_tool(runtime, episode.conn, call["function"]["name"],
                                       json.loads(call["function"]["arguments"]))
                content = outcome.to_text() if outcome.ok else f"Error: {outcome.error}"
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
            continue
        text, done = await user.reply(task, messages)
        if done:
            break
        messages.append({"role": "user", "content": text})
    final = episode.state_hash()
    store.close_all()
    return messages, final


def _grade(spec, task, messages, final):
    reads = {n for n, s in spec_semantics(spec).items() if s.read_only}
    filters, _ = apply_filters(task, messages, {t.name for t in spec.tools}, final, reads=lambda n: n in reads)
    return filters


def test_refusals_pass_when_the_agent_checks_and_declines_and_fail_otherwise(default_specs, default_tasks):
    specs = {s.name: s for s in default_specs}
    refusals = [t for t in default_tasks if t.kind == "refusal"][:12]
    assert refusals
    dialogue = ScriptedPolicy(mode="dialogue", seed=0)
    careless = ScriptedPolicy(mode="careless")
    for task in refusals:
        spec = specs[task.env]
        messages, final = asyncio.run(_converse(dialogue, spec, task))
        filters = _grade(spec, task, messages, final)
        assert filters == {"valid": True, "state_match": True, "exact_match": True, "outputs": True,
                           "refusal": True}, (task.task_id, messages[-1]["content"])
        # the agent that goes ahead: the environment refuses (nothing changes), and it still fails
        messages, final = asyncio.run(_converse(careless, spec, task))
        filters = _grade(spec, task, messages, final)
        refused_first = messages[2]["tool_calls"][0]["function"]["name"] == task.refusal.call.name
        assert refused_first and messages[3]["content"].startswith("Error")
        assert filters["exact_match"] is False and filters["refusal"] is False and not passed(filters)


def test_a_refusal_is_not_passed_by_silence_a_write_or_a_changed_state(default_specs, default_tasks):
    specs = {s.name: s for s in default_specs}
    task = next(t for t in default_tasks if t.kind == "refusal")
    spec = specs[task.env]
    messages, final = asyncio.run(_converse(ScriptedPolicy(mode="dialogue", seed=0), spec, task))
    assert passed(_grade(spec, task, messages, final))
    # the same conversation, but the closing says it was done: no refusal, no reason given
    done = [*messages[:-1], {"role": "assistant", "content": "Done: your request has been completed."}]
    filters = _grade(spec, task, done, final)
    assert filters["refusal"] is False and filters["outputs"] is False
    # the same words after a state that changed anyway
    assert _grade(spec, task, messages, "sha256:other")["state_match"] is False
    # refusing without having looked the record up
    blind = [messages[0], messages[1], {"role": "assistant", "content": messages[-1]["content"]}]
    assert _grade(spec, task, blind, final)["exact_match"] is False


def test_the_scripted_dialogue_passes_conditional_and_deep_tasks(default_specs, default_tasks):
    specs = {s.name: s for s in default_specs}
    policy = ScriptedPolicy(mode="dialogue", seed=0, mistake_rate=0.0)
    conditional = [t for t in default_tasks if t.condition is not None]
    chosen = [t for t in conditional if t.condition.otherwise is not None][:6] + \
        [t for t in conditional if t.condition.otherwise is None][:4] + \
        [t for t in default_tasks if t.kind == "write" and t.steps >= 5][:8]
    results = [passed(_grade(specs[t.env], t, *asyncio.run(_converse(policy, specs[t.env], t)))) for t in chosen]
    assert sum(results) >= 0.75 * len(results), results


def test_the_llm_user_plays_the_persona_and_nothing_else_changes():
    from agent.user import STOP_PHRASE, USER_SYSTEM_PROMPT, LLMUser

    base = {"task_id": "t", "env": "e", "goal": "Cancel order O-1.", "user_facts": {"order_id": "O-1"}}
    user = LLMUser(client=None, model="m")
    plain = user._system(TaskSpec.parse(base))["content"]
    assert plain == USER_SYSTEM_PROMPT.format(goal="Cancel order O-1.", facts='{"order_id": "O-1"}', stop=STOP_PHRASE)
    sketch = "You are a student, in a hurry, who writes short, direct messages."
    with_persona = user._system(TaskSpec.parse({**base, "persona": sketch}))["content"]
    assert with_persona == plain + f"\nYour character: {sketch}"

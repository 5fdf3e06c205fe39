"""Task generation on the built-in example environments: gold calls replay to the gold hash."""

from __future__ import annotations

import json
import re

import pytest

from servers.executor import execute_tool
from servers.state import EnvRuntime, EpisodeStore
from synth.envs.draft import draft_envspec
from synth.tasks import generate_tasks, load_specs, write_tasks
from synth.tasks.generate import EnvReport
from synth.tooldef import ToolDef

PER_ENV = 12


@pytest.fixture(scope="module")
def specs():
    loaded, skipped = load_specs(None)
    assert loaded and not skipped
    return loaded


@pytest.fixture(scope="module")
def generated(specs):
    reports: list[EnvReport] = []
    # Plain questions and changes only: conditional and refusal tasks have their own tests
    # (tests/test_tasks_deep.py).
    tasks = generate_tasks(specs, PER_ENV, seed=3, max_steps=3, reports=reports,
                           conditional_fraction=0.0, refusal_fraction=0.0)
    return [t.to_json() for t in tasks], reports


def _replay(specs, task):
    runtime = EnvRuntime(next(s for s in specs if s.name == task["env"]))
    store = EpisodeStore({runtime.name: runtime})
    episode = store.create(task["env"], seed=task["initial_state"]["seed"])
    initial = episode.state_hash()
    results = []
    for call in task["gold_calls"]:
        outcome = execute_tool(runtime, episode.conn, call["name"], call["arguments"])
        assert outcome.ok, (task["task_id"], call, outcome.error)
        results.append(outcome.data)
    final = episode.state_hash()
    store.close_all()
    return initial, final, results


def test_every_env_gets_both_kinds_and_valid_shape(specs, generated):
    tasks, reports = generated
    for spec in specs:
        mine = [t for t in tasks if t["env"] == spec.name]
        assert {t["kind"] for t in mine} == {"read", "write"}, spec.name
        assert len(mine) >= PER_ENV - 2
        assert [t["task_id"] for t in mine] == [f"{spec.name}-{i:06d}" for i in range(len(mine))]
    assert any(t["steps"] > 1 for t in tasks)
    for t in tasks:
        assert t["format"] == "envhub.task/1"
        assert t["initial_state"] == {"seed": None}
        assert t["steps"] == len(t["gold_calls"]) >= 1
        assert t["gold_state_hash"].startswith("sha256:")
        assert isinstance(t["seed"], int)
        assert all(set(c) == {"name", "arguments"} for c in t["gold_calls"])
    assert {r.env for r in reports} == {s.name for s in specs}


def test_gold_calls_replay_to_the_gold_hash(specs, generated):
    tasks, _ = generated
    for task in tasks:
        initial, final, results = _replay(specs, task)
        assert final == task["gold_state_hash"], task["task_id"]
        # A task may ask several questions (and a change may come with one): each expected value
        # is in the result of a gold call.
        text = json.dumps(results, ensure_ascii=False)
        for value in task["expected_outputs"]:
            assert value in text, (task["task_id"], value)
        if task["kind"] == "read":
            assert final == initial, task["task_id"]
            assert task["expected_outputs"], task["task_id"]
        else:
            # no-op writes are dropped: every write task changes the state
            assert final != initial, task["task_id"]


def test_goals_name_no_tool_and_state_every_fact(specs, generated):
    tasks, _ = generated
    tools = {t.name for s in specs for t in s.tools}
    snake = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")
    for task in tasks:
        goal = task["goal"]
        assert not [name for name in tools if "_" in name and name in goal], goal
        facts = [str(v) for v in task["user_facts"].values()]
        for token in snake.findall(goal):
            assert any(token in f for f in facts), (token, goal)
        for value in task["user_facts"].values():
            assert (str(value) if not isinstance(value, bool) else ("yes" if value else "no")) in goal, (value, goal)


def test_no_duplicate_gold_calls(generated):
    tasks, _ = generated
    keys = [json.dumps([t["initial_state"], t["gold_calls"]], sort_keys=True) for t in tasks]
    assert len(keys) == len(set(keys))


def test_duplicates_are_counted_when_the_graph_is_small(specs):
    # Far more tasks than one small env has distinct walks: duplicates must be dropped, not kept.
    reports: list[EnvReport] = []
    tasks = [t.to_json() for t in generate_tasks(specs[:1], 60, seed=1, max_steps=1, reports=reports)]
    keys = [json.dumps(t["gold_calls"], sort_keys=True) for t in tasks]
    assert len(keys) == len(set(keys))
    assert reports[0].duplicates > 0


def test_same_seed_same_bytes_other_seed_other_tasks(specs, tmp_path):
    a = write_tasks(generate_tasks(specs, 6, seed=11), tmp_path / "a.jsonl").read_bytes()
    b = write_tasks(generate_tasks(specs, 6, seed=11), tmp_path / "b.jsonl").read_bytes()
    c = write_tasks(generate_tasks(specs, 6, seed=12), tmp_path / "c.jsonl").read_bytes()
    assert a == b
    assert a != c


def test_state_seeds_draw_from_generated_states(specs):
    tasks = [t.to_json() for t in generate_tasks(specs[:1], 8, seed=0, state_seeds=2)]
    seeds = {t["initial_state"]["seed"] for t in tasks}
    assert seeds <= {1, 2} and seeds
    for task in tasks:
        _, final, _ = _replay(specs, task)
        assert final == task["gold_state_hash"]


def test_read_fraction_extremes(specs):
    reads = generate_tasks(specs[:1], 5, read_fraction=1.0, conditional_fraction=0.0, refusal_fraction=0.0)
    writes = generate_tasks(specs[:1], 5, read_fraction=0.0, conditional_fraction=0.0, refusal_fraction=0.0)
    assert {t.kind for t in reads} == {"read"}
    assert {t.kind for t in writes} == {"write"}


def test_bad_arguments_are_refused(specs):
    with pytest.raises(ValueError, match="per_env"):
        generate_tasks(specs, 0)
    with pytest.raises(ValueError, match="read_fraction"):
        generate_tasks(specs, 1, read_fraction=1.5)


def test_goals_say_the_action_a_method_and_path_name_spells():
    """`post_ips_cancel_warmup_json` (a name made of the HTTP method and the path) cancels an ip's
    warmup: the goal says so, instead of "update ip ..."."""
    def rpc(name: str, path: str, props: dict, required: list[str]) -> ToolDef:
        return ToolDef(name=name, source="ips.yaml", api="Ips", method="post", path=path, format="openapi",
                       description=name, parameters={"type": "object", "properties": props, "required": required})

    ip = {"ip": {"type": "string", "description": "a dedicated ip"}}
    tools = [
        rpc("post_ips_list_json", "/ips/list.json", {}, []),
        rpc("post_ips_info_json", "/ips/info.json", ip, ["ip"]),
        rpc("post_ips_cancel_warmup_json", "/ips/cancel-warmup.json", ip, ["ip"]),
        rpc("post_ips_start_warmup_json", "/ips/start-warmup.json", ip, ["ip"]),
    ]
    spec = draft_envspec("ips", "ips", tools, seed=0).spec
    assert spec is not None
    tasks = [t.to_json() for t in generate_tasks([spec], 12, seed=0, max_steps=3, read_fraction=0.0,
                                                 conditional_fraction=0.0, refusal_fraction=0.0)]
    cancels = [t["goal"] for t in tasks if any(c["name"] == "post_ips_cancel_warmup_json" for c in t["gold_calls"])]
    assert cancels and all("cancel the warmup of" in goal for goal in cancels), cancels
    assert not any("update ip" in t["goal"] for t in tasks)

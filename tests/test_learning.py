"""The learning measurements: Wilson intervals, the held-out split, train/eval prompt identity,
the batched cache-reusing generation engine, and the demo's before/after table."""

from __future__ import annotations

import asyncio
import math

import pytest

from agent.intervals import Interval, clearly_better, wilson_interval
from contracts import TaskSpec, Trajectory
from hub.commands.demo import (
    DemoError,
    DemoPlan,
    collect_command,
    eval_command,
    learning_table,
    split_tasks,
    tasks_command,
    train_command,
)
from synth.tasks.generate import generate_tasks

# --------------------------------------------------------------------------- Wilson interval


def test_wilson_interval_matches_known_values():
    # Reference values (e.g. R's binom.confint(method = "wilson") / statsmodels proportion_confint).
    low, high = wilson_interval(5, 10).to_json()
    assert math.isclose(low, 0.2366, abs_tol=1e-4) and math.isclose(high, 0.7634, abs_tol=1e-4)
    low, high = wilson_interval(0, 40).to_json()
    assert low == 0.0 and math.isclose(high, 0.0876, abs_tol=1e-4)
    low, high = wilson_interval(40, 40).to_json()
    assert high == 1.0 and math.isclose(low, 0.9124, abs_tol=1e-4)
    low, high = wilson_interval(8, 40).to_json()
    assert math.isclose(low, 0.1050, abs_tol=1e-4) and math.isclose(high, 0.3476, abs_tol=1e-4)
    assert wilson_interval(0, 0) == Interval(0.0, 1.0)


def test_wilson_interval_narrows_with_more_trials_and_rejects_bad_counts():
    small, large = wilson_interval(3, 10), wilson_interval(30, 100)
    assert large.high - large.low < small.high - small.low
    assert small.low < 0.3 < small.high
    for successes, trials in ((-1, 5), (6, 5), (0, -1)):
        with pytest.raises(ValueError, match="successes"):
            wilson_interval(successes, trials)


def test_clearly_better_needs_non_overlapping_intervals():
    assert clearly_better((8, 40), (0, 40))
    assert not clearly_better((3, 40), (0, 40))  # higher, but the intervals overlap
    assert not clearly_better((0, 40), (8, 40))
    assert wilson_interval(3, 40).overlaps(wilson_interval(0, 40))


# --------------------------------------------------------------------------- the held-out split


def _task(env: str, index: int) -> TaskSpec:
    return TaskSpec.model_validate({"task_id": f"{env}-{index:06d}", "env": env, "goal": f"task {index} of {env}"})


def test_heldout_tasks_never_overlap_training_tasks():
    tasks = generate_tasks(None, per_env=6, seed=2)
    groups = split_tasks(tasks, heldout_every=3, target_envs=2)
    heldout = {t.task_id for t in groups["heldout"]}
    trained = {t.task_id for t in groups["general"] + groups["target"]}
    assert heldout and trained and not heldout & trained
    assert heldout | trained == {t.task_id for t in tasks}
    # Every environment contributes held-out tasks: the first of each and every third after it.
    for env in {t.env for t in tasks}:
        ids = sorted(t.task_id for t in tasks if t.env == env)
        assert {i for i in ids if i in heldout} == set(ids[::3])
    target_envs = {t.env for t in groups["target"]}
    assert len(target_envs) == 2 and not target_envs & {t.env for t in groups["general"]}


def test_split_is_fixed_by_ids_not_by_file_order():
    tasks = [_task(env, i) for env in "abc" for i in range(5)]
    forward = split_tasks(tasks, heldout_every=2, target_envs=1)
    backward = split_tasks(list(reversed(tasks)), heldout_every=2, target_envs=1)
    for name in forward:
        assert sorted(t.task_id for t in forward[name]) == sorted(t.task_id for t in backward[name])
    assert {t.env for t in forward["target"]} == {"c"}
    with pytest.raises(DemoError, match="heldout-every"):
        split_tasks(tasks, heldout_every=1, target_envs=1)
    with pytest.raises(DemoError, match="at least 4 environments"):
        split_tasks(tasks, heldout_every=2, target_envs=3)


# --------------------------------------------------------------------------- same prompt at train and eval


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from trainer.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", family="chatml")


def test_eval_prompt_is_the_training_prefix_up_to_each_assistant_turn(tiny):
    """What the evaluated model reads before each turn is exactly what training put before that turn."""
    from agent.policies.local_hf import LocalHFPolicy
    from contracts.tool_budget import BudgetSettings, tokenizer_counter
    from trainer.data import (
        budget_trajectory_tools,
        choose_training_template,
        encode_conversation,
        normalize_messages,
    )
    from trainer.model import load_tokenizer
    from trainer.testing import sample_trajectories

    tokenizer = load_tokenizer(tiny)
    template, _ = choose_training_template(tokenizer)
    tokenizer.chat_template = template
    policy = LocalHFPolicy(str(tiny), device="cpu", chat_template=template)
    settings = BudgetSettings(60)  # tight enough that the rule compacts or trims
    checked = 0
    for data in sample_trajectories():
        record = Trajectory.model_validate(data)
        chosen = budget_trajectory_tools(record, settings, tokenizer_counter(tokenizer))
        messages = normalize_messages(record.messages, "t")
        ids, mask = encode_conversation(tokenizer, messages, chosen.tools)
        for end, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = policy.prompt_ids([m.model_dump(exclude_none=True) for m in record.messages[:end]],
                                       chosen.tools)
            assert ids[:len(prompt)] == prompt
            assert mask[len(prompt)] == 1 and not any(mask[:len(prompt)][-3:])
            checked += 1
    assert checked >= 12


# --------------------------------------------------------------------------- the generation engine


def test_engine_decodes_a_batch_like_generate_and_reuses_each_cache(tiny):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.policies.local_engine import GenerationEngine

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny).eval()
    engine = GenerationEngine(model, tokenizer, max_new_tokens=10, stop_strings=())
    prompts = {key: tokenizer(text, add_special_tokens=False)["input_ids"] for key, text in
               (("a", "I want to cancel my order"), ("b", "Please look up the weather in Paris and book a table"),
                ("c", "0123"))}

    def reference(ids: list[int]) -> list[int]:
        out = model.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)[0, len(ids):].tolist()
        return [t for t in out if t not in engine.eos_ids][:10]

    results = engine.generate(list(prompts.items()))
    for (_key, ids), result in zip(prompts.items(), results, strict=True):
        assert result.token_ids == reference(ids)[:len(result.token_ids)] and result.token_ids
        assert result.computed_prompt_tokens == len(ids)
    # The next turn of "a" continues its conversation: only the new tokens are computed.
    follow = prompts["a"] + results[0].token_ids + tokenizer(" and refund", add_special_tokens=False)["input_ids"]
    again = engine.generate([("a", follow)])[0]
    assert again.computed_prompt_tokens < len(follow) - len(prompts["a"]) + 1
    assert again.token_ids == reference(follow)[:len(again.token_ids)]
    # A prompt that shares nothing with the cache is computed in full, and still right.
    fresh = engine.generate([("a", prompts["c"])])[0]
    assert fresh.computed_prompt_tokens == len(prompts["c"]) and fresh.token_ids == reference(prompts["c"])


def test_engine_stops_after_a_closing_tool_call(tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.policies.local_engine import GenerationEngine

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny).eval()
    engine = GenerationEngine(model, tokenizer, max_new_tokens=40, stop_strings=())
    first = engine.generate([("x", [5, 6, 7])])[0].token_ids
    # Whatever the model writes, a stop string that its first tokens spell ends the turn there.
    stop_text = tokenizer.decode(first[:2])
    stopping = GenerationEngine(model, tokenizer, max_new_tokens=40, stop_strings=(stop_text,))
    stopped = stopping.generate([("x", [5, 6, 7])])[0].token_ids
    assert stopped == first[:len(stopped)] and len(stopped) <= 2


def test_batcher_serves_concurrent_episodes_in_batches(tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.policies.local_engine import Batcher, GenerationEngine

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    model = AutoModelForCausalLM.from_pretrained(tiny).eval()
    engine = GenerationEngine(model, tokenizer, max_new_tokens=5, stop_strings=())
    batcher = Batcher(engine, max_batch=4)
    prompts = [[5 + i, 6, 7 + i] for i in range(6)]

    async def run() -> list:
        return await asyncio.gather(*(batcher.submit(f"k{i}", p) for i, p in enumerate(prompts)))

    results = asyncio.run(run())
    alone = [GenerationEngine(model, tokenizer, max_new_tokens=5, stop_strings=()).generate([("k", p)])[0]
             for p in prompts]
    assert [r.token_ids for r in results] == [r.token_ids for r in alone]
    assert batcher.batches == [4, 2]


# --------------------------------------------------------------------------- the demo's table


def test_demo_learning_table_has_a_row_per_run_and_a_verdict():
    rows = [
        {"label": "before (base model)", "episodes": 48, "passed": 0, "pass_rate": 0.0, "tool_calls": 0,
         "tool_call_validity": None},
        {"label": "after (model/adapter)", "episodes": 48, "passed": 14, "pass_rate": 14 / 48, "tool_calls": 90,
         "tool_call_validity": 0.8},
    ]
    table, verdict = learning_table(rows)
    assert [c.header for c in table.columns] == ["model", "episodes", "passed", "pass rate", "95% CI",
                                                 "tool calls", "valid calls"]
    assert table.row_count == 2
    assert verdict["learned"] is True and verdict["before"] == [0, 48] and verdict["after"] == [14, 48]
    rows[1]["passed"] = 2
    assert learning_table(rows)[1]["learned"] is False
    assert learning_table(rows[:1])[1] == {"learned": None}


# --------------------------------------------------------------------------- the benchmark's split and summary


def _bench_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "bench_learning.py"
    spec = importlib.util.spec_from_file_location("bench_learning", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_evaluates_only_tasks_and_environments_it_never_trains_on():
    bench = _bench_module()
    tasks = generate_tasks(None, per_env=6, seed=4)
    groups = bench.split_for_benchmark(tasks, never_seen_envs=1, target_envs=1, heldout_every=3)
    trained = groups["general"] + groups["target"]
    evaluated = groups["in-domain"] + groups["never-seen"]
    assert not {t.task_id for t in trained} & {t.task_id for t in evaluated}
    never_seen_envs = {t.env for t in groups["never-seen"]}
    assert len(never_seen_envs) == 1 and not never_seen_envs & {t.env for t in trained}
    # In-domain held-out tasks come from the target environments that phase 2 trains on.
    assert {t.env for t in groups["in-domain"]} == {t.env for t in groups["target"]}
    assert len(evaluated) + len(trained) == len(tasks)


def test_benchmark_summary_counts_passes_filters_and_call_validity():
    from trainer.testing import sample_trajectories

    bench = _bench_module()
    records = [Trajectory.model_validate(d) for d in sample_trajectories()]
    group_of = {r.task_id: ("in-domain" if i < 3 else "never-seen") for i, r in enumerate(records)}
    summary = bench.summarize(records, group_of)
    assert summary["in-domain"]["episodes"] == 3 and summary["never-seen"]["episodes"] == 3
    assert summary["in-domain"]["passed"] == 3 and summary["never-seen"]["passed"] == 2
    assert summary["never-seen"]["interval"] == wilson_interval(2, 3).to_json()
    assert summary["in-domain"]["filters"]["valid"] == 1.0 and summary["in-domain"]["filters"]["outputs"] is None
    assert summary["in-domain"]["tool_calls"] == 5 and summary["in-domain"]["tool_call_validity"] == 1.0


def _flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_demo_collects_trains_and_evaluates_under_one_setting(tmp_path):
    plan = DemoPlan(out=tmp_path)
    tasks = tasks_command(plan)
    collect = collect_command(plan, tmp_path / "t.jsonl", tmp_path / "traj.jsonl")
    train = train_command(plan, tmp_path / "model")
    evaluate = eval_command(plan, tmp_path / "heldout.jsonl", tmp_path / "base", tmp_path / "model")
    # the user states its ids the same way at collection and at evaluation
    assert _flag(collect, "--user-disclosure") == _flag(evaluate, "--user-disclosure") == plan.user_disclosure
    # the model is shown the same tools at training and at evaluation
    assert _flag(train, "--tool-budget") == _flag(evaluate, "--tool-budget") == str(plan.tool_budget)
    # one task setting for every task: the held-out ones are split off the same file
    assert _flag(tasks, "--max-steps") == str(plan.task_max_steps)
    assert _flag(tasks, "--out") == str(tmp_path / "tasks.jsonl")
    deep = DemoPlan(out=tmp_path, task_max_steps=4, user_disclosure="ask")
    assert "--refusal-fraction" not in tasks_command(deep) and _flag(tasks_command(deep), "--min-steps") == "2"
    assert _flag(eval_command(deep, tmp_path / "h", tmp_path / "b", tmp_path / "m"), "--user-disclosure") == "ask"
    # an evaluated episode gets a turn per gold call plus asking, answering and one retry
    assert _flag(evaluate, "--max-turns") == "4" and _flag(eval_command(deep, tmp_path / "h", tmp_path / "b",
                                                                         tmp_path / "m"), "--max-turns") == "7"
    # the benchmark's phase-1 run: one adapter, no base, its own folder
    phase1 = eval_command(plan, tmp_path / "h", tmp_path / "b", tmp_path / "m",
                          adapters=[tmp_path / "m" / "phase1" / "adapter"], out=tmp_path / "e1", base=False)
    assert "--no-base" in phase1 and _flag(phase1, "--out") == str(tmp_path / "e1")
    assert phase1.count("--adapter") == 1 and _flag(phase1, "--adapter").endswith("phase1/adapter")

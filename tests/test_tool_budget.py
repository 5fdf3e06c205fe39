"""The context budget (contracts/tool_budget.py): one rule for collection, training and evaluation.

The default collection's tools are ~2.5k SmolLM2 tokens per environment; before the budget,
`envhub train` with its defaults dropped every default-collection trajectory as over-long.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import Trajectory, read_jsonl
from contracts.tool_budget import (
    BudgetSettings,
    apply_tool_budget,
    compact_tool,
    count_tools,
    estimate_counter,
    first_user_text,
    rank_tools,
    render_tool,
    tokenizer_counter,
)
from hub.cli import build_parser
from synth.tasks.generate import generate_tasks, write_tasks
from tests.hubserver import running_hub
from trainer.testing import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """The default collection (`envhub synth`, 12 environments), `--per-env 4` tasks, collected with the scripted policy (no budget)."""
    root = tmp_path_factory.mktemp("budget")
    parser = build_parser()
    build = root / "build"
    synth = parser.parse_args(["synth", "--out", str(build)])
    assert synth.handler(synth) == 0
    tasks = generate_tasks(build, per_env=4, seed=0)
    tasks_file = root / "tasks.jsonl"
    write_tasks(tasks, tasks_file)
    out = root / "traj.jsonl"
    budgeted = root / "traj-budget.jsonl"
    with running_hub(build) as base_url:
        for path, extra in ((out, []), (budgeted, ["--tool-budget", "600"])):
            args = parser.parse_args(["collect", base_url, "--tasks", str(tasks_file), "--out", str(path),
                                      "--concurrency", "4", *extra])
            assert args.handler(args) == 0
    records = [line.record for line in read_jsonl(out, Trajectory)]
    return {"root": root, "build": build, "tasks": tasks, "tasks_file": tasks_file, "trajectories": out, "records": records,
            "budgeted": budgeted, "model": build_tiny_model(root / "tiny", "chatml")}


def _tools(record: Trajectory) -> list[dict]:
    return [tool.to_json() for tool in record.tools]


def _called(record: Trajectory) -> set[str]:
    return {call.function.name for m in record.messages for call in (m.tool_calls or [])}


def _tokenizer(model_dir: Path):
    from trainer.data import choose_training_template
    from trainer.model import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    tokenizer.chat_template = choose_training_template(tokenizer)[0]
    return tokenizer


# --------------------------------------------------------------------------- the rule


def test_the_default_collection_exceeds_the_budget_before_the_rule(collection):
    record = collection["records"][0]
    assert len(record.tools) >= 12 and record.tool_budget is None  # collected without a budget: the full list
    assert count_tools(_tools(record), estimate_counter()) > 2 * BudgetSettings().max_tokens


def test_the_rule_is_deterministic_in_another_process(collection):
    record = collection["records"][0]
    settings = BudgetSettings(max_tokens=500, seed=7)
    args = (_tools(record), first_user_text(record.messages), record.task_id, settings, estimate_counter())
    here = apply_tool_budget(*args)
    assert here.record.dropped, "the budget is tight enough to drop tools"
    assert apply_tool_budget(*args) == here
    script = (
        "import json, sys\n"
        "from contracts.tool_budget import BudgetSettings, apply_tool_budget, estimate_counter\n"
        "tools, goal, key = json.load(sys.stdin)\n"
        "r = apply_tool_budget(tools, goal, key, BudgetSettings(max_tokens=500, seed=7), estimate_counter())\n"
        "print(json.dumps({'tools': r.tools, 'record': r.record.to_json()}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(list(args[:3])), text=True,
                          capture_output=True, env=env, check=True)
    there = json.loads(done.stdout)
    assert there == {"tools": here.tools, "record": here.record.to_json()}
    # The seed only breaks ties: another seed may choose differently, but never ignores relevance.
    other = apply_tool_budget(*args[:3], BudgetSettings(max_tokens=500, seed=8), estimate_counter())
    assert other.record.seed == 8 and other.record.tokens_after <= 500


@pytest.mark.parametrize("budget", [200, 450, 900, 1600, 4000])
def test_the_budget_is_respected_with_the_real_tokenizer(collection, budget):
    tokenizer = _tokenizer(collection["model"])
    counter = tokenizer_counter(tokenizer)
    for record in collection["records"][::8]:
        chosen = apply_tool_budget(_tools(record), first_user_text(record.messages), record.task_id,
                                   BudgetSettings(budget), counter)
        # Counted afresh, without the counter's cache: what the tokenizer says the shown tools take.
        exact = sum(len(tokenizer(render_tool(t), add_special_tokens=False)["input_ids"]) for t in chosen.tools)
        assert exact == chosen.record.tokens_after <= budget
        assert chosen.record.kept == [t["function"]["name"] for t in chosen.tools]
        assert sorted(chosen.record.kept + chosen.record.dropped) == sorted(t.function.name for t in record.tools)
        # The prompt grows by the tools' tokens plus the template's fixed tool preamble, nothing more.
        def prompt(tools):
            return len(tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tools=tools or None,
                                                     tokenize=True, add_generation_prompt=True))
        one = chosen.tools[:1] or _tools(record)[:1]
        preamble = prompt(one) - prompt([]) - counter(render_tool(one[0]))
        if chosen.tools:
            assert prompt(chosen.tools) - prompt([]) <= budget + preamble


def test_compaction_keeps_what_a_call_needs(collection):
    for record in collection["records"][::4]:
        for tool in _tools(record):
            for level in (1, 2):
                small = compact_tool(tool, level)["function"]
                full = tool["function"]
                assert small["name"] == full["name"]
                params, small_params = full["parameters"], small["parameters"]
                assert small_params.get("required") == params.get("required")
                assert small_params.get("properties", {}).keys() == params.get("properties", {}).keys()
                for name, prop in params.get("properties", {}).items():
                    for key in ("type", "enum", "minimum", "maximum"):
                        assert small_params["properties"][name].get(key) == prop.get(key)
                    if level == 2:
                        assert "description" not in small_params["properties"][name]
                assert len(render_tool(small)) <= len(render_tool(tool))
            assert compact_tool(compact_tool(tool, 2), 2) == compact_tool(tool, 2)  # idempotent


def test_everything_is_kept_when_compaction_fits_and_the_goals_tools_rank_first(collection):
    counter = estimate_counter()
    for record in collection["records"]:
        tools, goal = _tools(record), first_user_text(record.messages)
        fits = apply_tool_budget(tools, goal, record.task_id, BudgetSettings(2000), counter)
        assert not fits.record.dropped and fits.record.compaction >= 1 and _called(record) <= fits.names
        tight = apply_tool_budget(tools, goal, record.task_id, BudgetSettings(400), counter)
        top = tools[rank_tools(tools, goal, record.task_id, 0)[0]]["function"]["name"]
        assert top in tight.names and tight.record.dropped
    tools = _tools(collection["records"][0])
    names = [t["function"]["name"] for t in tools]
    for name in names:
        # A goal in the tool's own words ranks that tool first, whatever the seed.
        goal = "Please " + name.replace("_", " ") + " for me."
        for seed in range(3):
            assert names[rank_tools(tools, goal, "k", seed)[0]] == name


def test_with_no_budget_every_tool_is_shown_unchanged(collection):
    record = collection["records"][0]
    chosen = apply_tool_budget(_tools(record), "", "k", BudgetSettings.from_flag(0), estimate_counter())
    assert chosen.tools == _tools(record) and chosen.record.strategy == "off" and not chosen.record.dropped
    with pytest.raises(ValueError, match="strategy"):
        BudgetSettings(100, "greedy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="--tool-budget"):
        BudgetSettings.from_flag(-1)


# --------------------------------------------------------------------------- recorded, and alike at train and eval


def test_a_budgeted_collection_records_the_choice_and_the_trainer_agrees(collection):
    from trainer.data import DataStats, budget_trajectory_tools, build_documents

    records = [line.record for line in read_jsonl(collection["budgeted"], Trajectory)]
    assert len(records) == len(collection["records"])
    for record in records:
        budget = record.tool_budget
        assert budget is not None and budget.max_tokens == 600 and budget.counter == "estimate:chars/3"
        assert budget.kept == [t.function.name for t in record.tools]
        assert budget.tokens_after <= 600 < budget.tokens_before
        assert count_tools(_tools(record), estimate_counter()) == budget.tokens_after
        # Re-applying the recorded settings to the recorded tools changes nothing.
        again = budget_trajectory_tools(record, budget.settings(), estimate_counter())
        assert again.tools == _tools(record)
    # The episode offered only the kept tools: a passed trajectory calls nothing else.
    assert all(_called(r) <= set(r.tool_budget.kept) for r in records if r.passed)
    stats = DataStats()
    tokenizer = _tokenizer(collection["model"])
    build_documents(tokenizer, [("x", r) for r in records], 1 << 16, stats=stats,
                    tool_budget=BudgetSettings(600), counter=estimate_counter())
    assert stats.tool_budget_mismatch == 0 and stats.tool_tokens_after == stats.tool_tokens_before


def test_train_and_eval_choose_the_same_tools(collection):
    from agent.policies.local_hf import LocalHFPolicy
    from agent.rollout import budget_episode_tools
    from trainer.data import budget_trajectory_tools
    from trainer.model import load_tokenizer

    policy = LocalHFPolicy(str(collection["model"]), device="cpu")
    trainer_counter = tokenizer_counter(load_tokenizer(collection["model"]))
    tasks = {task.task_id: task for task in collection["tasks"]}
    settings = BudgetSettings(700, seed=3)
    trimmed = 0
    for record in collection["records"]:
        # Eval: the environment's tools and the opening the user sends; train: the trajectory.
        at_eval = budget_episode_tools(_tools(record), record.messages[1].content, tasks[record.task_id], settings,
                                       policy)
        at_train = budget_trajectory_tools(record, settings, trainer_counter)
        assert at_eval.tools == at_train.tools
        assert at_eval.record == at_train.record
        trimmed += bool(at_train.record.dropped)
    assert trimmed > 0  # the comparison covered lists the rule had to cut


@pytest.mark.slow
def test_eval_shows_the_model_the_tools_it_was_trained_with(collection, tmp_path):
    from trainer.data import budget_trajectory_tools
    from trainer.model import load_tokenizer

    train_out = tmp_path / "train"
    parser = build_parser()
    args = parser.parse_args(["train", "--phase1", str(collection["trajectories"]), "--model",
                              str(collection["model"]), "--out", str(train_out), "--max-steps", "1",
                              "--tool-budget", "800", "--tool-budget-seed", "5", "--no-progress"])
    assert args.handler(args) == 0
    adapter = train_out / "adapter"
    assert json.loads((adapter / "tool_budget.json").read_text()) == {
        "max_tokens": 800, "strategy": "compact-rank", "seed": 5}
    heldout = tmp_path / "heldout.jsonl"
    chosen_tasks = collection["tasks"][:3]
    write_tasks(chosen_tasks, heldout)
    with running_hub(collection["build"]) as base_url:
        args = parser.parse_args(["eval", base_url, "--tasks", str(heldout), "--model", str(collection["model"]),
                                  "--adapter", str(adapter), "--no-base", "--out", str(tmp_path / "eval"),
                                  "--max-turns", "1", "--max-tokens", "4"])
        assert args.handler(args) == 0
    evaluated = {line.record.task_id: line.record for line in read_jsonl(tmp_path / "eval" / "adapter-0.jsonl",
                                                                        Trajectory)}
    counter = tokenizer_counter(load_tokenizer(collection["model"]))
    trained = {r.task_id: r for r in collection["records"]}
    for task in chosen_tasks:
        shown = evaluated[task.task_id]
        assert shown.tool_budget is not None and shown.tool_budget.settings() == BudgetSettings(800, seed=5)
        expected = budget_trajectory_tools(trained[task.task_id], BudgetSettings(800, seed=5), counter)
        assert _tools(shown) == expected.tools


# --------------------------------------------------------------------------- `envhub train` defaults


@pytest.mark.slow
def test_envhub_train_defaults_accept_the_default_collection(collection, tmp_path):
    parser = build_parser()
    out = tmp_path / "defaults"
    args = parser.parse_args(["train", "--phase1", str(collection["trajectories"]), "--model",
                              str(collection["model"]), "--out", str(out), "--no-progress"])
    assert args.handler(args) == 0
    data = json.loads((out / "train_report.json").read_text())["phases"][0]["data"]
    assert data["tool_budget"]["max_tokens"] == 1024 and data["tool_budget"]["counter"].startswith("tokenizer:")
    assert data["documents"] > 0 and data["tool_tokens_after"] < data["tool_tokens_before"]
    # Nothing is dropped silently: every trajectory read is trained on, skipped or dropped with a reason.
    assert data["read"] == data["documents"] + data["skipped_failed"] + sum(data["drop_reasons"].values())
    assert data["dropped_tool_budget"] + data["dropped_overlong"] + data["dropped_no_assistant"] == sum(
        data["drop_reasons"].values())
    # Without the budget the same defaults keep nothing: the conversations are all tools.
    off = parser.parse_args(["train", "--phase1", str(collection["trajectories"]), "--model",
                             str(collection["model"]), "--out", str(tmp_path / "off"), "--no-progress",
                             "--tool-budget", "0"])
    assert off.handler(off) == 1


def test_eval_takes_the_adapters_budget_unless_told_otherwise(tmp_path):
    from agent.evaluate import eval_tool_budget

    first, second, broken = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder, budget in ((first, 800), (second, 600)):
        folder.mkdir()
        (folder / "tool_budget.json").write_text(json.dumps({"max_tokens": budget, "strategy": "compact-rank",
                                                             "seed": 2}))
    assert eval_tool_budget([str(first)], None, None) == BudgetSettings(800, seed=2)
    assert eval_tool_budget([str(first)], 300, None) == BudgetSettings(300)
    assert eval_tool_budget([], None, None) == BudgetSettings(BudgetSettings().max_tokens)
    assert eval_tool_budget([], 0, None).strategy == "off"
    with pytest.raises(ValueError, match="different tool budgets"):
        eval_tool_budget([str(first), str(second)], None, None)
    assert eval_tool_budget([str(first), str(second)], 500, 1) == BudgetSettings(500, seed=1)
    broken.mkdir()
    (broken / "tool_budget.json").write_text('{"max_tokens": -4}')
    with pytest.raises(ValueError, match="tool_budget.json"):
        eval_tool_budget([str(broken)], None, None)


def test_settings_survive_travel_as_plain_data():
    import dataclasses

    settings = BudgetSettings(700, seed=4)
    assert BudgetSettings.coerce(dataclasses.asdict(settings)) == settings
    assert BudgetSettings.coerce(settings.to_json()) == settings
    assert BudgetSettings.coerce(None) is None and BudgetSettings.coerce(settings) is settings

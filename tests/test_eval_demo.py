"""`envhub eval` (before vs after through MCP) and the demo's task split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from agent.policies.local_hf import adapter_chat_template
from hub.cli import build_parser
from hub.commands.demo import DemoError, DemoPlan, _split_tasks
from synth.tasks.generate import generate_tasks, write_tasks
from tests.hubserver import running_hub
from trainer.testing import build_tiny_model

TRAINING_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] or '' }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tiny_adapter(model_dir: Path, out: Path) -> Path:
    """A randomly initialised LoRA adapter saved with a training chat template, as the trainer does."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                  init_lora_weights=False))
    peft_model.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = TRAINING_TEMPLATE
    tokenizer.save_pretrained(out)
    return out


@pytest.mark.slow
def test_eval_runs_base_and_adapter_through_mcp_and_reports(tmp_path):
    model_dir = build_tiny_model(tmp_path / "model", family="chatml")
    adapter = _tiny_adapter(model_dir, tmp_path / "run" / "adapter")
    assert adapter_chat_template(str(adapter)) == TRAINING_TEMPLATE
    tasks = generate_tasks(None, per_env=1, seed=3)[:2]
    tasks_file = tmp_path / "heldout.jsonl"
    write_tasks(tasks, tasks_file)

    with running_hub() as base_url:
        parser = build_parser()
        args = parser.parse_args([
            "eval", base_url, "--tasks", str(tasks_file), "--model", str(model_dir),
            "--adapter", str(adapter), "--out", str(tmp_path / "eval"),
            "--max-turns", "2", "--max-tokens", "8", "--concurrency", "2",
        ])
        assert args.handler(args) == 0

    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    labels = [row["label"] for row in report["rows"]]
    assert labels[0].startswith("before") and labels[1].startswith("after")
    for row in report["rows"]:
        assert row["episodes"] == len(tasks)
        assert row["errors"] == 0
        calls = sum(len(m.get("tool_calls") or []) for line in Path(row["trajectories"]).read_text().splitlines()
                    for m in json.loads(line)["messages"])
        assert row["tool_calls"] == calls
        assert 0.0 <= row["pass_rate"] <= 1.0
        trajectories = [json.loads(line) for line in Path(row["trajectories"]).read_text().splitlines()]
        assert sorted(t["task_id"] for t in trajectories) == sorted(t.task_id for t in tasks)
        assert all(t["messages"][0]["role"] in {"system", "user"} for t in trajectories)
    assert (tmp_path / "eval" / "pass_rates.png").stat().st_size > 1000


def test_eval_rejects_a_folder_without_adapter_config(tmp_path, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    tasks_file = tmp_path / "t.jsonl"
    write_tasks(generate_tasks(None, per_env=1, seed=1)[:1], tasks_file)
    args = build_parser().parse_args([
        "eval", "http://127.0.0.1:9", "--tasks", str(tasks_file), "--model", str(model_dir),
        "--adapter", str(tmp_path), "--out", str(tmp_path / "eval"),
    ])
    assert args.handler(args) == 2
    assert "adapter_config.json" in capsys.readouterr().err


def _task(env: str, index: int, steps: int = 1) -> dict:
    return {"task_id": f"{env}-{index:06d}", "env": env, "goal": f"task {index} of {env}", "steps": steps}


def test_demo_split_holds_out_every_nth_task_of_each_environment(tmp_path):
    plan = DemoPlan(out=tmp_path, heldout_every=2, target_envs=2)
    envs = ["a", "b", "c", "d", "e", "f"]
    tasks = [_task(env, i, steps=1 + i % 3) for env in envs for i in range(4)]
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))

    paths = _split_tasks(plan)

    def read(group: str) -> list[dict]:
        return [json.loads(line) for line in paths[group].read_text().splitlines()]

    general, target, heldout = read("general"), read("target"), read("heldout")
    assert {t["env"] for t in general} == {"a", "b", "c", "d"}
    assert {t["env"] for t in target} == {"e", "f"}
    assert {t["task_id"] for t in heldout} == {f"{env}-{i:06d}" for env in envs for i in (0, 2)}
    assert not {t["task_id"] for t in heldout} & {t["task_id"] for t in general + target}
    assert len(general) == 8 and len(target) == 4 and len(heldout) == 12


def test_demo_split_needs_enough_environments(tmp_path):
    plan = DemoPlan(out=tmp_path)
    (tmp_path / "tasks.jsonl").write_text(json.dumps(_task("only", 0)) + "\n")
    with pytest.raises(DemoError, match="at least 3 environments"):
        _split_tasks(plan)


def test_every_subcommand_is_registered():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"synth", "serve", "stdio", "tasks", "collect", "eval", "train", "demo"} <= set(sub.choices)

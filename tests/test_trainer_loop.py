"""Training on tiny random models: exact packing, two phases, resume, export, CLI and DDP on CPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from contracts import Trajectory
from trainer import attention as packed_attention
from trainer import data
from trainer.config import TrainConfig
from trainer.loop import Reporter, train
from trainer.model import choose_runtime
from trainer.objective import AssistantTokenLoss
from trainer.packing import BinStream, pack_documents
from trainer.testing import build_tiny_model, sample_trajectories

REPO = Path(__file__).resolve().parents[1]


def _write(path: Path, trajectories: list[dict]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in trajectories), encoding="utf-8")
    return path


def _target_domain() -> list[dict]:
    trajectories = sample_trajectories()
    for t in trajectories:
        t["env"] = "shipping"
        t["messages"][1]["content"] = t["messages"][1]["content"].replace("cancel my order", "track parcel")
    return trajectories


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    model = build_tiny_model(root / "tiny-chatml", "chatml")
    phase1 = _write(root / "general.jsonl", sample_trajectories())
    phase2 = _write(root / "target.jsonl", _target_domain())
    return {"root": root, "model": model, "phase1": phase1, "phase2": phase2}


def _config(ws, out: str, **overrides) -> TrainConfig:
    settings = dict(out=ws["root"] / out, phase1=[ws["phase1"]], phase2=[ws["phase2"]], model=str(ws["model"]),
                    max_steps=4, max_seq_len=1024, batch_tokens=1024, lr=5e-3, lora_r=4, lora_alpha=8,
                    lora_dropout=0.0, progress=False, seed=3)
    settings.update(overrides)
    return TrainConfig(**settings)


def _adapter_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path / "adapter_model.safetensors")


@pytest.mark.parametrize("attn", ["sdpa", packed_attention.NAME])
@pytest.mark.parametrize("family", ["chatml", "llama3"])
def test_packed_loss_equals_unpacked_loss(tmp_path, family, attn):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_model(tmp_path / family, family, num_layers=2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = data.choose_training_template(tokenizer)[0]
    packed_attention.register()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=attn).eval()
    objective = AssistantTokenLoss(model)
    documents = data.build_documents(
        tokenizer, [(f"f:{i}", Trajectory.model_validate(r)) for i, r in enumerate(sample_trajectories())], 4096)
    with torch.no_grad():
        one_by_one = sum(objective(**pack_documents(documents, [i]).to_tensors("cpu")) for i in range(4))
        packed = objective(**pack_documents(documents, [0, 1, 2, 3]).to_tensors("cpu"))
        batch = pack_documents(documents, [0, 1, 2, 3])
        batch.position_ids = list(range(len(batch.input_ids)))  # one long sequence: attends across documents
        leaky = objective(**batch.to_tensors("cpu"))
    n_targets = sum(d.n_target_tokens for d in documents[:4])
    assert abs(packed.item() - one_by_one.item()) / n_targets < 1e-4
    # The check above can fail: letting documents see each other moves the loss far more than rounding does.
    assert abs(leaky.item() - one_by_one.item()) > 1e-2
    assert abs(leaky.item() - one_by_one.item()) > 50 * abs(packed.item() - one_by_one.item())


def test_per_document_attention_matches_stock_sdpa_in_loss_and_gradients(tmp_path):
    """The default CPU attention (one SDPA per packed document) against transformers' masked SDPA."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_model(tmp_path / "m", "chatml", num_layers=2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = data.choose_training_template(tokenizer)[0]
    documents = data.build_documents(
        tokenizer, [(f"f:{i}", Trajectory.model_validate(r)) for i, r in enumerate(sample_trajectories())], 4096)
    packed_attention.register()
    results = {}
    for attn in ("sdpa", packed_attention.NAME):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=attn)
        loss = AssistantTokenLoss(model)(**pack_documents(documents, [0, 1, 2, 3]).to_tensors("cpu"))
        loss.backward()
        results[attn] = (loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    (stock_loss, stock_grads), (ours_loss, our_grads) = results["sdpa"], results[packed_attention.NAME]
    assert abs(stock_loss - ours_loss) / abs(stock_loss) < 1e-5
    assert stock_grads.keys() == our_grads.keys() and len(our_grads) > 10
    for name, grad in stock_grads.items():
        assert torch.allclose(grad, our_grads[name], rtol=1e-3, atol=1e-5), name
    assert choose_runtime("cpu").attn_implementation == packed_attention.NAME


def test_two_phases_write_outputs_and_phase2_continues_phase1_adapter(workspace):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = _config(workspace, "two-phase")
    report = train(cfg)
    out = cfg.out
    for name in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "phase1/adapter/adapter_config.json",
                 "metrics.jsonl", "loss.png", "train_report.json"):
        assert (out / name).is_file(), name
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["phase1"] * 4 + ["phase2"] * 4
    assert [r["step"] for r in records] == list(range(1, 9))
    assert records[0]["lr"] < cfg.lr or records[0]["lr"] == pytest.approx(cfg.lr)
    assert records[-1]["lr"] == pytest.approx(cfg.lr * cfg.min_lr_ratio)
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert report["phases"][0]["final_loss"] < records[0]["loss"]  # it learns

    # Phase 2's first loss is the loss of the phase-1 adapter on phase 2's first batch, not the base model's.
    tokenizer = AutoTokenizer.from_pretrained(out / "phase1" / "adapter")
    documents = data.build_documents(tokenizer, data.read_trajectories([workspace["phase2"]]), cfg.max_seq_len)
    batch = BinStream(documents, cfg.batch_tokens, seed=cfg.seed * 1000 + 1).batch(0).to_tensors("cpu")
    base = AutoModelForCausalLM.from_pretrained(workspace["model"], dtype=torch.float32)
    with torch.no_grad():
        base_loss = AssistantTokenLoss(base)(**batch).item() / batch["targets"].ne(-100).sum().item()
        phase1 = PeftModel.from_pretrained(base, out / "phase1" / "adapter")
        phase1_loss = AssistantTokenLoss(phase1)(**batch).item() / batch["targets"].ne(-100).sum().item()
    assert records[4]["loss"] == pytest.approx(phase1_loss, abs=1e-5)
    assert abs(phase1_loss - base_loss) > 1e-3
    # And the final adapter moved on from phase 1.
    final, first = _adapter_tensors(out / "adapter"), _adapter_tensors(out / "phase1" / "adapter")
    assert final.keys() == first.keys()
    assert any(not torch.equal(final[k], first[k]) for k in final)


class _Crash(Exception):
    pass


class _CrashAfter(Reporter):
    def __init__(self, step: int):
        self.at = step

    def step(self, record):
        if record["step"] == self.at:
            raise _Crash


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run(workspace):
    common = dict(max_steps=4, lora_dropout=0.1, grad_accum=2, batch_tokens=1024, replay=0.3)
    straight = _config(workspace, "straight", **common)
    train(straight)
    interrupted = _config(workspace, "interrupted", save_every=3, **common)
    with pytest.raises(_Crash):
        train(interrupted, _CrashAfter(5))  # first step of phase 2; latest checkpoint: phase 1's end (step 4)
    assert (interrupted.out / "checkpoints" / "step-0000004").is_dir()
    interrupted.resume = True
    with pytest.raises(_Crash):
        train(interrupted, _CrashAfter(7))  # resumes at phase 2's start, checkpoints step 6, dies after step 7
    assert (interrupted.out / "checkpoints" / "step-0000006").is_dir()
    assert not (interrupted.out / "adapter").exists()
    report = train(interrupted)
    assert report["phases"][0]["steps"] == 4 and report["phases"][0]["final_loss"] > 0
    assert report["phases"][1]["resumed_at_step"] == 2
    expected, got = _adapter_tensors(straight.out / "adapter"), _adapter_tensors(interrupted.out / "adapter")
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0)
    lines = (interrupted.out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 9))


def test_resume_refuses_changed_settings(workspace):
    cfg = _config(workspace, "changed", max_steps=2, save_every=1)
    train(cfg)
    changed = _config(workspace, "changed", max_steps=2, lr=1e-3, resume=True)
    with pytest.raises(ValueError, match=r"different settings \(lr: checkpoint 0.005 vs now 0.001\)"):
        train(changed)


@pytest.mark.slow
def test_adapter_reloads_generates_and_matches_merged_model(workspace):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = _config(workspace, "export", phase2=[], max_steps=3, merge=True)
    train(cfg)
    tokenizer = AutoTokenizer.from_pretrained(cfg.out / "adapter")
    assert data.has_generation_markers(tokenizer.chat_template)
    base = AutoModelForCausalLM.from_pretrained(workspace["model"], dtype=torch.float32)
    model = PeftModel.from_pretrained(base, cfg.out / "adapter").eval()
    record = sample_trajectories()[0]
    prompt = tokenizer.apply_chat_template(data.normalize_messages(Trajectory.model_validate(record).messages[:2], "t"),
                                           tools=record["tools"],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        generated = model.generate(**prompt, max_new_tokens=6, do_sample=False)
        adapted_logits = model(**prompt).logits
        with model.disable_adapter():
            base_logits = model(**prompt).logits
        merged = AutoModelForCausalLM.from_pretrained(cfg.out / "merged", dtype=torch.float32).eval()
        merged_logits = merged(**prompt).logits
    assert generated.shape[1] > prompt["input_ids"].shape[1]
    assert not torch.allclose(adapted_logits, base_logits, atol=1e-4)
    torch.testing.assert_close(merged_logits, adapted_logits, atol=1e-4, rtol=1e-4)
    config = json.loads((cfg.out / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4
    # all-linear is written as the equivalent short names, the form vLLM's --lora-modules expects.
    assert config["target_modules"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert config["base_model_name_or_path"] == str(workspace["model"])


def test_cli_end_to_end_two_phases(workspace):
    import argparse

    from trainer import cli

    parser = argparse.ArgumentParser(prog="envhub")
    cli.register(parser.add_subparsers(dest="command"))
    out = workspace["root"] / "cli"
    args = parser.parse_args([
        "train", "--phase1", str(workspace["phase1"]), "--phase2", str(workspace["phase2"]),
        "--model", str(workspace["model"]), "--out", str(out), "--max-steps", "2", "--max-seq-len", "1024",
        "--batch-tokens", "1024", "--lora-r", "4", "--target-modules", "q_proj,v_proj", "--no-progress",
    ])
    assert args.handler(args) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 4
    assert (out / "loss.png").is_file() and (out / "adapter" / "adapter_model.safetensors").is_file()
    report = json.loads((out / "train_report.json").read_text())
    assert report["config"]["target_modules"] == ["q_proj", "v_proj"]
    assert sorted(json.loads((out / "adapter" / "adapter_config.json").read_text())["target_modules"]) == [
        "q_proj", "v_proj"]
    missing = parser.parse_args(["train", "--phase1", str(out / "nope.jsonl"), "--out", str(out / "x"),
                                 "--model", str(workspace["model"]), "--no-progress"])
    assert missing.handler(missing) == 2


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_single_process_grad_accum(workspace):
    out = workspace["root"] / "ddp"
    flags = ["--phase1", str(workspace["phase1"]), "--phase2", str(workspace["phase2"]), "--model",
             str(workspace["model"]), "--max-steps", "2", "--max-seq-len", "1024", "--batch-tokens", "1024",
             "--lora-r", "4", "--lora-alpha", "8", "--lora-dropout", "0", "--lr", "5e-3", "--seed", "3",
             "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "trainer.ddp_entry", *flags, "--out", str(out)]
    # Own session, so a hang can be ended together with both workers.
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, stderr[-3000:]
    report = json.loads((out / "train_report.json").read_text())
    assert report["world_size"] == 2
    single = _config(workspace, "ddp-reference", max_steps=2, grad_accum=2)
    train(single)
    expected, got = _adapter_tensors(single.out / "adapter"), _adapter_tensors(out / "adapter")
    for key in expected:
        assert torch.isfinite(got[key]).all()
        torch.testing.assert_close(got[key], expected[key], atol=1e-5, rtol=1e-4)

"""The two-phase LoRA training loop, top to bottom.

    data   : trajectories -> documents (assistant-only targets) -> best-fit bins per phase
    model  : base model (bf16 on GPU, fp32 on CPU) + one LoRA adapter shared by both phases
    phase 1: general-domain data, warmup + cosine schedule, fresh AdamW
    phase 2: target-domain data (+ replayed phase-1 documents), the SAME adapter, new schedule
    output : OUT/phase1/adapter, OUT/adapter, OUT/metrics.jsonl, OUT/loss.png, OUT/train_report.json

Distributed: launched under torchrun (WORLD_SIZE > 1) every rank builds the same bins, takes every
world-size-th micro-batch of each step, DDP all-reduces the LoRA gradients, and only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainer import checkpoint
from trainer.config import TrainConfig
from trainer.data import (
    DataStats,
    Document,
    build_documents,
    choose_training_template,
    read_trajectories,
    replay_sample,
)
from trainer.export import save_adapter, save_merged
from trainer.metrics import MetricsLog, plot_loss
from trainer.model import (
    attach_lora,
    choose_runtime,
    count_parameters,
    load_base_model,
    load_tokenizer,
    resolve_model_dir,
)
from trainer.objective import AssistantTokenLoss
from trainer.packing import BinStream


class Reporter:
    """Receives progress events; the CLI draws a rich progress bar from them. Default: silent."""

    def phase_start(self, phase: str, total_steps: int, start_step: int) -> None: ...

    def step(self, record: dict[str, Any]) -> None: ...

    def phase_end(self, phase: str) -> None: ...

    def message(self, text: str) -> None: ...


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Distributed:
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))

    def barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()


@dataclass
class Phase:
    name: str
    documents: list[Document]
    stats: dict[str, Any] = field(default_factory=dict)


def lr_at(step: int, total_steps: int, peak: float, warmup_ratio: float, min_ratio: float) -> float:
    """Linear warmup to `peak`, then cosine decay to `min_ratio * peak` by the last step."""
    warmup = math.ceil(warmup_ratio * total_steps)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup - 1)
    return peak * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def phase_steps(cfg: TrainConfig, n_bins: int, per_step: int) -> int:
    if cfg.max_steps is not None:
        return cfg.max_steps
    return max(1, math.ceil(cfg.epochs * n_bins / per_step))


def train(cfg: TrainConfig, reporter: Reporter | None = None) -> dict[str, Any]:
    cfg.validate()
    reporter = reporter or Reporter()
    dist = Distributed.from_env()
    runtime = choose_runtime(cfg.device, cfg.attn_implementation, dist.local_rank)
    if dist.world_size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if runtime.device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
    try:
        return _train(cfg, reporter, dist, runtime)
    finally:
        if dist.world_size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train(cfg: TrainConfig, reporter: Reporter, dist: Distributed, runtime) -> dict[str, Any]:
    started = time.perf_counter()
    out = Path(cfg.out)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    # ---- model folder and tokenizer (rank 0 converts SmolLM2 once; the others wait and reuse it)
    if dist.is_main:
        model_dir = resolve_model_dir(cfg.model)
    dist.barrier()
    model_dir = resolve_model_dir(cfg.model)
    tokenizer = load_tokenizer(model_dir)
    template, template_name = choose_training_template(tokenizer)
    tokenizer.chat_template = template
    budget_json = cfg.budget_settings().to_json()  # saved beside every adapter for `envhub eval`

    # ---- data: documents per phase; phase 2 mixes in replayed phase-1 documents
    phases: list[Phase] = []
    docs1: list[Document] = []
    for name, files in (("phase1", cfg.phase1), ("phase2", cfg.phase2)):
        if not files:
            continue
        stats = DataStats()
        records = read_trajectories(files, cfg.include_failed, stats)
        documents = build_documents(tokenizer, records, cfg.max_seq_len, cfg.overlong, stats,
                                    tool_budget=cfg.budget_settings())
        if not documents:
            raise ValueError(f"{name}: no usable trajectories in {', '.join(map(str, files))} ({stats.to_json()})")
        report_stats = stats.to_json()
        if name == "phase1":
            docs1 = documents
        elif cfg.replay > 0:
            replayed = replay_sample(docs1, len(documents), cfg.replay, cfg.seed)
            report_stats["replayed_from_phase1"] = len(replayed)
            documents = documents + replayed
        phases.append(Phase(name, documents, report_stats))

    # ---- model + LoRA (+ DDP over the objective so the forward and the gradient sync stay together)
    base = load_base_model(model_dir, runtime)
    model = attach_lora(base, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.target_modules)
    trainable, total = count_parameters(model)
    objective: torch.nn.Module = AssistantTokenLoss(model)
    if dist.world_size > 1:
        device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        objective = torch.nn.parallel.DistributedDataParallel(objective, device_ids=device_ids)
    model.train()

    # ---- resume: weights + RNG now, optimizer when its phase starts
    resume_path, resume_state = _find_resume_point(cfg, out)
    if resume_path is not None:
        checkpoint.restore_weights(resume_path, model)
        checkpoint.restore_rng(resume_path)
        reporter.message(f"resuming from {resume_path} (global step {resume_state['global_step']})")
    metrics = MetricsLog(out / "metrics.jsonl", resume_state["global_step"] if resume_state else None) \
        if dist.is_main else None

    per_step = cfg.grad_accum * dist.world_size
    global_step = resume_state["global_step"] if resume_state else 0
    phase_reports = []
    for phase_index, phase in enumerate(phases):
        stream = BinStream(phase.documents, cfg.batch_tokens, seed=cfg.seed * 1000 + phase_index)
        total_steps = phase_steps(cfg, len(stream), per_step)
        start_step = 0
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                      weight_decay=cfg.weight_decay, betas=(0.9, 0.999), eps=1e-8)
        if resume_state is not None:
            if phase_index < resume_state["phase_index"]:
                phase_reports.append(resume_state["phase_reports"][phase_index])
                continue
            if phase_index == resume_state["phase_index"]:
                start_step = resume_state["phase_step"]
                checkpoint.restore_optimizer(resume_path, optimizer)
                if start_step >= total_steps and len(resume_state["phase_reports"]) > phase_index:
                    # The checkpoint was written at this phase's end: keep its report, redo only the outputs.
                    phase_reports.append(resume_state["phase_reports"][phase_index])
                    if dist.is_main and phase.name == "phase1":
                        save_adapter(model, tokenizer, out / "phase1" / "adapter", str(model_dir), budget_json)
                    continue
        reporter.phase_start(phase.name, total_steps, start_step)
        phase_started, phase_tokens, last_loss = time.perf_counter(), 0, float("nan")

        for step in range(start_step, total_steps):
            step_started = time.perf_counter()
            lr = lr_at(step, total_steps, cfg.lr, cfg.warmup_ratio, cfg.min_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr
            positions = range(step * per_step, (step + 1) * per_step)
            # The exact normaliser: assistant tokens in the whole step, over every rank's micro-batches.
            step_targets = sum(stream.target_tokens(p) for p in positions)
            step_tokens = sum(stream.tokens(p) for p in positions)
            loss_sum = torch.zeros((), device=runtime.device)
            for micro in range(cfg.grad_accum):
                batch = stream.batch(positions[micro * dist.world_size + dist.rank]).to_tensors(runtime.device)
                last_micro = micro == cfg.grad_accum - 1
                sync = contextlib.nullcontext() if dist.world_size == 1 or last_micro else objective.no_sync()
                with sync, _autocast(runtime):
                    token_loss_sum = objective(**batch)
                    (token_loss_sum * (dist.world_size / step_targets)).backward()
                loss_sum += token_loss_sum.detach().float()
            if dist.world_size > 1:
                torch.distributed.all_reduce(loss_sum)
            grad_norm = torch.nn.utils.clip_grad_norm_(
                [p for p in model.parameters() if p.requires_grad], cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            global_step += 1
            last_loss = loss_sum.item() / step_targets
            seconds = time.perf_counter() - step_started
            phase_tokens += step_tokens
            record = {"step": global_step, "phase": phase.name, "phase_step": step + 1, "loss": last_loss,
                      "lr": lr, "grad_norm": float(grad_norm), "tokens": step_tokens,
                      "assistant_tokens": step_targets, "tokens_per_s": step_tokens / max(seconds, 1e-9),
                      "seconds": seconds}
            if not math.isfinite(last_loss):
                raise FloatingPointError(f"{phase.name} step {step + 1}: loss is {last_loss}; stopping "
                                         f"(last checkpoint is kept in {checkpoint.checkpoint_root(out)})")
            if metrics is not None and (global_step % cfg.log_every == 0 or step + 1 == total_steps):
                metrics.append(record)
            if cfg.save_every and global_step % cfg.save_every == 0 and step + 1 < total_steps:
                _save_checkpoint(cfg, dist, out, model, optimizer, phase_index, step + 1, global_step, phase_reports)
            reporter.step(record)

        phase_seconds = time.perf_counter() - phase_started
        phase_reports.append({
            "phase": phase.name, "steps": total_steps, "resumed_at_step": start_step, "bins": len(stream),
            "documents": len(phase.documents), "data": phase.stats, "final_loss": last_loss,
            "seconds": phase_seconds, "tokens": phase_tokens,
            "tokens_per_s": phase_tokens / phase_seconds if phase_seconds > 0 else None,
        })
        if dist.is_main:
            if phase.name == "phase1":
                save_adapter(model, tokenizer, out / "phase1" / "adapter", str(model_dir), budget_json)
            # A checkpoint at every phase end lets --resume skip a finished phase entirely.
            _save_checkpoint(cfg, dist, out, model, optimizer, phase_index, total_steps, global_step,
                             phase_reports, wait=False)
        dist.barrier()
        reporter.phase_end(phase.name)

    # ---- outputs (rank 0 only)
    report: dict[str, Any] = {}
    if dist.is_main:
        save_adapter(model, tokenizer, out / "adapter", str(model_dir), budget_json)
        if cfg.merge:
            save_merged(model, tokenizer, out / "merged")
        plot_loss(metrics.records, out / "loss.png")
        report = {
            "format": "envhub.train_report/1",
            "config": cfg.to_json(),
            "model_dir": str(model_dir),
            "chat_template": template_name,
            "device": str(runtime.device), "dtype": str(runtime.dtype).replace("torch.", ""),
            "attn_implementation": runtime.attn_implementation, "world_size": dist.world_size,
            "trainable_parameters": trainable, "total_parameters": total,
            "global_steps": global_step, "phases": phase_reports,
            "seconds": time.perf_counter() - started,
            "outputs": {"adapter": str(out / "adapter"), "metrics": str(out / "metrics.jsonl"),
                        "loss_plot": str(out / "loss.png"),
                        "phase1_adapter": str(out / "phase1" / "adapter") if cfg.phase1 else None,
                        "merged": str(out / "merged") if cfg.merge else None},
        }
        (out / "train_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    dist.barrier()
    return report


def _autocast(runtime) -> contextlib.AbstractContextManager:
    if runtime.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=runtime.device.type, dtype=runtime.autocast_dtype)


def _save_checkpoint(cfg: TrainConfig, dist: Distributed, out: Path, model, optimizer, phase_index: int,
                     phase_step: int, global_step: int, phase_reports: list, wait: bool = True) -> None:
    if dist.is_main:
        state = {"global_step": global_step, "phase_index": phase_index, "phase_step": phase_step,
                 "fingerprint": cfg.fingerprint(), "phase_reports": phase_reports}
        checkpoint.save_checkpoint(out, model, optimizer, state, cfg.keep_checkpoints)
    if wait:
        dist.barrier()


def _find_resume_point(cfg: TrainConfig, out: Path) -> tuple[Path | None, dict | None]:
    if not cfg.resume:
        return None, None
    found = checkpoint.list_checkpoints(out)
    if not found:
        raise ValueError(f"--resume: no checkpoint in {checkpoint.checkpoint_root(out)}")
    latest = found[-1]
    state = checkpoint.read_state(latest)
    expected = cfg.fingerprint()
    differing = sorted(k for k in expected if state["fingerprint"].get(k) != expected[k])
    if differing:
        details = ", ".join(f"{k}: checkpoint {state['fingerprint'].get(k)!r} vs now {expected[k]!r}"
                            for k in differing)
        raise ValueError(f"--resume: {latest} was written with different settings ({details})")
    return latest, state

"""`envhub train`: two-phase LoRA fine-tuning on trajectory files.

Heavy imports (torch, transformers, peft) happen inside the handler so `envhub --help` stays instant.
Under torchrun (WORLD_SIZE > 1) the same command trains with DDP; `python -m trainer.ddp_entry`
is the equivalent module entry point for `torchrun -m`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train", help="fine-tune a LoRA adapter on trajectories (phase 1 general, phase 2 target domain)",
        description=("Two-phase LoRA SFT on envhub trajectory JSONL files. Phase 1 trains on general-domain "
                     "files, phase 2 continues the same adapter on target-domain files (optionally mixing "
                     "in replayed phase-1 data). Writes OUT/adapter (PEFT), OUT/phase1/adapter, "
                     "OUT/metrics.jsonl, OUT/loss.png and OUT/train_report.json."),
    )
    add_train_arguments(parser)
    parser.set_defaults(handler=run_train)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--phase1", nargs="+", type=Path, default=[], metavar="FILE",
                      help="general-domain trajectory JSONL files")
    data.add_argument("--phase2", nargs="+", type=Path, default=[], metavar="FILE",
                      help="target-domain trajectory JSONL files")
    data.add_argument("--include-failed", action="store_true",
                      help="also train on trajectories with passed=false (default: passed only)")
    data.add_argument("--max-seq-len", type=int, default=2048, help="longest conversation in tokens (default 2048)")
    data.add_argument("--overlong", choices=["drop", "truncate-turns"], default="drop",
                      help="longer conversations: drop them, or cut at the last assistant turn that fits")
    data.add_argument("--tool-budget", type=int, default=1024, metavar="TOKENS",
                      help="most tokens of tools per conversation: schemas are compacted, then the tools least "
                           "relevant to the user's goal dropped; `envhub eval` applies the same rule "
                           "(default 1024; 0: every tool, unchanged)")
    data.add_argument("--tool-budget-seed", type=int, default=0, help="tie-break seed of the tool budget rule")
    data.add_argument("--replay", type=float, default=0.0,
                      help="share of the phase-2 mixture drawn from phase-1 data, e.g. 0.1 (default 0)")

    run = parser.add_argument_group("model and run")
    run.add_argument("--model", default="smollm2",
                     help="a local Hugging Face causal-LM folder, or 'smollm2' (SmolLM2-135M-Instruct, default)")
    run.add_argument("--out", type=Path, required=True, help="output folder")
    run.add_argument("--max-steps", type=int, default=None, help="optimizer steps per phase (overrides --epochs)")
    run.add_argument("--epochs", type=float, default=1.0, help="passes over each phase's data (default 1)")
    run.add_argument("--batch-tokens", type=int, default=4096,
                     help="tokens per packed micro-batch, no padding (default 4096)")
    run.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step and rank")
    run.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (default 2e-4)")
    run.add_argument("--min-lr-ratio", type=float, default=0.1, help="cosine floor as a share of --lr")
    run.add_argument("--warmup-ratio", type=float, default=0.05, help="warmup share of each phase's steps")
    run.add_argument("--weight-decay", type=float, default=0.0)
    run.add_argument("--max-grad-norm", type=float, default=1.0)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    run.add_argument("--attn", dest="attn_implementation", default="auto",
                     help="attention kernel: auto (flash_attention_2 if installed on GPU, else envhub_packed_sdpa: "
                          "one causal SDPA per packed document), sdpa, eager")

    lora = parser.add_argument_group("LoRA")
    lora.add_argument("--lora-r", type=int, default=16)
    lora.add_argument("--lora-alpha", type=int, default=32)
    lora.add_argument("--lora-dropout", type=float, default=0.05)
    lora.add_argument("--target-modules", default="all-linear",
                      help="'all-linear' or comma-separated module names, e.g. q_proj,v_proj")

    ckpt = parser.add_argument_group("checkpoints and export")
    ckpt.add_argument("--save-every", type=int, default=0, help="checkpoint every N optimizer steps (0: phase ends only)")
    ckpt.add_argument("--keep-checkpoints", type=int, default=2)
    ckpt.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    ckpt.add_argument("--merge", action="store_true", help="also write OUT/merged, the base model with the adapter folded in")
    ckpt.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def config_from_args(args: argparse.Namespace):
    from trainer.config import TrainConfig

    targets = args.target_modules
    if targets != "all-linear":
        targets = [name.strip() for name in targets.split(",") if name.strip()]
    return TrainConfig(
        out=args.out, phase1=list(args.phase1), phase2=list(args.phase2), model=args.model,
        include_failed=args.include_failed, max_seq_len=args.max_seq_len, batch_tokens=args.batch_tokens,
        grad_accum=args.grad_accum, epochs=args.epochs, max_steps=args.max_steps, lr=args.lr,
        min_lr_ratio=args.min_lr_ratio, warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout, target_modules=targets, replay=args.replay, overlong=args.overlong,
        tool_budget=args.tool_budget, tool_budget_seed=args.tool_budget_seed,
        save_every=args.save_every, keep_checkpoints=args.keep_checkpoints, resume=args.resume, merge=args.merge,
        seed=args.seed, device=args.device, attn_implementation=args.attn_implementation, progress=args.progress,
    )


def run_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    is_main = int(os.environ.get("RANK", 0)) == 0
    config = config_from_args(args)
    try:
        config.validate()
    except ValueError as err:
        console.print(f"[red]envhub train: {err}[/red]")
        return 2

    from trainer.data import TrajectoryError
    from trainer.loop import train
    from trainer.model import ModelError

    reporter = _RichReporter(console) if (config.progress and is_main) else None
    try:
        if reporter is not None:
            with reporter.progress:
                report = train(config, reporter)
        else:
            report = train(config)
    except (TrajectoryError, ModelError, ValueError, FloatingPointError) as err:
        console.print(f"[red]envhub train: {err}[/red]")
        return 1
    if is_main:
        _print_summary(console, report)
    return 0


class _RichReporter:
    def __init__(self, console):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} tok/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
        )
        self._task = None

    def phase_start(self, phase: str, total_steps: int, start_step: int) -> None:
        self._task = self.progress.add_task(phase, total=total_steps, completed=start_step, loss="-", rate="-")

    def step(self, record: dict) -> None:
        self.progress.update(self._task, advance=1, loss=f"{record['loss']:.4f}",
                             rate=f"{record['tokens_per_s']:,.0f}")

    def phase_end(self, phase: str) -> None:
        pass

    def message(self, text: str) -> None:
        self.progress.console.print(text)


def _print_summary(console, report: dict) -> None:
    from rich.table import Table

    table = Table(title="envhub train")
    for column in ("phase", "docs", "dropped/trunc", "steps", "final loss", "tokens", "tok/s", "seconds"):
        table.add_column(column, justify="right" if column != "phase" else "left")
    for phase in report["phases"]:
        data = phase["data"]
        rate = phase.get("tokens_per_s")
        table.add_row(phase["phase"], str(phase["documents"]),
                      f"{data.get('dropped_overlong', 0)}/{data.get('truncated_overlong', 0)}", str(phase["steps"]),
                      f"{phase['final_loss']:.4f}", f"{phase['tokens']:,}", f"{rate:,.0f}" if rate else "-",
                      f"{phase['seconds']:.1f}")
    console.print(table)
    for phase in report["phases"]:
        data = phase["data"]
        if data.get("tool_budget"):
            budget = data["tool_budget"]
            console.print(
                f"{phase['phase']}: tool budget {budget['max_tokens'] or 'off'} ({budget['counter']}): "
                f"tool tokens {data['tool_tokens_before']:,} -> {data['tool_tokens_after']:,}; "
                f"compacted {data['tool_budget_compacted']}, trimmed {data['tool_budget_trimmed']}, "
                f"dropped {data['dropped_tool_budget']} trajectories")
        for reason, count in data.get("drop_reasons", {}).items():
            console.print(f"{phase['phase']}: dropped {count}: {reason}")
        if data.get("skipped_failed"):
            console.print(f"{phase['phase']}: skipped {data['skipped_failed']} failed or error trajectories")
    outputs = report["outputs"]
    console.print(f"adapter: {outputs['adapter']}  metrics: {outputs['metrics']}  plot: {outputs['loss_plot']}")
    console.print(f"device {report['device']} {report['dtype']} attention {report['attn_implementation']} "
                  f"world size {report['world_size']}, template {report['chat_template']}, "
                  f"trainable {report['trainable_parameters']:,} of {report['total_parameters']:,} parameters")


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (used by `python -m trainer.ddp_entry` under torchrun)."""
    parser = argparse.ArgumentParser(prog="envhub-train")
    add_train_arguments(parser)
    return run_train(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

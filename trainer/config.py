"""Training configuration as plain data: one dataclass, no hidden defaults elsewhere."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

OVERLONG_POLICIES = ("drop", "truncate-turns")

# Fields that change what an uninterrupted run would compute; a resumed run must agree on them.
_RESUME_FINGERPRINT_FIELDS = (
    "phase1", "phase2", "model", "include_failed", "max_seq_len", "batch_tokens", "grad_accum",
    "epochs", "max_steps", "lr", "min_lr_ratio", "warmup_ratio", "weight_decay", "max_grad_norm",
    "lora_r", "lora_alpha", "lora_dropout", "target_modules", "replay", "overlong", "seed",
    "tool_budget", "tool_budget_seed",
)


@dataclass
class TrainConfig:
    """Everything one two-phase run needs; `envhub train` fills it from its flags."""

    out: Path
    phase1: list[Path] = field(default_factory=list)
    phase2: list[Path] = field(default_factory=list)
    model: str = "smollm2"
    include_failed: bool = False
    max_seq_len: int = 2048
    batch_tokens: int = 4096
    grad_accum: int = 1
    epochs: float = 1.0
    max_steps: int | None = None
    lr: float = 2e-4
    min_lr_ratio: float = 0.1
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    replay: float = 0.0
    overlong: str = "drop"
    # Tokens of tools per conversation (contracts/tool_budget.py); 0: every tool, unchanged.
    # 1024 leaves half of the default --max-seq-len to the conversation itself.
    tool_budget: int = 1024
    tool_budget_seed: int = 0
    save_every: int = 0
    keep_checkpoints: int = 2
    resume: bool = False
    merge: bool = False
    seed: int = 0
    device: str = "auto"
    attn_implementation: str = "auto"
    log_every: int = 1
    progress: bool = True

    def validate(self) -> None:
        """Reject settings that cannot produce a sensible run, naming the flag and value."""
        if not self.phase1 and not self.phase2:
            raise ValueError("no training data: give --phase1 and/or --phase2 trajectory files")
        for name in ("max_seq_len", "batch_tokens", "grad_accum", "lora_r", "lora_alpha", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.batch_tokens < self.max_seq_len:
            raise ValueError(
                f"--batch-tokens ({self.batch_tokens}) must be >= --max-seq-len ({self.max_seq_len}): "
                "one micro-batch has to hold the longest conversation"
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps must be >= 1, got {self.max_steps}")
        if self.epochs <= 0:
            raise ValueError(f"--epochs must be > 0, got {self.epochs}")
        if not 0.0 <= self.replay < 1.0:
            raise ValueError(f"--replay must be in [0, 1), got {self.replay}")
        if self.replay > 0 and not self.phase1:
            raise ValueError("--replay needs --phase1 data to replay from")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"--lora-dropout must be in [0, 1), got {self.lora_dropout}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.overlong not in OVERLONG_POLICIES:
            raise ValueError(f"--overlong must be one of {OVERLONG_POLICIES}, got {self.overlong!r}")
        if self.tool_budget < 0:
            raise ValueError(f"--tool-budget must be >= 0 (0: no budget), got {self.tool_budget}")
        if self.lr <= 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if self.save_every < 0:
            raise ValueError(f"--save-every must be >= 0, got {self.save_every}")
        for path in [*self.phase1, *self.phase2]:
            if not Path(path).is_file():
                raise ValueError(f"trajectory file not found: {path}")

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        for key in ("out",):
            data[key] = str(data[key])
        data["phase1"] = [str(p) for p in self.phase1]
        data["phase2"] = [str(p) for p in self.phase2]
        return data

    def budget_settings(self):
        """The context-budget settings, as the rule and the evaluator take them."""
        from contracts.tool_budget import BudgetSettings

        return BudgetSettings.from_flag(self.tool_budget, self.tool_budget_seed)

    def fingerprint(self) -> dict:
        """The settings a checkpoint must share with the run that resumes from it."""
        data = self.to_json()
        return {name: data[name] for name in _RESUME_FINGERPRINT_FIELDS}

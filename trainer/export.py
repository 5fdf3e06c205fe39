"""Writing the adapter (PEFT format, loadable by transformers/peft and by vLLM `--lora-modules`)
and, optionally, a merged full model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOOL_BUDGET_FILE = "tool_budget.json"


def save_adapter(model: Any, tokenizer: Any, path: Path, base_model: str,
                 tool_budget: dict[str, Any] | None = None) -> Path:
    """adapter_config.json + adapter_model.safetensors, plus the tokenizer with the training chat template.

    The tokenizer travels with the adapter so inference formats tool calls exactly as in training,
    and `tool_budget.json` (the context-budget settings) so `envhub eval` shows the model its tools
    under the rule it was trained with.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    config_path = path / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    # Point at the folder the weights came from so `PeftModel.from_pretrained` / vLLM find the base.
    config["base_model_name_or_path"] = base_model
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = _short_target_names(model, config["target_modules"])
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
    if tool_budget is not None:
        (path / TOOL_BUDGET_FILE).write_text(json.dumps(tool_budget, indent=2), encoding="utf-8")
    return path


def save_merged(model: Any, tokenizer: Any, path: Path) -> Path:
    """The base weights with the LoRA update folded in, as a plain Hugging Face model folder."""
    import copy

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    merged = copy.deepcopy(model).merge_and_unload()
    merged.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def _short_target_names(model: Any, targets: list[str]) -> list[str]:
    """`all-linear` resolves to full module paths; write the equivalent short names (`q_proj`, ...)
    when they select exactly the same modules, which is the form vLLM and most tools expect."""
    suffixes = {name.rsplit(".", 1)[-1] for name in targets}
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    adapted = {name for name, module in base.named_modules() if hasattr(module, "lora_A")}
    same_suffix = {name for name, _ in base.named_modules() if name.rsplit(".", 1)[-1] in suffixes}
    return sorted(suffixes) if same_suffix == adapted else sorted(targets)

"""A local Hugging Face model as a policy (evaluates what trainer/ produces), optionally with a LoRA adapter.

The model's chat template renders the tools; tool calls are parsed from the generated text in the
Qwen/Hermes `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` style, with a plain-JSON
fallback. Generation runs in a worker thread (one at a time: one model, one set of weights) so
the event loop keeps serving the other episodes' tool calls; concurrent episodes are decoded
together and each keeps its KV cache between turns (agent/policies/local_engine.py).
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from agent.policies.base import PolicyTurn, assistant_message, tool_call
from contracts import TaskSpec

_TOOL_CALL_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def parse_tool_calls(text: str) -> tuple[str | None, list[dict[str, Any]]]:
    """Split generated text into (content, tool_calls); arguments become JSON strings.

    A block whose JSON does not parse is kept as a call with its raw text as arguments, so the
    validity filter can reject it instead of the text silently vanishing.
    """
    calls: list[dict[str, Any]] = []
    blocks = _TOOL_CALL_RE.findall(text)
    if blocks:
        for block in blocks:
            calls.append(_call_from_json_text(block, len(calls)))
        content = _TOOL_CALL_RE.sub("", text).strip() or None
        return content, calls
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            return text, []
        items = data if isinstance(data, list) else [data]
        if items and all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
            return None, [_call_from_obj(i, n) for n, i in enumerate(items)]
    return text, []


def _call_from_json_text(block: str, index: int) -> dict[str, Any]:
    try:
        data = json.loads(block)
    except json.JSONDecodeError:
        name = re.search(r'"name"\s*:\s*"([^"]+)"', block)
        return tool_call(f"call_{index}", name.group(1) if name else "", block)
    if not isinstance(data, dict):
        return tool_call(f"call_{index}", "", block)
    return _call_from_obj(data, index)


def _call_from_obj(data: dict[str, Any], index: int) -> dict[str, Any]:
    args = data.get("arguments", data.get("parameters", {}))
    arguments = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    return tool_call(f"call_{index}", str(data.get("name", "")), arguments)


def messages_for_template(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat templates expect tool-call arguments as objects; trajectories keep them as strings."""
    out = []
    for message in messages:
        if message.get("tool_calls"):
            message = dict(message)
            calls = []
            for call in message["tool_calls"]:
                fn = dict(call["function"])
                with contextlib.suppress(json.JSONDecodeError, TypeError):
                    fn["arguments"] = json.loads(fn["arguments"])
                calls.append({**call, "function": fn})
            message["tool_calls"] = calls
        out.append(message)
    return out


def adapter_chat_template(adapter: str | None) -> str | None:
    """The chat template saved beside a PEFT adapter (by the trainer), if any."""
    if not adapter:
        return None
    from pathlib import Path

    folder = Path(adapter)
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = folder / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        if isinstance(template, str):
            return template
    return None


class LocalHFPolicy:
    """A local causal LM as the agent; concurrent episodes share one `GenerationEngine` (agent/policies/local_engine.py).

    A LoRA adapter is merged into the base weights once at load: the evaluated function is the
    same, and each forward pass costs what the base model's does.
    """

    kind = "local"

    def __init__(self, model_dir: str, adapter: str | None = None, temperature: float | None = None,
                 max_tokens: int | None = None, device: str | None = None, chat_template: str | None = None,
                 max_batch: int = 16):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from agent.policies.local_engine import Batcher, GenerationEngine

        self.model = model_dir if adapter is None else f"{model_dir}+{adapter}"
        self.temperature = temperature
        self.max_new_tokens = max_tokens or 256
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        # A model must be prompted in the format it was fine-tuned on: the trainer saves its
        # tool-aware training template beside the adapter, and an explicit template wins over both.
        template = chat_template or adapter_chat_template(adapter)
        if template:
            self.tokenizer.chat_template = template
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        self.torch_model = model.to(self.device).eval()
        # One cache per episode in flight (plus a few finished ones, dropped first): SmolLM2-135M
        # keeps ~46 KB per token, ~70 MB for a 1,500-token conversation.
        self.engine = GenerationEngine(self.torch_model, self.tokenizer, self.max_new_tokens, temperature,
                                       max_cached=max_batch + 4)
        self.batcher = Batcher(self.engine, max_batch=max_batch)
        # The context budget counts this model's own tokens, exactly as the trainer does.
        from contracts.tool_budget import tokenizer_counter

        self.tool_token_counter = tokenizer_counter(self.tokenizer)

    def prompt_ids(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[int]:
        """The token ids the model reads for its next turn (the chat template with the tools)."""
        prompt = self.tokenizer.apply_chat_template(
            messages_for_template(messages), tools=tools or None, add_generation_prompt=True, tokenize=False
        )
        return list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], task: TaskSpec
                  ) -> PolicyTurn:
        ids = self.prompt_ids(messages, tools)
        # One conversation per task in a run: its cache carries over from turn to turn.
        result = await self.batcher.submit(task.task_id, ids)
        text = self.tokenizer.decode(result.token_ids, skip_special_tokens=True)
        content, calls = parse_tool_calls(text)
        if not calls and content is None:
            content = ""
        return PolicyTurn(assistant_message(content, calls),
                          {"prompt_tokens": result.prompt_tokens, "completion_tokens": len(result.token_ids)})

    async def aclose(self) -> None:
        return None

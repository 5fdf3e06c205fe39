"""Tiny random chat models built offline in about a second, for tests of anything that trains or generates.

`build_tiny_model(out_dir, family="chatml"|"llama3")` writes a Hugging Face model folder (config,
random weights, a small trained BPE tokenizer with the family's special tokens and a plain chat
template *without* generation markers, like most real models ship) and returns its path.
"""

from __future__ import annotations

from pathlib import Path

from contracts import Trajectory

_CORPUS = [
    "You are a helpful assistant that uses tools to help customers.",
    "I want to cancel my order O-1003 because it arrives too late.",
    "Please look up the weather in Paris and book a table for two at 7pm.",
    '{"name": "get_order", "arguments": {"order_id": "O-1003"}}',
    '{"order_id": "O-1003", "status": "shipped", "total": 42.5, "items": ["lamp", "bulb"]}',
    "Done: order O-1003 is cancelled and you will be refunded 42.50 USD.",
    "<tool_call>\n</tool_call>\n<tools>\n</tools>\n<tool_response>\n</tool_response>",
    "# Tools\n\nYou may call one or more functions to assist with the user query.",
    "function signatures within XML tags: json object with function name and arguments",
    "The flight BA117 from London to New York departs at 08:15 on 2025-03-04.",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,:;!?'\"()[]{}<>/\\|-_=+*&^%$#@~`",
]

_FAMILIES = {
    "chatml": {
        "specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        "bos": None, "eos": "<|im_end|>", "pad": "<|endoftext|>",
        "template": ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + (m['content'] or '') "
                     "+ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}"
                     "{{ '<|im_start|>assistant\n' }}{% endif %}"),
        "model_type": "qwen2",
    },
    "llama3": {
        "specials": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                     "<|eot_id|>"],
        "bos": "<|begin_of_text|>", "eos": "<|eot_id|>", "pad": "<|end_of_text|>",
        "template": ("{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + "
                     "'<|end_header_id|>\n\n' + (m['content'] or '') + '<|eot_id|>' }}{% endfor %}"
                     "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
                     "{% endif %}"),
        "model_type": "llama",
    },
}


def build_tiny_tokenizer(family: str = "chatml", vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on a few hundred characters, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    spec = _family(family)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=spec["specials"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=spec["bos"], eos_token=spec["eos"],
                                      pad_token=spec["pad"])
    wrapped.chat_template = spec["template"]
    return wrapped


def build_tiny_model(out_dir: Path | str, family: str = "chatml", seed: int = 0, hidden_size: int = 64,
                     num_layers: int = 2) -> Path:
    """Write a randomly initialised 2-layer causal LM of the given family to `out_dir`; returns the path."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    spec = _family(family)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(family)
    config_class = Qwen2Config if spec["model_type"] == "qwen2" else LlamaConfig
    config = config_class(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=4096, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _family(family: str) -> dict:
    if family not in _FAMILIES:
        raise ValueError(f"unknown tiny-model family {family!r}; choose one of {sorted(_FAMILIES)}")
    return _FAMILIES[family]


def sample_trajectories() -> list[dict]:
    """A handful of realistic trajectories (tool calls, tool results, final answers) in envhub format,
    as the JSON objects a trajectory file holds (each built through the Trajectory contract)."""
    tools = [
        {"type": "function", "function": {
            "name": "get_order", "description": "Look up an order by id.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                           "required": ["order_id"]}}},
        {"type": "function", "function": {
            "name": "cancel_order", "description": "Cancel an order that has not shipped.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"},
                                                            "reason": {"type": "string"}},
                           "required": ["order_id", "reason"]}}},
    ]
    out = []
    for n in range(6):
        order = f"O-{1000 + n}"
        lamp = ["lamp", "bulb", "desk", "chair", "mug", "pen"][n]
        messages = [
            {"role": "system", "content": "You are a helpful shop assistant. Use the tools."},
            {"role": "user", "content": f"Please cancel my order {order}, the {lamp} arrives too late."},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_0", "type": "function",
                 "function": {"name": "get_order", "arguments": f'{{"order_id": "{order}"}}'}}]},
            {"role": "tool", "tool_call_id": "call_0",
             "content": f'{{"order_id": "{order}", "status": "pending", "items": ["{lamp}"]}}'},
            {"role": "assistant", "content": "The order is still pending, so I can cancel it.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {
                    "name": "cancel_order",
                    "arguments": f'{{"order_id": "{order}", "reason": "arrives too late"}}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": f'{{"order_id": "{order}", "status": "cancelled"}}'},
            {"role": "assistant", "content": f"Done: order {order} is cancelled." + " Refund soon." * (n % 3)},
        ]
        if n % 2:
            messages = messages[:2] + [messages[4]] + [messages[5]] + [messages[6]]
            messages[2] = {**messages[2], "tool_calls": [{**messages[2]["tool_calls"][0], "id": "call_0"}]}
            messages[3] = {**messages[3], "tool_call_id": "call_0"}
        out.append(Trajectory.model_validate({
            "task_id": f"orders-{n:06d}", "env": "orders",
            "messages": messages, "tools": tools, "policy": {"kind": "scripted", "model": None},
            "filters": {"valid": True, "state_match": True, "exact_match": None},
            "passed": n != 5, "reward": 1.0 if n != 5 else 0.0,
            "final_state_hash": None, "gold_state_hash": None,
            "timing": {"seconds": 0.1, "turns": 3, "tool_calls": 2},
            "usage": {"prompt_tokens": 0, "completion_tokens": 0}, "error": None,
        }).to_json())
    return out

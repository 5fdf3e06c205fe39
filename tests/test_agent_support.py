"""Helpers shared by the agent tests (no tests here): gold hashes, a scripted OpenAI-compatible
server, and a tiny offline Hugging Face model."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2


async def gold_state_hash(base_url: str, env: str, calls: list[dict[str, Any]], seed: int | None = None) -> str:
    """Run `calls` on a fresh episode with the MCP SDK directly and return the final state hash."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(verify=False, timeout=30) as http:
        created = (await http.post(f"{base_url}/envs/{env}/episodes", json={"seed": seed, "task_id": None})).json()
        url = created["mcp_url"] if created["mcp_url"].startswith("http") else base_url + created["mcp_url"]
        async with Client(streamable_http_client(url, http_client=http)) as client:
            for call in calls:
                result = await client.call_tool(call["name"], call["arguments"])
                assert not result.is_error, f"gold call {call} failed: {result.content}"
        state = (await http.get(f"{base_url}/episodes/{created['episode_id']}/state")).json()
        await http.delete(f"{base_url}/episodes/{created['episode_id']}")
    return state["state_hash"]


def write_tasks(path: Path, tasks: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    return path


# ---------------------------------------------------------------------------------------------
# A scripted OpenAI-compatible chat-completions server
# ---------------------------------------------------------------------------------------------

Reply = dict[str, Any]  # {"tool_calls": [(name, raw_arguments_str), ...]} or {"content": str}


def openai_app(plans: Callable[[list[dict[str, Any]]], list[Reply]], requests: list[dict[str, Any]]):
    """An app answering /v1/chat/completions with `plans(messages)[k]` where k = assistant turns so far."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        requests.append(body)
        messages = body["messages"]
        turn = sum(1 for m in messages if m["role"] == "assistant")
        plan = plans(messages)
        reply = plan[min(turn, len(plan) - 1)]
        message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
        if reply.get("tool_calls"):
            message["tool_calls"] = [
                {"id": f"call_{turn}_{i}", "type": "function", "function": {"name": name, "arguments": args}}
                for i, (name, args) in enumerate(reply["tool_calls"])
            ]
        return JSONResponse({
            "id": f"chatcmpl-{turn}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if reply.get("tool_calls") else "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        })

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})  # what tests.hubserver.serving waits for

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"]),
                             Route("/health", health)])


@contextlib.contextmanager
def serving_app(app: Any) -> Iterator[str]:
    from tests.hubserver import serving

    with serving(app) as base_url:
        yield base_url


# ---------------------------------------------------------------------------------------------
# A tiny random causal LM, built offline
# ---------------------------------------------------------------------------------------------

TINY_CHAT_TEMPLATE = (
    "{% if tools %}<|system|>Tools: {% for t in tools %}{{ t | tojson }}\n{% endfor %}<|end|>{% endif %}"
    "{% for m in messages %}<|{{ m['role'] }}|>{% if m['content'] %}{{ m['content'] }}{% endif %}"
    "{% if m.get('tool_calls') %}{% for c in m['tool_calls'] %}<tool_call>"
    "{{ {'name': c['function']['name'], 'arguments': c['function']['arguments']} | tojson }}"
    "</tool_call>{% endfor %}{% endif %}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def make_tiny_model(folder: Path) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer and a chat template that renders tools."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    special = ["<|pad|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", "<|end|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(['<tool_call>{"name": "get", "arguments": {"id": "A-1"}}</tool_call>'] * 10,
                                  trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<|pad|>", eos_token="<|eos|>")
    fast.chat_template = TINY_CHAT_TEMPLATE
    fast.save_pretrained(folder)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16384,
                         pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def order_desk_build(folder: Path) -> Path:
    """A build folder holding the built-in order-desk example environment."""
    import shutil

    import servers

    source = Path(servers.__file__).parent / "examples" / "order-desk.json"
    (folder / "envs").mkdir(parents=True, exist_ok=True)
    shutil.copy(source, folder / "envs" / "order-desk.json")
    return folder


@contextlib.contextmanager
def order_desk_hub(tmp_path: Path, **options: Any) -> Iterator[str]:
    """A real hub (uvicorn on loopback) serving order-desk from a build folder."""
    from tests.hubserver import running_hub

    with running_hub(order_desk_build(tmp_path / "build"), **options) as base_url:
        yield base_url

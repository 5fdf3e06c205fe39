"""A policy served by any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp, OpenAI...)."""

from __future__ import annotations

from typing import Any

from agent.policies.base import PolicyTurn, assistant_message, tool_call
from contracts import TaskSpec


class OpenAIPolicy:
    kind = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 temperature: float | None = None, max_tokens: int | None = None, timeout: float = 120.0):
        import openai

        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        # The SDK retries are disabled: the engine retries whole episodes with its own backoff.
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout,
                                         max_retries=0)

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], task: TaskSpec
                  ) -> PolicyTurn:
        options: dict[str, Any] = {}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        if self.max_tokens is not None:
            options["max_tokens"] = self.max_tokens
        if tools:
            options["tools"] = tools
        response = await self.client.chat.completions.create(model=self.model, messages=messages, **options)
        if not response.choices:
            raise RuntimeError(f"model {self.model!r} returned no choices")
        choice = response.choices[0].message
        calls = [
            # Arguments are kept exactly as the model wrote them, malformed or not: the validity
            # filter must see what the model produced.
            tool_call(c.id or f"call_{i}", c.function.name, c.function.arguments or "")
            for i, c in enumerate(choice.tool_calls or [])
        ]
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        if response.usage is not None:
            usage = {"prompt_tokens": response.usage.prompt_tokens or 0,
                     "completion_tokens": response.usage.completion_tokens or 0}
        return PolicyTurn(assistant_message(choice.content if choice.content or not calls else None, calls), usage)

    async def aclose(self) -> None:
        await self.client.close()

"""The policy protocol: given the conversation and the tools, produce the next assistant message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from contracts import TaskSpec


@dataclass
class PolicyTurn:
    """One assistant message in OpenAI format; `tool_calls[*].function.arguments` are JSON strings."""

    message: dict[str, Any]
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})


class Policy(Protocol):
    kind: str
    model: str | None

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], task: TaskSpec
                  ) -> PolicyTurn: ...

    async def aclose(self) -> None: ...


def assistant_message(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def count_tool_calls(messages: list[dict[str, Any]]) -> int:
    return sum(len(m.get("tool_calls") or []) for m in messages if m.get("role") == "assistant")

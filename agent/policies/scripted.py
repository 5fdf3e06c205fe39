"""The offline policy: replay the task's gold calls one per turn, then state the expected outputs.

It needs no model, so it produces gold trajectories for training data and measures the
collector's own throughput; `latency` simulates a model's think time per turn (benchmarks).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agent.policies.base import PolicyTurn, assistant_message, count_tool_calls, tool_call
from contracts import TaskSpec


class ScriptedPolicy:
    kind = "scripted"
    model = None

    def __init__(self, latency: float = 0.0):
        self.latency = latency

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], task: TaskSpec
                  ) -> PolicyTurn:
        if self.latency:
            await asyncio.sleep(self.latency)
        done = count_tool_calls(messages)
        if done < len(task.gold_calls):
            call = task.gold_calls[done]
            arguments = json.dumps(call.arguments, ensure_ascii=False)
            return PolicyTurn(assistant_message(None, [tool_call(f"call_{done}", call.name, arguments)]))
        return PolicyTurn(assistant_message(final_answer(task)))

    async def aclose(self) -> None:
        return None


def final_answer(task: TaskSpec) -> str:
    if task.expected_outputs:
        return "Here is what I found: " + "; ".join(task.expected_outputs) + "."
    if task.kind == "write":
        return "Done: your request has been completed."
    return "I have looked that up for you."

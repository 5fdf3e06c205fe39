"""Simulated users: they open with the goal, answer the agent's questions, and say when they are done.

The stop phrase ends the episode; it is not written into the trajectory (the conversation ends
on the agent's last message, which is what a trainer learns from).
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from contracts import TaskSpec

STOP_PHRASE = "###STOP###"


class SimulatedUser(Protocol):
    async def opening(self, task: TaskSpec) -> str: ...

    async def reply(self, task: TaskSpec, messages: list[dict[str, Any]]) -> tuple[str, bool]:
        """The user's next message and whether the user is finished (stop signal)."""
        ...

    async def aclose(self) -> None: ...


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class ScriptedUser:
    """Reveals `user_facts` when the agent asks for them; stops once the agent stops asking."""

    def __init__(self) -> None:
        self.revealed: set[str] = set()

    async def opening(self, task: TaskSpec) -> str:
        return task.goal

    async def reply(self, task: TaskSpec, messages: list[dict[str, Any]]) -> tuple[str, bool]:
        last = messages[-1].get("content") or "" if messages else ""
        if "?" not in last:
            return STOP_PHRASE, True
        asked = _words(last)
        wanted = [k for k in task.user_facts if _words(k.replace("_", " ")) <= asked or k.lower() in last.lower()]
        if not wanted:
            wanted = [k for k in task.user_facts if k not in self.revealed]
        if not wanted:
            return STOP_PHRASE, True
        self.revealed.update(wanted)
        parts = [f"my {k.replace('_', ' ')} is {_fact_text(task.user_facts[k])}" for k in wanted]
        return "Sure, " + "; ".join(parts) + ".", False

    async def aclose(self) -> None:
        return None


def _fact_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


USER_SYSTEM_PROMPT = """You are role-playing a customer talking to a support agent.
Your goal: {goal}
Facts you know (reveal a fact only when the agent asks for it, never all at once): {facts}
Write short, natural messages as the customer. Do not invent facts that are not listed.
When the agent has done what you wanted (or clearly cannot), reply with exactly {stop} and nothing else."""


class LLMUser:
    """An OpenAI-compatible model role-playing the user; roles are flipped from its point of view."""

    def __init__(self, client: Any, model: str, temperature: float | None = None):
        # The AsyncOpenAI client is shared by every episode's user (one connection pool).
        self.client = client
        self.model = model
        self.temperature = temperature
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}

    def _system(self, task: TaskSpec) -> dict[str, str]:
        facts = json.dumps(task.user_facts, ensure_ascii=False)
        return {"role": "system", "content": USER_SYSTEM_PROMPT.format(goal=task.goal, facts=facts, stop=STOP_PHRASE)}

    async def _complete(self, messages: list[dict[str, Any]]) -> str:
        options: dict[str, Any] = {}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        response = await self.client.chat.completions.create(model=self.model, messages=messages, **options)
        if response.usage is not None:
            self.usage["prompt_tokens"] += response.usage.prompt_tokens or 0
            self.usage["completion_tokens"] += response.usage.completion_tokens or 0
        return (response.choices[0].message.content or "").strip() if response.choices else ""

    async def opening(self, task: TaskSpec) -> str:
        text = await self._complete([self._system(task),
                                     {"role": "user", "content": "(The agent greets you. Say what you need.)"}])
        return text or task.goal

    async def reply(self, task: TaskSpec, messages: list[dict[str, Any]]) -> tuple[str, bool]:
        flipped: list[dict[str, Any]] = [self._system(task)]
        for message in messages:
            if message["role"] == "user":
                flipped.append({"role": "assistant", "content": message.get("content") or ""})
            elif message["role"] == "assistant" and message.get("content"):
                flipped.append({"role": "user", "content": message["content"]})
        text = await self._complete(flipped)
        return text, STOP_PHRASE in text or not text

    async def aclose(self) -> None:
        return None

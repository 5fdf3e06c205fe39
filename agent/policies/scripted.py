"""The offline policy: a scripted agent that needs no model (training data, collector benchmarks).

Modes:
- `dialogue` (default): asks for the facts the user left out, looks the record up before changing
  it, confirms before writes the rules say to confirm (always before destructive ones), with
  probability `mistake_rate` makes one plausible mistake the environment rejects and repairs it from
  the error message, and ends by stating the outcome with the values asked for. Wording is seeded
  by (`seed`, task): the same task and seed give the same conversation (`agent.policies.dialogue`).
- `replay`: the gold calls one per turn, then the expected outputs (the collector's old behaviour).
- `careless`: breaks the rules on purpose (no questions, no confirmation, a wrong value written or
  the write skipped, an answer without looking anything up), so its trajectories must fail the
  filters; it measures that the filters can fail.

`latency` simulates a model's think time per turn (benchmarks).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

from agent.policies.base import PolicyTurn, assistant_message, count_tool_calls, tool_call
from agent.policies.dialogue import Beat, Script, build_script, final_text, repair, tool_index
from agent.toolkinds import is_read
from agent.wording import humanize, value_text
from contracts import TaskSpec

MODES = ("dialogue", "replay", "careless")
_CACHE_SIZE = 4096
_REFUSAL = ("no", "don't", "do not", "stop", "wait", "not ")


class ScriptedPolicy:
    kind = "scripted"

    def __init__(self, latency: float = 0.0, mode: str = "dialogue", seed: int = 0, mistake_rate: float = 0.25):
        if mode not in MODES:
            raise ValueError(f"unknown scripted mode {mode!r} (expected one of {', '.join(MODES)})")
        if not 0.0 <= mistake_rate <= 1.0:
            raise ValueError(f"mistake_rate must be between 0 and 1, got {mistake_rate}")
        self.latency = latency
        self.mode = mode
        self.seed = seed
        self.mistake_rate = mistake_rate
        # The policy object serves every episode of a run: its only state is this cache of scripts,
        # keyed by what a script depends on; the position in a script is read off the messages.
        self._scripts: OrderedDict[tuple[str, str], Script] = OrderedDict()

    @property
    def model(self) -> str | None:
        # `replay` keeps the old record (model null); other modes name themselves, so the
        # per-policy yield table tells them apart.
        return None if self.mode == "replay" else self.mode

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], task: TaskSpec
                  ) -> PolicyTurn:
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.mode == "replay":
            return _replay(messages, task)
        if self.mode == "careless":
            return _careless(messages, tools, task)
        return PolicyTurn(self._dialogue(messages, tools, task))

    def script(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], task: TaskSpec) -> Script:
        opening = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
        key = (task.task_id, opening)
        script = self._scripts.get(key)
        if script is None:
            system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
            script = build_script(task, tools, opening, system, self.seed, self.mistake_rate)
            self._scripts[key] = script
            if len(self._scripts) > _CACHE_SIZE:
                self._scripts.popitem(last=False)
        return script

    def _dialogue(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], task: TaskSpec
                  ) -> dict[str, Any]:
        script = self.script(messages, tools, task)
        position = sum(1 for m in messages if m.get("role") == "assistant")
        previous = script.beats[position - 1] if 0 < position <= len(script.beats) else None
        last = messages[-1] if messages else {}
        if previous is not None and previous.kind == "confirm" and last.get("role") == "user" \
                and _declined(last.get("content") or ""):
            return assistant_message(script.wording.pick("declined", [
                "Understood, I won't make that change. Nothing has been modified.",
                "No problem, I've left everything as it was."]))
        error = _error_text(last)
        if error is not None and previous is not None and not (previous.kind == "call"
                                                               and previous.sent != previous.call.arguments):
            # An error the script did not plant: report it rather than carry on as if it worked.
            action = humanize(previous.call.name) if previous.call else "request"
            return assistant_message(f"I'm sorry, I couldn't complete the {action}. The system said: {error}")
        if position >= len(script.beats):
            # The user kept talking after the close (an LLM user): close again, in other words.
            return assistant_message(script.wording.pick("closing", [
                "You're welcome. Have a good day!", "Glad I could help. Take care!", "Happy to help. Goodbye!"]))
        beat = script.beats[position]
        if beat.kind == "retry" and error is None:
            # The environment accepted the planted mistake (a server that does not check its
            # schema): say what was done rather than send the call twice; the filters judge it.
            return assistant_message(final_text(task, messages, script))
        return self._say(beat, script, messages, task, error)

    def _say(self, beat: Beat, script: Script, messages: list[dict[str, Any]], task: TaskSpec,
             error: str | None) -> dict[str, Any]:
        n = len(messages)
        if beat.kind in ("ask", "confirm"):
            return assistant_message(beat.text)
        if beat.kind == "call":
            assert beat.call is not None and beat.sent is not None
            message = assistant_message(beat.text, [_call(n, beat.call.name, beat.sent)])
            if beat.sent != beat.call.arguments:
                # The planted mistake: shown so the recovery can be learned, not itself to imitate.
                # `weight: 0` is the OpenAI fine-tuning convention for an assistant turn not to train on.
                message["weight"] = 0
            return message
        if beat.kind == "retry":
            assert beat.call is not None
            sent = _last_arguments(messages)
            fixed, note = repair(sent, beat.call.arguments, error or "", script.wording)
            return assistant_message(note, [_call(n, beat.call.name, fixed)])
        return assistant_message(final_text(task, messages, script))

    async def aclose(self) -> None:
        return None


def _call(n: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return tool_call(f"call_{n}", name, json.dumps(arguments, ensure_ascii=False))


def _declined(text: str) -> bool:
    lowered = f" {text.lower()} "
    return not any(word in lowered for word in (" yes", " sure", " go ahead", " please do", " proceed", "correct")) \
        and any(f" {word}" in lowered for word in _REFUSAL)


def _error_text(message: dict[str, Any]) -> str | None:
    content = message.get("content")
    if message.get("role") == "tool" and isinstance(content, str) and content.startswith("Error"):
        return content.removeprefix("Error:").strip()
    return None


def _last_arguments(messages: list[dict[str, Any]]) -> dict[str, Any]:
    for message in reversed(messages):
        for call in reversed(message.get("tool_calls") or []):
            try:
                value = json.loads(call["function"].get("arguments") or "{}")
            except json.JSONDecodeError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def _replay(messages: list[dict[str, Any]], task: TaskSpec) -> PolicyTurn:
    done = count_tool_calls(messages)
    if done < len(task.gold_calls):
        call = task.gold_calls[done]
        return PolicyTurn(assistant_message(None, [_call(done, call.name, call.arguments)]))
    return PolicyTurn(assistant_message(final_answer(task)))


def final_answer(task: TaskSpec) -> str:
    """The replay mode's closing line: the expected outputs, or a fixed phrase."""
    if task.refusal is not None:
        found = f" Here is what I found: {'; '.join(task.expected_outputs)}." if task.expected_outputs else ""
        return f"I can't do that: {task.refusal.reason}.{found}"
    if task.expected_outputs:
        return "Here is what I found: " + "; ".join(task.expected_outputs) + "."
    if task.kind == "write":
        return "Done: your request has been completed."
    return "I have looked that up for you."


def _careless(messages: list[dict[str, Any]], tools: list[dict[str, Any]], task: TaskSpec) -> PolicyTurn:
    """Writes without asking or confirming, one value wrong (or the write skipped); answers without looking."""
    if task.kind == "read":
        return PolicyTurn(assistant_message("I'm sure it's fine; no need to look anything up."))
    writes = [c for c in task.gold_calls if not is_read(c.name)]
    done = count_tool_calls(messages)
    if task.refusal is not None and done == 0:
        # Goes ahead with the change the rules forbid, without checking anything first.
        call = task.refusal.call
        return PolicyTurn(assistant_message(None, [_call(0, call.name, dict(call.arguments))]))
    if writes and done == 0:
        target = writes[-1]
        wrong = _wrong_arguments(target.name, dict(target.arguments), tool_index(tools))
        if wrong is not None:
            return PolicyTurn(assistant_message(None, [_call(0, target.name, wrong)]))
    return PolicyTurn(assistant_message("Done: your request has been completed."))


def _wrong_arguments(name: str, arguments: dict[str, Any], tools: dict[str, dict[str, Any]]
                     ) -> dict[str, Any] | None:
    """The same call with one non-key value changed to another valid one (a wrong write)."""
    props = ((tools.get(name) or {}).get("parameters") or {}).get("properties") or {}
    for arg, value in arguments.items():
        enum = (props.get(arg) or {}).get("enum")
        if isinstance(enum, list):
            other = next((v for v in enum if v != value), None)
            if other is not None:
                return {**arguments, arg: other}
    for arg, value in arguments.items():
        if isinstance(value, bool) or arg.endswith("id") or arg.endswith("Id"):
            continue
        if isinstance(value, int | float):
            return {**arguments, arg: value + 1}
        if isinstance(value, str) and "@" not in value:
            return {**arguments, arg: value_text(value) + " (as I understood it)"}
    return None

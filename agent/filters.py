"""The trajectory filters of the AgentScaler paper, each returning True, False or None (not applicable).

- `valid`: the conversation is well formed: system? then user, alternating turns where every
  assistant tool call is answered by exactly one tool message, tool calls name listed tools with
  JSON-object arguments, the conversation ends on an assistant text message, and there is no
  degenerate repetition (the same call 3+ times in a row, or the same assistant text twice).
- `state_match`: the episode's final state hash equals the task's gold state hash (None against a
  plain MCP server, which has no state endpoint, or when the task has no gold hash).
- `exact_match` (rule `dialogue`, the default): among the agent's calls that succeeded (a tool
  message not starting with "Error"), the write calls equal the gold write calls in order, and for
  read tasks the gold read calls appear in order (extra lookups in between are allowed). A
  dialogue looks records up, and retries a call the environment rejected; neither changes what
  was done. None when the task has nothing to compare (a write task without gold writes). Rule
  `sequence`, the old one: read tasks only, every call equals the gold calls exactly.
  Reads and writes are told apart by the tool name's verb (`agent.toolkinds`).
  Refusal tasks (`kind: "refusal"`): the successful writes equal the gold writes (the other things
  the user wanted), the gold reads appear in order (the agent checked before refusing), and the
  refused change is never tried: no call to its tool naming the same record, not even one the
  environment then rejects.
- `outputs`: every expected output string appears (case-insensitively) in the agent's final
  message (None when nothing is expected). For a refusal task these are the facts the rule turns
  on (the order's status), so it checks that the agent said why.
- `refusal`: refusal tasks only (None otherwise): the final message declines ("I can't", "unable",
  "not possible", "not allowed", ...). With `state_match` (unchanged state) and `outputs` (the
  reason), a refusal passes only when nothing changed and the agent refused and explained.

A trajectory passes when no filter is False.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from agent.toolkinds import is_read
from contracts import Filters, TaskSpec

FILTER_NAMES = tuple(Filters.model_fields)
EXACT_RULES = ("dialogue", "sequence")
MAX_REPEATED_CALLS = 3


def parse_arguments(arguments: Any) -> dict[str, Any] | None:
    """A tool call's arguments as a dict, or None when they are not a JSON object."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str):
        return None
    try:
        value = json.loads(arguments) if arguments.strip() else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def validity_problem(messages: list[dict[str, Any]], tool_names: set[str]) -> str | None:
    """The first reason the conversation is not well formed, or None when it is."""
    index = 0
    if messages and messages[0].get("role") == "system":
        index = 1
    if index >= len(messages) or messages[index].get("role") != "user":
        return "conversation does not start with a user message"
    previous_role = None
    pending: set[str] = set()
    last_calls: list[str] = []
    seen_texts: set[str] = set()
    for position, message in enumerate(messages[index:], index):
        role = message.get("role")
        if role == "system":
            return f"message {position}: system message after the start"
        if pending and role != "tool":
            return f"message {position}: tool calls {sorted(pending)} left without a tool result"
        if role == "user":
            if previous_role == "user":
                return f"message {position}: two user messages in a row"
            if previous_role == "tool":
                return f"message {position}: user message right after tool results (assistant skipped)"
        elif role == "assistant":
            if previous_role == "assistant":
                return f"message {position}: two assistant messages in a row"
            content = message.get("content")
            calls = message.get("tool_calls") or []
            if not calls and not (isinstance(content, str) and content.strip()):
                return f"message {position}: empty assistant message"
            if content and isinstance(content, str) and content.strip():
                text = " ".join(content.split())
                if text in seen_texts:
                    return f"message {position}: assistant repeats an earlier message"
                seen_texts.add(text)
            for call in calls:
                fn = call.get("function") or {}
                name = fn.get("name")
                if name not in tool_names:
                    return f"message {position}: call to unlisted tool {name!r}"
                if parse_arguments(fn.get("arguments")) is None:
                    return f"message {position}: arguments of {name!r} are not a JSON object: {fn.get('arguments')!r}"
                if not call.get("id") or call["id"] in pending:
                    return f"message {position}: tool call without a unique id"
                pending.add(call["id"])
                signature = name + "\x00" + json.dumps(parse_arguments(fn["arguments"]), sort_keys=True)
                last_calls = (last_calls + [signature])[-MAX_REPEATED_CALLS:]
                if len(last_calls) == MAX_REPEATED_CALLS and len(set(last_calls)) == 1:
                    return f"message {position}: the same call to {name!r} {MAX_REPEATED_CALLS} times in a row"
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return f"message {position}: tool result for unknown call id {call_id!r}"
            pending.discard(call_id)
            if pending:
                previous_role = "assistant"  # more results of the same assistant turn may follow
                continue
        else:
            return f"message {position}: unknown role {role!r}"
        previous_role = role
    if pending:
        return "conversation ends with unanswered tool calls"
    last = messages[-1]
    if last.get("role") != "assistant" or last.get("tool_calls"):
        return "conversation does not end with an assistant message"
    return None


def called(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | None]]:
    return [
        (call["function"]["name"], parse_arguments(call["function"].get("arguments")))
        for m in messages if m.get("role") == "assistant"
        for call in m.get("tool_calls") or []
    ]


def final_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "assistant" and message.get("content"):
            return message["content"]
    return ""


def succeeded_calls(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | None]]:
    """The calls whose tool message is a result, not an error (rejected calls changed nothing)."""
    results = {m.get("tool_call_id"): m.get("content") for m in messages if m.get("role") == "tool"}
    calls = []
    for message in messages:
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            content = results.get(call.get("id"))
            if isinstance(content, str) and content.startswith("Error"):
                continue
            calls.append((call["function"]["name"], parse_arguments(call["function"].get("arguments"))))
    return calls


def _in_order(wanted: list[tuple[str, Any]], made: list[tuple[str, Any]]) -> bool:
    """Whether `wanted` is a subsequence of `made`."""
    remaining = iter(made)
    return all(any(call == item for item in remaining) for call in wanted)


def _attempts(refused_name: str, refused_args: dict[str, Any], name: str, args: dict[str, Any] | None) -> bool:
    """Whether a call tries the refused change: the same tool, naming the same record (any text
    argument value in common, such as the order id), whatever the environment then answered."""
    if name != refused_name:
        return False
    values = {v for v in refused_args.values() if isinstance(v, str)}
    return not values or any(isinstance(v, str) and v in values for v in (args or {}).values())


def exact_match(task: TaskSpec, messages: list[dict[str, Any]], rule: str = "dialogue",
                reads: Callable[[str], bool] = is_read) -> bool | None:
    """Whether the calls match the gold: under "dialogue", the successful writes equal the gold writes
    in order (and a read task's gold reads appear in order); `reads` says which tools only read (the
    server's `readOnlyHint` in a rollout, the tool name's verb otherwise)."""
    if rule == "sequence":
        return called(messages) == [(c.name, c.arguments) for c in task.gold_calls] if task.kind == "read" else None
    if rule != "dialogue":
        raise ValueError(f"unknown exact-match rule {rule!r} (expected one of {', '.join(EXACT_RULES)})")
    gold = [(c.name, c.arguments) for c in task.gold_calls]
    if task.kind == "refusal" and task.refusal is not None:
        if any(_attempts(task.refusal.call.name, task.refusal.call.arguments, name, args)
               for name, args in called(messages)):
            return False
        made = succeeded_calls(messages)
        gold_writes = [c for c in gold if not reads(c[0])]
        return [c for c in made if not reads(c[0])] == gold_writes and _in_order(
            [c for c in gold if reads(c[0])], made)
    gold_writes = [c for c in gold if not reads(c[0])]
    required_reads = [c for c in gold if reads(c[0])] if task.kind == "read" else []
    if not gold_writes and not required_reads:
        return None
    made = succeeded_calls(messages)
    writes_ok = [c for c in made if not reads(c[0])] == gold_writes
    return writes_ok and _in_order([c for c in gold if c in gold_writes or c in required_reads], made)


# How a final message declines a request; a refusal without one of these did not say no.
REFUSAL_WORDS = re.compile(
    r"\b(can(?:no|['’])t|cannot|unable|not able|(?:is|isn't|is not) (?:not )?(?:possible|allowed|permitted)|"
    r"not (?:possible|allowed|permitted|eligible)|won't be able|couldn't|could not|i'm afraid|i am afraid)\b", re.I)


def refused(task: TaskSpec, messages: list[dict[str, Any]]) -> bool | None:
    """Refusal tasks: whether the final message declines the request (None for other tasks)."""
    if task.kind != "refusal":
        return None
    return bool(REFUSAL_WORDS.search(final_text(messages)))


def apply_filters(task: TaskSpec, messages: list[dict[str, Any]], tool_names: set[str],
                  final_state_hash: str | None, exact_rule: str = "dialogue",
                  reads: Callable[[str], bool] = is_read) -> tuple[dict[str, bool | None], str | None]:
    """All filter results plus the validity problem (None when valid)."""
    problem = validity_problem(messages, tool_names)
    state_match = None
    if final_state_hash is not None and task.gold_state_hash is not None:
        state_match = final_state_hash == task.gold_state_hash
    outputs = None
    if task.expected_outputs:
        text = final_text(messages).lower()
        outputs = all(expected.lower() in text for expected in task.expected_outputs)
    filters = {"valid": problem is None, "state_match": state_match,
               "exact_match": exact_match(task, messages, exact_rule, reads), "outputs": outputs}
    if task.kind == "refusal":  # the verdict exists only where it applies (records keep their shape)
        filters["refusal"] = refused(task, messages)
    return filters, problem


def passed(filters: dict[str, bool | None]) -> bool:
    return all(value is not False for value in filters.values())

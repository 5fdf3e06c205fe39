"""The script of a scripted dialogue: what the agent asks, looks up, confirms, gets wrong and says.

`build_script` turns a task, its tools and the user's opening into a list of beats, one per
assistant message: ask for the facts the opening left out, look the record up before changing it
(when a read tool takes the write's key), confirm before a write the rules say to confirm, make the
call (sometimes first a plausible wrong one the environment rejects, then the repair the error
message points at) and close with the outcome. Everything is seeded by (seed, task), so the same
task gives the same dialogue, and the texts come from `agent.wording` templates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.toolkinds import asks_for_confirmation, is_destructive, is_read
from agent.user import fact_label
from agent.wording import Wording, capitalize, humanize, join_words, value_text
from contracts import TaskSpec

BeatKind = Literal["ask", "confirm", "call", "retry", "final"]


@dataclass(frozen=True)
class PlannedCall:
    name: str
    arguments: dict[str, Any]
    lookup: bool = False  # added by the agent to identify the record (not a gold call)


@dataclass(frozen=True)
class Beat:
    kind: BeatKind
    text: str | None = None
    call: PlannedCall | None = None
    sent: dict[str, Any] | None = None  # the arguments actually sent (differ from call's on a mistake)


@dataclass
class Script:
    beats: list[Beat]
    wording: Wording
    mistake: str | None = None  # which kind of mistake was planted (reporting, tests)
    calls: list[PlannedCall] = field(default_factory=list)


def tool_index(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in tools if t.get("function", {}).get("name")}


def missing_facts(task: TaskSpec, user_text: str) -> list[str]:
    """The facts the user has not said yet (by value; a value said in any form counts as given)."""
    lowered = user_text.lower()
    return [key for key, value in task.user_facts.items()
            if value_text(value).lower() not in lowered and not _flag_stated(key, value, lowered)]


def _flag_stated(key: str, value: Any, lowered: str) -> bool:
    """A yes/no fact is said in words ("rooms with has video yes"), not as true/false."""
    return isinstance(value, bool) and fact_label(key).lower() in lowered


def needs_confirmation(name: str, tools: dict[str, dict[str, Any]], system_text: str) -> bool:
    if is_read(name):
        return False
    description = (tools.get(name) or {}).get("description") or ""
    return is_destructive(name, description) or asks_for_confirmation(system_text) or \
        asks_for_confirmation(description)


def _lookup_for(call: PlannedCall, tools: dict[str, dict[str, Any]], looked_up: set[tuple[str, str]],
                given: set[str]) -> PlannedCall | None:
    """A read tool that takes exactly one of the write's id arguments, to fetch the record first.

    Only for an id the user gave (`given`): an id an earlier lookup produced was found in the records.
    """
    for arg, value in call.arguments.items():
        if not isinstance(value, str) or not re.search(r"(^|_)id$|Id$", arg) or (arg, value) in looked_up \
                or value not in given:
            continue
        for name, fn in sorted(tools.items()):
            params = fn.get("parameters") or {}
            required = params.get("required") or []
            if name != call.name and is_read(name) and required == [arg] and name.lower().startswith(("get", "fetch", "retrieve", "read", "show", "view")):
                return PlannedCall(name, {arg: value}, lookup=True)
    return None


def plan_calls(task: TaskSpec, tools: dict[str, dict[str, Any]]) -> list[PlannedCall]:
    """The gold calls, with a lookup of the record inserted before a write that has none."""
    planned: list[PlannedCall] = []
    looked_up: set[tuple[str, str]] = set()
    given = {value_text(v) for v in task.user_facts.values()}
    for gold in task.gold_calls:
        call = PlannedCall(gold.name, dict(gold.arguments))
        if task.kind == "write" and not is_read(call.name):
            lookup = _lookup_for(call, tools, looked_up, given)
            if lookup is not None:
                planned.append(lookup)
                looked_up.update(lookup.arguments.items())
        if is_read(call.name):
            looked_up.update((a, v) for a, v in call.arguments.items() if isinstance(v, str))
        planned.append(call)
    return planned


def _mistake_options(call: PlannedCall, tools: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Plausible wrong arguments the tool's schema rejects: a mis-cased enum, a number as text, a missing key."""
    params = (tools.get(call.name) or {}).get("parameters") or {}
    props = params.get("properties") or {}
    options: list[tuple[str, dict[str, Any]]] = []
    for arg, value in call.arguments.items():
        schema = props.get(arg) or {}
        enum = schema.get("enum")
        if isinstance(value, str) and isinstance(enum, list):
            for variant in (value.capitalize(), value.upper(), value.replace("_", " ")):
                if variant != value and variant not in enum:
                    options.append(("enum", {**call.arguments, arg: variant}))
                    break
        if schema.get("type") in ("number", "integer") and isinstance(value, int | float) \
                and not isinstance(value, bool):
            options.append(("type", {**call.arguments, arg: str(value)}))
    for arg in params.get("required") or []:
        if arg in call.arguments:
            options.append(("missing", {k: v for k, v in call.arguments.items() if k != arg}))
    return options


def describe_args(arguments: dict[str, Any]) -> str:
    return join_words([f"{humanize(k)} {value_text(v)}" for k, v in arguments.items()])


def _ask_text(wording: Wording, facts: list[str]) -> str:
    names = list(dict.fromkeys(fact_label(k) for k in facts))  # two order ids are asked for once
    labels = join_words(names)
    many = len(facts) > 1
    return wording.fill("ask", [
        "I can help with that. Could you give me your {labels}?",
        "Sure. To find the right record I need your {labels}. " + ("What are they?" if many else "What is it?"),
        "Happy to help. What " + ("are" if many else "is") + " your {labels}?",
        "Before I look anything up, could you tell me the {labels}?",
        "Of course. Can you share the {labels}, please?",
    ], labels=labels)


def _confirm_text(wording: Wording, call: PlannedCall) -> str:
    return wording.fill("confirm", [
        "I'm about to {action} with {args}. Shall I proceed?",
        "Just to confirm: I'll {action} with {args}. Shall I go ahead?",
        "Before I make this change: {action} with {args}. Do you want me to proceed?",
        "This will {action} with {args}. Should I go ahead?",
    ], action=humanize(call.name), args=describe_args(call.arguments))


def build_script(task: TaskSpec, tools: list[dict[str, Any]], opening: str, system_text: str,
                 seed: int, mistake_rate: float) -> Script:
    wording = Wording(seed if task.seed is None else seed * 1_000_003 + task.seed, task.task_id)
    index = tool_index(tools)
    beats: list[Beat] = []
    missing = missing_facts(task, opening)
    if missing:
        beats.append(Beat("ask", _ask_text(wording, missing)))
    calls = plan_calls(task, index)
    mistake_at: int | None = None
    mistake_args: dict[str, Any] | None = None
    mistake_kind = None
    if mistake_rate > 0 and wording.number("mistake") < mistake_rate:
        candidates = [(i, kind, args) for i, call in enumerate(calls)
                      for kind, args in _mistake_options(call, index)]
        if candidates:
            mistake_at, mistake_kind, mistake_args = candidates[int(wording.number("which") * len(candidates))]
    for i, call in enumerate(calls):
        if needs_confirmation(call.name, index, system_text):
            beats.append(Beat("confirm", _confirm_text(wording, call), call))
        if i == mistake_at:
            beats.append(Beat("call", None, call, mistake_args))
            beats.append(Beat("retry", None, call))
        else:
            text = None
            if call.lookup and wording.number("preface") < 0.5:
                arg, value = next(iter(call.arguments.items()))
                text = wording.fill("lookup", ["Let me pull up {what} first.", "First I'll look up {what}.",
                                               "Let me check {what} before changing anything."],
                                    what=f"{humanize(arg)} {value_text(value)}")
            beats.append(Beat("call", text, call, call.arguments))
    beats.append(Beat("final"))
    return Script(beats, wording, mistake_kind, calls)


# ---------------------------------------------------------------------------------------------
# Reading tool errors and results
# ---------------------------------------------------------------------------------------------

_REQUIRED = re.compile(r"'(?P<arg>[^']+)' is a required property")
_INVALID = re.compile(r"invalid argument '(?P<arg>[^']+)'[^:]*:\s*(?P<why>.*)", re.S)
_NOT_ONE_OF = re.compile(r"is not one of (?P<allowed>\[.*\])")
_NOT_TYPE = re.compile(r"is not of type '(?P<type>\w+)'")


def repair(sent: dict[str, Any], intended: dict[str, Any], error: str, wording: Wording
           ) -> tuple[dict[str, Any], str]:
    """The corrected arguments and a sentence saying what the error showed, from the error text.

    The argument the error names is put right (restored or dropped); if the error names none, or
    fixing that one is not enough, every argument is sent as intended.
    """
    fixed = dict(sent)
    arg = None
    if (match := _REQUIRED.search(error)) is not None:
        arg = match.group("arg")
        note = wording.fill("why-missing", ["I left out the {label}; adding it.",
                                             "The {label} is required, so I'll include it.",
                                             "That needs the {label} too; retrying with it."],
                            label=humanize(arg))
    elif (match := _INVALID.search(error)) is not None:
        arg = match.group("arg")
        why = match.group("why")
        target = value_text(intended.get(arg)) if arg in intended else ""
        if (allowed := _NOT_ONE_OF.search(why)) is not None:
            note = wording.fill("why-enum", ["The {label} has to be one of {allowed}; using '{value}'.",
                                              "That {label} is not accepted (allowed: {allowed}). Retrying with '{value}'."],
                                label=humanize(arg), allowed=allowed.group("allowed"), value=target)
        elif (expected := _NOT_TYPE.search(why)) is not None:
            note = wording.fill("why-type", ["The {label} must be a {type}, not text; fixing that.",
                                              "I passed the {label} as text but it must be a {type}. Retrying."],
                                label=humanize(arg), type=expected.group("type"))
        else:
            note = f"The {humanize(arg)} was rejected ({why.strip()}); correcting it."
    else:
        note = wording.fill("why-other", ["That was rejected: {error} Retrying with corrected arguments.",
                                           "The system said: {error} Let me correct the call."],
                            error=error.strip().rstrip(".") + ".")
    if arg is not None:
        if arg in intended:
            fixed[arg] = intended[arg]
        else:
            fixed.pop(arg, None)
    if fixed != intended:
        fixed = dict(intended)
    return fixed, note


def parse_result(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text.split("\n(")[0])
    except (json.JSONDecodeError, ValueError):
        return None


def find_field(data: Any, wanted: str) -> str | None:
    """The key under which `wanted` appears in a tool result (case-insensitive), or None."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict | list):
                found = find_field(value, wanted)
                if found:
                    return found
            elif value is not None and value_text(value).lower() == wanted.lower():
                return key
    elif isinstance(data, list):
        for item in data:
            found = find_field(item, wanted)
            if found:
                return found
    return None


def outputs_sentence(expected: list[str], results: list[Any]) -> str:
    """"the name is Grace Murphy and the phone is +353-..." from where each value sits in the results."""
    by_field: dict[str, list[str]] = {}
    loose: list[str] = []
    for value in expected:
        key = next((k for r in reversed(results) if (k := find_field(r, value))), None)
        if key is None:
            loose.append(value)
        else:
            by_field.setdefault(key, []).append(value)
    parts = []
    for key, values in by_field.items():
        label = humanize(key)
        if len(values) == 1:
            parts.append(f"the {label} is {values[0]}")
        else:
            plural = label if label.endswith("s") else label + "s"
            parts.append(f"the {plural} are {join_words(values)}")
    if loose:
        parts.append(join_words(loose))
    return join_words(parts)


def changes_sentence(result: Any, before: Any, arguments: dict[str, Any]) -> str:
    """The fields a write changed: compared with the record looked up before, else the ones it set."""
    if not isinstance(result, dict):
        return ""
    given = {value_text(v) for v in arguments.values()}
    # A record's own id comes first in its row; one the call did not name is a new record's.
    first = next(iter(result.items()), None)
    new_ids = [first] if first and _is_id(first[0]) and value_text(first[1]) not in given else []
    if before is None and new_ids:
        # A record was created: say what identifies it and what it was created with.
        fields = new_ids[:1] + [(k, v) for k, v in result.items()
                                if k in arguments and not _is_id(k) and v is not None]
        return "it was created with " + join_words([f"{humanize(k)} {value_text(v)}" for k, v in fields])
    changed = []
    for key, value in result.items():
        if value is None or isinstance(value, dict | list):
            continue
        if isinstance(before, dict) and key in before:
            if before[key] != value:
                changed.append((key, value))
        elif key in arguments and not re.search(r"(^|_)id$", key) or key == "status":
            changed.append((key, value))
    return join_words([f"the {humanize(k)} is now {value_text(v)}" for k, v in changed])


def final_text(task: TaskSpec, messages: list[dict[str, Any]], script: Script) -> str:
    """The closing message: the outcome, with the values the user asked for or the changed fields."""
    wording = script.wording
    results: list[Any] = []
    writes: list[tuple[str, dict[str, Any], Any, Any]] = []
    records: dict[tuple[str, str], Any] = {}
    calls = {c["id"]: c["function"] for m in messages if m.get("role") == "assistant"
             for c in m.get("tool_calls") or []}
    for message in messages:
        if message.get("role") != "tool":
            continue
        content = message.get("content")
        if isinstance(content, str) and content.startswith("Error"):
            continue
        fn = calls.get(message.get("tool_call_id"))
        data = parse_result(content)
        results.append(data)
        if fn is None:
            continue
        arguments = parse_arguments_safe(fn.get("arguments"))
        ids = [(k, v) for k, v in arguments.items() if isinstance(v, str) and re.search(r"(^|_)id$|Id$", k)]
        if is_read(fn["name"]):
            for item in ids:
                records[item] = data
            for row in _rows(data):  # a listed row is the record as it was, too
                records.update(((k, v), row) for k, v in row.items() if isinstance(v, str) and _is_id(k))
        else:
            before = next((records[item] for item in ids if item in records), None)
            writes.append((fn["name"], arguments, data, before))
    sentences = []
    if task.condition is not None and not task.condition.holds and task.condition.otherwise is not None:
        # The condition did not hold and the user said what to do then: say so, then report that change.
        sentences.append(wording.fill("unmet-otherwise", [
            "The {label} is not {value}, so I did what you asked for that case instead.",
            "Since the {label} isn't {value}, I made your other change.",
            "It was not {value}, so I went with your alternative."],
            label=humanize(task.condition.column), value=value_text(task.condition.value)))
    elif task.condition is not None and not task.condition.holds:
        # The user's condition did not hold: say so before what was found (the `else` branch).
        sentences.append(wording.fill("unmet", [
            "The {label} is not {value}, so I have not made that change.",
            "Since the {label} isn't {value}, I left everything as it is.",
            "That only applied if the {label} was {value}, which it is not, so nothing was changed."],
            label=humanize(task.condition.column), value=value_text(task.condition.value)))
    for name, arguments, data, before in writes:
        ids = {k: v for k, v in arguments.items() if re.search(r"(^|_)id$|Id$", k)}
        target = f" for {describe_args(ids)}" if ids else ""
        done = wording.fill("done", ["Done: your request to {action}{target} went through.",
                                     "All set: I completed your request to {action}{target}.",
                                     "Your request to {action}{target} is complete."],
                            action=humanize(name), target=target)
        change = changes_sentence(data, before, arguments)
        sentences.append(done + (f" {capitalize(change)}." if change else ""))
    if task.refusal is not None:
        sentences.append(refusal_text(task, results, wording))
    said = " ".join(sentences)
    wanted = [v for v in task.expected_outputs if v.lower() not in said.lower()]
    if wanted:
        found = outputs_sentence(wanted, results)
        sentences.append(wording.fill("found", ["Here is what I found: {found}.", "I looked it up: {found}.",
                                                "According to the records, {found}."], found=found))
    if not sentences:
        sentences.append(wording.pick("nothing", ["I've looked into it; there was nothing to change.",
                                                  "I checked, and nothing needed changing."]))
    return " ".join(sentences)


def refusal_text(task: TaskSpec, results: list[Any], wording: Wording) -> str:
    """Decline a request the rules forbid, with the environment's reason and the facts it turns on."""
    assert task.refusal is not None
    call = task.refusal.call
    ids = {k: v for k, v in call.arguments.items() if re.search(r"(^|_)id$|Id$", k)}
    target = f" for {describe_args(ids)}" if ids else ""
    reason = task.refusal.reason.strip().rstrip(".")
    text = wording.fill("refuse", [
        "I'm sorry, but I can't {action}{target}: {reason}.",
        "I checked, and I'm unable to {action}{target}. The rules say: {reason}.",
        "Unfortunately that is not possible: {reason}. So I can't {action}{target}.",
        "I'm afraid I cannot {action}{target}, because {reason}.",
    ], action=humanize(call.name), target=target, reason=reason)
    return text


def _is_id(key: str) -> bool:
    return bool(re.search(r"(^|_)id$|Id$", key))


def _rows(data: Any) -> list[dict[str, Any]]:
    """The records in a tool result: the object itself, or the objects of a list or a `results`-style list."""
    if isinstance(data, list):
        return [row for row in data if isinstance(row, dict)]
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        return [data] + [row for rows in lists for row in rows if isinstance(row, dict)]
    return []


def parse_arguments_safe(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else None
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}

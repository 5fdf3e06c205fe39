"""State machines from what an API says about its records' status.

Three sources, strongest first:

- `x-state-transition: {field, from, to}` on the operation (read by `synth.envs.shapes`);
- a rule sentence in the operation's description, over the values of the record's status enum:
  "Only credit memos with the Draft status can be cancelled", "You can cancel only stacks that
  are in the UPDATE_IN_PROGRESS state", "The original invoice must be in draft status",
  "Orders that are shipped or delivered cannot be cancelled";
- the status verbs' own rules (`cancel` never leaves a final status; see operations._status_op).

A rule becomes a precondition of the operation language (`status in [...]`) on the write step
of the record, with a message that names the rule, so the gate can probe it both ways and task
generation can draw calls that meet or break it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TAGS = re.compile(r"<[^>]+>")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_ALLOW = re.compile(r"\bonly\b|\bmust be\b|\bhas to be\b|\bneeds? to be\b", re.I)
_DENY = re.compile(r"\b(cannot|can't|can not|may not|must not)\b|\bnot allowed\b", re.I)
_ACTION_PHRASE = re.compile(r"\b(can|cannot|can't|may|might|will|could|must)\s+(not\s+)?(only\s+)?be\s+(?!in\b)\w+",
                            re.I)
STATUS_NAMES = ("status", "state")


@dataclass(frozen=True)
class StateRule:
    column: str
    allowed: list[str]
    sentence: str


def status_column(columns: dict[str, Any]) -> Any:
    """The record's status column: `status`, `state`, or `<x>_status` / `<x>_state`, as an enum."""
    named = [c for name, c in columns.items()
             if name in STATUS_NAMES or name.endswith(("_status", "_state"))]
    enums = [c for c in named if c.type == "enum" and c.enum]
    return enums[0] if enums else None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _mentions(sentence: str, values: list[str]) -> list[str]:
    """The enum values a sentence names (`UPDATE_IN_PROGRESS`, `in progress`, `Draft`), in enum order."""
    flat = " " + re.sub(r"[^a-z0-9]+", " ", sentence.lower()) + " "
    found = []
    for value in values:
        words = re.sub(r"[^a-z0-9]+", " ", value.lower()).strip()
        if words and f" {words} " in flat:
            found.append(value)
    # `pending_close` also contains `pending`: keep the longest spellings only.
    return [v for v in found if not any(v != o and _norm(v) in _norm(o) for o in found)]


def description_rule(description: str, column: Any) -> StateRule | None:
    """The allowed source states a description states for a write, or None."""
    values = list(column.enum or [])
    if not description or len(values) < 2:
        return None
    text = _TAGS.sub(" ", description)
    for sentence in _SENTENCE.split(text):
        sentence = " ".join(sentence.split())
        if not sentence or not (_ALLOW.search(sentence) or _DENY.search(sentence)):
            continue
        # "... can be cancelled": the participle names the action, not a state the record is in.
        named = _mentions(_ACTION_PHRASE.sub(" ", sentence), values)
        if not named or len(named) == len(values):
            continue
        if _DENY.search(sentence):
            allowed = [v for v in values if v not in named]
        elif _ALLOW.search(sentence):
            allowed = named
        else:
            continue
        if allowed:
            return StateRule(column.name, allowed, sentence[:200])
    return None


def add_state_rule(op: dict[str, Any], rule: StateRule, thing: str) -> None:
    """Guard the write step of `op` (an update, delete, or a counted action's update) with the rule."""
    writes = [s["op"] for s in op["steps"]] if op["kind"] == "sequence" else [op]
    for write in writes:
        if write["kind"] not in ("update", "delete"):
            continue
        existing = write.get("preconditions") or []
        if any(p.get("column") == rule.column and p.get("op") == "in" for p in existing):
            continue  # an x-state-transition already says where the change may start
        target = (write.get("set") or {}).get(rule.column)
        allowed = [v for v in rule.allowed if not (isinstance(target, dict) and target.get("const") == v)]
        if not allowed:
            continue
        message = f"{thing} {{key}} is {{actual}}: {rule.sentence}".replace("{", "{{").replace("}", "}}")
        message = message.replace("{{key}}", "{key}").replace("{{actual}}", "{actual}")
        kept = [p for p in existing if not (p.get("column") == rule.column and p.get("op") == "ne")]
        write["preconditions"] = [*kept, {"column": rule.column, "op": "in", "value": {"const": allowed},
                                          "message": message}]

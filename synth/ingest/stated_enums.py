"""Enums an API states in prose instead of declaring.

Many specs converted from other formats list a field's values only in its description:

- Google discovery: `Possible values are:  \\n- "LARGER_IS_BETTER" - Larger scores ... \\n- "SMALLER_IS_BETTER" - ...`
- DocuSign: `Possible values are: \\n\\n* password_reset\\n* password_active\\n* password_expired`
- Books, Zuora: `Possible values are PARTIAL, ALL_PAGES, NO_PAGES or UNKNOWN.`, `` Possible values are: `true`, `false`. ``

A column or argument with such a description is an enum as much as a declared one: seeds draw from
it, arguments are checked against it and status fields get their state machine from it. So ingest
adds the `enum` to every string schema (parameters and responses) whose description states one,
copy-on-write, and leaves every other schema as it is. A statement that does not parse into 2-40
plain tokens (`Possible values are listed in the API reference`) adds nothing.
"""

from __future__ import annotations

import re
from typing import Any

from synth.tooldef import ToolDef

MAX_VALUES = 40
_LEAD = re.compile(r"\b(?:possible|allowed|valid|accepted|supported)\s+values\s+(?:are|include)\b\s*:?", re.I)
_QUOTED_BULLET = re.compile(r'^\s*[-*]\s*"([^"\n]+)"', re.M)
_PLAIN_BULLET = re.compile(r"^\s*[-*]\s*`?([A-Za-z0-9_.:/-]+)`?\s*(?:[-:(].*)?$", re.M)
_TOKEN = re.compile(r"[A-Za-z0-9_.:/-]{1,48}")
_SEPARATOR = re.compile(r"\s*(?:,\s*(?:or|and)\s+|,|\s+or\s+|\s+and\s+|;)\s*")
_SENTENCE_END = re.compile(r"\.(?:\s|$)|\n")
# Nested schema keys walked for properties (the rest of a schema is left alone).
_CHILDREN = ("properties", "items", "additionalProperties")


def stated_enum(description: str) -> list[str] | None:
    """The values a description lists after "Possible values are" (module docstring), or None."""
    lead = _LEAD.search(description or "")
    if lead is None:
        return None
    rest = description[lead.end():]
    values = _QUOTED_BULLET.findall(rest) or _bullets(rest) or _inline(rest)
    values = list(dict.fromkeys(v.strip() for v in values))
    if not 2 <= len(values) <= MAX_VALUES or not all(_TOKEN.fullmatch(v) for v in values):
        return None
    return values


def _bullets(rest: str) -> list[str]:
    lines = rest.lstrip("\n ").split("\n\n")[0] if rest.lstrip().startswith(("*", "-")) else ""
    return _PLAIN_BULLET.findall(lines)


def _inline(rest: str) -> list[str]:
    """`PARTIAL, ALL_PAGES, NO_PAGES or UNKNOWN.`: the first sentence, split at commas and "or"."""
    sentence = _SENTENCE_END.split(rest.strip(), maxsplit=1)[0]
    parts = [p.strip().strip("`'\"") for p in _SEPARATOR.split(sentence) if p.strip()]
    return parts if all(_TOKEN.fullmatch(p) for p in parts) else []


def with_stated_enums(schema: Any) -> Any:
    """`schema` with `enum` added where a string's description states its values; the same object
    when nothing changes (shared sub-schemas stay shared)."""
    if not isinstance(schema, dict):
        return schema
    changes: dict[str, Any] = {}
    if "enum" not in schema and schema.get("type") in ("string", None) and isinstance(schema.get("description"), str):
        values = stated_enum(schema["description"])
        if values is not None:
            changes["enum"] = values
            changes.setdefault("type", "string")
    for key in _CHILDREN:
        sub = schema.get(key)
        if key == "properties" and isinstance(sub, dict):
            new = {name: with_stated_enums(value) for name, value in sub.items()}
            if any(new[name] is not sub[name] for name in sub):
                changes[key] = new
        elif isinstance(sub, dict):
            new_sub = with_stated_enums(sub)
            if new_sub is not sub:
                changes[key] = new_sub
    return {**schema, **changes} if changes else schema


def tool_with_stated_enums(tool: ToolDef) -> ToolDef:
    """The tool with stated enums added to its parameters and its response."""
    parameters = with_stated_enums(tool.parameters)
    returns = with_stated_enums(tool.returns) if tool.returns is not None else None
    if parameters is tool.parameters and returns is tool.returns:
        return tool
    return tool.model_copy(update={"parameters": parameters, "returns": returns})

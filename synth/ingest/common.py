"""Helpers every ingest format shares: name sanitizing, type normalizing, per-item skip records."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from synth.tooldef import ToolDef

MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 2000

_NON_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]+")
_REPEATED_UNDERSCORES = re.compile(r"_{2,}")


class IngestError(ValueError):
    """A whole file or source could not be turned into tools; the message names what is wrong."""


@dataclass
class LoadResult:
    """What one loader made of one parsed document: the tools and the items it had to skip."""

    tools: list[ToolDef] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def sanitize_name(raw: str, fallback: str = "tool") -> str:
    """Turn any name into `[A-Za-z0-9_]{1,64}` (OpenAI and MCP both accept that alphabet)."""
    name = _NON_NAME_CHARS.sub("_", raw or "")
    name = _REPEATED_UNDERSCORES.sub("_", name).strip("_")
    if not name:
        name = _NON_NAME_CHARS.sub("_", fallback).strip("_") or "tool"
    return name[:MAX_NAME_LENGTH].rstrip("_") or "tool"


def clip_description(*parts: str | None) -> str:
    """Join the non-empty text parts (summary, description) once each, capped in length."""
    seen: list[str] = []
    for part in parts:
        text = (part or "").strip()
        if text and text not in seen:
            seen.append(text)
    joined = "\n\n".join(seen)
    if len(joined) > MAX_DESCRIPTION_LENGTH:
        joined = joined[: MAX_DESCRIPTION_LENGTH - 1].rstrip() + "…"
    return joined


# Python-ish and vendor type names seen in BFCL, ToolBench and hand-written tool docs.
_TYPE_ALIASES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "str": {"type": "string"},
    "text": {"type": "string"},
    "char": {"type": "string"},
    "integer": {"type": "integer"},
    "int": {"type": "integer"},
    "long": {"type": "integer"},
    "number": {"type": "number"},
    "float": {"type": "number"},
    "double": {"type": "number"},
    "decimal": {"type": "number"},
    "boolean": {"type": "boolean"},
    "bool": {"type": "boolean"},
    "object": {"type": "object"},
    "dict": {"type": "object"},
    "map": {"type": "object"},
    "hashmap": {"type": "object"},
    "array": {"type": "array"},
    "list": {"type": "array"},
    "tuple": {"type": "array"},
    "set": {"type": "array", "uniqueItems": True},
    "null": {"type": "null"},
    "none": {"type": "null"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "time": {"type": "string", "format": "time"},
    "enum": {"type": "string"},
    "geopoint": {"type": "string", "description": "latitude,longitude"},
    "file": {"type": "string", "format": "binary"},
    "binary": {"type": "string", "format": "binary"},
}
# "any" and friends mean "no constraint": an empty schema.
_ANY_TYPES = {"any", "anytype", "mixed", ""}
# Keys whose values are themselves schemas (or maps/lists of schemas) to normalize recursively.
_SCHEMA_MAP_KEYS = ("properties", "patternProperties", "definitions", "$defs")
_SCHEMA_LIST_KEYS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_KEYS = ("items", "additionalProperties", "not", "contains")


def json_type_for(raw_type: str) -> dict[str, Any] | None:
    """The JSON Schema fragment for a loose type name, {} for "any", None when unknown."""
    key = raw_type.strip().lower()
    if key in _ANY_TYPES:
        return {}
    return dict(_TYPE_ALIASES[key]) if key in _TYPE_ALIASES else None


def has_non_json_types(schema: Any) -> bool:
    """True when a schema uses type names JSON Schema does not know (BFCL's "dict", "float"...)."""
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    for item in kinds:
        if isinstance(item, str) and item not in _JSON_TYPES:
            return True
    for key in _SCHEMA_MAP_KEYS:
        sub = schema.get(key)
        if isinstance(sub, dict) and any(has_non_json_types(value) for value in sub.values()):
            return True
    return any(has_non_json_types(schema.get(key)) for key in ("items", "additionalProperties"))


_JSON_TYPES = {"string", "integer", "number", "boolean", "object", "array", "null"}


def needs_normalizing(
    node: Any, skip_keys: frozenset[str] = frozenset(), allowed_types: frozenset[str] = frozenset()
) -> bool:
    """True when anything under `node` would be changed by `normalize_schema`: a non-JSON type
    name, a property with a boolean `required`, a draft-4 tuple `items` list, or `items` with no
    `type` (`_untyped_array`). A walk without
    copying, so a clean document (most OpenAPI specs) can skip normalization altogether."""
    stack: list[tuple[Any, bool]] = [(node, False)]
    while stack:
        current, is_property = stack.pop()
        if isinstance(current, dict):
            kind = current.get("type")
            if isinstance(kind, str):
                if kind not in _JSON_TYPES and kind not in allowed_types:
                    return True
            elif isinstance(kind, list) or isinstance(current.get("items"), list) or _untyped_array(current):
                return True
            if is_property and isinstance(current.get("required"), bool):
                return True
            for key, value in current.items():
                if key in skip_keys:
                    continue
                if key == "properties" and isinstance(value, dict):
                    stack.extend((prop, True) for prop in value.values())
                elif isinstance(value, dict | list):
                    stack.append((value, False))
        elif isinstance(current, list):
            stack.extend((value, False) for value in current if isinstance(value, dict | list))
    return False


def _untyped_array(schema: dict[str, Any]) -> bool:
    """`{"items": {...}}` with no `type`: an array (eBay's `merchandisedProducts`), which every
    reader of the schema would otherwise take for an object with no properties."""
    return "type" not in schema and isinstance(schema.get("items"), dict | list) and not any(
        key in schema for key in ("properties", "anyOf", "oneOf", "allOf", "$ref"))


def schema_as_is(schema: Any, where: str = "parameters") -> dict[str, Any]:
    """The no-op twin of `normalize_schema` for documents `needs_normalizing` found clean."""
    if schema is True or schema is None:
        return {}
    if not isinstance(schema, dict):
        raise IngestError(f"{where}: expected a JSON Schema object, got {type(schema).__name__}")
    return schema


def normalize_schema(
    schema: Any,
    where: str = "parameters",
    memo: dict[int, tuple[Any, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Return a JSON Schema with loose type names mapped to JSON types ("dict" -> "object").

    Copy-on-write: a (sub)schema that needs no change is returned as is, so shared resolved
    definitions stay shared. `memo` (keyed by object identity, holding the object alive) lets a
    caller normalize many schemas that share sub-dicts in one pass each. Raises IngestError
    (naming `where`) for a type name with no sensible mapping, so a tool with a nonsense schema
    is skipped rather than turned into an unusable one.
    """
    if schema is True or schema is None:
        return {}
    if not isinstance(schema, dict):
        raise IngestError(f"{where}: expected a JSON Schema object, got {type(schema).__name__}")
    if memo is not None:
        hit = memo.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
    out = _normalize(schema, where, memo)
    if memo is not None:
        memo[id(schema)] = (schema, out)
    return out


def _normalize(
    schema: dict[str, Any], where: str, memo: dict[int, tuple[Any, dict[str, Any]]] | None
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    removals: list[str] = []
    kind = schema.get("type")
    if isinstance(kind, str):
        if kind not in _JSON_TYPES:
            mapped = json_type_for(kind)
            if mapped is None:
                raise IngestError(f"{where}.type: unknown type {kind!r}")
            removals.append("type")
            for key, value in mapped.items():
                if key not in schema or key == "type":
                    changes[key] = value
    elif isinstance(kind, list):
        json_kinds: list[str] = []
        for item in kind:
            mapped = json_type_for(str(item))
            if mapped is None:
                raise IngestError(f"{where}.type: unknown type {item!r}")
            if "type" in mapped and mapped["type"] not in json_kinds:
                json_kinds.append(mapped["type"])
        if not json_kinds:
            removals.append("type")
        elif json_kinds != kind:
            changes["type"] = json_kinds if len(json_kinds) > 1 else json_kinds[0]
    elif _untyped_array(schema):
        changes["type"] = "array"
    for key in _SCHEMA_MAP_KEYS:
        sub = schema.get(key)
        if isinstance(sub, dict):
            normalized = {
                name: normalize_schema(value, f"{where}.{key}.{name}", memo) for name, value in sub.items()
            }
            if any(normalized[name] is not sub[name] for name in sub):
                changes[key] = normalized
    for key in _SCHEMA_LIST_KEYS:
        sub = schema.get(key)
        if isinstance(sub, list):
            items = [normalize_schema(value, f"{where}.{key}[{i}]", memo) for i, value in enumerate(sub)]
            if any(new is not old for new, old in zip(items, sub, strict=True)):
                changes[key] = items
    for key in _SCHEMA_KEYS:
        sub = schema.get(key)
        if isinstance(sub, dict):
            normalized_sub = normalize_schema(sub, f"{where}.{key}", memo)
            if normalized_sub is not sub:
                changes[key] = normalized_sub
        elif key == "items" and isinstance(sub, list):
            # Draft-4 tuple form: a list of item schemas is 2020-12's prefixItems.
            removals.append("items")
            changes["prefixItems"] = [
                normalize_schema(value, f"{where}.items[{i}]", memo) for i, value in enumerate(sub)
            ]
    # Python-ish docs put "required": true on a property; JSON Schema wants a list on the parent.
    required_flag = schema.get("required")
    if isinstance(required_flag, bool):
        removals.append("required")
    props = schema.get("properties")
    if isinstance(props, dict):
        flagged = [
            name for name, prop in props.items() if isinstance(prop, dict) and prop.get("required") is True
        ]
        if flagged:
            required = list(required_flag) if isinstance(required_flag, list) else []
            changes["required"] = required + [name for name in flagged if name not in required]
            if "required" in removals:
                removals.remove("required")
    if not changes and not removals:
        return schema
    out = {key: value for key, value in schema.items() if key not in removals}
    out.update(changes)
    return out


def object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Make sure a tool's parameters schema is an object schema with a properties map."""
    if not schema:
        return {"type": "object", "properties": {}}
    if schema.get("type") not in (None, "object"):
        # A bare scalar schema as "parameters" becomes one argument called "value".
        return {"type": "object", "properties": {"value": schema}, "required": ["value"]}
    out = dict(schema)
    out["type"] = "object"
    out.setdefault("properties", {})
    return out

"""Strict JSON values for tool arguments: finite numbers, integers SQLite can store, valid Unicode.

JSON parsers in Python accept more than JSON: `Infinity`, `NaN` and `1e999` (which overflows to
infinity) become floats, integers have no size limit, and a `"\\ud800"` escape becomes a string
that cannot be encoded as UTF-8. None of these can be stored or sent back faithfully: SQLite
raises on integers beyond 64 bits and on unencodable text, and a non-finite float would be
written as `Infinity` (not JSON) in a tool result and hash differently from the `null` that REST
shows. `check_argument_values` rejects them before a call runs, naming the argument.

It also settles what an integral float means where the schema asks for an integer: JSON Schema
counts `2.0` as an integer, so the executor receives it as `2` (one rule for both).
"""

from __future__ import annotations

import math
from typing import Any

SQLITE_INT_MIN = -(2**63)
SQLITE_INT_MAX = 2**63 - 1


class _BadValue(Exception):
    pass


def check_argument_values(input_schema: dict, arguments: dict) -> tuple[dict, str | None]:
    """`arguments` with integral floats made integers where the schema wants one, or the first problem."""
    properties = input_schema.get("properties") if isinstance(input_schema, dict) else None
    properties = properties if isinstance(properties, dict) else {}
    try:
        checked = {
            _text(name, "argument name"): _value(value, properties.get(name), name)
            for name, value in arguments.items()
        }
    except _BadValue as err:
        return arguments, str(err)
    return checked, None


def _value(value: Any, schema: Any, path: str) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            shown = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            raise _BadValue(f"argument '{path}': {shown} is not a JSON number (numbers too large for a "
                            "double, such as 1e999, overflow to Infinity); send a finite number")
        if value.is_integer() and _wants_integer(schema):
            return _in_sqlite_range(int(value), path, shown=repr(value))
        return value
    if isinstance(value, int):
        return _in_sqlite_range(value, path)
    if isinstance(value, str):
        return _text(value, f"argument '{path}'")
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema, dict) else None
        return [_value(item, items, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        props = schema.get("properties") if isinstance(schema, dict) else None
        props = props if isinstance(props, dict) else {}
        return {
            _text(key, f"argument '{path}' key"): _value(item, props.get(key), f"{path}.{key}")
            for key, item in value.items()
        }
    return value


def _in_sqlite_range(value: int, path: str, shown: str | None = None) -> int:
    if SQLITE_INT_MIN <= value <= SQLITE_INT_MAX:
        return value
    text = shown if shown is not None else (str(value) if abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit integer")
    raise _BadValue(f"argument '{path}': {text} is outside the integer range that can be stored "
                    f"({SQLITE_INT_MIN} to {SQLITE_INT_MAX})")


def _text(value: str, what: str) -> str:
    if value.isascii():  # the common case, and far cheaper than encoding
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        code = ord(value[err.start])
        raise _BadValue(f"{what} contains an unpaired surrogate (U+{code:04X}) at character {err.start}, "
                        "which is not valid Unicode text; send the character as a proper pair or drop it") from None
    return value


def _wants_integer(schema: Any) -> bool:
    """Whether the schema accepts integers but not other numbers at this place."""
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set()
    if kinds:
        return "integer" in kinds and "number" not in kinds
    branches = [b for b in schema.get("anyOf", []) + schema.get("oneOf", []) if isinstance(b, dict)]
    typed = [b for b in branches if b.get("type") not in (None, "null")]
    return bool(typed) and all(_wants_integer(b) for b in typed)


def finite_json_data(data: Any) -> Any:
    """`data` with non-finite floats replaced by None (JSON's only spelling for a missing number)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite_json_data(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite_json_data(value) for value in data]
    return data

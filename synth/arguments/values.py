"""Values for tool arguments: new values that fit a column, and values that fit a JSON Schema.

`new_value` draws what a person would type for a column (names for name columns, dates near
the ones the table holds, enum members...), different from the value it replaces;
`example_value` and `fresh_value` make deterministic values for the quality gate's probes;
`schema_fit` and `from_schema` bring values in line with an argument's schema.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any

from servers.spec import Column, check_value

# Real request bodies nest deeply (AWS); required members below this depth are not filled.
MAX_EXAMPLE_DEPTH = 10

_FIRST = ["Ana", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam",
          "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yara"]
_LAST = ["Alvarez", "Brown", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
         "Kowalski", "Lopez", "Müller", "Nakamura", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Weber"]
_CITIES = ["Lisbon", "Denver", "Osaka", "Toronto", "Nairobi", "Oslo", "Austin", "Porto", "Seattle", "Lyon",
           "Madrid", "Boston", "Dublin", "Vienna", "Chicago", "Zurich"]
_COUNTRIES = ["Portugal", "Canada", "Japan", "Kenya", "Norway", "Spain", "Ireland", "Austria", "Germany"]
_STREETS = ["Maple Street", "Harbor Road", "Oak Avenue", "Station Lane", "Park Place", "River Drive"]
_COMPANIES = ["Northwind Traders", "Blue Harbor Ltd", "Acme Supplies", "Greenfield Co", "Summit Labs"]
_PHRASES = ["arrives too late", "no longer needed", "ordered by mistake", "found a better option",
            "change of plans", "duplicate request", "please handle with care", "urgent for Friday",
            "gift for a friend", "needed for the team offsite", "wrong size", "schedule conflict"]
_TITLES = ["Quarterly review", "Team offsite", "Spring update", "Product launch", "Weekly sync",
           "Budget plan", "Customer visit", "Design notes"]
_WORDS = ["amber", "cedar", "delta", "ember", "falcon", "harbor", "iris", "juniper", "lumen", "meadow",
          "nova", "orbit", "pine", "quartz", "river", "sierra", "tundra", "willow"]

_NUMERIC_SUFFIX = re.compile(r"^(.*?)(\d+)$")


def _words(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower()))


def new_string(column: Column, rng: random.Random, existing: list[Any]) -> str:
    """A new value that looks like the column's content, from its name and its current values."""
    w = _words(column.name)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    if "email" in w or "mail" in w:
        return f"{first.lower()}.{last.lower().replace('ü', 'u')}@example.com"
    if w & {"phone", "mobile", "tel", "telephone"}:
        return f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if w & {"first", "firstname", "given"}:
        return first
    if w & {"last", "lastname", "surname", "family"}:
        return last
    if w & {"name", "owner", "holder", "passenger", "customer", "author", "contact", "assignee", "user"}:
        return f"{first} {last}"
    if w & {"city", "origin", "destination", "town"}:
        return rng.choice(_CITIES)
    if "country" in w:
        return rng.choice(_COUNTRIES)
    if w & {"address", "street"}:
        return f"{rng.randint(1, 250)} {rng.choice(_STREETS)}"
    if w & {"company", "vendor", "supplier", "merchant", "organization", "org"}:
        return rng.choice(_COMPANIES)
    if w & {"reason", "note", "notes", "comment", "comments", "message", "description", "memo", "remarks"}:
        return rng.choice(_PHRASES)
    if w & {"title", "subject", "summary", "label"}:
        return rng.choice(_TITLES)
    strings = [v for v in existing if isinstance(v, str) and v]
    if strings:
        sample = rng.choice(strings)
        match = _NUMERIC_SUFFIX.match(sample)
        if match and " " not in sample:
            # Codes like "SEAT-12A" or "AB123": keep the shape, change the number.
            prefix, digits = match.groups()
            return f"{prefix}{rng.randint(1, 10 ** len(digits) - 1):0{len(digits)}d}"
        if " " not in sample and sample.isupper():
            return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in sample)
    return f"{rng.choice(_WORDS)} {rng.choice(_WORDS)}"


def _shift_date(value: str, days: int) -> str:
    try:
        base = dt.date.fromisoformat(value[:10])
    except ValueError:
        base = dt.date(2026, 6, 15)
    return (base + dt.timedelta(days=days)).isoformat() + value[10:]


def new_value(column: Column, rng: random.Random, existing: list[Any], avoid: Any = None) -> Any:
    """A value that fits `column` and differs from `avoid` (the value it replaces)."""
    values = [v for v in existing if v is not None]
    for _ in range(12):
        value = _draw(column, rng, values)
        if value != avoid and check_value(column, value) is None:
            return value
    return value


def _draw(column: Column, rng: random.Random, values: list[Any]) -> Any:
    t = column.type
    if t == "enum":
        return rng.choice(column.enum or [])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "date":
        base = rng.choice([v for v in values if isinstance(v, str)] or ["2026-06-15"])
        return _shift_date(base, rng.choice([-1, 1]) * rng.randint(1, 30))
    if t in ("integer", "number"):
        nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        lo, hi = (min(nums), max(nums)) if nums else (1, 100)
        if hi <= lo:
            hi = lo + max(10, abs(lo))
        if t == "integer" or all(isinstance(v, int) for v in nums) and nums:
            return rng.randint(int(lo), int(hi))
        return round(rng.uniform(lo, hi), 2)
    return new_string(column, rng, values)


def schema_fit(schema: dict[str, Any], value: Any, rng: random.Random) -> Any:
    """Bring a drawn value in line with the argument's JSON Schema (enum, type, bounds)."""
    if "enum" in schema and schema["enum"] and value not in schema["enum"]:
        return rng.choice(schema["enum"])
    typ = schema.get("type")
    if typ == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if typ == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None and value < lo:
            value = lo
        if hi is not None and value > hi:
            value = hi
    if typ == "string" and value is not None and not isinstance(value, str):
        value = str(value)
    return within_bounds(schema, value)


def from_schema(schema: dict[str, Any], rng: random.Random, name: str = "") -> Any:
    """A value for an argument no column explains, from its schema and its name."""
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    typ = schema.get("type")
    if typ == "integer":
        return rng.randint(int(schema.get("minimum", 1)), int(schema.get("maximum", 5)))
    if typ == "number":
        return round(rng.uniform(float(schema.get("minimum", 1)), float(schema.get("maximum", 100))), 2)
    if typ == "boolean":
        return True
    if typ == "array":
        return []
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    if len(words) > 1 and words[-1] in ("id", "key", "code", "ref", "number"):
        return f"{words[0][:3].upper()}-{rng.randint(1000, 9999)}"
    return new_string(Column(name=name if re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", name) else "text"), rng, [])


def example_value(schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """A value that validates against a (cleaned) JSON Schema."""
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    t = schema.get("type")
    if t == "integer":
        return max(1, int(schema.get("minimum", 1) or 1))
    if t == "number":
        return float(max(1, schema.get("minimum", 1) or 1))
    if t == "boolean":
        return True
    if t == "array":
        item = example_value(schema.get("items") or {"type": "string"}, name, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1) or 1))
    if t == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if depth >= MAX_EXAMPLE_DEPTH:
            return {}
        return {k: example_value(props[k], k, depth + 1) for k in schema.get("required", []) if k in props}
    text = f"example-{name or 'value'}"
    low, high = int(schema.get("minLength", 0) or 0), schema.get("maxLength")
    if isinstance(high, int) and high >= 0:
        text = text[:high]
    return text + "x" * max(0, low - len(text))


def within_bounds(schema: dict[str, Any], value: Any) -> Any:
    """`value` moved inside the argument's declared bounds: numbers clamped to minimum/maximum,
    strings cut to maxLength or padded to minLength (an API's `checked_bags` 0-3, a token of
    at least 32 characters)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if isinstance(lo, (int, float)) and value < lo:
            value = lo
        if isinstance(hi, (int, float)) and value > hi:
            value = hi
        return int(value) if schema.get("type") == "integer" and float(value).is_integer() else value
    if isinstance(value, str):
        low, high = schema.get("minLength"), schema.get("maxLength")
        if isinstance(high, int) and high >= 0 and len(value) > high:
            value = value[:high].rstrip() or value[:high]
        if isinstance(low, int) and len(value) < low:
            value = value + "x" * (low - len(value))
    return value


def fresh_value(column: Column, current: Any, attempt: int, schema: dict[str, Any]) -> Any:
    """A value for `column` that differs from `current` and fits both the column and the argument schema."""
    return within_bounds(schema, _fresh(column, current, attempt, schema))


def _fresh(column: Column, current: Any, attempt: int, schema: dict[str, Any]) -> Any:
    choices = schema.get("enum") if isinstance(schema.get("enum"), list) else None
    if column.type == "enum" or choices:
        options = [v for v in (choices or column.enum or []) if v != current] or list(choices or column.enum or [])
        return options[attempt % len(options)] if options else current
    if column.type == "boolean":
        return not bool(current)
    if column.type == "integer":
        return (current + 1 + attempt) if isinstance(current, int) and not isinstance(current, bool) else 7 + attempt
    if column.type == "number":
        return round(current + 1.5 + attempt, 2) if isinstance(current, (int, float)) else 12.5 + attempt
    if column.type == "date":
        return f"2026-0{1 + attempt % 9}-1{attempt % 10}"
    return f"updated {column.name.replace('_', ' ')} {attempt + 1}"



"""Reading a per-call sort request: "-name", "name desc", "name:asc", "created_at_desc", "asc"."""

from __future__ import annotations

from typing import Any

from servers.spec import Table

_DIRECTIONS = {"asc": False, "ascending": False, "a": False, "up": False,
               "desc": True, "descending": True, "d": True, "down": True}


def sort_direction(value: Any) -> bool | None:
    """True for descending, False for ascending, None when `value` says neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value < 0  # 1 / -1, as some APIs write it
    if isinstance(value, str):
        return _DIRECTIONS.get(value.strip().lower())
    return None


def column_named(table: Table, name: str) -> str | None:
    """The column `name` means: exact, or the same letters (`createdAt` is `created_at`)."""
    if table.column(name) is not None:
        return name
    flat = "".join(ch for ch in name.lower() if ch.isalnum())
    for column in table.columns:
        if "".join(ch for ch in column.name.lower() if ch.isalnum()) == flat:
            return column.name
    return None


def parse_sort_value(value: Any) -> tuple[str, bool | None] | None:
    """`"-name"`, `"name desc"`, `"name:asc"`, `"name+"`, `"created_at_desc"`, `["name", ...]` ->
    (field, descending or None); the first field only: one sort key is what a find orders by."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str) or not value.strip():
        return None
    term = value.split(",")[0].strip()
    if not term:
        return None
    descending: bool | None = None
    if term[0] in "-+":
        descending, term = term[0] == "-", term[1:]
    elif term[-1] in "-+":
        descending, term = term[-1] == "-", term[:-1]
    words = term.replace(":", " ").split()
    if len(words) == 2 and words[1].lower() in _DIRECTIONS:
        term, descending = words[0], _DIRECTIONS[words[1].lower()]
    lowered = term.lower()
    for suffix in ("_descending", "_ascending", "_desc", "_asc", "-desc", "-asc"):
        if lowered.endswith(suffix) and len(term) > len(suffix):
            term, descending = term[: -len(suffix)], suffix.lstrip("_-").startswith("desc")
            break
    return term.strip(), descending

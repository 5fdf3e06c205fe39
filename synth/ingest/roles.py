"""Paging and ordering parameters: what they steer, so that synthesis never treats them as data.

`maxResults=10` asks for fewer rows, `order=asc` for another order, `pageToken=...` for the next
page; stored as columns and compared with `=`, they would hide rows instead. Ingest gives such
parameters a role (ToolDef.param_roles) and synthesis maps the role onto the find operation's
limit, offset and sort.

A telling name is not enough on its own: an `order` may be an order id, a `count` a quantity to
buy, a `start` a date, a `sort` an integer position. The schema (type, enum) and the description
must agree with the role.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

LIMIT = "limit"
OFFSET = "offset"
PAGE = "page"
CURSOR = "cursor"
SORT = "sort"
SORT_DIRECTION = "sort_direction"
ROLES = (LIMIT, OFFSET, PAGE, CURSOR, SORT, SORT_DIRECTION)


def _flat(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_LIMIT_NAMES = frozenset(map(_flat, (
    "limit", "max_results", "maxResults", "page_size", "pageSize", "per_page", "perPage", "results_per_page",
    "max_items", "maxItems", "max_records", "MaxRecords", "num_results", "top", "$top", "page_limit",
    "max_count", "items_per_page", "rows_per_page", "MaxKeys", "max_entries", "result_limit", "max_hits",
    "hits_per_page", "pagelen", "page_length",
)))
# Names that are a page size only when the description says so (`count` of what?).
_LIMIT_WEAK = frozenset(map(_flat, ("count", "size", "max", "n", "num", "rows", "results", "number", "take",
                                    "first", "last")))
# "How many to return", not "how many to buy": the text must speak of results coming back.
_SIZE_TEXT = re.compile(
    r"\b(results?|items?|records?|entries|rows|objects|elements|hits|documents|matches|values)\b.{0,30}"
    r"\b(to (return|retrieve|fetch|show|display|include|list|get)|returned|retrieved|in the response|per page)|"
    r"\bper page\b|\bpage size\b|\bmaximum number of\b|\bmax(imum)? (number of )?(results|items|records|entries|rows)\b|"
    r"\blimit (the )?(number|results|response)",
    re.I,
)
_OFFSET_NAMES = frozenset(map(_flat, ("offset", "skip", "$skip", "start_index", "startIndex", "first_result",
                                      "firstResult", "start_position")))
_OFFSET_WEAK = frozenset(map(_flat, ("start", "from", "start_at", "startAt", "begin", "first", "index")))
_OFFSET_TEXT = re.compile(
    r"\b(offset|skip|skipped|index of the first|first (result|item|record|entry|row)|starting (index|position|"
    r"point|result|record)|zero-based|0-based|position of the first|results? to (start|begin))\b",
    re.I,
)
_TIME_TEXT = re.compile(r"\b(date|time|timestamp|year|month|day|epoch|iso ?8601|yyyy)", re.I)
_PAGE_NAMES = frozenset(map(_flat, ("page", "page_number", "pageNumber", "page_no", "pageNo", "page_num",
                                    "pageNum", "page_index", "pageIndex", "p")))
_CURSOR_NAMES = frozenset(map(_flat, (
    "page_token", "pageToken", "next_token", "NextToken", "next_page_token", "continuation_token",
    "continuationToken", "cursor", "marker", "Marker", "NextMarker", "start_cursor", "starting_after",
    "ending_before", "exclusive_start_key", "paging_token", "resumption_token", "continuation", "page_cursor",
    "next_cursor", "after_cursor", "before_cursor", "next_page", "key_marker", "starting_token", "sync_token",
    "skip_token", "$skipToken",
)))
_CURSOR_TEXT = re.compile(
    r"paginat|\bpage\b|next (set|batch|chunk|group)|\bcontinu(e|ation)\b|\bcursor\b|\bmarker\b|more results|"
    r"(subsequent|next) (call|request|list)|where to (start|begin|resume)",
    re.I,
)
# Tokens that identify a request, a session or a user, whatever their text says about next calls.
_NOT_CURSOR = re.compile(r"client|request|unique|idempot|access|refresh|session|auth|id_?token")
_SORT_NAMES = frozenset(map(_flat, ("sort", "sort_by", "sortBy", "order_by", "orderBy", "$orderby", "sort_field",
                                    "sortField", "sort_key", "sort_on", "sorting", "sort_column", "order_field")))
_DIRECTION_NAMES = frozenset(map(_flat, ("sort_order", "sortOrder", "sort_direction", "sortDirection", "sort_dir",
                                         "sortDir", "order_direction", "orderDirection", "order_dir")))
_DIRECTION_WEAK = frozenset(map(_flat, ("order", "direction", "dir", "sortdir")))
_DIRECTION_FLAGS = frozenset(map(_flat, ("desc", "descending", "reverse")))
_DIRECTION_VALUES = frozenset({"asc", "desc", "ascending", "descending", "a", "d", "up", "down"})
_DIRECTION_TEXT = re.compile(r"\basc(ending)?\b.{0,60}\bdesc(ending)?\b|\bdesc(ending)?\b.{0,60}\basc(ending)?\b",
                             re.I | re.S)
# "ORDER by this field ... + / - for ASC / DESC": a field to sort by that also carries directions.
_FIELD_TEXT = re.compile(r"\b(field|column|property|attribute)s?\b", re.I)
_SORT_TEXT = re.compile(r"\bsort(ed|ing|s)?\b|\border(ed|ing)? (by|of|in which)\b|\bordering\b|\bsort order\b",
                        re.I)
# An `order` that names an order: "the order id", "order to cancel".
_ENTITY_TEXT = re.compile(r"\b(id|identifier|number|reference|code)\b", re.I)


def _type(schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if kinds else None
    return kind


def _numeric(schema: Mapping[str, Any]) -> bool:
    kind = _type(schema)
    if kind in ("integer", "number"):
        return True
    default = schema.get("default")
    # RapidAPI and hand-written docs type numbers as strings; a numeric default gives them away.
    return kind in (None, "string") and (isinstance(default, int) and not isinstance(default, bool)
                                         or isinstance(default, str) and default.strip().isdigit())


def _text(schema: Mapping[str, Any]) -> str:
    parts = [schema.get("description"), schema.get("title")]
    return " ".join(part for part in parts if isinstance(part, str))


def _enum(schema: Mapping[str, Any]) -> list[str] | None:
    values = schema.get("enum")
    if isinstance(values, list) and values:
        return [str(value).strip().lower() for value in values]
    return None


def _is_direction(schema: Mapping[str, Any], text: str) -> bool:
    values = _enum(schema)
    if values is not None:
        return all(value in _DIRECTION_VALUES for value in values)
    return bool(_DIRECTION_TEXT.search(text)) and not _FIELD_TEXT.search(text)


def parameter_role(name: str, schema: Any) -> str | None:
    """The paging or ordering role of one parameter, or None when it is data."""
    if not isinstance(schema, Mapping):
        return None
    flat = _flat(name)
    text = _text(schema)
    kind = _type(schema)
    if flat in _LIMIT_NAMES and (_numeric(schema) or (kind is None and not text)):
        return LIMIT
    if flat in _LIMIT_WEAK and _numeric(schema) and _SIZE_TEXT.search(text):
        return LIMIT
    if flat in _OFFSET_NAMES and (_numeric(schema) or kind is None or kind == "string" and not _TIME_TEXT.search(text)):
        return OFFSET
    if flat in _OFFSET_WEAK and kind in ("integer", "number") and _OFFSET_TEXT.search(text) \
            and not _TIME_TEXT.search(text) and "format" not in schema:
        return OFFSET
    if flat in _PAGE_NAMES and (flat != "p" or re.search(r"\bpage\b", text, re.I)):
        if kind in ("integer", "number") or (_numeric(schema) and not _CURSOR_TEXT.search(text)):
            return PAGE
        if kind in (None, "string") and _CURSOR_TEXT.search(text):
            return CURSOR
        if kind is None and not text:
            return PAGE
        return None
    if kind in (None, "string") and (
        flat in _CURSOR_NAMES
        or (re.search(r"token|cursor|marker", flat) and _CURSOR_TEXT.search(text) and not _NOT_CURSOR.search(flat))
        or (flat in ("after", "before") and re.search(r"\bcursor\b", text, re.I))
    ):
        return CURSOR
    if flat in _DIRECTION_NAMES and kind in (None, "string") and (_enum(schema) is None or _is_direction(schema, text)):
        return SORT_DIRECTION
    if flat in _DIRECTION_FLAGS and kind == "boolean":
        return SORT_DIRECTION
    if flat in _DIRECTION_WEAK and kind in (None, "string") and _is_direction(schema, text):
        return SORT_DIRECTION
    if flat in _SORT_NAMES and kind in (None, "string", "array"):
        return SORT
    if flat == "order" and kind in (None, "string") and (_SORT_TEXT.search(text) or _DIRECTION_TEXT.search(text)) \
            and not _ENTITY_TEXT.search(text):
        return SORT
    return None


def parameter_roles(properties: Mapping[str, Any], candidates: set[str] | None = None) -> dict[str, str]:
    """Roles of the parameters of one tool (only those in `candidates` when given), in order."""
    roles: dict[str, str] = {}
    for name, schema in properties.items():
        if candidates is not None and name not in candidates:
            continue
        role = parameter_role(str(name), schema)
        if role is not None:
            roles[str(name)] = role
    return roles

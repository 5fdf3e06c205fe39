"""Paging and ordering roles (from ingest, `ToolDef.param_roles`) as a find operation's offset and
sort key: `offset` and `page` (times the page size) skip rows, `sort` names the field to order by
(an API's own sort values mapped to columns), `sort_direction` says asc or desc. None of them is
ever a filter: `order=asc` must sort the rows, not hide those whose `order` column is not "asc".
"""

from __future__ import annotations

from typing import Any

from synth.envs.names import identifier
from synth.envs.schema import TableDraft
from synth.envs.shapes import ToolShape


def apply_paging_and_sort(op: dict[str, Any], shape: ToolShape, table: TableDraft, props: dict[str, Any]) -> None:
    """Offset, page and sort roles as the find's offset and sort key (a cursor stays an accepted,
    unused argument: finds answer in one page unless the caller asks for an offset)."""
    roles = {param: role for param, role in shape.tool.param_roles.items() if param in props}
    by = next((param for param, role in roles.items() if role == "sort"), None)
    direction = next((param for param, role in roles.items() if role == "sort_direction"), None)
    for param, role in roles.items():
        if role == "offset":
            props[param] = _integer_argument(props[param])
            op["offset"] = {"arg": param}
        elif role == "page" and "offset" not in op:
            props[param] = _integer_argument(props[param])
            first = 0 if props[param].get("minimum") == 0 or props[param].get("default") == 0 else 1
            size = op["limit"] if isinstance(op["limit"], dict) else {"const": op["limit"]}
            op["offset"] = {"op": "mul", "right": size,
                            "left": {"op": "sub", "left": {"arg": param, "default": first}, "right": {"const": first}}}
    if by is None and direction is None:
        return
    key: dict[str, Any] = {"column": _default_sort_column(table, props.get(by) if by else None), "descending": False}
    if by is not None:
        key["by"] = {"arg": by}
        mapped = _sort_value_columns(props[by], table)
        if mapped:
            key["by_columns"] = mapped
    if direction is not None:
        if props[direction].get("type") != "boolean":
            props[direction] = {**props[direction], "type": "string"}
        key["direction"] = {"arg": direction}
    op["sort"] = [key]


def _integer_argument(schema: dict[str, Any]) -> dict[str, Any]:
    out = {**schema, "type": "integer"}
    if not isinstance(out.get("default"), int) or isinstance(out.get("default"), bool):
        out.pop("default", None)
    out.pop("enum", None)
    return out


_SORT_DIRECTION_SUFFIXES = ("_descending", "_ascending", "_desc", "_asc")


def _sort_field_column(value: Any, table: TableDraft) -> str | None:
    """The column an API's sort value names: `created_at_desc` -> created_at, `creation` ->
    creation_date, `by-title` -> title; None unless exactly one column fits."""
    if not isinstance(value, str):
        return None
    field = identifier(value.strip().lstrip("-+"))
    for suffix in _SORT_DIRECTION_SUFFIXES:
        if field.endswith(suffix) and len(field) > len(suffix):
            field = field[: -len(suffix)]
            break
    if field.startswith("by_"):
        field = field[3:]
    if not field:
        return None
    if field in table.columns:
        return field
    fits = [name for name in table.columns if f"_{field}_" in f"_{name}_"]
    return fits[0] if len(fits) == 1 else None


def _sort_value_columns(schema: dict[str, Any], table: TableDraft) -> dict[str, str]:
    """{API sort value: column} for the values of a sort parameter's enum that name a column
    under another spelling (values equal to a column name need no entry)."""
    values = schema.get("enum") or (schema.get("items") or {}).get("enum") or []
    mapped: dict[str, str] = {}
    for value in values:
        column = _sort_field_column(value, table)
        if column is not None and column != value:
            mapped[str(value)] = column
    return mapped


def _default_sort_column(table: TableDraft, by_schema: dict[str, Any] | None) -> str:
    """What a find sorts by when the call names no field: the sort parameter's default, else when
    rows were made, else their label, else their key."""
    default = _sort_field_column((by_schema or {}).get("default"), table)
    if default is not None:
        return default
    for name in ("created_at", "creation_date", "created", "date", "updated_at", "timestamp"):
        if name in table.columns:
            return name
    return table.label_column() or table.primary_key

"""τ²'s database <-> envhub tables, both ways.

Each top-level collection of τ²'s DB model (`products`, `users`, `orders`; `flights`, `users`,
`reservations`) becomes a table keyed by the entity's own id, one column per field of the entity
model with the same name. Scalar fields keep their type (Literal fields become enums); nested
values (addresses, item lists, payment methods, per-date flight data) become `json` columns.
The inverse rebuilds τ²'s dict of entities in the table's row order (τ²'s insertion order,
which its list tools iterate in).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

KEYS = {"products": "product_id", "users": "user_id", "orders": "order_id", "flights": "flight_number",
        "reservations": "reservation_id"}


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) != len(typing.get_args(annotation))
    return annotation, False


def column_for(name: str, field: Any) -> dict[str, Any]:
    annotation, optional = _unwrap_optional(field.annotation)
    column: dict[str, Any] = {"name": name, "nullable": optional, "description": field.description or ""}
    if typing.get_origin(annotation) is Literal and all(isinstance(v, str) for v in typing.get_args(annotation)):
        column.update(type="enum", enum=list(typing.get_args(annotation)))
    elif annotation is bool:
        column["type"] = "boolean"
    elif annotation is int:
        column["type"] = "integer"
    elif annotation is float:
        column["type"] = "number"
    elif annotation is str:
        column["type"] = "string"
    else:
        column["type"] = "json"
    return column


def entity_model(db_class: Any, collection: str) -> Any:
    return typing.get_args(db_class.model_fields[collection].annotation)[1]


def tables_for(db_class: Any) -> list[dict[str, Any]]:
    tables = []
    for collection, field in db_class.model_fields.items():
        model = entity_model(db_class, collection)
        columns = [column_for(name, f) for name, f in model.model_fields.items()]
        tables.append({"name": collection, "description": (field.description or model.__doc__ or "").strip(),
                       "primary_key": KEYS[collection], "columns": columns})
    return tables


def rows_from_db(db_dump: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """τ²'s `model_dump()` -> rows per table (in τ²'s order)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for collection, entities in db_dump.items():
        key = KEYS[collection]
        out = []
        for entity_id, entity in entities.items():
            if entity.get(key) != entity_id:
                raise ValueError(f"τ² {collection} entry {entity_id!r} has {key} {entity.get(key)!r}")
            out.append(dict(entity))
        rows[collection] = out
    return rows


def db_from_rows(rows: dict[str, list[dict[str, Any]]], db_class: Any) -> dict[str, Any]:
    """Rows per table (as `GET /episodes/{id}/state?rows=1` returns them) -> τ²'s DB dict, field
    order as in τ²'s models."""
    out: dict[str, Any] = {}
    for collection in db_class.model_fields:
        model = entity_model(db_class, collection)
        fields = list(model.model_fields)
        key = KEYS[collection]
        if collection not in rows:
            raise ValueError(f"the state has no table '{collection}' (tables: {sorted(rows)})")
        out[collection] = {row[key]: {f: row.get(f) for f in fields} for row in rows[collection]}
    return out

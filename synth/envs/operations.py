"""Tool -> operation mapping: each tool shape becomes a ToolSpec (as JSON) over the domain tables.

GET-by-id -> get; list/search -> find with optional filters and a limit; create -> insert with a
generated key; PUT/PATCH -> update of the arguments given; status verbs (cancel, approve, close)
-> update to a constant status from the column's enum, guarded by preconditions; other actions
on one record (restart, star, run) -> a counted action (`<verb>_count + 1`); DELETE -> delete.
The tool keeps its original description and input schema; only the types of arguments stored in
columns are aligned with those columns so that a valid call can never store a mistyped value.

An API may state the operation itself (`x-envhub-operation` on the OpenAPI operation, usually a
`program` with the rules its description states); synthesis then takes it as written, and the
EnvSpec's load-time check validates it against the inferred tables. `derived_operation` still
gives the shorthand mapping, which says what the tool's arguments address (keys, parents,
values) for dependency derivation and argument planning.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from synth.envs.names import identifier, is_identifier, split_words
from synth.envs.paging import apply_paging_and_sort
from synth.envs.schema import (
    ColumnDraft,
    DomainSchema,
    TableDraft,
    counter_column,
    declared_filter,
    range_filter,
)
from synth.envs.shapes import (
    DESTRUCTIVE_VERBS,
    FINAL_STATUSES,
    LIMIT_PARAMS,
    SEARCH_PARAMS,
    ToolShape,
    is_control_param,
)
from synth.envs.states import add_state_rule, description_rule, status_column

DEFAULT_LIMIT = 20
OPERATION_EXTENSION = "x-envhub-operation"
_JSON_TYPE = {"string": "string", "date": "string", "enum": "string", "integer": "integer",
              "number": "number", "boolean": "boolean"}
_SCHEMA_KEYS = {"type", "description", "enum", "default", "format", "items", "properties", "required",
                "minimum", "maximum", "minLength", "maxLength", "pattern", "title", "examples",
                "additionalProperties", "minItems", "maxItems"}


def _clean_schema(schema: Any, depth: int = 0) -> dict[str, Any]:
    """A property schema with only the JSON Schema keywords a validator and a model need."""
    if not isinstance(schema, dict) or depth > 4:
        return {}
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k not in _SCHEMA_KEYS:
            continue
        if k == "properties" and isinstance(v, dict):
            out[k] = {str(pk): _clean_schema(pv, depth + 1) for pk, pv in v.items()}
        elif k == "items" or k == "additionalProperties" and isinstance(v, dict):
            out[k] = _clean_schema(v, depth + 1)
        elif k == "type" and isinstance(v, list):
            kinds = [x for x in v if x != "null"]
            if kinds:
                out[k] = kinds[0]
        elif k == "pattern":
            continue  # patterns from real specs are often not valid ECMA regexes
        else:
            out[k] = v
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        out["required"] = [r for r in out["required"] if r in out["properties"]]
    elif "required" in out and not isinstance(out.get("properties"), dict):
        del out["required"]
    return out


def _aligned(prop: dict[str, Any], column: ColumnDraft, *, stored: bool = False) -> dict[str, Any]:
    """The argument's schema, typed like the column it is stored in or compared with. A value
    the call `stored` keeps the API's declared bounds that fit the column's type (`checked_bags`
    0-3), so a write can never store what the API would refuse."""
    declared = {b: prop[b] for b in ("minimum", "maximum", "minLength", "maxLength") if b in prop}
    out = dict(prop)
    out["type"] = _JSON_TYPE[column.type]
    if column.type == "enum":
        out["enum"] = list(column.enum or [])
    elif "enum" in out and column.type != "string" or "enum" in out and not all(isinstance(v, str) for v in out["enum"]):
        del out["enum"]
    # Real specs' formats (int64, uuid, date-time) would make valid stored values fail validation.
    out.pop("format", None)
    if "default" in out and not _fits(out["default"], column):
        del out["default"]
    for bound in ("minimum", "maximum", "minLength", "maxLength"):
        out.pop(bound, None)
    if stored:
        numeric = column.type in ("integer", "number")
        for bound, value in declared.items():
            fits = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 if "Length" in bound \
                else isinstance(value, (int, float)) and not isinstance(value, bool)
            if fits and (numeric if bound in ("minimum", "maximum") else column.type == "string"):
                out[bound] = int(value) if "Length" in bound or column.type == "integer" and float(value).is_integer() \
                    else value
    out.pop("items", None)
    out.pop("properties", None)
    return out


def _fits(value: Any, column: ColumnDraft) -> bool:
    t = column.type
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "enum":
        return value in (column.enum or [])
    return isinstance(value, str)


def _describe(shape: ToolShape, table: TableDraft) -> str:
    if shape.tool.description.strip():
        return shape.tool.description.strip()
    thing = table.entity.replace("_", " ")
    return {
        "get": f"Get one {thing} by its id.",
        "find": f"Search {table.name.replace('_', ' ')}; filters are optional.",
        "create": f"Create a {thing}.",
        "update": f"Update a {thing}.",
        "delete": f"Delete a {thing}.",
        "status": f"{shape.verb.capitalize()} a {thing}.",
        "action": f"{shape.verb.capitalize()} a {thing}.",
    }[shape.action]


_OUTPUT_ONLY = re.compile(r"^\W*(output[ -]only|read[ -]only)\b", re.I)


def is_read_only(schema: Any) -> bool:
    """Whether a body property is the API's output, never the caller's input."""
    if not isinstance(schema, dict):
        return False
    text = schema.get("description")
    return schema.get("readOnly") is True or isinstance(text, str) and bool(_OUTPUT_ONLY.match(text))


def _title(name: str) -> str:
    return " ".join(split_words(name)).capitalize()[:120] or name


def stated_operation(shape: ToolShape) -> Any:
    """The operation the API states for this tool (`x-envhub-operation`), or None.

    Returned as written (a copy): whatever it is, the EnvSpec's validation judges it and names
    the problem, so a bad statement is reported rather than silently replaced."""
    stated = (shape.tool.extensions or {}).get(OPERATION_EXTENSION)
    return None if stated is None else copy.deepcopy(stated)


def _program_writes(op: Any) -> bool:
    """Whether a stated operation changes state: a program with an exec step anywhere, or a write shorthand."""
    if not isinstance(op, dict):
        return False
    if op.get("kind") == "sequence":
        return any(_program_writes(s.get("op")) for s in op.get("steps") or [] if isinstance(s, dict))
    if op.get("kind") != "program":
        return op.get("kind") in ("insert", "update", "delete")

    def walk(steps: Any) -> bool:
        for step in steps if isinstance(steps, list) else []:
            if not isinstance(step, dict):
                continue
            if "exec" in step or walk(step.get("then")) or walk(step.get("else")) or walk(step.get("steps")):
                return True
        return False

    return walk(op.get("steps"))


def build_tool(shape: ToolShape, tool_name: str, schema: DomainSchema, *, derived_only: bool = False) -> dict[str, Any]:
    """The ToolSpec JSON of one tool: with the API's stated operation when it has one, unless
    `derived_only` asks for the shorthand that synthesis derives from the tool's shape."""
    table = schema.tables[shape.entity]
    bound = dict(schema.bindings.get(shape.tool.name, {}))
    props = {p: _clean_schema(s) for p, s in shape.properties.items()}
    required = list(shape.required)
    if shape.is_write and not (shape.tool.extensions or {}).get(OPERATION_EXTENSION):
        # Output-only fields (`readOnly: true`, "Output only. When the job was created.") are the
        # API's to set: a write neither takes nor stores them.
        keys = {shape.key_param, *(p for p, _ in shape.parents)}
        for param in [p for p, sub in shape.properties.items() if p not in keys and is_read_only(sub)]:
            props.pop(param, None)
            bound.pop(param, None)
            required = [r for r in required if r != param]
    where = {shape.key_param, *(p for p, _ in shape.parents)}
    for param, col in bound.items():
        # A stated operation checks its bounds itself, with its own message.
        # Keys are this environment's own (`ADD-1003`), whatever length the API's ids have.
        stored = shape.action in ("create", "update", "status") and param not in where \
            and not (shape.tool.extensions or {}).get(OPERATION_EXTENSION) \
            and col != table.primary_key and col not in table.foreign_keys
        if shape.bulk and param == shape.key_param:
            # A bulk delete's list of keys: a list of values typed like the key column.
            props[param] = {**props[param], "type": "array", "minItems": 1,
                            "items": _aligned(props[param].get("items") or {}, table.columns[col])}
            continue
        props[param] = _aligned(props[param], table.columns[col], stored=stored)

    action = shape.action
    if action == "get":
        op: dict[str, Any] = {"kind": "get", "table": table.name, "key": {"arg": shape.key_param}}
    elif action == "find":
        op = _find_op(shape, table, bound, props)
    elif action == "create":
        values = {col: {"arg": p} for p, col in bound.items() if not is_control_param(p) or col in table.foreign_keys}
        op = {"kind": "insert", "table": table.name, "values": values}
    elif action == "update":
        parents = dict(shape.parents)  # they say where the record is, not what to change
        sets = {col: {"arg": p} for p, col in bound.items()
                if p != shape.key_param and p not in parents and col != table.primary_key and not is_control_param(p)}
        op = {"kind": "update", "table": table.name, "key": {"arg": shape.key_param}, "set": sets}
    elif action == "status":
        op = _status_op(shape, table, bound)
    elif action == "action":
        op = _counted_action(shape, table)
    else:
        op = {"kind": "delete", "table": table.name, "key": {"arg": shape.key_param}}
        if shape.bulk:
            op["many"] = True
    _require_parents(op, shape, table, bound, schema)
    if action in ("update", "delete", "status", "action") and stated_operation(shape) is None:
        status = status_column(table.columns)
        rule = description_rule(shape.tool.description, status) if status is not None else None
        if rule is not None:
            add_state_rule(op, rule, table.entity.replace("_", " "))

    writes = action != "get" and action != "find"
    stated = None if derived_only else stated_operation(shape)
    if stated is not None:
        op = stated
        writes = _program_writes(stated)
    annotations = {
        "title": _title(tool_name),
        "readOnlyHint": not writes,
        "destructiveHint": writes and (action == "delete" or (action == "status" and shape.verb in DESTRUCTIVE_VERBS)),
        "idempotentHint": action in ("get", "find", "update", "status", "delete"),
        "openWorldHint": False,
    }
    input_schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        input_schema["required"] = required
    return {
        "name": tool_name,
        "description": _describe(shape, table),
        "input_schema": input_schema,
        "annotations": annotations,
        "operation": op,
    }


def _find_op(shape: ToolShape, table: TableDraft, bound: dict[str, str], props: dict[str, Any]) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    limit: Any = DEFAULT_LIMIT
    label = table.label_column()
    roles = shape.tool.param_roles
    for param in shape.properties:
        key = identifier(param)
        col_name = bound.get(param)
        role = roles.get(param)
        if role == "limit" or (
            role is None and key in LIMIT_PARAMS and props[param].get("type") in ("integer", "number", None)
            and col_name is None
        ):
            props[param] = {**props[param], "type": "integer"}
            props[param].pop("default", None)
            limit = {"arg": param, "default": DEFAULT_LIMIT}
            continue
        if role is not None:
            continue  # offset, page, cursor and sort are read below; none of them filters
        if key in SEARCH_PARAMS and col_name is None and label is not None:
            props[param] = {**props[param], "type": "string"}
            props[param].pop("enum", None)
            filters.append({"column": label, "op": "contains", "value": {"arg": param}})
            continue
        if col_name is None:
            continue
        col = table.columns[col_name]
        stated = declared_filter(shape, param)
        if stated is not None and stated[0] == col_name:
            filters.append({"column": col_name, "op": stated[1], "value": {"arg": param}})
            continue
        ranged = range_filter(param)
        if ranged is not None and ranged[0] == col_name:
            filters.append({"column": col_name, "op": ranged[1], "value": {"arg": param}})
            continue
        # A string that names one thing is matched whole: `contains` would take product `123`
        # for `1234`, and a value handed on from another call is exact.
        text = col.type == "string" and col_name != table.primary_key and col_name not in table.foreign_keys \
            and not is_identifier(col_name, col.description or str(props[param].get("description") or ""))
        filters.append({"column": col_name, "op": "contains" if text else "eq", "value": {"arg": param}})
    op: dict[str, Any] = {"kind": "find", "table": table.name, "filters": filters, "limit": limit}
    if roles:
        apply_paging_and_sort(op, shape, table, props)
    return op


def _status_op(shape: ToolShape, table: TableDraft, bound: dict[str, str]) -> dict[str, Any]:
    target = shape.status_target or "done"
    field_name = shape.status_field or "status"
    status = table.columns[field_name]
    sets: dict[str, Any] = {field_name: {"const": target}}
    for p, col in bound.items():
        if p != shape.key_param and p not in dict(shape.parents) and col not in (table.primary_key, field_name) \
                and not is_control_param(p):
            sets[col] = {"arg": p}
    thing = table.entity.replace("_", " ")
    if shape.status_from:
        # The API states where the transition may start (`x-state-transition.from`).
        allowed = ", ".join(shape.status_from)
        pre = [{"column": field_name, "op": "in", "value": {"const": list(shape.status_from)},
                "message": f"{thing} {{key}} must be {allowed} to become {target}"}]
        return {"kind": "update", "table": table.name, "key": {"arg": shape.key_param}, "set": sets,
                "preconditions": pre}
    pre = [{"column": field_name, "op": "ne", "value": {"const": target},
            "message": f"{thing} {{key}} is already {target}"}]
    if target.lower() in FINAL_STATUSES or shape.verb in DESTRUCTIVE_VERBS:
        for value in status.enum or []:
            if value != target and value.lower() in FINAL_STATUSES and len(pre) < 4:
                pre.append({"column": field_name, "op": "ne", "value": {"const": value},
                            "message": f"{thing} {{key}} is {value} and can no longer be {target}"})
    return {"kind": "update", "table": table.name, "key": {"arg": shape.key_param}, "set": sets,
            "preconditions": pre}


def _require_parents(op: dict[str, Any], shape: ToolShape, table: TableDraft, bound: dict[str, str],
                     schema: DomainSchema) -> None:
    """`DELETE /orders/{order_id}/items/{order_item_id}` acts on an item of that order: a read or
    write of a nested record checks that the record belongs to the parent the path names, so
    that `order_id` is not silently ignored."""
    checks = []
    for param, parent in shape.parents:
        column = bound.get(param)
        if column is None or table.foreign_keys.get(column) != parent:
            continue
        thing, owner = table.entity.replace("_", " "), schema.tables[parent].entity.replace("_", " ")
        checks.append({"column": column, "op": "eq", "value": {"arg": param},
                       "message": f"{thing} {{key}} does not belong to {owner} {{expected}}"})
    if not checks:
        return
    writes = [s["op"] for s in op["steps"]] if op["kind"] == "sequence" else [op]
    for write in writes:
        if write["kind"] in ("update", "delete") or write["kind"] == "get" and op["kind"] == "get":
            write["preconditions"] = checks + list(write.get("preconditions") or [])


def _counted_action(shape: ToolShape, table: TableDraft) -> dict[str, Any]:
    counter = counter_column(shape.verb)
    key = {"arg": shape.key_param}
    return {
        "kind": "sequence",
        "steps": [
            {"bind": "current", "op": {"kind": "get", "table": table.name, "key": key}},
            {"bind": "updated", "op": {"kind": "update", "table": table.name, "key": copy.deepcopy(key),
                                        "set": {counter: {"op": "add", "left": {"ref": f"current.{counter}"},
                                                          "right": {"const": 1}}}}},
        ],
        "result": "updated",
    }

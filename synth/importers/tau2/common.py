"""SQL pieces the ported tools share."""

from __future__ import annotations

from typing import Any


def entity_json(table: dict[str, Any], alias: str) -> str:
    """json_object(...) of a row with every column under its τ² field name, json columns nested."""
    parts = []
    for column in table["columns"]:
        ref = f'{alias}."{column["name"]}"'
        if column["type"] == "json":
            ref = f"json({ref})"
        elif column["type"] == "boolean":
            ref = f"json(CASE {ref} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END)"
        parts.append(f"'{column['name']}', {ref}")
    return f"json_object({', '.join(parts)})"


def entity_result(table: dict[str, Any], key_param: str, message: str | None = None) -> dict[str, Any]:
    name, key = table["name"], table["primary_key"]
    result: dict[str, Any] = {
        "query": f"SELECT {entity_json(table, 't')} FROM {name} t WHERE t.{key} = :{key_param}", "shape": "json"}
    if message:
        result["message"] = message
    return result


def member(path_param: str) -> str:
    """The JSON path of a dict member named by a parameter: '$."<value>"'."""
    return f"'$.\"' || :{path_param} || '\"'"


def jnum(sql: str) -> str:
    """A computed number placed into JSON with all its digits (see envhub_json_number)."""
    return f"json(envhub_json_number({sql}))"


def program(steps: list[dict[str, Any]], result: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"kind": "program", "steps": steps}
    if result is not None:
        op["result"] = result
    return op


CALCULATE = program(
    [{"require": "SELECT envhub_calculate(:expression) IS NOT NULL",
      "message": "Invalid characters in expression"}],
    {"query": "SELECT envhub_calculate(:expression)", "shape": "value"},
)

TRANSFER = program([], {"query": "SELECT 'Transfer successful'", "shape": "value"})

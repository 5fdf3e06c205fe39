"""OpenAI function/tool definitions (and MCP `tools/list` dumps, which differ only in key names)."""

from __future__ import annotations

from typing import Any

from synth.ingest.common import (
    IngestError,
    LoadResult,
    clip_description,
    normalize_schema,
    object_schema,
    sanitize_name,
)
from synth.ingest.roles import parameter_roles
from synth.ingest.transport import drop_transport_properties
from synth.tooldef import ToolDef


def unwrap_function(item: Any) -> dict[str, Any] | None:
    """The function object of `{"type":"function","function":{...}}` or of a bare definition."""
    if not isinstance(item, dict):
        return None
    if item.get("type") == "function" and isinstance(item.get("function"), dict):
        return item["function"]
    if isinstance(item.get("name"), str) and (
        "parameters" in item or "description" in item or "inputSchema" in item or "input_schema" in item
    ):
        return item
    return None


def function_tool(
    item: Any,
    *,
    source: str,
    api: str,
    fmt: str,
    where: str,
) -> ToolDef:
    """One ToolDef from one function definition; IngestError names what is missing or wrong."""
    function = unwrap_function(item)
    if function is None:
        keys = sorted(item)[:8] if isinstance(item, dict) else type(item).__name__
        raise IngestError(
            f"{where}: not a function definition (needs 'name' plus 'parameters'/'description'; got {keys})"
        )
    name = function.get("name")
    if not isinstance(name, str) or not name.strip():
        raise IngestError(f"{where}: missing 'name'")
    raw_schema = function.get("parameters", function.get("inputSchema", function.get("input_schema")))
    parameters = object_schema(normalize_schema(raw_schema, f"{where} ({name}).parameters"))
    parameters, dropped = drop_transport_properties(parameters)
    raw_returns = function.get("returns", function.get("outputSchema", function.get("output_schema")))
    returns = None
    if isinstance(raw_returns, dict):
        try:
            returns = normalize_schema(raw_returns, f"{where} ({name}).returns")
        except IngestError:
            returns = None
    description = function.get("description")
    return ToolDef(
        name=sanitize_name(name),
        description=clip_description(description if isinstance(description, str) else ""),
        parameters=parameters,
        returns=returns,
        source=source,
        original_name=name,
        api=api,
        format=fmt,
        param_roles=parameter_roles(parameters.get("properties") or {}),
        dropped_params=dropped,
    )


def load_functions(items: list[Any], source: str, api: str, fmt: str = "openai") -> LoadResult:
    """A list of function definitions; a bad entry is skipped with its index and reason."""
    result = LoadResult()
    for index, item in enumerate(items):
        try:
            result.tools.append(function_tool(item, source=source, api=api, fmt=fmt, where=f"[{index}]"))
        except IngestError as err:
            result.skipped.append((f"{source}[{index}]", str(err)))
    return result

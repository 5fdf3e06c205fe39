"""ToolBench / RapidAPI tool files: `{"tool_name", "tool_description", "api_list": [...]}`."""

from __future__ import annotations

import re
from typing import Any

from synth.ingest.common import IngestError, LoadResult, clip_description, json_type_for, sanitize_name
from synth.ingest.roles import parameter_roles
from synth.ingest.transport import ParamFacts, SpecFacts, drop_transport_properties, spec_facts
from synth.tooldef import ToolDef

_URL_PARAM = re.compile(r"\{([^}]+)\}")


def is_toolbench(doc: Any) -> bool:
    return isinstance(doc, dict) and "api_list" in doc and ("tool_name" in doc or "name" in doc)


def load_toolbench(doc: dict[str, Any], source: str) -> LoadResult:
    """One ToolDef per entry of `api_list`; a bad entry is skipped with its index and reason."""
    api_list = doc.get("api_list")
    if not isinstance(api_list, list):
        raise IngestError(f"'api_list' must be a list, got {type(api_list).__name__}")
    tool_name = str(doc.get("tool_name") or doc.get("name") or doc.get("title") or "").strip()
    if not tool_name:
        raise IngestError("ToolBench tool has no 'tool_name'")
    tool_description = doc.get("tool_description") or doc.get("description") or ""
    tags = [str(doc["category_name"])] if doc.get("category_name") else []
    transport = _transport_facts(api_list)
    result = LoadResult()
    for index, entry in enumerate(api_list):
        label = f"{source} api_list[{index}]"
        try:
            result.tools.append(_api_tool(entry, tool_name, str(tool_description), tags, source, transport))
        except IngestError as err:
            result.skipped.append((label, str(err)))
    return result


def _locations(entry: dict[str, Any]) -> dict[str, str]:
    """RapidAPI parameters travel in the query unless the URL template names them (`/users/{id}`)."""
    url = entry.get("url") if isinstance(entry.get("url"), str) else ""
    return dict.fromkeys(_URL_PARAM.findall(url), "path")


def _transport_facts(api_list: list[Any]) -> SpecFacts:
    """What the tool's endpoints repeat (an `api_key` on each of them), for transport detection."""
    operations: list[list[ParamFacts]] = []
    for entry in api_list:
        if not isinstance(entry, dict):
            continue
        locations = _locations(entry)
        facts: list[ParamFacts] = []
        for group in ("required_parameters", "optional_parameters"):
            params = entry.get(group)
            for param in params if isinstance(params, list) else []:
                if isinstance(param, dict) and isinstance(param.get("name"), str):
                    description = param.get("description") if isinstance(param.get("description"), str) else ""
                    schema = json_type_for(str(param.get("type") or "string")) or {"type": "string"}
                    facts.append(ParamFacts(param["name"], locations.get(param["name"], "query"), description, schema))
        operations.append(facts)
    return spec_facts(operations)


def _api_tool(
    entry: Any, tool_name: str, tool_description: str, tags: list[str], source: str, transport: SpecFacts
) -> ToolDef:
    if not isinstance(entry, dict):
        raise IngestError(f"expected an object, got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise IngestError("missing 'name'")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for group, is_required in (("required_parameters", True), ("optional_parameters", False)):
        params = entry.get(group) or []
        if not isinstance(params, list):
            raise IngestError(f"{name}: '{group}' must be a list, got {type(params).__name__}")
        for param_index, param in enumerate(params):
            where = f"{name}: {group}[{param_index}]"
            if not isinstance(param, dict) or not isinstance(param.get("name"), str) or not param["name"]:
                raise IngestError(f"{where}: needs an object with a 'name'")
            properties[param["name"]] = _param_schema(param, where)
            if is_required:
                required.append(param["name"])
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters, dropped = drop_transport_properties(
        parameters, _locations(entry), transport, default_location="query"
    )
    method = entry.get("method")
    description = entry.get("description") if isinstance(entry.get("description"), str) else ""
    return ToolDef(
        name=sanitize_name(name),
        # The API's own line first; the tool's line says what service it is part of.
        description=clip_description(description, tool_description if not description else None),
        parameters=parameters,
        source=source,
        original_name=name,
        api=tool_name,
        method=method.upper() if isinstance(method, str) and method else None,
        path=entry.get("url") if isinstance(entry.get("url"), str) else None,
        tags=tags,
        format="toolbench",
        param_roles=parameter_roles(parameters.get("properties") or {}),
        dropped_params=dropped,
    )


def _param_schema(param: dict[str, Any], where: str) -> dict[str, Any]:
    raw_type = param.get("type")
    schema = json_type_for(str(raw_type)) if raw_type is not None else {"type": "string"}
    if schema is None:
        # RapidAPI type names are free text ("CREDENTIALS", "LIST<STRING>"): keep them usable as strings.
        schema = {"type": "string"}
    description = param.get("description")
    if isinstance(description, str) and description.strip():
        schema["description"] = description.strip()
    default = param.get("default")
    if default not in (None, ""):
        schema["default"] = _coerce_default(default, schema.get("type"))
    return schema


def _coerce_default(value: Any, json_type: Any) -> Any:
    """RapidAPI stores every default as a string; give it the parameter's type when it parses."""
    if not isinstance(value, str):
        return value
    try:
        if json_type == "integer":
            return int(value)
        if json_type == "number":
            return float(value)
    except ValueError:
        return value
    if json_type == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value

"""ToolDef: the one normalized tool description every ingest format is turned into."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ToolDef(BaseModel):
    """One tool from any source, before it is grouped into a domain and made executable.

    `name` is unique within an ingest run (loaders disambiguate clashes with a source prefix);
    `parameters` is a JSON Schema object with `$ref`s already resolved.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    # The response body's JSON Schema when the source gives one (OpenAPI responses, MCP outputSchema).
    returns: dict[str, Any] | None = None
    # Where it came from: the file (or URL / command) and the name it had there.
    source: str
    original_name: str = ""
    # The API it belongs to (OpenAPI title, ToolBench tool name, MCP server name), used for grouping.
    api: str = ""
    # The success status `returns` was read from ("200", "201", ...): 201 marks a create.
    returns_status: str | None = None
    # `returns` was inferred from the response's example because the source declared no schema.
    returns_from_example: bool = False
    # HTTP method and path when the source is an HTTP API description; they tell reads from writes.
    method: str | None = None
    path: str | None = None
    tags: list[str] = []
    # MCP tool annotations (readOnlyHint, destructiveHint, ...) when the source states them.
    annotations: dict[str, Any] | None = None
    # The source format: openai, bfcl, toolbench, openapi, mcp.
    format: str = ""
    # Vendor extensions of the operation (`x-state-transition`, ...), plus the parameters'
    # `x-filter`s keyed by parameter name under "x-filter": {"max_price": {"property": "price", "op": "le"}}.
    extensions: dict[str, Any] = {}
    # Parameters that steer paging or ordering, by name: "limit", "offset", "page", "cursor", "sort"
    # (the field to order by) or "sort_direction" (asc/desc). Synthesis maps them onto a find's
    # limit/offset/sort; they are never data (see synth.ingest.roles).
    param_roles: dict[str, str] = {}
    # Transport, auth and formatting parameters the source listed and ingest dropped, by name, with
    # the reason ("auth", "signature", "formatting", "field_mask", ...; see synth.ingest.transport).
    dropped_params: dict[str, str] = {}

"""Parse one file's bytes and decide which loader its content belongs to."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import orjson
import yaml

from synth.ingest.bfcl import is_bfcl_entry, load_bfcl
from synth.ingest.common import IngestError, LoadResult
from synth.ingest.openai import load_functions, unwrap_function
from synth.ingest.openapi import is_openapi, load_openapi
from synth.ingest.toolbench import is_toolbench, load_toolbench

JSON_SUFFIXES = (".json",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
YAML_SUFFIXES = (".yaml", ".yml")
SPEC_SUFFIXES = JSON_SUFFIXES + JSONL_SUFFIXES + YAML_SUFFIXES

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecYamlLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML without timestamp parsing: dates stay strings, so every value is plain JSON."""


_SpecYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def parse_bytes(data: bytes, name: str) -> Any:
    """JSON, JSON lines or YAML by file suffix (content sniffed when the suffix says nothing)."""
    suffix = PurePath(name).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _parse_jsonl(data)
    if suffix in YAML_SUFFIXES:
        return _parse_yaml(data)
    if suffix in JSON_SUFFIXES:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as err:
            # A .json file holding one object per line is common for tool dumps.
            if data.lstrip().startswith(b"{") and b"\n" in data.strip():
                try:
                    return _parse_jsonl(data)
                except IngestError:
                    pass
            raise IngestError(f"invalid JSON: {err}") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return _parse_jsonl(data)
    except IngestError:
        pass
    return _parse_yaml(data)


def _parse_jsonl(data: bytes) -> list[Any]:
    items = []
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError as err:
                raise IngestError(f"invalid JSON on line {number}: {err}") from None
    return items


def _parse_yaml(data: bytes) -> Any:
    try:
        return yaml.load(data, Loader=_SpecYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise IngestError(f"invalid YAML: {' '.join(str(err).split())}") from None


def load_document(doc: Any, source: str, api: str) -> LoadResult:
    """Route a parsed document to its loader; IngestError when no known format matches."""
    if isinstance(doc, dict):
        if is_openapi(doc):
            return load_openapi(doc, source)
        if is_toolbench(doc):
            return load_toolbench(doc, source)
        # Wrappers: an OpenAI request body / MCP tools/list result {"tools": [...]}, {"functions": [...]}.
        for key in ("tools", "functions"):
            if isinstance(doc.get(key), list) and doc[key]:
                return load_document(doc[key], source, api)
        if is_bfcl_entry(doc):
            return load_bfcl([doc], source, api)
        if unwrap_function(doc) is not None:
            return load_functions([doc], source, api, _function_format(doc))
        raise IngestError(f"unknown format: {_describe(doc)}")
    if isinstance(doc, list):
        if not doc:
            raise IngestError("empty list: no tools in it")
        if all(is_toolbench(item) for item in doc):
            merged = LoadResult()
            for item in doc:
                part = load_toolbench(item, source)
                merged.tools.extend(part.tools)
                merged.skipped.extend(part.skipped)
            return merged
        if any(is_bfcl_entry(item) for item in doc):
            return load_bfcl(doc, source, api)
        if any(unwrap_function(item) is not None for item in doc):
            return load_functions(doc, source, api, _function_format(doc[0]))
        raise IngestError(f"unknown format: a list whose first item is {_describe(doc[0])}")
    raise IngestError(f"unknown format: top level is a {type(doc).__name__}, expected an object or a list")


def _function_format(item: Any) -> str:
    function = unwrap_function(item) or {}
    return "mcp" if "inputSchema" in function else "openai"


def _describe(doc: Any) -> str:
    if not isinstance(doc, dict):
        return f"a {type(doc).__name__}"
    keys = ", ".join(sorted(map(str, doc))[:10])
    return (
        f"an object with keys [{keys}]; expected an OpenAPI document ('openapi'/'swagger'), "
        "OpenAI/BFCL function definitions ('name' + 'parameters'), or a ToolBench tool ('tool_name' + 'api_list')"
    )

"""OpenAPI 2.0 (Swagger) and 3.x documents: one ToolDef per operation."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from synth.envs.names import is_identifier
from synth.ingest.common import (
    IngestError,
    LoadResult,
    clip_description,
    needs_normalizing,
    normalize_schema,
    sanitize_name,
    schema_as_is,
)
from synth.ingest.examples import example_schema
from synth.ingest.refs import RefResolver
from synth.ingest.roles import parameter_roles
from synth.ingest.transport import ParamFacts, SpecFacts, spec_facts, transport_reason
from synth.tooldef import ToolDef

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Keys of a Swagger 2 non-body parameter that are schema keywords.
_V2_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "multipleOf",
)
_JSON_MEDIA = re.compile(r"^application/(.+\+)?json")
_FORM_MEDIA = ("application/x-www-form-urlencoded", "multipart/form-data")
# Subtrees whose "type" keys are not schema types (security schemes say "apiKey", "oauth2").
_NON_SCHEMA_KEYS = frozenset(
    {"securityDefinitions", "securitySchemes", "info", "externalDocs", "x-tagGroups"}
)
# Maps a (resolved) schema to its JSON Schema form; the identity for clean documents.
Normalizer = Callable[[Any, str], dict[str, Any]]
_SLUG_CHARS = re.compile(r"[^A-Za-z0-9]+")


def is_openapi(doc: Any) -> bool:
    return isinstance(doc, dict) and ("swagger" in doc or "openapi" in doc)


def load_openapi(doc: dict[str, Any], source: str) -> LoadResult:
    """Every operation of `doc` as a ToolDef; bad operations are skipped with their reason.

    Raises IngestError when the document as a whole is unusable (no paths object).
    """
    version = str(doc.get("swagger") or doc.get("openapi") or "")
    if not (version.startswith("2") or version.startswith("3")):
        raise IngestError(f"unsupported OpenAPI version {version!r} (expected 2.x or 3.x)")
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        raise IngestError("OpenAPI document has no 'paths' object")
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    api = str(info.get("title") or "").strip()
    is_v2 = version.startswith("2")
    resolver = RefResolver(doc)
    # Resolved definitions are shared between operations; normalize each of them once.
    normalize: Normalizer
    if needs_normalizing(doc, skip_keys=_NON_SCHEMA_KEYS, allowed_types=frozenset({"file"})):
        memo: dict[int, tuple[Any, dict[str, Any]]] = {}
        normalize = functools.partial(normalize_schema, memo=memo)
    else:
        normalize = schema_as_is
    transport = _spec_transport_facts(doc, paths, is_v2, resolver)
    result = LoadResult()
    for path, path_item in paths.items():
        where_path = f"paths.{path}"
        try:
            if not isinstance(path_item, dict):
                raise IngestError(f"{where_path}: expected an object, got {type(path_item).__name__}")
            if "$ref" in path_item:
                resolver.begin()
                path_item = resolver.resolve(path_item)
            shared_params = path_item.get("parameters", [])
        except IngestError as err:
            result.skipped.append((f"{source} {path}", str(err)))
            continue
        for method in HTTP_METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            label = f"{source} {method.upper()} {path}"
            resolver.begin()
            try:
                tool = _operation_tool(
                    operation,
                    method,
                    str(path),
                    shared_params,
                    resolver=resolver,
                    is_v2=is_v2,
                    api=api,
                    source=source,
                    transport=transport,
                    normalize=normalize,
                )
            except IngestError as err:
                result.skipped.append((label, str(err)))
                continue
            result.tools.append(tool)
    return result


def _credential_parameter_names(doc: dict[str, Any], is_v2: bool) -> set[str]:
    """Names of apiKey security parameters: they carry secrets, not tool arguments."""
    if is_v2:
        schemes = doc.get("securityDefinitions")
    else:
        components = doc.get("components")
        schemes = components.get("securitySchemes") if isinstance(components, dict) else None
    names: set[str] = set()
    if isinstance(schemes, dict):
        for scheme in schemes.values():
            if (
                isinstance(scheme, dict)
                and scheme.get("type") == "apiKey"
                and isinstance(scheme.get("name"), str)
            ):
                names.add(scheme["name"].lower())
    return names


def _shallow(node: Any, resolver: RefResolver) -> Any:
    """`node` with its own `$ref` chain followed (not its children's): enough to read a
    parameter's name, location and type without spending an operation's resolution budget."""
    for _ in range(8):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        try:
            node = resolver.lookup(node["$ref"])
        except IngestError:
            return None
    return None


def _facts(param: dict[str, Any], is_v2: bool, resolver: RefResolver, path: str = "") -> ParamFacts:
    """What transport detection needs of one (resolved or shallow) parameter object on `path`."""
    if is_v2 or "schema" not in param:
        schema: dict[str, Any] = {key: param[key] for key in ("type", "format", "enum", "default") if key in param}
        items = param.get("items")
        if isinstance(items, dict):
            schema["items"] = _shallow(items, resolver) or {}
    else:
        raw = _shallow(param.get("schema"), resolver)
        schema = raw if isinstance(raw, dict) else {}
    description = param.get("description")
    if not isinstance(description, str) or not description.strip():
        description = schema.get("description") if isinstance(schema.get("description"), str) else ""
    return ParamFacts(str(param.get("name")), str(param.get("in")), description, schema, path)


def _spec_transport_facts(
    doc: dict[str, Any], paths: dict[str, Any], is_v2: bool, resolver: RefResolver
) -> SpecFacts:
    """Credential names and the parameters (nearly) every operation repeats, from a cheap walk
    over the parameter lists: `$ref`s are followed one object deep, nothing is inlined."""
    operations: list[list[ParamFacts]] = []
    declared: set[tuple[str, str]] = set()
    global_prefix = "#/parameters/" if is_v2 else "#/components/parameters/"
    for path_item in paths.values():
        path_item = _shallow(path_item, resolver)
        if not isinstance(path_item, dict):
            continue
        shared = path_item.get("parameters") if isinstance(path_item.get("parameters"), list) else []
        for method in HTTP_METHODS:
            operation = path_item.get(method)
            if not isinstance(operation, dict):
                continue
            own = operation.get("parameters") if isinstance(operation.get("parameters"), list) else []
            merged: dict[tuple[str, str], ParamFacts] = {}
            for raw in [*shared, *own]:
                param = _shallow(raw, resolver)
                if not isinstance(param, dict) or not isinstance(param.get("name"), str):
                    continue
                facts = _facts(param, is_v2, resolver)
                merged[(facts.name, facts.location)] = facts
                if isinstance(raw, dict) and str(raw.get("$ref", "")).startswith(global_prefix):
                    declared.add((facts.name, facts.location))
            operations.append(list(merged.values()))
    return spec_facts(operations, _credential_parameter_names(doc, is_v2), declared)


def _operation_tool(
    operation: Any,
    method: str,
    path: str,
    shared_params: Any,
    *,
    resolver: RefResolver,
    is_v2: bool,
    api: str,
    source: str,
    transport: SpecFacts,
    normalize: Normalizer,
) -> ToolDef:
    if not isinstance(operation, dict):
        raise IngestError(f"operation is a {type(operation).__name__}, expected an object")
    parameters = _merged_parameters(shared_params, operation.get("parameters", []), resolver)
    properties: dict[str, Any] = {}
    required: list[str] = []
    param_filters: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    path_params: set[str] = set()
    for index, param in enumerate(parameters):
        where = f"parameters[{index}]"
        name, location = param.get("name"), param.get("in")
        if not isinstance(name, str) or not name:
            raise IngestError(f"{where}: missing 'name'")
        if location not in ("path", "query", "header", "cookie", "body", "formData"):
            raise IngestError(f"{where} ({name}): bad or missing 'in': {location!r}")
        reason = transport_reason(_facts(param, is_v2, resolver, path), transport)
        if reason is not None:
            dropped[name] = reason
            continue
        if location == "body":
            _add_body(
                param.get("schema"), name, bool(param.get("required")), properties, required, where, normalize
            )
            continue
        schema = _parameter_schema(param, is_v2, where, normalize)
        key = name if name not in properties else f"{location}_{name}"
        if location == "path":
            path_params.add(key)
        properties[key] = schema
        if isinstance(param.get("x-filter"), dict):
            param_filters[key] = param["x-filter"]
        if param.get("required") or location == "path":
            required.append(key)
    if not is_v2 and "requestBody" in operation:
        body = resolver.resolve(operation["requestBody"])
        if not isinstance(body, dict):
            raise IngestError("requestBody: expected an object")
        schema = _media_schema(body.get("content"))
        if schema is not None:
            _add_body(
                schema, "body", bool(body.get("required")), properties, required, "requestBody", normalize
            )
    parameters_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters_schema["required"] = list(dict.fromkeys(required))
    original = operation.get("operationId")
    raw_name = original if isinstance(original, str) and original.strip() else _method_path_name(method, path)
    tags = (
        [str(tag) for tag in operation.get("tags", []) if isinstance(tag, str | int)]
        if isinstance(operation.get("tags"), list)
        else []
    )
    returns, returns_status, from_example = _response_schema(operation.get("responses"), resolver, is_v2, normalize)
    extensions = {
        key: value for key, value in operation.items() if isinstance(key, str) and key.startswith("x-")
    }
    if param_filters:
        extensions["x-filter"] = param_filters
    # A path parameter names a resource; paging and ordering come in the query or the body.
    roles = parameter_roles(properties, candidates=set(properties) - path_params)
    return ToolDef(
        name=sanitize_name(raw_name, fallback=_method_path_name(method, path)),
        description=clip_description(_text(operation.get("summary")), _text(operation.get("description"))),
        parameters=parameters_schema,
        returns=returns,
        returns_status=returns_status,
        returns_from_example=from_example,
        extensions=extensions,
        source=source,
        original_name=raw_name,
        api=api,
        method=method.upper(),
        path=path,
        tags=tags,
        format="openapi",
        param_roles=roles,
        dropped_params=dropped,
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _merged_parameters(shared: Any, own: Any, resolver: RefResolver) -> list[dict[str, Any]]:
    """Path-level parameters overridden by the operation's own, keyed by (name, in)."""
    merged: dict[tuple[Any, Any], dict[str, Any]] = {}
    for group_name, group in (("path parameters", shared), ("parameters", own)):
        if group in (None, []):
            continue
        if not isinstance(group, list):
            raise IngestError(f"{group_name}: expected a list, got {type(group).__name__}")
        for index, raw in enumerate(group):
            param = resolver.resolve(raw)
            if not isinstance(param, dict):
                raise IngestError(f"{group_name}[{index}]: expected an object, got {type(param).__name__}")
            merged[(param.get("name"), param.get("in"))] = param
    return list(merged.values())


def _parameter_schema(
    param: dict[str, Any], is_v2: bool, where: str, normalize: Normalizer
) -> dict[str, Any]:
    if is_v2 or "schema" not in param:
        schema = {key: param[key] for key in _V2_SCHEMA_KEYS if key in param}
        if schema.get("type") == "file":
            schema = {"type": "string", "format": "binary"}
    else:
        raw = param.get("schema")
        if not isinstance(raw, dict):
            raise IngestError(f"{where}.schema: expected an object")
        schema = dict(raw)
    description = _text(param.get("description")).strip()
    if description and not schema.get("description"):
        schema["description"] = description
    if _sample_enum(str(param.get("name")), schema.get("enum")):
        schema["examples"] = schema.pop("enum")
    return normalize(schema, f"{where} ({param.get('name')})")


_NUMBER_TEXT = re.compile(r"-?\d+(\.\d+)?")


def _sample_enum(name: str, enum: Any) -> bool:
    """WMATA's `RouteID: enum [B30]` and `Lon: enum ["-76.989626"]`: one allowed id or coordinate
    is the docs' sample value, not the only route or place there is; kept as an enum it would turn
    away every other route of the seed. (A one-value enum of a word, `type: [user]`, stays.)"""
    return isinstance(enum, list) and len(enum) == 1 and (
        is_identifier(name) or _NUMBER_TEXT.fullmatch(str(enum[0])) is not None)


def _add_body(
    schema: Any,
    name: str,
    is_required: bool,
    properties: dict[str, Any],
    required: list[str],
    where: str,
    normalize: Normalizer,
) -> None:
    """Flatten an object body into top-level arguments (what a tool caller naturally passes);
    any other body becomes a single argument."""
    if schema is None:
        return
    if not isinstance(schema, dict):
        raise IngestError(f"{where}: body schema is a {type(schema).__name__}, expected an object")
    schema = normalize(schema, f"{where}.schema")
    body_props = schema.get("properties")
    if isinstance(body_props, dict) and body_props and not (set(body_props) & set(properties)):
        properties.update(body_props)
        if is_required and isinstance(schema.get("required"), list):
            required.extend(str(item) for item in schema["required"] if item in body_props)
        return
    key = name if name not in properties else f"body_{name}"
    properties[key] = schema
    if is_required:
        required.append(key)


def _media_schema(content: Any) -> dict[str, Any] | None:
    """The schema of the most useful media type: JSON first, then forms, then whatever is there."""
    if not isinstance(content, dict) or not content:
        return None
    ranked = sorted(
        content,
        key=lambda media: (
            0 if _JSON_MEDIA.match(str(media)) else 1 if media in _FORM_MEDIA else 2,
            str(media),
        ),
    )
    for media in ranked:
        entry = content[media]
        if isinstance(entry, dict) and isinstance(entry.get("schema"), dict):
            return entry["schema"]
    return None


def _response_schema(
    responses: Any, resolver: RefResolver, is_v2: bool, normalize: Normalizer
) -> tuple[dict[str, Any] | None, str | None, bool]:
    """The success response's schema, the status code it was read from, and whether it was
    inferred from the response's example (synth.ingest.examples) because none was declared."""
    if not isinstance(responses, dict):
        return None, None, False
    # YAML reads `200:` as an int key.
    by_code = {str(code): value for code, value in responses.items()}
    other_success = sorted(code for code in by_code if code.startswith("2") and code not in ("200", "201"))
    for code in ("200", "201", *other_success, "default"):
        if code not in by_code:
            continue
        response = resolver.resolve(by_code[code])
        if not isinstance(response, dict):
            continue
        schema = response.get("schema") if is_v2 else _media_schema(response.get("content"))
        from_example = False
        if not isinstance(schema, dict) and code != "default":
            schema = example_schema(response, is_v2)
            from_example = schema is not None
        if isinstance(schema, dict):
            if schema.get("type") == "file":
                # Swagger 2's download responses: a byte stream.
                return {
                    "type": "string",
                    "format": "binary",
                    **{k: v for k, v in schema.items() if k != "type"},
                }, code, False
            try:
                return normalize(schema, f"responses.{code}.schema"), code, from_example
            except IngestError:
                # A malformed response schema costs only the output schema, not the tool.
                return None, code, False
    return None, None, False


def _method_path_name(method: str, path: str) -> str:
    """`GET /users/{id}/posts` -> `get_users_by_id_posts`."""
    parts = []
    for segment in path.strip("/").split("/"):
        if not segment:
            continue
        if segment.startswith("{") and segment.endswith("}"):
            parts.append("by_" + segment[1:-1])
        else:
            parts.append(segment)
    slug = _SLUG_CHARS.sub("_", "_".join(parts)).strip("_")
    return f"{method.lower()}_{slug}" if slug else method.lower()

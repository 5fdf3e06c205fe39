"""Ingest keeps the API, not the transport: credentials, signatures, formatting, field masks,
JSONP, upload protocols and API-wide globals are dropped with a reason; look-alikes that are data
are kept; paging and ordering parameters get roles that synthesis turns into limit/offset/sort."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from servers.executor import execute_tool
from servers.sorting import parse_sort_value
from servers.spec import FindOp, SortKey, dump_envspec, load_envspec
from servers.state import EnvRuntime, EpisodeStore
from synth.envs.draft import draft_envspec
from synth.envs.shapes import shape_tool
from synth.envs.synthesize import SynthSettings, synthesize
from synth.ingest import ingest_paths
from synth.ingest.openapi import load_openapi
from synth.ingest.roles import parameter_role
from synth.ingest.transport import ParamFacts, transport_reason
from synth.tooldef import ToolDef

GOOGLE_GLOBALS = {
    "alt": {"name": "alt", "in": "query", "type": "string", "enum": ["json", "media", "proto"], "default": "json",
            "description": "Data format for response."},
    "fields": {"name": "fields", "in": "query", "type": "string",
               "description": "Selector specifying which fields to include in a partial response."},
    "key": {"name": "key", "in": "query", "type": "string",
            "description": "API key. Your API key identifies your project and provides you with API access."},
    "oauth_token": {"name": "oauth_token", "in": "query", "type": "string",
                    "description": "OAuth 2.0 token for the current user."},
    "prettyPrint": {"name": "prettyPrint", "in": "query", "type": "boolean", "default": True,
                    "description": "Returns response with indentations and line breaks."},
    "quotaUser": {"name": "quotaUser", "in": "query", "type": "string",
                  "description": "Available to use for quota purposes for server-side applications."},
    "userIp": {"name": "userIp", "in": "query", "type": "string",
               "description": "IP address of the site where the request originates."},
    "callback": {"name": "callback", "in": "query", "type": "string", "description": "JSONP"},
    "upload_protocol": {"name": "upload_protocol", "in": "query", "type": "string",
                        "description": 'Upload protocol for media (e.g. "raw", "multipart").'},
    "uploadType": {"name": "uploadType", "in": "query", "type": "string",
                   "description": 'Legacy upload protocol for media (e.g. "media", "multipart").'},
    "xgafv": {"name": "$.xgafv", "in": "query", "type": "string", "enum": ["1", "2"],
              "description": "V1 error format."},
}
EXPECTED_GOOGLE = {
    "alt": "formatting", "fields": "field_mask", "key": "auth", "oauth_token": "auth", "prettyPrint": "formatting",
    "quotaUser": "quota", "userIp": "quota", "callback": "jsonp", "upload_protocol": "upload",
    "uploadType": "upload", "$.xgafv": "formatting",
}
_ITEM = {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}


def _google_spec() -> dict[str, Any]:
    """A Google-style discovery spec: every operation references the same global parameters."""
    shared = [{"$ref": f"#/parameters/{name}"} for name in GOOGLE_GLOBALS]
    ok = {"200": {"description": "ok", "schema": _ITEM}}
    return {
        "swagger": "2.0",
        "info": {"title": "Books", "version": "v1"},
        "parameters": GOOGLE_GLOBALS,
        "paths": {
            "/shelves": {"parameters": shared, "get": {"operationId": "shelves_list", "responses": ok},
                         "post": {"operationId": "shelves_insert", "responses": ok,
                                  "parameters": [{"name": "body", "in": "body", "schema": {
                                      "type": "object", "properties": {
                                          "name": {"type": "string"},
                                          # A request body's `fields` is the resource's data.
                                          "fields": {"type": "array", "items": {"type": "string"},
                                                     "description": "Custom fields of the shelf."}}}}]}},
            "/shelves/{shelf}": {"parameters": [*shared, {"name": "shelf", "in": "path", "type": "string",
                                                           "required": True}],
                                 "get": {"operationId": "shelves_get", "responses": ok},
                                 "delete": {"operationId": "shelves_delete", "responses": ok}},
            # A `key` that names a resource in the path is kept.
            "/keys/{key}": {"parameters": [*shared, {"name": "key", "in": "path", "type": "string", "required": True,
                                                      "description": "The key of the configuration item."}],
                            "get": {"operationId": "keys_get", "responses": ok}},
        },
    }


def _aws_spec() -> dict[str, Any]:
    """An AWS-style spec: SigV4 headers and Action/Version declared once, repeated on every path."""
    amz = ["X-Amz-Content-Sha256", "X-Amz-Date", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Security-Token",
           "X-Amz-Signature", "X-Amz-SignedHeaders"]
    globals_ = {name: {"name": name, "in": "header", "type": "string", "required": False} for name in amz}
    globals_["Action"] = {"name": "Action", "in": "header", "type": "string", "required": True}
    globals_["Version"] = {"name": "Version", "in": "header", "type": "string", "required": True}
    shared = [{"$ref": f"#/parameters/{name}"} for name in globals_]
    paths = {}
    for op in ("CreateQueue", "DeleteQueue", "ListQueues", "GetQueueAttributes"):
        paths[f"/#Action={op}"] = {"parameters": shared, "post": {
            "operationId": op, "responses": {"200": {"description": "ok"}},
            "parameters": [{"name": "body", "in": "body", "schema": {
                "type": "object", "properties": {"QueueName": {"type": "string"}}}}]}}
    return {
        "swagger": "2.0", "info": {"title": "Queues", "version": "2012-11-05"}, "parameters": globals_,
        "securityDefinitions": {"hmac": {"type": "apiKey", "name": "Authorization", "in": "header",
                                         "description": "Amazon Signature authorization v4"}},
        "paths": paths,
    }


def _headers_spec() -> dict[str, Any]:
    """Header auth (a scheme's header, Authorization, a cookie) next to query parameters that only
    look like transport."""
    return {
        "openapi": "3.0.0",
        "info": {"title": "Shop", "version": "1"},
        "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Shop-Key"}}},
        "paths": {
            "/lookup": {"get": {"operationId": "lookup_order", "parameters": [
                {"name": "X-Shop-Key", "in": "header", "schema": {"type": "string"}},
                {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
                {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                # An `order` that names an order, and a callback that is a webhook URL: data.
                {"name": "order", "in": "query", "schema": {"type": "string"}, "description": "The order id to look up."},
                {"name": "callback", "in": "query", "schema": {"type": "string"},
                 "description": "A callback URL to notify when the order ships."},
                {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "xml"]}},
            ], "responses": {"200": {"description": "ok"}}}},
            "/items": {"get": {"operationId": "list_items", "parameters": [
                {"name": "api-version", "in": "query", "required": True, "schema": {"type": "string"},
                 "description": "Client API version."},
                {"name": "fields", "in": "query", "schema": {"type": "string"},
                 "description": "Fields to be searched: name, sku."},
            ], "responses": {"200": {"description": "ok"}}}},
        },
    }


def _by_name(tools: list[ToolDef]) -> dict[str, ToolDef]:
    return {tool.name: tool for tool in tools}


def test_google_style_globals_are_dropped_with_their_reasons() -> None:
    tools = _by_name(load_openapi(_google_spec(), "books.json").tools)
    for tool in tools.values():
        assert tool.dropped_params == EXPECTED_GOOGLE, tool.name
    assert set(tools["shelves_list"].parameters["properties"]) == set()
    assert set(tools["shelves_get"].parameters["properties"]) == {"shelf"}
    # Look-alikes that are data stay: a path `key`, a body's `fields`.
    assert tools["keys_get"].parameters["properties"]["key"]["type"] == "string"
    assert tools["keys_get"].parameters["required"] == ["key"]
    assert tools["shelves_insert"].parameters["properties"]["fields"]["type"] == "array"


def test_sigv4_headers_and_aws_globals_are_dropped() -> None:
    tools = load_openapi(_aws_spec(), "sqs.json").tools
    assert len(tools) == 4
    for tool in tools:
        assert set(tool.parameters["properties"]) == {"QueueName"}
        reasons = tool.dropped_params
        assert reasons["X-Amz-Signature"] == reasons["X-Amz-Date"] == reasons["X-Amz-SignedHeaders"] == "signature"
        assert reasons["X-Amz-Security-Token"] == "auth"
        assert reasons["Action"] == "api_global"  # a header every operation repeats
        assert reasons["Version"] == "api_version"
        assert "required" not in tool.parameters or tool.parameters["required"] == []


def test_header_auth_cookies_and_conditional_headers_are_dropped_lookalikes_kept() -> None:
    tools = _by_name(load_openapi(_headers_spec(), "shop.yaml").tools)
    lookup = tools["lookup_order"]
    assert lookup.dropped_params == {
        "X-Shop-Key": "auth", "Authorization": "auth", "session": "auth", "If-None-Match": "conditional",
        "format": "formatting",
    }
    assert set(lookup.parameters["properties"]) == {"order", "callback"}
    assert lookup.param_roles == {}  # an order id is not a sort order
    items = tools["list_items"]
    assert items.dropped_params == {"api-version": "api_version"}
    # `fields` that says what to search is a search option, not a field mask.
    assert "fields" in items.parameters["properties"] and "required" not in items.parameters


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (ParamFacts("callback", "query", "JSONP callback name."), "jsonp"),
        (ParamFacts("callback", "query", "A callback URL"), None),
        (ParamFacts("key", "query", "This is the package tracking key provided in the response."), None),
        (ParamFacts("key", "query", "your API key"), "auth"),
        (ParamFacts("format", "query", "The archive format"), None),
        (ParamFacts("output", "query", "Output format: JSON or XML."), "formatting"),
        (ParamFacts("format", "path", "", {"type": "string", "enum": ["json", "jsonp"]}), "formatting"),
        (ParamFacts("token", "formData", "The Slack token"), None),
        (ParamFacts("fields", "query", "Fields to be searched - name, website"), None),
        (ParamFacts("X-Advertising-ID", "header", "An advertising id"), "header"),
        (ParamFacts("filter", "query", "The API allows applications to exclude almost every field returned."),
         "field_mask"),
        (ParamFacts("filter", "query", "The criteria configurations must meet to be included in the response."),
         None),
        (ParamFacts("api_key", "argument", ""), "auth"),
        (ParamFacts("key", "argument", "The key of the setting to read."), None),
        (ParamFacts("format", "argument", "", {"type": "string", "enum": ["json", "csv"]}), None),
        (ParamFacts("p_pretty_print", "query", "Optional flag to request GeoJSON formatted results to be pretty "
                    "printed.", {"type": "number"}), "formatting"),
        (ParamFacts("p_pretty_print", "query", "", {"type": "string"}), None),
    ],
)
def test_single_parameter_reasons(facts: ParamFacts, reason: str | None) -> None:
    assert transport_reason(facts) == reason


STRING = {"type": "string"}


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        # A dotted suffix named as a format is the response's serialization, even bare (Semantria).
        (ParamFacts("content_type", "path", "", STRING, "/blacklist.{content_type}"), "formatting"),
        (ParamFacts("content_type", "path", "", STRING, "/collection/{collection_id}.{content_type}"), "formatting"),
        (ParamFacts("outputFormat", "path", "Results format", {"type": "string", "enum": ["json", "gml", "shpz"]},
                    "/addresses.{outputFormat}"), "formatting"),
        (ParamFacts("fmt", "path", "", {"type": "string", "enum": ["json", "xml"]}, "/items/{id}.{fmt}"),
         "formatting"),
        # A whole segment needs the description to say so (and no enum of other formats).
        (ParamFacts("format", "path", "format of the response. One of 'json', 'xml' or 'map'.", STRING,
                    "/v{version}/{format}"), "formatting"),
        (ParamFacts("format", "path", "The output format; can be svg or mml",
                    {"type": "string", "enum": ["svg", "mml", "png"]}, "/media/math/render/{format}/{hash}"), None),
        (ParamFacts("content_type", "path", "", STRING, "/types/{content_type}"), None),
        # File and media extensions of a resource, and suffixes that are no format, stay.
        (ParamFacts("extension", "path", "Media file type, available types: bmp, gif, jpg", STRING,
                    "/media/public/{key}.{extension}"), None),
        (ParamFacts("EXTENSION", "path", "The preview format, e.g. png or jpg", STRING,
                    "/files/{FILE_ID}/thumbnail.{EXTENSION}"), None),
        (ParamFacts("format", "path", "The file's format", STRING, "/files/{name}.{format}"), None),
        (ParamFacts("ext", "path", "", STRING, "/files/{name}.{ext}"), None),
        (ParamFacts("headId", "path", "", STRING, "/repos/{owner}/{repo}/compare/{baseId}...{headId}"), None),
    ],
)
def test_format_path_parameters(facts: ParamFacts, reason: str | None) -> None:
    assert transport_reason(facts) == reason


def _format_suffix_spec() -> dict[str, Any]:
    """Semantria's shape: every path ends in `.{content_type}` (JSON or XML, never described)."""
    content_type = {"name": "content_type", "in": "path", "required": True, "type": "string"}
    config = {"name": "config_id", "in": "query", "type": "string",
              "description": "Identifier of configuration the collection is linked to."}
    collection = {"type": "object", "properties": {"id": {"type": "string"}, "tag": {"type": "string"},
                                                   "documents": {"type": "array", "items": {"type": "string"}}}}
    ok = {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Collection"}}}
    listed = {"200": {"description": "ok", "schema": {"type": "array", "items": {"$ref": "#/definitions/Collection"}}}}
    return {
        "swagger": "2.0", "info": {"title": "Texts", "version": "4.0"},
        "definitions": {"Collection": collection},
        "paths": {
            "/collection.{content_type}": {"post": {
                "operationId": "queueCollection", "summary": "Queue a collection",
                "parameters": [config, {"name": "Collection", "in": "body", "required": True,
                                        "schema": {"$ref": "#/definitions/Collection"}}, content_type],
                "responses": {"202": {"description": "queued"}}}},
            "/collection/processed.{content_type}": {"get": {
                "operationId": "retrieveProcessedCollections", "summary": "Processed collections",
                "parameters": [config, content_type], "responses": listed}},
            "/collection/{collection_id}.{content_type}": {
                "get": {"operationId": "receiveCollection", "summary": "Receive a collection",
                        "parameters": [{"name": "collection_id", "in": "path", "required": True, "type": "string"},
                                       config, content_type], "responses": ok},
                "delete": {"operationId": "cancelCollection", "summary": "Cancel a queued collection",
                           "parameters": [{"name": "collection_id", "in": "path", "required": True,
                                           "type": "string"}, config, content_type],
                           "responses": {"202": {"description": "cancelled"}}},
            },
        },
    }


def test_format_suffix_is_dropped_and_the_path_reads_without_it() -> None:
    tools = _by_name(load_openapi(_format_suffix_spec(), "texts.json").tools)
    for tool in tools.values():
        assert tool.dropped_params == {"content_type": "formatting"}, tool.name
        assert "content_type" not in tool.parameters["properties"]
        assert "content_type" not in tool.parameters.get("required", [])
        assert tool.path.endswith(".{content_type}")  # the tool keeps the path the API wrote
    shapes = {name: shape_tool(tool) for name, tool in tools.items()}
    # The record's key is the parameter before the suffix, never the suffix.
    assert (shapes["receiveCollection"].action, shapes["receiveCollection"].key_param) == ("get", "collection_id")
    assert (shapes["cancelCollection"].action, shapes["cancelCollection"].key_param) == ("delete", "collection_id")
    assert shapes["queueCollection"].action == "create"
    assert shapes["receiveCollection"].entity == shapes["queueCollection"].entity == "collection"
    assert shapes["retrieveProcessedCollections"].action == "find"


def test_format_suffix_environment_links_queue_to_cancel() -> None:
    tools = load_openapi(_format_suffix_spec(), "texts.json").tools
    draft = draft_envspec("texts", "texts", tools, seed=1)
    assert draft.spec is not None, draft.reason
    by_name = {t.name: t for t in draft.spec.tools}
    assert all("content_type" not in t.input_schema.get("properties", {}) for t in by_name.values())
    assert by_name["cancelCollection"].operation.key.arg == "collection_id"  # type: ignore[union-attr]
    edges = {(d.source, d.target, d.argument) for d in draft.spec.dependencies}
    assert ("queueCollection", "cancelCollection", "collection_id") in edges
    assert ("queueCollection", "receiveCollection", "collection_id") in edges


def test_function_and_toolbench_sources_drop_the_same_parameters(tmp_path: Path) -> None:
    functions = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city.",
        "parameters": {"type": "object", "required": ["city", "api_key"], "properties": {
            "city": {"type": "string"}, "api_key": {"type": "string", "description": "Your API key"},
            "key": {"type": "string", "description": "Which reading to return, e.g. temperature."},
            "limit": {"type": "integer", "description": "Maximum number of readings to return."}}}}}]
    toolbench = {"tool_name": "Movies", "api_list": [
        {"name": "search", "method": "GET", "url": "https://m.example.com/search", "required_parameters": [
            {"name": "title", "type": "STRING"}, {"name": "apikey", "type": "STRING", "description": "API key"}],
         "optional_parameters": [{"name": "callback", "type": "STRING", "description": "JSONP callback"}]}]}
    (tmp_path / "tools.json").write_text(json.dumps(functions))
    (tmp_path / "movies.json").write_text(json.dumps(toolbench))
    tools = _by_name(ingest_paths([tmp_path]).tools)
    weather = tools["get_weather"]
    assert weather.dropped_params == {"api_key": "auth"}
    assert weather.parameters["required"] == ["city"]
    assert set(weather.parameters["properties"]) == {"city", "key", "limit"}
    assert weather.param_roles == {"limit": "limit"}
    search = tools["search"]
    assert search.dropped_params == {"apikey": "auth", "callback": "jsonp"}
    assert search.parameters["required"] == ["title"]


@pytest.mark.parametrize(
    ("name", "schema", "role"),
    [
        ("maxResults", {"type": "integer"}, "limit"),
        ("count", {"type": "integer", "description": "Number of results to return."}, "limit"),
        ("count", {"type": "integer", "description": "How many items to add to the cart."}, None),
        ("offset", {"type": "integer"}, "offset"),
        ("start", {"type": "string", "format": "date", "description": "Start date"}, None),
        ("pageToken", {"type": "string"}, "cursor"),
        ("page", {"type": "integer"}, "page"),
        ("order", {"type": "string", "enum": ["desc", "asc"]}, "sort_direction"),
        ("order", {"type": "string", "description": "The order id."}, None),
        ("order", {"type": "object"}, None),
        ("orderBy", {"type": "string"}, "sort"),
        ("sort", {"type": "integer", "description": "Position of the item in its list."}, None),
        ("sortOrder", {"type": "string"}, "sort_direction"),
    ],
)
def test_paging_and_ordering_roles(name: str, schema: dict[str, Any], role: str | None) -> None:
    assert parameter_role(name, schema) == role


ANSWERS = {
    "swagger": "2.0",
    "info": {"title": "Answers", "version": "2.0"},
    "paths": {
        "/answers": {
            "get": {"operationId": "list_answers", "summary": "List answers.", "parameters": [
                {"name": "order", "in": "query", "type": "string", "enum": ["desc", "asc"], "default": "desc"},
                {"name": "sort", "in": "query", "type": "string", "enum": ["activity", "creation", "votes"],
                 "default": "activity"},
                {"name": "pagesize", "in": "query", "type": "integer"},
                {"name": "page", "in": "query", "type": "integer"},
                {"name": "prettyPrint", "in": "query", "type": "boolean", "default": False,
                 "description": "Returns response with indentations and line breaks."},
            ], "responses": {"200": {"description": "ok", "schema": {
                "type": "array", "items": {"$ref": "#/definitions/Answer"}}}}},
            "post": {"operationId": "create_answer", "parameters": [
                {"name": "body", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Answer"}}],
                "responses": {"201": {"description": "made", "schema": {"$ref": "#/definitions/Answer"}}}},
        },
        "/answers/{answer_id}": {"get": {"operationId": "get_answer", "parameters": [
            {"name": "answer_id", "in": "path", "required": True, "type": "integer"}],
            "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Answer"}}}}},
    },
    "definitions": {"Answer": {"type": "object", "properties": {
        "answer_id": {"type": "integer"}, "body": {"type": "string"}, "score": {"type": "integer"},
        "creation_date": {"type": "integer"}, "last_activity_date": {"type": "integer"}}}},
}


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tools = load_openapi(ANSWERS, "answers.json").tools
    draft = draft_envspec("answers", "answers", tools, seed=3)
    assert draft.spec is not None, draft.reason
    # The spec survives a write and a load, so what is tested is what a build folder holds.
    path = tmp_path_factory.mktemp("answers") / "answers.json"
    dump_envspec(draft.spec, path)
    spec = load_envspec(path)
    runtime = EnvRuntime(spec)
    store = EpisodeStore({spec.name: runtime})
    episode = store.create(spec.name)

    def call(name: str, args: dict[str, Any]) -> Any:
        outcome = execute_tool(runtime, episode.conn, name, args)
        assert outcome.ok, outcome.error
        return outcome.data

    call.spec = spec  # type: ignore[attr-defined]
    return call


def test_paging_and_ordering_become_limit_offset_and_sort(answers: Any) -> None:
    tool = next(t for t in answers.spec.tools if t.name == "list_answers")
    op = tool.operation
    assert isinstance(op, FindOp)
    assert op.filters == []  # neither order, sort, page nor pagesize filters rows
    assert "prettyPrint" not in tool.input_schema["properties"]  # dropped: it cannot hide rows
    assert op.limit.arg == "pagesize"  # type: ignore[union-attr]
    assert op.offset is not None
    assert op.sort == [SortKey(column="last_activity_date", by={"arg": "sort"}, direction={"arg": "order"},
                               by_columns={"activity": "last_activity_date", "creation": "creation_date"})]
    table = next(t for t in answers.spec.tables if t.name == "answers")
    assert {c.name for c in table.columns}.isdisjoint({"order", "sort", "page", "pagesize", "pretty_print"})


def test_find_with_order_asc_returns_every_row_sorted(answers: Any) -> None:
    everything = answers("list_answers", {"pagesize": 100})["results"]
    assert len(everything) >= 3
    ascending = answers("list_answers", {"order": "asc", "pagesize": 100})["results"]
    assert len(ascending) == len(everything)
    keys = [row["last_activity_date"] for row in ascending]
    assert keys == sorted(keys)
    descending = answers("list_answers", {"order": "desc", "pagesize": 100})["results"]
    assert [row["last_activity_date"] for row in descending] == sorted(keys, reverse=True)
    by_creation = answers("list_answers", {"order": "asc", "sort": "creation", "pagesize": 100})["results"]
    assert [row["creation_date"] for row in by_creation] == sorted(row["creation_date"] for row in everything)


def test_page_and_pagesize_walk_the_rows(answers: Any) -> None:
    everything = answers("list_answers", {"order": "asc", "pagesize": 100})["results"]
    first = answers("list_answers", {"order": "asc", "pagesize": 2, "page": 1})["results"]
    second = answers("list_answers", {"order": "asc", "pagesize": 2, "page": 2})["results"]
    assert first == everything[:2] and second == everything[2:4]


def test_report_counts_dropped_parameters_per_reason(tmp_path: Path) -> None:
    inputs = tmp_path / "specs"
    inputs.mkdir()
    (inputs / "books.json").write_text(json.dumps(_google_spec()))
    (inputs / "answers.json").write_text(json.dumps(ANSWERS))
    synthesize([inputs], tmp_path / "build", SynthSettings(progress=False, workers=1, draw=False, min_tools=1, min_domain=1))
    ingest = json.loads((tmp_path / "build" / "report.json").read_text())["ingest"]
    books_ops = 5
    assert ingest["dropped_by_reason"]["auth"]["count"] == 2 * books_ops  # key, oauth_token
    assert ingest["dropped_by_reason"]["formatting"]["count"] == 3 * books_ops + 1  # alt, prettyPrint, $.xgafv
    assert ingest["dropped_by_reason"]["jsonp"]["count"] == books_ops
    assert ingest["parameters_dropped"] == len(EXPECTED_GOOGLE) * books_ops + 1
    assert ingest["param_roles"] == {"limit": 1, "page": 1, "sort": 1, "sort_direction": 1}
    example = ingest["dropped_by_reason"]["auth"]["examples"][0]
    assert example["api"] == "Books" and example["parameter"] in ("key", "oauth_token")


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("-score", ("score", True)),
        ("name desc", ("name", True)),
        ("name:asc", ("name", False)),
        ("type+,name-", ("type", False)),
        ("created_at_desc", ("created_at", True)),
        (["votes", "name"], ("votes", None)),
        ("", None),
        (",", None),
    ],
)
def test_sort_values_name_a_field_and_maybe_a_direction(value: Any, parsed: Any) -> None:
    assert parse_sort_value(value) == parsed


def test_a_signature_sent_in_the_query_of_reads_and_the_form_of_writes_is_dropped_in_both() -> None:
    signed = [{"name": "access_key", "type": "string", "description": "Access key."},
              {"name": "signature", "type": "string", "description": "The signature of your request payload."}]
    ok = {"200": {"description": "ok"}}
    spec = {"swagger": "2.0", "info": {"title": "Exchange", "version": "2"}, "paths": {
        "/orders.json": {
            "get": {"operationId": "list_orders", "responses": ok,
                    "parameters": [{**p, "in": "query"} for p in signed]},
            "post": {"operationId": "create_order", "responses": ok,
                     "parameters": [{**p, "in": "formData"} for p in signed]
                     + [{"name": "price", "in": "formData", "type": "number"}]}},
        "/markets.json": {"get": {"operationId": "list_markets", "responses": ok,
                                  "parameters": [{**p, "in": "query"} for p in signed]}},
    }}
    tools = _by_name(load_openapi(spec, "exchange.json").tools)
    assert tools["create_order"].dropped_params == {"access_key": "auth", "signature": "signature"}
    assert set(tools["create_order"].parameters["properties"]) == {"price"}
    assert tools["list_orders"].dropped_params == {"access_key": "auth", "signature": "signature"}


def test_format_segment_twins_share_their_resource() -> None:
    """WMATA serves each read twice, `/Routes` (XML) and `/json/jRoutes`: one resource, one table."""
    route = {"name": "RouteID", "in": "query", "type": "string", "required": True}
    ok = {"200": {"description": "ok"}}
    spec = {"swagger": "2.0", "info": {"title": "Bus", "version": "1.0"}, "paths": {
        "/Routes": {"get": {"operationId": "XML_Routes", "responses": ok}},
        "/RouteDetails": {"get": {"operationId": "XML_Path_Details", "parameters": [route], "responses": ok}},
        "/json/jRoutes": {"get": {"operationId": "JSON_Routes", "responses": ok}},
        "/json/jRouteDetails": {"get": {"operationId": "JSON_Path_Details", "parameters": [route], "responses": ok}},
        "/json/journeys": {"get": {"operationId": "Journeys", "responses": ok}},
    }}
    shapes = {t.name: shape_tool(t) for t in load_openapi(spec, "bus.json").tools}
    assert {(s.entity, s.action) for n, s in shapes.items() if n.endswith("Routes")} == {("route", "find")}
    assert {(s.entity, s.action) for n, s in shapes.items() if "Details" in n} == {("route", "get")}
    assert shapes["Journeys"].entity == "journey"  # a lower-case word after the format segment is kept whole

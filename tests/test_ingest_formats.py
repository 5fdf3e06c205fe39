"""Each ingest format on small fixtures, including malformed files and bad items inside good ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synth.ingest import ingest_paths, unique_names
from synth.ingest.common import IngestError, normalize_schema, sanitize_name
from synth.ingest.refs import RefResolver
from synth.ingest.stated_enums import stated_enum, with_stated_enums
from synth.tooldef import ToolDef

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def by_name(result) -> dict[str, ToolDef]:  # type: ignore[no-untyped-def]
    return {tool.name: tool for tool in result.tools}


def reasons_for(result, fragment: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [reason for source, reason in result.skipped if fragment in source]


def test_openai_wrapped_and_bare_functions() -> None:
    result = ingest_paths([FIXTURES / "openai_tools.json"])
    tools = by_name(result)
    assert set(tools) == {"get_weather", "get_forecast", "list_pets"}
    weather = tools["get_weather"]
    assert weather.format == "openai"
    assert weather.parameters["required"] == ["city"]
    assert weather.parameters["properties"]["unit"]["enum"] == ["c", "f"]
    assert weather.api == "openai_tools"
    # The nameless entry is reported at item granularity; the others still load.
    assert reasons_for(result, "openai_tools.json[3]") == ["[3]: missing 'name'"]


def test_jsonl_and_name_clash_gets_api_prefix() -> None:
    result = ingest_paths([FIXTURES / "openai_tools.json", FIXTURES / "openai_single.jsonl"])
    names = [tool.name for tool in result.tools]
    assert len(names) == len(set(names))
    assert "list_pets" in names and "openai_single_list_pets" in names
    clashed = by_name(result)["openai_single_list_pets"]
    assert clashed.original_name == "list_pets"


def test_unique_names_falls_back_to_counter() -> None:
    tools = [ToolDef(name="search", source="a.json", api="Shop") for _ in range(3)]
    assert [tool.name for tool in unique_names(tools)] == ["search", "shop_search", "shop_search_2"]


def test_bfcl_python_types_become_json_schema() -> None:
    result = ingest_paths([FIXTURES / "bfcl_functions.jsonl"])
    tools = by_name(result)
    area = tools["calculate_triangle_area"]
    assert area.format == "bfcl"
    props = area.parameters["properties"]
    assert area.parameters["type"] == "object"
    assert props["height"]["type"] == "number"
    assert props["corners"] == {"type": "array", "items": {"type": "number"}}
    assert "type" not in props["meta"]  # "any" means unconstrained
    # A BFCL test entry carries its docs under "function"; "required": true moves to the parent.
    quadratic = tools["solve_quadratic"]
    assert quadratic.parameters["properties"]["options"]["required"] == ["real_only"]
    assert "required" not in quadratic.parameters["properties"]["options"]["properties"]["real_only"]
    assert any("unknown type 'quaternion'" in reason for reason in reasons_for(result, "bfcl_functions"))


def test_toolbench_api_list() -> None:
    result = ingest_paths([FIXTURES / "toolbench_tool.json"])
    tools = by_name(result)
    assert set(tools) == {"Search_Movies", "Get_Movie"}
    search = tools["Search_Movies"]
    assert search.format == "toolbench" and search.api == "Movie Database"
    assert search.method == "GET" and search.path == "https://movies.example.com/search"
    assert search.parameters["required"] == ["title"]
    assert search.parameters["properties"]["year"] == {
        "type": "number",
        "description": "Release year",
        "default": 2010,
    }
    assert search.parameters["properties"]["adult"]["default"] is False
    assert search.tags == ["Entertainment"]
    assert reasons_for(result, "api_list[2]") == ["missing 'name'"]


def test_openapi2_yaml_refs_body_auth_and_responses() -> None:
    result = ingest_paths([FIXTURES / "petstore_v2.yaml"])
    tools = by_name(result)
    assert set(tools) == {"listPets", "post_pets", "show_pet_by_id"}
    list_pets = tools["listPets"]
    assert (list_pets.api, list_pets.method, list_pets.path, list_pets.tags) == (
        "Swagger Petstore",
        "GET",
        "/pets",
        ["pets"],
    )
    props = list_pets.parameters["properties"]
    # Auth headers (Authorization, the apiKey scheme's header) are not tool arguments.
    assert "Authorization" not in props and "X-Store-Key" not in props
    assert props["limit"]["type"] == "integer"
    assert props["since"]["default"] == "2020-01-01"  # YAML dates stay strings
    # The path-level parameter is merged in, then dropped: a request id is tracing, not data.
    assert "X-Request-Id" not in props and list_pets.dropped_params["X-Request-Id"] == "tracing"
    assert list_pets.dropped_params["Authorization"] == "auth"
    assert list_pets.param_roles == {"limit": "limit"}
    # Response 200 (an int key in YAML) resolved, with the Pet <-> Owner cycle cut.
    assert list_pets.returns["type"] == "array"
    owner = list_pets.returns["items"]["properties"]["owner"]
    assert owner["properties"]["pets"]["items"] == {"type": "object"}
    # The body object is flattened into arguments; its required list carries over.
    create = tools["post_pets"]
    assert create.original_name == "post_pets"
    assert {"id", "name", "tag", "owner"} <= set(create.parameters["properties"])
    assert create.parameters["required"] == ["id", "name"]
    assert create.returns["required"] == ["id", "name"]
    show = tools["show_pet_by_id"]
    assert show.original_name == "show-pet-by-id!"
    assert show.parameters["required"] == ["petId"]
    assert show.returns is not None  # from "default"
    # A dangling $ref costs only that operation.
    assert reasons_for(result, "DELETE /pets/{petId}") == [
        "$ref '#/parameters/Missing' does not resolve: no 'Missing'"
    ]


def test_openapi3_request_bodies_cycles_and_bad_operation() -> None:
    result = ingest_paths([FIXTURES / "library_v3.json"])
    tools = by_name(result)
    assert set(tools) == {"searchBooks", "addBook", "post_books_by_isbn_loans", "getTree"}
    assert "api_key" not in tools["searchBooks"].parameters["properties"]  # apiKey in query
    add = tools["addBook"]
    assert add.parameters["required"] == ["isbn"]
    assert add.parameters["properties"]["author"]["properties"]["books"]["items"] == {"type": "object"}
    loan = tools["post_books_by_isbn_loans"]
    assert loan.parameters["required"] == ["isbn", "member"]
    assert loan.parameters["properties"]["days"] == {"type": "integer"}
    assert tools["getTree"].returns == {"type": "object", "properties": {"child": {"type": "object"}}}
    assert reasons_for(result, "GET /broken") == ["parameters[0]: missing 'name'"]
    # Every tool is plain JSON (no shared-object surprises when serialized).
    json.dumps([tool.model_dump() for tool in result.tools])


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("bad_json.json", "invalid JSON"),
        ("bad_yaml.yaml", "invalid YAML"),
        ("unknown_format.json", "unknown format: an object with keys [count, hello]"),
        ("openapi_no_paths.yaml", "OpenAPI document has no 'paths' object"),
    ],
)
def test_malformed_files_are_skipped_with_reason(fixture: str, expected: str) -> None:
    result = ingest_paths([FIXTURES / fixture, FIXTURES / "openai_single.jsonl"])
    assert [tool.name for tool in result.tools] == ["send_email", "list_pets"]  # the good file still loads
    assert len(result.skipped) == 1
    source, reason = result.skipped[0]
    assert source.endswith(fixture)
    assert expected in reason


def test_missing_path_and_unknown_suffix_in_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden.json").write_text("{")
    (tmp_path / "tools.json").write_text(json.dumps([{"name": "ping", "parameters": {"type": "object"}}]))
    result = ingest_paths([tmp_path, tmp_path / "nope.json"])
    assert [tool.name for tool in result.tools] == ["ping"]
    assert result.tools[0].parameters == {"type": "object", "properties": {}}
    skipped = dict(result.skipped)
    assert skipped[str(tmp_path / "nope.json")] == "no such file or directory"
    assert "not an API description file" in skipped[str(tmp_path / "notes.txt")]
    assert result.files_read == 1


def test_ref_resolver_cycle_guard_and_depth_limit() -> None:
    doc = {
        "definitions": {
            "A": {"type": "object", "properties": {"b": {"$ref": "#/definitions/B"}}},
            "B": {"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}}},
            "Chain0": {"$ref": "#/definitions/Chain1"},
            "Chain1": {"$ref": "#/definitions/Chain2"},
            "Chain2": {"type": "string"},
        }
    }
    resolver = RefResolver(doc, max_depth=2)
    resolver.begin()
    a = resolver.resolve({"$ref": "#/definitions/A"})
    assert a["properties"]["b"]["properties"]["a"] == {"type": "object"}
    assert resolver.resolve({"$ref": "#/definitions/Chain0"}) == {"type": "object"}  # depth 3 > 2
    with pytest.raises(IngestError, match="does not resolve"):
        resolver.resolve({"$ref": "#/definitions/Nope"})


def test_ref_resolver_size_budget_cuts_explosions() -> None:
    # Each level references the next one 4 times: 4^8 nodes if inlined naively.
    definitions = {
        f"L{i}": {
            "type": "object",
            "properties": {f"p{j}": {"$ref": f"#/definitions/L{i + 1}"} for j in range(4)},
        }
        for i in range(8)
    }
    definitions["L8"] = {"type": "string"}
    resolver = RefResolver({"definitions": definitions}, max_depth=10, max_nodes=300)
    resolver.begin()
    resolved = resolver.resolve({"$ref": "#/definitions/L0"})
    assert len(json.dumps(resolved)) < 40_000


def test_sanitize_and_normalize_helpers() -> None:
    assert sanitize_name("GET /users/{id}!") == "GET_users_id"
    assert len(sanitize_name("x" * 200)) == 64
    assert sanitize_name("***", fallback="get_root") == "get_root"
    assert normalize_schema(
        {"type": "dict", "properties": {"xs": {"type": "list", "items": {"type": "str"}}}}
    ) == {
        "type": "object",
        "properties": {"xs": {"type": "array", "items": {"type": "string"}}},
    }
    unchanged = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert normalize_schema(unchanged) is unchanged  # copy-on-write: nothing to change, nothing copied


def test_openapi_with_loose_types_is_normalized() -> None:
    from synth.ingest.openapi import load_openapi

    doc = {
        "swagger": "2.0",
        "info": {"title": "Loose"},
        "securityDefinitions": {"oauth": {"type": "oauth2"}},
        "paths": {
            "/files/{id}": {
                "get": {
                    "parameters": [
                        {"name": "id", "in": "path", "type": "int"},
                        {"name": "upload", "in": "formData", "type": "file"},
                    ],
                    "responses": {"200": {"description": "bytes", "schema": {"type": "file"}}},
                }
            }
        },
    }
    result = load_openapi(doc, "loose.json")
    (tool,) = result.tools
    assert tool.name == "get_files_by_id"
    assert tool.parameters["properties"]["id"] == {"type": "integer"}
    assert tool.parameters["properties"]["upload"] == {"type": "string", "format": "binary"}
    assert tool.returns == {"type": "string", "format": "binary"}


def test_enums_stated_in_descriptions_become_enums():
    google = 'The type.\nPossible values are:  \n- "LARGER_IS_BETTER" - Larger first. \n- "SMALLER_IS_BETTER" - Smaller.'
    docusign = "Status. Possible values are: \n\n* password_reset\n* password_active\n* password_expired \n"
    assert stated_enum(google) == ["LARGER_IS_BETTER", "SMALLER_IS_BETTER"]
    assert stated_enum(docusign) == ["password_reset", "password_active", "password_expired"]
    assert stated_enum("Possible values are PARTIAL, ALL_PAGES, NO_PAGES or UNKNOWN. Depends.") == \
        ["PARTIAL", "ALL_PAGES", "NO_PAGES", "UNKNOWN"]
    assert stated_enum("Auto pay. Possible values are: `true`, `false`.") == ["true", "false"]
    # Prose that lists no plain values, one value, or no statement at all adds nothing.
    assert stated_enum("Possible values are listed in the API reference.") is None
    assert stated_enum("Possible values are: Monday through Friday.") is None
    assert stated_enum("The order's status.") is None
    schema = {"type": "object", "properties": {
        "order": {"type": "string", "description": google},
        "declared": {"type": "string", "enum": ["a", "b"], "description": docusign},
        "count": {"type": "integer", "description": docusign},
        "name": {"type": "string", "description": "A name."},
    }}
    out = with_stated_enums(schema)
    assert out["properties"]["order"]["enum"] == ["LARGER_IS_BETTER", "SMALLER_IS_BETTER"]
    assert out["properties"]["declared"]["enum"] == ["a", "b"], "a declared enum wins"
    assert "enum" not in out["properties"]["count"], "only strings"
    assert out["properties"]["name"] is schema["properties"]["name"], "untouched sub-schemas stay shared"
    assert with_stated_enums(schema["properties"]["name"]) is schema["properties"]["name"]


def test_ingested_tools_carry_stated_enums(tmp_path):
    spec = {"openapi": "3.0.0", "info": {"title": "Boards", "version": "1"}, "paths": {"/boards/{id}": {"patch": {
        "operationId": "patchBoard",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
            "scoreOrder": {"type": "string",
                           "description": 'Possible values are:\n- "LARGER_IS_BETTER" - up\n- "SMALLER_IS_BETTER" - down'},
        }}}}},
        "responses": {"200": {"description": "ok"}}}}}}
    path = tmp_path / "boards.json"
    path.write_text(json.dumps(spec))
    (tool,) = ingest_paths([path]).tools
    assert tool.parameters["properties"]["scoreOrder"]["enum"] == ["LARGER_IS_BETTER", "SMALLER_IS_BETTER"]

"""The built-in API collection (synth/data/default_apis): valid OpenAPI 3.0, and regular enough for
`envhub synth` to infer tables, operations and tool dependencies from it mechanically."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from synth.data.default_apis import default_api_dir, default_api_files

# The C loader when PyYAML was built with libyaml: the pure-Python one takes seconds for these files.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
FILTER_OPS = {"eq", "ne", "lt", "le", "gt", "ge", "in", "contains"}
# Body fields that are inputs of an action rather than a stored property (a payment amount).
NON_COLUMN_BODY_FIELDS = {("pay_fines", "amount_paid")}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@cache
def load_all() -> dict[str, dict[str, Any]]:
    return {
        path.name: yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
        for path in default_api_files()
    }


def resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"non-local $ref {ref}"
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def operations(doc: dict[str, Any]):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op


def entities(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Schemas that model a stored record: everything but list pages and the error body."""
    return {
        name: schema
        for name, schema in doc["components"]["schemas"].items()
        if not name.endswith("List") and name != "Error"
    }


def id_owners(doc: dict[str, Any]) -> dict[str, str]:
    return {f"{snake(name)}_id": name for name in entities(doc)}


def parameters(doc: dict[str, Any], op: dict[str, Any]) -> list[dict[str, Any]]:
    return [resolve(doc, p) for p in op.get("parameters", [])]


def response_entity(doc: dict[str, Any], op: dict[str, Any]) -> tuple[str, bool]:
    """(entity name, is a list page) of an operation's 200/201 response."""
    ok = op["responses"].get("200") or op["responses"].get("201")
    schema = ok["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[1]
    if name.endswith("List"):
        items = doc["components"]["schemas"][name]["properties"]["results"]["items"]
        return items["$ref"].rsplit("/", 1)[1], True
    return name, False


def test_collection_size_and_titles():
    docs = load_all()
    assert default_api_dir().is_dir()
    assert len(docs) >= 10, sorted(docs)
    titles = [doc["info"]["title"] for doc in docs.values()]
    assert len(set(titles)) == len(titles), titles
    counts = {name: sum(1 for _ in operations(doc)) for name, doc in docs.items()}
    assert sum(counts.values()) >= 150, counts
    for name, count in counts.items():
        assert 13 <= count <= 16, (name, count)


def test_every_file_is_openapi_3_0():
    for name, doc in load_all().items():
        assert str(doc["openapi"]).startswith("3.0."), name
        assert doc["info"]["description"].strip(), name
        assert doc["servers"], name


def test_openapi_spec_validator_accepts_every_file():
    validator = pytest.importorskip(
        "openapi_spec_validator",
        reason="openapi-spec-validator is not installed (pip install openapi-spec-validator)",
    )
    for name, doc in load_all().items():
        try:
            validator.validate(doc)
        except Exception as exc:  # the validator raises several exception types; name the file
            pytest.fail(f"{name}: {exc}")


def test_operation_ids_unique_snake_case_and_documented():
    seen: dict[str, str] = {}
    for name, doc in load_all().items():
        declared_tags = {t["name"] for t in doc.get("tags", [])}
        for path, method, op in operations(doc):
            where = f"{name}: {method.upper()} {path}"
            op_id = op["operationId"]
            assert SNAKE.match(op_id), f"{where}: operationId {op_id!r} is not snake_case"
            assert op_id not in seen, f"{where}: operationId {op_id!r} also in {seen[op_id]}"
            seen[op_id] = name
            assert op["summary"].strip() and len(op["description"]) >= 40, where
            assert op["tags"] and set(op["tags"]) <= declared_tags, where


def test_every_ref_resolves():
    def walk(doc: dict[str, Any], node: Any, where: str) -> int:
        found = 0
        if isinstance(node, dict):
            if "$ref" in node:
                try:
                    resolve(doc, node)
                except (KeyError, TypeError) as exc:
                    pytest.fail(f"{where}: $ref {node['$ref']} does not resolve ({exc})")
                found += 1
            for key, value in node.items():
                found += walk(doc, value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                found += walk(doc, value, f"{where}/{i}")
        return found

    for name, doc in load_all().items():
        assert walk(doc, doc, name) > 20, f"{name}: expected the spec to use $ref"


def test_path_parameters_are_declared_and_named_like_id_properties():
    for name, doc in load_all().items():
        owners = id_owners(doc)
        for path, method, op in operations(doc):
            declared = {p["name"]: p for p in parameters(doc, op)}
            for placeholder in re.findall(r"{(\w+)}", path):
                where = f"{name}: {method.upper()} {path}"
                assert placeholder in declared, f"{where}: path parameter {placeholder} not declared"
                assert declared[placeholder]["in"] == "path" and declared[placeholder]["required"], where
                assert placeholder in owners, f"{where}: {placeholder} is no entity's id property"


def test_entities_have_ids_typed_properties_and_resolvable_references():
    all_entities: dict[str, str] = {}
    for name, doc in load_all().items():
        ents = entities(doc)
        assert 3 <= len(ents) <= 5, (name, sorted(ents))
        owners = id_owners(doc)
        for ent, schema in ents.items():
            where = f"{name}: {ent}"
            assert ent not in all_entities, f"{where}: entity name also used in {all_entities[ent]}"
            all_entities[ent] = name
            props = schema["properties"]
            id_prop = f"{snake(ent)}_id"
            assert id_prop in props and id_prop in schema["required"], f"{where}: no {id_prop}"
            assert schema["description"].strip(), where
            for prop, prop_schema in props.items():
                assert prop_schema.get("type") in {"string", "integer", "number", "boolean"}, (
                    f"{where}.{prop}"
                )
                assert prop_schema.get("description"), f"{where}.{prop}: no description"
                if prop.endswith("_id") and prop != id_prop:
                    assert prop in owners, f"{where}.{prop}: refers to no entity of {name}"
                    target = ents[owners[prop]]["properties"][prop]
                    assert prop_schema["type"] == target["type"], f"{where}.{prop}: type differs from target"


def test_responses_return_entities_or_pages_of_them():
    for name, doc in load_all().items():
        ents = entities(doc)
        for path, method, op in operations(doc):
            where = f"{name}: {op['operationId']}"
            expected = "201" if method == "post" and "201" in op["responses"] else "200"
            assert expected in op["responses"], f"{where}: no 200/201 response"
            entity, is_list = response_entity(doc, op)
            assert entity in ents, f"{where}: responds with {entity}, not an entity"
            assert is_list == (method == "get" and not path.endswith("}")), f"{where}: list shape vs path"


def test_writes_have_a_body_or_a_path_id_and_bodies_use_property_names():
    reads = writes = 0
    for name, doc in load_all().items():
        ents = entities(doc)
        for path, method, op in operations(doc):
            where = f"{name}: {op['operationId']}"
            if method == "get":
                reads += 1
                assert "requestBody" not in op, where
                continue
            writes += 1
            assert "requestBody" in op or "{" in path, f"{where}: write with neither body nor path id"
            if "requestBody" not in op:
                continue
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert body["type"] == "object" and body["properties"], where
            assert set(body.get("required", [])) <= set(body["properties"]), where
            entity, _ = response_entity(doc, op)
            columns = set(ents[entity]["properties"])
            for field, field_schema in body["properties"].items():
                if (op["operationId"], field) in NON_COLUMN_BODY_FIELDS:
                    continue
                assert field in columns, f"{where}: body field {field} is not a property of {entity}"
                assert field_schema["type"] == ents[entity]["properties"][field]["type"], f"{where}.{field}"
                assert not field_schema.get("readOnly"), f"{where}: read-only {field} in a request body"
    # A mix a task generator can build both read and write tasks from.
    assert 0.35 <= writes / (reads + writes) <= 0.7, (reads, writes)


def test_query_filters_name_a_property():
    for name, doc in load_all().items():
        for _path, method, op in operations(doc):
            if method != "get":
                continue
            entity, is_list = response_entity(doc, op)
            columns = entities(doc)[entity]["properties"]
            for param in parameters(doc, op):
                if param["in"] != "query" or param["name"] == "limit":
                    continue
                where = f"{name}: {op['operationId']}?{param['name']}"
                assert is_list, f"{where}: query filter on a single-record read"
                rule = param.get("x-filter", {"property": param["name"], "op": "eq"})
                assert rule["property"] in columns, f"{where}: filters on unknown property {rule['property']}"
                assert rule["op"] in FILTER_OPS, where
                assert param["schema"]["type"] == columns[rule["property"]]["type"], where


def test_state_transitions_name_real_statuses():
    transitions = 0
    for name, doc in load_all().items():
        for path, method, op in operations(doc):
            rule = op.get("x-state-transition")
            if rule is None:
                continue
            transitions += 1
            entity, _ = response_entity(doc, op)
            field = entities(doc)[entity]["properties"][rule["field"]]
            where = f"{name}: {op['operationId']}"
            assert set(rule["from"]) <= set(field["enum"]), where
            assert rule["to"] in field["enum"] and rule["to"] not in rule["from"], where
            assert method == "post" and path.startswith("/") and "{" in path, where
    assert transitions >= 30


def test_ingest_reads_every_operation_without_skipping_any():
    ingest = pytest.importorskip("synth.ingest", reason="synth.ingest is not available")
    files: list[Path] = default_api_files()
    result = ingest.ingest_paths(files)
    assert result.skipped == []
    expected = {op["operationId"] for doc in load_all().values() for _, _, op in operations(doc)}
    assert {tool.name for tool in result.tools} == expected
    cancel = next(tool for tool in result.tools if tool.name == "cancel_order")
    assert cancel.method == "POST" and cancel.path == "/orders/{order_id}/cancel"
    assert cancel.api == "Order Desk API"
    assert set(cancel.parameters["required"]) == {"order_id", "cancel_reason"}


def test_default_api_files_fails_clearly_without_data(tmp_path, monkeypatch):
    import synth.data.default_apis as module

    monkeypatch.setattr(module, "_HERE", tmp_path)
    with pytest.raises(FileNotFoundError, match="no built-in API files"):
        module.default_api_files()

"""Spec files: the examples are well formed; broken files fail with the file, path and problem."""

from __future__ import annotations

import json
import re

import pytest

from servers.examples import example_spec_paths
from servers.spec import ENV_NAME_PATTERN, SpecError, load_envspec

VALID = {
    "name": "mini",
    "tables": [{"name": "items", "primary_key": "item_id",
                "columns": [{"name": "item_id"}, {"name": "count", "type": "integer"}]}],
    "tools": [{"name": "get_item", "description": "d",
               "input_schema": {"type": "object", "properties": {"item_id": {"type": "string"}}, "required": ["item_id"]},
               "operation": {"kind": "get", "table": "items", "key": {"arg": "item_id"}}}],
    "seed": {"rows": {"items": [{"item_id": "a", "count": 1}]}},
}


def test_examples_are_complete_environments():
    paths = example_spec_paths()
    assert {p.stem for p in paths} == {"order-desk", "flight-desk", "bank-desk"}
    for path in paths:
        spec = load_envspec(path)
        assert spec.name == path.stem and re.match(ENV_NAME_PATTERN, spec.name)
        assert 8 <= len(spec.tools) <= 12
        assert 10 <= sum(len(rows) for rows in spec.seed.rows.values()) <= 30
        assert any(t.read_only for t in spec.tools) and any(not t.read_only for t in spec.tools)
        assert any(t.operation.kind == "sequence" for t in spec.tools)
        assert spec.dependencies
        for dep in spec.dependencies:
            assert dep.argument in spec.tool(dep.target).input_schema["properties"], dep
        for tool in spec.tools:
            assert len(tool.description) > 15 and tool.annotations.readOnlyHint is not None


def _write(tmp_path, data, name="env.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _mutated(**changes):
    data = json.loads(json.dumps(VALID))
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        target[int(last) if last.isdigit() else last] = value
    return data


def test_valid_file_loads(tmp_path):
    assert load_envspec(_write(tmp_path, VALID)).name == "mini"


def test_bad_json_names_file_and_position(tmp_path):
    path = _write(tmp_path, '{"name": "mini",\n "tables": [}')
    with pytest.raises(SpecError, match=rf"^{re.escape(str(path))}: not valid JSON: line 2 column"):
        load_envspec(path)


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_envspec(tmp_path / "absent.json")


def test_unknown_table(tmp_path):
    path = _write(tmp_path, _mutated(tools__0__operation__table="itemz"))
    with pytest.raises(SpecError) as err:
        load_envspec(path)
    assert str(err.value).startswith(str(path)) and "tools.0 ('get_item')" in str(err.value)
    assert "unknown table 'itemz'" in str(err.value)


def test_undeclared_argument(tmp_path):
    path = _write(tmp_path, _mutated(tools__0__operation__key={"arg": "id"}))
    with pytest.raises(SpecError, match=r"reads argument\(s\) \['id'\] that the input_schema does not declare"):
        load_envspec(path)


def test_wrong_seed_type(tmp_path):
    path = _write(tmp_path, _mutated(seed__rows__items__0__count="one"))
    with pytest.raises(SpecError, match=r"seed.rows.items.0: 'count' must be a integer, got 'one'"):
        load_envspec(path)


def test_bad_env_name(tmp_path):
    path = _write(tmp_path, _mutated(name="Bad Name"))
    with pytest.raises(SpecError, match=r": name: String should match pattern"):
        load_envspec(path)

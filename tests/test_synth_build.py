"""`synthesize()` and `envhub synth` on the embedded default collection: gated, deterministic, servable."""

from __future__ import annotations

import argparse
import json

import httpx2
import pytest
from mcp import Client

from hub.commands import synth as synth_command
from servers.spec import ENV_NAME_PATTERN, load_envspec
from synth.envs.quality_gate import run_gate
from synth.envs.synthesize import DEFAULT_APIS, SynthSettings, synthesize
from tests.hubserver import running_hub


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    report = synthesize(None, out, SynthSettings(seed=0, progress=False, workers=1))
    return out, report


@pytest.mark.slow
def test_default_collection_builds_gated_environments(build):
    out, report = build
    data = json.loads((out / "report.json").read_text())
    assert data["tools_ingested"] >= 150
    assert data["environments_passing"] >= 8
    assert data["yield"] >= 0.9, data["dropped_tools"]
    assert (out / "domains.png").stat().st_size > 1000
    files = sorted((out / "envs").glob("*.json"))
    assert len(files) == data["environments_passing"]
    names = set()
    for path in files:
        spec = load_envspec(path)
        assert __import__("re").match(ENV_NAME_PATTERN, spec.name) and spec.name not in names
        names.add(spec.name)
        assert len(spec.tools) >= 3 and spec.seed.rows
        # Every kept tool works again on a fresh gate run: nothing left to drop.
        again = run_gate(spec)
        assert again.passed and len(again.kept) == len(spec.tools), [v for v in again.verdicts if not v.ok]
    kinds = {t.operation.kind for p in files for t in load_envspec(p).tools}
    assert {"get", "find", "insert", "update", "delete"} <= kinds
    assert sum(len(load_envspec(p).dependencies) for p in files) > 0


def test_same_seed_gives_identical_files_whatever_the_workers(build, tmp_path):
    out, _ = build
    synthesize(None, tmp_path, SynthSettings(seed=0, progress=False, workers=2, draw=False))
    first = {p.name: p.read_bytes() for p in (out / "envs").glob("*.json")}
    second = {p.name: p.read_bytes() for p in (tmp_path / "envs").glob("*.json")}
    assert first.keys() == second.keys() and first == second


async def test_built_environments_serve_over_mcp(build):
    out, _ = build
    spec = load_envspec(next(iter(sorted((out / "envs").glob("*.json")))))
    read_tool = next(t for t in spec.tools if t.operation.kind == "get")
    table = spec.table(read_tool.operation.table)
    row = spec.seed.rows[table.name][0]
    with running_hub(out) as hub_url:
        listed = httpx2.get(f"{hub_url}/envs").json()
        assert spec.name in {e["name"] for e in listed["envs"]}
        episode = httpx2.post(f"{hub_url}/envs/{spec.name}/episodes", json={}).json()
        async with Client(episode["mcp_url"]) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert tools == {t.name for t in spec.tools}
            result = await client.call_tool(read_tool.name, {read_tool.operation.key.arg: row[table.primary_key]})
            assert not result.is_error, result.content
            assert json.loads(result.content[0].text)[table.primary_key] == row[table.primary_key]


def test_cli_writes_build_and_reports_bad_input(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    synth_command.register(parser.add_subparsers())
    src = tmp_path / "apis"
    src.mkdir()
    (src / "orders.yaml").write_bytes((DEFAULT_APIS / "orders.yaml").read_bytes())
    args = parser.parse_args(["synth", str(src), "--out", str(tmp_path / "b"), "--no-progress"])
    assert args.handler(args) == 0
    assert list((tmp_path / "b" / "envs").glob("*.json"))
    assert "environments passing" in capsys.readouterr().err
    args = parser.parse_args(["synth", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "c")])
    assert args.handler(args) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_built_in_sources_are_named_independently_of_the_checkout(build, tmp_path):
    """A build records the built-in files as `envhub:default_apis/<file>`, not the absolute path of the
    installed package, so the same seed gives the same bytes in every checkout; other inputs keep
    the path they were given."""
    from synth.data.default_apis import SOURCE_PREFIX, default_api_files, source_name

    out, _ = build
    sources = {s for path in (out / "envs").glob("*.json") for s in load_envspec(path).source}
    assert sources == {SOURCE_PREFIX + f.name for f in default_api_files()}
    outside = tmp_path / "orders.yaml"
    assert source_name(str(outside)) == str(outside)
    assert source_name("specs/orders.yaml") == "specs/orders.yaml"

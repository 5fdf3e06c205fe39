"""Domains from tool semantics: APIs inferred for identity-less tool files, the ARI that scores them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from synth.graph import build_tool_graph, partition_domains
from synth.graph.agreement import adjusted_rand_index
from synth.graph.origins import INFER_MIN_TOOLS, infer_api_groups, inferred_api_labels, name_shape
from synth.ingest import ingest_paths
from synth.tooldef import ToolDef
from tests.test_graph_partition import domains_as_data, synthetic_tools

# Four made-up APIs, each written its own way (name shape, parameter style, description phrasing),
# each acting on its own resources: what real APIs look like when a file mixes them.
MIXED_APIS: dict[str, dict] = {
    "shop": {
        "resources": ["order", "cart", "product", "customer", "invoice"],
        "name": lambda verb, noun: f"{verb}{noun.title()}",
        "params": lambda noun: {f"{noun}Id": f"Identifier of the {noun} in the shop.", "storeCode": "Store code."},
        "description": lambda verb, noun: f"{verb.title()}s a {noun} of the store.",
    },
    "weather": {
        "resources": ["forecast", "station", "alert", "observation", "radar"],
        "name": lambda verb, noun: f"{verb.upper()}_{noun}s",
        "params": lambda noun: {"lat": "**Latitude** in degrees", "lon": "**Longitude** in degrees",
                                f"{noun}_window": f"**Window** of the {noun}"},
        "description": lambda verb, noun: f"**This endpoint** lets you {verb} {noun} data",
    },
    "music": {
        "resources": ["track", "album", "artist", "playlist", "genre"],
        "name": lambda verb, noun: f"music.{noun}s.{verb}",
        "params": lambda noun: {f"{noun}-ref": f"the {noun} reference", "market": "an ISO market code"},
        "description": lambda verb, noun: f"<p>{verb} the {noun}</p>",
    },
    "hr": {
        "resources": ["employee", "department", "payslip", "leave", "contract"],
        "name": lambda verb, noun: f"{noun.title()}_{verb.title()}",
        "params": lambda noun: {f"{noun.title()}Number": f"Number of the {noun} record",
                                "CompanyKey": "Company the record belongs to"},
        "description": lambda verb, noun: f"HR: {verb} {noun} record",
    },
}
VERBS = ["get", "list", "create", "update"]


def mixed_functions(seed: int = 0) -> tuple[list[dict], dict[str, str]]:
    functions: list[dict] = []
    truth: dict[str, str] = {}
    for api, style in MIXED_APIS.items():
        for noun in style["resources"]:
            for verb in VERBS:
                name = style["name"](verb, noun)
                properties = {
                    param: {"type": "string", "description": text} for param, text in style["params"](noun).items()
                }
                functions.append({"type": "function", "function": {
                    "name": name, "description": style["description"](verb, noun),
                    "parameters": {"type": "object", "properties": properties},
                }})
                truth[name] = api
    random.Random(seed).shuffle(functions)
    return functions, truth


def write_tools(path: Path, functions: list[dict]) -> Path:
    path.write_text(json.dumps({"tools": functions}), encoding="utf-8")
    return path


def test_adjusted_rand_index_matches_the_reference_values() -> None:
    # The values scikit-learn's adjusted_rand_score documents for these cases.
    assert adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(0.5714285714285715)
    assert adjusted_rand_index([0, 0, 0, 0], [0, 1, 2, 3]) == 0.0
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert adjusted_rand_index(["a"] * 5, ["x"] * 5) == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        adjusted_rand_index([0, 1], [0])


def test_a_mixed_identity_less_file_is_split_into_its_apis(tmp_path: Path) -> None:
    functions, truth = mixed_functions()
    path = write_tools(tmp_path / "mixed.json", functions)
    tools = ingest_paths([path]).tools
    assert len(tools) == 80 and {tool.api for tool in tools} == {"mixed"}
    with pytest.warns(UserWarning, match="80 tools name no API"):
        graph = build_tool_graph(tools, seed=0)
    names = [tool.name for tool in tools]
    true_apis = [truth[tool.original_name] for tool in tools]
    found = [graph.graph.nodes[name]["api"] for name in names]
    assert adjusted_rand_index(true_apis, found) >= 0.9
    assert all(label.startswith("mixed~") for label in found)
    assert graph.graph.graph["inferred_apis"] == {"mixed": len(set(found))}
    # The domains follow the inferred APIs, never a made-up `mixed-3` name.
    domains = partition_domains(graph, tools, seed=0)
    by_tool = {name: number for number, domain in enumerate(domains) for name in domain.tools}
    assert adjusted_rand_index(true_apis, [by_tool[name] for name in names]) >= 0.9
    assert not any(domain.name.startswith("mixed") for domain in domains)


def test_inference_ignores_file_order_and_is_reproducible(tmp_path: Path) -> None:
    functions, _ = mixed_functions(seed=0)
    shuffled, _ = mixed_functions(seed=5)
    first = ingest_paths([write_tools(tmp_path / "a.json", functions)]).tools
    second = ingest_paths([write_tools(tmp_path / "b.json", shuffled)]).tools
    assert infer_api_groups(first, seed=0) == infer_api_groups(second, seed=0) == infer_api_groups(first, seed=0)


def test_identity_known_inputs_keep_their_grouping() -> None:
    # Tools whose source names their API (OpenAPI, ToolBench, ...) keep it: the same domains as
    # with inference switched off, and the graph's labels are the tools' own APIs.
    tools = [tool.model_copy(update={"format": "openapi"}) for tool in synthetic_tools()]
    graph = build_tool_graph(tools, seed=0)
    assert all(graph.graph.nodes[tool.name]["api"] == tool.api for tool in tools)
    assert graph.graph.graph["inferred_apis"] == {}
    plain = build_tool_graph(tools, seed=0, infer_apis=False)
    assert domains_as_data(partition_domains(graph, tools, seed=0)) == domains_as_data(
        partition_domains(plain, tools, seed=0)
    )
    assert inferred_api_labels(tools) == {tool.name: tool.api for tool in tools}


def test_a_small_identity_less_file_stays_one_api(tmp_path: Path) -> None:
    functions, _ = mixed_functions()
    small = functions[: INFER_MIN_TOOLS - 1]
    tools = ingest_paths([write_tools(tmp_path / "few.json", small)]).tools
    assert set(inferred_api_labels(tools).values()) == {"few"}


def test_tools_without_evidence_are_reported(tmp_path: Path) -> None:
    functions, _ = mixed_functions()
    bare = [{"type": "function", "function": {"name": f"op_{i}", "parameters": {"type": "object"}}}
            for i in range(5)]
    tools = ingest_paths([write_tools(tmp_path / "bare.json", functions + bare)]).tools
    with pytest.warns(UserWarning, match=r"5 of 85 tools have neither a description nor parameters"):
        labels = inferred_api_labels(tools)
    assert set(labels) == {tool.name for tool in tools}


def test_name_shapes_tell_writing_styles_apart() -> None:
    assert name_shape("GET_contactdb-lists") == "U_l-l"
    assert name_shape("getUserById") == "lP"
    assert name_shape("tagmanager.accounts.list") == "l.l.l"
    assert name_shape("Password_Generate") == "P_P"


def test_an_identity_less_tooldef_without_a_file_is_grouped_by_source() -> None:
    # MCP dumps and BFCL files count as identity-less too; two sources are inferred separately.
    functions, truth = mixed_functions()
    tools = [
        ToolDef(name=f["function"]["name"], description=f["function"]["description"],
                parameters=f["function"]["parameters"], source="dump.json", api="dump", format="mcp")
        for f in functions
    ]
    with pytest.warns(UserWarning):
        labels = inferred_api_labels(tools)
    names = sorted(labels)
    assert adjusted_rand_index([truth[n] for n in names], [labels[n] for n in names]) >= 0.9


def load_proxy_module():  # type: ignore[no-untyped-def]
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "bench" / "domain_proxy.py"
    spec = importlib.util.spec_from_file_location("domain_proxy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built.
    sys.modules.setdefault("domain_proxy", module)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_proxy_removes_what_names_the_api() -> None:
    proxy_module = load_proxy_module()
    assert proxy_module.shared_prefix(["tagmanager.accounts.list", "tagmanager.tags.get"]) == "tagmanager"
    assert proxy_module.shared_prefix(["get_orders", "get_items"]) is None  # a verb is style, not identity
    assert proxy_module.shared_prefix(["getOrders", "getItems"]) is None
    by_api = {
        f"specs/api{i}.json": [
            ToolDef(name=f"api{i}_{op}", original_name=f"brand{i}.things.{op}", description=f"{op} things",
                    source=f"archive::specs/api{i}.json", api=f"Brand {i} API", method="GET", path=f"/v{i}/things",
                    tags=[f"brand{i}"])
            for op in ("list", "get")
        ]
        + [ToolDef(name=f"ping{i}", original_name=f"brand{i}.ping", source=f"archive::specs/api{i}.json", api=f"Brand {i} API")]
        for i in range(4)
    }
    proxy = proxy_module.build_proxy(by_api, seed=3, n_apis=3)
    again = proxy_module.build_proxy(by_api, seed=3, n_apis=3)
    assert proxy.functions == again.functions and len(proxy.apis) == 3
    names = [f["function"]["name"] for f in proxy.functions]
    assert len(set(names)) == len(names) == 9 and set(proxy.truth) == set(names)
    # Clashing names get neutral suffixes; nothing in the file names a brand, server or path.
    assert sorted(n for n in names if n.startswith("ping")) == ["ping", "ping_2", "ping_3"]
    text = json.dumps(proxy.functions)
    assert "brand" not in text.lower() and "/v" not in text and "things_list" in text

"""Tool graph + domain partition: determinism, order invariance, size bounds, blocked kNN, PNG."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import synth.graph.vectorize as vectorize_module
from synth.graph import (
    DOMAIN_NAME_PATTERN,
    build_tool_graph,
    domain_graph,
    draw_domain_graph,
    partition_domains,
)
from synth.graph.partition import ToolResource, keep_resources_together, share_key_producers, tool_resource
from synth.graph.vectorize import group_top_k_neighbours, hashing_vectors, top_k_neighbours
from synth.tooldef import ToolDef

VOCABULARIES = {
    "Orders API": ["order_id", "customer_id", "status", "total_amount", "currency", "shipping_address"],
    "Weather API": ["city", "latitude", "longitude", "unit", "days", "country_code"],
    "Music API": ["artist_name", "album_id", "track_id", "genre", "playlist_id", "duration_ms"],
    "Flights API": ["origin", "destination", "depart_date", "passengers", "flight_number", "cabin_class"],
    "HR API": ["employee_id", "department", "salary", "manager_id", "hire_date", "job_title"],
}
VERBS = ["get", "list", "create", "update", "delete", "search"]


def synthetic_tools(per_api: int = 12, seed: int = 1) -> list[ToolDef]:
    rng = random.Random(seed)
    tools = []
    for api, vocab in VOCABULARIES.items():
        noun = api.split()[0].lower()
        for i in range(per_api):
            params = rng.sample(vocab, 3)
            tools.append(
                ToolDef(
                    name=f"{rng.choice(VERBS)}_{noun}_{i}",
                    description=f"{noun} operation number {i} working with {' and '.join(params)}",
                    parameters={"type": "object", "properties": {p: {"type": "string"} for p in params}},
                    source=f"{noun}.json",
                    api=api,
                )
            )
    # A lone tool of its own API, sharing no vocabulary with anything: it must still land somewhere.
    tools.append(
        ToolDef(
            name="translate_text",
            description="Translate",
            parameters={"type": "object", "properties": {"source_text": {"type": "string"}}},
            source="translate.json",
            api="Translator",
        )
    )
    return tools


def domains_as_data(domains) -> list[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    return [(domain.name, domain.tools) for domain in domains]


def test_partition_is_reproducible_and_order_independent() -> None:
    tools = synthetic_tools()
    first = partition_domains(build_tool_graph(tools, seed=0), tools, seed=0)
    again = partition_domains(build_tool_graph(tools, seed=0), tools, seed=0)
    assert domains_as_data(first) == domains_as_data(again)
    shuffled = tools[:]
    random.Random(7).shuffle(shuffled)
    reordered = partition_domains(build_tool_graph(shuffled, seed=0), shuffled, seed=0)
    assert domains_as_data(reordered) == domains_as_data(first)


@pytest.mark.parametrize("method", ["leiden", "louvain"])
def test_domains_cover_every_tool_once_within_bounds(method: str) -> None:
    tools = synthetic_tools()
    tool_graph = build_tool_graph(tools)
    domains = partition_domains(tool_graph, tools, seed=3, min_size=3, max_size=8, method=method)
    covered = [name for domain in domains for name in domain.tools]
    assert sorted(covered) == sorted(tool.name for tool in tools)
    assert all(3 <= len(domain.tools) <= 8 for domain in domains)
    names = [domain.name for domain in domains]
    assert len(set(names)) == len(names)
    assert all(DOMAIN_NAME_PATTERN.match(name) for name in names)
    # Tools with disjoint vocabularies never share a domain.
    by_tool = {tool.name: tool.api for tool in tools}
    mixed = [d for d in domains if len({by_tool[n] for n in d.tools} - {"Translator"}) > 1]
    assert not mixed, [d.tools for d in mixed]


def test_domains_follow_apis_and_are_named_after_them() -> None:
    tools = synthetic_tools()
    domains = partition_domains(build_tool_graph(tools), tools, max_size=40)
    assert len(domains) == 5
    # A trailing "API" says nothing about the world inside: `Orders API` -> `orders`.
    assert {domain.name for domain in domains} == {"orders", "weather", "music", "flights", "hr"}
    lone = next(domain for domain in domains if "translate_text" in domain.tools)
    assert len(lone.tools) == 13
    assert lone.apis[0] != "Translator"


def test_oversized_community_is_split() -> None:
    # One API of 60 near-identical tools: a single community that must be cut to <= 25.
    tools = [
        ToolDef(
            name=f"op_{i:02d}",
            parameters={
                "type": "object",
                "properties": {"account_id": {"type": "string"}, f"field_{i % 6}": {}},
            },
            source="bank.json",
            api="Bank",
        )
        for i in range(60)
    ]
    domains = partition_domains(build_tool_graph(tools), tools, min_size=5, max_size=25)
    assert sum(len(d.tools) for d in domains) == 60
    assert all(5 <= len(d.tools) <= 25 for d in domains)
    assert len({d.name for d in domains}) == len(domains) and all(d.name.startswith("bank") for d in domains)


def test_knn_runs_in_blocks_and_matches_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    tools = synthetic_tools()
    vectors = hashing_vectors(tools, dim=256)
    seen_blocks: list[tuple[int, int]] = []
    original = vectorize_module._row_top_k

    def spy(block: np.ndarray, k: int):  # type: ignore[no-untyped-def]
        seen_blocks.append(block.shape)
        return original(block, k)

    monkeypatch.setattr(vectorize_module, "_row_top_k", spy)
    indices, sims = top_k_neighbours(vectors, 4, block_size=7)
    n = len(tools)
    assert seen_blocks and all(rows <= 7 and cols == n for rows, cols in seen_blocks)
    dense = vectors @ vectors.T
    np.fill_diagonal(dense, -np.inf)
    expected = np.sort(dense, axis=1)[:, ::-1][:, :4]
    np.testing.assert_allclose(sims, expected, rtol=1e-5, atol=1e-6)
    assert (indices != np.arange(n)[:, None]).all()
    # Same-group search never crosses groups.
    groups = np.array([hash(tool.api) % 1000 for tool in tools])
    group_indices, _ = group_top_k_neighbours(vectors, groups, 2, block_size=5)
    valid = group_indices >= 0
    assert (groups[np.where(valid, group_indices, 0)] == groups[:, None])[valid].all()


def test_tool_graph_carries_the_vectors_in_name_order() -> None:
    tools = synthetic_tools()
    tool_graph = build_tool_graph(list(reversed(tools)))
    assert tool_graph.order == sorted(tool.name for tool in tools) == sorted(tool_graph.graph.nodes)
    by_name = {tool.name: tool for tool in tools}
    again = hashing_vectors([by_name[name] for name in tool_graph.order])
    np.testing.assert_allclose(tool_graph.vectors, again)


def test_block_size_does_not_change_the_graph() -> None:
    tools = synthetic_tools()
    small = build_tool_graph(tools, block_size=5).graph
    large = build_tool_graph(tools, block_size=4096).graph
    small_edges, large_edges = sorted(small.edges(data="weight")), sorted(large.edges(data="weight"))
    assert [(a, b) for a, b, _ in small_edges] == [(a, b) for a, b, _ in large_edges]
    assert [w for *_, w in small_edges] == pytest.approx([w for *_, w in large_edges], abs=1e-5)
    assert small.number_of_edges() > len(tools)


def test_graph_edges_respect_threshold_and_same_api_links() -> None:
    tools = synthetic_tools()
    graph = build_tool_graph(tools, threshold=0.99, top_k=5, same_api_neighbours=0).graph
    assert all(similarity >= 0.99 for *_, similarity in graph.edges(data="similarity"))
    assert build_tool_graph(tools, threshold=1.01, same_api_neighbours=0).graph.number_of_edges() == 0
    linked = build_tool_graph(tools, threshold=0.99, top_k=5, same_api_neighbours=2).graph
    apis = {tool.name: tool.api for tool in tools}
    assert linked.number_of_edges() > 0
    assert all(apis[a] == apis[b] for a, b in linked.edges)
    with pytest.raises(ValueError, match="unique"):
        build_tool_graph(tools + tools[:1])


def test_draw_domain_graph_writes_png(tmp_path: Path) -> None:
    tools = synthetic_tools()
    tool_graph = build_tool_graph(tools)
    domains = partition_domains(tool_graph, tools, max_size=8)
    summary = domain_graph(tool_graph.graph, domains)
    assert summary.number_of_nodes() == len(domains)
    out = tmp_path / "picture" / "domains.png"
    draw_domain_graph(tool_graph.graph, domains, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_partition_of_tiny_inputs() -> None:
    assert partition_domains(build_tool_graph([]), []) == []
    one = [ToolDef(name="solo", source="x.json", api="X")]
    domains = partition_domains(build_tool_graph(one), one)
    assert [(d.name, d.tools) for d in domains] == [("x", ["solo"])]


RESOURCES = ["job", "model", "bucket", "dataset", "cluster", "topic", "queue", "table", "volume", "image",
             "snapshot", "policy"]


def rest_api_tools() -> list[ToolDef]:
    """One REST API of 60 tools: 12 resources x create/list/get/update/delete. Parameters and
    descriptions follow the verb, not the resource (as in generated specs), so similarity alone
    puts deletes with deletes, away from the lists and creates that produce their keys."""
    verbs = {
        "list": ("get", "/v1/{plural}", ["pageSize", "pageToken", "filter", "orderBy"],
                 "List every record of the collection with paging and filtering."),
        "create": ("post", "/v1/{plural}", ["displayName", "labels", "etag", "requestId"],
                   "Create a new record in the collection from the request body."),
        "get": ("get", "/v1/{plural}/{{id}}", ["id", "view"], "Get one record by its identifier."),
        "update": ("patch", "/v1/{plural}/{{id}}", ["id", "updateMask", "displayName", "etag"],
                   "Update fields of one record by its identifier."),
        "delete": ("delete", "/v1/{plural}/{{id}}", ["id", "force", "etag"],
                   "Delete one record by its identifier."),
    }
    tools = []
    for noun in RESOURCES:
        for verb, (method, path, params, description) in verbs.items():
            tools.append(ToolDef(
                name=f"{noun}s_{verb}", description=description,
                parameters={"type": "object", "properties": {p: {"type": "string"} for p in params},
                            "required": ["id"] if "id" in params else []},
                source="cloud.json", api="Cloud API", method=method, path=path.format(plural=f"{noun}s"),
            ))
    return tools


def test_split_api_keeps_each_resource_in_one_domain() -> None:
    tools = rest_api_tools()
    domains = partition_domains(build_tool_graph(tools, seed=0), tools, seed=0, min_size=3, max_size=25)
    assert len(domains) >= 3
    assert all(len(domain.tools) <= 25 for domain in domains)
    domain_of = {name: domain.name for domain in domains for name in domain.tools}
    assert sorted(domain_of) == sorted(tool.name for tool in tools)
    for noun in RESOURCES:
        homes = {domain_of[f"{noun}s_{verb}"] for verb in ("list", "create", "get", "update", "delete")}
        assert len(homes) == 1, f"{noun} is split over {homes}"
    again = partition_domains(build_tool_graph(tools, seed=0), tools, seed=0, min_size=3, max_size=25)
    assert [d.tools for d in again] == [d.tools for d in domains]


def test_resource_repair_moves_to_the_majority_piece_within_bounds() -> None:
    resource = {"a_get": "a", "a_list": "a", "a_delete": "a", "b_get": "b", "b_list": "b", "c_get": "c"}
    parts = [["a_get", "a_list", "b_get"], ["a_delete", "b_list", "c_get"]]
    # `a` joins its majority piece; `b` (one each) then only fits in the second piece.
    assert keep_resources_together(parts, resource, max_size=4) == [
        ["a_delete", "a_get", "a_list"], ["b_get", "b_list", "c_get"]]
    # No room anywhere: the resource stays split rather than overfill a piece.
    assert keep_resources_together(parts, resource, max_size=3) == [
        ["a_delete", "b_list", "c_get"], ["a_get", "a_list", "b_get"]]
    # A piece emptied by the moves disappears.
    assert keep_resources_together([["a_get"], ["a_list", "a_delete"]], resource, max_size=5) == [
        ["a_delete", "a_get", "a_list"]]


def test_piece_without_a_key_producer_gets_one_from_a_piece_that_keeps_another() -> None:
    def res(entity: str, needs: set[str] = frozenset(), produces: set[str] = frozenset()) -> ToolResource:
        return ToolResource(entity, frozenset(needs), frozenset(produces))

    resources = {
        "projects_list": res("project", produces={"project"}),
        "projects_search": res("project", produces={"project"}),
        "projects_get": res("project", needs={"project"}),
        "projects_archive": res("project", needs={"project"}),
        "projects_star": res("project", needs={"project"}),
        "hooks_list": res("hook", produces={"hook"}),
    }
    parts = [["hooks_list", "projects_get", "projects_list", "projects_search"], ["projects_archive", "projects_star"]]
    # The first piece keeps `projects_search` feeding `projects_get`; `projects_list` moves.
    assert share_key_producers(parts, resources, max_size=5) == [
        ["hooks_list", "projects_get", "projects_search"], ["projects_archive", "projects_list", "projects_star"]]
    # With a single producer the donor would lose its only edge: it is not taken (and the two
    # pieces together exceed max_size, so they stay apart).
    single = [["projects_archive", "projects_star"], ["projects_get", "projects_list"]]
    assert share_key_producers(single, resources, max_size=3) == single
    # A full piece takes nothing.
    assert share_key_producers(parts, resources, max_size=2) == parts


def test_tool_resource_reads_needed_and_produced_keys_from_the_path() -> None:
    by_name = {tool.name: tool for tool in rest_api_tools()}
    assert tool_resource(by_name["jobs_get"]) == ToolResource("job", frozenset({"job"}), frozenset())
    assert tool_resource(by_name["jobs_list"]) == ToolResource("job", frozenset(), frozenset({"job"}))
    assert tool_resource(by_name["jobs_create"]).produces == frozenset({"job"})


def test_piece_joins_a_producing_piece_when_no_producer_can_be_spared() -> None:
    resources = {
        "projects_list": ToolResource("project", frozenset(), frozenset({"project"})),
        "projects_get": ToolResource("project", frozenset({"project"}), frozenset()),
        "projects_archive": ToolResource("project", frozenset({"project"}), frozenset()),
        "projects_star": ToolResource("project", frozenset({"project"}), frozenset()),
    }
    parts = [["projects_archive", "projects_star"], ["projects_get", "projects_list"]]
    assert share_key_producers(parts, resources, max_size=4) == [
        ["projects_archive", "projects_get", "projects_list", "projects_star"]]
    # Together they would exceed max_size: both pieces stay.
    assert share_key_producers(parts, resources, max_size=3) == parts

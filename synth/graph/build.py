"""The tool graph: tools joined by parameter similarity.

Following AgentScaler, tools whose parameter lists look alike act on the same kind of state, so
a community of the similarity graph is one environment's worth of tools. Everything here is
reproducible: tools are put in name order first and ties are broken by name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import networkx as nx
import numpy as np

from synth.graph.origins import INFER_MIN_TOOLS, inferred_api_labels
from synth.graph.vectorize import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_DIM,
    group_top_k_neighbours,
    top_k_neighbours,
    vectorize,
)
from synth.tooldef import ToolDef

DEFAULT_THRESHOLD = 0.3
DEFAULT_TOP_K = 8
# Tools of one API share auth, ids and vocabulary even when their parameters differ, so each
# tool is also tied to its closest siblings, and same-API edges weigh more.
SAME_API_NEIGHBOURS = 2
SAME_API_BONUS = 0.25
# Tools of different APIs look alike whenever they share boilerplate (`limit`, `status`, `id`):
# a cross-API edge needs far more similarity than a same-API one to count as "one world".
CROSS_API_THRESHOLD = 0.55
# APIs with fewer tools than this are pooled and grouped with related small APIs; larger ones
# are environments of their own (split by similarity only when over `max_size`).
SMALL_API_SIZE = 8


@dataclass(frozen=True)
class ToolGraph:
    """The similarity graph of a tool set and the tool vectors it was built from.

    `order` is the tool names in vector row order (name order): `vectors[i]` is `order[i]`'s.
    """

    graph: nx.Graph
    order: list[str]
    vectors: np.ndarray


def build_tool_graph(
    tools: list[ToolDef],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    top_k: int = DEFAULT_TOP_K,
    vectorizer: str = "hashing",
    seed: int = 0,
    block_size: int = DEFAULT_BLOCK_SIZE,
    dim: int = DEFAULT_DIM,
    same_api_neighbours: int = SAME_API_NEIGHBOURS,
    same_api_bonus: float = SAME_API_BONUS,
    cross_api_threshold: float = CROSS_API_THRESHOLD,
    infer_apis: bool = True,
) -> ToolGraph:
    """Nodes are tool names (attribute `api`); an edge joins a tool to each of its `top_k`
    nearest tools with cosine similarity >= `threshold` (>= `cross_api_threshold` when the two
    tools come from different APIs), and to its `same_api_neighbours`
    closest tools of the same API whatever their similarity. Edge attributes: `weight`
    (similarity, plus `same_api_bonus` within an API) and `similarity`.

    A tool's API is the one its source names. Tools of a file that names none (OpenAI, BFCL, MCP
    tool lists: `synth.graph.origins`) get an inferred API when the file holds `INFER_MIN_TOOLS`
    or more, so a file mixing many APIs is grouped by what its tools act on (`infer_apis=False`
    keeps the file as one API). The graph records them: node attribute `api`, and
    `graph.graph["inferred_apis"]` = {file label: number of groups found}.

    Neighbours are found `block_size` rows at a time, so memory stays O(block_size * n).
    The vectors come back with the graph: the partition splits and merges communities by them.
    `seed` seeds the inference's community detection; the graph is otherwise deterministic.
    """
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        duplicates = sorted(name for name, count in Counter(names).items() if count > 1)[:5]
        raise ValueError(f"tool names must be unique (ingest makes them so); duplicated: {duplicates}")
    ordered = sorted(tools, key=lambda tool: tool.name)
    vectors = vectorize(ordered, vectorizer, dim)
    labels = (
        inferred_api_labels(ordered, seed=seed, min_tools=INFER_MIN_TOOLS)
        if infer_apis
        else {tool.name: tool.api or tool.source for tool in ordered}
    )
    api_labels = [labels[tool.name] for tool in ordered]
    inferred: dict[str, set[str]] = {}
    for tool, label in zip(ordered, api_labels, strict=True):
        if label != (tool.api or tool.source):
            inferred.setdefault(tool.api or tool.source, set()).add(label)
    api_index = {api: i for i, api in enumerate(sorted(set(api_labels)))}
    groups = np.array([api_index[api] for api in api_labels], dtype=np.int64)

    graph = nx.Graph(
        vectorizer=vectorizer, threshold=threshold, top_k=top_k, seed=seed, cross_api_threshold=cross_api_threshold,
        inferred_apis={label: len(found) for label, found in sorted(inferred.items())},
    )
    graph.add_nodes_from((tool.name, {"api": api}) for tool, api in zip(ordered, api_labels, strict=True))
    result = ToolGraph(graph, [tool.name for tool in ordered], vectors)
    if len(ordered) < 2:
        return result

    def add_edges(indices: np.ndarray, sims: np.ndarray, *, keep_all: bool) -> None:
        for i in range(len(ordered)):
            for j, sim in zip(indices[i], sims[i], strict=True):
                if j < 0:
                    continue
                same_api = groups[i] == groups[j]
                if not keep_all and sim < (threshold if same_api else max(threshold, cross_api_threshold)):
                    continue
                weight = float(max(sim, 0.0)) + (same_api_bonus if same_api else 0.0)
                a, b = ordered[i].name, ordered[int(j)].name
                existing = graph.get_edge_data(a, b)
                if existing is None or existing["weight"] < weight:
                    graph.add_edge(a, b, weight=weight, similarity=float(sim))

    indices, sims = top_k_neighbours(vectors, top_k, block_size=block_size)
    add_edges(indices, sims, keep_all=False)
    if same_api_neighbours > 0:
        indices, sims = group_top_k_neighbours(vectors, groups, same_api_neighbours, block_size=block_size)
        add_edges(indices, sims, keep_all=True)
    return result


"""The tool graph (tools joined by parameter similarity) and its partition into domains.

Following AgentScaler, tools whose parameter lists look alike act on the same kind of state, so
a community of the similarity graph is one environment's worth of tools. Everything here is
reproducible: tools are put in name order first, the community detection is seeded, and ties
are broken by name, so the same tools and seed give the same domains whatever the input order.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from hub.tooldef import ToolDef
from hub.vectorize import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_DIM,
    group_top_k_neighbours,
    split_words,
    top_k_neighbours,
    vectorize,
)

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
DOMAIN_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_GENERIC_WORDS = frozenset(
    [
        "get",
        "list",
        "create",
        "update",
        "delete",
        "remove",
        "add",
        "set",
        "put",
        "post",
        "patch",
        "find",
        "search",
        "query",
        "fetch",
        "retrieve",
        "by",
        "id",
        "ids",
        "all",
        "new",
        "api",
        "apis",
        "v1",
        "v2",
        "v3",
        "item",
        "items",
        "info",
        "details",
        "detail",
        "data",
        "resource",
        "resources",
        "operation",
        "operations",
        "service",
        "services",
        "request",
        "response",
    ]
)


@dataclass
class Domain:
    """One community of tools: the seed of one environment."""

    name: str
    tools: list[str]
    # The APIs the tools come from, most tools first.
    apis: list[str] = field(default_factory=list)


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
) -> nx.Graph:
    """Nodes are tool names (attribute `api`); an edge joins a tool to each of its `top_k`
    nearest tools with cosine similarity >= `threshold` (>= `cross_api_threshold` when the two
    tools come from different APIs), and to its `same_api_neighbours`
    closest tools of the same API whatever their similarity. Edge attributes: `weight`
    (similarity, plus `same_api_bonus` within an API) and `similarity`.

    Neighbours are found `block_size` rows at a time, so memory stays O(block_size * n).
    `graph.graph` keeps the vectors (row i = `graph.graph["order"][i]`) for the partition.
    `seed` is recorded for provenance; the graph itself is deterministic.
    """
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        duplicates = sorted(name for name, count in Counter(names).items() if count > 1)[:5]
        raise ValueError(f"tool names must be unique (ingest makes them so); duplicated: {duplicates}")
    ordered = sorted(tools, key=lambda tool: tool.name)
    vectors = vectorize(ordered, vectorizer, dim)
    api_labels = [tool.api or tool.source for tool in ordered]
    api_index = {api: i for i, api in enumerate(sorted(set(api_labels)))}
    groups = np.array([api_index[api] for api in api_labels], dtype=np.int64)

    graph = nx.Graph(
        vectorizer=vectorizer, threshold=threshold, top_k=top_k, seed=seed, cross_api_threshold=cross_api_threshold
    )
    graph.graph["order"] = [tool.name for tool in ordered]
    graph.graph["vectors"] = vectors
    graph.add_nodes_from((tool.name, {"api": api}) for tool, api in zip(ordered, api_labels, strict=True))
    if len(ordered) < 2:
        return graph

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
    return graph


def partition_domains(
    graph: nx.Graph,
    tools: list[ToolDef],
    *,
    seed: int = 0,
    min_size: int = 3,
    max_size: int = 40,
    method: str = "auto",
    small_api_size: int = SMALL_API_SIZE,
) -> list[Domain]:
    """Split the tool graph into domains of `min_size`..`max_size` tools (as far as possible),
    keeping each API in one piece: an environment is one world, not a mix of look-alike tools.

    Two levels: an API with `small_api_size` tools or more is a domain of its own; if it has
    more than `max_size`, Louvain/Leiden (seeded) on its own subgraph splits it, at finer
    resolutions and at last along its main direction of variation. The tools of smaller APIs
    are pooled and partitioned the same way, and each small API goes whole to the community
    holding most of its tools, so related small APIs share a domain. Finally a community under
    `min_size` joins the one it has the most edge weight to, else the one sharing its API,
    else the one with the most similar centroid. `method`: "leiden" (leidenalg, fast),
    "louvain" (networkx), or "auto" (leiden when installed).
    """
    if min_size < 1 or max_size < min_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got min_size={min_size}, max_size={max_size}")
    by_name = {tool.name: tool for tool in tools}
    missing = [name for name in graph.nodes if name not in by_name]
    if missing:
        raise ValueError(f"graph has tools not in the tool list: {sorted(missing)[:5]}")
    order: list[str] = sorted(graph.nodes)
    if not order:
        return []
    vectors = _vectors_for(graph, order, [by_name[name] for name in order])
    row_of = {name: i for i, name in enumerate(order)}
    finder = _CommunityFinder(graph, order, seed=seed, method=method)

    by_api: dict[str, list[str]] = defaultdict(list)
    for name in order:
        by_api[by_name[name].api or by_name[name].source].append(name)
    communities: list[list[str]] = []
    small_apis: list[str] = []
    for api in sorted(by_api):
        members = by_api[api]
        if len(members) > max_size:
            parts: list[list[str]] = []
            for community in finder.find(members, resolution=1.0):
                parts.extend(_split_oversized(finder, community, vectors, row_of, max_size=max_size))
            # Fragments of one API rejoin their own API first, never a foreign one.
            communities.extend(
                _merge_tiny(graph, parts, vectors, row_of, by_name, min_size=min_size, max_size=max_size)
            )
        elif len(members) >= small_api_size:
            communities.append(members)
        else:
            small_apis.append(api)
    if small_apis:
        communities.extend(
            _group_small_apis(finder, small_apis, by_api, vectors, row_of, max_size=max_size)
        )
    merged = _merge_tiny(graph, communities, vectors, row_of, by_name, min_size=min_size, max_size=max_size)
    return _name_domains(merged, by_name)


def _group_small_apis(
    finder: _CommunityFinder,
    apis: list[str],
    by_api: dict[str, list[str]],
    vectors: np.ndarray,
    row_of: dict[str, int],
    *,
    max_size: int,
    resolution: float = 1.0,
    depth: int = 0,
) -> list[list[str]]:
    """Communities of whole small APIs: each API goes to the community holding most of its tools."""
    if sum(len(by_api[api]) for api in apis) <= max_size and depth > 0:
        return [sorted(name for api in apis for name in by_api[api])]
    pool = sorted(name for api in apis for name in by_api[api])
    found = finder.find(pool, resolution=resolution)
    community_of = {name: i for i, members in enumerate(found) for name in members}
    grouped: dict[int, list[str]] = defaultdict(list)
    for api in apis:
        votes = Counter(community_of[name] for name in by_api[api])
        grouped[min(votes, key=lambda c: (-votes[c], c))].append(api)
    out: list[list[str]] = []
    for _, group_apis in sorted(grouped.items()):
        size = sum(len(by_api[api]) for api in group_apis)
        if size <= max_size:
            out.append(sorted(name for api in group_apis for name in by_api[api]))
        elif depth < 3:
            out.extend(
                _group_small_apis(
                    finder, group_apis, by_api, vectors, row_of,
                    max_size=max_size, resolution=resolution * 2.0, depth=depth + 1,
                )
            )
        else:
            out.extend(_pack_apis(group_apis, by_api, vectors, row_of, max_size))
    return out


def _pack_apis(
    apis: list[str], by_api: dict[str, list[str]], vectors: np.ndarray, row_of: dict[str, int], max_size: int
) -> list[list[str]]:
    """Last resort for an oversized group of small APIs: order the APIs along the group's main
    direction of variation and fill domains up to `max_size`, so neighbours stay together."""
    centroids = np.stack([vectors[[row_of[n] for n in by_api[api]]].mean(axis=0) for api in apis])
    centered = centroids.astype(np.float64) - centroids.mean(axis=0)
    projection = centered @ _principal_direction(centered)
    ranked = [apis[i] for i in np.lexsort((np.arange(len(apis)), projection))]
    out: list[list[str]] = []
    current: list[str] = []
    for api in ranked:
        if current and len(current) + len(by_api[api]) > max_size:
            out.append(sorted(current))
            current = []
        current.extend(by_api[api])
    if current:
        out.append(sorted(current))
    return out


def _vectors_for(graph: nx.Graph, order: list[str], tools: list[ToolDef]) -> np.ndarray:
    stored = graph.graph.get("vectors")
    stored_order = graph.graph.get("order")
    if isinstance(stored, np.ndarray) and stored_order == order:
        return stored
    return vectorize(tools, "hashing", DEFAULT_DIM)


class _CommunityFinder:
    """Seeded community detection on induced subgraphs of one tool graph.

    The igraph copy (for Leiden) is built once, in sorted node order, and subsets are taken
    with `induced_subgraph`: re-partitioning hundreds of oversized communities through
    networkx subgraph views would cost more than the detection itself.
    """

    def __init__(self, graph: nx.Graph, order: list[str], *, seed: int, method: str) -> None:
        if method not in ("auto", "leiden", "louvain"):
            raise ValueError(f"unknown partition method {method!r}: choose auto, leiden or louvain")
        self.graph = graph
        self.order = order
        self.index = {name: i for i, name in enumerate(order)}
        self.seed = seed
        self._igraph = None
        self._leidenalg = None
        if method in ("auto", "leiden"):
            try:
                import igraph
                import leidenalg
            except ImportError:
                if method == "leiden":
                    raise RuntimeError(
                        "method 'leiden' needs igraph and leidenalg: pip install 'envhub[graph]'"
                    ) from None
            else:
                edges = sorted(
                    (min(self.index[a], self.index[b]), max(self.index[a], self.index[b]), d["weight"])
                    for a, b, d in graph.edges(data=True)
                )
                self._igraph = igraph.Graph(n=len(order), edges=[(a, b) for a, b, _ in edges])
                self._igraph.es["weight"] = [w for _, _, w in edges]
                self._leidenalg = leidenalg
        self.method = "leiden" if self._igraph is not None else "louvain"

    def find(self, nodes: list[str], resolution: float) -> list[list[str]]:
        """Communities of the subgraph induced by `nodes` (sorted), each sorted, by first name."""
        if len(nodes) <= 1:
            return [list(nodes)]
        if self._igraph is not None and self._leidenalg is not None:
            ids = sorted(self.index[name] for name in nodes)
            sub = self._igraph if len(ids) == len(self.order) else self._igraph.induced_subgraph(ids)
            partition = self._leidenalg.find_partition(
                sub,
                self._leidenalg.RBConfigurationVertexPartition,
                weights="weight",
                resolution_parameter=resolution,
                seed=self.seed,
            )
            groups = [sorted(self.order[ids[i]] for i in members) for members in partition]
        else:
            sub = nx.Graph()
            sub.add_nodes_from(sorted(nodes))
            sub.add_weighted_edges_from(
                sorted((a, b, d["weight"]) for a, b, d in self.graph.subgraph(nodes).edges(data=True))
            )
            found = nx.community.louvain_communities(
                sub, weight="weight", resolution=resolution, seed=self.seed
            )
            groups = [sorted(group) for group in found]
        return sorted(groups, key=lambda group: group[0])


def _split_oversized(
    finder: _CommunityFinder,
    community: list[str],
    vectors: np.ndarray,
    row_of: dict[str, int],
    *,
    max_size: int,
    depth: int = 0,
) -> list[list[str]]:
    if len(community) <= max_size:
        return [community]
    # Finer resolution first: it follows the graph's own structure.
    if depth < 3:
        parts = finder.find(community, resolution=2.0 ** (depth + 1))
        if len(parts) > 1:
            out: list[list[str]] = []
            for part in parts:
                out.extend(
                    _split_oversized(finder, part, vectors, row_of, max_size=max_size, depth=depth + 1)
                )
            return out
    return _bisect_by_similarity(community, vectors, row_of, max_size)


def _bisect_by_similarity(
    community: list[str], vectors: np.ndarray, row_of: dict[str, int], max_size: int
) -> list[list[str]]:
    """Cut along the first principal direction until every piece fits: similar tools stay together."""
    if len(community) <= max_size:
        return [community]
    block = vectors[[row_of[name] for name in community]].astype(np.float64)
    centered = block - block.mean(axis=0)
    direction = _principal_direction(centered)
    projection = centered @ direction
    # Sort by projection, names break ties, so the cut is the same on every run.
    ranked = [community[i] for i in np.lexsort((np.arange(len(community)), projection))]
    pieces = -(-len(community) // max_size)
    half = (pieces // 2) * -(-len(community) // pieces)
    half = min(max(half, 1), len(community) - 1)
    left, right = sorted(ranked[:half]), sorted(ranked[half:])
    return _bisect_by_similarity(left, vectors, row_of, max_size) + _bisect_by_similarity(
        right, vectors, row_of, max_size
    )


def _principal_direction(centered: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Power iteration from a fixed start (deterministic, no full SVD of a tall matrix)."""
    direction = np.ones(centered.shape[1], dtype=np.float64) / np.sqrt(centered.shape[1])
    for _ in range(iterations):
        nxt = centered.T @ (centered @ direction)
        norm = np.linalg.norm(nxt)
        if norm < 1e-12:
            break
        direction = nxt / norm
    return direction


def _merge_tiny(
    graph: nx.Graph,
    communities: list[list[str]],
    vectors: np.ndarray,
    row_of: dict[str, int],
    by_name: dict[str, ToolDef],
    *,
    min_size: int,
    max_size: int,
) -> list[list[str]]:
    groups: dict[int, list[str]] = dict(enumerate(sorted(communities, key=lambda c: c[0])))
    member_of = {name: gid for gid, members in groups.items() for name in members}

    def api(name: str) -> str:
        return by_name[name].api or by_name[name].source

    api_count: dict[int, Counter[str]] = {
        gid: Counter(api(n) for n in members) for gid, members in groups.items()
    }
    centroid_sum = {gid: vectors[[row_of[n] for n in members]].sum(axis=0) for gid, members in groups.items()}

    while True:
        tiny = sorted(
            (gid for gid, members in groups.items() if len(members) < min_size),
            key=lambda g: (len(groups[g]), groups[g][0]),
        )
        moved = False
        for gid in tiny:
            if gid not in groups or len(groups[gid]) >= min_size:
                continue
            members = groups[gid]

            def fits(other: int, members: list[str] = members, gid: int = gid) -> bool:
                return other != gid and len(groups[other]) + len(members) <= max_size

            target = _best_by_edges(graph, members, member_of, fits)
            if target is None:
                # Only now list every community that has room: most tiny ones have edges.
                room = {other for other in groups if fits(other)}
                target = _best_by_api(members, api, api_count, room, groups)
                if target is None:
                    target = _best_by_centroid(centroid_sum[gid], centroid_sum, room, groups)
            if target is None:
                continue
            groups[target] = sorted(groups[target] + members)
            for name in members:
                member_of[name] = target
            api_count[target].update(api_count.pop(gid))
            centroid_sum[target] = centroid_sum[target] + centroid_sum.pop(gid)
            del groups[gid]
            moved = True
        if not moved:
            break
    return sorted(groups.values(), key=lambda c: c[0])


def _best_by_edges(
    graph: nx.Graph, members: list[str], member_of: dict[str, int], fits: Callable[[int], bool]
) -> int | None:
    weight: dict[int, float] = defaultdict(float)
    for name in members:
        for other, data in graph[name].items():
            # Neighbours outside the communities being merged (another API's) do not count.
            gid = member_of.get(other)
            if gid is not None and fits(gid):
                weight[gid] += data["weight"]
    if not weight:
        return None
    return max(sorted(weight), key=lambda gid: weight[gid])


def _best_by_api(members, api, api_count, fits, groups) -> int | None:  # type: ignore[no-untyped-def]
    wanted = Counter(api(name) for name in members)
    scores = {gid: sum(min(count, api_count[gid][key]) for key, count in wanted.items()) for gid in fits}
    scores = {gid: s for gid, s in scores.items() if s > 0}
    if not scores:
        return None
    return max(sorted(scores, key=lambda g: groups[g][0]), key=lambda gid: scores[gid])


def _best_by_centroid(
    own: np.ndarray, centroid_sum: dict[int, np.ndarray], fits: set[int], groups
) -> int | None:  # type: ignore[no-untyped-def]
    if not fits:
        return None
    candidates = sorted(fits, key=lambda g: groups[g][0])
    matrix = np.stack([centroid_sum[g] / max(len(groups[g]), 1) for g in candidates])
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(own) or 1.0)
    norms[norms == 0] = 1.0
    scores = (matrix @ own) / norms
    return candidates[int(np.argmax(scores))]


def slugify(text: str, max_length: int = 40) -> str:
    """Lowercase `[a-z0-9-]` slug; an empty result becomes ''."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def api_slug(api: str) -> str:
    """`Order Desk API` -> `order-desk`: the word "API" says nothing about the world inside."""
    slug = slugify(api)
    trimmed = re.sub(r"(-(rest|web|http|open))?-apis?$", "", slug)
    return trimmed or slug


def _name_domains(communities: list[list[str]], by_name: dict[str, ToolDef]) -> list[Domain]:
    """Name each community after its dominant API, made distinct by its most telling word."""
    drafts: list[tuple[str, list[str], list[str], Counter[str]]] = []
    for members in communities:
        apis = Counter(by_name[name].api or "" for name in members)
        ranked_apis = [api for api, _ in sorted(apis.items(), key=lambda item: (-item[1], item[0])) if api]
        words: Counter[str] = Counter()
        for name in members:
            tool = by_name[name]
            for word in split_words(tool.original_name or tool.name):
                if word not in _GENERIC_WORDS and len(word) > 2:
                    words[word] += 2
            for tag in tool.tags:
                for word in split_words(tag):
                    if word not in _GENERIC_WORDS and len(word) > 2:
                        words[word] += 1
        top_api = ranked_apis[0] if ranked_apis else ""
        if top_api and apis[top_api] * 2 >= len(members):
            base = api_slug(top_api)
        else:
            base = "-".join(
                word for word, _ in sorted(words.items(), key=lambda item: (-item[1], item[0]))[:2]
            )
            base = slugify(base) or api_slug(top_api)
        drafts.append((base or "domain", members, ranked_apis, words))

    base_count = Counter(base for base, *_ in drafts)
    taken: set[str] = set()
    domains: list[Domain] = []
    for base, members, apis, words in drafts:
        name = base
        if base_count[base] > 1:
            base_words = set(base.split("-"))
            telling = next(
                (
                    w
                    for w, _ in sorted(words.items(), key=lambda item: (-item[1], item[0]))
                    if w not in base_words
                ),
                None,
            )
            if telling:
                name = slugify(f"{base}-{telling}", 60)
        candidate, counter = name, 2
        while candidate in taken:
            candidate = f"{name[:58]}-{counter}"
            counter += 1
        if not DOMAIN_NAME_PATTERN.match(candidate):
            candidate = f"domain-{len(domains)}"
        taken.add(candidate)
        domains.append(Domain(name=candidate, tools=sorted(members), apis=apis))
    return sorted(domains, key=lambda domain: domain.name)


def domain_graph(graph: nx.Graph, domains: list[Domain]) -> nx.Graph:
    """One node per domain (attribute `size`), edges weighted by the summed cross-domain tool edges."""
    member_of = {name: domain.name for domain in domains for name in domain.tools}
    summary = nx.Graph()
    for domain in domains:
        summary.add_node(domain.name, size=len(domain.tools))
    for a, b, data in graph.edges(data=True):
        da, db = member_of.get(a), member_of.get(b)
        if da is None or db is None or da == db:
            continue
        previous = summary.get_edge_data(da, db, {"weight": 0.0})["weight"]
        summary.add_edge(da, db, weight=previous + data.get("similarity", data["weight"]))
    return summary


def draw_domain_graph(graph: nx.Graph, domains: list[Domain], path: Path, *, max_labels: int = 40) -> None:
    """PNG of the domain-level graph: node area ~ tool count, edge width ~ cross-domain similarity."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(14, 14) if len(domains) > 60 else (9, 9), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.set_axis_off()
    axes.set_title(f"{len(domains)} domains, {sum(len(d.tools) for d in domains)} tools")
    if 0 < graph.number_of_nodes() <= TOOL_LEVEL_MAX_TOOLS:
        _draw_tool_level(axes, graph, domains)
    else:
        _draw_domain_level(axes, graph, domains, max_labels)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def force_layout(graph: nx.Graph, *, seed: int = 0, iterations: int = 80) -> dict[str, np.ndarray]:
    """Fruchterman-Reingold positions in plain numpy (networkx's own needs scipy past 500 nodes).

    Dense O(n^2) per iteration, which is fine for a domain-level graph of a few thousand nodes.
    """
    nodes = list(graph.nodes)
    n = len(nodes)
    rng = np.random.default_rng(seed)
    positions = rng.random((n, 2))
    if n == 1:
        return {nodes[0]: np.array([0.5, 0.5])}
    index = {node: i for i, node in enumerate(nodes)}
    adjacency = np.zeros((n, n), dtype=np.float64)
    for a, b, data in graph.edges(data=True):
        adjacency[index[a], index[b]] = adjacency[index[b], index[a]] = data.get("weight", 1.0)
    if adjacency.max() > 0:
        adjacency /= adjacency.max()
    k = 1.0 / np.sqrt(n)
    temperature = 0.1
    for _ in range(iterations):
        delta = positions[:, None, :] - positions[None, :, :]
        distance = np.maximum(np.linalg.norm(delta, axis=-1), 0.01)
        # Repulsion k^2/d between all pairs, attraction d^2/k along edges.
        force = (k * k / distance**2 - adjacency * distance / k)[:, :, None] * delta
        displacement = force.sum(axis=1)
        length = np.maximum(np.linalg.norm(displacement, axis=1, keepdims=True), 0.01)
        positions += displacement / length * np.minimum(length, temperature)
        temperature -= 0.1 / (iterations + 1)
    return {node: positions[i] for i, node in enumerate(nodes)}


# Up to this many tools the picture shows every tool (coloured by domain) and the similarity
# edges between them; beyond it, one node per domain.
TOOL_LEVEL_MAX_TOOLS = 800


def _draw_tool_level(axes: Any, graph: nx.Graph, domains: list[Domain]) -> None:
    """Every tool a dot coloured by its domain, its similarity edges, domain names at the centroids."""
    layout = force_layout(graph, seed=0, iterations=120)
    domain_of = {tool: i for i, d in enumerate(domains) for tool in d.tools}
    nodes = [n for n in graph.nodes if n in domain_of]
    nx.draw_networkx_edges(graph, layout, ax=axes, width=0.4, alpha=0.25, edge_color="#777777")
    nx.draw_networkx_nodes(
        graph, layout, nodelist=nodes, ax=axes, node_size=22,
        node_color=[domain_of[n] for n in nodes], cmap="tab20", vmin=0, vmax=max(len(domains) - 1, 1),
    )
    for domain in domains:
        points = np.array([layout[t] for t in domain.tools if t in layout])
        if len(points):
            x, y = points.mean(axis=0)
            axes.text(x, y, domain.name, fontsize=8, ha="center", va="center",
                      bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.75, "lw": 0})


def _draw_domain_level(axes: Any, graph: nx.Graph, domains: list[Domain], max_labels: int) -> None:
    summary = domain_graph(graph, domains)
    # Each domain keeps only its 3 strongest links, or the picture is a hairball at 500 domains.
    keep: set[tuple[str, str]] = set()
    for node in summary.nodes:
        strongest = sorted(summary[node].items(), key=lambda item: (-item[1]["weight"], item[0]))[:3]
        keep.update(tuple(sorted((node, other))) for other, _ in strongest)
    drawn = nx.Graph()
    drawn.add_nodes_from(summary.nodes(data=True))
    drawn.add_edges_from((a, b, summary[a][b]) for a, b in sorted(keep))

    if drawn.number_of_nodes():
        layout = force_layout(drawn, seed=0)
        sizes = np.array([drawn.nodes[n]["size"] for n in drawn.nodes], dtype=float)
        weights = np.array([drawn[a][b]["weight"] for a, b in drawn.edges], dtype=float)
        if len(weights):
            widths = 0.3 + 2.5 * weights / weights.max()
            nx.draw_networkx_edges(
                drawn, layout, ax=axes, width=list(widths), alpha=0.35, edge_color="#555555"
            )
        nx.draw_networkx_nodes(
            drawn,
            layout,
            ax=axes,
            node_size=list(20 + 600 * np.sqrt(sizes / sizes.max())),
            node_color=list(range(drawn.number_of_nodes())),
            cmap="tab20",
            alpha=0.85,
        )
        largest = sorted(drawn.nodes, key=lambda n: (-drawn.nodes[n]["size"], n))[:max_labels]
        nx.draw_networkx_labels(drawn, layout, labels={n: n for n in largest}, ax=axes, font_size=7)

"""Cutting the tool graph into domains (communities), each the seed of one environment.

The community detection is seeded and ties are broken by name, so the same tools and seed give
the same domains whatever the input order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import numpy as np

from synth.envs.shapes import shape_tool
from synth.graph.build import SMALL_API_SIZE, ToolGraph
from synth.graph.naming import Domain, is_inferred_api, name_domains
from synth.tooldef import ToolDef


def partition_domains(
    tool_graph: ToolGraph,
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
    holding most of its tools, so related small APIs share a domain. The pieces of a split API
    are then repaired so that each resource's tools (get/update/delete next to list/create) sit
    in one piece, as far as `max_size` allows: a key only one piece can produce would leave the
    other without a dependency edge. A resource too big to keep whole (every `/projects/{id}/…`
    tool of a large API) leaves pieces that need its key with no tool producing it; such a piece
    is given one producer (a list or create) from a piece that keeps another, or else joins a
    producing piece when both fit in `max_size`. Finally a community under
    `min_size` joins the one it has the most edge weight to, else the one sharing its API,
    else the one with the most similar centroid. `method`: "leiden" (leidenalg, fast),
    "louvain" (networkx), or "auto" (leiden when installed).
    """
    if min_size < 1 or max_size < min_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got min_size={min_size}, max_size={max_size}")
    graph = tool_graph.graph
    by_name = {tool.name: tool for tool in tools}
    missing = [name for name in graph.nodes if name not in by_name]
    if missing:
        raise ValueError(f"graph has tools not in the tool list: {sorted(missing)[:5]}")
    order = tool_graph.order
    if not order:
        return []
    vectors = tool_graph.vectors
    row_of = {name: i for i, name in enumerate(order)}
    finder = _CommunityFinder(graph, order, seed=seed, method=method)

    # The graph's API of each tool: the source's own, or the one inferred for identity-less files.
    api_of = {name: graph.nodes[name].get("api") or by_name[name].api or by_name[name].source for name in order}
    by_api: dict[str, list[str]] = defaultdict(list)
    for name in order:
        by_api[api_of[name]].append(name)
    communities: list[list[str]] = []
    small_apis: list[str] = []
    for api in sorted(by_api):
        members = by_api[api]
        if len(members) > max_size:
            parts: list[list[str]] = []
            for community in finder.find(members, resolution=1.0):
                parts.extend(_split_oversized(finder, community, vectors, row_of, max_size=max_size))
            resources = {name: tool_resource(by_name[name]) for name in members}
            parts = keep_resources_together(parts, {n: r.entity for n, r in resources.items()}, max_size=max_size)
            parts = share_key_producers(parts, resources, max_size=max_size)
            # Fragments of one API rejoin their own API first, never a foreign one.
            communities.extend(
                _merge_tiny(graph, parts, vectors, row_of, api_of, min_size=min_size, max_size=max_size)
            )
        elif len(members) >= small_api_size:
            communities.append(members)
        else:
            small_apis.append(api)
    if small_apis:
        communities.extend(
            _group_small_apis(finder, small_apis, by_api, vectors, row_of, max_size=max_size)
        )
    merged = _merge_tiny(graph, communities, vectors, row_of, api_of, min_size=min_size, max_size=max_size)
    inferred = {name: api for name, api in api_of.items() if is_inferred_api(api)}
    return name_domains(merged, by_name, inferred)


@dataclass(frozen=True)
class ToolResource:
    """What one tool does to resources, as far as grouping needs it: the resource it acts on,
    the resources whose keys it must be given, and those whose keys its result produces."""

    entity: str
    needs: frozenset[str]
    produces: frozenset[str]


def tool_resource(tool: ToolDef) -> ToolResource:
    """`jobs_get`, `jobs_cancel` and `jobs_list` share the resource `job`; the first two need a
    job's key, the list produces it (and needs its parent's key when nested)."""
    shape = shape_tool(tool)
    required = set(shape.required)
    needs = {parent for param, parent in shape.parents if param in required}
    keyed = shape.key_param is not None and shape.key_param in required
    if keyed:
        needs.add(shape.entity)
    produces = {shape.entity} if shape.action in ("create", "find") and not keyed else set()
    return ToolResource(shape.entity, frozenset(needs), frozenset(produces))


def keep_resources_together(
    parts: list[list[str]], resource: dict[str, str], *, max_size: int
) -> list[list[str]]:
    """Move each resource's tools to the piece already holding most of them (the first such
    piece with room for the rest), biggest resources first, so a resource's key producers
    (create, list) and consumers (get, update, delete) end up in one environment.

    A resource that fits nowhere stays where the community detection put it; pieces emptied
    by the moves disappear. Ties go to the earlier piece, so the result is deterministic.
    """
    pieces = [list(part) for part in sorted(parts, key=lambda part: part[0])]
    piece_of = {name: i for i, part in enumerate(pieces) for name in part}
    members: dict[str, list[str]] = defaultdict(list)
    for name in sorted(piece_of):
        members[resource.get(name, name)].append(name)
    sizes = [len(part) for part in pieces]
    for key in sorted(members, key=lambda k: (-len(members[k]), k)):
        names = members[key]
        held = Counter(piece_of[name] for name in names)
        if len(held) == 1:
            continue
        for target in sorted(held, key=lambda i: (-held[i], i)):
            if sizes[target] + len(names) - held[target] > max_size:
                continue
            for name in names:
                if piece_of[name] != target:
                    sizes[piece_of[name]] -= 1
                    sizes[target] += 1
                    piece_of[name] = target
            break
    regrouped: dict[int, list[str]] = defaultdict(list)
    for name in sorted(piece_of):
        regrouped[piece_of[name]].append(name)
    return sorted(regrouped.values(), key=lambda part: part[0])


def share_key_producers(
    parts: list[list[str]], resources: dict[str, ToolResource], *, max_size: int
) -> list[list[str]]:
    """Give each piece that needs a resource's key, but holds no tool producing it, one producer
    from another piece: one that holds several, or that keeps a dependency edge without it.
    When none can be spared, the piece joins a piece producing that key if both fit in `max_size`.

    Pieces are visited in order and producers taken in name order, so the result is
    deterministic; a piece at `max_size` takes nothing.
    """
    pieces = [set(part) for part in sorted(parts, key=lambda part: part[0])]

    def has_edge(piece: set[str]) -> bool:
        producers: dict[str, set[str]] = defaultdict(set)
        for name in piece:
            for entity in resources[name].produces:
                producers[entity].add(name)
        return any(producers[entity] - {name} for name in piece for entity in resources[name].needs)

    for index, piece in enumerate(pieces):
        if not piece or len(piece) >= max_size or has_edge(piece):
            continue
        wanted = Counter(entity for name in piece for entity in resources[name].needs)
        moved = False
        for entity in sorted(wanted, key=lambda e: (-wanted[e], e)):
            for donor_index, donor in enumerate(pieces):
                if donor_index == index:
                    continue
                for name in sorted(n for n in donor if entity in resources[n].produces):
                    rest = donor - {name}
                    if has_edge(donor) and not has_edge(rest):
                        continue
                    donor.discard(name)
                    piece.add(name)
                    moved = True
                    break
                if moved:
                    break
            if moved:
                break
        if not moved:
            _join_a_producer(index, pieces, wanted, resources, max_size)
    return sorted((sorted(piece) for piece in pieces if piece), key=lambda part: part[0])


def _join_a_producer(
    index: int, pieces: list[set[str]], wanted: Counter[str], resources: dict[str, ToolResource], max_size: int
) -> None:
    """No producer could be spared: the piece joins the smallest piece producing the key it
    needs most, when both fit in `max_size` together (else it stays as it is)."""
    piece = pieces[index]
    for entity in sorted(wanted, key=lambda e: (-wanted[e], e)):
        hosts = [
            other for other, host in enumerate(pieces)
            if other != index and host and len(host) + len(piece) <= max_size
            and any(entity in resources[name].produces for name in host)
        ]
        if hosts:
            host = min(hosts, key=lambda other: (len(pieces[other]), min(pieces[other])))
            pieces[host] |= piece
            piece.clear()
            return


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
    api_of: dict[str, str],
    *,
    min_size: int,
    max_size: int,
) -> list[list[str]]:
    groups: dict[int, list[str]] = dict(enumerate(sorted(communities, key=lambda c: c[0])))
    member_of = {name: gid for gid, members in groups.items() for name in members}
    api = api_of.__getitem__

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



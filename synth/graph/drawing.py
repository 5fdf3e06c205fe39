"""Pictures of the tool graph: domain-level and tool-level PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from synth.graph.naming import Domain


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


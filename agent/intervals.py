"""Confidence intervals for pass rates: the Wilson score interval.

A pass rate measured on n episodes is a binomial proportion. The Wilson interval (Wilson 1927)
keeps its coverage near the nominal level at small n and at rates near 0 or 1, where the normal
("Wald") interval collapses to a point: 0/40 passes gives [0%, 8.8%] rather than [0%, 0%]. Two
runs are called different in the reports only when their intervals do not overlap, a
conservative reading (non-overlapping 95% intervals imply p < 0.01 for a difference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Two-sided 95%: the 0.975 quantile of the standard normal.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    def to_json(self) -> list[float]:
        return [round(self.low, 4), round(self.high, 4)]


def wilson_interval(successes: int, trials: int, z: float = Z95) -> Interval:
    """The Wilson score interval of `successes` out of `trials` (default: 95%)."""
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return Interval(0.0, 1.0)  # no evidence: every rate is possible
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # At 0 and n successes the bound is exactly 0 (1); clamp the float noise around it.
    return Interval(max(0.0, centre - half) if successes else 0.0, min(1.0, centre + half) if successes < trials else 1.0)


def clearly_better(after: tuple[int, int], before: tuple[int, int]) -> bool:
    """Whether `after` (passed, episodes) beats `before` with non-overlapping 95% intervals."""
    a, b = wilson_interval(*after), wilson_interval(*before)
    return a.low > b.high

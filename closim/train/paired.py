"""Paired comparison of two topologies' accuracies: the mean difference and its t interval.

``TrainResult.accuracies`` of one ``train_topologies`` call pair index by index (the same split,
seed and mini-batch order for every topology), so the difference of two topologies is best judged
on the per-run differences ``a_i - b_i``, whose spread leaves out what the runs share (a hard
split is hard for both): the paired t interval, mean ± t(n-1) * sd / sqrt(n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["PairedDifference", "paired_difference"]


@dataclass(frozen=True)
class PairedDifference:
    """The mean of ``a_i - b_i`` and its two-sided ``confidence`` interval, in percentage points
    (accuracy fractions times 100), over ``n`` pairs."""

    mean_points: float
    low_points: float
    high_points: float
    confidence: float
    n: int


def paired_difference(a: list[float], b: list[float], confidence: float = 0.95) -> PairedDifference:
    """The paired difference ``a - b`` of two accuracy lists (fractions, 0..1, paired by index).

    The interval is the paired t interval: ``mean ± t * sd / sqrt(n)`` of the differences, with
    ``sd`` their sample standard deviation (ddof 1) and ``t`` the ``(1 + confidence) / 2``
    quantile of Student's t with ``n - 1`` degrees of freedom. When every difference is the same
    the interval is that point. Raises ValueError for lists of unequal length or fewer than 2
    pairs, a value that is not finite, or a ``confidence`` outside (0, 1).
    """
    if len(a) != len(b):
        raise ValueError(f"paired lists must have the same length (got {len(a)} and {len(b)})")
    if len(a) < 2:
        raise ValueError(f"a paired interval needs at least 2 pairs (got {len(a)})")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1) (got {confidence!r})")
    diff = 100 * (np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    if not np.all(np.isfinite(diff)):
        raise ValueError("accuracies must be finite numbers (got a NaN or an infinity)")
    n = len(diff)
    if np.all(diff == diff[0]):
        point = float(diff[0])
        return PairedDifference(point, point, point, confidence, n)
    # lazy: scipy.stats takes about a second to import; only this needs it
    from scipy.stats import t

    mean = float(diff.mean())
    half = float(t.ppf((1 + confidence) / 2, n - 1)) * float(diff.std(ddof=1)) / math.sqrt(n)
    return PairedDifference(mean, mean - half, mean + half, confidence, n)

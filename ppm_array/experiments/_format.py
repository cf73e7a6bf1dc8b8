"""How the experiments summarise a quantity measured over several seeds or repeats."""

from __future__ import annotations

import numpy as np

__all__ = ["mean_std", "paired_interval"]


def mean_std(values, digits: int = 4, plus_minus: str = "+-") -> str:
    """``"mean +- std"`` (sample standard deviation) of ``values``, or the value alone when there is one."""
    values = np.asarray(values)
    if values.size == 1:
        return f"{values.mean():.{digits}f}"
    return f"{values.mean():.{digits}f} {plus_minus} {values.std(ddof=1):.{digits}f}"


def paired_interval(difference: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The t-interval for the mean of ``difference`` (one value per seed, at least two)."""
    from scipy.stats import t

    half = t.ppf(0.5 + confidence / 2, difference.size - 1) * difference.std(ddof=1) / np.sqrt(difference.size)
    return difference.mean() - half, difference.mean() + half

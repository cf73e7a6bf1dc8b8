"""How the experiments print a quantity measured over several seeds or repeats."""

from __future__ import annotations

import numpy as np

__all__ = ["mean_std"]


def mean_std(values, digits: int = 4, plus_minus: str = "+-") -> str:
    """``"mean +- std"`` (sample standard deviation) of ``values``, or the value alone when there is one."""
    values = np.asarray(values)
    if values.size == 1:
        return f"{values.mean():.{digits}f}"
    return f"{values.mean():.{digits}f} {plus_minus} {values.std(ddof=1):.{digits}f}"

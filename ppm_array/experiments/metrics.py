"""Distances between the persistence diagrams of a trained cloud and of the reference shape.

Three metrics, to set a shape-matching run beside the paper and the published script:

``"paper"``
    The paper's Figure 2: the 2-Wasserstein distance (order 2, L-infinity ground
    distance, gudhi) between the dimension-1 diagrams.
``"published"``
    What the published script tracks: torch-topological's
    ``WassersteinDistance(p=2)`` with its defaults over the diagrams of dimensions 0
    and 1 (finite features only), summed. With those defaults it is an order-1
    Wasserstein distance whose ground cost is the L-infinity distance between two
    points and the Euclidean distance ``|death - birth| / sqrt(2)`` from a point to the
    diagonal. Re-implemented here with POT; a test holds it equal to torch-topological.
``"w2-sum"``
    Order 2 with a Euclidean ground distance, summed over dimensions 0 and 1: what
    ``ppm-array shape-match`` tracked before these metrics were added.

Diagrams come from :func:`~ppm_array.experiments.diagrams.critical_diagrams`
(giotto-ph, values recomputed in float64 from the critical edges). Computing them is
the costly part, so :func:`birth_death_diagrams` computes a cloud's once and
:func:`distance_between` takes them under any metric.
"""

from __future__ import annotations

import numpy as np
import ot
from gudhi.wasserstein import wasserstein_distance

from . import METRICS
from .diagrams import birth_death, critical_diagrams

__all__ = ["METRICS", "birth_death_diagrams", "diagram_distance", "distance_between", "published_distance"]


def published_distance(first: np.ndarray, second: np.ndarray) -> float:
    """torch-topological's ``WassersteinDistance(p=2)`` (order ``q = 1``) between two ``(n, 2)`` diagrams.

    Optimal transport on the diagrams extended by one diagonal slot each: point to
    point costs the L-infinity distance, a point to the diagonal ``|d - b| / sqrt(2)``,
    and the diagonal slot carries the other diagram's number of points.
    """
    n, m = len(first), len(second)
    cost = np.zeros((n + 1, m + 1))
    if n and m:
        cost[:n, :m] = np.max(np.abs(first[:, None, :] - second[None, :, :]), axis=-1)
    cost[:n, m] = np.abs(first[:, 1] - first[:, 0]) / np.sqrt(2.0)
    cost[n, :m] = np.abs(second[:, 1] - second[:, 0]) / np.sqrt(2.0)
    supply, demand = np.ones(n + 1), np.ones(m + 1)
    supply[n], demand[m] = m, n
    return float(ot.emd2(supply, demand, cost))


def birth_death_diagrams(X: np.ndarray) -> list[np.ndarray]:
    """The ``(n, 2)`` diagrams ``(birth, death)`` of dimensions 0 and 1 of the cloud ``X`` (finite pairs)."""
    return [birth_death(sample) for sample in critical_diagrams(X)]


def distance_between(diagrams, reference, metric: str) -> float:
    """The ``metric`` between two clouds' diagrams, each as :func:`birth_death_diagrams` returns them."""
    if metric == "paper":
        return float(wasserstein_distance(diagrams[1], reference[1], order=2, internal_p=np.inf))
    if metric == "published":
        return sum(published_distance(a, b) for a, b in zip(diagrams, reference))
    if metric == "w2-sum":
        return float(sum(wasserstein_distance(a, b, order=2, internal_p=2) for a, b in zip(diagrams, reference)))
    raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")


def diagram_distance(X: np.ndarray, reference, metric: str) -> float:
    """The ``metric`` between the diagrams of the cloud ``X`` and ``reference`` (from
    :func:`birth_death_diagrams`, computed once: a reference shape's serve every cloud compared with it)."""
    return distance_between(birth_death_diagrams(X), reference, metric)

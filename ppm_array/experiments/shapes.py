"""The reference shapes of the published shape-matching experiment (its ``generate_shape.py``), from our seeds.

Every shape has ``n_points`` points plus Gaussian noise of standard deviation ``noise``
(0.01 in the published script): a unit circle; two unit circles centred at
``(+-0.5, 0)`` (half of the points each); "boxplus", a square of side 2 with a plus
through it (half of the points on the lines ``y = -1, 0, 1`` and half on
``x = -1, 0, 1``, uniform along them); and the unit sphere in R^3.
"""

from __future__ import annotations

import numpy as np

from . import SHAPES

__all__ = ["SHAPES", "reference_shape"]


def _on_unit_sphere(n_points: int, dimension: int, rng: np.random.Generator) -> np.ndarray:
    points = rng.normal(size=(n_points, dimension))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def reference_shape(shape: str, n_points: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``(n_points, 2)`` points of ``shape`` (``(n_points, 3)`` for the sphere), with noise."""
    half = n_points // 2
    if shape == "circle":
        points = _on_unit_sphere(n_points, 2, rng)
    elif shape == "two-circles":
        points = _on_unit_sphere(n_points, 2, rng)
        points[:, 0] += np.where(np.arange(n_points) < half, 0.5, -0.5)
    elif shape == "boxplus":
        points = rng.uniform(-1, 1, size=(n_points, 2))
        line = rng.integers(-1, 2, size=n_points).astype(float)
        points[:half, 1] = line[:half]  # horizontal lines
        points[half:, 0] = line[half:]  # vertical lines
    elif shape == "sphere":
        points = _on_unit_sphere(n_points, 3, rng)
    else:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}; got {shape!r}")
    return points + noise * rng.normal(size=points.shape)

"""Inputs shared by the tests: point clouds with known shapes and hand-built persistence samples."""

from __future__ import annotations

import numpy as np

import ppm_array as pa

OCTAHEDRON = np.concatenate([np.eye(3), -np.eye(3)])


def noisy_circle(n_points: int, noise: float, seed) -> np.ndarray:
    """``n_points`` on the unit circle at uniform angles, plus Gaussian noise of standard deviation ``noise``."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n_points)
    return np.stack([np.cos(angle), np.sin(angle)], axis=1) + noise * rng.normal(size=(n_points, 2))


def blob_and_circle(n_blob: int = 60, n_circle: int = 50, seed=0, noise: float = 0.0):
    """The paper's shape-matching pair: a ``0.3 N(0, I)`` cloud in the plane and a (noisy) unit circle."""
    rng = np.random.default_rng(seed)
    return 0.3 * rng.normal(size=(n_blob, 2)), noisy_circle(n_circle, noise, rng)


def octahedra(n_copies: int, seed, noise: float = 0.05) -> np.ndarray:
    """Jittered, rotated octahedra in R^3: each one's six points carry an H2 feature,
    and its four-point subsets H1 features."""
    rng = np.random.default_rng(seed)
    copies = []
    for _ in range(n_copies):
        rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        copies.append(rng.uniform(0.5, 2) * OCTAHEDRON @ rotation + rng.normal(size=3) + noise * rng.normal(size=(6, 3)))
    return np.concatenate(copies)


def hand_sample(birth, lifetime, mass=None, *, q: int = 1) -> pa.PersistenceSample:
    """A persistence sample of given points (equal masses by default) whose edges index a one-point cloud."""
    birth, lifetime = np.asarray(birth), np.asarray(lifetime)
    s = birth.shape[0]
    mass = np.full(s, 1.0 / s, dtype=birth.dtype) if mass is None else mass
    edges = np.zeros((s, 2), dtype=np.int64)
    return pa.PersistenceSample(birth, lifetime, edges, edges, mass, q, 1)


def relative_error(actual, expected) -> float:
    return float(np.max(np.abs(np.asarray(actual) - expected)) / np.max(np.abs(expected)))

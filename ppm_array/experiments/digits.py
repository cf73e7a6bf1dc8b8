"""scikit-learn's digits (1,797 images of 8 x 8, shipped with scikit-learn: nothing is downloaded)."""

from __future__ import annotations

import numpy as np

__all__ = ["held_out_split", "load_digits_images"]


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """Images as float32 ``(1797, 64)`` in [0, 1] (the 0..16 intensities / 16) and labels as int64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


def held_out_split(n_images: int, n_held_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(held_out, rest)``: a fixed permutation (seed 12345), the same in every experiment and seed."""
    order = np.random.default_rng(12345).permutation(n_images)
    return order[:n_held_out], order[n_held_out:]

"""A digits classifier whose penultimate layer embeds images for CMMD and WD: our stand-in for CLIP.

CMMD and the authors' WD are computed on CLIP image embeddings; CLIP cannot be
downloaded here and knows nothing of 8 x 8 digits, so the generation experiment trains
this small classifier on the labelled training digits instead. Like CLIP's, its
embeddings are scaled to unit norm, the scale for which CMMD's ``sigma = 10`` was chosen.
It is trained once, from its own seed, and the same network measures every arm and
seed: one ruler for all.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["DigitsEmbedding", "embed", "train_digits_embedding"]


class DigitsEmbedding(NamedTuple):
    """The feature map (image -> ``embedding_dim``), the classifier on top, and its accuracy on held-out digits."""

    features: Any
    classifier: Any
    held_out_accuracy: float


def _network(embedding_dim: int, hidden: int):
    import torch

    features = torch.nn.Sequential(
        torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, embedding_dim), torch.nn.ReLU()
    )
    return features, torch.nn.Linear(embedding_dim, 10)


def train_digits_embedding(
    train: tuple,
    held_out: tuple,
    *,
    epochs: int,
    embedding_dim: int = 128,
    hidden: int = 256,
    batch: int = 64,
    learning_rate: float = 1e-3,
    seed: int = 0,
    progress=None,
) -> DigitsEmbedding:
    """Train on ``train = (images, labels)`` (Adam, shuffled mini-batches, cross-entropy) for ``epochs``;
    report the accuracy on ``held_out``. ``progress`` is called once per epoch."""
    import torch

    torch.manual_seed(seed)
    features, classifier = _network(embedding_dim, hidden)
    model = torch.nn.Sequential(features, classifier)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    images, labels = torch.tensor(train[0]), torch.tensor(train[1])
    order = np.random.default_rng([seed, 5])
    for _ in range(epochs):
        for chunk in np.array_split(order.permutation(len(labels)), max(1, len(labels) // batch)):
            rows = torch.as_tensor(chunk)
            loss = torch.nn.functional.cross_entropy(model(images[rows]), labels[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if progress is not None:
            progress()
    model.requires_grad_(False).eval()
    with torch.no_grad():
        predicted = model(torch.tensor(held_out[0])).argmax(dim=1).numpy()
    return DigitsEmbedding(features, classifier, float(np.mean(predicted == held_out[1])))


def embed(embedding: DigitsEmbedding, images: np.ndarray) -> np.ndarray:
    """Unit-norm float64 embeddings ``(n, embedding_dim)`` of ``images`` ``(n, 64)``, as CMMD normalises CLIP's."""
    import torch

    with torch.no_grad():
        vectors = embedding.features(torch.as_tensor(np.asarray(images, dtype=np.float32))).double().numpy()
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # A ReLU layer can be all zero for an image unlike any digit; such an image keeps the zero vector.
    return vectors / np.where(norms > 0, norms, 1.0)

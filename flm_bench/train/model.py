"""What a model is to the harness: something that ranks a catalogue.

Non-neural references implement :class:`Recommender` (``fit`` on training sequences, then
``score``). Pretrainable models subclass :class:`flm_bench.train.neural.NeuralRecommender`, whose
training loop the harness owns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import torch

    from flm_bench.data.splits import Sequences


@runtime_checkable
class Recommender(Protocol):
    """Scores every item of one catalogue for a batch of users."""

    n_items: int

    def score(self, histories: list[np.ndarray], users: np.ndarray) -> torch.Tensor:
        """Scores ``[len(users), n_items]``; ``histories[i]`` is user ``users[i]``'s ordered input."""
        ...


@runtime_checkable
class FittableRecommender(Recommender, Protocol):
    """A recommender fitted in one call (no gradient loop): popularity, item-kNN, …"""

    def fit(self, train: Sequences) -> None:
        """Learn from the training sequences of the split (and nothing else)."""
        ...

"""What a model is to the harness: something that ranks a catalogue, built from :class:`BuildInputs`.

Non-neural models implement :class:`FittableRecommender` (``fit`` on the training sequences,
then ``score``). Pretrainable models subclass :class:`flm_bench.train.neural.NeuralRecommender`,
whose training loop the harness owns; they satisfy :class:`Recommender` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from flm_bench.params import ModelParams

if TYPE_CHECKING:
    import torch

    from flm_bench.data.splits import Sequences

P = TypeVar("P", bound=ModelParams)


@dataclass(frozen=True)
class BuildInputs(Generic[P]):
    """Everything ``ModelSpec.build`` gets for one catalogue and one cell."""

    n_items: int  # items are 0 .. n_items - 1
    item_features: np.ndarray | None  # dense [n_items, f] float32, or None
    params: P  # the model's validated parameters
    seed: int  # the cell's seed: seed any generator the model owns with it
    device: str  # "cpu", "cuda", "cuda:N": where a torch model's tensors go
    side: Mapping[str, np.ndarray] = field(default_factory=dict)  # keys of flm_bench.data.table.SIDE_KEYS
    n_users: int = 0  # users are 0 .. n_users - 1 (0: not given); for models with user parameters
    dataset: str = ""  # the dataset's name, for error messages


@runtime_checkable
class Recommender(Protocol):
    """Scores every item of one catalogue for a batch of users."""

    n_items: int

    def score(self, histories: list[np.ndarray], users: np.ndarray) -> torch.Tensor:
        """Scores ``[len(users), n_items]`` (float). ``histories[i]`` holds the item indices user
        ``users[i]`` interacted with before, oldest first; ``users`` are the dataset's user indices
        in the order the harness batches them (not sorted)."""
        ...


@runtime_checkable
class FittableRecommender(Recommender, Protocol):
    """A recommender fitted in one call (no gradient loop): popularity, item-kNN, an outside library, …"""

    def fit(self, train: Sequences) -> None:
        """Learn from the training sequences of the split (and nothing else)."""
        ...


@runtime_checkable
class PreparesForTest(Protocol):
    """A model that reads the test users' histories once before they are scored (optional): e.g. a
    graph model adds their validation interactions to its graph, as a sequence model reads them."""

    def before_test(self, histories: Sequences) -> None:
        """``histories``: the test set's input sequences (training plus validation items, never a
        test target), called after training and before the first test ``score``."""
        ...


@runtime_checkable
class CountsParameters(Protocol):
    """A non-torch model that can say how many fitted parameters it holds (recorded as its cost)."""

    def parameter_count(self) -> int: ...


@runtime_checkable
class ReadsText(Protocol):
    """A model that reads item text and says with what (the record's ``model.text_encoder``):
    e.g. ``{"name": "all-MiniLM-L6-v2", "sha256": ..., "items_with_text": "120"}``."""

    text_encoder: dict[str, str]

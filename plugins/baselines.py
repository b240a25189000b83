"""Non-neural reference models: ``popularity`` and ``itemknn``.

Both are fitted on the split's training sequences only, so their statistics never see
validation or test interactions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from flm_bench.api import (
    BuildInputs,
    ModelParams,
    ModelSpec,
    Search,
    Sequences,
    hookimpl,
    popularity_counts,
    tunable,
)

if TYPE_CHECKING:
    import torch


class Popularity:
    """Scores each item by its number of training interactions."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items
        self.counts = np.zeros(n_items, dtype=np.float32)

    def fit(self, train: Sequences) -> None:
        self.counts = popularity_counts(train, self.n_items)

    def score(self, histories: list[np.ndarray], users: np.ndarray) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.counts).expand(len(histories), -1).clone()

    def parameter_count(self) -> int:
        return self.n_items  # one count per item


class ItemKNN:
    """Item-based nearest neighbours: cosine similarity of item co-occurrence in training
    sequences, keeping the ``neighbours`` most similar items per item (shrunk by ``shrink``);
    a user's score for an item sums its similarity to the items in the user's history."""

    def __init__(self, n_items: int, neighbours: int = 100, shrink: float = 10.0) -> None:
        self.n_items, self.neighbours, self.shrink = n_items, neighbours, shrink
        self.similarity: Any = None

    def fit(self, train: Sequences) -> None:
        import scipy.sparse as sp

        rows = np.repeat(np.arange(len(train)), train.lengths())
        x = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, train.items)), shape=(len(train), self.n_items))
        x.data[:] = 1.0  # repeated items count once
        co = (x.T @ x).tocsr()
        co.setdiag(0)
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        co = co.tocoo()
        sim = co.data / (norms[co.row] * norms[co.col] + self.shrink)
        keep = self._top_per_row(co.row, sim)
        self.similarity = sp.csr_matrix((sim[keep], (co.row[keep], co.col[keep])), shape=(self.n_items, self.n_items))

    def parameter_count(self) -> int:
        return 0 if self.similarity is None else int(self.similarity.nnz)  # the kept similarities

    def _top_per_row(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        order = np.lexsort((-values, rows))
        starts = np.searchsorted(rows[order], rows[order], side="left")
        rank = np.arange(len(order)) - starts
        return order[rank < self.neighbours]

    def score(self, histories: list[np.ndarray], users: np.ndarray) -> torch.Tensor:
        import scipy.sparse as sp
        import torch

        lengths = [len(h) for h in histories]
        rows = np.repeat(np.arange(len(histories)), lengths)
        cols = np.concatenate(histories) if rows.size else np.zeros(0, dtype=np.int64)
        h = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(histories), self.n_items))
        return torch.from_numpy(np.asarray((h @ self.similarity).todense(), dtype=np.float32))


class ItemKNNParams(ModelParams):
    neighbours: int = tunable(
        100, "most similar items kept per item", ge=1, search=Search(choices=(20, 50, 100, 200, 500))
    )
    shrink: float = tunable(
        10.0, "added to the cosine's denominator (damps rare pairs)", ge=0, search=Search(low=0.0, high=100.0)
    )


def _popularity(inputs: BuildInputs[Any]) -> Popularity:
    return Popularity(inputs.n_items)


def _itemknn(inputs: BuildInputs[ItemKNNParams]) -> ItemKNN:
    return ItemKNN(inputs.n_items, inputs.params.neighbours, inputs.params.shrink)


@hookimpl
def flm_bench_register_models(register):
    register(
        ModelSpec(
            name="popularity",
            build=_popularity,
            pretrainable=False,
            item_representation="ids",
            description="most-interacted items first (non-personalised reference)",
        )
    )
    register(
        ModelSpec(
            name="itemknn",
            build=_itemknn,
            pretrainable=False,
            item_representation="ids",
            params=ItemKNNParams,
            description="item-based k-nearest neighbours over training co-occurrence (cosine)",
        )
    )

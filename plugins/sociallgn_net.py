"""The torch network behind ``sociallgn`` and ``lightgcn`` (registered in :mod:`flm_bench_plugins.sociallgn`).

LightGCN (He et al., SIGIR 2020) propagates user and item embeddings over the symmetrically
normalised user–item graph without weights or non-linearities, and averages the layers.
SocialLGN (Liao et al., Information Sciences 2022) also propagates each user's embedding over
the normalised social graph at every layer and fuses the two user views (graph fusion:
``normalise(W3 [tanh(W1 e_social) ; tanh(W2 e_interaction)] + b)``). Without social edges the
fusion is absent and the network is LightGCN exactly. Trained with BPR on uniformly sampled
negatives plus an L2 penalty on the batch's layer-0 embeddings.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from flm_bench.api import ConfigError, SelfBatchingRecommender, Sequences

#: Rounds of redrawing a negative that the user interacted with, before accepting it anyway.
NEGATIVE_ROUNDS = 20


def normalised_adjacency(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """Sparse ``D_r^-1/2 A D_c^-1/2`` of the 0/1 matrix with ones at the distinct (row, col) pairs."""
    keys = np.unique(rows.astype(np.int64) * shape[1] + cols)
    r, c = keys // shape[1], keys % shape[1]
    row_deg = np.bincount(r, minlength=shape[0]).astype(np.float32)
    col_deg = np.bincount(c, minlength=shape[1]).astype(np.float32)
    values = 1.0 / np.sqrt(row_deg[r] * col_deg[c])
    index = torch.from_numpy(np.stack([r, c]))
    return torch.sparse_coo_tensor(index, torch.from_numpy(values), shape, check_invariants=True).coalesce()


class Graph:
    """A fixed sparse matrix ``A`` that multiplies dense embeddings with autograd (``graph @ x``):
    ``A @ x`` forward and ``A^T @ g`` backward, both in CSR, ``A^T`` built once. With torch's own
    product of the COO matrix a training batch on ciaodvd took 1.2–1.4× as long on CPU
    (``benchmarks/bench_graph.py``)."""

    def __init__(self, matrix: torch.Tensor) -> None:
        self.coo = matrix.coalesce()  # [n, m], kept for inspection
        with warnings.catch_warnings():  # "CSR support is in beta": the product is checked in tests
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
            self.csr = self.coo.to_sparse_csr()
            self.csr_t = self.coo.t().coalesce().to_sparse_csr()

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        return _Product.apply(self.csr, self.csr_t, x)


class _Product(torch.autograd.Function):
    """``A @ x`` with the gradient ``A^T @ g`` for ``x`` (``A`` is a constant)."""

    @staticmethod
    def forward(ctx: Any, matrix: torch.Tensor, transposed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.transposed = transposed
        return matrix @ x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, ctx.transposed @ grad


class GraphFusion(nn.Module):
    """SocialLGN's fusion of a user's social and interaction views into one unit-length vector
    (the reference code divides by the norm of the whole user matrix; we normalise per user)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.social = nn.Linear(dim, dim, bias=False)
        self.interaction = nn.Linear(dim, dim, bias=False)
        self.combine = nn.Linear(2 * dim, dim)

    def forward(self, social: torch.Tensor, interaction: torch.Tensor) -> torch.Tensor:
        h = torch.cat([torch.tanh(self.social(social)), torch.tanh(self.interaction(interaction))], dim=1)
        return nn.functional.normalize(self.combine(h), dim=1)


class SocialLGN(SelfBatchingRecommender):
    """User and item embeddings propagated over the training graph (and the social graph, if any).

    ``social_edges``: ``[n, 2]`` directed user -> user pairs (a user aggregates the users it
    trusts or befriends); None or empty gives LightGCN. Self-loops are dropped.
    """

    def __init__(
        self, n_users: int, n_items: int, dim: int, layers: int, reg: float, social_edges: np.ndarray | None
    ) -> None:
        super().__init__()
        self.n_users, self.n_items, self.layers, self.reg = n_users, n_items, layers, reg
        self.user_table = nn.Embedding(n_users, dim)
        self.item_table = nn.Embedding(n_items, dim)
        nn.init.normal_(self.user_table.weight, std=0.1)
        nn.init.normal_(self.item_table.weight, std=0.1)
        edges = np.zeros((0, 2), np.int64) if social_edges is None else np.asarray(social_edges, np.int64)
        self.edges = edges[edges[:, 0] != edges[:, 1]]
        self.fusion = GraphFusion(dim) if len(self.edges) else None
        self.graph: Graph | None = None  # [(U + I), (U + I)] normalised user–item graph
        self.social: Graph | None = None  # [U, U] normalised social graph
        self.pairs = np.zeros((2, 0), np.int64)  # distinct training (user, item) pairs
        self.seen = np.zeros(0, np.int64)  # their sorted keys user * n_items + item

    def prepare(self, train: Sequences) -> None:
        self.seen = self._keys(train)
        self.pairs = np.stack([self.seen // self.n_items, self.seen % self.n_items])
        self.graph = self._graph(self.seen)
        if self.fusion is not None:
            social = normalised_adjacency(self.edges[:, 0], self.edges[:, 1], (self.n_users, self.n_users))
            self.social = Graph(social.to(self.device))

    def before_test(self, histories: Sequences) -> None:
        """Score the test users over the training graph plus their histories' edges (the validation
        interactions, which a sequence model reads as input too); training pairs stay as they were."""
        self.graph = self._graph(np.union1d(self.seen, self._keys(histories)))

    def _keys(self, seqs: Sequences) -> np.ndarray:
        """Sorted distinct keys ``user * n_items + item`` of ``seqs``."""
        users = np.repeat(seqs.users.astype(np.int64), seqs.lengths())
        return np.unique(users * self.n_items + seqs.items[seqs.indptr[0] : seqs.indptr[-1]])

    def _graph(self, keys: np.ndarray) -> Graph:
        """The normalised user–item graph of the (user, item) pairs ``keys``, on the model's device."""
        u, i = keys // self.n_items, keys % self.n_items
        n = self.n_users + self.n_items
        both_ways = normalised_adjacency(np.r_[u, i + self.n_users], np.r_[i + self.n_users, u], (n, n))
        return Graph(both_ways.to(self.device))

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings: the mean of layer 0 and every propagated layer."""
        if self.graph is None:
            raise ConfigError(f"{type(self).__name__}: used before prepare() built its graph from the training data")
        x = torch.cat([self.user_table.weight, self.item_table.weight])
        layers = [x]
        for _ in range(self.layers):
            y = self.graph @ x
            if self.fusion is not None and self.social is not None:
                users, items = y.split([self.n_users, self.n_items])
                friends = self.social @ x[: self.n_users]
                y = torch.cat([self.fusion(friends, users), items])
            layers.append(y)
            x = y
        users, items = torch.stack(layers).mean(dim=0).split([self.n_users, self.n_items])
        return users, items

    def epoch_losses(self, train: Sequences, batch_size: int, rng: np.random.Generator) -> Iterator[torch.Tensor]:
        order = rng.permutation(self.pairs.shape[1])
        users, positives = self.pairs[:, order]
        negatives = self.negatives(users, rng)
        for start in range(0, len(order), batch_size):
            batch = slice(start, start + batch_size)
            yield self.bpr_loss(*(torch.from_numpy(a[batch]).to(self.device) for a in (users, positives, negatives)))

    def negatives(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniformly drawn item per user that the user did not interact with in training
        (redrawn at most :data:`NEGATIVE_ROUNDS` times)."""
        items = rng.integers(0, self.n_items, len(users))
        for _ in range(NEGATIVE_ROUNDS if len(self.seen) else 0):
            keys = users * self.n_items + items
            hit = np.flatnonzero(self.seen[np.minimum(np.searchsorted(self.seen, keys), len(self.seen) - 1)] == keys)
            if not len(hit):
                break
            items[hit] = rng.integers(0, self.n_items, len(hit))
        return items

    def bpr_loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Mean BPR loss of the triples plus ``reg`` times half the squared norm of their layer-0 embeddings
        per triple."""
        user_out, item_out = self.propagate()
        u = user_out[users]
        margin = (u * item_out[negatives]).sum(dim=1) - (u * item_out[positives]).sum(dim=1)
        ego = [self.user_table(users), self.item_table(positives), self.item_table(negatives)]
        penalty = sum(e.pow(2).sum() for e in ego) / (2 * len(users))
        return nn.functional.softplus(margin).mean() + self.reg * penalty

    def score(self, histories: list[np.ndarray], users: np.ndarray) -> torch.Tensor:
        user_out, item_out = self.propagate()
        return user_out[torch.as_tensor(users, device=self.device)] @ item_out.T

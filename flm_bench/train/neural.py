"""Base classes of the torch models the harness trains, and how sequences become tensors.

:class:`NeuralRecommender` is the pretrainable sequence model; :class:`SelfBatchingRecommender`
is a model that draws its own training batches (a graph model) but is trained, validated and
early-stopped by the same harness loop.

Inputs are right-padded ``[B, L]`` tensors of item index + 1 (0 is padding), holding the
last ``max_len`` items of each sequence; ``lengths`` gives the real length of each row.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from flm_bench.data.splits import Sequences
from flm_bench.errors import ConfigError


def pad(sequences: list[np.ndarray], max_len: int, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``[B, L]`` inputs (item + 1) of the last ``max_len`` items, and lengths ``[B]``."""
    tails = [s[-max_len:] for s in sequences]
    lengths = np.array([len(t) for t in tails], dtype=np.int64)
    width = max(int(lengths.max(initial=0)), 1)
    out = np.zeros((len(tails), width), dtype=np.int64)
    for i, t in enumerate(tails):
        out[i, : len(t)] = t + 1
    return torch.from_numpy(out).to(device), torch.from_numpy(lengths).to(device)


def windows(train: Sequences, max_len: int, *, sliding: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` offsets into ``train.items`` of the training windows (at most ``max_len + 1``
    items: ``max_len`` inputs, each followed by its target).

    With ``sliding``, a history is cut from its end into windows whose targets do not overlap, so
    every item after a user's first is a target exactly once per epoch; without it only the last
    window counts (what the harness did before sliding windows). Users with fewer than 2 items
    give no window.
    """
    starts, ends = train.indptr[:-1], train.indptr[1:]
    n_targets = np.maximum(ends - starts - 1, 0)
    per_user = -(-n_targets // max_len) if sliding else np.minimum(n_targets, 1)  # ceil division
    user = np.repeat(np.arange(len(train)), per_user)
    back = np.arange(len(user)) - np.repeat(np.cumsum(per_user) - per_user, per_user)  # 0 = the last window
    window_ends = ends[user] - back * max_len
    return np.maximum(starts[user], window_ends - max_len - 1), window_ends


def training_batches(
    train: Sequences,
    batch_size: int,
    max_len: int,
    rng: np.random.Generator,
    device: torch.device | str,
    *,
    sliding: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Shuffled ``(inputs, lengths, targets)`` batches of the training :func:`windows`, for
    next-item training on every position.

    Windows are bucketed by length so a batch pads only to its own longest row; the order of
    batches is shuffled. ``targets[b, t]`` is the item after position ``t`` (-1 on padding).
    """
    starts, ends = windows(train, max_len, sliding=sliding)
    lengths = ends - starts
    by_length = np.lexsort((rng.random(len(lengths)), lengths))
    batches = [by_length[i : i + batch_size] for i in range(0, len(by_length), batch_size)]
    for b in rng.permutation(len(batches)):
        seqs = [train.items[starts[w] : ends[w]] for w in batches[b]]
        inputs, lens = pad([s[:-1] for s in seqs], max_len, device)
        targets, _ = pad([s[1:] for s in seqs], max_len, device)
        yield inputs, lens, targets - 1


class NeuralRecommender(nn.Module, metaclass=ABCMeta):
    """A pretrainable model: an encoder ``H = f(X; θ)`` and a head ``Y = g(H; W)``.

    What the strategies rely on, checked by :meth:`check_contract` whenever the harness builds
    a model: ``encoder`` and ``head`` are modules (``head`` may hold no weights), ``n_items`` and
    ``max_len`` (the trailing items of a history the model reads) are positive,
    ``id_parameters`` names the parameters tied to one catalogue's item IDs (they never
    transfer to another catalogue), and ``adapter_targets`` are name suffixes of ``nn.Linear``
    modules inside ``encoder`` that parameter-efficient strategies (LoRA) may adapt. Subclasses
    implement :meth:`hidden` and :meth:`logits`.
    """

    encoder: nn.Module
    head: nn.Module
    n_items: int
    max_len: int
    id_parameters: tuple[str, ...] = ()
    adapter_targets: tuple[str, ...] = ()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @abstractmethod
    def hidden(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encoder output ``[B, L, d]`` for right-padded inputs (position t sees only ≤ t)."""

    @abstractmethod
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Head: item scores ``[..., n_items]`` from hidden states ``[..., d]``."""

    def check_contract(self) -> None:
        """Raise a :class:`ConfigError` naming the class and the broken promise, if any."""
        name = type(self).__name__
        for attr in ("encoder", "head"):
            if not isinstance(getattr(self, attr, None), nn.Module):
                raise ConfigError(f"model class {name}: self.{attr} must be a torch module")
        for attr in ("n_items", "max_len"):
            value = getattr(self, attr, None)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"model class {name}: self.{attr} must be a positive int, not {value!r}")
        unknown = set(self.id_parameters) - set(self.state_dict())
        if unknown:
            raise ConfigError(f"model class {name}: id_parameters {sorted(unknown)} are not in its state_dict")
        linears = [n for n, m in self.encoder.named_modules() if isinstance(m, nn.Linear)]
        for target in self.adapter_targets:
            if not any(n == target or n.endswith("." + target) for n in linears):
                raise ConfigError(f"model class {name}: adapter target {target!r} names no nn.Linear in its encoder")

    def loss(self, inputs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, objective: str) -> torch.Tensor:
        """Training loss of one batch under ``objective``.

        The base class implements ``next-item`` (cross-entropy over the catalogue at every
        position); a model that declares more objectives in its ``ModelSpec`` overrides this.
        """
        if objective != "next-item":
            raise ConfigError(
                f"model {type(self).__name__} implements only the 'next-item' objective, not {objective!r}"
            )
        h = self.hidden(inputs, lengths)  # [B, L, d]
        mask = targets >= 0
        return nn.functional.cross_entropy(self.logits(h[mask]), targets[mask])

    def loss_count(self, targets: torch.Tensor, objective: str) -> int:
        """How many terms :meth:`loss` averages over for a batch with these ``targets``.

        Data-parallel training (:mod:`flm_bench.train.distributed`) weights each rank's loss by its
        share of the global batch's count, so the summed gradient is that of the global mean.
        The default, the number of target positions, is exact for a loss that is a mean over
        target positions (or over a fixed number of terms per position, as sampled-negative
        losses are). A loss that averages over something else overrides this; one that
        couples rows of a batch (in-batch negatives) is only approximated by any split.
        """
        return int((targets >= 0).sum())

    def score(self, histories: list[np.ndarray], users: np.ndarray) -> torch.Tensor:
        """Scores ``[B, n_items]`` from the last hidden state of each history."""
        inputs, lengths = pad(histories, self.max_len, self.device)
        h = self.hidden(inputs, lengths)  # [B, L, d]
        last = h[torch.arange(len(histories), device=h.device), (lengths - 1).clamp(min=0)]
        return self.logits(last)

    def transferable_state(self) -> dict[str, torch.Tensor]:
        """Weights that can move to another catalogue: everything but item-ID parameters."""
        return {k: v for k, v in self.state_dict().items() if k not in self.id_parameters}

    def encoder_blocks(self) -> list[nn.Module]:
        """The encoder's stacked blocks (e.g. Transformer layers), lowest first: strategies may freeze
        the lowest ones (``finetune``'s ``frozen_layers``). None by default."""
        return []


class SelfBatchingRecommender(nn.Module, metaclass=ABCMeta):
    """A torch model trained by the harness loop on batches it draws itself.

    A graph model, for one, samples (user, positive, negative) triples and propagates over a
    graph built from the training interactions; it does not read item-sequence windows. The
    loop (:func:`flm_bench.train.loop.fit`) calls :meth:`prepare` once with the training
    sequences, then per epoch steps the optimizer after each loss of :meth:`epoch_losses`,
    validates, early-stops and keeps the best weights exactly as for a
    :class:`NeuralRecommender`. It is tied to one catalogue (and user set), so it is not
    pretrainable: register it with ``pretrainable=False`` (the ``scratch`` strategy only).
    """

    n_items: int

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @abstractmethod
    def prepare(self, train: Sequences) -> None:
        """Derive what the model needs from the training sequences (and nothing else) before the
        first epoch, e.g. a graph's adjacency."""

    @abstractmethod
    def epoch_losses(self, train: Sequences, batch_size: int, rng: np.random.Generator) -> Iterator[torch.Tensor]:
        """One epoch's batch losses in order, each computed just before its optimizer step;
        draw every random choice from ``rng``."""

    @abstractmethod
    def score(self, histories: list[np.ndarray], users: np.ndarray) -> torch.Tensor:
        """Scores ``[len(users), n_items]`` (see :class:`flm_bench.recommender.Recommender`)."""

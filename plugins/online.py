"""The pass behind the ``online`` strategy (registered in :mod:`flm_bench_plugins.strategies`):
prequential ("test-then-train") adaptation, the "adaptive learning" stage of the
Pretraining-FLM design.

It starts from the pretrained encoder (minus item-ID weights) as ``finetune`` does; then

The target's training interactions (``split.train`` only: validation and test targets never
enter the stream, neither as targets nor as inputs) are replayed once, in global time order,
and the model predicts each interaction *before* it learns from it:

- **Order.** On a timestamped dataset, events are sorted by their ``order`` value (the
  timestamp), ties by canonical-table row. On data ordered only within users (no
  timestamps), users are interleaved by position — every user's event ``t`` comes before any
  user's event ``t + 1``, ties by canonical-table row — an approximation of global time that
  the record states (``stream.order = "position"``). Data without any order (ratings or
  holdings without time) are replayed the same way over each user's interactions in
  canonical-table row order (``stream.order = "row"``): a simulated stream, not a history.
  Both orders keep each user's own sequence order (that of the split).
- **Scoring.** An event's input is its user's items before it (the model keeps the last
  ``max_len``); a user's first training event has no input, so it is never a target (and
  never trained on): it only becomes history. ``stream.events`` = training interactions
  minus training users.
- **Chunks.** Scored events are taken in chunks of ``batch_size``, in stream order. Per
  chunk: one forward pass (``model.score``, eval mode: no dropout) gives logits
  ``[B, n_items]``; each event's true item is ranked with the harness's rules (full
  catalogue, items of the user's prefix excluded when ``exclude_history``, ties by item
  index: :func:`flm_bench.evaluation.rank_batch`) and its metrics are kept; *then* the
  cross-entropy of those same logits is minimised by one AdamW step. So every prediction
  of a chunk comes from the weights after the previous chunk's step; an event may use an
  earlier event of the same chunk as input (that item was already observed) but never its
  gradient.

One pass, no early stopping; the final weights are what the runner evaluates on the test
split, like any other strategy's. The validation metric of the final weights is reported as
a one-epoch fit. The stream's measurements go to the record's ``strategy_metrics``:
``stream.order``, ``stream.events`` (training interactions minus each user's first),
``stream.updates`` (gradient steps), ``stream.chunk`` (events per step) and
``stream.<metric>`` (the mean over scored events of each evaluation metric).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from flm_bench.api import (
    AdaptContext,
    FitResult,
    InteractionData,
    NeuralRecommender,
    Sequences,
    StrategyResult,
    TrainConfig,
    depth,
    evaluate,
    per_user_metrics,
    rank_batch,
    seed_everything,
    subsample,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

log = logging.getLogger(__name__)

Order = Literal["timestamp", "position", "row"]
METRIC_BLOCK = 1 << 16  # scored events handed to ranx at once (bounds the memory of ranked lists)


@dataclass(frozen=True)
class Stream:
    """The training interactions in stream order, one entry per event.

    ``user[e]`` is the event's user as a position in ``split.train``, ``position[e]`` its
    index in that user's training sequence, ``rows[e]`` its canonical-table row and
    ``time[e]`` the value it was ordered by (timestamp, or ``position`` itself).
    """

    order: Order
    user: np.ndarray
    position: np.ndarray
    rows: np.ndarray
    time: np.ndarray

    @property
    def scored(self) -> np.ndarray:
        """Indices (into the stream) of the events that are prediction targets: not a user's first."""
        return np.flatnonzero(self.position >= 1)

    def __len__(self) -> int:
        return len(self.rows)


def build_stream(train: Sequences, data: InteractionData) -> Stream:
    """The events of ``train`` (a split's training sequences of ``data``) in stream order."""
    if data.timestamped:
        order: Order = "timestamp"
    else:
        order = "position" if data.ordered else "row"
    lengths = train.lengths()
    flat = np.arange(int(train.indptr[0]), int(train.indptr[-1]), dtype=np.int64)
    user = np.repeat(np.arange(len(train), dtype=np.int64), lengths)
    position = flat - train.indptr[:-1][user]
    rows = train.rows[flat]
    if order == "timestamp":
        time = np.asarray(data.column("order"), dtype=np.int64)[rows]
    else:
        time = position
    perm = np.lexsort((rows, time))  # time (or position), then canonical row
    stream = Stream(order, user[perm], position[perm], rows[perm], time[perm])
    # each user's events must keep the user's own (split) order, or prefixes would not be histories
    by_user = np.argsort(stream.user, kind="stable")
    steps = np.diff(stream.position[by_user])
    same = np.diff(stream.user[by_user]) == 0
    assert (steps[same] == 1).all(), "online: stream order disagrees with the split's per-user order"
    return stream


@dataclass
class StreamResult:
    """What one prequential pass measured: per scored event (in stream order) and in total."""

    order: Order
    chunk: int
    updates: int
    rows: np.ndarray  # canonical-table row of each scored event's target
    per_event: dict[str, np.ndarray] = field(default_factory=dict)
    loss: float = float("nan")  # mean cross-entropy over the chunks

    @property
    def events(self) -> int:
        return len(self.rows)

    @property
    def metrics(self) -> dict[str, float]:
        """Mean of each metric over the scored events (empty when nothing was scored)."""
        return {n: float(v.mean()) for n, v in self.per_event.items()} if self.events else {}

    def record_metrics(self) -> dict[str, float | int | str]:
        """What the record keeps of the pass (its ``strategy_metrics``)."""
        return {
            "stream.order": self.order,
            "stream.events": self.events,
            "stream.updates": self.updates,
            "stream.chunk": self.chunk,
            **{f"stream.{n}": v for n, v in self.metrics.items()},
        }


class _EventMetrics:
    """Per-event metrics of ranked chunks, handed to ranx in blocks of ``METRIC_BLOCK`` events."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.values: dict[str, list[np.ndarray]] = {n: [] for n in names}
        self.ranked: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []

    def add(self, ranked: np.ndarray, targets: np.ndarray) -> None:
        self.ranked.append(ranked)
        self.targets.append(targets)
        if sum(len(t) for t in self.targets) >= METRIC_BLOCK:
            self.flush()

    def flush(self) -> None:
        if not self.ranked:
            return
        targets = np.concatenate(self.targets)
        n = len(targets)
        ones = Sequences(np.arange(n), np.arange(n + 1, dtype=np.int64), targets, np.zeros(n, np.int64))
        for name, values in per_user_metrics(np.concatenate(self.ranked), ones, self.names).items():
            self.values[name].append(values)
        self.ranked.clear()
        self.targets.clear()

    def result(self) -> dict[str, np.ndarray]:
        self.flush()
        return {n: np.concatenate(v) if v else np.zeros(0) for n, v in self.values.items()}


def _chunk(
    train: Sequences,
    stream: Stream,
    events: np.ndarray,
    exclude_history: bool,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, Sequences | None]:
    """The inputs of a chunk of events: each event's history (its user's items before it), user,
    true item, and the histories as ``Sequences`` to exclude from the ranking (or None)."""
    user, position = stream.user[events], stream.position[events]
    base = train.indptr[user]
    histories = [train.items[b : b + p] for b, p in zip(base.tolist(), position.tolist())]
    exclude = None
    if exclude_history:
        indptr = np.concatenate([[0], np.cumsum(position)]).astype(np.int64)
        exclude = Sequences(
            np.arange(len(events)),
            indptr,
            np.concatenate([train.items[:0], *histories]),
            np.zeros(int(indptr[-1]), np.int64),
        )
    return histories, train.users[user], train.items[base + position], exclude


def replay(
    model: NeuralRecommender,
    parameters: Iterable[torch.nn.Parameter],
    train: Sequences,
    stream: Stream,
    cfg: TrainConfig,
    *,
    names: Sequence[str],
    exclude_history: bool = True,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> StreamResult:
    """One prequential pass of ``model`` over ``stream`` (see the module doc); trains in place."""
    seed_everything(seed, cfg.deterministic)
    params = [p for p in parameters if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    k = depth(names)
    scored = stream.scored
    result = StreamResult(stream.order, cfg.batch_size, 0, stream.rows[scored])
    metrics = _EventMetrics(names)
    total_loss = 0.0
    model.eval()  # the prediction is what the deployed model would say: no dropout
    n_chunks = (len(scored) + cfg.batch_size - 1) // cfg.batch_size
    for c, start in enumerate(range(0, len(scored), cfg.batch_size)):
        events = scored[start : start + cfg.batch_size]
        histories, users, targets, exclude = _chunk(train, stream, events, exclude_history)
        # --- test: one forward, rank the true item before any update on it
        logits = model.score(histories, users)  # [B, n_items], with its graph
        assert logits.shape == (len(events), model.n_items), (
            f"online: scores {tuple(logits.shape)}, expected {(len(events), model.n_items)}"
        )
        metrics.add(rank_batch(logits.detach().float().clone(), k, exclude), targets)
        # --- then train: cross-entropy of the same logits, one step
        loss = torch.nn.functional.cross_entropy(logits.float(), torch.from_numpy(targets).to(logits.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        result.updates += 1
        total_loss += loss.item()
        if progress and (c + 1) % max(n_chunks // 10, 1) == 0:
            progress(f"online {start + len(events)}/{len(scored)} events")
    result.per_event = metrics.result()
    result.loss = total_loss / result.updates if result.updates else float("nan")
    model.eval()
    if not result.events:
        log.warning("online: no training user has two interactions; nothing was scored or trained")
    else:
        log.info(
            "online (%s order): %d events, %d updates, %s",
            stream.order,
            result.events,
            result.updates,
            " ".join(f"{n}={v:.4f}" for n, v in result.metrics.items()),
        )
    return result


def replay_training(ctx: AdaptContext, model: NeuralRecommender) -> StreamResult:
    """One prequential pass of ``model`` over ``ctx.split.train`` in stream order; trains in place."""
    params = [p for p in model.parameters() if p.requires_grad]
    return replay(
        model,
        params,
        ctx.split.train,
        build_stream(ctx.split.train, ctx.data),
        ctx.train_cfg,
        names=ctx.metrics,
        exclude_history=ctx.exclude_history,
        seed=ctx.seed,
        progress=ctx.progress,
    )


def prequential(ctx: AdaptContext, model: NeuralRecommender, transfer: dict[str, list[str]]) -> StrategyResult:
    """Adapt ``model`` by one prequential pass over ``ctx.split.train``; the fit is reported as
    one epoch whose validation value is that of the final weights."""
    stream = replay_training(ctx, model)
    params = [p for p in model.parameters() if p.requires_grad]
    cfg = ctx.train_cfg
    valid = subsample(ctx.split.valid, cfg.max_valid_users, ctx.seed)
    if len(valid):
        _, scores = evaluate(model.score, valid, [cfg.valid_metric])
        value = float(scores[cfg.valid_metric].mean())
    else:  # as the training loop does without validation users
        value = -stream.loss if stream.updates else 0.0
    fit = FitResult(
        epochs=1,
        best_epoch=1,
        best_valid=value,
        valid_metric=cfg.valid_metric,
        valid_curve=[value],
        epochs_cap=1,
        optimizer_steps=stream.updates,
        stopped_by="stream",
    )
    if ctx.progress:
        ctx.progress(
            f"online {cfg.valid_metric}: stream {stream.metrics.get(cfg.valid_metric, float('nan')):.4f}, "
            f"valid {value:.4f}"
        )
    return StrategyResult(model, fit, sum(p.numel() for p in params), transfer, stream.record_metrics())

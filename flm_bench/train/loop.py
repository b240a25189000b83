"""The harness's training loop: seeds, device, epochs, early stopping on validation only."""

from __future__ import annotations

import copy
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from flm_bench.data.splits import EvalSet, Sequences
from flm_bench.errors import ConfigError
from flm_bench.evaluation import evaluate
from flm_bench.suite import StopReason, TrainConfig, Windows
from flm_bench.train import distributed
from flm_bench.train.neural import NeuralRecommender, SelfBatchingRecommender, training_batches

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
#: Called after each epoch's validation with (epoch, value of ``valid_metric``); it may raise to
#: end the fit (a tuning trial pruned), and the exception propagates out of :func:`fit`.
EpochHook = Callable[[int, float], None]
#: What the loop trains: a sequence model on item windows, or a model drawing its own batches.
Trainable = NeuralRecommender | SelfBatchingRecommender


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; a device that is not there is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device {name!r} is not a torch device (expected cpu, cuda, cuda:N or auto)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but torch sees no CUDA device here")
    return name


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed every generator; with ``deterministic``, also ask torch for deterministic kernels.

    Without it, CPU embedding gradients are summed in a thread-dependent order and two runs
    of the same pretraining differ in the 4th decimal.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def subsample(eval_set: EvalSet, n: int, seed: int) -> EvalSet:
    """At most ``n`` users of ``eval_set``, chosen deterministically."""
    if len(eval_set) <= n:
        return eval_set
    pos = np.sort(np.random.default_rng(seed).choice(len(eval_set), n, replace=False))
    return take_users(eval_set, pos)


def take_users(eval_set: EvalSet, pos: np.ndarray) -> EvalSet:
    """The users at positions ``pos`` of ``eval_set``, in that order."""
    return EvalSet(eval_set.history.select(pos), eval_set.targets.select(pos))


@dataclass
class FitResult:
    """What one training run did."""

    epochs: int = 0
    best_epoch: int = 0
    best_valid: float = float("nan")
    valid_metric: str = ""
    valid_curve: list[float] = field(default_factory=list)
    epochs_cap: int = 0  # the most epochs it was allowed
    optimizer_steps: int = 0
    stopped_by: StopReason | None = None
    windows: Windows | None = None  # how training histories were cut (None: not trained on windows)


def fit(
    model: Trainable,
    parameters: Iterable[torch.nn.Parameter],
    train: Sequences,
    valid: EvalSet,
    cfg: TrainConfig,
    *,
    seed: int,
    objective: str = "next-item",
    progress: Progress | None = None,
    exclude_history: bool = True,
    on_epoch: EpochHook | None = None,
) -> FitResult:
    """Train ``parameters`` of ``model`` on ``train``; keep the weights best on ``valid``.

    Stops after ``cfg.patience`` epochs without improvement of ``cfg.valid_metric``, after the epoch that ends
    past ``cfg.max_seconds``, or at the cap ``cfg.epochs`` (``stopped_by`` says which), and restores the best
    epoch's weights; ``on_epoch`` hears each epoch's validation value. The test set is never seen here.

    Under an initialised ``torch.distributed`` group of several ranks, trains data-parallel
    (see :mod:`flm_bench.train.distributed`): the same steps as one process on the same global
    batches, and the same validation decisions on every rank.

    A :class:`SelfBatchingRecommender` is prepared on ``train`` first, and each epoch takes its
    own batch losses (one process only); everything after the batches is the same.
    """
    seed_everything(seed, cfg.deterministic)
    rng = np.random.default_rng(seed)
    params, optimizer = _optimizer(model, parameters, train, cfg)
    valid = subsample(valid, cfg.max_valid_users, seed)
    my_valid = _join_ranks(model, valid, seed)
    windows = cfg.windows if isinstance(model, NeuralRecommender) else None  # the other reads no windows
    result = FitResult(valid_metric=cfg.valid_metric, epochs_cap=cfg.epochs, stopped_by="cap", windows=windows)
    best_state = copy.deepcopy(model.state_dict())
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        loss, steps = _train_epoch(model, params, optimizer, train, cfg, rng, objective)
        result.optimizer_steps += steps
        value = _validate(model, my_valid, cfg.valid_metric, exclude_history) if len(valid) else -loss
        result.valid_curve.append(value)
        result.epochs = epoch
        log.info("epoch %d loss %.4f valid %s %.4f", epoch, loss, cfg.valid_metric, value)
        if progress:
            progress(f"epoch {epoch}/{cfg.epochs} {cfg.valid_metric}={value:.4f}")
        if on_epoch:
            on_epoch(epoch, value)
        if not value <= result.best_valid:  # also true for the first epoch (best is nan)
            result.best_valid, result.best_epoch = value, epoch
            best_state = copy.deepcopy(model.state_dict())
        stop = _stop(cfg, epoch - result.best_epoch, epoch, start)
        if stop is not None:
            result.stopped_by = stop
            break
    model.load_state_dict(best_state)
    if distributed.world()[1] > 1:
        distributed.broadcast_module(model)  # ranks agree already; this makes it exact
    model.eval()
    return result


def _stop(cfg: TrainConfig, bad_epochs: int, epoch: int, start: float) -> StopReason | None:
    """Why the fit stops after ``epoch`` (``bad_epochs`` of them since the best), if it does
    before the cap: patience, or the time budget (rank 0's clock decides for every rank)."""
    if bad_epochs >= cfg.patience:
        return "patience"
    if cfg.max_seconds is None or epoch == cfg.epochs:
        return None
    late = time.perf_counter() - start > cfg.max_seconds
    return "time" if (distributed.broadcast_object(late) if distributed.world()[1] > 1 else late) else None


def _optimizer(
    model: Trainable, parameters: Iterable[torch.nn.Parameter], train: Sequences, cfg: TrainConfig
) -> tuple[list[torch.nn.Parameter], torch.optim.Optimizer]:
    """The trainable ``parameters`` and their optimizer; a self-batching ``model`` is prepared on ``train``."""
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ConfigError(
            f"{type(model).__name__}: no trainable parameters (the strategy froze every weight "
            "and the model has none left fresh, e.g. probe on a head without weights)"
        )
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    if isinstance(model, SelfBatchingRecommender):
        if distributed.world()[1] > 1:
            raise ConfigError(f"model {type(model).__name__} draws its own batches and trains in one process only")
        model.prepare(train)
    return params, optimizer


def _join_ranks(model: Trainable, valid: EvalSet, seed: int) -> EvalSet:
    """Under several ranks: the same start everywhere, a random stream per rank, and this rank's
    share of the validation users (returned); one process: ``valid`` itself."""
    rank, world_size = distributed.world()
    if world_size == 1:
        return valid
    distributed.broadcast_module(model)  # the same start on every rank, whatever came before
    if rank:  # own dropout / sampling stream per rank; rank 0 keeps the single-process one
        torch.manual_seed(int(np.random.SeedSequence([seed, rank]).generate_state(1)[0]))
    return take_users(valid, np.arange(len(valid))[distributed.shard(len(valid), rank, world_size)])


def _train_epoch(
    model: Trainable,
    params: list[torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    train: Sequences,
    cfg: TrainConfig,
    rng: np.random.Generator,
    objective: str,
) -> tuple[float, int]:
    """One pass over shuffled training batches; the mean batch loss and the optimizer steps taken."""
    model.train()
    total, n = 0.0, 0
    if isinstance(model, NeuralRecommender) and distributed.world()[1] > 1:
        for batch in _windows(model, train, cfg, rng):
            total, n = total + distributed.train_step(model, params, optimizer, batch, objective), n + 1
        return float(total / max(n, 1)), n
    for loss in _losses(model, train, cfg, rng, objective):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, n = total + loss.item(), n + 1
    return float(total / max(n, 1)), n


def _windows(
    model: NeuralRecommender, train: Sequences, cfg: TrainConfig, rng: np.random.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The epoch's shuffled ``(inputs, lengths, targets)`` batches of training windows."""
    return training_batches(train, cfg.batch_size, model.max_len, rng, model.device, sliding=cfg.windows == "sliding")


def _losses(
    model: Trainable, train: Sequences, cfg: TrainConfig, rng: np.random.Generator, objective: str
) -> Iterator[torch.Tensor]:
    """The epoch's batch losses, each computed when the loop asks for it (one process)."""
    if isinstance(model, SelfBatchingRecommender):
        return model.epoch_losses(train, cfg.batch_size, rng)
    return (
        model.loss(inputs, lengths, targets, objective) for inputs, lengths, targets in _windows(model, train, cfg, rng)
    )


def _validate(model: Trainable, my_valid: EvalSet, metric: str, exclude_history: bool) -> float:
    """The mean of ``metric`` over the validation users (gathered from every rank)."""
    model.eval()
    _, scores = evaluate(model.score, my_valid, [metric], exclude_history=exclude_history)
    values = scores[metric]
    if distributed.world()[1] > 1:  # every rank gets all per-user scores in user order: the same mean everywhere
        values = distributed.gather_arrays(values)
    return float(values.mean())

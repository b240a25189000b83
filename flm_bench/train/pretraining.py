"""Pretraining: train a model variant on a corpus with an objective; yield a checkpoint.

Checkpoints are keyed by corpus content, model, parameters, objective, seed and training
settings, written atomically, loaded with ``torch.load(weights_only=True)``, and reused by
every strategy and target that asks for the same key.

Under ``torchrun`` (an initialised process group of several ranks) every rank trains its
shard data-parallel, rank 0 alone decides whether the checkpoint exists and writes it, and
every rank returns rank 0's :class:`Checkpoint`. The number of processes is recorded
(``world_size``) but is not part of the key: it answers the same request as one process.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from flm_bench import faults
from flm_bench.data.splits import leave_one_out, random_holdout
from flm_bench.data.table import InteractionData, fingerprint
from flm_bench.errors import CheckpointError, ConfigError
from flm_bench.params import ModelParams
from flm_bench.specs import ModelSpec
from flm_bench.suite import PretrainConfig
from flm_bench.train import distributed
from flm_bench.train.build import build_model
from flm_bench.train.cost import Meter
from flm_bench.train.loop import Progress, fit
from flm_bench.train.neural import NeuralRecommender


@dataclass(frozen=True)
class Checkpoint:
    """A pretrained, transferable model state and how it was made."""

    path: str  # the .pt file; its metadata JSON lies beside it
    key: str
    corpus: str
    datasets: list[str]
    excluded: list[str]
    model: str
    objective: str
    seed: int
    seconds: float
    peak_mb: float
    epochs: int
    best_valid: float
    world_size: int = 1  # processes that trained it data-parallel (seconds and peak_mb are rank 0's)

    def state(self) -> dict[str, torch.Tensor]:
        """The weights; a file that is not a torch state dict is a :class:`CheckpointError` naming it."""
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated, not a torch file, unsafe pickle: torch raises many kinds
            raise CheckpointError(
                f"checkpoint {self.path} is unreadable ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}); delete it to pretrain again"
            ) from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"checkpoint {self.path} holds no state dict of tensors; delete it to pretrain again")
        return state


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def pretrain(
    spec: ModelSpec,
    params: ModelParams,
    corpus: InteractionData,
    *,
    excluded: list[str],
    datasets: list[str],
    cfg: PretrainConfig,
    seed: int,
    device: str,
    directory: Path,
    progress: Progress | None = None,
) -> tuple[Checkpoint, bool]:
    """The checkpoint for this (corpus, model, params, objective, seed, cfg), and whether it came
    from the cache (True) or was trained now (False)."""
    if not spec.pretrainable:
        raise ConfigError(f"model {spec.name!r} is not pretrainable")
    key = fingerprint(corpus.fingerprint, spec.name, params.identity(), cfg.identity(), seed)[:20]
    stem = directory / f"{corpus.name}__{spec.name}__{cfg.objective}__seed{seed}__{key}"
    rank = distributed.world()[0]
    if rank == 0:
        directory.mkdir(parents=True, exist_ok=True)
    # one process trains a checkpoint; another asking for it meanwhile waits, then reuses it
    with FileLock(str(directory / f".{stem.name}.lock")) if rank == 0 else contextlib.nullcontext():
        expected = {
            "key": key,
            "model": spec.name,
            "objective": cfg.objective,
            "seed": seed,
            "corpus": corpus.name,
            "datasets": datasets,
            "excluded": excluded,
        }
        found = _cached(stem, expected)
        if found is not None:
            return found, True
        for leftover in directory.glob(f".{stem.name}.*.tmp") if rank == 0 else ():
            leftover.unlink(missing_ok=True)  # of a writer that was killed: we hold the lock
        return _train(
            stem,
            spec,
            params,
            corpus,
            cfg,
            seed=seed,
            device=device,
            progress=progress,
            about={"key": key, "datasets": datasets, "excluded": excluded},
        ), False


def _train(
    stem: Path,
    spec: ModelSpec,
    params: ModelParams,
    corpus: InteractionData,
    cfg: PretrainConfig,
    *,
    seed: int,
    device: str,
    progress: Progress | None,
    about: dict[str, Any],
) -> Checkpoint:
    """Pretrain on ``corpus`` now; rank 0 writes the checkpoint at ``stem``; every rank gets its metadata."""
    rank, world_size = distributed.world()
    # validation (early stopping only): the last item per user, a random one for unordered data
    split = leave_one_out(corpus) if corpus.ordered else random_holdout(corpus, seed=seed)
    model = build_model(spec, params, corpus, seed=seed, device=device)
    assert isinstance(model, NeuralRecommender), f"pretrainable model {spec.name!r} must be a NeuralRecommender"
    with Meter(device) as meter:
        result = fit(
            model,
            model.parameters(),
            split.train,
            split.valid,
            cfg,
            seed=seed,
            objective=cfg.objective,
            progress=progress,
        )
    ckpt = Checkpoint(
        path=str(stem.parent / f"{stem.name}.pt"),
        corpus=corpus.name,
        model=spec.name,
        objective=cfg.objective,
        seed=seed,
        seconds=meter.seconds,
        peak_mb=meter.peak_mb,
        epochs=result.epochs,
        best_valid=result.best_valid,
        world_size=world_size,
        **about,
    )
    if rank == 0:
        _save(stem, model, ckpt)
    if world_size > 1:  # a barrier too: other ranks return once rank 0 has written both files
        ckpt = distributed.broadcast_object(ckpt)
    return ckpt


def _save(stem: Path, model: NeuralRecommender, ckpt: Checkpoint) -> None:
    """The transferable weights at ``<stem>.pt`` and the metadata at ``<stem>.json``, each atomically."""
    _atomic_write(stem.parent / f"{stem.name}.pt", lambda p: torch.save(model.transferable_state(), p))
    faults.point("pretrain.weights-written")  # without its metadata, the .pt is not a checkpoint yet
    _atomic_write(stem.parent / f"{stem.name}.json", lambda p: p.write_text(json.dumps(asdict(ckpt), indent=1)))


def _cached(stem: Path, expected: dict[str, Any]) -> Checkpoint | None:
    """The checkpoint at ``stem`` (.json beside .pt) if rank 0 has it; every rank gets rank 0's answer.

    The metadata must describe the checkpoint asked for (``expected``: key, model, objective,
    seed); the location and the corpus's datasets come from the caller, never from the file.
    """
    rank, world_size = distributed.world()
    found = None
    meta = stem.parent / f"{stem.name}.json"
    if rank == 0 and meta.exists():
        found = _read_meta(meta, stem.parent / f"{stem.name}.pt", expected)
    if world_size > 1:
        found = distributed.broadcast_object(found)  # rank 0's folder decides for every rank
    return found


def _read_meta(meta: Path, pt: Path, expected: dict[str, Any]) -> Checkpoint:
    try:
        stored = json.loads(meta.read_text())
        fields = {k: v for k, v in stored.items() if k in Checkpoint.__dataclass_fields__}
        found = Checkpoint(**{**fields, **expected, "path": str(pt)})
        numbers = (found.seconds, found.peak_mb, found.epochs, found.best_valid, found.world_size)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            raise TypeError("seconds, peak_mb, epochs, best_valid and world_size must be numbers")
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            f"checkpoint metadata {meta} is unreadable or invalid ({exc}); delete it to pretrain again"
        ) from None
    wrong = sorted(k for k in ("key", "model", "objective", "seed") if stored.get(k) != expected[k])
    if wrong or not pt.is_file():
        missing = f"its {', '.join(wrong)} differ" if wrong else "the .pt file is missing"
        raise CheckpointError(
            f"checkpoint metadata {meta} does not describe {pt.name}: {missing}; delete both to pretrain again"
        )
    return found

"""The parts of a record the runner builds from what a cell used: dataset, strategy and training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flm_bench.data.table import InteractionData
from flm_bench.plan import Cell
from flm_bench.results.records import DatasetInfo, StrategyInfo, TrainingInfo

if TYPE_CHECKING:
    from flm_bench.train.loop import FitResult
    from flm_bench.train.pretraining import Checkpoint


def dataset_info(data: InteractionData, preprocess: dict[str, Any]) -> DatasetInfo:
    return DatasetInfo(
        name=data.name,
        domain=data.domain,
        fingerprint=data.fingerprint,
        synthetic=data.synthetic,
        users=data.n_users,
        items=data.n_items,
        interactions=data.n_interactions,
        preprocess=preprocess,
    )


def strategy_info(cell: Cell, plugin: str, ckpt: Checkpoint | None, transfer: dict[str, list[str]]) -> StrategyInfo:
    return StrategyInfo(
        name=cell.strategy,
        plugin=plugin,
        corpus=cell.corpus,
        corpus_datasets=ckpt.datasets if ckpt else [],
        excluded=ckpt.excluded if ckpt else [],
        checkpoint=Path(ckpt.path).name if ckpt else None,
        transfer=transfer,
    )


def training_info(fit: FitResult | None) -> TrainingInfo | None:
    """The record's ``training``: the fields of the fit it names (every one is a FitResult field)."""
    if fit is None:
        return None
    return TrainingInfo(**{name: getattr(fit, name) for name in TrainingInfo.model_fields})

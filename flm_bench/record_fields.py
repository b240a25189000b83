"""The record the runner writes for a cell (:func:`cell_record`), and its parts built from what the cell
used: dataset, evaluation, reference levels, strategy, training, target fraction and the metrics of the
test set's slices."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flm_bench.data.table import InteractionData
from flm_bench.data.transfer import COLD_START_ITEMS, cold_item_users
from flm_bench.levels import scaled_cutoffs, split_levels
from flm_bench.params import ModelParams, StrategyParams
from flm_bench.plan import Cell
from flm_bench.plugins import Plugins
from flm_bench.recommender import ReadsText
from flm_bench.results.records import (
    ARTIFACTS,
    AblationInfo,
    Artifacts,
    Cost,
    DatasetInfo,
    EvaluationInfo,
    Levels,
    ModelInfo,
    Record,
    SliceResult,
    SplitInfo,
    StrategyInfo,
    TargetFraction,
    TrainingInfo,
)
from flm_bench.results.slices import slice_key
from flm_bench.suite import EvalConfig, Suite

if TYPE_CHECKING:
    from flm_bench.data.splits import Split
    from flm_bench.train.loop import FitResult
    from flm_bench.train.pretraining import Checkpoint
    from flm_bench.train.strategy import StrategyResult

TIE_RULE = "score descending, then item index ascending (indices carry no order information)"


def cell_record(
    suite: Suite,
    plugins: Plugins,
    cell: Cell,
    rid: str,
    data: InteractionData,
    split: Split,
    params: ModelParams,
    strategy_params: StrategyParams,
    ckpt: Checkpoint | None,
    result: StrategyResult,
    cost: Cost,
    metrics: dict[str, float],
) -> Record:
    """``cell``'s record from what it used (data, split, its model's and strategy's parameters,
    checkpoint), what adapting gave (``result``), its ``cost`` and test ``metrics``."""
    from flm_bench.results.provenance import provenance

    mentry, sentry = plugins.models.entry(cell.model), plugins.strategies.entry(cell.strategy)
    return Record(
        record_id=rid,
        suite=suite.name,
        dataset=dataset_info(data, suite.preprocess.model_dump(exclude_defaults=True)),
        split=SplitInfo(
            protocol=split.protocol, params=split.params, derived=split.derived, fingerprint=split.fingerprint
        ),
        model=ModelInfo(
            name=cell.model,
            plugin=mentry.plugin,
            parameters=params.identity(),
            item_representation=mentry.spec.item_representation,
            text_encoder=result.model.text_encoder if isinstance(result.model, ReadsText) else None,
            ablation=AblationInfo(**asdict(mentry.spec.ablation)) if mentry.spec.ablation else None,
        ),
        strategy=strategy_info(cell, sentry.plugin, ckpt, result.transfer, strategy_params),
        seed=cell.seed,
        evaluation=evaluation_info(suite.evaluation, split.n_items, len(split.test), TIE_RULE),
        metrics=metrics,
        training=training_info(result.fit),
        strategy_metrics=result.metrics,
        cost=cost,
        provenance=provenance(plugins.distributions(), plugins.modules()),
        artifacts=Artifacts(**ARTIFACTS),
    )


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


def evaluation_info(evaluation: EvalConfig, n_items: int, users: int, tie_rule: str) -> EvaluationInfo:
    return EvaluationInfo(
        exclude_history=evaluation.exclude_history,
        tie_rule=tie_rule,
        users=users,
        metrics=evaluation.names_for(n_items),
        scaled_cutoffs=scaled_cutoffs(n_items, evaluation.cutoffs),
    )


def levels(split: Split, names: list[str], exclude_history: bool) -> Levels:
    """The random and popularity levels of ``names`` on ``split``'s test users (:mod:`flm_bench.levels`)."""
    random, popularity = split_levels(split, names, exclude_history=exclude_history)
    return Levels(random=random, popularity=popularity)


def strategy_info(
    cell: Cell, plugin: str, ckpt: Checkpoint | None, transfer: dict[str, list[str]], params: StrategyParams
) -> StrategyInfo:
    return StrategyInfo(
        name=cell.strategy,
        plugin=plugin,
        corpus=cell.corpus,
        corpus_datasets=ckpt.datasets if ckpt else [],
        excluded=ckpt.excluded if ckpt else [],
        checkpoint=Path(ckpt.path).name if ckpt else None,
        transfer=transfer,
        parameters=params.model_dump(),
    )


def training_info(fit: FitResult | None) -> TrainingInfo | None:
    """The record's ``training``: the fields of the fit it names (every one is a FitResult field)."""
    if fit is None:
        return None
    return TrainingInfo(**{name: getattr(fit, name) for name in TrainingInfo.model_fields})


def fraction_info(used: Split, full: Split, fraction: float, suite: Suite) -> TargetFraction:
    """The record's ``target_fraction``: the share of ``full``'s training users the ``used`` split kept."""
    return TargetFraction(
        fraction=fraction,
        seed=suite.protocol.fraction_seed,
        training_users=len(used.train),
        of_users=len(full.train),
    )


def slices_info(split: Split, per_user: dict[str, np.ndarray]) -> dict[str, SliceResult]:
    """The record's ``slices``: the cold-start-item users of ``split``'s test set and their mean
    metrics (none when there is no such user)."""
    mask = cold_item_users(split)
    n = int(mask.sum())
    metrics = {name: float(v[mask].mean()) for name, v in per_user.items()} if n else {}
    return {COLD_START_ITEMS: SliceResult(users=n, metrics=metrics)}


def slice_members(split: Split) -> dict[str, np.ndarray]:
    """Each slice's test users as ``per_user.npz`` marks them (:func:`flm_bench.results.slices.slice_key`
    -> a boolean per test user), so a board can measure gains on the slice."""
    return {slice_key(COLD_START_ITEMS): cold_item_users(split)}

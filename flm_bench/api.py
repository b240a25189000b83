"""The plugin API: everything a plugin needs, from one import.

    from flm_bench.api import DatasetSpec, ModelSpec, ModelParams, BuildInputs, hookimpl

Importing this module does not import torch: the torch-backed names (``NeuralRecommender``,
``FitResult``, ``ItemTable``, …) are imported on first use, so import them inside your
``build``/``adapt`` functions, or in a module that only those functions import.

What is here, by what you are writing:

- any plugin: :data:`hookimpl` (mark the hook functions of :mod:`flm_bench.hookspecs`), the
  errors to raise (:class:`ConfigError` for bad parameters or settings, :class:`DataError`
  for bad data);
- a dataset: :class:`DatasetSpec`; :func:`canonical` + :func:`files_dataset` for a dataset
  read from declared files (:class:`SourceFile`: path, sha256, size, url), or
  :func:`build_table` + :func:`from_table` for anything else; :class:`InteractionData`,
  :data:`SIDE_KEYS` (side data a model may use), :class:`DataLocation` (where ``load`` finds
  the user's files);
- a corpus: :class:`CorpusSpec`;
- a model: :class:`ModelSpec` (:class:`Ablation`: the model it is without one ingredient),
  :class:`ModelParams` (+ :func:`tunable`, :class:`Search`; :func:`added` for a field added
  later that must keep old record ids), :class:`BuildInputs` (what ``build``
  gets), :class:`Recommender` / :class:`FittableRecommender`
  (what it returns, for a model fitted in one call; :class:`CountsParameters` to report its
  size), :class:`NeuralRecommender` for a pretrainable torch model (the harness trains it),
  :class:`SelfBatchingRecommender` for a torch model that draws its own training batches (a
  graph model: the harness trains and early-stops it too, under ``scratch`` only),
  :class:`PreparesForTest` (a model that reads the test histories once before test scoring),
  :class:`Sequences` (what ``fit`` gets), :class:`ItemTable` / :class:`QueryHead` (shared layers),
  :mod:`text_encoder` (item text as sentence embeddings, with the ``text`` extra) and
  :class:`ReadsText` (say in the record what encoded the text);
- a strategy: :class:`StrategySpec`, :class:`StrategyParams` (its parameters, + :func:`tunable`),
  :class:`AdaptContext` (what ``adapt`` gets),
  :class:`StrategyResult` (what it returns), :class:`FitResult`, and the evaluation helpers a
  strategy that measures as it adapts uses (:func:`evaluate`, :func:`rank_batch`, :func:`depth`,
  :func:`per_user_metrics`, :func:`seed_everything`, :func:`subsample`);
- :func:`popularity_counts`: training-interaction counts, the ``popularity`` baseline's scores and
  the popularity level every record carries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flm_bench.data import text_encoder
from flm_bench.data.sources import DataLocation, SourceFile, fetch, open_text, sha256_of
from flm_bench.data.splits import EvalSet, Sequences, Split
from flm_bench.data.table import (
    SIDE_KEYS,
    InteractionData,
    build_table,
    canonical,
    epoch_seconds,
    from_table,
    index_ids,
)
from flm_bench.errors import ConfigError, DataError, FlmBenchError
from flm_bench.evaluation import depth, evaluate, per_user_metrics, rank_batch
from flm_bench.file_datasets import Parser, files_dataset
from flm_bench.hookspecs import hookimpl
from flm_bench.levels import popularity_counts
from flm_bench.params import ModelParams, NoParams, Search, StrategyParams, added, tunable
from flm_bench.recommender import (
    BuildInputs,
    CountsParameters,
    FittableRecommender,
    PreparesForTest,
    ReadsText,
    Recommender,
)
from flm_bench.specs import DOMAINS, Ablation, CorpusSpec, DatasetSpec, Domain, ModelSpec
from flm_bench.suite import TrainConfig
from flm_bench.train.strategy import AdaptContext, StrategyMetrics, StrategyResult, StrategySpec

if TYPE_CHECKING:
    from flm_bench.train.layers import ItemTable, QueryHead
    from flm_bench.train.loop import FitResult, seed_everything, subsample
    from flm_bench.train.neural import NeuralRecommender, SelfBatchingRecommender, pad

#: torch-backed names, imported on first access
_LAZY = {
    "NeuralRecommender": "flm_bench.train.neural",
    "SelfBatchingRecommender": "flm_bench.train.neural",
    "pad": "flm_bench.train.neural",
    "FitResult": "flm_bench.train.loop",
    "seed_everything": "flm_bench.train.loop",
    "subsample": "flm_bench.train.loop",
    "ItemTable": "flm_bench.train.layers",
    "QueryHead": "flm_bench.train.layers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flm_bench.api' has no attribute {name!r}")


__all__ = [
    "DOMAINS",
    "SIDE_KEYS",
    "Ablation",
    "AdaptContext",
    "BuildInputs",
    "ConfigError",
    "CorpusSpec",
    "CountsParameters",
    "DataError",
    "DataLocation",
    "DatasetSpec",
    "Domain",
    "EvalSet",
    "FitResult",
    "FittableRecommender",
    "FlmBenchError",
    "InteractionData",
    "ItemTable",
    "ModelParams",
    "ModelSpec",
    "NeuralRecommender",
    "NoParams",
    "Parser",
    "PreparesForTest",
    "QueryHead",
    "ReadsText",
    "Recommender",
    "Search",
    "SelfBatchingRecommender",
    "Sequences",
    "SourceFile",
    "Split",
    "StrategyMetrics",
    "StrategyParams",
    "StrategyResult",
    "StrategySpec",
    "TrainConfig",
    "added",
    "build_table",
    "canonical",
    "depth",
    "epoch_seconds",
    "evaluate",
    "fetch",
    "files_dataset",
    "from_table",
    "hookimpl",
    "index_ids",
    "open_text",
    "pad",
    "per_user_metrics",
    "popularity_counts",
    "rank_batch",
    "seed_everything",
    "sha256_of",
    "subsample",
    "text_encoder",
    "tunable",
]

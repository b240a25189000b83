"""What plugins register: one typed spec per kind of thing.

Specs are cheap to build: anything heavy (torch, data files) hides behind a factory
callable that the harness calls only when the thing is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from flm_bench.data.table import InteractionData
    from flm_bench.data.sources import SourceFile
    from flm_bench.train.model import Recommender
    from flm_bench.train.strategy import Strategy

ItemRepresentation = Literal["ids", "features", "ids+features", "none"]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: interactions of one domain, loaded on demand by ``load``.

    Real datasets declare their ``files`` (where they come from, with checksums: see
    :mod:`flm_bench.data.sources`), the terms they are published under and how to cite them.
    """

    name: str
    domain: str
    load: Callable[[], InteractionData]
    description: str = ""
    synthetic: bool = False
    files: tuple[SourceFile, ...] = ()
    license: str = ""
    citation: str = ""
    source: str = ""  # where the files were published (repository, commit, preprocessing)


@dataclass(frozen=True)
class CorpusSpec:
    """A named set of datasets used as general data for pretraining."""

    name: str
    datasets: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """A model variant.

    ``build(n_items, item_features, params, side)`` returns a :class:`flm_bench.train.model.Recommender`;
    ``side`` holds the dataset's side data (keys of :data:`flm_bench.data.table.SIDE_KEYS`).
    ``pretrainable`` models are neural (a :class:`flm_bench.train.model.NeuralRecommender`) and can
    take an encoder state from a pretraining checkpoint; the others are fitted directly and
    run only under the ``scratch`` strategy. ``item_representation`` tells the harness what
    can transfer between catalogues whose item IDs do not match.
    """

    name: str
    build: Callable[..., Recommender]
    pretrainable: bool
    item_representation: ItemRepresentation
    defaults: Mapping[str, Any] = field(default_factory=dict)
    objectives: tuple[str, ...] = ("next-item",)  # pretraining objectives the model implements
    description: str = ""


@dataclass(frozen=True)
class StrategySpec:
    """An adaptation strategy: how a (possibly pretrained) encoder meets the target."""

    name: str
    build: Callable[[], Strategy]
    needs_pretraining: bool
    description: str = ""

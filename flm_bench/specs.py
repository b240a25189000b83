"""What plugins register: one typed spec per kind of thing (strategies: :mod:`flm_bench.train.strategy`).

Specs are cheap to build: anything heavy (torch, data files) hides behind a factory
callable that the harness calls only when the thing is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from flm_bench.errors import ConfigError
from flm_bench.params import ModelParams, NoParams

if TYPE_CHECKING:
    from flm_bench.data.sources import DataLocation, SourceFile
    from flm_bench.data.table import InteractionData
    from flm_bench.recommender import BuildInputs, Recommender

ItemRepresentation = Literal["ids", "features", "ids+features", "none"]
Domain = Literal["ecommerce", "social", "media", "finance", "other"]
#: The closed list of domains a dataset may belong to; "other": data that fits none of the four.
DOMAINS: tuple[Domain, ...] = get_args(Domain)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: interactions of one domain, loaded on demand by ``load(location)``.

    Real datasets declare their ``files`` (where they come from, with checksums: see
    :mod:`flm_bench.data.sources`), the terms they are published under and how to cite them.
    """

    name: str
    domain: Domain
    load: Callable[[DataLocation], InteractionData]  # gets where the user keeps data files
    description: str = ""
    synthetic: bool = False
    files: tuple[SourceFile, ...] = ()
    license: str = ""
    citation: str = ""
    source: str = ""  # where the files were published (repository, commit, preprocessing)
    family: str = ""  # the raw data it derives from; datasets of one family never pretrain for each other
    #: where the source's raw user / item ids (side data ``user_ids`` / ``item_ids``) mean the same
    #: person or thing across datasets, e.g. "amazon-reviewer" / "amazon-asin"; "" for a dataset's
    #: own numbering. Datasets sharing a space are checked for overlapping ids before pretraining.
    user_id_space: str = ""
    item_id_space: str = ""

    @property
    def source_family(self) -> str:
        """The raw data this dataset derives from (``family``, default: its own name)."""
        return self.family or self.name

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ConfigError(f"dataset {self.name!r}: domain {self.domain!r} is not one of {', '.join(DOMAINS)}")

    def load_data(self, location: DataLocation | None = None) -> InteractionData:
        """``load`` at ``location`` (default: :meth:`DataLocation.from_env`)."""
        from flm_bench.data.sources import DataLocation

        return self.load(location or DataLocation.from_env())


@dataclass(frozen=True)
class CorpusSpec:
    """A named set of datasets used as general data for pretraining."""

    name: str
    datasets: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Ablation:
    """A model's ablation: the registered model ``model`` is this one with ``removes`` taken away (e.g.
    ``lightgcn`` is ``sociallgn`` without "the social graph"); boards measure the one against the other."""

    model: str
    removes: str


@dataclass(frozen=True)
class ModelSpec:
    """A model variant.

    ``build(inputs)`` gets a :class:`~flm_bench.recommender.BuildInputs` (catalogue size, item
    features, side data, the validated ``params``, the cell's seed and device) and returns a
    :class:`~flm_bench.recommender.Recommender`; import torch inside it, never at module level.
    ``pretrainable`` models are neural (a :class:`flm_bench.train.neural.NeuralRecommender`,
    checked when built) and can take an encoder state from a pretraining checkpoint; the others
    are fitted directly and run only under the ``scratch`` strategy. ``item_representation``
    tells the harness what can transfer between catalogues whose item IDs do not match; an
    ``ablation`` names the model that is this one without one ingredient (its records carry it).
    """

    name: str
    build: Callable[[BuildInputs[Any]], Recommender]
    pretrainable: bool
    item_representation: ItemRepresentation
    params: type[ModelParams] = NoParams
    objectives: tuple[str, ...] = ("next-item",)  # pretraining objectives the model implements
    description: str = ""
    ablation: Ablation | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        """Every parameter at its default."""
        return self.params().model_dump()

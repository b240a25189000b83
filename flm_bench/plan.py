"""Planning a suite: its cells (dataset × model × strategy × corpus × target fraction × seed), every
name resolved first so that a typo fails before any work, and the record id each cell writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flm_bench.data.table import fingerprint
from flm_bench.errors import ConfigError
from flm_bench.params import parse_params
from flm_bench.plugins import Plugins
from flm_bench.suite import Suite

#: The longest record id: it names a folder, and publish accepts no longer one.
MAX_ID_LENGTH = 120


@dataclass(frozen=True)
class Cell:
    """One (dataset, model, strategy, corpus, seed, target fraction) combination of a suite."""

    dataset: str
    model: str
    strategy: str
    corpus: str | None
    seed: int
    fraction: float = 1.0  # share of the target's training users kept (docs/transfer.md)

    def record_id(
        self,
        suite: Suite,
        params: dict[str, Any],
        content: Sequence[str],
        tuning: dict[str, Any] | None = None,
        strategy_params: dict[str, Any] | None = None,
    ) -> str:
        """Names the cell and hashes everything that shapes its result: the settings, the model's
        merged parameters (a plugin changing its defaults must not reuse old records), the
        ``content`` fingerprints of the data it uses (target data, split, corpus datasets), so a
        record made from other data is never taken for this cell's, and its ``tuning`` (tuned
        parameters and their study; an untuned cell's id is what it was before tuning existed), its
        target fraction with its seed (at 1.0 the id is what it was before fractions existed), and
        the strategy's parameters that differ from their defaults (none: the id strategies had
        before they had parameters)."""
        fraction = {"target_fraction": self.fraction, "seed": suite.protocol.fraction_seed}
        config = fingerprint(
            suite.preprocess.model_dump(exclude_defaults=True) or None,
            suite.split_for(self.dataset).model_dump(),
            suite.evaluation.model_dump(),
            suite.training_for(self.model).model_dump(exclude={"device"}),
            suite.pretraining.identity() if self.corpus else None,
            params,
            list(content),
            *([tuning] if tuning is not None else []),
            *([fraction] if self.fraction != 1.0 else []),
            *([{"strategy_params": strategy_params}] if strategy_params else []),
        )[:10]
        corpus = f"__{self.corpus}" if self.corpus else ""
        part = f"__f{self.fraction:g}" if self.fraction != 1.0 else ""
        rid = f"{suite.name}__{self.dataset}__{self.model}__{self.strategy}{corpus}{part}__seed{self.seed}__{config}"
        if len(rid) > MAX_ID_LENGTH:
            raise ConfigError(
                f"the record id {rid!r} has {len(rid)} characters, more than the {MAX_ID_LENGTH} a folder "
                "name may have here: shorten the suite, dataset, model, strategy or corpus name"
            )
        return rid


def add_csv_datasets(suite: Suite, plugins: Plugins) -> None:
    """Register the suite's own CSV datasets (``[csv.NAME]``) beside the plugins' datasets."""
    from flm_bench.file_datasets import csv_dataset

    for name, cfg in suite.csv.items():
        plugins.datasets.register_local(csv_dataset(name, cfg), f"suite {suite.name!r}")


def plan(suite: Suite, plugins: Plugins) -> list[Cell]:
    """All cells of ``suite``; every name is resolved first, so typos fail before any work."""
    for name in suite.targets:
        plugins.datasets.get(name)
    for name in suite.corpora:
        for member in plugins.corpora.get(name).datasets:
            plugins.datasets.get(member)
    models = {m: plugins.models.get(m) for m in suite.models}
    strategies = {s: plugins.strategies.get(s) for s in suite.strategies}
    for m in suite.model_params:
        if m not in models:
            raise ConfigError(f"model_params.{m}: model {m!r} is not in the suite's models {suite.models}")
    for s in suite.strategy_params:
        if s not in strategies:
            raise ConfigError(
                f"strategy_params.{s}: strategy {s!r} is not in the suite's strategies {suite.strategies}"
            )
    for m, spec in models.items():
        parse_params(m, spec.params, suite.model_params.get(m, {}))
    for s, sspec in strategies.items():
        parse_params(s, sspec.params, suite.strategy_params.get(s, {}), "strategy")
    for t in suite.tuned:
        named = t.dataset in suite.targets and t.model in models and t.strategy in strategies
        if not named or (t.corpus and t.corpus not in suite.corpora):
            raise ConfigError(f"tuned: the entry for {'/'.join(t.key)} names no cell of the suite")
        parse_params(t.model, models[t.model].params, {**suite.model_params.get(t.model, {}), **t.model_params})
        own = {**suite.strategy_params.get(t.strategy, {}), **t.strategy_params}
        parse_params(t.strategy, strategies[t.strategy].params, own, "strategy")
    objective = suite.pretraining.objective
    for m, spec in models.items():
        if spec.pretrainable and objective not in spec.objectives:
            raise ConfigError(
                f"pretraining.objective: model {m!r} has no objective {objective!r}; "
                f"expected one of {list(spec.objectives)}"
            )
    needs_corpus = [s for s, spec in strategies.items() if spec.needs_pretraining]
    if needs_corpus and not suite.corpora and any(m.pretrainable for m in models.values()):
        raise ConfigError(f"strategies {needs_corpus} need pretraining, but the suite lists no corpora")
    cells: list[Cell] = []
    for target in suite.targets:
        for m, mspec in models.items():
            for s, sspec in strategies.items():
                if sspec.needs_pretraining and not mspec.pretrainable:
                    continue  # non-neural references run as controls only
                for corpus in suite.corpora if sspec.needs_pretraining else [None]:
                    for fraction in suite.protocol.target_fractions:
                        cells.extend(Cell(target, m, s, corpus, seed, fraction) for seed in suite.seeds)
    if not cells:
        raise ConfigError(
            f"the suite has no cell to run: the strategies {list(strategies)} all need pretraining, "
            f"and none of the models {list(models)} is pretrainable"
        )
    return cells

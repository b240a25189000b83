"""A model against its ablation: the same model with one ingredient removed (``sociallgn`` against
``lightgcn``, which is it without the social graph).

A model's plugin names its ablation (:class:`flm_bench.specs.Ablation`) and every record of the
model carries it (``model.ablation``). The board measures each row of such a model against the row
of its ablation that shares everything else (suite, dataset, split, strategy, corpus, tuning, target
fraction): model − ablation with the test user as the unit, exactly as a transfer gain
(:func:`~flm_bench.results.stats.measure_gain`), the p-values Holm-adjusted in a family of their own
(every ablation gain summarized together). A difference where the epoch cap (or the time budget)
stopped either side on some seed compares unfinished trainings and is never marked significant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from flm_bench.results.records import AblationInfo, CellKey
from flm_bench.results.stats import ALPHA, Gain, SeedScores, holm, measure_gain

#: seed -> (users, per-user scores) of one row's records for one metric.
Scores = Callable[[CellKey, str], Mapping[int, SeedScores]]


@dataclass
class AblationGain:
    """A row's model minus its ablation's, per metric."""

    model: str  # the ablation's model
    removes: str  # what the ablation lacks
    gain: dict[str, Gain]
    capped: bool  # a seed of either side was stopped by the cap or the time budget: not converged
    p_value: dict[str, float] = field(default_factory=dict)  # Holm-adjusted among the ablation gains

    def significant(self, metric: str) -> bool:
        """Holm-adjusted p below :data:`ALPHA`, both sides converged on every seed."""
        p = self.p_value.get(metric)
        return p is not None and p < ALPHA and not self.capped


class AblatedRow(Protocol):
    """What :func:`measure_ablations` reads and sets of a board row (:class:`flm_bench.results.summary.Row`)."""

    ablation: AblationGain | None

    @property
    def key(self) -> CellKey: ...
    @property
    def metrics(self) -> Mapping[str, object]: ...
    @property
    def capped_seeds(self) -> int: ...
    @property
    def declared_ablation(self) -> AblationInfo | None:
        """What the row's records say its model's ablation is."""


def measure_ablations(rows: Mapping[CellKey, AblatedRow], scores: Scores) -> None:
    """Set ``ablation`` on every row whose model names an ablation that has a row of its own here;
    Holm-adjust all their p-values together."""
    measured: list[AblationGain] = []
    for key, row in rows.items():
        info = row.declared_ablation
        if info is None or (other := replace(key, model=info.model)) not in rows:
            continue
        names = (other.label(), key.label())
        metrics = [m for m in row.metrics if m in rows[other].metrics]
        gains = {m: measure_gain(scores(other, m), scores(key, m), names=names) for m in metrics}
        row.ablation = AblationGain(info.model, info.removes, gains, bool(row.capped_seeds or rows[other].capped_seeds))
        measured.append(row.ablation)
    tested = [(a, m) for a in measured for m in a.gain]
    for (a, m), p in zip(tested, holm([a.gain[m].p_value for a, m in tested])):
        a.p_value[m] = p

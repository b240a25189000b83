"""Board rows from records: one :class:`Row` per cell, with its transfer gain over the control.

A row is every seed of one cell (:class:`~flm_bench.results.records.CellKey`): mean ± std
(ddof = 1) of each metric over seeds. A strategy's transfer gain is metric(strategy) −
metric(scratch) for the same suite, dataset, split, model and target fraction (records of
different suites never share a row: their budgets differ), measured with the test user as the unit
(:func:`flm_bench.results.stats.measure_gain`): each user's score averaged over a side's seeds,
a paired two-sided t-test across users, a bootstrap CI, and the per-seed gains of the seeds
both sides have. p-values of all gains summarized together are adjusted with Holm–Bonferroni.

A row's gain on a slice of the test users (cold-start items) is measured the same way on the slice's
users (:mod:`flm_bench.results.slices`), where every record of both sides marks them and they are
the same users; its p-values are Holm-adjusted in a family of their own (all slice gains summarized).
A row of a model that names an ablation also gets its gain over the ablation's row
(:mod:`flm_bench.results.ablation`), in a third family.

Every consumer (the terminal board of ``run``, ``compare``, ``publish``, the rendered boards)
reads these rows; :meth:`Row.to_json` is the one JSON shape of a row (format :data:`FORMAT`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from flm_bench.errors import IncomparableError
from flm_bench.results import levels
from flm_bench.results.ablation import AblationGain, measure_ablations
from flm_bench.results.records import CONTROL, AblationInfo, CellKey, Record, per_user_scores
from flm_bench.results.seeds import check_seeds
from flm_bench.results.slices import NOT_STORED, slice_scores
from flm_bench.results.stats import ALPHA, Gain, SeedScores, holm, measure_gain

RecordFile = tuple[Path, Record]
_Cache = dict[Path, dict[str, np.ndarray]]  # a record file -> its per-user arrays
#: The version of the JSON shape of rows and gains (``leaderboard.json``, ``run --json``, ``compare --json``).
FORMAT = "flm-bench.board/2"


@dataclass(frozen=True)
class Stat:
    """Mean and standard deviation (ddof = 1) over seeds; ``std`` is None for one seed."""

    mean: float
    std: float | None


def json_number(x: float, places: int = 6) -> float:
    """``x`` rounded for JSON output (``-0.0`` becomes ``0.0``)."""
    return float(round(x, places)) + 0.0


def json_p(p: float) -> float:
    """A p-value with four significant digits, for JSON output."""
    return float(f"{p:.4g}")


def _json_or_none(x: float | None, places: int = 6) -> float | None:
    return None if x is None else json_number(x, places)


def _stat_json(s: Stat) -> dict[str, Any]:
    return {"mean": json_number(s.mean), "std": _json_or_none(s.std)}


def gain_json(gain: Gain, p_holm: float | None, significant: bool, saturated: bool | None = None) -> dict[str, Any]:
    """A gain as JSON data: in rows (``leaderboard.json``) and in ``compare --json``; ``saturated``
    (:func:`flm_bench.results.levels.saturated`) only where the records carry levels."""
    return {
        "mean": json_number(gain.mean),
        "relative_percent": _json_or_none(gain.relative, 3),
        "ci95": [json_number(gain.ci[0]), json_number(gain.ci[1])],
        "p_holm": None if p_holm is None else json_p(p_holm),
        "significant": significant,
        "users": gain.users,
        "per_seed": {
            "seeds": list(gain.seeds),
            "gains": [json_number(g) for g in gain.per_seed],
            "std": _json_or_none(gain.seed_std),
            "agreeing": gain.agreeing,
        },
        **({} if saturated is None else {"saturated": saturated}),
    }


@dataclass(frozen=True)
class SliceStat:
    """A slice of the test users (e.g. cold-start items) over seeds: its users (the same for every
    seed: a slice depends on the split and the target fraction only) and each metric's mean and std."""

    users: int
    metrics: dict[str, Stat]

    def to_json(self) -> dict[str, Any]:
        return {"users": self.users, "metrics": {m: _stat_json(s) for m, s in sorted(self.metrics.items())}}


@dataclass
class Row:
    """One cell of a board: its key, what describes it, its metrics over seeds, its gain."""

    key: CellKey
    domain: str
    synthetic: bool
    split_protocol: str
    model_plugin: str
    strategy_plugin: str
    seeds: list[int]
    record_ids: list[str]
    exclude_history: bool
    metrics: dict[str, Stat]
    gain: dict[str, Gain] = field(default_factory=dict)  # over the control
    p_value: dict[str, float] = field(default_factory=dict)  # Holm-adjusted
    pretrain_seconds: float = 0.0  # means over seeds
    adapt_seconds: float = 0.0
    trainable_parameters: int = 0
    capped_seeds: int = 0  # seeds whose training the epoch cap ended (not converged)
    control_capped_seeds: int = 0  # the same for the control its gain is measured against
    slices: dict[str, SliceStat] = field(default_factory=dict)  # by name; none in records before schema 5
    levels: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> (random, popularity)
    levels_from: str | None = None  # the suite whose records gave the levels, when the row's own predate them
    scaled_cutoffs: list[int] = field(default_factory=list)  # cutoffs added for a small catalogue
    slice_gain: dict[str, dict[str, Gain]] = field(default_factory=dict)  # slice -> metric -> gain
    slice_p: dict[str, dict[str, float]] = field(default_factory=dict)  # Holm-adjusted among slice gains
    slice_skipped: dict[str, str] = field(default_factory=dict)  # slice -> why it has no gain
    declared_ablation: AblationInfo | None = None  # the model's ablation, as its records name it
    ablation: AblationGain | None = None  # the gain over that ablation's row, where it has one

    @property
    def is_control(self) -> bool:
        return self.key.strategy == CONTROL

    def significant(self, metric: str) -> bool:
        """Holm-adjusted p below :data:`ALPHA`, over a control that converged on every seed (a gain
        over a control the epoch cap stopped is never marked significant)."""
        return metric in self.p_value and self.p_value[metric] < ALPHA and not self.control_capped_seeds

    def slice_significant(self, name: str, metric: str) -> bool:
        """:meth:`significant` for the gain on the slice ``name`` (its own Holm family)."""
        p = self.slice_p.get(name, {}).get(metric)
        return p is not None and p < ALPHA and not self.control_capped_seeds

    def _slice_json(self, name: str) -> dict[str, Any]:
        """A slice as JSON data, with the row's gain on it (``gain``) or why it has none (``gain_skipped``)."""
        out = self.slices[name].to_json()
        if name in self.slice_gain:
            out["gain"] = {
                m: gain_json(g, self.slice_p[name].get(m), self.slice_significant(name, m))
                for m, g in sorted(self.slice_gain[name].items())
            }
        if name in self.slice_skipped:
            out["gain_skipped"] = self.slice_skipped[name]
        return out

    def saturated(self, metric: str) -> bool | None:
        """Whether popularity already takes most of the headroom in ``metric`` (None: no levels)."""
        return levels.saturated(*self.levels[metric]) if metric in self.levels else None

    def lift(self, metric: str) -> float | None:
        """The metric's mean over the popularity level (None: no levels, or popularity scores 0)."""
        return levels.lift(self.metrics[metric].mean, self.levels[metric][1]) if metric in self.levels else None

    def _levels_json(self) -> dict[str, Any]:
        if not self.levels:
            return {}
        rows = {
            m: {
                "random": json_number(r),
                "popularity": json_number(p),
                "lift": _json_or_none(self.lift(m)),
                "saturated": self.saturated(m),
            }
            for m, (r, p) in sorted(self.levels.items())
        }
        borrowed = {"levels_from": self.levels_from} if self.levels_from else {}
        return {"levels": rows, **borrowed, "scaled_cutoffs": self.scaled_cutoffs}

    def to_json(self) -> dict[str, Any]:
        """The row as JSON data: the shape of ``leaderboard.json``, ``run --json`` and ``compare --json``."""
        return {
            "kind": "measured",
            "domain": self.domain,
            "suite": self.key.suite,
            "dataset": self.key.dataset,
            "synthetic": self.synthetic,
            "split": self.split_protocol,
            "split_fingerprint": self.key.split,
            "model": self.key.model,
            "model_plugin": self.model_plugin,
            "strategy": self.key.strategy,
            "strategy_plugin": self.strategy_plugin,
            "corpus": self.key.corpus,
            **({"tuned": True} if self.key.tuned else {}),  # parameters from `flm-bench tune`
            **({"target_fraction": self.key.fraction} if self.key.fraction != 1.0 else {}),
            "seeds": self.seeds,
            "exclude_history": self.exclude_history,
            "metrics": {m: _stat_json(s) for m, s in sorted(self.metrics.items())},
            **({"slices": {n: self._slice_json(n) for n in sorted(self.slices)}} if self.slices else {}),
            "gain": {
                m: gain_json(g, self.p_value.get(m), self.significant(m), self.saturated(m))
                for m, g in sorted(self.gain.items())
            },
            "cost": {
                "pretrain_seconds": json_number(self.pretrain_seconds, 3),
                "adapt_seconds": json_number(self.adapt_seconds, 3),
                "trainable_parameters": self.trainable_parameters,
            },
            "capped_seeds": self.capped_seeds,
            "control_capped_seeds": self.control_capped_seeds,
            "records": self.record_ids,
            **self._levels_json(),  # only where the records carry levels (schema 5)
            **({"ablation": self._ablation_json(self.ablation)} if self.ablation else {}),
        }

    @staticmethod
    def _ablation_json(a: AblationGain) -> dict[str, Any]:
        gains = {m: gain_json(g, a.p_value.get(m), a.significant(m)) for m, g in sorted(a.gain.items())}
        return {"model": a.model, "removes": a.removes, "capped": a.capped, "gain": gains}


def _stat(values: list[float]) -> Stat:
    return Stat(float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None)


def _row(key: CellKey, recs: list[Record], names: list[str] | None) -> Row:
    check_seeds(recs, f"{key.label()} on {key.dataset}")
    first = recs[0]
    metrics = {n: _stat([r.metrics[n] for r in recs]) for n in (names or list(first.metrics)) if n in first.metrics}
    return Row(
        key=key,
        domain=first.dataset.domain,
        synthetic=first.dataset.synthetic,
        split_protocol=first.split.protocol,
        model_plugin=first.model.plugin,
        strategy_plugin=first.strategy.plugin,
        seeds=[r.seed for r in recs],
        record_ids=[r.record_id for r in recs],
        exclude_history=all(r.evaluation.exclude_history for r in recs),
        metrics=metrics,
        pretrain_seconds=float(np.mean([r.cost.pretrain_seconds for r in recs])),
        adapt_seconds=float(np.mean([r.cost.adapt_seconds for r in recs])),
        trainable_parameters=first.cost.trainable_parameters,
        capped_seeds=sum(capped(r) is True for r in recs),
        slices={name: _slice(name, recs) for name in first.slices},
        levels=_levels(recs, metrics),
        scaled_cutoffs=first.evaluation.scaled_cutoffs,
        declared_ablation=first.model.ablation,
    )


def _slice(name: str, recs: list[Record]) -> SliceStat:
    """The slice ``name`` of a row's records: its users, and each metric over the seeds that have it."""
    parts = [r.slices[name] for r in recs if name in r.slices]
    names = [m for m in parts[0].metrics if all(m in p.metrics for p in parts)]
    return SliceStat(parts[0].users, {m: _stat([p.metrics[m] for p in parts]) for m in names})


def _levels(recs: list[Record], metrics: dict[str, Stat]) -> dict[str, tuple[float, float]]:
    """metric -> (random, popularity) of the row's ``metrics``, means over the seeds (equal on one
    split); empty unless every seed carries levels."""
    if any(r.levels is None for r in recs):
        return {}
    names = {*metrics}.intersection(*({*r.levels.random} & {*r.levels.popularity} for r in recs if r.levels))
    return {
        m: (
            float(np.mean([r.levels.random[m] for r in recs if r.levels])),
            float(np.mean([r.levels.popularity[m] for r in recs if r.levels])),
        )
        for m in sorted(names)
    }


def capped(record: Record) -> bool | None:
    """Whether a budget, the epoch cap or ``max_seconds``, ended the record's training before
    patience did (not converged); ``None``: cannot tell.

    Records before schema 3 do not say; there, a best epoch that is the last of several means no
    patience stop happened (patience needs an epoch without gain after the best), so the cap ended it.
    """
    t = record.training
    if t is None:  # no gradient training (popularity, itemknn): nothing to converge
        return False
    if t.stopped_by is not None:
        return t.stopped_by in ("cap", "time")
    return True if t.epochs > 1 and t.best_epoch == t.epochs else None


def _arrays(members: list[RecordFile], cache: _Cache) -> list[tuple[Record, dict[str, np.ndarray]]]:
    """Each record of one cell with its per-user arrays; files read once per ``cache``."""
    for path, rec in members:
        if path not in cache:
            cache[path] = per_user_scores(path, rec)
    return [(rec, cache[path]) for path, rec in members]


def _scores(members: list[RecordFile], metric: str, cache: _Cache) -> dict[int, SeedScores]:
    """seed -> (users, per-user scores of ``metric``) of one cell's records."""
    return {rec.seed: (arrays["users"], arrays[metric]) for rec, arrays in _arrays(members, cache)}


def _gains(row: Row, treated: list[RecordFile], control: list[RecordFile], cache: _Cache) -> list[tuple[str, float]]:
    """Fill ``row.gain`` over ``control``; return (metric, raw p) pairs."""
    names = (row.key.control().label(), row.key.label())
    raw = []
    for name in row.metrics:
        row.gain[name] = measure_gain(_scores(control, name, cache), _scores(treated, name, cache), names=names)
        raw.append((name, row.gain[name].p_value))
    return raw


def _slice_side(members: list[RecordFile], name: str, metric: str, cache: _Cache) -> dict[int, SeedScores] | None:
    """seed -> (users, scores) of one cell's records on the slice ``name``; None when a record does not
    mark the slice's users."""
    parts = {rec.seed: slice_scores(arrays, name, metric) for rec, arrays in _arrays(members, cache)}
    return None if any(p is None for p in parts.values()) else cast(dict[int, SeedScores], parts)


def _slice_gain(
    row: Row, name: str, treated: list[RecordFile], control: list[RecordFile], cache: _Cache
) -> dict[str, Gain] | str:
    """metric -> the row's gain over ``control`` on the slice ``name``, or why there is none."""
    labels, gains = (row.key.control().label(), row.key.label()), {}
    for metric in [m for m in row.metrics if m in row.slices[name].metrics]:
        c, t = _slice_side(control, name, metric, cache), _slice_side(treated, name, metric, cache)
        if c is None or t is None:
            return NOT_STORED
        try:
            gains[metric] = measure_gain(c, t, names=labels)
        except IncomparableError as exc:
            return f"the slice's users differ between the row and its control: {exc}"
    return gains


def _slice_gains(
    row: Row, treated: list[RecordFile], control: list[RecordFile], cache: _Cache
) -> list[tuple[str, str, float]]:
    """Fill ``row.slice_gain`` (or ``row.slice_skipped``) for each slice of the row with users; return
    (slice, metric, raw p) triples."""
    raw = []
    for name, part in row.slices.items():
        if not part.users:
            continue
        got = _slice_gain(row, name, treated, control, cache)
        if isinstance(got, str):
            row.slice_skipped[name] = got
            continue
        row.slice_gain[name] = got
        raw += [(name, m, g.p_value) for m, g in got.items()]
    return raw


def summarize(records: list[RecordFile], metrics: list[str] | None = None) -> list[Row]:
    """Board rows for ``records``; gains and p-values (one Holm correction over all of them) for
    each metric in ``metrics`` (default: all of each row's metrics)."""
    groups: dict[CellKey, list[RecordFile]] = defaultdict(list)
    for path, rec in records:
        groups[CellKey.of(rec)].append((path, rec))  # one row per cell: its records are the seeds
    rows: dict[CellKey, Row] = {}
    for key, members in groups.items():
        members.sort(key=lambda m: (m[1].seed, m[1].record_id))
        rows[key] = _row(key, [r for _, r in members], metrics)
    levels.share(list(rows.values()))
    raw: list[tuple[Row, str, float]] = []
    raw_slices: list[tuple[Row, str, str, float]] = []
    cache: _Cache = {}
    for key, row in rows.items():
        if not row.is_control and key.control() in groups:
            raw += [(row, name, p) for name, p in _gains(row, groups[key], groups[key.control()], cache)]
            raw_slices += [(row, *t) for t in _slice_gains(row, groups[key], groups[key.control()], cache)]
            row.control_capped_seeds = rows[key.control()].capped_seeds
    for (row, name, _), adjusted in zip(raw, holm([p for _, _, p in raw])):
        row.p_value[name] = adjusted
    for (row, part, name, _), adjusted in zip(raw_slices, holm([t[-1] for t in raw_slices])):
        row.slice_p.setdefault(part, {})[name] = adjusted
    measure_ablations(rows, lambda key, metric: _scores(groups[key], metric, cache))
    return sorted(
        rows.values(),
        key=lambda r: (
            r.domain,
            r.key.dataset,
            r.split_protocol,
            r.key.split,
            r.key.suite,
            r.key.fraction,
            r.key.model,
            not r.is_control,
            r.key.strategy,
            r.key.corpus or "",
        ),
    )

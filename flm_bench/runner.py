"""Runs a suite: its cells (:mod:`flm_bench.plan`), each claimed under its record's lock
(:mod:`flm_bench.results.claims`), skipped when complete, else executed and written.

The runner owns everything around a plugin's code: loading data, splitting, pretraining
(cached and shared), adaptation through the strategy, evaluation, cost, provenance. Several
runs may share one output folder: each cell is written once, by whichever claims it first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from flm_bench.data.sources import DataLocation
from flm_bench.data.splits import prepare_split
from flm_bench.data.table import InteractionData, merge
from flm_bench.data.transfer import with_fraction
from flm_bench.exclusion import CorpusUse, corpus_for
from flm_bench.params import ModelParams, StrategyParams, parse_params
from flm_bench.plan import Cell, add_csv_datasets, plan
from flm_bench.plugins import Plugins
from flm_bench.recommender import PreparesForTest
from flm_bench.record_fields import cell_record, fraction_info, levels, slice_members, slices_info
from flm_bench.results.claims import claim, clean_partial, lock_path
from flm_bench.results.records import Cost, Record, is_complete, record_path, write_record
from flm_bench.suite import Suite, TrainConfig
from flm_bench.tuned import TunedCell

if TYPE_CHECKING:
    import numpy as np

    from flm_bench.data.splits import Split
    from flm_bench.train.cost import Meter
    from flm_bench.train.loop import EpochHook
    from flm_bench.train.pretraining import Checkpoint
    from flm_bench.train.strategy import StrategyResult

log = logging.getLogger(__name__)


class Progress(Protocol):
    """What the runner reports while it works (the CLI draws it; tests may record it)."""

    def cell_started(self, cell: Cell, index: int, total: int) -> None: ...
    def cell_finished(self, cell: Cell, record: Record | None) -> None: ...
    def message(self, text: str) -> None: ...


class MessagesOnly:
    """Progress that passes on the runner's messages to ``say`` (default: drops them) and no cell events."""

    def __init__(self, say: Callable[[str], None] | None = None) -> None:
        self._say = say

    def cell_started(self, cell: Cell, index: int, total: int) -> None:
        pass

    def cell_finished(self, cell: Cell, record: Record | None) -> None:
        pass

    def message(self, text: str) -> None:
        if self._say is not None:
            self._say(text)


@dataclass(frozen=True)
class CellDone:
    """One cell settled: its record file, and the record when it was written now (None: skipped)."""

    path: Path
    record: Record | None


@dataclass
class Adapted:
    """A cell adapted but not evaluated: its data, split, checkpoint (and whether it was reused),
    the strategy's result, and the time and memory adapting took."""

    data: InteractionData
    split: Split
    checkpoint: Checkpoint | None
    reused: bool
    result: StrategyResult
    meter: Meter


@dataclass
class RunResult:
    """What a run did: record files written now, those already complete, and the cells that
    raised (with their one-line reason; the local executor stops at the first instead)."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Cell, str]] = field(default_factory=list)

    def add(self, done: CellDone) -> None:
        (self.skipped if done.record is None else self.written).append(done.path)

    @property
    def records(self) -> list[Path]:
        return sorted(self.written + self.skipped)


class Runner:
    """Executes one suite into ``output``; reuses data, splits and checkpoints across cells."""

    def __init__(
        self,
        suite: Suite,
        plugins: Plugins,
        output: Path,
        *,
        device: str | None = None,
        progress: Progress | None = None,
        location: DataLocation | None = None,
    ) -> None:
        from flm_bench.train.loop import resolve_device

        self.suite, self.plugins, self.output = suite, plugins, Path(output)
        add_csv_datasets(suite, plugins)
        self.location = location or DataLocation.from_env()
        self.device = resolve_device(device or suite.training.device)
        self.progress = progress or MessagesOnly()
        self._data: dict[str, InteractionData] = {}
        self._splits: dict[str, Split] = {}
        self._corpora: dict[str, InteractionData] = {}

    def run(self) -> RunResult:
        """Every cell of the suite: skipped when its record exists, else claimed and executed.

        A cell another process is working on (its lock is held) is left for later; once this
        process has done the rest, it waits for that lock and takes the cell over if the other
        process died before writing the record.
        """
        cells = self.prepare()
        result = RunResult()
        elsewhere = []
        for i, (cell, rid) in enumerate(cells):
            self.progress.cell_started(cell, i, len(cells))
            done = self.run_cell(cell, rid, wait=False)
            if done is None:
                elsewhere.append((cell, rid))
            else:
                result.add(done)
                self.progress.cell_finished(cell, done.record)
        for cell, rid in elsewhere:
            done = self.run_cell(cell, rid, wait=True)
            assert done is not None, "a waited-for claim is always held"
            result.add(done)
            self.progress.cell_finished(cell, done.record)
        return result

    def prepare(self) -> list[tuple[Cell, str]]:
        """The suite's cells with their record ids (every id first: a bad name fails before any
        work), after removing partial records left by interrupted runs."""
        cells = plan(self.suite, self.plugins)
        for stale in clean_partial(self.output):
            log.warning("removed partial record left by an interrupted run: %s", stale)
        return [(cell, self.record_id(cell)) for cell in cells]

    def run_cell(
        self, cell: Cell, rid: str, *, wait: bool, pretrained: tuple[Checkpoint, bool] | None = None
    ) -> CellDone | None:
        """Skip or execute ``cell`` holding its lock; None when another process holds it (and not
        ``wait``). ``pretrained``: the checkpoint to adapt from (and whether it was reused), when
        the caller has it already; else it is found or trained here."""
        with claim(lock_path(self.output, rid), wait=wait) as mine:
            if not mine:
                self.progress.message(f"{rid}: another process is working on it")
                return None
            if is_complete(self.output, rid):
                return CellDone(record_path(self.output, rid), None)
            return CellDone(*self._execute(cell, rid, pretrained))

    def record_id(self, cell: Cell) -> str:
        """``cell``'s record id, over its settings and the content of the data it uses."""
        content = [self.data(cell.dataset).fingerprint, self.split(cell.dataset).fingerprint]
        if cell.corpus:
            content += [self.data(d).fingerprint for d in self.pretraining_corpus(cell.corpus, cell.dataset).members]
        tuned = self.tuned(cell)
        tuning = tuned.tuning().identity() if tuned else None
        own = self.strategy_params(cell).model_dump(exclude_defaults=True)
        return cell.record_id(self.suite, self.cell_params(cell).identity(), content, tuning, own)

    def params(self, model: str, tuned: dict[str, Any] | None = None) -> ModelParams:
        """The model's parameters: its defaults with the suite's overrides (and ``tuned`` ones), validated."""
        spec = self.plugins.models.get(model)
        return parse_params(model, spec.params, {**self.suite.model_params.get(model, {}), **(tuned or {})})

    def strategy_params(self, cell: Cell, drawn: dict[str, Any] | None = None) -> StrategyParams:
        """The parameters of ``cell``'s strategy: its defaults with the suite's overrides, then ``drawn``
        ones (a tuning trial's) or else the cell's tuned ones, validated."""
        tuned = self.tuned(cell)
        own = drawn if drawn is not None else tuned.strategy_params if tuned else {}
        raw = {**self.suite.strategy_params.get(cell.strategy, {}), **own}
        return parse_params(cell.strategy, self.plugins.strategies.get(cell.strategy).params, raw, "strategy")

    def tuned(self, cell: Cell) -> TunedCell | None:
        """The suite's ``[[tuned]]`` entry for ``cell`` (any seed), if any."""
        return self.suite.tuned_for(cell.dataset, cell.model, cell.strategy, cell.corpus)

    def cell_params(self, cell: Cell) -> ModelParams:
        """The parameters ``cell`` runs with: :meth:`params` with its tuned ones."""
        tuned = self.tuned(cell)
        return self.params(cell.model, tuned.model_params if tuned else None)

    def data(self, name: str) -> InteractionData:
        if name not in self._data:
            self.progress.message(f"loading {name}")
            from flm_bench.data.preprocess import prepare_data

            self._data[name] = prepare_data(
                self.plugins.datasets.get(name).load_data(self.location), self.suite.preprocess
            )
        return self._data[name]

    def split(self, name: str, fraction: float = 1.0) -> Split:
        """``name``'s split; below ``fraction`` 1.0 trained on that share of its training users only."""
        if name not in self._splits:
            config = self.suite.split_for(name)
            self._splits[name] = prepare_split(self.data(name), config.protocol, config.params)
        return with_fraction(self._splits[name], fraction, self.suite.protocol.fraction_seed)

    def pretraining_corpus(self, corpus_name: str, target: str) -> CorpusUse:
        """What a cell adapting to ``target`` pretrains on: the corpus without the target, its
        source family and the datasets whose raw ids overlap its own (a pretraining corpus never
        holds the evaluated data, nor its people or products under another name)."""
        return corpus_for(self.plugins.corpora.get(corpus_name), target, self.plugins.datasets, self.raw_ids)

    def raw_ids(self, name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Dataset ``name``'s raw user and item ids, as prepared for this suite."""
        side = self.data(name).side
        return side.get("user_ids"), side.get("item_ids")

    def checkpoint(self, cell: Cell, params: ModelParams | None = None) -> tuple[Checkpoint, bool]:
        """The pretrained checkpoint ``cell`` adapts from, and whether it was reused: trained
        now, or found in ``output/checkpoints`` under the same key (``flm-bench run`` and
        ``flm-bench pretrain`` both come here, so they share every key)."""
        from flm_bench.train.pretraining import pretrain

        assert cell.corpus, f"cell {cell} needs no pretraining"
        use = self.pretraining_corpus(cell.corpus, cell.dataset)
        for member, why in use.excluded.items():
            log.info("corpus %s for %s: excluded %s (%s)", cell.corpus, cell.dataset, member, why)
        if use.name not in self._corpora:
            self._corpora[use.name] = merge(use.name, [self.data(d) for d in use.members])
        seed = self.pretraining_seed(cell)
        self.progress.message(f"pretraining {cell.model} on {use.name} (seed {seed})")
        return pretrain(
            self.plugins.models.get(cell.model),
            self.cell_params(cell) if params is None else params,
            self._corpora[use.name],
            excluded=list(use.excluded),
            datasets=list(use.members),
            cfg=self.suite.pretraining,
            seed=seed,
            device=self.device,
            directory=self.output / "checkpoints",
            progress=self.progress.message,
        )

    def checkpoint_key(self, cell: Cell) -> tuple[str, str, int] | None:
        """What identifies the checkpoint ``cell`` adapts from within this suite (model, corpus
        less the target's family, seed); None for a cell that needs none."""
        if not cell.corpus:
            return None
        return cell.model, self.pretraining_corpus(cell.corpus, cell.dataset).name, self.pretraining_seed(cell)

    def pretraining_seed(self, cell: Cell) -> int:
        """The seed of the checkpoint ``cell`` adapts from: the suite's ``[pretraining] seed`` when set
        (one checkpoint for every cell seed), else the cell's own."""
        fixed = self.suite.pretraining.seed
        return cell.seed if fixed is None else fixed

    def pretraining_cells(self) -> list[Cell]:
        """One cell per distinct checkpoint the suite needs (model × corpus-minus-target × seed)."""
        seen: dict[tuple[str, str, int], Cell] = {}
        for cell in plan(self.suite, self.plugins):
            key = self.checkpoint_key(cell)
            if key is not None:
                seen.setdefault(key, cell)
        return list(seen.values())

    def adapt(
        self,
        cell: Cell,
        params: ModelParams,
        training: TrainConfig,
        on_epoch: EpochHook | None = None,
        pretrained: tuple[Checkpoint, bool] | None = None,
        strategy_params: StrategyParams | None = None,
    ) -> Adapted:
        """Pretrain (or reuse ``pretrained``) and adapt ``cell`` with ``params``, ``training`` and
        ``strategy_params`` (default: the cell's); the test split is not touched here (tuning stops
        after this, ``run`` goes on to evaluate)."""
        from flm_bench.train.cost import Meter
        from flm_bench.train.loop import seed_everything
        from flm_bench.train.strategy import AdaptContext

        data, split = self.data(cell.dataset), self.split(cell.dataset, cell.fraction)
        ckpt, reused = pretrained or (self.checkpoint(cell, params) if cell.corpus else (None, False))
        seed_everything(cell.seed, training.deterministic)
        ctx = AdaptContext(
            self.plugins.models.get(cell.model),
            params,
            data,
            split,
            ckpt,
            training,
            cell.seed,
            self.device,
            progress=self.progress.message,
            metrics=self.suite.evaluation.names,
            exclude_history=self.suite.evaluation.exclude_history,
            on_epoch=on_epoch,
            strategy=cell.strategy,
            strategy_params=self.strategy_params(cell) if strategy_params is None else strategy_params,
        )
        with Meter(self.device) as meter:
            result = self.plugins.strategies.get(cell.strategy).build().adapt(ctx)
        return Adapted(data, split, ckpt, reused, result, meter)

    def _execute(self, cell: Cell, rid: str, pretrained: tuple[Checkpoint, bool] | None) -> tuple[Path, Record]:
        from flm_bench.evaluation import evaluate
        from flm_bench.train.cost import Meter

        tuned, params, strategy_params = self.tuned(cell), self.cell_params(cell), self.strategy_params(cell)
        training = self.suite.training_for(cell.model, tuned)
        done = self.adapt(cell, params, training, pretrained=pretrained, strategy_params=strategy_params)
        data, split, ckpt, result, adapt = done.data, done.split, done.checkpoint, done.result, done.meter
        names, exclude = self.suite.evaluation.names_for(split.n_items), self.suite.evaluation.exclude_history
        with Meter(self.device) as ev:
            if isinstance(result.model, PreparesForTest):  # e.g. a graph model adds the validation edges
                result.model.before_test(split.test.history)
            ranked, per_user = evaluate(result.model.score, split.test, names, exclude_history=exclude)
        cost = Cost(
            pretrain_seconds=ckpt.seconds if ckpt else 0.0,
            pretrain_reused=done.reused,
            adapt_seconds=adapt.seconds,
            eval_seconds=ev.seconds,
            trainable_parameters=result.trainable_parameters,
            peak_memory_mb=max(adapt.peak_mb, ev.peak_mb),
            memory_kind=adapt.memory_kind,
            device=self.device,
        )
        metrics = {n: float(v.mean()) for n, v in per_user.items()}
        record = cell_record(
            self.suite, self.plugins, cell, rid, data, split, params, strategy_params, ckpt, result, cost, metrics
        )
        record.levels = levels(split, names, exclude)  # after the meter: eval_seconds is the model's alone
        if tuned is not None:
            record.tuning = tuned.tuning()
        record.target_fraction = fraction_info(split, self.split(cell.dataset), cell.fraction, self.suite)
        record.slices = slices_info(split, per_user)
        targets = [split.test.targets.get(i) for i in range(len(split.test))]
        arrays = {**per_user, **slice_members(split)}  # each slice's users marked beside the scores
        path = write_record(
            self.output, record, users=split.test.users, ranked=ranked, targets=targets, per_user=arrays
        )
        return path, record

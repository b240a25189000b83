"""Validating result records before they are published.

Checks, per record (the first failure is a :class:`~flm_bench.errors.RecordError` naming the
record file and the reason, on one line):

1. Files (:mod:`.files`): the record folder, ``record.json`` and the artifacts are plain
   (no symbolic links, devices or pipes) and bounded: ``record.json`` at most 4 MiB, the run
   and qrels no larger (decompressed, checked while streaming) than the record's users,
   cutoffs and interactions need, ``per_user.npz`` only ``users``, the record's metrics and a mask
   of each of its slices, 1-D, integers, numbers or booleans, one value per user (read from the
   array headers first).
2. ``record.json`` is JSON and valid against the shipped JSON Schema
   (:func:`flm_bench.results.records.shipped_schema`). Its own fields (:mod:`.checks`): every
   string printable (no controls, bidi or format characters); ``record_id`` a safe folder name
   (``[a-z0-9][a-z0-9._-]{0,119}``); full provenance (PEP 440 ``flm_bench_version``, plugin
   versions including the model's and strategy's plugins, a commit for development builds, a
   time with a UTC offset); cost fields finite, non-negative and plausible (no pretraining
   cost for a control); the model, strategy and corpus registered by the installed plugins, by
   the plugin the record names, and consistent (a control names no corpus, a pretrained cell
   names one whose datasets, less the excluded target, it used); a domain from the closed list.
3. ranx alone (``Run.from_file``/``Qrels.from_file``, ``evaluate(..., make_comparable=True)``)
   recomputes every stored metric from the run and qrels (gzipped TREC, ``run.trec.gz`` and
   ``qrels.trec.gz``; plain ``.trec`` is read too) within 1e-9, and ``per_user.npz`` holds
   the same users and, for each metric, the same per-user scores.
4. The dataset, loaded through the plugins and prepared as the runner prepares it
   (:func:`flm_bench.data.preprocess.prepare_data` with the record's ``dataset.preprocess``),
   has the recorded fingerprint, domain, synthetic flag and counts; the split recomputed with
   :func:`flm_bench.data.splits.prepare_split` from the record's protocol and input parameters
   has the recorded fingerprint, inputs and derived values (older records kept derived values,
   e.g. the temporal cutoffs, inside ``params``: those keys count as derived); the qrels hold
   exactly that split's test targets, and (when history is excluded) the run ranks no item of
   a user's history. The reference ``levels`` (random and popularity, :mod:`flm_bench.levels`),
   when the record has them, are recomputed on that split (its training users cut to the
   record's ``target_fraction``) within 1e-9. Datasets and splits are computed once per
   (dataset, preprocess, protocol, inputs) and call.
5. No two records of the call are the same cell (suite, dataset, split fingerprint, model,
   strategy, corpus, seed), and the seeds of one cell have the same model and strategy
   parameters, among the call's records and (:mod:`.place`) against the published ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flm_bench.data.sources import DataLocation
from flm_bench.errors import FlmBenchError, RecordError
from flm_bench.results.publish import artifacts, checks, files
from flm_bench.results.publish.errors import Rejected, one_line
from flm_bench.results.records import SCHEMA_FILE, CellKey, Record, find_records, migrate, shipped_schema
from flm_bench.results.seeds import check_seeds

if TYPE_CHECKING:
    from flm_bench.data.splits import Split
    from flm_bench.plugins import Plugins


def _record_files(paths: Iterable[Path | str]) -> list[Path]:
    seen: dict[Path, Path] = {}
    for p in paths:
        for f in find_records(p):
            seen.setdefault(f.parent.resolve() / f.name, f)
    return list(seen.values())


@dataclass(frozen=True)
class ValidRecord:
    """A record that passed every content check, ready to be installed."""

    source: Path  # its record file (copied as record.json)
    record: Record
    artifacts: tuple[str, ...]  # run, qrels and per-user files, beside the record file

    @property
    def cell(self) -> Cell:
        return cell_of(self.record)


#: A published cell: its key and the seed.
Cell = tuple[CellKey, int]


def cell_of(record: Record) -> Cell:
    return CellKey.of(record), record.seed


def cell_text(cell: Cell) -> str:
    return cell[0].describe(cell[1])


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class _Reference:
    """What a dataset/split must look like, recomputed from the plugins."""

    data_fingerprint: str
    domain: str
    synthetic: bool
    counts: tuple[int, int, int]  # users, items, interactions
    split_fingerprint: str
    split_params: dict[str, Any]  # the inputs, defaults filled in
    split_derived: dict[str, Any]  # values derived from the data
    qrels: dict[str, set[str]]  # user -> relevant items (test targets)
    history: dict[str, set[str]]  # user -> items in the test history
    split: Split
    levels: dict[tuple, tuple[dict[str, float], dict[str, float]]] = field(default_factory=dict)


def _recorded_split(record: Record) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's split inputs and derived values (older records kept the latter in params)."""
    from flm_bench.data.splits import protocol

    try:
        inputs, derived = protocol(record.split.protocol).separate(record.split.params)
    except FlmBenchError as exc:
        raise Rejected(str(exc)) from None
    return inputs, {**derived, **record.split.derived}


def _read_json(path: Path) -> Any:
    """The record file's JSON: refused when not a plain file, too large, not JSON or nested too deeply."""
    text = files.read_record_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise Rejected("not valid JSON for a record: nested too deeply") from None


class Validator:
    """Checks records; remembers recomputed datasets and splits for the duration of one call."""

    def __init__(self, plugins: Plugins | None = None, location: DataLocation | None = None) -> None:
        import jsonschema

        if plugins is None:
            from flm_bench.plugins import load_plugins

            plugins = load_plugins()
        self.plugins = plugins
        self.location = location or DataLocation.from_env()
        schema = shipped_schema()
        cls = jsonschema.validators.validator_for(schema)
        self._schema = cls(schema)
        self._references: dict[tuple, _Reference | str] = {}

    def check(self, path: Path) -> ValidRecord:
        """Validate one ``record.json``; raise :class:`RecordError` naming it and the reason."""
        try:
            return self._check(Path(path))
        except Rejected as exc:
            raise RecordError(f"{path}: {one_line(str(exc))}") from None

    def check_all(self, paths: Iterable[Path | str]) -> list[ValidRecord]:
        """Validate every record at ``paths`` and that no two are the same cell."""
        valid = [self.check(p) for p in _record_files(paths)]
        cells: dict[Cell, ValidRecord] = {}
        ids: dict[str, ValidRecord] = {}
        for v in valid:
            other = cells.get(v.cell) or ids.get(v.record.record_id)
            if other is not None:
                raise RecordError(
                    f"{v.source}: the same cell as {other.source} ({cell_text(v.cell)}) is given twice in one call"
                )
            cells[v.cell], ids[v.record.record_id] = v, v
        for key in {v.cell[0] for v in valid}:
            check_seeds([v.record for v in valid if v.cell[0] == key], "publish")
        return valid

    # -- the checks ------------------------------------------------------------------------

    def _check(self, path: Path) -> ValidRecord:
        doc = migrate(_read_json(path))  # an older schema version is checked as the current one
        self._check_schema(doc)
        checks.check_strings(doc)
        try:
            record = Record.model_validate(doc)
        except ValueError as exc:
            raise Rejected(f"not a valid record: {exc}") from None
        checks.check_id(record)
        checks.check_provenance(record)
        checks.check_cost(record)
        checks.check_registered(record, self.plugins)
        folder = path.parent
        files.plain_folder(folder, "record folder")
        names = artifacts.check_files(folder, record)
        run, qrels = artifacts.load_trec(folder, record)
        qrels_dict = qrels.to_dict()
        per_query = artifacts.check_metrics(record, run, qrels)
        artifacts.check_per_user(folder, record, per_query)
        self._check_data(record, artifacts.ranked_items(folder / record.artifacts.run), qrels_dict)
        return ValidRecord(path, record, names)

    def _check_schema(self, doc: Any) -> None:
        from jsonschema.exceptions import best_match

        error = best_match(self._schema.iter_errors(doc))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise Rejected(f"does not match the record schema {SCHEMA_FILE} at {where}: {error.message}")

    def _reference(self, record: Record) -> _Reference:
        ds, sp = record.dataset, record.split
        inputs, _ = _recorded_split(record)
        key = (ds.name, _canonical(ds.preprocess), sp.protocol, _canonical(inputs))
        if key not in self._references:
            try:
                self._references[key] = self._recompute(record, inputs)
            except Rejected as exc:
                self._references[key] = str(exc)
        ref = self._references[key]
        if isinstance(ref, str):
            raise Rejected(ref)
        return ref

    def _recompute(self, record: Record, inputs: dict[str, Any]) -> _Reference:
        """The record's dataset and split, prepared exactly as the runner prepares them."""
        from flm_bench.data.preprocess import prepare_data, preprocess_options
        from flm_bench.data.splits import prepare_split

        ds, sp = record.dataset, record.split
        try:
            spec = self.plugins.datasets.get(ds.name)
        except FlmBenchError as exc:
            raise Rejected(f"unknown dataset {ds.name!r}: {exc}") from None
        try:
            options = preprocess_options(ds.preprocess)
        except FlmBenchError as exc:
            raise Rejected(f"dataset.preprocess {exc}") from None
        try:
            data = prepare_data(spec.load_data(self.location), options)
        except Exception as exc:  # a plugin's loader may raise anything
            raise Rejected(
                f"cannot load dataset {ds.name!r} to check its fingerprint: {type(exc).__name__}: {exc}"
            ) from None
        try:
            split = prepare_split(data, sp.protocol, inputs)
        except FlmBenchError as exc:
            raise Rejected(f"cannot recompute split {sp.protocol} {sp.params}: {exc}") from None
        return _Reference(
            data.fingerprint,
            data.domain,
            data.synthetic,
            (data.n_users, data.n_items, data.n_interactions),
            split.fingerprint,
            split.params,
            split.derived,
            *_test_sets(split),
            split,
        )

    def _check_data(self, record: Record, run: dict[str, set[str]], qrels: dict[str, dict[str, int]]) -> None:
        ds, sp = record.dataset, record.split
        ref = self._reference(record)
        if ds.fingerprint != ref.data_fingerprint:
            raise Rejected(
                f"unknown dataset fingerprint {ds.fingerprint[:16]}… for {ds.name!r} with "
                f"preprocess {ds.preprocess}: the installed plugin gives {ref.data_fingerprint[:16]}…"
            )
        if (ds.domain, ds.synthetic) != (ref.domain, ref.synthetic):
            raise Rejected(
                f"dataset.domain {ds.domain!r} and synthetic {ds.synthetic} differ from the dataset's "
                f"{ref.domain!r} and {ref.synthetic}"
            )
        if (ds.users, ds.items, ds.interactions) != ref.counts:
            raise Rejected(
                f"dataset counts (users, items, interactions) {(ds.users, ds.items, ds.interactions)} "
                f"differ from the dataset's {ref.counts}"
            )
        if sp.fingerprint != ref.split_fingerprint:
            raise Rejected(
                f"unknown split fingerprint {sp.fingerprint[:16]}… for {ds.name!r} "
                f"{sp.protocol} {sp.params}: recomputing the split gives {ref.split_fingerprint[:16]}…"
            )
        inputs, derived = _recorded_split(record)
        if _canonical(inputs) != _canonical(ref.split_params):
            raise Rejected(f"split params {sp.params} differ from the recomputed {ref.split_params}")
        if _canonical(derived) != _canonical(ref.split_derived):
            raise Rejected(f"split derived values {derived} differ from the recomputed {ref.split_derived}")
        got = {q: {d for d, rel in docs.items() if rel > 0} for q, docs in qrels.items()}
        if got != ref.qrels or any(rel != 1 for docs in qrels.values() for rel in docs.values()):
            missing = len(ref.qrels.keys() - got.keys())
            extra = len(got.keys() - ref.qrels.keys())
            changed = sum(1 for q in got.keys() & ref.qrels.keys() if got[q] != ref.qrels[q])
            raise Rejected(
                f"{record.artifacts.qrels} is not the split's test targets ({missing} test users missing, "
                f"{extra} extra users, {changed} users with other items or relevance)"
            )
        if record.evaluation.users != len(ref.qrels):
            raise Rejected(
                f"evaluation.users is {record.evaluation.users} but the split has {len(ref.qrels)} test users"
            )
        if record.evaluation.exclude_history:
            leaked = [q for q, docs in run.items() if ref.history.get(q, set()) & docs]
            if leaked:
                raise Rejected(
                    f"{record.artifacts.run} ranks items from the history of {len(leaked)} user(s) "
                    f"(e.g. user {leaked[0]}) although evaluation.exclude_history is true"
                )
        _check_levels(record, ref)


#: How far a stored reference level may be from the recomputed one.
LEVEL_TOLERANCE = 1e-9


def _check_levels(record: Record, ref: _Reference) -> None:
    """The record's random and popularity levels are what its split gives (none before schema 5)."""
    from flm_bench.data.transfer import with_fraction
    from flm_bench.levels import split_levels

    if record.levels is None:
        return
    names, exclude = record.evaluation.metrics, record.evaluation.exclude_history
    fraction = (record.target_fraction.fraction, record.target_fraction.seed) if record.target_fraction else (1.0, 0)
    key = (fraction, exclude, tuple(names))
    if key not in ref.levels:
        ref.levels[key] = split_levels(with_fraction(ref.split, *fraction), names, exclude_history=exclude)
    for part, expected in zip(("random", "popularity"), ref.levels[key], strict=True):
        stored: dict[str, float] = getattr(record.levels, part)
        if sorted(stored) != sorted(expected):
            raise Rejected(f"levels.{part} has metrics {sorted(stored)}, expected the record's {sorted(expected)}")
        for name, value in expected.items():
            if not abs(stored[name] - value) <= LEVEL_TOLERANCE:
                raise Rejected(
                    f"levels.{part}[{name!r}] is {stored[name]!r} but recomputing it on the split gives {value!r}"
                )


def _test_sets(split: Split) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    test = split.test
    qrels, history = {}, {}
    for i, user in enumerate(test.users.tolist()):
        qrels[str(user)] = {str(it) for it in np.unique(test.targets.get(i)).tolist()}
        history[str(user)] = {str(it) for it in test.history.get(i).tolist()}
    return qrels, history


def validate(paths: Sequence[Path | str], *, plugins: Plugins | None = None) -> list[ValidRecord]:
    """Check every record at ``paths`` (see the module doc); raise at the first rejection."""
    return Validator(plugins).check_all(paths)

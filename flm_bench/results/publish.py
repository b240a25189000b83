"""Publishing: validate result records and merge them into a leaderboard folder (or git repository).

``publish(paths, to)`` takes record files, record folders or folders of records and, only if
*every* record passes every check, copies them to ``<to>/records/<record_id>/`` (the layout the
runner writes, so boards render from it with :func:`flm_bench.results.records.load_records`).

Checks, per record (the first failure is a :class:`~flm_bench.errors.RecordError` naming the
record file and the reason, on one line):

1. ``record.json`` is JSON and valid against the shipped JSON Schema
   (:func:`flm_bench.results.records.shipped_schema`), and ``record_id`` is a safe folder name.
2. Full provenance: non-empty ``flm_bench_version`` (PEP 440), ``plugins`` (every version
   non-empty, and the distributions of the record's model and strategy among them),
   ``python``, ``torch``, ``platform``, and ``created`` as an ISO-8601 time with a UTC offset.
   ``git_sha`` may be null only when ``flm_bench_version`` is a final release (no ``.dev``
   or local ``+…`` part): a release names the code on its own, a development build needs
   its commit. When given, it must be a hex commit id.
3. The artifacts are plain files beside ``record.json``; ranx alone
   (``Run.from_file``/``Qrels.from_file``, ``evaluate(..., make_comparable=True)``) recomputes
   every stored metric from the run and qrels (gzipped TREC, ``run.trec.gz`` and
   ``qrels.trec.gz``; plain ``.trec`` is read too) within 1e-9, and ``per_user.npz``
   holds the same users and, for each metric, the same per-user scores.
4. The dataset, loaded through the plugins and prepared as the runner prepares it
   (:func:`flm_bench.data.preprocess.prepare_data` with the record's ``dataset.preprocess``),
   has the recorded fingerprint and counts; the split recomputed with
   :func:`flm_bench.data.splits.prepare_split` from the record's protocol and input parameters
   has the recorded fingerprint, inputs and derived values (older records kept derived values,
   e.g. the temporal cutoffs, inside ``params``: those keys count as derived); the qrels hold
   exactly that split's test targets, and (when history is excluded) the run ranks no item of
   a user's history. Datasets and splits are computed once per (dataset, preprocess,
   protocol, inputs) and call.
5. No two records of the call are the same cell (suite, dataset, split fingerprint, model,
   strategy, corpus, seed), and no record's cell (or record id) is already published, unless
   ``replace``: then the published record(s) of that cell are replaced.

Writes: validation finishes before anything is written, so a rejected call changes nothing.
Under a :class:`filelock.FileLock` on ``<to>/.publish.lock`` each record is copied to a
temporary folder inside ``<to>/records/`` and renamed into place; a replaced folder is first
renamed aside and deleted only once everything (including the git commit) succeeded,
otherwise every change is rolled back. A publisher killed mid-way leaves only ``.tmp-``
folders (which :func:`~flm_bench.results.records.load_records` ignores); the next publisher clears
them, putting back a published folder that was moved aside if nothing took its place.

Git: when ``to`` lies inside a git work tree, the new (and removed) record folders are added
and committed (only those paths; other staged changes are left alone). When ``to`` is a git
remote (a URL such as ``https://…``, ``ssh://…``, ``file://…``, ``user@host:path``, or the path of
a bare repository), it is cloned to a temporary folder, the records are published into
``<clone>/<subdir>``, committed and pushed; a push rejected because the remote moved is
retried on top of the new remote state (duplicates are checked again).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flm_bench.errors import FlmBenchError, RecordError
from flm_bench.results.records import (
    RECORD_FILE, RECORDS_DIR, SCHEMA_FILE, TMP_PREFIX, CellKey, Record, find_records, load_record, open_text,
    shipped_schema, trec_kind,
)

if TYPE_CHECKING:
    from flm_bench.plugins import Plugins
    from flm_bench.data.splits import Split

log = logging.getLogger(__name__)

DEFAULT_BOARD = Path("leaderboards")
LOCK_NAME = ".publish.lock"
LOCK_TIMEOUT = 600.0  # seconds to wait for another publisher
TOLERANCE = 1e-9
PUSH_ATTEMPTS = 5
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+=-]*$")
_SAFE_ARTIFACT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HEX_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:")


class PublishError(FlmBenchError):
    """Valid records could not be written: the target is not writable, locked too long, or git failed."""


class GitError(PublishError):
    """A git command needed for publishing failed (clone, commit or push)."""


def _record_files(paths: Iterable[Path | str]) -> list[Path]:
    seen: dict[Path, Path] = {}
    for p in paths:
        for f in find_records(p):
            seen.setdefault(f.resolve(), f)
    return list(seen.values())


# --------------------------------------------------------------------------------------------
# validation


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


def _cell_text(cell: Cell) -> str:
    return cell[0].describe(cell[1])


class _Rejected(Exception):
    """Internal: a reason to reject the record being checked."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@dataclass
class _Reference:
    """What a dataset/split must look like, recomputed from the plugins."""

    data_fingerprint: str
    counts: tuple[int, int, int]  # users, items, interactions
    split_fingerprint: str
    split_params: dict[str, Any]  # the inputs, defaults filled in
    split_derived: dict[str, Any]  # values derived from the data
    qrels: dict[str, set[str]]  # user -> relevant items (test targets)
    history: dict[str, set[str]]  # user -> items in the test history


def _recorded_split(record: Record) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's split inputs and derived values (older records kept the latter in params)."""
    from flm_bench.data.splits import protocol

    try:
        inputs, derived = protocol(record.split.protocol).separate(record.split.params)
    except FlmBenchError as exc:
        raise _Rejected(str(exc)) from None
    return inputs, {**derived, **record.split.derived}


class Validator:
    """Checks records; remembers recomputed datasets and splits for the duration of one call."""

    def __init__(self, plugins: Plugins | None = None) -> None:
        import jsonschema

        if plugins is None:
            from flm_bench.plugins import load_plugins

            plugins = load_plugins()
        self.plugins = plugins
        schema = shipped_schema()
        cls = jsonschema.validators.validator_for(schema)
        self._schema = cls(schema)
        self._references: dict[tuple, _Reference | str] = {}

    def check(self, path: Path) -> ValidRecord:
        """Validate one ``record.json``; raise :class:`RecordError` naming it and the reason."""
        try:
            return self._check(Path(path))
        except _Rejected as exc:
            raise RecordError(f"{path}: {_one_line(str(exc))}") from None

    def check_all(self, paths: Iterable[Path | str]) -> list[ValidRecord]:
        """Validate every record at ``paths`` and that no two are the same cell."""
        valid = [self.check(p) for p in _record_files(paths)]
        cells: dict[Cell, ValidRecord] = {}
        ids: dict[str, ValidRecord] = {}
        for v in valid:
            other = cells.get(v.cell) or ids.get(v.record.record_id)
            if other is not None:
                raise RecordError(f"{v.source}: the same cell as {other.source} "
                                  f"({_cell_text(v.cell)}) is given twice in one call")
            cells[v.cell], ids[v.record.record_id] = v, v
        return valid

    # -- the checks ------------------------------------------------------------------------

    def _check(self, path: Path) -> ValidRecord:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise _Rejected(f"cannot read the record: {exc}") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _Rejected(f"not valid JSON: {exc}") from None
        self._check_schema(doc)
        try:
            record = Record.model_validate(doc)
        except ValueError as exc:
            raise _Rejected(f"not a valid record: {exc}") from None
        if not _SAFE_ID.match(record.record_id) or record.record_id.startswith(TMP_PREFIX):
            raise _Rejected(f"record_id {record.record_id!r} is not a safe folder name")
        _check_provenance(record)
        folder = path.parent
        files = _check_artifacts(folder, record)
        run, qrels = _load_trec(folder, record)
        qrels_dict = qrels.to_dict()
        per_query = _check_metrics(record, run, qrels)
        _check_per_user(folder, record, per_query)
        self._check_data(record, _ranked_items(folder / record.artifacts.run), qrels_dict)
        return ValidRecord(path, record, files)

    def _check_schema(self, doc: Any) -> None:
        from jsonschema.exceptions import best_match

        error = best_match(self._schema.iter_errors(doc))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise _Rejected(f"does not match the record schema {SCHEMA_FILE} at {where}: {error.message}")

    def _reference(self, record: Record) -> _Reference:
        ds, sp = record.dataset, record.split
        inputs, _ = _recorded_split(record)
        key = (ds.name, _canonical(ds.preprocess), sp.protocol, _canonical(inputs))
        if key not in self._references:
            try:
                self._references[key] = self._recompute(record, inputs)
            except _Rejected as exc:
                self._references[key] = str(exc)
        ref = self._references[key]
        if isinstance(ref, str):
            raise _Rejected(ref)
        return ref

    def _recompute(self, record: Record, inputs: dict[str, Any]) -> _Reference:
        """The record's dataset and split, prepared exactly as the runner prepares them."""
        from flm_bench.data.preprocess import prepare_data, preprocess_options
        from flm_bench.data.splits import prepare_split

        ds, sp = record.dataset, record.split
        try:
            spec = self.plugins.datasets.get(ds.name)
        except FlmBenchError as exc:
            raise _Rejected(f"unknown dataset {ds.name!r}: {exc}") from None
        try:
            options = preprocess_options(ds.preprocess)
        except FlmBenchError as exc:
            raise _Rejected(f"dataset.preprocess {exc}") from None
        try:
            data = prepare_data(spec.load(), options)
        except Exception as exc:  # a plugin's loader may raise anything
            raise _Rejected(f"cannot load dataset {ds.name!r} to check its fingerprint: "
                            f"{type(exc).__name__}: {exc}") from None
        try:
            split = prepare_split(data, sp.protocol, inputs)
        except FlmBenchError as exc:
            raise _Rejected(f"cannot recompute split {sp.protocol} {sp.params}: {exc}") from None
        return _Reference(data.fingerprint, (data.n_users, data.n_items, data.n_interactions),
                          split.fingerprint, split.params, split.derived, *_test_sets(split))

    def _check_data(self, record: Record, run: dict[str, set[str]], qrels: dict[str, dict[str, int]]) -> None:
        ds, sp = record.dataset, record.split
        ref = self._reference(record)
        if ds.fingerprint != ref.data_fingerprint:
            raise _Rejected(f"unknown dataset fingerprint {ds.fingerprint[:16]}… for {ds.name!r} with "
                            f"preprocess {ds.preprocess}: the installed plugin gives {ref.data_fingerprint[:16]}…")
        if (ds.users, ds.items, ds.interactions) != ref.counts:
            raise _Rejected(f"dataset counts (users, items, interactions) {(ds.users, ds.items, ds.interactions)} "
                            f"differ from the dataset's {ref.counts}")
        if sp.fingerprint != ref.split_fingerprint:
            raise _Rejected(f"unknown split fingerprint {sp.fingerprint[:16]}… for {ds.name!r} "
                            f"{sp.protocol} {sp.params}: recomputing the split gives {ref.split_fingerprint[:16]}…")
        inputs, derived = _recorded_split(record)
        if _canonical(inputs) != _canonical(ref.split_params):
            raise _Rejected(f"split params {sp.params} differ from the recomputed {ref.split_params}")
        if _canonical(derived) != _canonical(ref.split_derived):
            raise _Rejected(f"split derived values {derived} differ from the recomputed {ref.split_derived}")
        got = {q: {d for d, rel in docs.items() if rel > 0} for q, docs in qrels.items()}
        if got != ref.qrels or any(rel != 1 for docs in qrels.values() for rel in docs.values()):
            missing = len(ref.qrels.keys() - got.keys())
            extra = len(got.keys() - ref.qrels.keys())
            changed = sum(1 for q in got.keys() & ref.qrels.keys() if got[q] != ref.qrels[q])
            raise _Rejected(f"{record.artifacts.qrels} is not the split's test targets ({missing} test users missing, "
                            f"{extra} extra users, {changed} users with other items or relevance)")
        if record.evaluation.users != len(ref.qrels):
            raise _Rejected(f"evaluation.users is {record.evaluation.users} "
                            f"but the split has {len(ref.qrels)} test users")
        if record.evaluation.exclude_history:
            leaked = [q for q, docs in run.items() if ref.history.get(q, set()) & docs]
            if leaked:
                raise _Rejected(f"{record.artifacts.run} ranks items from the history of {len(leaked)} user(s) "
                                f"(e.g. user {leaked[0]}) although evaluation.exclude_history is true")


def _test_sets(split: Split) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    test = split.test
    qrels, history = {}, {}
    for i, user in enumerate(test.users.tolist()):
        qrels[str(user)] = {str(it) for it in np.unique(test.targets.get(i)).tolist()}
        history[str(user)] = {str(it) for it in test.history.get(i).tolist()}
    return qrels, history


def _check_provenance(record: Record) -> None:
    from packaging.version import InvalidVersion, Version

    prov = record.provenance
    for name in ("flm_bench_version", "python", "torch", "platform", "created"):
        if not str(getattr(prov, name)).strip():
            raise _Rejected(f"incomplete provenance: provenance.{name} is empty")
    try:
        version = Version(prov.flm_bench_version)
    except InvalidVersion:
        raise _Rejected(f"provenance.flm_bench_version {prov.flm_bench_version!r} is not a PEP 440 version") from None
    if not prov.plugins:
        raise _Rejected("incomplete provenance: provenance.plugins lists no plugin distribution")
    empty = sorted(d for d, v in prov.plugins.items() if not d.strip() or not str(v).strip())
    if empty:
        raise _Rejected(f"incomplete provenance: no version for plugin distribution(s) {empty}")
    for what, plugin in (("model", record.model.plugin), ("strategy", record.strategy.plugin)):
        if plugin not in prov.plugins:
            raise _Rejected(f"incomplete provenance: the {what}'s plugin {plugin!r} is not in provenance.plugins "
                            f"{sorted(prov.plugins)}")
    if prov.git_sha is None:
        if version.is_devrelease or version.is_prerelease or version.local is not None:
            raise _Rejected(f"incomplete provenance: git_sha is null, but flm-bench {prov.flm_bench_version} is not "
                            "a release, so only its commit identifies the code")
    elif not _HEX_SHA.match(prov.git_sha):
        raise _Rejected(f"provenance.git_sha {prov.git_sha!r} is not a hexadecimal commit id")
    try:
        created = dt.datetime.fromisoformat(prov.created)
    except ValueError:
        raise _Rejected(f"provenance.created {prov.created!r} is not an ISO-8601 time") from None
    if created.tzinfo is None:
        raise _Rejected(f"provenance.created {prov.created!r} has no UTC offset")


def _check_artifacts(folder: Path, record: Record) -> tuple[str, ...]:
    names = (record.artifacts.run, record.artifacts.qrels, record.artifacts.per_user)
    for name in names:
        if not _SAFE_ARTIFACT.match(name) or name == RECORD_FILE:
            raise _Rejected(f"artifact {name!r} must be a plain file name beside {RECORD_FILE}")
        if not (folder / name).is_file():
            raise _Rejected(f"artifact {name} is missing from {folder}")
    if len(set(names)) != len(names):
        raise _Rejected(f"artifacts must be three different files, got {list(names)}")
    return names


def _load_trec(folder: Path, record: Record):
    """The record's run and qrels, read by ranx alone."""
    import ranx

    try:
        run = ranx.Run.from_file(str(folder / record.artifacts.run), kind=trec_kind(record.artifacts.run))
    except Exception as exc:  # ranx raises whatever its parser meets
        raise _Rejected(f"{record.artifacts.run} is not a readable TREC run: {type(exc).__name__}: {exc}") from None
    try:
        qrels = ranx.Qrels.from_file(str(folder / record.artifacts.qrels), kind=trec_kind(record.artifacts.qrels))
    except Exception as exc:
        raise _Rejected(f"{record.artifacts.qrels} is not readable TREC qrels: {type(exc).__name__}: {exc}") from None
    return run, qrels


def _ranked_items(path: Path) -> dict[str, set[str]]:
    """user -> items of a TREC run (ranx has already parsed the file; this is a cheap second read)."""
    out: dict[str, set[str]] = {}
    with open_text(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                out.setdefault(parts[0], set()).add(parts[2])
    return out


def _differs(a: float, b: float) -> bool:
    return not abs(float(a) - float(b)) <= TOLERANCE  # NaN differs from everything


def _check_metrics(record: Record, run, qrels) -> dict[str, dict[str, float]]:
    """Recompute every stored metric with ranx alone; return metric -> user -> score.

    ``run`` is made comparable to ``qrels`` in place (ranx adds empty rankings for missing users).
    """
    import ranx

    names = list(record.metrics)
    if set(names) != set(record.evaluation.metrics):
        raise _Rejected(f"metrics {sorted(names)} differ from evaluation.metrics {sorted(record.evaluation.metrics)}")
    if not names:
        raise _Rejected("the record holds no metric")
    extra = set(run.keys()) - set(qrels.keys())
    if extra:
        raise _Rejected(f"{record.artifacts.run} ranks {len(extra)} user(s) absent from {record.artifacts.qrels}")
    run = run.make_comparable(qrels)
    try:
        means = ranx.evaluate(qrels, run, names, make_comparable=True)
    except Exception as exc:
        raise _Rejected(f"ranx cannot evaluate {names}: {type(exc).__name__}: {exc}") from None
    if len(names) == 1:
        means = {names[0]: means}
    for name in names:
        if _differs(record.metrics[name], means[name]):
            raise _Rejected(f"metric {name} is {record.metrics[name]!r} in the record but ranx computes "
                            f"{float(means[name])!r} from {record.artifacts.run} and {record.artifacts.qrels}")
    return {name: dict(run.scores[name]) for name in names}


def _check_per_user(folder: Path, record: Record, per_query: dict[str, dict[str, float]]) -> None:
    name = record.artifacts.per_user
    try:
        with np.load(folder / name, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise _Rejected(f"{name} is not a readable npz file: {type(exc).__name__}: {exc}") from None
    if "users" not in arrays:
        raise _Rejected(f"{name} has no 'users' array")
    users = [str(int(u)) for u in arrays["users"].tolist()]
    queries = next(iter(per_query.values()))
    if len(users) != len(set(users)) or set(users) != set(queries):
        raise _Rejected(f"{name} holds {len(users)} users, not the {len(queries)} users of {record.artifacts.qrels}")
    for metric, scores in per_query.items():
        if metric not in arrays:
            raise _Rejected(f"{name} has no per-user scores for {metric}")
        values = np.asarray(arrays[metric], dtype=np.float64)
        if values.shape != (len(users),):
            raise _Rejected(f"{name}: {metric} has shape {values.shape}, expected ({len(users)},)")
        expected = np.array([scores[u] for u in users], dtype=np.float64)
        bad = ~(np.abs(values - expected) <= TOLERANCE)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _Rejected(f"{name}: {metric} of {int(bad.sum())} user(s) differ from ranx's recomputation "
                            f"(user {users[i]}: {values[i]!r} vs {expected[i]!r})")


def validate(paths: Sequence[Path | str], *, plugins: Plugins | None = None) -> list[ValidRecord]:
    """Check every record at ``paths`` (see the module doc); raise at the first rejection."""
    return Validator(plugins).check_all(paths)


# --------------------------------------------------------------------------------------------
# installing into a folder


@dataclass
class PublishReport:
    """What one publish call did."""

    published: list[Path] = field(default_factory=list)  # record.json files in the target
    replaced: list[str] = field(default_factory=list)  # folder names of records replaced
    commit: str | None = None  # the commit made, when publishing into git
    target: str = ""


def _published(board: Path, *, strict: bool) -> tuple[dict[Cell, list[Path]], dict[str, Path]]:
    """Published records: cell -> folders, and folder name -> folder.

    Without ``strict`` (a look without the lock, while another publisher may be renaming
    folders), records that cannot be read are skipped; with it, they are an error.
    """
    root = board / RECORDS_DIR
    cells: dict[Cell, list[Path]] = {}
    folders: dict[str, Path] = {}
    if not root.is_dir():
        return cells, folders
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(TMP_PREFIX) or not folder.is_dir():
            continue
        folders[folder.name] = folder
        try:
            record = load_record(folder / RECORD_FILE)
        except RecordError:
            if strict and folder.exists():
                raise RecordError(f"{folder / RECORD_FILE}: the published record is unreadable; "
                                  "repair the leaderboard before publishing into it") from None
            continue
        cells.setdefault(cell_of(record), []).append(folder)
    return cells, folders


def _conflicts(valid: Sequence[ValidRecord], board: Path, replace: bool, *,
               strict: bool = True) -> dict[str, list[Path]]:
    """record_id -> published folders it replaces; raise on a duplicate without ``replace``."""
    cells, folders = _published(board, strict=strict)
    out: dict[str, list[Path]] = {}
    for v in valid:
        hits = list(cells.get(v.cell, []))
        same_id = folders.get(v.record.record_id)
        if same_id is not None and same_id not in hits:
            hits.append(same_id)
        if hits and not replace:
            raise RecordError(f"{v.source}: already published as {hits[0]} ({_cell_text(v.cell)}); "
                              "use --replace to replace it")
        out[v.record.record_id] = hits
    return out


def _git(args: Sequence[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc}") from exc
    if check and proc.returncode != 0:
        detail = _one_line(proc.stderr or proc.stdout) or f"exit status {proc.returncode}"
        raise GitError(f"git {' '.join(args[:2])} failed in {cwd}: {detail}")
    return proc


def work_tree(path: Path) -> Path | None:
    """The top of the git work tree holding ``path`` (or its nearest existing parent), if any."""
    probe = Path(path).absolute()
    while not probe.exists():
        probe = probe.parent
    try:
        proc = _git(["rev-parse", "--show-toplevel"], probe if probe.is_dir() else probe.parent, check=False)
    except GitError:  # no git installed: not a work tree as far as we can tell
        return None
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def is_remote(to: str | Path) -> bool:
    """Whether ``to`` names a git remote: a URL, ``user@host:path``, or a bare repository folder."""
    text = str(to)
    if "://" in text or _SCP_LIKE.match(text):
        return True
    path = Path(text)
    if path.is_dir() and (path / "HEAD").is_file() and (path / "objects").is_dir():
        proc = _git(["rev-parse", "--is-bare-repository"], path, check=False)
        return proc.returncode == 0 and proc.stdout.strip() == "true"
    return False


def _message(valid: Sequence[ValidRecord], replaced: dict[str, list[Path]]) -> str:
    ids = [v.record.record_id for v in valid]
    subject = f"Publish {len(ids)} record{'s' if len(ids) != 1 else ''}" + (f": {ids[0]}" if len(ids) == 1 else "")
    lines = []
    for rid in ids:
        old = [p.name for p in replaced.get(rid, [])]
        lines.append(f"- {rid}" + (f" (replaces {', '.join(old)})" if old else ""))
    return subject + "\n\n" + "\n".join(lines) + "\n\nValidated and published by flm-bench publish.\n"


def _commit(top: Path, paths: Sequence[Path], message: str) -> str | None:
    """Add and commit exactly ``paths`` (new, replaced and removed folders); return the commit."""
    rel = sorted({os.path.relpath(p, top) for p in paths})
    present = [r for r in rel if (top / r).exists()
               or _git(["ls-files", "--", r], top).stdout.strip()]  # a removed folder git knew about
    if not present:
        return None
    _git(["add", "-A", "--", *present], top)
    if _git(["diff", "--cached", "--quiet", "--", *present], top, check=False).returncode == 0:
        return None  # byte-identical replacement: nothing to commit
    _git(["commit", "--quiet", "-m", message, "--", *present], top)
    return _git(["rev-parse", "HEAD"], top).stdout.strip()


def _unstage(top: Path, paths: Sequence[Path]) -> None:
    rel = sorted({os.path.relpath(p, top) for p in paths})
    if _git(["rev-parse", "--verify", "--quiet", "HEAD"], top, check=False).returncode == 0:
        _git(["reset", "--quiet", "--", *rel], top, check=False)
    else:
        _git(["rm", "--cached", "-r", "--quiet", "--ignore-unmatch", "--", *rel], top, check=False)


def install(valid: Sequence[ValidRecord], to: Path | str = DEFAULT_BOARD, *, replace: bool = False,
            commit: bool | None = None, message: str | None = None) -> PublishReport:
    """Copy validated records into the leaderboard folder ``to``, atomically and under a lock.

    :param valid: records from :func:`validate`.
    :param to: the leaderboard folder (records go to ``<to>/records/<record_id>/``).
    :param replace: replace published records of the same cells instead of rejecting them.
    :param commit: commit the change to git; ``None``: when ``to`` is inside a git work tree.
    :param message: commit message (default: one naming every record).
    :raises RecordError: a cell is already published (and not ``replace``); nothing changed.
    """
    from filelock import FileLock, Timeout

    board = Path(to)
    if not valid:
        return PublishReport(target=str(board))
    if board.exists():
        _conflicts(valid, board, replace, strict=False)  # fail fast, before touching anything
    top = work_tree(board) if commit is not False else None
    if commit and top is None:
        raise GitError(f"{board} is not inside a git work tree, so there is nothing to commit to")
    try:
        (board / RECORDS_DIR).mkdir(parents=True, exist_ok=True)
        with FileLock(str(board / LOCK_NAME), timeout=LOCK_TIMEOUT):
            return _install_locked(valid, board, replace=replace, top=top, message=message)
    except Timeout:
        raise PublishError(f"another publisher has held {board / LOCK_NAME} for over {LOCK_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise PublishError(f"cannot write into {board}: {exc}") from exc


def _recover(root: Path) -> None:
    """Clear what a killed publisher left (we hold the lock): staged copies are removed, and a
    published folder it had moved aside is put back if nothing took its place."""
    for stale in sorted(root.glob(f"{TMP_PREFIX}*")):
        if stale.name.startswith(f"{TMP_PREFIX}old-"):
            name = stale.name[len(TMP_PREFIX) + len("old-"):].rsplit("-", 2)[0]
            if name and not (root / name).exists():
                log.warning("restoring %s, moved aside by an interrupted publish", name)
                os.rename(stale, root / name)
                continue
        shutil.rmtree(stale, ignore_errors=True)


def _install_locked(valid: Sequence[ValidRecord], board: Path, *, replace: bool, top: Path | None,
                    message: str | None) -> PublishReport:
    """Install ``valid`` into ``board``; the caller holds the board's lock."""
    root = board / RECORDS_DIR
    _recover(root)
    conflicts = _conflicts(valid, board, replace)  # authoritative, under the lock
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staged: list[tuple[ValidRecord, Path]] = []
    aside: list[tuple[Path, Path]] = []  # (published folder, where it was moved)
    placed: list[Path] = []
    committed = False
    report = PublishReport(target=str(board))
    try:
        for v in valid:
            tmp = root / f"{TMP_PREFIX}{v.record.record_id}-{tag}"
            tmp.mkdir()
            shutil.copy2(v.source, tmp / RECORD_FILE)
            for name in v.artifacts:
                shutil.copy2(v.source.parent / name, tmp / name)
            staged.append((v, tmp))
        for v, tmp in staged:
            for old in conflicts[v.record.record_id]:
                backup = root / f"{TMP_PREFIX}old-{old.name}-{tag}"
                os.rename(old, backup)
                aside.append((old, backup))
                report.replaced.append(old.name)
            final = root / v.record.record_id
            os.rename(tmp, final)
            placed.append(final)
        if top is not None:
            changed = placed + [old for old, _ in aside]
            report.commit = _commit(top, changed, message or _message(valid, conflicts))
            committed = True
    except BaseException:
        if top is not None and not committed:
            _unstage(top, placed + [old for old, _ in aside])
        for final in placed:
            shutil.rmtree(final, ignore_errors=True)
        for old, backup in reversed(aside):
            os.rename(backup, old)
        for _, tmp in staged:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    for _, backup in aside:
        shutil.rmtree(backup, ignore_errors=True)
    report.published = [final / RECORD_FILE for final in placed]
    return report


# --------------------------------------------------------------------------------------------
# publishing into a git remote


def _push(valid: Sequence[ValidRecord], url: str, *, replace: bool, subdir: str,
          message: str | None) -> PublishReport:
    with tempfile.TemporaryDirectory(prefix="flm-bench-publish-") as tmp:
        clone = Path(tmp) / "repo"
        _git(["clone", "--quiet", url, str(clone)], Path(tmp))
        branch = _git(["symbolic-ref", "--short", "HEAD"], clone).stdout.strip()
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            report = install(valid, clone / subdir, replace=replace, commit=True, message=message)
            if report.commit is None:
                break  # nothing changed (identical replacement)
            pushed = _git(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], clone, check=False)
            if pushed.returncode == 0:
                break
            text = (pushed.stderr + pushed.stdout).lower()
            if attempt == PUSH_ATTEMPTS or not any(w in text for w in ("rejected", "fetch first", "non-fast-forward")):
                raise GitError(f"git push to {url} failed: {_one_line(pushed.stderr or pushed.stdout)}")
            log.info("push to %s rejected (the remote moved); retrying on top of it", url)
            _git(["fetch", "--quiet", "origin"], clone)
            _git(["reset", "--quiet", "--hard", f"origin/{branch}"], clone)  # our private clone
        report.target = url
        report.published = [p.relative_to(clone) for p in report.published]
        return report


# --------------------------------------------------------------------------------------------
# the entry point


def publish_report(paths: Sequence[Path | str], to: Path | str = DEFAULT_BOARD, *, replace: bool = False,
                   plugins: Plugins | None = None, commit: bool | None = None,
                   subdir: str = str(DEFAULT_BOARD), message: str | None = None) -> PublishReport:
    """Like :func:`publish`, returning what was replaced and the commit as well."""
    valid = validate(paths, plugins=plugins)
    if is_remote(to):
        if commit is False:
            raise GitError(f"{to} is a git remote: publishing there always commits and pushes")
        if Path(subdir).is_absolute() or ".." in Path(subdir).parts:
            raise GitError(f"subdir {subdir!r} must be a relative path inside the repository")
        return _push(valid, str(to), replace=replace, subdir=subdir, message=message)
    return install(valid, Path(to), replace=replace, commit=commit, message=message)


def publish(paths: Sequence[Path | str], to: Path | str = DEFAULT_BOARD, *, replace: bool = False,
            plugins: Plugins | None = None, commit: bool | None = None,
            subdir: str = str(DEFAULT_BOARD), message: str | None = None) -> list[Path]:
    """Validate every record at ``paths``, then publish them all into ``to`` (or none).

    :param paths: record files, record folders or folders of records.
    :param to: the leaderboard folder (committed to git when inside a work tree), or a git
        remote (URL or bare repository), which is cloned, published into, committed and pushed.
    :param replace: replace already published records of the same cells.
    :param plugins: the plugins that load the datasets (default: a fresh :func:`load_plugins`).
    :param commit: force (``True``) or prevent (``False``) the git commit of a local folder.
    :param subdir: for a remote: the leaderboard folder inside the repository.
    :param message: commit message (default: one naming every record).
    :returns: the published ``record.json`` files (for a remote: paths inside the repository).
    :raises RecordError: a record failed a check; nothing was written.
    :raises GitError: cloning, committing or pushing failed; nothing was published.
    """
    return publish_report(paths, to, replace=replace, plugins=plugins, commit=commit, subdir=subdir,
                          message=message).published

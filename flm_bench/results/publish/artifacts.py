"""The artifacts of a record, recomputed by ranx alone: run and qrels, metrics, per-user scores.

The artifacts are plain files beside ``record.json``; ranx alone (``Run.from_file`` /
``Qrels.from_file``, ``evaluate(..., make_comparable=True)``) recomputes every stored metric
from the run and qrels (gzipped TREC, ``run.trec.gz`` and ``qrels.trec.gz``; plain ``.trec``
is read too) within 1e-9, and ``per_user.npz`` holds the same users and, for each metric, the
same per-user scores. Each check raises :class:`~.errors.Rejected` with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from flm_bench.results.publish import files
from flm_bench.results.publish.errors import Rejected
from flm_bench.results.records import RECORD_FILE, Record
from flm_bench.results.trec import open_text, trec_kind

TOLERANCE = 1e-9
_SAFE_ARTIFACT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_files(folder: Path, record: Record) -> tuple[str, ...]:
    """The artifact names: three plain files beside the record, no larger than the record needs."""
    names = (record.artifacts.run, record.artifacts.qrels, record.artifacts.per_user)
    for name in names:
        if not _SAFE_ARTIFACT.match(name) or name == RECORD_FILE:
            raise Rejected(f"artifact {name!r} must be a plain file name beside {RECORD_FILE}")
    if len(set(names)) != len(names):
        raise Rejected(f"artifacts must be three different files, got {list(names)}")
    for name in names[:2]:
        files.check_text(folder / name, files.text_bound(record, name))
    files.check_npz(folder / names[2], record)
    return names


def load_trec(folder: Path, record: Record):
    """The record's run and qrels, read by ranx alone."""
    import ranx

    try:
        run = ranx.Run.from_file(str(folder / record.artifacts.run), kind=trec_kind(record.artifacts.run))
    except Exception as exc:  # ranx raises whatever its parser meets
        raise Rejected(f"{record.artifacts.run} is not a readable TREC run: {type(exc).__name__}: {exc}") from None
    try:
        qrels = ranx.Qrels.from_file(str(folder / record.artifacts.qrels), kind=trec_kind(record.artifacts.qrels))
    except Exception as exc:
        raise Rejected(f"{record.artifacts.qrels} is not readable TREC qrels: {type(exc).__name__}: {exc}") from None
    return run, qrels


def ranked_items(path: Path) -> dict[str, set[str]]:
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


def check_metrics(record: Record, run, qrels) -> dict[str, dict[str, float]]:
    """Recompute every stored metric with ranx alone; return metric -> user -> score.

    ``run`` is made comparable to ``qrels`` in place (ranx adds empty rankings for missing users).
    """
    import ranx

    names = list(record.metrics)
    if set(names) != set(record.evaluation.metrics):
        raise Rejected(f"metrics {sorted(names)} differ from evaluation.metrics {sorted(record.evaluation.metrics)}")
    if not names:
        raise Rejected("the record holds no metric")
    extra = set(run.keys()) - set(qrels.keys())
    if extra:
        raise Rejected(f"{record.artifacts.run} ranks {len(extra)} user(s) absent from {record.artifacts.qrels}")
    run = run.make_comparable(qrels)
    try:
        means = ranx.evaluate(qrels, run, names, make_comparable=True)
    except Exception as exc:
        raise Rejected(f"ranx cannot evaluate {names}: {type(exc).__name__}: {exc}") from None
    if len(names) == 1:
        means = {names[0]: means}
    for name in names:
        if _differs(record.metrics[name], means[name]):
            raise Rejected(
                f"metric {name} is {record.metrics[name]!r} in the record but ranx computes "
                f"{float(means[name])!r} from {record.artifacts.run} and {record.artifacts.qrels}"
            )
    return {name: dict(run.scores[name]) for name in names}


def check_per_user(folder: Path, record: Record, per_query: dict[str, dict[str, float]]) -> None:
    name = record.artifacts.per_user
    try:
        with np.load(folder / name, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise Rejected(f"{name} is not a readable npz file: {type(exc).__name__}: {exc}") from None
    if "users" not in arrays:
        raise Rejected(f"{name} has no 'users' array")
    users = [str(int(u)) for u in arrays["users"].tolist()]
    queries = next(iter(per_query.values()))
    if len(users) != len(set(users)) or set(users) != set(queries):
        raise Rejected(f"{name} holds {len(users)} users, not the {len(queries)} users of {record.artifacts.qrels}")
    for metric, scores in per_query.items():
        if metric not in arrays:
            raise Rejected(f"{name} has no per-user scores for {metric}")
        values = np.asarray(arrays[metric], dtype=np.float64)
        if values.shape != (len(users),):
            raise Rejected(f"{name}: {metric} has shape {values.shape}, expected ({len(users)},)")
        expected = np.array([scores[u] for u in users], dtype=np.float64)
        bad = ~(np.abs(values - expected) <= TOLERANCE)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise Rejected(
                f"{name}: {metric} of {int(bad.sum())} user(s) differ from ranx's recomputation "
                f"(user {users[i]}: {values[i]!r} vs {expected[i]!r})"
            )

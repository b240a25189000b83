"""Records: one JSON file per result cell, with its ranked lists and judgements beside it.

A record folder ``<output>/records/<record_id>/`` holds ``record.json`` plus artifacts in
formats ``ranx`` alone can load (gzipped TREC: ``Run.from_file(path)``, ``Qrels.from_file(path)``;
ranx reads gzip by the ``.gz`` suffix) and the per-user metric scores (``per_user.npz``).
Folders are written under a temporary name and renamed into place, so a record either
exists completely or not at all; a killed run leaves only temporary folders, which the
next run removes.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from flm_bench import faults
from flm_bench.errors import RecordError
from flm_bench.results.migration import migrate
from flm_bench.results.trec import write_trec_qrels, write_trec_run
from flm_bench.suite import StopReason, Windows
from flm_bench.tuned import Tuning

SCHEMA_VERSION = 7
SCHEMA_FILE = f"record-v{SCHEMA_VERSION}.schema.json"
RECORDS_DIR = "records"
TMP_PREFIX = ".tmp-"
RECORD_FILE = "record.json"
#: The control strategy every transfer gain is measured against.
CONTROL = "scratch"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetInfo(_Model):
    name: str
    domain: str
    fingerprint: str
    synthetic: bool
    users: int
    items: int
    interactions: int
    preprocess: dict[str, Any] = Field(
        default_factory=dict, description="preprocessing options that differ from the raw data"
    )


class SplitInfo(_Model):
    protocol: str
    params: dict[str, Any]
    derived: dict[str, Any] = Field(
        default_factory=dict, description="values the split derived from the data, e.g. temporal cutoffs"
    )
    fingerprint: str


class AblationInfo(_Model):
    model: str = Field(description="the ablation's model name")
    removes: str = Field(description="what the ablation lacks, e.g. the social graph")


class ModelInfo(_Model):
    name: str
    plugin: str
    parameters: dict[str, Any]
    item_representation: str
    text_encoder: dict[str, str] | None = Field(
        None,
        description="what encoded the item text: the sentence encoder's name and weights sha256, or the "
        "hashed fallback, and how many items had text; null for models that read no text",
    )
    ablation: AblationInfo | None = Field(
        None,
        description="the model that is this one without one ingredient, as its plugin declares it; null: "
        "none (or before schema 7)",
    )


class StrategyInfo(_Model):
    name: str
    plugin: str
    corpus: str | None = Field(description="pretraining corpus, null for controls")
    corpus_datasets: list[str] = Field(default_factory=list)
    excluded: list[str] = Field(
        default_factory=list, description="corpus datasets excluded: the target and its source family"
    )
    checkpoint: str | None = None
    transfer: dict[str, list[str]] = Field(default_factory=dict, description="weights loaded / re-initialised")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="the strategy's parameters (e.g. the adapter's rank); empty before schema 6"
    )


class EvaluationInfo(_Model):
    full_ranking: Literal[True] = True
    exclude_history: bool
    tie_rule: str
    users: int
    metrics: list[str]
    scaled_cutoffs: list[int] = Field(
        default_factory=list,
        description="cutoffs added because the catalogue is small (@1, @3 below 50 items); empty before schema 5",
    )


class Levels(_Model):
    """What reference rankers score on the record's own test users, candidates and history rule."""

    random: dict[str, float] = Field(description="metric -> exact expectation under a uniformly random ranking")
    popularity: dict[str, float] = Field(description="metric -> ranking by training-interaction count")


class TrainingInfo(_Model):
    epochs: int = Field(description="epochs run")
    best_epoch: int
    valid_metric: str
    best_valid: float
    epochs_cap: int | None = Field(None, description="the most epochs allowed (null in records before schema 3)")
    optimizer_steps: int | None = Field(None, description="optimizer updates made (null before schema 3)")
    stopped_by: StopReason | None = Field(
        None,
        description="patience | cap (the cap ended it: not converged) | time (the time budget ended it) "
        "| stream (one online pass); null before 3",
    )
    windows: Windows | None = Field(
        None, description="sliding (every training item a target once per epoch) | last (each user's last window)"
    )


class Cost(_Model):
    pretrain_seconds: float = Field(description="time to pretrain the checkpoint (0 for controls)")
    pretrain_reused: bool = Field(description="the checkpoint came from the cache in this run")
    adapt_seconds: float
    eval_seconds: float
    trainable_parameters: int
    peak_memory_mb: float
    memory_kind: str
    device: str


class PluginCode(_Model):
    sha256: str = Field(description="digest of the source files of the packages the plugin's entry points are in")
    git_sha: str | None = Field(None, description="commit of the git work tree those files are in (editable installs)")


class Provenance(_Model):
    flm_bench_version: str
    plugins: dict[str, str] = Field(description="distribution -> version of every loaded plugin")
    plugin_code: dict[str, PluginCode] = Field(
        default_factory=dict,
        description="distribution -> what identifies its code, so that records made "
        "before and after a change of a plugin's code differ",
    )
    python: str
    torch: str
    platform: str
    cpus: int | None = Field(None, description="CPUs the machine has (null before schema 4)")
    torch_threads: int | None = Field(None, description="torch's intra-op threads when it was made (null before 4)")
    git_sha: str | None
    created: str


class Artifacts(_Model):
    run: str = Field(description="TREC run file (gzipped when it ends in .gz), relative to the record file")
    qrels: str = Field(description="TREC qrels file (gzipped when it ends in .gz), relative to the record file")
    per_user: str = Field(description="npz: users and per-user metric scores")


class TargetFraction(_Model):
    fraction: float = Field(gt=0, le=1, description="share of the target's training users kept (docs/transfer.md)")
    seed: int = Field(description="seed of the draw of kept users (one draw per split: fractions are nested)")
    training_users: int = Field(description="training users kept")
    of_users: int = Field(description="training users the split has")


class SliceResult(_Model):
    users: int = Field(description="test users in the slice (0: no metrics)")
    metrics: dict[str, float] = Field(default_factory=dict, description="ranx metric name -> mean over its users")


class Record(_Model):
    """One result cell: (suite, dataset, split, model, strategy, seed)."""

    schema_version: Literal[7] = 7  # SCHEMA_VERSION
    record_id: str
    suite: str
    dataset: DatasetInfo
    split: SplitInfo
    model: ModelInfo
    strategy: StrategyInfo
    seed: int
    evaluation: EvaluationInfo
    metrics: dict[str, float] = Field(description="ranx metric name -> mean over users")
    levels: Levels | None = Field(None, description="random and popularity levels of every metric (null before 5)")
    training: TrainingInfo | None = None
    strategy_metrics: dict[str, float | int | str] = Field(
        default_factory=dict,
        description="what the strategy measured or decided while adapting, by name "
        "(e.g. the online strategy's stream.ndcg@10); empty for most",
    )
    cost: Cost
    provenance: Provenance
    artifacts: Artifacts
    tuning: Tuning | None = Field(
        None,
        description="the parameters `flm-bench tune` chose on validation and the study they come from; "
        "null for a cell run with the suite's own parameters",
    )
    target_fraction: TargetFraction | None = Field(
        None, description="the share of the target's training users the cell used; null before schema 5 (all)"
    )
    slices: dict[str, SliceResult] = Field(
        default_factory=dict,
        description="metrics of subsets of the test users, by name (cold-start-items: docs/transfer.md); "
        "empty before schema 5",
    )

    @property
    def fraction(self) -> float:
        """The share of training users the cell used (1.0 when the record does not say)."""
        return self.target_fraction.fraction if self.target_fraction else 1.0


def json_schema() -> dict[str, Any]:
    """The record JSON Schema, as generated from :class:`Record`."""
    schema = Record.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://flm-bench/schemas/{SCHEMA_FILE}"
    return schema


def shipped_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package (must equal :func:`json_schema`)."""
    return json.loads(resources.files("flm_bench").joinpath("schemas", SCHEMA_FILE).read_text())


ARTIFACTS = {"run": "run.trec.gz", "qrels": "qrels.trec.gz", "per_user": "per_user.npz"}


def records_dir(output: Path) -> Path:
    return Path(output) / RECORDS_DIR


def record_path(output: Path, record_id: str) -> Path:
    return records_dir(output) / record_id / RECORD_FILE


def is_complete(output: Path, record_id: str) -> bool:
    return record_path(output, record_id).exists()


def write_record(
    output: Path,
    record: Record,
    *,
    users: np.ndarray,
    ranked: np.ndarray,
    targets: list[np.ndarray],
    per_user: dict[str, np.ndarray],
) -> Path:
    """Write the record folder atomically; return the path of ``record.json``."""
    final = records_dir(output) / record.record_id
    if final.exists():
        raise RecordError(f"record {record.record_id!r} already exists at {final}")
    tmp = records_dir(output) / f"{TMP_PREFIX}{record.record_id}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write_trec_run(tmp / record.artifacts.run, users, ranked, record.model.name)
        write_trec_qrels(tmp / record.artifacts.qrels, users, targets)
        np.savez_compressed(tmp / record.artifacts.per_user, users=users, **cast(dict[str, Any], per_user))
        (tmp / RECORD_FILE).write_text(record.model_dump_json(indent=2))
        faults.point("record.before-rename")
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / RECORD_FILE


def load_record(path: Path) -> Record:
    """Read and validate one ``record.json`` (older schema versions are migrated on read)."""
    try:
        return Record.model_validate(migrate(json.loads(Path(path).read_text())))
    except (OSError, ValueError) as exc:
        raise RecordError(f"record {str(path)!r} is unreadable or invalid: {exc}") from exc


def _record_files(folder: Path) -> list[Path]:
    """The complete ``*/record.json`` files in a folder of record folders (sorted; temporary
    folders of interrupted writes are skipped)."""
    paths = sorted(folder.glob(f"*/{RECORD_FILE}")) if folder.is_dir() else []
    return [p for p in paths if not p.parent.name.startswith(TMP_PREFIX)]


def find_records(path: Path | str, *, allow_empty: bool = False) -> list[Path]:
    """The ``record.json`` files at ``path``: a record file, a record folder, a folder of record
    folders, or a run's output folder (its ``records/`` subfolder). Sorted; temporary folders skipped.

    :param allow_empty: return ``[]`` for an existing folder without records instead of raising.
    :raises RecordError: ``path`` does not exist, or (unless ``allow_empty``) holds no record.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RecordError(f"{path}: no such record file or folder")
    if (path / RECORD_FILE).is_file():
        return [path / RECORD_FILE]
    found = _record_files(path) + _record_files(path / RECORDS_DIR)
    if not found and not allow_empty:
        raise RecordError(f"{path}: no {RECORD_FILE} in it, in its subfolders or in its {RECORDS_DIR}/ folder")
    return found


def load_records(path: Path | str, *, allow_empty: bool = False) -> list[tuple[Path, Record]]:
    """Every record at ``path`` (see :func:`find_records`), read and validated, sorted by path."""
    return [(p, load_record(p)) for p in find_records(path, allow_empty=allow_empty)]


def fraction_text(fraction: float) -> str:
    """A target fraction as a percentage (``0.05`` -> ``5%``)."""
    return f"{fraction * 100:.4g}%"


@dataclass(frozen=True)
class CellKey:
    """What makes records seeds of one cell (one board row): every field but the seed."""

    suite: str
    dataset: str
    split: str  # the split's fingerprint: same protocol and data, same test users
    model: str
    strategy: str
    corpus: str | None
    tuned: bool = False  # parameters chosen by `flm-bench tune`: a row of its own
    fraction: float = 1.0  # share of the target's training users (docs/transfer.md): a row of its own

    @classmethod
    def of(cls, record: Record) -> CellKey:
        return cls(
            record.suite,
            record.dataset.name,
            record.split.fingerprint,
            record.model.name,
            record.strategy.name,
            record.strategy.corpus,
            record.tuning is not None,
            record.fraction,
        )

    def control(self) -> CellKey:
        """The cell of this cell's control: same suite, dataset, split, model and target fraction, trained
        from scratch, and tuned if this cell is (a tuned strategy is compared with an equally tuned scratch)."""
        return CellKey(self.suite, self.dataset, self.split, self.model, CONTROL, None, self.tuned, self.fraction)

    def label(self) -> str:
        """``model/strategy←corpus``, how a cell is named among others of the same dataset."""
        return (
            f"{self.model}/{self.strategy}"
            + (f"←{self.corpus}" if self.corpus else "")
            + (" (tuned)" if self.tuned else "")
            + (f" @{fraction_text(self.fraction)}" if self.fraction != 1.0 else "")
        )

    def describe(self, seed: int | None = None) -> str:
        """One line naming the cell (and a seed), for messages."""
        corpus = f" ← {self.corpus}" if self.corpus else ""
        share = f" at {fraction_text(self.fraction)} of training users" if self.fraction != 1.0 else ""
        where = f"{self.suite}: {self.dataset} (split {self.split[:12]}…) {self.model}/{self.strategy}{corpus}{share}"
        return where + (f" seed {seed}" if seed is not None else "")


def per_user_scores(record_file: Path, record: Record) -> dict[str, np.ndarray]:
    """The record's per-user arrays (``users`` plus one array per metric)."""
    with np.load(Path(record_file).parent / record.artifacts.per_user) as npz:
        return {k: npz[k] for k in npz.files}

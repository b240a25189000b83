"""Checks of a record's own fields, before any file beside it is read: its id, its strings, its
provenance, its cost, and that what it names is what the installed plugins register.

Each check raises :class:`~.errors.Rejected` with the reason.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import TYPE_CHECKING, Any

from flm_bench.errors import FlmBenchError
from flm_bench.results.publish.errors import Rejected
from flm_bench.results.records import TMP_PREFIX, Record
from flm_bench.specs import DOMAINS
from flm_bench.text import first_undrawable

if TYPE_CHECKING:
    from flm_bench.plugins import Plugins
    from flm_bench.registry import Entry, Registry

_SAFE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,119}")  # fullmatch: no newline, at most 120
_HEX_SHA = re.compile(r"[0-9a-f]{7,64}")
MEMORY_KINDS = ("process_peak_rss", "cuda_max_allocated")
MAX_SECONDS = 366 * 24 * 3600.0  # a cell that took over a year was not measured
MAX_PARAMETERS = 10**13
MAX_MEMORY_MB = 2.0**30  # a petabyte


def check_strings(doc: Any, where: str = "") -> None:
    """Every string (and key) of the record is printable text: no controls, bidi or format characters."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            check_strings(key, where)
            check_strings(value, f"{where}/{key}" if where else str(key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            check_strings(value, f"{where}/{i}")
    elif isinstance(doc, str) and (bad := first_undrawable(doc)) is not None:
        raise Rejected(
            f"{where or 'a key'} holds the character U+{ord(bad):04X}, which may not appear in a record "
            "(controls, bidi and format characters, noncharacters)"
        )


def check_id(record: Record) -> None:
    """``record_id`` becomes a folder name: lowercase letters, digits and ``._-``, at most 120."""
    if not _SAFE_ID.fullmatch(record.record_id) or record.record_id.startswith(TMP_PREFIX):
        raise Rejected(
            f"record_id {record.record_id!r} is not a safe folder name "
            "(a lowercase letter or digit, then lowercase letters, digits or ._-, at most 120 characters)"
        )


def check_cost(record: Record) -> None:
    """Cost fields are finite, non-negative and plausible; a control spent nothing on pretraining."""
    cost = record.cost
    for name in ("pretrain_seconds", "adapt_seconds", "eval_seconds"):
        _in_range(f"cost.{name}", getattr(cost, name), MAX_SECONDS)
    _in_range("cost.peak_memory_mb", cost.peak_memory_mb, MAX_MEMORY_MB)
    _in_range("cost.trainable_parameters", cost.trainable_parameters, MAX_PARAMETERS)
    if cost.memory_kind not in MEMORY_KINDS:
        raise Rejected(f"cost.memory_kind {cost.memory_kind!r} is not one of {', '.join(MEMORY_KINDS)}")
    if not cost.device.strip():
        raise Rejected("cost.device is empty")
    if record.strategy.corpus is None and (cost.pretrain_seconds != 0 or cost.pretrain_reused):
        raise Rejected("cost.pretrain_seconds must be 0 (and pretrain_reused false) for a record without a corpus")


def _in_range(name: str, value: float, most: float) -> None:
    if not (math.isfinite(value) and 0 <= value <= most):
        raise Rejected(f"{name} is {value!r}, expected a number from 0 to {most:g}")


def check_registered(record: Record, plugins: Plugins) -> None:
    """The model, strategy and corpus are registered, by the plugins the record names, and fit together."""
    model = _entry(plugins.models, record.model.name, record.model.plugin)
    strategy = _entry(plugins.strategies, record.strategy.name, record.strategy.plugin)
    if record.model.item_representation != model.spec.item_representation:
        raise Rejected(
            f"model.item_representation {record.model.item_representation!r} differs from model "
            f"{record.model.name!r}'s {model.spec.item_representation!r}"
        )
    if record.dataset.domain not in DOMAINS:
        raise Rejected(f"dataset.domain {record.dataset.domain!r} is not one of {', '.join(DOMAINS)}")
    info = record.strategy
    if not strategy.spec.needs_pretraining:
        if info.corpus is not None or info.corpus_datasets or info.excluded or info.checkpoint is not None:
            raise Rejected(f"strategy {info.name!r} does not pretrain, but the record names a corpus or checkpoint")
        return
    if info.corpus is None or info.checkpoint is None:
        raise Rejected(f"strategy {info.name!r} adapts a pretrained model; the record names no corpus or checkpoint")
    if not model.spec.pretrainable:
        raise Rejected(f"strategy {info.name!r} needs pretraining, which model {record.model.name!r} does not support")
    try:
        members = set(plugins.corpora.get(info.corpus).datasets)
    except FlmBenchError as exc:
        raise Rejected(f"strategy.corpus: {exc}") from None
    used, excluded = set(info.corpus_datasets), set(info.excluded)
    if used & excluded or used | excluded != members or record.dataset.name in used:
        raise Rejected(
            f"strategy.corpus_datasets {sorted(used)} and excluded {sorted(excluded)} do not split corpus "
            f"{info.corpus!r} ({sorted(members)}) with the target {record.dataset.name!r} left out"
        )


def _entry(registry: Registry[Any], name: str, plugin: str) -> Entry[Any]:
    kind = registry.kind
    try:
        entry = registry.entry(name)
    except FlmBenchError as exc:
        raise Rejected(f"{kind}.name: {exc}") from None
    if entry.plugin != plugin:
        raise Rejected(f"{kind}.plugin {plugin!r}: {kind} {name!r} is registered by plugin {entry.plugin!r}")
    return entry


def check_provenance(record: Record) -> None:
    """Full provenance: versions, plugins (with the model's and strategy's), a commit for dev builds, a time."""
    from packaging.version import InvalidVersion, Version

    prov = record.provenance
    for name in ("flm_bench_version", "python", "torch", "platform", "created"):
        if not str(getattr(prov, name)).strip():
            raise Rejected(f"incomplete provenance: provenance.{name} is empty")
    try:
        version = Version(prov.flm_bench_version)
    except InvalidVersion:
        raise Rejected(f"provenance.flm_bench_version {prov.flm_bench_version!r} is not a PEP 440 version") from None
    if not prov.plugins:
        raise Rejected("incomplete provenance: provenance.plugins lists no plugin distribution")
    empty = sorted(d for d, v in prov.plugins.items() if not d.strip() or not str(v).strip())
    if empty:
        raise Rejected(f"incomplete provenance: no version for plugin distribution(s) {empty}")
    for what, plugin in (("model", record.model.plugin), ("strategy", record.strategy.plugin)):
        if plugin not in prov.plugins:
            raise Rejected(
                f"incomplete provenance: the {what}'s plugin {plugin!r} is not in provenance.plugins "
                f"{sorted(prov.plugins)}"
            )
    if prov.git_sha is None:
        if version.is_devrelease or version.is_prerelease or version.local is not None:
            raise Rejected(
                f"incomplete provenance: git_sha is null, but flm-bench {prov.flm_bench_version} is not "
                "a release, so only its commit identifies the code"
            )
    elif not _HEX_SHA.fullmatch(prov.git_sha):
        raise Rejected(f"provenance.git_sha {prov.git_sha!r} is not a hexadecimal commit id")
    try:
        created = dt.datetime.fromisoformat(prov.created)
    except ValueError:
        raise Rejected(f"provenance.created {prov.created!r} is not an ISO-8601 time") from None
    if created.tzinfo is None:
        raise Rejected(f"provenance.created {prov.created!r} has no UTC offset")

"""Suites: declarative TOML files of corpora × targets × models × strategies × seeds × metrics.

Every field has a default (shown in ``flm_bench/suites/quickstart.toml``); unknown fields
are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from flm_bench.data import splits
from flm_bench.data.preprocess import Preprocess
from flm_bench.errors import ConfigError, DataError
from flm_bench.evaluation import metric_names
from flm_bench.levels import scaled_cutoffs
from flm_bench.specs import Domain
from flm_bench.tuned import TunedCell


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitConfig(_Strict):
    """Which split protocol, with its parameters (see :mod:`flm_bench.data.splits`).

    ``params`` is kept as written (it shapes record ids); it must validate through the
    protocol's parameter model.
    """

    protocol: str = "leave-one-out"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _registered(self) -> SplitConfig:
        try:
            splits.protocol(self.protocol).inputs(self.params)
        except DataError as exc:
            raise PydanticCustomError("split", "{reason}", {"reason": str(exc)}) from None
        return self


class EvalConfig(_Strict):
    """Full-ranking evaluation settings (a catalogue of fewer than 50 items adds @1 and @3: :meth:`names_for`)."""

    metrics: list[str] = Field(default_factory=lambda: ["ndcg", "recall", "mrr"], min_length=1)
    cutoffs: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=lambda: [10, 20], min_length=1)
    exclude_history: bool = True

    @property
    def names(self) -> list[str]:
        return metric_names(self.metrics, self.cutoffs)

    def names_for(self, n_items: int) -> list[str]:
        """The metrics a catalogue of ``n_items`` is evaluated with: :attr:`names`, plus @1 and @3 for a
        small catalogue (:func:`flm_bench.levels.scaled_cutoffs`)."""
        return metric_names(self.metrics, [*self.cutoffs, *scaled_cutoffs(n_items, self.cutoffs)])


#: Why training stopped: validation stopped improving for ``patience`` epochs; the epoch cap ended
#: it first (not converged); or one prequential pass over a stream (no epochs).
StopReason = Literal["patience", "cap", "time", "stream"]
Windows = Literal["sliding", "last"]


class TrainConfig(_Strict):
    """The harness's gradient loop (adaptation and pretraining alike)."""

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(3, ge=1, description="epochs without validation gain before stopping")
    max_seconds: float | None = Field(
        None, gt=0, description="stop after the epoch that ends past this many seconds of training (stopped_by time)"
    )
    windows: Windows = Field(
        "sliding",
        description="sliding: every training item after a user's first is a target once per epoch "
        "(histories longer than max_len are cut into windows); last: only each user's last max_len + 1 items",
    )
    valid_metric: str = "ndcg@10"
    max_valid_users: int = Field(5000, ge=1, description="validation users scored per epoch")
    device: str = "auto"
    deterministic: bool = Field(True, description="deterministic torch kernels (same seed, same weights)")

    @field_validator("valid_metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        name, _, k = v.partition("@")
        metric_names([name], [int(k) if k.isdigit() else 0])
        return v


class ProtocolConfig(_Strict):
    """Transfer protocols (``docs/transfer.md``): each target fraction is a cell of its own."""

    target_fractions: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [1.0],
        min_length=1,
        description="shares of the target's training users kept, each in (0, 1]; nested, seeded subsets",
    )
    fraction_seed: int = Field(0, ge=0, lt=2**32, description="seed of the draw of kept training users")

    @field_validator("target_fractions")
    @classmethod
    def _distinct(cls, v: list[float]) -> list[float]:
        if len(set(v)) != len(v):
            raise ValueError(f"target fractions must be distinct, got {v}")
        return v


class PretrainConfig(TrainConfig):
    """Pretraining: the same loop, on a corpus, with an objective."""

    objective: str = "next-item"
    seed: int | None = Field(
        None,
        ge=0,
        lt=2**32,
        description="seed of the one checkpoint every cell seed adapts from (seeds then vary the adaptation "
        "only); default: each cell seed pretrains a checkpoint of its own",
    )

    def identity(self) -> dict[str, Any]:
        """The settings that shape a checkpoint (not the device; ``seed`` only when set, so checkpoints
        and records made before it existed keep their keys and ids)."""
        return self.model_dump(exclude={"device", *(["seed"] if self.seed is None else [])})


class CsvDataset(_Strict):
    """A dataset read from a CSV file of your own (no plugin needed): one interaction per row."""

    path: Path = Field(description="the CSV file; relative paths are relative to the suite file")
    domain: Domain = Field("other", description="one of ecommerce, social, media, finance, other")
    user: str = Field("user", description="column of user ids (any strings)")
    item: str = Field("item", description="column of item ids (any strings)")
    timestamp: str | None = Field("timestamp", description='column of times (numbers or dates); "" if none')
    rating: str | None = Field(None, description="column of ratings, kept as the rating column; none by default")
    sep: str = ","
    ordered: bool = Field(False, description="without timestamps: whether each user's rows are in sequence order")

    @field_validator("timestamp", "rating")
    @classmethod
    def _empty_is_none(cls, v: str | None) -> str | None:
        return v or None  # TOML has no null: an empty name means no such column


class CellResources(_Strict):
    """What one cell (or pretraining task) reserves on a cluster worker (``--executor ray``)."""

    cpus: float = Field(1.0, gt=0, description="CPU cores reserved; also the cell's torch threads")
    gpus: float = Field(0.0, ge=0, description="GPUs reserved (fractions share one GPU)")


class Resources(CellResources):
    """Per-cell resources for the Ray executor, with per-model overrides (``[resources.models.NAME]``).

    They decide where a cell may run, not what it computes: they are not part of record ids.
    """

    models: dict[str, CellResources] = Field(default_factory=dict)

    def for_model(self, model: str) -> CellResources:
        """What a cell of ``model`` reserves: its override, else the suite-wide amounts."""
        return self.models.get(model, CellResources(cpus=self.cpus, gpus=self.gpus))


class Suite(_Strict):
    """One benchmark suite."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$", description="lowercase letters, digits, _ . -")
    targets: list[str] = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    strategies: list[str] = Field(default_factory=lambda: ["scratch"])
    corpora: list[str] = Field(default_factory=list)
    seeds: list[Annotated[int, Field(ge=0, lt=2**32)]] = Field(default_factory=lambda: [0], min_length=1)
    preprocess: Preprocess = Preprocess()
    split: SplitConfig = SplitConfig()
    evaluation: EvalConfig = EvalConfig()
    training: TrainConfig = TrainConfig()
    pretraining: PretrainConfig = PretrainConfig()
    protocol: ProtocolConfig = ProtocolConfig()
    model_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    strategy_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per strategy, overrides of its parameters (e.g. adapter.rank)"
    )
    model_training: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per model, overrides of [training] fields (e.g. a graph model's batch_size); not device",
    )
    split_overrides: dict[str, SplitConfig] = Field(
        default_factory=dict,
        description="per-target split, for targets the suite-wide protocol does not suit "
        "(e.g. unordered product holdings need random-holdout)",
    )
    csv: dict[str, CsvDataset] = Field(
        default_factory=dict, description="datasets read from your own CSV files, by the name targets and corpora use"
    )
    tuned: list[TunedCell] = Field(
        default_factory=list, description="parameters chosen by `flm-bench tune` per cell (see with_overlay)"
    )

    @model_validator(mode="after")
    def _model_training_is_valid(self) -> Suite:
        """Before the tuned cells' check: an error here names the override, not a tuned cell."""
        for model, overrides in self.model_training.items():
            if "device" in overrides:
                raise ValueError(f"model_training.{model}.device: the device is suite-wide, set it in [training]")
            try:
                self.training_for(model)
            except ValidationError as exc:
                where, msg = _first_error(exc)
                raise ValueError(f"model_training.{model}.{where}: {msg}") from None
        return self

    @model_validator(mode="after")
    def _tuned_cells_are_unique_and_valid(self) -> Suite:
        keys = [t.key for t in self.tuned]
        twice = sorted({"/".join(k) for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"tuned: more than one entry for the cell(s) {twice}")
        for t in self.tuned:
            self.training_for(t.model, t)  # overrides must be [training] fields with allowed values
        return self

    def tuned_for(self, dataset: str, model: str, strategy: str, corpus: str | None) -> TunedCell | None:
        """The ``[[tuned]]`` entry of a cell, if any."""
        key = (dataset, model, strategy, corpus or "")
        return next((t for t in self.tuned if t.key == key), None)

    def training_for(self, model: str, tuned: TunedCell | None = None) -> TrainConfig:
        """A cell's training: ``[training]`` < ``[model_training.MODEL]`` < the tuned cell's ``training``;
        ``[training]`` itself when neither overrides it (so record ids stay what they were)."""
        overrides = {**self.model_training.get(model, {}), **(tuned.training if tuned else {})}
        if not overrides:
            return self.training
        return TrainConfig.model_validate({**self.training.model_dump(), **overrides})

    resources: Resources = Resources()

    @model_validator(mode="after")
    def _overrides_name_targets(self) -> Suite:
        stray = sorted(set(self.split_overrides) - set(self.targets))
        if stray:
            raise ValueError(f"split_overrides for {stray}, which are not among the targets {self.targets}")
        for table, names in (("resources.models", self.resources.models), ("model_training", self.model_training)):
            stray = sorted(set(names) - set(self.models))
            if stray:
                raise ValueError(f"{table} for {stray}, which are not among the models {self.models}")
        return self

    def split_for(self, target: str) -> SplitConfig:
        """The split protocol used for ``target``: its override, else the suite-wide one."""
        return self.split_overrides.get(target, self.split)


def _first_error(exc: ValidationError) -> tuple[str, str]:
    """Where (the dotted field path; "" for the whole object) and what the first error of ``exc`` is."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]), first["msg"]


def _validated(data: dict[str, Any], source: str) -> Suite:
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        where, msg = _first_error(exc)
        raise ConfigError(f"{source}: field {where or '(top level)'}: {msg}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def load_suite(path: Path) -> Suite:
    """Read and validate a suite TOML file."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"suite file {str(path)!r} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"suite file {str(path)!r} is not a readable TOML file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"suite file {str(path)!r} is not UTF-8 text: {exc.reason}") from exc
    except ValueError as exc:  # TOMLDecodeError, or an integer too long to convert
        raise ConfigError(f"suite file {str(path)!r} is not valid TOML: {exc}") from exc
    for entry in (data.get("csv") or {}).values():  # paths are relative to the suite file
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            entry["path"] = str(Path(path).parent / Path(entry["path"]).expanduser())
    return _validated(data, str(path))


def builtin_suite(name: str = "quickstart") -> Suite:
    """A suite shipped inside the package (``flm_bench/suites/NAME.toml``)."""
    text = resources.files("flm_bench").joinpath("suites", f"{name}.toml").read_text()
    return _validated(tomllib.loads(text), f"built-in suite {name!r}")


#: The name of a suite made of cells chosen on the command line (``flm-bench run --dataset ...``).
ADHOC = "adhoc"


def single_cell(base: Suite, **overrides: Any) -> Suite:
    """``base`` with some top-level fields replaced (the CLI's one-cell options: lists of names,
    ``name``, ``split``); None or empty leaves a field as it is."""
    data = base.model_dump()
    data.update({k: v for k, v in overrides.items() if v and k != "split"})
    data["model_params"] = {m: p for m, p in data["model_params"].items() if m in data["models"]}
    data["strategy_params"] = {s: p for s, p in data["strategy_params"].items() if s in data["strategies"]}
    data["model_training"] = {m: t for m, t in data["model_training"].items() if m in data["models"]}
    data["split_overrides"] = {t: s for t, s in data["split_overrides"].items() if t in data["targets"]}
    data["tuned"] = [
        t
        for t in data["tuned"]
        if t["dataset"] in data["targets"]
        and t["model"] in data["models"]
        and t["strategy"] in data["strategies"]
        and (not t["corpus"] or t["corpus"] in data["corpora"])
    ]
    data["resources"]["models"] = {m: r for m, r in data["resources"]["models"].items() if m in data["models"]}
    if overrides.get("split"):
        data["split"] = {"protocol": overrides["split"], "params": {}}
        data["split_overrides"] = {}
    return _validated(data, "command-line options")


def parse_param(text: str) -> tuple[str, str, Any]:
    """``NAME.FIELD=VALUE`` (NAME: a model or a strategy) -> (name, field, value); the value is read
    as TOML (``128``, ``0.5``, ``true``, ``"dot"``), or taken as a plain string when it is not TOML."""
    key, eq, raw = text.partition("=")
    model, dot, name = key.strip().rpartition(".")
    if not eq or not dot or not model or not name:
        raise ConfigError(f"--param {text!r}: expected NAME.FIELD=VALUE, e.g. sasrec.dim=128 or adapter.rank=16")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return model, name, value


def with_csv(base: Suite, files: list[str]) -> Suite:
    """``base`` with datasets read from CSV files (``NAME=PATH`` each, default columns
    user,item,timestamp; see :class:`CsvDataset`)."""
    if not files:
        return base
    data = base.model_dump()
    for text in files:
        name, eq, path = text.partition("=")
        if not eq or not name.strip() or not path.strip():
            raise ConfigError(f"--csv {text!r}: expected NAME=PATH, e.g. mydata=ratings.csv")
        data["csv"][name.strip()] = {"path": path.strip()}
    return _validated(data, "command-line options")


def with_params(base: Suite, params: list[str]) -> Suite:
    """``base`` with model or strategy parameters overridden (``NAME.FIELD=VALUE`` each, see
    :func:`parse_param`); NAME must be one of the suite's models or strategies (a model first)."""
    if not params:
        return base
    data = base.model_dump()
    for text in params:
        owner, name, value = parse_param(text)
        kind = "model" if owner in data["models"] else "strategy" if owner in data["strategies"] else None
        if kind is None:
            raise ConfigError(
                f"--param {text!r}: {owner!r} is neither among the suite's models {data['models']} "
                f"nor its strategies {data['strategies']}"
            )
        data[f"{kind}_params"].setdefault(owner, {})[name] = value
    return _validated(data, "command-line options")


def with_overlay(base: Suite, path: Path | None) -> Suite:
    """``base`` with the ``[[tuned]]`` entries of an overlay file (as ``flm-bench tune`` writes it);
    an overlay entry replaces the suite's entry for the same cell."""
    if path is None:
        return base
    try:
        overlay = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"overlay {str(path)!r} is not a readable TOML file: {exc}") from exc
    stray = sorted(set(overlay) - {"tuned"})
    if stray or not isinstance(overlay.get("tuned"), list):
        raise ConfigError(f"overlay {str(path)!r}: expected only [[tuned]] entries, found {stray or 'none'}")
    data = base.model_dump()
    cells = {TunedCell.model_validate(t).key: t for t in data["tuned"]}
    for entry in overlay["tuned"]:
        try:
            cells[TunedCell.model_validate(entry).key] = entry
        except ValidationError as exc:
            where, msg = _first_error(exc)
            raise ConfigError(f"overlay {str(path)!r}: tuned entry field {where}: {msg}") from None
    data["tuned"] = list(cells.values())
    return _validated(data, f"suite with overlay {str(path)!r}")

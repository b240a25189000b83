"""Contract and meta tests: everything the registries hold, checked against what the harness relies on.

In the style of datasette's meta-tests, the parametrizations are read from ``load_plugins()`` at
collection time, so a newly registered dataset, corpus, model or strategy (and a new hook in
:mod:`flm_bench.hookspecs`) is covered without editing this file:

1. every model x every strategy that applies to it (``runner.plan``'s rule) adapts on small
   generated data, from a checkpoint pretrained on another generated catalogue when it needs one;
2. every model's params class: defaults, search space inside the allowed ranges, unknown fields;
3. every dataset loads and satisfies the data invariants;
4. every corpus names registered datasets;
5. every hook is exercised by a fake plugin, and a hook wrapper runs around each plugin;
6. every hook is documented in CONTRIBUTING.md.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flm_bench import hookspecs
from flm_bench.api import (
    SIDE_KEYS,
    AdaptContext,
    ConfigError,
    CorpusSpec,
    DataError,
    DatasetSpec,
    InteractionData,
    ModelParams,
    ModelSpec,
    Recommender,
    StrategyResult,
    StrategySpec,
    TrainConfig,
    from_table,
    hookimpl,
)
from flm_bench.params import parse_params
from flm_bench.plan import plan
from flm_bench.plugins import load_plugins
from flm_bench.suite import PretrainConfig, Suite

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = load_plugins()  # collection time only: each test loads its own
MODELS = [e.spec.name for e in PLUGINS.models]
STRATEGIES = [e.spec.name for e in PLUGINS.strategies]
DATASETS = [e.spec.name for e in PLUGINS.datasets]
CORPORA = [e.spec.name for e in PLUGINS.corpora]
HOOKS = sorted(name for name, f in vars(hookspecs).items() if callable(f) and hasattr(f, f"{hookspecs.PROJECT}_spec"))
DOMAINS = {"ecommerce", "social", "media", "finance"}


def test_collection_sees_every_kind_of_thing() -> None:
    """A plugin that failed to load would silently shrink every parametrization below."""
    assert not PLUGINS.failed, [f"{p.origin}: {p.error}" for p in PLUGINS.failed]
    assert MODELS and STRATEGIES and DATASETS and CORPORA and len(HOOKS) == 5


# ------------------------------------------------------------ 1. model x strategy on generated data

#: the smallest sensible parameters per model (defaults for any model not listed)
SMALL: dict[str, dict[str, Any]] = {
    "sasrec": {"dim": 8, "layers": 1, "heads": 1, "max_len": 8},
    "flm-cnn": {"dim": 8, "max_len": 3, "train_len": 8, "n_h": 2, "n_v": 2},
    "unisrec": {
        "dim": 8,
        "layers": 1,
        "heads": 1,
        "max_len": 8,
        "buckets": 256,
        "text_dim": 8,
        "experts": 2,
        "max_words": 16,
        "negatives": 8,
    },
    "itemknn": {"neighbours": 10},
}
TRAIN = TrainConfig(epochs=1, batch_size=32, device="cpu", max_valid_users=64)
FEATURES = 16  # item feature width, the same in both catalogues (so the feature projection transfers)
WORDS = ("red", "blue", "wool", "steel", "jazz", "novel", "loan", "card", "lamp", "song", "mug", "film")


def applicable() -> list[tuple[str, str]]:
    """(model, strategy) pairs the runner would run: ``plan`` itself decides, on a suite of everything."""
    suite = Suite(name="contracts", targets=DATASETS[:1], models=MODELS, strategies=STRATEGIES, corpora=CORPORA[:1])
    return sorted({(cell.model, cell.strategy) for cell in plan(suite, PLUGINS)})


def params_for(model: str) -> ModelParams:
    spec = load_plugins().models.get(model)
    return parse_params(model, spec.params, SMALL.get(model, {}))


def generated(name: str, n_users: int, n_items: int, seed: int) -> InteractionData:
    """Timestamped sequences of 4..10 distinct items per user, with item features, text, attributes
    and a random social graph."""
    import datasets

    rng = np.random.default_rng(seed)
    users, items, orders = [], [], []
    for u in range(n_users):
        seq = rng.choice(n_items, size=int(rng.integers(4, 11)), replace=False)
        start = int(rng.integers(0, 1_000_000))
        users += [u] * len(seq)
        items += seq.tolist()
        orders += (start + 3600 * np.arange(len(seq)) + rng.integers(0, 3600, len(seq))).tolist()
    n_attrs = rng.integers(0, 4, n_items)
    side = {
        "item_ids": np.array([f"{name}-item-{i}" for i in range(n_items)]),  # fixes n_items, used or not
        "item_features": rng.normal(size=(n_items, FEATURES)).astype(np.float32),
        "item_text": np.array(["" if i % 7 == 0 else " ".join(rng.choice(WORDS, 3)) + f" {i}" for i in range(n_items)]),
        "item_attr_indptr": np.concatenate([[0], np.cumsum(n_attrs)]).astype(np.int64),
        "item_attr_ids": rng.integers(0, 10, int(n_attrs.sum())).astype(np.int64),
        "social_edges": rng.integers(0, n_users, (2 * n_users, 2)).astype(np.int64),  # for social models
    }
    columns = {
        "user": np.array(users, np.int64),
        "item": np.array(items, np.int64),
        "order": np.array(orders, np.int64),
    }
    return from_table(name, "ecommerce", datasets.Dataset.from_dict(columns), timestamped=True, side=side)


@pytest.fixture(scope="module")
def target() -> InteractionData:
    return generated("contract-target", n_users=60, n_items=40, seed=1)


@pytest.fixture(scope="module")
def checkpoint_for(tmp_path_factory: pytest.TempPathFactory):
    """``checkpoint_for(model)``: pretrained once per model (lazily) on a catalogue of another size."""
    from flm_bench.train.pretraining import pretrain

    corpus = generated("contract-corpus", n_users=50, n_items=55, seed=2)
    directory = tmp_path_factory.mktemp("checkpoints")
    done: dict[str, Any] = {}

    def get(model: str) -> Any:
        if model not in done:
            spec = load_plugins().models.get(model)
            objective = "next-item" if "next-item" in spec.objectives else spec.objectives[0]
            cfg = PretrainConfig(**TRAIN.model_dump(), objective=objective)
            done[model], _ = pretrain(
                spec,
                params_for(model),
                corpus,
                excluded=[],
                datasets=[corpus.name],
                cfg=cfg,
                seed=0,
                device="cpu",
                directory=directory,
            )
        return done[model]

    return get


@pytest.mark.slow  # shares module fixtures that pretrain every model
@pytest.mark.parametrize(("model", "strategy"), applicable(), ids=lambda v: v)
def test_strategy_adapts_model(model: str, strategy: str, target: InteractionData, checkpoint_for) -> None:
    import torch

    from flm_bench.api import NeuralRecommender
    from flm_bench.data.splits import leave_one_out

    plugins = load_plugins()
    mspec, sspec = plugins.models.get(model), plugins.strategies.get(strategy)
    ckpt = checkpoint_for(model) if sspec.needs_pretraining else None
    split = leave_one_out(target)
    ctx = AdaptContext(mspec, params_for(model), target, split, ckpt, TRAIN, seed=0, device="cpu")

    try:
        result = sspec.build().adapt(ctx)
    except ConfigError as exc:  # a strategy may refuse a model it cannot apply: one line, naming the model
        assert f"model {model!r}" in str(exc) and "\n" not in str(exc), str(exc)
        return

    assert isinstance(result, StrategyResult), f"adapt() returned {type(result).__name__}"
    scorer = result.model
    assert isinstance(scorer, Recommender) and scorer.n_items == target.n_items
    neural = isinstance(scorer, NeuralRecommender)
    assert neural == mspec.pretrainable, "pretrainable models, and only they, adapt into a NeuralRecommender"
    if neural:  # (not check_contract() here: LoRA wraps the adapter targets' nn.Linear)
        scorer.eval()
    positions = np.arange(8)[::-1]  # users come in the harness's batch order, not sorted
    with torch.no_grad():
        scores = scorer.score(split.test.history.take(positions), split.test.users[positions].copy())
    assert isinstance(scores, torch.Tensor) and tuple(scores.shape) == (len(positions), target.n_items)
    assert torch.isfinite(scores).all(), "scores hold NaN or inf"

    assert isinstance(result.trainable_parameters, int) and result.trainable_parameters >= 0
    if neural:  # a strategy that trains records its run; one that trains nothing (zero-shot) says so
        assert (result.fit is None) == (result.trainable_parameters == 0), (result.fit, result.trainable_parameters)
    if sspec.needs_pretraining:
        assert {"loaded", "reinitialised"} <= set(result.transfer), result.transfer.keys()
        assert result.transfer["loaded"], "nothing transferred from the checkpoint"
        leaked = set(result.transfer["loaded"]) & set(scorer.id_parameters)
        assert not leaked, f"item-ID parameters loaded from another catalogue: {sorted(leaked)}"
    for key, value in result.metrics.items():
        assert isinstance(key, str)
        assert isinstance(value, (int, float, str)) and not isinstance(value, bool), (key, value)


@pytest.mark.parametrize("model", MODELS)
def test_model_build_keeps_its_promises(model: str, target: InteractionData) -> None:
    """``spec.build`` called directly (not through the harness's checked build): a pretrainable
    model is a NeuralRecommender that passes ``check_contract()``; any model is a Recommender."""
    from flm_bench.api import BuildInputs, NeuralRecommender

    spec = load_plugins().models.get(model)
    built = spec.build(
        BuildInputs(
            n_items=target.n_items,
            item_features=target.item_features,
            params=params_for(model),
            seed=0,
            device="cpu",
            side=target.side,
            n_users=target.n_users,
            dataset=target.name,
        )
    )
    assert isinstance(built, Recommender) and built.n_items == target.n_items
    assert isinstance(built, NeuralRecommender) == spec.pretrainable
    if spec.pretrainable:
        built.check_contract()
        assert set(built.id_parameters) <= set(built.state_dict())


# ------------------------------------------------------------ 2. model params


def _bounds(cls: type[ModelParams], field: str) -> dict[str, float]:
    """The field's numeric constraints (``ge``, ``gt``, ``le``, ``lt``)."""
    out = {}
    for meta in cls.model_fields[field].metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if getattr(meta, attr, None) is not None:
                out[attr] = getattr(meta, attr)
    return out


@pytest.mark.parametrize("model", MODELS)
def test_params_defaults_validate(model: str) -> None:
    cls = load_plugins().models.get(model).params
    defaults = cls()
    assert parse_params(model, cls, {}) == defaults
    assert parse_params(model, cls, defaults.model_dump()) == defaults  # defaults round-trip


@pytest.mark.parametrize("model", MODELS)
def test_params_search_space_lies_inside_allowed_ranges(model: str) -> None:
    cls = load_plugins().models.get(model).params
    for field, search in cls.search_space().items():
        assert field in cls.model_fields, f"search on {field!r}, which is no field"
        if search.choices is not None:
            assert search.choices, f"{field}: empty choices"
            values = list(search.choices)
        else:
            assert search.low <= search.high, f"{field}: low {search.low} > high {search.high}"
            assert not search.log or search.low > 0, f"{field}: a log-scale range must start above 0"
            values = [search.low, search.high]
            assert all(math.isfinite(v) for v in values)
        for value in values:  # a ConfigError names model, field and what is allowed
            parse_params(model, cls, {field: value})
        # the same, independently of parse_params: the field's own bounds
        bounds = _bounds(cls, field)
        for value in values:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert value >= bounds.get("ge", value) and value > bounds.get("gt", value - 1)
                assert value <= bounds.get("le", value) and value < bounds.get("lt", value + 1)


@pytest.mark.parametrize("model", MODELS)
def test_params_unknown_field_is_a_config_error_naming_it(model: str) -> None:
    cls = load_plugins().models.get(model).params
    with pytest.raises(ConfigError, match="no_such_parameter"):
        parse_params(model, cls, {"no_such_parameter": 1})


# ------------------------------------------------------------ 3. datasets

#: the first dimension SIDE_KEYS gives each side array ("[n_items + 1] ...": n_items + 1 rows)
_ROWS = re.compile(r"^\[(n_items|n_users)( \+ 1)?[\],]")


def _check_side(name: str, key: str, array: np.ndarray, data: InteractionData) -> None:
    assert key in SIDE_KEYS, f"{name}: unknown side data {key!r}"
    says = SIDE_KEYS[key]
    rows = _ROWS.match(says)
    if rows:
        expected = {"n_items": data.n_items, "n_users": data.n_users}[rows.group(1)] + (1 if rows.group(2) else 0)
        assert len(array) == expected, f"{name}: {key} has {len(array)} rows; SIDE_KEYS says {says!r}"
    if "float32" in says:
        assert array.dtype == np.float32 and array.ndim == 2, f"{name}: {key} is {array.dtype}{array.shape}"
        assert np.isfinite(array).all(), f"{name}: {key} holds NaN or inf"
    if "int64" in says:
        assert array.dtype == np.int64, f"{name}: {key} is {array.dtype}"
    if " str" in says:
        assert array.dtype.kind == "U" and array.ndim == 1, f"{name}: {key} is {array.dtype}{array.shape}"
    if key == "item_attr_indptr":
        assert array[0] == 0 and (np.diff(array) >= 0).all()
        assert array[-1] == len(data.side["item_attr_ids"]), f"{name}: item_attr_indptr does not end at nnz"
    if key == "item_attr_ids":
        assert "item_attr_indptr" in data.side and (array >= 0).all()
    if key == "social_edges":
        assert array.ndim == 2 and array.shape[1] == 2, f"{name}: social_edges is {array.shape}"
        assert len(array) == 0 or (array.min() >= 0 and array.max() < data.n_users)


@pytest.mark.slow  # loads (and for the synthetic ones generates) every dataset
@pytest.mark.parametrize("name", DATASETS)
def test_dataset_loads_with_invariants(name: str, request: pytest.FixtureRequest) -> None:
    from datasets_helpers import load

    spec = load_plugins().datasets.get(name)
    if spec.files or not spec.synthetic:
        request.getfixturevalue("real_data")  # fails (not skips) with a reason if ../shared/datasets is absent
    assert spec.domain in DOMAINS, f"{name}: domain {spec.domain!r} is not one of {sorted(DOMAINS)}"
    for f in spec.files:
        if f.sha256 is not None or not f.brought:  # only a file the user brings may lack a digest
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256 or ""), f"{name}: {f.path} has sha256 {f.sha256!r}"
    if any(f.brought for f in spec.files):  # not in shared/datasets; tests/test_far_trans.py loads generated ones
        with pytest.raises(DataError, match=r"is missing: put .* \(get it from https://"):
            load(name)
        return

    data = load(name)

    assert data.domain == spec.domain and data.synthetic == spec.synthetic
    assert data.n_interactions > 0
    user, item, order = (np.asarray(data.column(c)) for c in ("user", "item", "order"))
    for column, values in (("user", user), ("item", item), ("order", order)):
        assert values.dtype == np.int64, f"{name}: {column} is {values.dtype}"
    used_users, used_items = np.unique(user), np.unique(item)
    assert used_users.min() >= 0 and used_users.max() < data.n_users
    assert used_items.min() >= 0 and used_items.max() < data.n_items
    # every user has interactions; an item may be in the catalogue (with its side data) and never
    # interacted with, a cold item the models still rank (the synthetic catalogues have some)
    assert len(used_users) == data.n_users, f"{name}: {data.n_users - len(used_users)} users have no interaction"
    if data.has_column("rating"):
        assert not np.isnan(np.asarray(data.column("rating"), dtype=np.float64)).any(), f"{name}: NaN rating"
    for key, array in data.side.items():
        _check_side(name, key, np.asarray(array), data)
    again = spec.load_data()  # a second load (through the table cache) fingerprints the same
    assert again.fingerprint == data.fingerprint


# ------------------------------------------------------------ 4. corpora


@pytest.mark.parametrize("corpus", CORPORA)
def test_corpus_names_registered_datasets(corpus: str) -> None:
    plugins = load_plugins()
    members = plugins.corpora.get(corpus).datasets
    assert members, f"corpus {corpus!r} is empty"
    unknown = [d for d in members if d not in plugins.datasets]
    assert not unknown, f"corpus {corpus!r} names unregistered datasets {unknown}"


# ------------------------------------------------------------ 5. every hook, and hook wrappers


class FakePlugin:
    """Implements every hook, each with something the test can find afterwards."""

    def __init__(self) -> None:
        self.data = generated("contract-fake", n_users=10, n_items=12, seed=3)
        self.dataset = DatasetSpec("contract-fake-data", "media", load=lambda _location: self.data, synthetic=True)
        self.corpus = CorpusSpec("contract-fake-corpus", ("contract-fake-data",))
        self.model = ModelSpec(
            "contract-fake-model", build=lambda inputs: None, pretrainable=False, item_representation="ids"
        )
        self.strategy = StrategySpec("contract-fake-strategy", build=object, needs_pretraining=False)

    @hookimpl
    def flm_bench_register_datasets(self, register):
        register(self.dataset)

    @hookimpl
    def flm_bench_register_corpora(self, register):
        register(self.corpus)

    @hookimpl
    def flm_bench_register_models(self, register):
        register(self.model)

    @hookimpl
    def flm_bench_register_strategies(self, register):
        register(self.strategy)

    @hookimpl
    def flm_bench_register_commands(self, app):
        import typer

        @app.command("contract-fake")
        def _command() -> None:
            typer.echo("contract-fake ran")


def test_fake_plugin_implements_every_hookspec() -> None:
    """Meta: a hook added to hookspecs.py must be added to FakePlugin (and exercised below)."""
    assert sorted(n for n in vars(FakePlugin) if n.startswith("flm_bench_")) == HOOKS


def test_every_hook_takes_effect() -> None:
    import typer
    from typer.testing import CliRunner

    fake = FakePlugin()
    plugins = load_plugins(extra=[("contract-fake", fake)])
    (info,) = [p for p in plugins.infos if p.name == "contract-fake"]
    assert info.error is None and info.hooks == HOOKS

    assert plugins.datasets.get("contract-fake-data") is fake.dataset
    assert plugins.datasets.entry("contract-fake-data").origin == "contract-fake:contract-fake"
    assert plugins.datasets.get("contract-fake-data").load_data() is fake.data
    assert plugins.corpora.get("contract-fake-corpus") is fake.corpus
    assert plugins.models.get("contract-fake-model") is fake.model
    assert plugins.strategies.get("contract-fake-strategy") is fake.strategy
    for name in MODELS:  # the built-ins are all still there
        assert name in plugins.models

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    plugins.register_commands(app)
    assert "contract-fake" in [c.name for c in app.registered_commands]
    assert info.error is None
    out = CliRunner().invoke(app, ["contract-fake"])
    assert out.exit_code == 0 and "contract-fake ran" in out.output


class ModelPlugin:
    """Registers models and notes, in ``events``, when it does."""

    def __init__(self, name: str, models: tuple[str, ...], events: list[tuple[str, str]]) -> None:
        self.name, self.models, self.events = name, models, events

    @hookimpl
    def flm_bench_register_models(self, register):
        for model in self.models:
            self.events.append(("register", model))
            register(ModelSpec(model, build=lambda inputs: None, pretrainable=False, item_representation="ids"))


class Wrapper:
    """A new-style hook wrapper around ``flm_bench_register_models``."""

    def __init__(self, events: list[tuple[str, str]]) -> None:
        self.events = events

    @hookimpl(wrapper=True)
    def flm_bench_register_models(self, register):
        self.events.append(("enter", ""))
        result = yield
        self.events.append(("exit", ""))
        return result


def test_hook_wrapper_runs_around_each_plugins_implementation() -> None:
    events: list[tuple[str, str]] = []
    plugins = load_plugins(
        extra=[
            ("contract-wrapper", Wrapper(events)),
            ("contract-a", ModelPlugin("a", ("contract-a1", "contract-a2"), events)),
            ("contract-b", ModelPlugin("b", ("contract-b1",), events)),
        ]
    )
    assert not plugins.failed, [f"{p.origin}: {p.error}" for p in plugins.failed]
    implementing = [
        p for p in plugins.loaded if "flm_bench_register_models" in p.hooks and p.name != "contract-wrapper"
    ]
    builtin = {e.origin.split(":")[1] for e in PLUGINS.models}  # entry points that register models
    assert {p.name for p in implementing} == builtin | {"contract-a", "contract-b"}

    # once per implementing plugin, never nested, each plugin's registrations inside one yield
    calls, current = [], None
    for kind, model in events:
        if kind == "enter":
            assert current is None, "wrapper entered twice without leaving"
            current = []
        elif kind == "register":
            assert current is not None, f"{model} registered outside the wrapper's yield"
            current.append(model)
        else:
            assert current is not None, "wrapper left without entering"
            calls.append(current)
            current = None
    assert current is None
    assert len(calls) == len(implementing)
    assert ["contract-a1", "contract-a2"] in calls and ["contract-b1"] in calls
    for name in (*MODELS, "contract-a1", "contract-a2", "contract-b1"):
        assert name in plugins.models


# ------------------------------------------------------------ 6. documentation


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_in_contributing(hook: str) -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert hook in text, f"CONTRIBUTING.md does not mention the hook {hook}"

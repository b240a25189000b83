"""Strategies' own parameters: declared, validated in suites and on the command line, applied for real
(frozen blocks, LoRA rank), carried by records (record ids unchanged at the defaults) and tuned."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import torch
from console import cli
from model_helpers import params_of, tiny_checkpoint

from flm_bench.data.splits import leave_one_out
from flm_bench.errors import ConfigError
from flm_bench.plan import Cell, plan
from flm_bench.plugins import load_plugins
from flm_bench.results.records import SCHEMA_VERSION, Record, migrate, shipped_schema
from flm_bench.runner import Runner
from flm_bench.suite import PretrainConfig, Suite, TrainConfig, builtin_suite, single_cell, with_overlay, with_params
from flm_bench.train.strategy import AdaptContext
from flm_bench.tuning import overlay_text, tune

LEADERBOARD = Path(__file__).resolve().parents[1] / "leaderboards" / "records"
SASREC = {"dim": 16, "layers": 2, "heads": 1, "max_len": 10}


def _with(suite: Suite, **update: object) -> Suite:
    return Suite.model_validate({**suite.model_dump(), **update})


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def test_suite_strategy_params_are_validated_naming_the_strategy_and_field(plugins) -> None:
    suite = single_cell(builtin_suite(), strategies=["scratch", "adapter"], models=["sasrec"])
    assert plan(_with(suite, strategy_params={"adapter": {"rank": 16}}), plugins)
    with pytest.raises(ConfigError, match=r"^strategy_params.probe: strategy 'probe' is not in the suite's strategies"):
        plan(_with(suite, strategy_params={"probe": {}}), plugins)
    with pytest.raises(ConfigError, match=r"^strategy 'adapter': unknown parameter 'rnak'; expected one of"):
        plan(_with(suite, strategy_params={"adapter": {"rnak": 4}}), plugins)
    with pytest.raises(
        ConfigError, match=r"^strategy 'adapter': parameter 'rank' = 0: .*allowed: an integer in \[1, 256\]"
    ):
        plan(_with(suite, strategy_params={"adapter": {"rank": 0}}), plugins)
    with pytest.raises(ConfigError, match=r"^strategy 'scratch': unknown parameter 'rank'; it takes none"):
        plan(_with(suite, strategy_params={"scratch": {"rank": 4}}), plugins)


def test_param_option_sets_model_or_strategy_parameters() -> None:
    suite = single_cell(builtin_suite(), strategies=["scratch", "adapter"], models=["sasrec"])
    both = with_params(suite, ["adapter.rank=16", "sasrec.dim=32"])
    assert both.strategy_params == {"adapter": {"rank": 16}} and both.model_params["sasrec"]["dim"] == 32
    with pytest.raises(ConfigError, match=r"'probe' is neither among the suite's models .* nor its strategies"):
        with_params(suite, ["probe.rank=4"])
    assert "adapter" not in single_cell(both, strategies=["scratch"]).strategy_params  # dropped with its strategy


@pytest.mark.slow
def test_list_strategies_json_and_a_bad_param_through_the_cli(tmp_path: Path) -> None:
    listed = cli("list", "strategies", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r["params"] for r in json.loads(listed.stdout)}
    assert rows["scratch"] == {}
    assert rows["adapter"]["rank"]["default"] == 8 and rows["adapter"]["rank"]["search"]["choices"] == [4, 8, 16]
    assert rows["finetune"]["frozen_layers"]["type"] == "integer" and rows["finetune"]["frozen_layers"]["minimum"] == 0
    args = ["run", "--dataset", "synthetic-media", "--model", "sasrec", "--strategy", "adapter"]
    bad = cli(*args, "--corpus", "synthetic-general", "-p", "adapter.rank=0", "-o", str(tmp_path / "o"), cwd=tmp_path)
    assert bad.returncode == 2 and "strategy 'adapter': parameter 'rank' = 0" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr


@pytest.mark.slow
def test_default_strategy_params_keep_record_ids_other_values_change_them(plugins, tmp_path: Path) -> None:
    quickstart = builtin_suite()  # scratch and finetune cells
    runner = Runner(quickstart, plugins, tmp_path)
    ids = dict(runner.prepare())
    # the id formula without strategy parameters, as before strategies had any
    assert ids == {c: c.record_id(quickstart, runner.cell_params(c).identity(), _content(runner, c)) for c in ids}
    runner.suite = _with(quickstart, strategy_params={"finetune": {"frozen_layers": 0}})  # same data, cached
    assert {c: runner.record_id(c) for c in ids} == ids
    runner.suite = _with(quickstart, strategy_params={"finetune": {"frozen_layers": 1}})
    changed = {c for c in ids if runner.record_id(c) != ids[c]}
    assert changed == {c for c in ids if c.strategy == "finetune"} and changed


def _content(runner: Runner, cell: Cell) -> list[str]:
    content = [runner.data(cell.dataset).fingerprint, runner.split(cell.dataset).fingerprint]
    if cell.corpus:
        content += [runner.data(d).fingerprint for d in runner.pretraining_corpus(cell.corpus, cell.dataset).members]
    return content


def test_older_records_migrate_with_empty_strategy_parameters() -> None:
    path = next(p for p in sorted(LEADERBOARD.glob("*__adapter__*/record.json")))
    published = json.loads(path.read_text())
    assert published["schema_version"] < 6 and "parameters" not in published["strategy"]
    doc = migrate(published)
    schema_5 = {**doc, "schema_version": 5, "strategy": published["strategy"]}  # what main wrote until now
    for old in (published, schema_5):
        doc = migrate(old)
        jsonschema.validate(doc, shipped_schema())
        record = Record.model_validate(doc)
        assert record.schema_version == SCHEMA_VERSION and record.strategy.parameters == {}
        assert record.tuning is None or record.tuning.strategy_params == {}


@pytest.fixture(scope="module")
def checkpoint(plugins, tmp_path_factory: pytest.TempPathFactory):
    target = plugins.datasets.get("synthetic-media").load_data()
    ckpt = tiny_checkpoint(plugins, params_of("sasrec", **SASREC), tmp_path_factory.mktemp("ckpt"))
    return target, leave_one_out(target), ckpt


def _adapt(plugins, checkpoint, strategy: str, **own: object):
    target, split, ckpt = checkpoint
    sspec = plugins.strategies.get(strategy)
    ctx = AdaptContext(
        plugins.models.get("sasrec"),
        params_of("sasrec", **SASREC),
        target,
        split,
        ckpt,
        TrainConfig(epochs=1, device="cpu"),
        seed=0,
        device="cpu",
        strategy=strategy,
        strategy_params=sspec.params(**own),
    )
    return sspec.build().adapt(ctx)


@pytest.mark.slow
def test_finetune_frozen_layers_freeze_the_lowest_blocks(plugins, checkpoint) -> None:
    ckpt = checkpoint[2]
    state = ckpt.state()
    free = _adapt(plugins, checkpoint, "finetune")
    frozen = _adapt(plugins, checkpoint, "finetune", frozen_layers=1)
    low, high = frozen.model.encoder_blocks()
    assert not any(p.requires_grad for p in low.parameters()) and all(p.requires_grad for p in high.parameters())
    assert frozen.trainable_parameters == free.trainable_parameters - sum(p.numel() for p in low.parameters())
    after = frozen.model.state_dict()
    lowest = [k for k in state if k.startswith("encoder.blocks.layers.0.")]
    upper = [k for k in state if k.startswith("encoder.blocks.layers.1.") and state[k].dtype.is_floating_point]
    assert lowest and all(torch.equal(after[k], state[k]) for k in lowest)
    assert any(not torch.equal(after[k], state[k]) for k in upper)
    with pytest.raises(ConfigError, match=r"strategy 'finetune': parameter 'frozen_layers' = 3, .* at most 2$"):
        _adapt(plugins, checkpoint, "finetune", frozen_layers=3)


@pytest.mark.slow
def test_adapter_rank_and_alpha_shape_the_lora_weights(plugins, checkpoint) -> None:
    small = _adapt(plugins, checkpoint, "adapter", rank=4, alpha=8)
    large = _adapt(plugins, checkpoint, "adapter", rank=16)
    shapes = {
        r: {m.lora_A["default"].weight.shape[0] for m in res.model.modules() if hasattr(m, "lora_A")}
        for r, res in ((4, small), (16, large))
    }
    assert shapes == {4: {4}, 16: {16}}
    scaling = {m.scaling["default"] for m in small.model.modules() if hasattr(m, "scaling")}
    assert scaling == {8 / 4}
    assert large.trainable_parameters > small.trainable_parameters


@pytest.mark.slow
def test_tuning_an_adapter_cell_draws_its_rank_and_the_overlay_reapplies_it(plugins, tmp_path: Path) -> None:
    suite = _with(
        single_cell(builtin_suite(), targets=["synthetic-media"], models=["sasrec"], strategies=["adapter"], seeds=[0]),
        model_params={"sasrec": SASREC},
        training={**TrainConfig(epochs=1, device="cpu", max_valid_users=100).model_dump()},
        pretraining={**PretrainConfig(epochs=1, device="cpu").model_dump()},
    )
    runner = Runner(suite, plugins, tmp_path / "out", device="cpu")
    said: list[str] = []
    (study,) = tune(runner, budget=2, url=f"sqlite:///{tmp_path / 't.db'}", prefix="p", say=said.append)
    import optuna

    trials = optuna.load_study(study_name=study.name, storage=f"sqlite:///{tmp_path / 't.db'}").get_trials()
    assert [t.params["strategy.rank"] for t in trials][0] == 8  # trial 0: the suite's configuration
    assert len({t.params["strategy.rank"] for t in trials}) == 2, [t.params for t in trials]
    assert all({"strategy.rank", "strategy.alpha", "training.learning_rate"} <= set(t.params) for t in trials)
    best = study.best
    assert best is not None and set(best.strategy_params) == {"rank", "alpha"}
    overlay = tmp_path / "tuned.toml"
    overlay.write_text(overlay_text([best], "test"))
    tuned = Runner(with_overlay(suite, overlay), plugins, tmp_path / "out", device="cpu")
    [(cell, rid)] = tuned.prepare()
    assert tuned.strategy_params(cell).model_dump() == best.strategy_params
    assert rid != dict(runner.prepare())[cell]
    tuned.run()
    record = Record.model_validate_json((tmp_path / "out" / "records" / rid / "record.json").read_text())
    assert record.strategy.parameters == best.strategy_params
    assert record.tuning is not None and record.tuning.strategy_params == best.strategy_params
    assert record.tuning.search_space == best.search_space


def test_the_search_space_caps_frozen_layers_by_the_models_blocks(plugins, tmp_path: Path) -> None:
    from flm_bench.tuning import tuning_cells
    from flm_bench.tuning_trial import space_for

    base = single_cell(builtin_suite(), targets=["synthetic-finance"], models=["sasrec"], seeds=[0])
    suite = _with(base, strategies=["scratch", "finetune", "adapter"], model_params={"sasrec": {**SASREC, "layers": 1}})
    runner = Runner(suite, plugins, tmp_path)
    spaces = {c.strategy: space_for(runner, c) for c in tuning_cells(runner)}
    assert spaces["finetune"].strategy["frozen_layers"].choices == (0, 1)  # one block: 2 is dropped
    assert spaces["adapter"].strategy["rank"].choices == (4, 8, 16) and spaces["scratch"].strategy == {}
    plain = type(spaces["adapter"])(spaces["adapter"].model, spaces["adapter"].training)
    assert plain.digest() != spaces["adapter"].digest()  # strategy dimensions are part of the study's space

"""``flm-bench tune``: Optuna studies on validation shared by two worker processes, failed trials, the
overlay round trip into ``run``, and the one-line error without optuna. Through the console script."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType

import optuna
import pytest
from console import EXE, cli
from fake_plugins import TUNING_PLUGIN, fake_plugin_env

from flm_bench.errors import ConfigError
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_record
from flm_bench.runner import Runner
from flm_bench.suite import load_suite, with_overlay
from flm_bench.tuning import tuning_cells
from flm_bench.tuning_trial import SURPLUS, evaluate_config

SUITE = """
name = "tune-test"
targets = ["synthetic-finance"]
models = ["{model}"]
strategies = ["scratch"]
seeds = [0]
[training]
epochs = 2
batch_size = 128
max_valid_users = 200
"""
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _suite(tmp_path: Path, model: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.format(model=model))
    return path


def _trials(out: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'tuning.db'}")
    return study.get_trials(deepcopy=False)


def _plugin_module(tmp_path: Path) -> ModuleType:
    """The fake plugin imported in this process (the subprocesses import it from PYTHONPATH)."""
    path = tmp_path / "site" / "fake_tuning.py"
    spec = importlib.util.spec_from_file_location("fake_tuning", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], list[str]]:
    """Two ``flm-bench tune --trials 6`` processes on one output folder (one SQLite study)."""
    tmp = tmp_path_factory.mktemp("tune")
    env = fake_plugin_env(tmp, {"fake_tuning": TUNING_PLUGIN}, **THREADS)
    suite = _suite(tmp, "tiny")
    args = [EXE, "tune", "--suite", str(suite), "--trials", "6", "-o", str(tmp / "out")]
    workers = [subprocess.Popen(args, cwd=tmp, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
    workers.append(subprocess.Popen(args, cwd=tmp, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err for _, err in results]
    return tmp, env, [err for _, err in results]


@pytest.mark.slow
def test_two_workers_share_one_budget_and_beat_the_default(two_workers: tuple[Path, dict[str, str], list[str]]) -> None:
    tmp, _, stderrs = two_workers
    name = "tune-test:synthetic-finance/tiny/scratch"
    trials = _trials(tmp / "out", name)
    counted = [t for t in trials if not t.user_attrs.get(SURPLUS)]
    assert len(counted) == 6 and len(trials) < 12  # the budget is the total over both workers
    assert all(t.state.is_finished() for t in counted)
    ran = sum(line.startswith(f"{name}: trial ") for err in stderrs for line in err.splitlines())
    assert ran == 6  # each trial ran in exactly one of the two workers
    overlay = tomllib.loads((tmp / "out" / "tuned.toml").read_text())["tuned"]
    assert [(e["dataset"], e["model"], e["strategy"], e["corpus"]) for e in overlay] == [
        ("synthetic-finance", "tiny", "scratch", "")
    ]
    best = overlay[0]
    assert best["study"] == name and best["trials"]["run"] == 6
    assert set(best["training"]) == {"learning_rate", "weight_decay"} and set(best["model_params"]) == {
        "dim",
        "dropout",
    }
    # the default configuration's validation value, through the same path a trial takes
    import torch

    torch.set_num_threads(1)
    runner = Runner(load_suite(tmp / "suite.toml"), load_plugins(extra=[("t", _plugin_module(tmp))]), tmp / "d")
    [cell] = tuning_cells(runner)
    default = evaluate_config(runner, cell, {}, {})
    first = next(t for t in counted if t.number == 0)  # the study's first trial is the suite's configuration
    assert first.params == {
        "model.dim": 8,
        "model.dropout": 0.0,
        "training.learning_rate": 1e-3,
        "training.weight_decay": 0.0,
    }
    assert first.value == pytest.approx(default, abs=1e-6)
    assert best["best_value"] >= default
    assert best["best_value"] == max(t.value for t in counted if t.value is not None and t.state.name == "COMPLETE")


@pytest.mark.slow
def test_overlay_round_trips_into_run(two_workers: tuple[Path, dict[str, str], list[str]]) -> None:
    tmp, env, _ = two_workers
    suite, overlay = tmp / "suite.toml", tmp / "out" / "tuned.toml"
    plain = cli("run", "--suite", str(suite), "-o", str(tmp / "runs"), "--json", cwd=tmp, env=env)
    tuned = cli("run", "--suite", str(suite), "--overlay", str(overlay), "-o", str(tmp / "runs"), cwd=tmp, env=env)
    assert plain.returncode == 0 and tuned.returncode == 0, plain.stderr + tuned.stderr
    assert "tiny (tuned)" in tuned.stdout and "(tuned)" not in plain.stdout
    records = {
        load_record(p).tuning is not None: load_record(p) for p in (tmp / "runs" / "records").glob("*/record.json")
    }
    assert set(records) == {False, True}
    untuned, record = records[False], records[True]
    assert record.record_id != untuned.record_id
    entry = tomllib.loads(overlay.read_text())["tuned"][0]
    assert record.tuning is not None
    assert record.tuning.study == entry["study"] and record.tuning.best_trial == entry["best_trial"]
    assert record.tuning.trials.run == 6 and record.tuning.search_space == entry["search_space"]
    assert {k: record.model.parameters[k] for k in entry["model_params"]} == entry["model_params"]
    assert json.loads(plain.stdout)["rows"][0].get("tuned") is None


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path: Path) -> None:
    env = fake_plugin_env(tmp_path, {"fake_tuning": TUNING_PLUGIN}, **THREADS)
    suite = _suite(tmp_path, "fragile")
    result = cli("tune", "--suite", str(suite), "--trials", "4", "-o", str(tmp_path / "out"), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    trials = _trials(tmp_path / "out", "tune-test:synthetic-finance/fragile/scratch")
    states = [t.state.name for t in trials]
    assert len(trials) == 4 and "FAIL" in states and states[0] == "COMPLETE"
    failed = next(t for t in trials if t.state.name == "FAIL")
    assert "RuntimeError: fragile: dropout" in failed.user_attrs["error"]
    assert "failed: RuntimeError: fragile: dropout" in result.stderr
    entry = tomllib.loads((tmp_path / "out" / "tuned.toml").read_text())["tuned"][0]
    assert entry["trials"]["failed"] == states.count("FAIL") and entry["trials"]["run"] == 4


def test_without_optuna_tune_is_one_line_exit_2(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"  # an optuna that cannot be imported shadows the installed one
    hidden.mkdir()
    (hidden / "optuna.py").write_text("raise ModuleNotFoundError(\"No module named 'optuna'\", name='optuna')\n")
    env = {**fake_plugin_env(tmp_path, {}), "PYTHONPATH": str(hidden)}
    result = cli("tune", "--suite", str(_suite(tmp_path, "sasrec")), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: flm-bench tune needs optuna: pip install 'flm-bench[tune]'"]


def test_overlay_entries_must_name_cells_and_training_fields(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, "sasrec"))
    entry = (
        '[[tuned]]\ndataset = "synthetic-finance"\nmodel = "sasrec"\nstrategy = "scratch"\ncorpus = ""\n'
        'study = "s"\nbest_trial = 0\nbest_value = 0.1\nvalid_metric = "ndcg@10"\nsearch_space = "x"\n'
        "trials = {run = 1, complete = 1, pruned = 0, failed = 0}\n"
    )
    good = tmp_path / "good.toml"
    good.write_text(entry + "training = {learning_rate = 0.01}\nmodel_params = {dim = 16}\n")
    tuned = with_overlay(suite, good)
    chosen = tuned.tuned_for("synthetic-finance", "sasrec", "scratch", None)
    assert tuned.training_for("sasrec", chosen).learning_rate == 0.01
    bad = tmp_path / "bad.toml"
    bad.write_text(entry + "training = {learning_rat = 0.01}\n")
    with pytest.raises(ConfigError, match="learning_rat"):
        with_overlay(suite, bad)


class _Stop(Exception):
    pass


@pytest.mark.slow
def test_the_epoch_hook_hears_every_validation_value_and_can_end_the_fit(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    (tmp_path / "suite.toml").write_text(
        SUITE.format(model="sasrec") + "[model_params.sasrec]\ndim = 8\nlayers = 1\nheads = 1\nmax_len = 8\n"
    )
    runner = Runner(load_suite(tmp_path / "suite.toml"), load_plugins(), tmp_path / "out", device="cpu")
    [cell] = tuning_cells(runner)
    heard: list[tuple[int, float]] = []
    done = runner.adapt(cell, runner.cell_params(cell), runner.suite.training, lambda e, v: heard.append((e, v)))
    assert done.result.fit is not None and heard == list(enumerate(done.result.fit.valid_curve, start=1))

    def stop(epoch: int, value: float) -> None:
        raise _Stop(epoch)

    with pytest.raises(_Stop, match="1"):
        runner.adapt(cell, runner.cell_params(cell), runner.suite.training, stop)
    assert not (tmp_path / "out" / "records").exists()  # adapting writes and evaluates nothing


@pytest.mark.slow
def test_adaptation_keeps_the_checkpoints_architecture_and_every_cell_of_a_suite_is_tuned(tmp_path: Path) -> None:
    from flm_bench.suite import Suite
    from flm_bench.tuning_trial import TRAINING_SPACE, space_for

    suite = Suite(
        name="s",
        targets=["synthetic-finance"],
        models=["sasrec", "popularity"],
        strategies=["scratch", "finetune", "probe", "zero-shot"],
        corpora=["synthetic-general"],
        seeds=[3, 1],
    )
    runner = Runner(suite, load_plugins(), tmp_path / "out", device="cpu")
    cells = tuning_cells(runner)
    # zero-shot trains nothing on the target: no study, no trials spent on it
    assert {(c.model, c.strategy, c.corpus, c.seed) for c in cells} == {
        ("sasrec", "scratch", None, 3),
        ("sasrec", "finetune", "synthetic-general", 3),
        ("sasrec", "probe", "synthetic-general", 3),
        ("popularity", "scratch", None, 3),
    }
    spaces = {(c.model, c.strategy): space_for(runner, c) for c in cells}
    assert spaces["sasrec", "scratch"].model.keys() == {"dim", "layers", "heads", "dropout", "max_len"}
    assert spaces["sasrec", "finetune"].model == spaces["sasrec", "probe"].model == {}
    assert all(spaces["sasrec", s].training == TRAINING_SPACE for s in ("scratch", "finetune", "probe"))
    assert not spaces["popularity", "scratch"]  # nothing declared, not trained by the loop
    assert spaces["sasrec", "finetune"].digest() != spaces["sasrec", "scratch"].digest()


def _sasrec_runner(tmp_path: Path) -> Runner:
    return Runner(load_suite(_suite(tmp_path, "sasrec")), load_plugins(), tmp_path / "out", device="cpu")


@pytest.mark.slow
def test_raising_nan_and_out_of_memory_trials_fail_and_the_study_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from flm_bench import tuning, tuning_trial

    outcomes: list[object] = [0.1, float("nan"), MemoryError(), torch.OutOfMemoryError("CUDA out of memory"), 0.2]

    def fake(*args: object, **kwargs: object) -> float:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, float)
        return outcome

    monkeypatch.setattr(tuning_trial, "evaluate_config", fake)  # the outcomes of training, without training
    runner = _sasrec_runner(tmp_path)
    said: list[str] = []
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    [study] = tuning.tune(runner, budget=5, url=url, prefix="p", say=said.append)
    trials = optuna.load_study(study_name=study.name, storage=url).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "FAIL", "FAIL", "COMPLETE"]
    assert ["nan" in trials[1].user_attrs["error"], "MemoryError" in trials[2].user_attrs["error"]] == [True, True]
    assert "OutOfMemoryError: CUDA out of memory" in trials[3].user_attrs["error"]
    assert study.best is not None and (study.best.best_trial, study.best.best_value) == (4, 0.2)
    assert study.trials.model_dump() == {"run": 5, "complete": 2, "pruned": 0, "failed": 3}
    assert sum("failed:" in line for line in said) == 3
    again = tuning.tune(runner, budget=5, url=url, prefix="p", say=said.append)
    assert again == [study] and outcomes == []  # a finished study runs no more trials


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the trials before it are told by hand
def test_a_trial_past_the_budget_is_not_run_and_not_counted(tmp_path: Path) -> None:
    from flm_bench import tuning, tuning_trial

    runner = _sasrec_runner(tmp_path)
    [cell] = tuning_cells(runner)
    space = tuning_trial.space_for(runner, cell)
    study = tuning.open_study(f"sqlite:///{tmp_path / 'db.sqlite'}", "p", space, 0)
    for value in (0.1, 0.3):
        study.tell(study.ask(), value)
    # a worker that asks for a trial when another worker took the last one of the budget meanwhile
    study.optimize(tuning_trial.Objective(runner, cell, space, 2, 0, print), n_trials=5)
    late = study.get_trials()[2:]
    assert [(t.number, t.state.name, t.user_attrs) for t in late] == [(2, "PRUNED", {SURPLUS: True})]
    summary = tuning._summary(runner, cell, study, space, 2)
    assert summary.trials.run == 2 and summary.best is not None and summary.best.best_trial == 1


@pytest.mark.slow
def test_graph_models_trained_by_the_loop_tune_the_training_space(tmp_path: Path) -> None:
    """lightgcn is not pretrainable but the harness loop trains it: learning rate and weight decay
    are tuned; popularity is fitted in one call and tunes nothing."""
    from flm_bench.suite import Suite
    from flm_bench.tuning_trial import TRAINING_SPACE, space_for

    suite = Suite(name="g", targets=["synthetic-finance"], models=["lightgcn", "popularity"], seeds=[0])
    runner = Runner(suite, load_plugins(), tmp_path / "out", device="cpu")
    spaces = {c.model: space_for(runner, c) for c in tuning_cells(runner)}
    assert spaces["lightgcn"].training == TRAINING_SPACE
    assert spaces["lightgcn"].model.keys() == {"dim", "layers", "reg"}
    assert not spaces["popularity"]

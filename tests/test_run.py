"""End-to-end runs on the synthetic data: records, schema, ranx recomputation, resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import jsonschema
import pytest
import ranx
from fake_plugins import IN_PROCESS_CLI, sleepy_env

from flm_bench.errors import ConfigError, UnknownNameError
from flm_bench.plan import plan
from flm_bench.plugins import load_plugins
from flm_bench.results.claims import claim, clean_partial, lock_path
from flm_bench.results.records import (
    TMP_PREFIX,
    json_schema,
    load_records,
    records_dir,
    shipped_schema,
)
from flm_bench.results.stats import holm
from flm_bench.results.summary import summarize
from flm_bench.runner import Runner
from flm_bench.suite import Suite, builtin_suite, load_suite

SMALL_SUITE = """
name = "small"
targets = ["synthetic-finance"]
corpora = ["synthetic-all"]          # contains the target: it must be excluded
models = ["popularity", "itemknn", "sasrec"]
strategies = ["scratch", "finetune"]
seeds = [0]

[evaluation]
metrics = ["ndcg", "recall", "mrr"]
cutoffs = [5, 10]

[training]
epochs = 2
batch_size = 128
device = "cpu"

[pretraining]
epochs = 1
batch_size = 256
device = "cpu"

[model_params.sasrec]
dim = 16
layers = 1
heads = 1
"""


def write_suite(tmp_path: Path, text: str = SMALL_SUITE) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def small_run(run_suite) -> tuple[Path, Suite]:
    """One run of the small suite, shared by the tests that only read its records."""
    output = run_suite(SMALL_SUITE)
    assert len(load_records(output)) == 4
    return output, load_suite(output.parent / "suite.toml")


def test_plan_skips_pretraining_strategies_for_non_neural_models() -> None:
    suite = Suite(
        name="s",
        targets=["synthetic-media"],
        corpora=["synthetic-general"],
        models=["popularity", "sasrec"],
        strategies=["scratch", "finetune"],
        seeds=[0, 1],
    )
    cells = plan(suite, load_plugins())
    assert {(c.model, c.strategy, c.corpus) for c in cells} == {
        ("popularity", "scratch", None),
        ("sasrec", "scratch", None),
        ("sasrec", "finetune", "synthetic-general"),
    }
    assert len(cells) == 6


@pytest.mark.slow
def test_a_pretraining_seed_gives_every_cell_seed_one_checkpoint(tmp_path: Path) -> None:
    """``[pretraining] seed``: the seeds vary the adaptation only; without it each seed pretrains
    its own checkpoint, and the ids of records made before the setting existed stay the same."""
    shared = SMALL_SUITE.replace('models = ["popularity", "itemknn", "sasrec"]', 'models = ["sasrec"]')
    shared = shared.replace("seeds = [0]", "seeds = [1, 2]").replace(
        'strategies = ["scratch", "finetune"]', 'strategies = ["finetune"]'
    )
    own = Runner(load_suite(write_suite(tmp_path, shared)), load_plugins(), tmp_path / "own")
    assert "seed" not in own.suite.pretraining.identity()
    assert {own.checkpoint_key(c) for c in own.pretraining_cells()} == {
        ("sasrec", "synthetic-all-minus-synthetic-finance", 1),
        ("sasrec", "synthetic-all-minus-synthetic-finance", 2),
    }
    fixed = shared.replace("[pretraining]\n", "[pretraining]\nseed = 7\n")
    runner = Runner(load_suite(write_suite(tmp_path, fixed)), load_plugins(), tmp_path / "fixed")
    assert [runner.checkpoint_key(c) for c in runner.pretraining_cells()] == [
        ("sasrec", "synthetic-all-minus-synthetic-finance", 7)
    ]
    cells = plan(runner.suite, runner.plugins)
    assert {runner.record_id(c) for c in cells}.isdisjoint({own.record_id(c) for c in cells})
    runner.run()
    records = [r for _, r in load_records(tmp_path / "fixed")]
    assert sorted(r.seed for r in records) == [1, 2]
    assert {r.strategy.checkpoint for r in records} == {
        next((tmp_path / "fixed" / "checkpoints").glob("*__seed7__*.pt")).name
    }
    assert records[0].metrics != records[1].metrics  # the adaptation seeds still differ


def test_plan_rejects_unknown_names_before_any_work() -> None:
    suite = Suite(name="s", targets=["synthetic-medai"], models=["popularity"])
    with pytest.raises(UnknownNameError, match="Did you mean 'synthetic-media'"):
        plan(suite, load_plugins())
    suite = Suite(name="s", targets=["synthetic-media"], models=["sasrec"], strategies=["finetune"])
    with pytest.raises(ConfigError, match="no corpora"):
        plan(suite, load_plugins())


@pytest.mark.slow
def test_records_say_the_threads_and_cpus_their_costs_were_measured_with(small_run) -> None:
    import torch

    from flm_bench.results.render.origin import origin

    output, _ = small_run
    records = load_records(output)
    assert {(r.provenance.cpus, r.provenance.torch_threads) for _, r in records} == {
        (os.cpu_count(), torch.get_num_threads())
    }
    shown = f"{torch.get_num_threads()} torch thread{'s' * (torch.get_num_threads() != 1)} of {os.cpu_count()} CPUs"
    assert origin(records).threads == [(shown, 4)]
    old = [(p, r.model_copy(update={"provenance": r.provenance.model_copy(update={"cpus": None})})) for p, r in records]
    assert origin(old).threads == [("not recorded (records before schema 4)", 4)]


def test_records_match_the_shipped_schema(small_run) -> None:
    output, _ = small_run
    assert shipped_schema() == json_schema(), "regenerate flm_bench/schemas/ from records.json_schema()"
    for path, _ in load_records(output):
        jsonschema.validate(json.loads(path.read_text()), shipped_schema())


@pytest.mark.slow
def test_ranx_alone_recomputes_the_stored_metrics(small_run) -> None:
    output, _ = small_run
    for path, record in load_records(output):
        run = ranx.Run.from_file(str(path.parent / record.artifacts.run))  # ranx reads .gz itself
        qrels = ranx.Qrels.from_file(str(path.parent / record.artifacts.qrels))
        recomputed = ranx.evaluate(qrels, run, list(record.metrics), make_comparable=True)
        for name, value in record.metrics.items():
            assert recomputed[name] == pytest.approx(value, abs=1e-9), (record.record_id, name)


@pytest.mark.slow
def test_record_content(small_run) -> None:
    output, _ = small_run
    records = {r.model.name + "/" + r.strategy.name: r for _, r in load_records(output)}
    finetune = records["sasrec/finetune"]
    assert finetune.strategy.excluded == ["synthetic-finance"]
    assert "synthetic-finance" not in finetune.strategy.corpus_datasets
    assert finetune.strategy.transfer["reinitialised"] == ["encoder.items.ids.weight"]
    assert "encoder.items.project.weight" in finetune.strategy.transfer["loaded"]
    assert finetune.cost.pretrain_seconds > 0 and finetune.cost.trainable_parameters > 0
    assert records["popularity/scratch"].strategy.corpus is None
    for r in records.values():
        assert set(r.metrics) == {"ndcg@5", "recall@5", "mrr@5", "ndcg@10", "recall@10", "mrr@10"}
        assert r.dataset.synthetic and r.evaluation.full_ranking and r.evaluation.exclude_history
        assert r.provenance.plugins["flm-bench"] and r.provenance.torch
        assert r.evaluation.users == 1200  # every synthetic-finance user has >= 3 interactions


@pytest.mark.slow
def test_board_has_gain_and_p_value(small_run) -> None:
    output, _ = small_run
    rows = summarize(load_records(output))
    finetune = [r for r in rows if r.key.strategy == "finetune"]
    assert len(finetune) == 1 and set(finetune[0].gain) == set(finetune[0].metrics)
    scratch = next(r for r in rows if r.key.model == "sasrec" and r.key.strategy == "scratch")
    gain = finetune[0].gain["ndcg@10"]
    assert gain.mean == pytest.approx(finetune[0].metrics["ndcg@10"].mean - scratch.metrics["ndcg@10"].mean)
    assert 0 <= finetune[0].p_value["ndcg@10"] <= 1
    assert gain.per_seed == pytest.approx((gain.mean,)) and gain.seed_std is None  # one seed: no spread
    assert finetune[0].metrics["ndcg@10"].std is None


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # adjusted p-values never decrease
    assert holm([0.2, 0.01]) == pytest.approx([0.2, 0.02])


@pytest.mark.slow
def test_rerun_skips_completed_cells(small_run) -> None:
    output, suite = small_run
    before = {p: p.read_bytes() for p, _ in load_records(output)}
    result = Runner(suite, load_plugins(), output).run()
    assert not result.written and len(result.skipped) == 4
    assert {p: p.read_bytes() for p, _ in load_records(output)} == before


@pytest.mark.slow
def test_same_seed_gives_identical_records(small_run, tmp_path: Path) -> None:
    """A second run from scratch (new output folder: pretraining again) reproduces every ranking."""
    output, suite = small_run
    Runner(suite, load_plugins(), tmp_path).run()
    first = {r.record_id: (p, r) for p, r in load_records(output)}
    second = {r.record_id: (p, r) for p, r in load_records(tmp_path)}
    assert first.keys() == second.keys()
    for rid, (path, record) in first.items():
        other_path, other = second[rid]
        assert other.metrics == record.metrics, rid
        run = record.artifacts.run
        assert (other_path.parent / run).read_bytes() == (path.parent / run).read_bytes()


def test_partial_records_are_removed_only_when_their_writer_is_gone(tmp_path: Path) -> None:
    partial = records_dir(tmp_path) / f"{TMP_PREFIX}cell-a-123"
    live = records_dir(tmp_path) / f"{TMP_PREFIX}cell-b-456"
    for folder in (partial, live):
        folder.mkdir(parents=True)
        (folder / "record.json").write_text("{")
    assert load_records(tmp_path, allow_empty=True) == []
    with claim(lock_path(tmp_path, "cell-b"), wait=False) as held:  # cell-b's writer is still at work
        assert held
        assert clean_partial(tmp_path) == [partial] and not partial.exists() and live.exists()
    assert clean_partial(tmp_path) == [live] and not live.exists()


def _sleepy_run(tmp_path: Path, sleep_seconds: int) -> tuple[list[str], dict[str, str]]:
    """The command (without ``--output``) and environment of a run of ``tmp_path/suite.toml`` with
    the fake ``sleepy`` plugin installed."""
    return [*IN_PROCESS_CLI, "run", "--suite", str(tmp_path / "suite.toml")], sleepy_env(tmp_path, sleep_seconds)


@pytest.mark.slow
def test_killed_run_resumes_without_loss(tmp_path: Path) -> None:
    """SIGKILL a run while it works on its second cell; the rerun completes and keeps the first."""
    write_suite(
        tmp_path,
        textwrap.dedent("""
        name = "killed"
        targets = ["synthetic-finance"]
        models = ["popularity", "sleepy", "itemknn"]
        [training]
        device = "cpu"
    """),
    )
    output = tmp_path / "out"
    cmd, env = _sleepy_run(tmp_path, sleep_seconds=120)
    cmd += ["--output", str(output)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(records_dir(output).glob("*popularity*/record.json")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first record never appeared"
        time.sleep(0.2)
    time.sleep(1.0)  # now inside the sleepy model's fit
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {p: p.read_bytes() for p, _ in load_records(output)}
    assert len(first) == 1, "only the popularity record was complete when the run was killed"

    env["SLEEPY_SECONDS"] = "0"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 record(s) written, 1 already complete" in done.stderr
    after = load_records(output)
    assert sorted(r.model.name for _, r in after) == ["itemknn", "popularity", "sleepy"]
    assert {p: p.read_bytes() for p, _ in after if p in first} == first
    assert not list(records_dir(output).glob(f"{TMP_PREFIX}*"))


def test_quickstart_suite_is_valid_and_plans_its_cells() -> None:
    suite = builtin_suite()
    cells = plan(suite, load_plugins())
    assert {c.strategy for c in cells} == {"scratch", "finetune"}
    assert all(c.dataset.startswith("synthetic-") for c in cells)


def test_bad_suite_fields_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"field training\.epochs"):
        load_suite(write_suite(tmp_path, 'name = "x"\ntargets = ["a"]\nmodels = ["b"]\n[training]\nepochs = 0\n'))
    with pytest.raises(ConfigError, match=r"field trainig"):
        load_suite(write_suite(tmp_path, 'name = "x"\ntargets = ["a"]\nmodels = ["b"]\n[trainig]\nepochs = 1\n'))
    with pytest.raises(ConfigError, match="does not exist"):
        load_suite(tmp_path / "missing.toml")


def test_split_overrides_apply_per_target_and_shape_the_record_id(tmp_path: Path) -> None:
    text = (
        'name = "x"\ntargets = ["synthetic-media", "synthetic-finance"]\nmodels = ["popularity"]\n'
        '[split_overrides.synthetic-finance]\nprotocol = "random-holdout"\n'
    )
    suite = load_suite(write_suite(tmp_path, text))
    runner = Runner(suite, load_plugins(), tmp_path / "out", device="cpu")
    assert runner.split("synthetic-finance").protocol == "random-holdout"
    assert runner.split("synthetic-media").protocol == "leave-one-out"
    cell = plan(suite, load_plugins())[1]
    plain = load_suite(write_suite(tmp_path, text.split("[split_overrides")[0]))
    assert cell.dataset == "synthetic-finance"
    assert cell.record_id(suite, {}, []) != cell.record_id(plain, {}, [])
    with pytest.raises(ConfigError, match=r"split_overrides for \['nope'\]"):
        load_suite(write_suite(tmp_path, text.replace("synthetic-finance]", "nope]")))


@pytest.mark.slow
def test_concurrent_runs_on_one_output_lose_and_repeat_nothing(tmp_path: Path) -> None:
    """Three processes run one suite into one output at once: every cell is written exactly once."""
    write_suite(
        tmp_path,
        textwrap.dedent("""
        name = "crowd"
        targets = ["synthetic-finance", "synthetic-media"]
        models = ["popularity", "sleepy", "itemknn"]
        seeds = [0, 1]
        [training]
        device = "cpu"
    """),
    )
    cmd, env = _sleepy_run(tmp_path, sleep_seconds=1)
    procs = [
        subprocess.Popen(
            [*cmd, "--output", str(tmp_path / "out")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in outputs]
    written = [int(re.search(r"(\d+) record\(s\) written", err).group(1)) for _, err in outputs]
    records = load_records(tmp_path / "out")
    assert len(records) == 12 and len({r.record_id for _, r in records}) == 12
    assert sum(written) == 12, written  # each cell written by exactly one of the processes
    assert not list(records_dir(tmp_path / "out").glob(f"{TMP_PREFIX}*"))

"""Bad input gets one line naming the thing and what was expected, never a traceback, never a
silent success: suites, seeds, impossible cells, and damaged checkpoints."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import torch
from console import cli

from flm_bench.errors import CheckpointError, ConfigError
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_records, records_dir
from flm_bench.runner import Runner
from flm_bench.suite import load_suite

TINY = """
name = "tiny"
targets = ["synthetic-finance"]
corpora = ["synthetic-general"]
models = ["sasrec"]
strategies = ["finetune"]
[training]
epochs = 1
device = "cpu"
[pretraining]
epochs = 1
device = "cpu"
[model_params.sasrec]
dim = 8
layers = 1
heads = 1
max_len = 5
"""


@pytest.mark.parametrize(
    "args, line",
    [
        (["--seed", "-1"], "error: command-line options: field seeds.0: Input should be greater than or equal to 0"),
        (["--seed", "9" * 40], "error: command-line options: field seeds.0: Input should be less than 4294967296"),
        (["--suite", "."], "error: suite file '.' is not a readable TOML file: Is a directory"),
        (
            ["--strategy", "finetune", "--model", "popularity"],
            "error: the suite has no cell to run: the strategies ['finetune'] all need pretraining, and none of the "
            "models ['popularity'] is pretrainable",
        ),
    ],
)
def test_bad_run_options_are_one_line(tmp_path: Path, args: list[str], line: str) -> None:
    done = cli("run", *args, "--output", "out", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr == line + "\n", done.stderr
    assert not (tmp_path / "out" / "records").exists()


def test_a_5000_digit_seed_in_a_suite_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(f'name = "s"\ntargets = ["x"]\nmodels = ["y"]\nseeds = [{"9" * 5000}]\n')
    with pytest.raises(ConfigError, match=r"^suite file '.*s\.toml' is not valid TOML: Exceeds the limit"):
        load_suite(tmp_path / "s.toml")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("seeds", "[]", "field seeds: List should have at least 1 item"),
        ("[evaluation]\nmetrics", "[]", "field evaluation.metrics: List should have at least 1 item"),
        ("[evaluation]\ncutoffs", "[0]", "field evaluation.cutoffs.0: Input should be greater than or equal to 1"),
    ],
)
def test_empty_or_impossible_suite_lists_are_refused(tmp_path: Path, field: str, value: str, message: str) -> None:
    (tmp_path / "s.toml").write_text(
        f'name = "s"\ntargets = ["synthetic-finance"]\nmodels = ["popularity"]\n{field} = {value}\n'
    )
    with pytest.raises(ConfigError, match=message):
        load_suite(tmp_path / "s.toml")


@pytest.mark.slow
def test_a_damaged_checkpoint_is_an_error_naming_it_never_a_silent_scratch(tmp_path: Path) -> None:
    (tmp_path / "suite.toml").write_text(TINY)
    suite = load_suite(tmp_path / "suite.toml")
    out = tmp_path / "out"
    Runner(suite, load_plugins(), out, device="cpu").run()
    ((_, first),) = load_records(out)
    (pt,) = (out / "checkpoints").glob("*.pt")
    meta = pt.with_suffix(".json")

    def rerun() -> None:
        for folder in records_dir(out).iterdir():
            if folder.is_dir():
                for f in folder.iterdir():
                    f.unlink()
                folder.rmdir()
        Runner(suite, load_plugins(), out, device="cpu").run()

    original = pt.read_bytes()
    pt.write_bytes(b"")
    with pytest.raises(CheckpointError, match=rf"^checkpoint {pt} is unreadable .*; delete it to pretrain again$"):
        rerun()
    torch.save({"something.else": torch.zeros(3)}, pt)
    with pytest.raises(CheckpointError, match=r"matches none of the parameters of model 'sasrec'"):
        rerun()
    state = torch.load(io.BytesIO(original), weights_only=True)
    name = next(k for k, v in state.items() if v.ndim == 2)
    torch.save({**state, name: torch.zeros(3, 3)}, pt)  # one layer of another size: never a partial load
    with pytest.raises(CheckpointError, match=rf"{re.escape(name)} has shape \(3, 3\), but model 'sasrec' has"):
        rerun()
    pt.write_bytes(original)

    doc = json.loads(meta.read_text())
    meta.write_text(json.dumps({**doc, "datasets": ["forged"]}))  # the corpus comes from the caller, not the file
    rerun()
    ((_, again),) = load_records(out)
    assert again.strategy.corpus_datasets == first.strategy.corpus_datasets != ["forged"]
    assert again.metrics == first.metrics and again.strategy.transfer["loaded"]
    meta.write_text(json.dumps({**doc, "seed": 7}))
    with pytest.raises(CheckpointError, match=r"does not describe .*: its seed differ"):
        rerun()
    meta.write_text("{not json")
    with pytest.raises(CheckpointError, match=r"checkpoint metadata .* is unreadable or invalid"):
        rerun()

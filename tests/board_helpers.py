"""The records the board tests share (a tiny two-domain suite, run once per session) and helpers
to publish and edit copies of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from flm_bench import hookimpl
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_records
from flm_bench.specs import CorpusSpec

SUITE = """
name = "render-test"
targets = ["synthetic-finance", "synthetic-media"]
corpora = ["tiny-corpus"]            # each target pretrains on the other one (a target is excluded)
models = ["popularity", "sasrec"]
strategies = ["scratch", "finetune"]
seeds = [0, 1]

[evaluation]
metrics = ["ndcg", "recall"]
cutoffs = [10]

[training]
epochs = 1
batch_size = 256
max_valid_users = 300
device = "cpu"

[pretraining]
epochs = 1
batch_size = 512
device = "cpu"

[model_params.sasrec]
dim = 8
layers = 1
heads = 1
max_len = 8
"""


class TinyCorpus:
    """A pretraining corpus of the two small synthetic domains (the big ones take too long here)."""

    @staticmethod
    @hookimpl
    def flm_bench_register_corpora(register):
        register(
            CorpusSpec(
                name="tiny-corpus",
                datasets=("synthetic-finance", "synthetic-media"),
                description="SYNTHETIC test corpus",
            )
        )


def measure(run_suite) -> Path:
    """Run the suite (2 seeds, 12 records); return its records folder."""
    output = run_suite(SUITE, load_plugins(extra=[("tiny", TinyCorpus())]))
    assert len(load_records(output)) == 12
    return output / "records"


def publish(measured: Path, root: Path) -> tuple[Path, Path]:
    """Copy the records into ``root/leaderboards/records``; return (records, leaderboards)."""
    boards = root / "leaderboards"
    shutil.copytree(measured, boards / "records")
    return boards / "records", boards


def edit_record(folder: Path, **changes) -> None:
    """Change fields of ``folder/record.json``: ``model__name="x"`` sets record["model"]["name"]."""
    path = folder / "record.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        target = data
        *parents, last = key.split("__")
        for p in parents:
            target = target[p]
        target[last] = value
    path.write_text(json.dumps(data, indent=2))

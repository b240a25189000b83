"""The device paths: each test runs on the CPU and, where torch sees a CUDA device, on CUDA
(``benchmarks/gpu_check.py`` runs this file on a GPU machine). Without CUDA the CUDA cases are
skipped with that reason (``-ra`` lists them); the CPU cases always run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from flm_bench.data.preprocess import Preprocess, prepare_data
from flm_bench.data.sources import DATA_DIR_ENV, DataLocation
from flm_bench.data.splits import leave_one_out
from flm_bench.errors import ConfigError
from flm_bench.evaluation import evaluate, metric_names
from flm_bench.params import parse_params
from flm_bench.plugins import load_plugins
from flm_bench.suite import TrainConfig
from flm_bench.train.build import build_model
from flm_bench.train.cost import Meter
from flm_bench.train.loop import fit, resolve_device

NO_CUDA = "no CUDA device visible to torch"
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA))]


def test_cuda_request_without_cuda_is_a_config_error() -> None:
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda" and resolve_device("auto") == "cuda"
    else:
        assert resolve_device("auto") == "cpu"
        with pytest.raises(ConfigError, match="cuda"):
            resolve_device("cuda")


@pytest.mark.parametrize("device", DEVICES)
def test_meter_measures_the_devices_memory(device: str) -> None:
    with Meter(device) as meter:
        block = torch.ones(4_000_000, device=device)  # 16 MB
    assert meter.memory_kind == ("cuda_max_allocated" if device == "cuda" else "process_peak_rss")
    assert meter.peak_mb >= 15 and block.device.type == device


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_sasrec_trains_and_ranks_on_the_device(device: str) -> None:
    """One epoch and a full-ranking evaluation on ``device``: weights and scores stay there, the
    metrics are those of a model that learned something (above popularity-free chance)."""
    plugins = load_plugins()
    data = prepare_data(plugins.datasets.get("synthetic-finance").load_data(DataLocation()), Preprocess())
    split = leave_one_out(data)
    spec = plugins.models.get("sasrec")
    params = parse_params("sasrec", spec.params, {"dim": 16, "layers": 1, "heads": 1})
    model = build_model(spec, params, data, seed=0, device=device)
    assert isinstance(model, torch.nn.Module)
    result = fit(model, model.parameters(), split.train, split.valid, TrainConfig(epochs=2, device=device), seed=0)
    assert result.epochs >= 1 and all(p.device.type == device for p in model.parameters())
    scores = model.score([split.test.history.get(0)], split.test.users[:1])
    assert scores.shape == (1, data.n_items) and torch.isfinite(scores).all()
    _, per_user = evaluate(model.score, split.test, metric_names(["ndcg"], [10]))
    assert float(np.mean(per_user["ndcg@10"])) > 10 / data.n_items


@pytest.mark.slow
def test_gpu_check_runs_on_this_machine(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU script's quick mode: the CPU measurement always, the CUDA part or its skip reason."""
    monkeypatch.setenv(DATA_DIR_ENV, "")  # the script sets it; restored after the test
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    assert gpu_check.main(["--quick", "--valid-users", "200"]) == 0
    out = capsys.readouterr().out
    assert "sequences/s" in out and "users/s" in out and "train peak MB" in out
    if not torch.cuda.is_available():
        assert "CUDA part skipped: no CUDA device visible to torch" in out

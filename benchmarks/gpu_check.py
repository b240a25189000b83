"""The GPU path, ready to measure: on a machine with an NVIDIA GPU, run the unit tests of the CUDA
paths (``tests/test_devices.py``), then one ``sasrec`` training epoch and one full-ranking
evaluation on amazon-sports, on CUDA and on CPU, and print throughput and peak memory side by side.

Run:  python benchmarks/gpu_check.py                          (amazon-sports from ../shared/datasets)
      python benchmarks/gpu_check.py --data-dir DIR           (any folder laid out like shared/datasets)
      python benchmarks/gpu_check.py --quick                  (synthetic-finance, a small model: seconds)

Measured, per device: training sequences per second over one epoch of ``fit`` (the harness loop,
with its validation pass over at most ``--valid-users`` users), test users per second of
``evaluate`` (the whole catalogue ranked, history excluded, ranx metrics), and peak memory
(CUDA: ``torch.cuda.max_memory_allocated``; CPU: the process's peak resident set, so it includes
the process baseline). Without CUDA the CUDA part is skipped with its reason and the CPU part runs;
the exit code is 0 unless something measured failed (or the CUDA unit tests failed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "datasets"
FULL = {"dataset": "amazon-sports", "params": {"dim": 64, "layers": 2, "heads": 2}, "batch_size": 128}
QUICK = {"dataset": "synthetic-finance", "params": {"dim": 16, "layers": 1, "heads": 1}, "batch_size": 256}


def cuda_unavailable() -> str | None:
    """Why the CUDA part cannot run here, or None when it can."""
    import torch

    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}, CUDA build {torch.version.cuda or 'none (a CPU-only build)'}"
        return f"no CUDA device visible to torch ({build})"
    return None


def measure(device: str, setup: dict, valid_users: int) -> dict[str, float]:
    """One sasrec epoch and one full-ranking evaluation of the test users on ``device``."""
    import torch

    from flm_bench.data.preprocess import Preprocess, prepare_data
    from flm_bench.data.sources import DataLocation
    from flm_bench.data.splits import leave_one_out
    from flm_bench.evaluation import evaluate, metric_names
    from flm_bench.params import parse_params
    from flm_bench.plugins import load_plugins
    from flm_bench.suite import TrainConfig
    from flm_bench.train.build import build_model
    from flm_bench.train.cost import Meter
    from flm_bench.train.loop import fit, seed_everything

    plugins = load_plugins()
    data = prepare_data(plugins.datasets.get(setup["dataset"]).load_data(DataLocation.from_env()), Preprocess())
    split = leave_one_out(data)
    spec = plugins.models.get("sasrec")
    seed_everything(0)
    model = build_model(spec, parse_params("sasrec", spec.params, setup["params"]), data, seed=0, device=device)
    assert isinstance(model, torch.nn.Module)
    cfg = TrainConfig(epochs=1, batch_size=setup["batch_size"], max_valid_users=valid_users, device=device)
    with Meter(device) as train:
        fit(model, model.parameters(), split.train, split.valid, cfg, seed=0)
    names = metric_names(["ndcg", "recall"], [10])
    with Meter(device) as ev, torch.no_grad():
        _, per_user = evaluate(model.score, split.test, names)
    return {
        "sequences": len(split.train),
        "sequences/s": len(split.train) / train.seconds,
        "train peak MB": train.peak_mb,
        "users": len(split.test),
        "users/s": len(split.test) / ev.seconds,
        "eval peak MB": ev.peak_mb,
        "ndcg@10": float(per_user["ndcg@10"].mean()),
    }


def table(results: dict[str, dict[str, float]]) -> None:
    devices = list(results)
    print(f"{'':<16}" + "".join(f"{d:>14}" for d in devices))
    for key in next(iter(results.values())):
        fmt = ">14.4f" if key.startswith("ndcg") else ">14,.1f"
        print(f"{key:<16}" + "".join(f"{results[d][key]:{fmt}}" for d in devices))
    if "cuda" in results and "cpu" in results:
        for key in ("sequences/s", "users/s"):
            print(f"cuda / cpu {key}: {results['cuda'][key] / results['cpu'][key]:.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="synthetic-finance and a small model (seconds)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder laid out like shared/datasets")
    parser.add_argument("--valid-users", type=int, default=1000, help="validation users scored in the epoch")
    args = parser.parse_args(argv)
    os.environ["FLM_BENCH_DATA_DIR"] = str(args.data_dir)
    setup = QUICK if args.quick else FULL
    print(f"gpu check: sasrec on {setup['dataset']} {setup['params']}, batch {setup['batch_size']}")
    failed = 0
    why = cuda_unavailable()
    if why is None:
        print("CUDA unit tests: pytest tests/test_devices.py", flush=True)
        tests = [sys.executable, "-m", "pytest", "-q", "-ra", str(REPO / "tests" / "test_devices.py")]
        failed |= subprocess.run([*tests, "-k", "not gpu_check"]).returncode  # not this script again
    else:
        print(f"CUDA part skipped: {why}")
    results = {}
    for device in ("cuda", "cpu") if why is None else ("cpu",):
        print(f"measuring on {device} ...", flush=True)
        results[device] = measure(device, setup, args.valid_users)
    table(results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

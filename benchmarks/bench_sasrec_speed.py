"""Benchmark ``sasrec`` training speed and time-to-quality on MovieLens-100K and Amazon Beauty.

Run:  python benchmarks/bench_sasrec_speed.py                    (both datasets, ~4 min on 2 cores)
      python benchmarks/bench_sasrec_speed.py --datasets movielens-100k --data-dir DIR

Each dataset trains in a fresh subprocess with an empty ``FLM_BENCH_CACHE_DIR``, so the
clock includes parsing the files (the "data loading included" of the target). Protocol:
leave-one-out by time, full ranking over the catalogue under the rule of the numbers it is
compared with (``RULES``): on MovieLens-100K RecBole's, which keeps the user's history items in
the ranking (excluding them moves one trained model's NDCG@10 from 0.0338 to 0.0607 there, so
the rule matters even without repeated pairs), on Beauty S3-Rec's, which masks them.
Validation NDCG@10 on every validation user under the same rule, early stopping on it
(patience 5, at most ``--max-epochs``), test metrics of the best validation epoch. The model is the harness's
``sasrec`` (item IDs only, dot-product head, 64-d, 2 blocks, 2 heads, last 50 items, dropout 0.2, CE over
every position of sliding windows, AdamW lr 1e-3, batch 128), seed 0.

Reported: seconds to load, seconds per epoch (training + validation), the epoch and the
seconds since process start when validation NDCG@10 first reaches the level, best
validation, and test NDCG@10 / Recall@10 / MRR@10. With RecBole run side by side, also the
seconds each needs to reach the best validation NDCG@10 both runs reach (a fixed level can be
missed by both, which says nothing about speed).

RecBole side by side (optional): ``--recbole-python PYTHON`` names an interpreter with
RecBole 1.2.1 installed, kept out of flm-bench's environment because RecBole 1.2.1 needs
numpy < 2 (it uses ``np.float_``). Set it up once with
``python -m venv /tmp/recbole && /tmp/recbole/bin/pip install torch==2.13.0 recbole==1.2.1
"numpy<2" "pandas<2.2" "scipy<1.14"``. The benchmark then runs ``benchmarks/recbole_sasrec.py``
(RecBole's SASRec with its defaults, history NOT excluded, on the same ``u.data``) in the same
invocation after flm-bench, for ``--recbole-epochs`` epochs (default 2: enough for seconds per
epoch), and prints both side by side. RecBole is slow to reach the level: the reference run
needed 8 epochs; one of 10 epochs here (29 November 2026, 126 s per epoch) peaked at 0.0594.

Without it, the MovieLens-100K ratios use reference numbers of RecBole 1.2.1 measured earlier on
this 2-core machine type: 225 s per epoch; best validation NDCG@10 0.0642 within
12 epochs, reached after 8 epochs (about 1,800 s); test NDCG@10 0.0581, Recall@10 0.1188,
MRR@10 0.0400. For Beauty the level is the published full-ranking SASRec NDCG@10 on the
S3-Rec data (0.0318, TIGER, Rajput et al. 2023, Table 1; see docs/reproduction.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "datasets"
LEVELS = {"movielens-100k": 0.064, "amazon-beauty": 0.0318}
#: whether history items are excluded from the ranking: the rule of the numbers each dataset is compared with
RULES = {"movielens-100k": False, "amazon-beauty": True}
RECBOLE_ML100K = {"s_per_epoch": 225.0, "s_to_level": 1800.0, "ndcg@10": 0.0581, "recall@10": 0.1188, "mrr@10": 0.0400}
RECBOLE_RUNNER = Path(__file__).with_name("recbole_sasrec.py")
PARAMS = {"dim": 64, "layers": 2, "heads": 2, "max_len": 50, "dropout": 0.2, "use_ids": True, "use_features": False}

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from flm_bench.evaluation import evaluate
from flm_bench.plugins import load_plugins
from flm_bench.data.splits import make_split
from flm_bench.recommender import BuildInputs
from flm_bench.suite import TrainConfig
from flm_bench.train.loop import fit
import torch
name, params, exclude = sys.argv[1], json.loads(sys.argv[2]), sys.argv[4] == "1"
t_import = time.perf_counter() - t0
data = load_plugins().datasets.get(name).load_data()
split = make_split(data, "leave-one-out")
t_load = time.perf_counter() - t0 - t_import
torch.manual_seed(0)
spec = load_plugins().models.get("sasrec")
model = spec.build(BuildInputs(n_items=data.n_items, item_features=None, params=spec.params(**params), seed=0,
                               device="cpu", side=data.side))
cfg = TrainConfig(epochs=int(sys.argv[3]), patience=5, batch_size=128, learning_rate=1e-3, max_valid_users=10**9,
                  device="cpu")
stamps = []
fit_start = time.perf_counter()
result = fit(model, model.parameters(), split.train, split.valid, cfg, seed=0,
             progress=lambda msg: stamps.append(time.perf_counter() - t0), exclude_history=exclude)
fit_s = time.perf_counter() - fit_start
_, test = evaluate(model.score, split.test, ["ndcg@10", "recall@10", "mrr@10"], exclude_history=exclude)
print(json.dumps({
    "import_s": t_import, "load_s": t_load, "epochs": result.epochs, "s_per_epoch": fit_s / result.epochs,
    "best_valid": result.best_valid, "best_epoch": result.best_epoch,
    "curve": [[float(v), t] for v, t in zip(result.valid_curve, stamps)],
    **{k: float(v.mean()) for k, v in test.items()},
}))
"""


def measure(name: str, data_dir: Path, max_epochs: int) -> dict:
    """Train in a fresh subprocess with an empty cache; its JSON line of measurements."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "FLM_BENCH_CACHE_DIR": cache, "FLM_BENCH_DATA_DIR": str(data_dir)}
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                name,
                json.dumps(PARAMS),
                str(max_epochs),
                "1" if RULES[name] else "0",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return at_level(json.loads(out.stdout.strip().splitlines()[-1]), LEVELS[name])


def measure_recbole(python: str, data_dir: Path, epochs: int) -> dict:
    """RecBole's SASRec on MovieLens-100K in its own interpreter; its JSON line of measurements."""
    out = subprocess.run(
        [
            python,
            str(RECBOLE_RUNNER),
            "--data-dir",
            str(data_dir),
            "--epochs",
            str(epochs),
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.exit(f"RecBole run failed ({python} {RECBOLE_RUNNER.name}): {out.stderr.strip().splitlines()[-1]}")
    return at_level(json.loads(out.stdout.strip().splitlines()[-1]), LEVELS["movielens-100k"])


def seconds_to(curve: list[list[float]], level: float) -> tuple[int, float] | None:
    """(epoch, seconds since process start) when a validation ``curve`` of (value, seconds) first
    reaches ``level``; None if it never does."""
    return next(((i + 1, t) for i, (v, t) in enumerate(curve) if v >= level), None)


def at_level(run: dict, level: float) -> dict:
    """``run`` with the epoch (``level_epoch``) and seconds (``s_to_level``) its curve first reaches ``level``."""
    reached = seconds_to(run["curve"], level)
    epoch, seconds = reached if reached is not None else (None, None)
    return {**run, "level_epoch": epoch, "s_to_level": seconds}


def print_common_level(ml: dict, ref: dict) -> None:
    """Time-to-quality at the best validation NDCG@10 both runs reach: a level neither side chose."""
    common = min(ml["best_valid"], ref["best_valid"])
    (ml_epoch, ml_s), (ref_epoch, ref_s) = seconds_to(ml["curve"], common), seconds_to(ref["curve"], common)
    print(
        f"  seconds to val {common:.4f} RecBole {ref_s:7.1f} (epoch {ref_epoch})  flm-bench {ml_s:6.1f}"
        f" (epoch {ml_epoch})  -> {ref_s / ml_s:.0f}x sooner (the best level both reach)"
    )


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "never" if x is None else format(x, spec)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(LEVELS), choices=list(LEVELS))
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--max-epochs", type=int, default=40)
    p.add_argument("--recbole-python", help="an interpreter with RecBole 1.2.1: run it side by side on MovieLens-100K")
    p.add_argument(
        "--recbole-epochs",
        type=int,
        default=2,
        help="RecBole's epoch budget (at ~2 min each; it needs 8 or more to reach 0.064)",
    )
    args = p.parse_args()
    import torch

    print(f"sasrec {PARAMS}; torch threads {torch.get_num_threads()}; data from {args.data_dir}")
    print("history items excluded from the ranking: " + ", ".join(f"{n} {RULES[n]}" for n in args.datasets))
    print(
        f"{'dataset':16} {'load s':>7} {'s/epoch':>8} {'level':>7} {'epoch':>6} {'s to level':>10} "
        f"{'best val':>8} {'ep':>3} {'test ndcg@10':>12} {'recall@10':>9} {'mrr@10':>7}"
    )
    results = {}
    for name in args.datasets:
        r = results[name] = measure(name, args.data_dir, args.max_epochs)
        print(
            f"{name:16} {r['load_s']:7.2f} {r['s_per_epoch']:8.2f} {LEVELS[name]:7.4f} "
            f"{_fmt(r['level_epoch'], 'd'):>6} {_fmt(r['s_to_level']):>10} {r['best_valid']:8.4f} "
            f"{r['best_epoch']:3d} {r['ndcg@10']:12.4f} {r['recall@10']:9.4f} {r['mrr@10']:7.4f}"
        )
    ml = results.get("movielens-100k")
    if not ml:
        return
    if args.recbole_python:
        ref = measure_recbole(args.recbole_python, args.data_dir, args.recbole_epochs)
        print(
            f"\nMovieLens-100K against RecBole 1.2.1 SASRec measured in this run ({ref['epochs']} epochs;"
            f" {ref['recbole_config']}). Both rank history items (RecBole's rule): like for like"
        )
    else:
        ref = {**RECBOLE_ML100K, "epochs": 12}
        print(
            "\nMovieLens-100K against RecBole 1.2.1 SASRec (reference numbers measured earlier, same machine type,"
            " not re-run: pass --recbole-python). Both rank history items (RecBole's rule): like for like"
        )
    print(
        f"  seconds per epoch      RecBole {ref['s_per_epoch']:7.1f}  flm-bench {ml['s_per_epoch']:6.2f}"
        f"  -> {ref['s_per_epoch'] / ml['s_per_epoch']:.0f}x faster"
    )
    if ml["s_to_level"] is None:
        print("  flm-bench's validation NDCG@10 never reached 0.064: target missed")
    elif ref["s_to_level"] is None:
        print(
            f"  seconds to val 0.064   RecBole not within its {ref['epochs']} epochs (best {ref['best_valid']:.4f})"
            f"  flm-bench {ml['s_to_level']:6.1f}"
            f"  -> more than {ref['epochs'] * ref['s_per_epoch'] / ml['s_to_level']:.0f}x sooner"
        )
    else:
        print(
            f"  seconds to val 0.064   RecBole {ref['s_to_level']:7.1f}  flm-bench {ml['s_to_level']:6.1f}"
            f"  -> {ref['s_to_level'] / ml['s_to_level']:.0f}x sooner (target: >= 10x, under 180 s)"
        )
    if args.recbole_python:
        print_common_level(ml, ref)
    for m in ("ndcg@10", "recall@10", "mrr@10"):
        print(
            f"  test {m:10}        RecBole {ref[m]:7.4f}  flm-bench {ml[m]:6.4f}  -> {ml[m] / ref[m]:.2f}x"
            + ("  (RecBole after only its epochs above)" if args.recbole_python else "")
        )


if __name__ == "__main__":
    main()

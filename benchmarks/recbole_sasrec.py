"""RecBole's SASRec on MovieLens-100K, timed like ``bench_sasrec_speed.py`` times flm-bench.

Runs inside an interpreter that has RecBole (not a dependency of flm-bench; the one-line
set-up is in ``bench_sasrec_speed.py``'s docstring). ``bench_sasrec_speed.py --recbole-python``
starts it in a subprocess; it prints one JSON line of measurements.

RecBole 1.2.1 with its defaults for SASRec (64-d, 2 blocks, 2 heads, inner 256, dropout 0.5,
last 50 items, CE loss, Adam lr 1e-3, batch 2048 prefix-augmented sequences, leave-one-out
by time, full ranking, history items NOT excluded) and two settings the reference run used:
no negative sampling (CE needs none) and validation on NDCG@10. The clock starts at process
start, so loading and RecBole's preprocessing count as they do for flm-bench.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.utils import get_model, get_trainer, init_seed  # noqa: E402

# not "ml-100k": RecBole swaps that name for the copy bundled in its package, ignoring data_path
DATASET = "movielens-100k"


def write_atomic(u_data: Path, folder: Path) -> int:
    """MovieLens-100K's ``u.data(.gz)`` as RecBole's atomic ``<DATASET>/<DATASET>.inter``;
    returns the number of interactions written."""
    opener = gzip.open if u_data.suffix == ".gz" else open
    (folder / DATASET).mkdir(parents=True)
    with opener(u_data, "rt") as src, open(folder / DATASET / f"{DATASET}.inter", "w") as dst:
        dst.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
        lines = src.readlines()
        dst.writelines(lines)
    return len(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, required=True, help="the shared datasets folder")
    p.add_argument("--epochs", type=int, default=1)
    args = p.parse_args()
    u_data = args.data_dir.resolve() / "media" / "movielens-100k" / "u.data.gz"
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)  # RecBole writes log/ and log_tensorboard/ into the working directory
        n_interactions = write_atomic(u_data, Path(work))
        config = Config(
            model="SASRec",
            dataset=DATASET,
            config_dict={
                "data_path": work,
                "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
                "checkpoint_dir": str(Path(work) / "saved"),
                "epochs": args.epochs,
                "train_neg_sample_args": None,
                "valid_metric": "NDCG@10",
                "metrics": ["NDCG", "Recall", "MRR"],
                "topk": [10],
                "show_progress": False,
                "use_gpu": False,
                "state": "WARNING",
            },
        )
        init_seed(config["seed"], config["reproducibility"])
        dataset = create_dataset(config)
        if dataset.inter_num != n_interactions:
            raise SystemExit(f"RecBole loaded {dataset.inter_num} interactions, not those of {u_data}")
        train, valid, test = data_preparation(config, dataset)
        model = get_model(config["model"])(config, train.dataset)
        trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
        curve: list[tuple[float, float]] = []  # (validation NDCG@10, seconds since start) per epoch
        fit_start = time.perf_counter()
        trainer.fit(
            train,
            valid,
            saved=True,
            show_progress=False,
            callback_fn=lambda epoch, score: curve.append((float(score), time.perf_counter() - T0)),
        )
        fit_s = time.perf_counter() - fit_start
        # RecBole's own reload uses torch.load's old default; this file is the one it just wrote
        best = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
        model.load_state_dict(best["state_dict"])
        result = trainer.evaluate(test, load_best_model=False, show_progress=False)
    print(
        json.dumps(
            {
                "epochs": len(curve),
                "s_per_epoch": fit_s / len(curve),
                "best_valid": max(v for v, _ in curve),
                "curve": curve,
                "best_epoch": 1 + max(range(len(curve)), key=lambda i: curve[i][0]),
                "ndcg@10": float(result["ndcg@10"]),
                "recall@10": float(result["recall@10"]),
                "mrr@10": float(result["mrr@10"]),
                "recbole_config": {
                    k: config[k]
                    for k in (
                        "hidden_size",
                        "n_layers",
                        "n_heads",
                        "inner_size",
                        "hidden_dropout_prob",
                        "MAX_ITEM_LIST_LENGTH",
                        "train_batch_size",
                        "learning_rate",
                        "loss_type",
                    )
                },
            }
        )
    )


if __name__ == "__main__":
    main()

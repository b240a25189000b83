"""What the reference levels add to a cell's evaluation, on a real dataset's test users.

Run:  FLM_BENCH_DATA_DIR=../shared/datasets python benchmarks/bench_levels.py [--dataset amazon-sports]

Times, best of ``--repeat`` interleaved rounds, on the dataset's leave-one-out test split:

(b) flm    - ``evaluate`` of a dot-product model (seeded random 64-d user and item embeddings, as in
             ``bench_evaluation.py``): what a cell's evaluation costs without levels;
(r) random - ``random_levels`` (closed forms, no ranking);
(p) pop.   - ``popularity_levels`` (one catalogue order by training counts, each user's history skipped).

and prints (r + p) / (b), the share the levels add to the evaluation.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import torch
from bench_evaluation import timed  # benchmarks run as scripts: their folder is on sys.path


def main(argv: list[str] | None = None) -> int:
    import numba

    from flm_bench.data.splits import make_split
    from flm_bench.evaluation import evaluate, metric_names
    from flm_bench.levels import popularity_levels, random_levels
    from flm_bench.plugins import load_plugins

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="amazon-sports")
    p.add_argument("--split", default="leave-one-out")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", category=numba.NumbaTypeSafetyWarning)

    data = load_plugins().datasets.get(args.dataset).load_data()
    split = make_split(data, args.split)
    test, n = split.test, split.n_items
    names = metric_names(["ndcg", "recall", "mrr"], [10, 20])
    gen = torch.Generator().manual_seed(0)
    user_emb, item_emb = torch.randn(int(test.users.max()) + 1, 64, generator=gen), torch.randn(n, 64, generator=gen)

    def score(histories, users):
        return user_emb[torch.from_numpy(users)] @ item_emb.T

    evaluate(score, test, names)  # warm-up: numba JIT, torch kernels
    print(f"{args.dataset}: {len(test)} test users x {n} items, metrics {','.join(names)}")
    times = {"flm": float("inf"), "random": float("inf"), "popularity": float("inf")}
    for _ in range(args.repeat):
        times["flm"] = min(times["flm"], timed(lambda: evaluate(score, test, names), 1)[0])
        t, rnd = timed(lambda: random_levels(test, n, names, exclude_history=True), 1)
        times["random"] = min(times["random"], t)
        t, pop = timed(lambda: popularity_levels(split.train, test, n, names, exclude_history=True), 1)
        times["popularity"] = min(times["popularity"], t)
    for label, key in (
        ("(b) evaluate()", "flm"),
        ("(r) random_levels()", "random"),
        ("(p) popularity_levels()", "popularity"),
    ):
        print(f"{label:<26} {times[key]:7.3f} s")
    added = times["random"] + times["popularity"]
    print(f"{'(r + p) / (b)':<26} {added / times['flm']:7.2f}x   (levels add this share to the evaluation)")
    print(f"ndcg@10: random {rnd['ndcg@10']:.5f}, popularity {pop['ndcg@10']:.5f}")  # type: ignore[index]
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the graph models' sparse products: ``sociallgn_net.Graph`` (CSR, transpose built once)
against torch's sparse-COO product (``torch.sparse.mm``, what the models used before), side by side.

Run:  python benchmarks/bench_graph.py                      (ciaodvd, both models, ~1 min on 2 cores)
      python benchmarks/bench_graph.py --dataset lastfm-hetrec --batches 20 --data-dir DIR

On the real training graph of ``--dataset`` (leave-one-out by date on ciaodvd, random holdout
elsewhere), with one torch thread: ``lightgcn`` and ``sociallgn`` at the suite defaults (64-d,
3 layers, batch 512) each train ``--batches`` BPR batches (forward with the full propagation,
backward, AdamW step) with one product and then the other, alternating in rounds so that both
see the same machine load. Printed: milliseconds per batch for each, their ratio, and the
largest difference between the two products' propagated embeddings (the same sums in another
order: float rounding only).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from flm_bench.data.splits import Sequences, make_split
from flm_bench.plugins import load_plugins
from flm_bench.recommender import BuildInputs
from flm_bench_plugins.sociallgn_net import Graph, SocialLGN

REPO = Path(__file__).resolve().parents[1]
PROTOCOLS = {"ciaodvd": "leave-one-out"}


class CooGraph(Graph):
    """The same matrix multiplied by ``torch.sparse.mm`` on its COO form (autograd by torch)."""

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sparse.mm(self.coo, x)


def build(name: str, dataset: str) -> tuple[SocialLGN, Sequences]:
    plugins = load_plugins()
    data = plugins.datasets.get(dataset).load_data()
    split = make_split(data, PROTOCOLS.get(dataset, "random-holdout"))
    spec = plugins.models.get(name)
    torch.manual_seed(0)
    inputs = BuildInputs(
        n_items=data.n_items, item_features=None, params=spec.params(), seed=0, device="cpu", side=data.side,
        n_users=data.n_users, dataset=dataset,
    )  # fmt: skip
    model = spec.build(inputs)
    assert isinstance(model, SocialLGN)
    model.prepare(split.train)
    return model, split.train


def use(model: SocialLGN, kind: type[Graph]) -> None:
    """Multiply ``model``'s graphs with ``kind``'s product."""
    assert model.graph is not None
    model.graph = kind(model.graph.coo)
    if model.social is not None:
        model.social = kind(model.social.coo)


def time_batches(model: SocialLGN, train: Sequences, batches: int) -> float:
    """Seconds per training batch over ``batches`` batches (sampling excluded)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = model.epoch_losses(train, 512, np.random.default_rng(0))
    total = 0.0
    for _ in range(batches):
        start = time.perf_counter()
        loss = next(losses)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += time.perf_counter() - start
    return total / batches


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="ciaodvd")
    p.add_argument("--batches", type=int, default=10, help="batches per round and product")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "datasets")
    args = p.parse_args()
    os.environ.setdefault("FLM_BENCH_DATA_DIR", str(args.data_dir))
    torch.set_num_threads(1)
    print(f"{args.dataset}: {args.rounds} rounds of {args.batches} batches per product, one torch thread")
    print(f"{'model':10} {'COO ms/batch':>12} {'CSR ms/batch':>12} {'speed-up':>9} {'max |diff|':>11}")
    for name in ("lightgcn", "sociallgn"):
        model, train = build(name, args.dataset)
        with torch.no_grad():
            use(model, CooGraph)
            before = torch.cat(model.propagate())
            use(model, Graph)
            diff = float((torch.cat(model.propagate()) - before).abs().max())
        seconds: dict[type[Graph], list[float]] = {CooGraph: [], Graph: []}
        for _ in range(args.rounds):
            for kind in (CooGraph, Graph):
                use(model, kind)
                seconds[kind].append(time_batches(model, train, args.batches))
        coo, csr = (1000 * float(np.median(seconds[k])) for k in (CooGraph, Graph))
        print(f"{name:10} {coo:12.1f} {csr:12.1f} {coo / csr:8.2f}x {diff:11.2e}")


if __name__ == "__main__":
    main()

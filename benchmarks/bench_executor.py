"""Benchmark the executors: N small cells one after another here (``--executor local``) against
the same cells as Ray tasks on a local Ray instance with 2 workers (``--executor ray``), side by
side in one run; Ray's own per-task overhead; and an on-paper extrapolation to a 1,000-cell
suite on a k-node cluster.

Run:  python benchmarks/bench_executor.py             (N = 8 cells)
      python benchmarks/bench_executor.py --cells 4   (quicker)
      python benchmarks/bench_executor.py --tune 8    (instead: one tuning study of 8 trials,
                                                       ``tune`` here against ``tune --executor ray``)

The cells: synthetic-finance × {popularity, sasrec (dim 16, 2 epochs)} × seeds, scratch only
(no pretraining: every cell is independent, so the ratio is the executor's, not the DAG's).
Each output folder is fresh. Each executor runs the cells twice: cold (the first run in fresh
processes: imports, data loading, ranx compiling its kernels) and warm (the same processes again:
the steady state of a long suite). Local goes first, in this process, so the data cache on disk is
warm for every run but the first. Wall times include everything a user waits for except starting
Ray, reported apart.
The machine's load average is printed: on a shared machine the ratio moves with it.

Measured here (2 cores shared with other work, load average ~7.7, 1 December 2026, 8 cells):
local 29.6 s cold / 7.1 s warm; Ray with 2 workers 50.9 s cold (+24.8 s to start Ray) / 3.5 s
warm: 0.58x cold, 2.02x warm. An empty Ray task 1.3 ms; a worker's start-up (spawn, imports,
data, ranx kernels) ~47 s once; overhead per warm cell 0.42 s on Ray against 0.33 s locally.
Ray pays off once each worker runs many cells; a short suite on this machine is faster locally.

Tuning (``--tune 8``: one study of 8 sasrec trials, 2 epochs each, 2 workers), measured here (load
average ~7 on 2 cores, 1 December 2026): local 35.9 s cold / 15.4 s warm; Ray 46.4 s cold (+17.3 s to
start Ray) / 10.1 s warm: 0.77x cold, 1.51x warm. The same shape as cells: trials in parallel pay
off once the workers are started, i.e. for studies of many trials or trials of seconds or more.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

SUITE = """
name = "bench-executor"
targets = ["synthetic-finance"]
models = ["popularity", "sasrec"]
strategies = ["scratch"]
seeds = {seeds}

[evaluation]
metrics = ["ndcg"]
cutoffs = [10]

[training]
epochs = 2
patience = 2
batch_size = 256
max_valid_users = 500
device = "cpu"

[model_params.sasrec]
dim = 16
layers = 1
heads = 1
"""


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def cell_seconds(output: Path) -> list[float]:
    """Adapt + evaluation seconds of every record in ``output`` (the cells' own work)."""
    docs = [json.loads(p.read_text()) for p in (output / "records").glob("*/record.json")]
    return [d["cost"]["adapt_seconds"] + d["cost"]["eval_seconds"] for d in docs]


def noop_overhead(ray, tasks: int) -> float:
    """Seconds per empty task, submitted all at once and gathered (Ray's scheduling round trip)."""

    @ray.remote(num_cpus=1)
    def noop() -> None:
        return None

    ray.get([noop.remote() for _ in range(8)])  # workers started
    start = time.perf_counter()
    ray.get([noop.remote() for _ in range(tasks)])
    return (time.perf_counter() - start) / tasks


def extrapolate(cell_s: float, overhead_s: float, startup_s: float, cores: int, cells: int = 1000) -> None:
    """A ``cells``-cell suite over k nodes of ``cores`` cores, one core per cell."""
    print(
        f"\n{cells} cells of {cell_s:.1f} s (+{overhead_s:.2f} s overhead) each, "
        f"+{startup_s:.0f} s worker start-up, {cores} cores/node:"
    )
    print(f"{'nodes':>6} {'parallel':>9} {'waves':>6} {'wall':>10} {'speed-up':>9}")
    sequential = cells * cell_s
    for k in (1, 2, 4, 8, 16, 32):
        slots = k * cores
        waves = math.ceil(cells / slots)
        wall = startup_s + waves * (cell_s + overhead_s)
        print(f"{k:>6} {slots:>9} {waves:>6} {wall / 60:>8.1f} m {sequential / wall:>8.1f}x")


def bench_tuning(trials: int, workers: int) -> None:
    """One study (sasrec scratch on synthetic-finance) of ``trials`` trials tuned here, one trial after
    another, and as Ray tasks on a local Ray instance with ``workers`` workers, side by side: each tunes
    a first study (cold: fresh worker processes load torch, plugins and data) and a second one of the
    same cell under another name (warm: the same processes again), in one SQLite storage per executor."""
    import ray
    import torch

    from flm_bench.plugins import load_plugins
    from flm_bench.ray_tuning import tune_on_ray
    from flm_bench.runner import Runner
    from flm_bench.suite import load_suite
    from flm_bench.tuning import tune

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-tuning-"))
    (root / "suite.toml").write_text(
        SUITE.format(seeds=[0]).replace('"popularity", ', "") + "\n[resources]\ncpus = 1\n"
    )
    suite = load_suite(root / "suite.toml")
    print(f"one study of {trials} trials; before: {load()}")
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    for name, study in (("local", tune), ("ray", tune_on_ray)):
        (root / name).mkdir()
        runner, url = Runner(suite, load_plugins(), root / name), f"sqlite:///{root / name / 'tuning.db'}"
        start = time.perf_counter()
        if name == "ray":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
            boot = time.perf_counter() - start
        for prefix in ("cold", "warm"):
            start = time.perf_counter()
            [done] = study(runner, budget=trials, url=url, prefix=prefix, say=lambda _: None)
            walls[name].append(time.perf_counter() - start)
            assert done.trials.run == trials, done.trials
    ray.shutdown()
    print(f"after: {load()}")
    (local, local_warm), (on_ray, ray_warm) = walls["local"], walls["ray"]
    print(f"tune, local, sequential:    {local:7.1f} s cold, {local_warm:7.1f} s warm")
    print(
        f"tune, ray, {workers} workers:      {on_ray:7.1f} s cold, {ray_warm:7.1f} s warm (+{boot:.1f} s to start Ray)"
    )
    ratio = f"{local / on_ray:7.2f}x cold, {local_warm / ray_warm:.2f}x warm"
    print(f"speed-up local / ray:       {ratio} (ideal {workers}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8, help="cells (even: half popularity, half sasrec)")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (CPUs of the local Ray instance)")
    parser.add_argument("--cores-per-node", type=int, default=16, help="for the extrapolation")
    parser.add_argument("--tune", type=int, metavar="TRIALS", help="bench tuning one study of TRIALS trials instead")
    args = parser.parse_args()
    if args.tune:
        bench_tuning(args.tune, args.workers)
        return

    import ray
    import torch

    from flm_bench.plugins import load_plugins
    from flm_bench.ray_executor import run_on_ray
    from flm_bench.runner import Runner
    from flm_bench.suite import load_suite

    torch.set_num_threads(1)  # one core per cell, locally as on Ray
    root = Path(tempfile.mkdtemp(prefix="bench-executor-"))
    (root / "suite.toml").write_text(SUITE.format(seeds=list(range(max(1, args.cells // 2)))))
    suite = load_suite(root / "suite.toml")
    print(f"{args.cells} cells; before: {load()}")

    locals_ = []
    for name in ("local", "local-warm"):  # cold (first cells compile ranx's kernels), then warm
        start = time.perf_counter()
        Runner(suite, load_plugins(), root / name).run()
        locals_.append(time.perf_counter() - start)
    local, local_warm = locals_
    per_cell = cell_seconds(root / "local-warm")

    start = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    boot = time.perf_counter() - start
    try:
        walls = []
        for name in ("ray", "ray-warm"):  # cold workers (first run), then the same workers again
            start = time.perf_counter()
            run = run_on_ray(suite, load_plugins(), root / name)
            walls.append(time.perf_counter() - start)
            assert len(run.result.written) == len(per_cell) and not run.result.failed, run.result
        noop = noop_overhead(ray, 200)
    finally:
        ray.shutdown()
    on_ray, warm = walls
    ray_cells = cell_seconds(root / "ray-warm")

    mean_cell = statistics.mean(per_cell)
    # what a warm Ray cell costs beyond its own work, per worker slot: wall × workers / cells − cell work
    overhead = warm * args.workers / len(ray_cells) - statistics.mean(ray_cells)
    print(f"after: {load()}")
    print(f"local, sequential, cold:     {local:7.1f} s  ({len(per_cell)} cells, in this process)")
    print(f"local, sequential, warm:     {local_warm:7.1f} s  (mean cell work {mean_cell:.2f} s)")
    print(f"ray, {args.workers} workers, cold:     {on_ray:7.1f} s  (plus {boot:.1f} s to start Ray)")
    print(f"ray, {args.workers} workers, warm:     {warm:7.1f} s  (the same worker processes again)")
    ratio = f"{local / on_ray:7.2f}x cold, {local_warm / warm:.2f}x warm"
    print(f"speed-up local / ray:        {ratio} (ideal {args.workers}x)")
    print(f"mean cell work on Ray, warm: {statistics.mean(ray_cells):7.2f} s  (vs {mean_cell:.2f} s locally, warm)")
    print(f"Ray empty-task round trip:   {noop * 1000:7.2f} ms per task (200 tasks at once)")
    print(f"worker start-up, once each:  {on_ray - warm:7.2f} s  (cold − warm wall)")
    local_overhead = local_warm / len(per_cell) - mean_cell  # ids, locks, record writing: both executors
    print(f"overhead per cell, warm:     {overhead:7.2f} s on Ray (scheduling, pickling, writing the record)")
    print(f"                             {local_overhead:7.2f} s locally (writing the record)")
    print(
        "\nAssumptions: cells independent and of equal length, one core each, no GPU, cell work as "
        "measured locally (no contention); pretraining checkpoints trained once and shared (each adds "
        "one wave before its cells); the shared filesystem keeps up (a record is ~1 MB); worker "
        "start-up paid once per worker (added once below), the warm per-cell overhead on every cell."
    )
    startup = max(on_ray - warm, 0.0)
    extrapolate(mean_cell, max(overhead, 0.0), startup, args.cores_per_node)
    extrapolate(47 * 60 / 204, max(overhead, 0.0), startup, args.cores_per_node)  # the standard suite's cell
    print(f"\n(records in {root})", file=sys.stderr)


if __name__ == "__main__":
    main()

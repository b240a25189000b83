"""Benchmark loading the largest real datasets: cold (fetch + parse + cache write) vs cached.

Run:  python benchmarks/bench_loading.py                      (yelp, amazon-sports, amazon-2014)
      python benchmarks/bench_loading.py --data-dir DIR --datasets yelp movielens-100k

Each name is a dataset or a corpus (a corpus loads every member dataset and merges them, as
the runner does for pretraining). For each name, in a fresh temporary ``FLM_BENCH_CACHE_DIR``:

cold    a fresh subprocess loads it with an empty cache: the files are verified in place in
        the data folder (``FLM_BENCH_DATA_DIR``; nothing is downloaded), parsed, and the
        Arrow table written to the cache;
cached  a second fresh subprocess loads it again, now from the Arrow cache.

Fresh subprocesses keep imports and in-process caches honest. Reported per run: ``load s``
(``spec.load_data()`` and the merge, timed inside the child after importing flm_bench, datasets,
numpy and pooch), ``import s`` (those imports and plugin loading), ``process s`` (the child's
wall time: interpreter start, imports and load), and the child's peak RSS (``ru_maxrss`` from
``os.wait4``, i.e. ``resource`` usage of that one child). The OS page cache is not dropped,
so "cold" means cold for flm-bench, with the source files likely already in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "datasets"
DEFAULT_NAMES = ("yelp", "amazon-sports", "amazon-2014")

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import datasets, numpy, pooch  # imported here so that load_s times the load, not third-party imports
from flm_bench.plugins import load_plugins
from flm_bench.data.table import merge
plugins = load_plugins()
name = sys.argv[1]
t1 = time.perf_counter()
if name in plugins.datasets:
    data = plugins.datasets.get(name).load_data()
    members = [name]
else:
    members = list(plugins.corpora.get(name).datasets)
    data = merge(name, [plugins.datasets.get(m).load_data() for m in members])
n = data.n_interactions  # touch the table
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "interactions": n, "users": data.n_users,
                  "items": data.n_items, "members": members}))
"""


def check_registered(names: list[str]) -> None:
    """Exit with a clear message when a name (or a corpus member) is not registered."""
    from flm_bench.plugins import load_plugins

    plugins = load_plugins()
    missing = []
    for name in names:
        if name in plugins.datasets:
            continue
        if name in plugins.corpora:
            missing += [
                f"{m} (member of corpus {name})"
                for m in plugins.corpora.get(name).datasets
                if m not in plugins.datasets
            ]
        else:
            missing.append(name)
    for info in plugins.failed:
        print(f"warning: plugin {info.origin} failed: {info.error}", file=sys.stderr)
    if missing:
        sys.exit(
            "bench_loading: not registered by any plugin: "
            + ", ".join(missing)
            + "\n(the dataset plugins in plugins/ must register them; no numbers were measured)"
        )


def run_child(name: str, env: dict[str, str]) -> dict:
    """Load ``name`` in a fresh interpreter; its result, wall time and peak RSS."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, name], env=env, stdout=subprocess.PIPE, stderr=errors, cwd=REPO
        )
        stdout = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errors.seek(0)
            sys.exit(
                f"bench_loading: loading {name} failed (exit {proc.returncode}):\n"
                + errors.read().decode(errors="replace")[-4000:]
            )
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    result["process_s"] = wall
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


def files_under(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def bench(name: str, data_dir: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="flm-bench-loading-") as tmp:
        cache = Path(tmp) / "cache"
        env = {k: v for k, v in os.environ.items() if k not in ("FLM_BENCH_MIRROR",)}
        env.update(FLM_BENCH_CACHE_DIR=str(cache), FLM_BENCH_DATA_DIR=str(data_dir))
        cold = run_child(name, env)
        tables = files_under(cache / "tables")
        downloads = files_under(cache / "downloads")
        cached = run_child(name, env)
        if files_under(cache / "tables") != tables:
            sys.exit(f"bench_loading: the cached load of {name} wrote to the cache again")
        if (cold["interactions"], cold["users"], cold["items"]) != (
            cached["interactions"],
            cached["users"],
            cached["items"],
        ):
            sys.exit(f"bench_loading: cold and cached loads of {name} differ: {cold} vs {cached}")
    if not tables:
        sys.exit(f"bench_loading: the cold load of {name} wrote no cache entry")
    return {"name": name, "cold": cold, "cached": cached, "downloads": downloads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"local folder laid out like the mirror (default: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--datasets", nargs="+", default=list(DEFAULT_NAMES), help="dataset or corpus names (default: %(default)s)"
    )
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    if not data_dir.is_dir():
        sys.exit(f"bench_loading: data folder {data_dir} does not exist (pass --data-dir)")
    check_registered(args.datasets)

    print(f"data folder: {data_dir}\npython {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    rows = []
    for name in args.datasets:
        print(f"loading {name} ...", file=sys.stderr, flush=True)
        rows.append(bench(name, data_dir))
    sys.stderr.flush()

    header = (
        f"{'dataset':<18} {'interactions':>12} {'run':<7} {'load s':>8} {'import s':>9} {'process s':>10} "
        f"{'peak RSS MiB':>13} {'cold/cached load':>17} {'cold/cached process':>20}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        cold, cached = r["cold"], r["cached"]
        for run, m in (("cold", cold), ("cached", cached)):
            ratio = (
                f"{cold['load_s'] / cached['load_s']:>17.1f} {cold['process_s'] / cached['process_s']:>20.1f}"
                if run == "cold"
                else ""
            )
            print(
                f"{r['name'] if run == 'cold' else '':<18} {m['interactions'] if run == 'cold' else '':>12} "
                f"{run:<7} {m['load_s']:>8.2f} {m['import_s']:>9.2f} {m['process_s']:>10.2f} "
                f"{m['peak_rss_mib']:>13.0f} {ratio}"
            )
        if len(cold["members"]) > 1:
            print(f"{'':<18} members: {', '.join(cold['members'])}")
        if r["downloads"]:
            print(f"{'':<18} note: {r['downloads']} file(s) were downloaded, not read from the data folder")


if __name__ == "__main__":
    main()

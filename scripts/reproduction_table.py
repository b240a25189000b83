"""Print the reproduction table: our measured records beside published numbers, like for like.

Usage:  python scripts/reproduction_table.py RECORDS_DIR [--references leaderboards/references.json]

RECORDS_DIR holds record folders (``<output>/records`` of ``flm-bench run --suite
suites/reproduction*.toml``, or ``leaderboards/records``). For every published SASRec row
(``references.json``, the same file the leaderboards render as external rows) and every suite
whose name starts with ``reproduction`` that measured ``sasrec``/``scratch`` on its dataset,
each published metric is printed beside our mean ± sample std (ddof = 1) over seeds. The ratio
ours / published, and whether it is within ±10%, is printed only when the records were measured
under the reference's rules (``rules``: history exclusion, loss, negatives, max_len, dim; see
:mod:`flm_bench.results.reproduction`); otherwise the row says which rules differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from flm_bench.errors import RecordError
from flm_bench.results.records import Record
from flm_bench.results.render import read_records
from flm_bench.results.render.base import Reference, read_references
from flm_bench.results.reproduction import differences

REPO = Path(__file__).resolve().parents[1]
BAR = 0.10  # a like-for-like ratio within ±10% passes; outside it needs a verified cause


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("records", type=Path)
    p.add_argument("--references", type=Path, default=REPO / "leaderboards" / "references.json")
    p.add_argument("--model", default="sasrec")
    args = p.parse_args()
    try:
        records = read_records(args.records)
    except RecordError as exc:
        sys.exit(f"reproduction_table: {exc}")
    ours: dict[tuple[str, str], list[Record]] = {}
    for _, rec in records:
        if rec.suite.startswith("reproduction") and (rec.model.name, rec.strategy.name) == (args.model, "scratch"):
            ours.setdefault((rec.dataset.name, rec.suite), []).append(rec)
    print("| dataset | metric | published | source | suite | ours (seeds) | ours / published | like for like |")
    print("|---|---|---|---|---|---|---|---|")
    references = read_references(args.references)
    for ref in references:
        if ref.model.startswith("SASRec"):
            for (dataset, suite), recs in sorted(ours.items()):
                if dataset == ref.dataset:
                    _print_rows(ref, suite, recs)
    for dataset in sorted({d for d, _ in ours} - {ref.dataset for ref in references}):
        rec = next(r for (d, _), rs in sorted(ours.items()) if d == dataset for r in rs)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(rec.metrics.items()) if k.endswith("@10"))
        print(f"| {dataset} | (no published full-ranking number found) | | | {rec.suite} | {shown} | | |")


def _print_rows(ref: Reference, suite: str, recs: list[Record]) -> None:
    """One line per published metric of ``ref`` that ``recs`` measured."""
    unlike = differences(ref.rules, recs[0])
    source = ref.citation.split(",")[0] + (f" ({ref.model})" if ref.model != "SASRec" else "")
    for name, value in ref.metrics.items():
        if name not in recs[0].metrics:
            continue
        values = [r.metrics[name] for r in recs]
        mine = float(np.mean(values))
        spread = f" ± {np.std(values, ddof=1):.4f}" if len(values) > 1 else ""  # sample std over seeds
        if unlike:
            ratio, verdict = "—", "no: " + "; ".join(unlike)
        else:
            ratio, verdict = (
                f"{mine / value:.3f}",
                "yes, " + ("within ±10%" if abs(mine / value - 1) <= BAR else "OUTSIDE ±10%"),
            )
        print(
            f"| {ref.dataset} | {name} | {value:.4f} | {source} | {suite} | "
            f"{mine:.4f}{spread} ({len(recs)}) | {ratio} | {verdict} |"
        )


if __name__ == "__main__":
    main()

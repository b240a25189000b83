"""``leaderboard.json`` (format ``flm-bench.board/2``), and JSON safe to embed in a page's ``<script>``."""

from __future__ import annotations

import json
from typing import Any

from flm_bench.results.render.ablation import ablation_significance
from flm_bench.results.render.base import Board, holm_family
from flm_bench.results.render.cold import has_cold_gains, n_cold_gains
from flm_bench.results.render.domains import domain_summaries
from flm_bench.results.resampling import RESAMPLES
from flm_bench.results.stats import ALPHA
from flm_bench.results.summary import FORMAT, json_number


def board_json(board: Board) -> dict[str, Any]:
    """The machine-readable leaderboard (format ``flm-bench.board/2``)."""
    hl = board.headline
    rows = [r.to_json() for r in board.rows]
    refs = [
        {
            "kind": "external",
            "domain": board.reference_domain(ref),
            **ref.model_dump(exclude={"domain"}),
            "metrics": {m: json_number(v) for m, v in sorted(ref.metrics.items())},
        }
        for ref in board.references
    ]
    return {
        "format": FORMAT,
        "generated_by": "flm-bench leaderboard render",
        "headline_metric": hl,
        "significance": {
            "unit": "test user: each user's score averaged over a row's seeds (identical seeds count once)",
            "test": "two-sided paired Student t-test across test users (scipy ttest_rel)",
            "correction": "holm",
            "scope": "all gains on this leaderboard",
            "gains": board.n_gains,
            "alpha": ALPHA,
            "ci": f"95% percentile interval of the mean gain, paired bootstrap over users, {RESAMPLES} resamples",
            **_slice_significance(board),
            **ablation_significance(board),
        },
        "statistics": (
            "metrics: mean and std (ddof=1, null for one seed) over seeds; gain: mean over users of the "
            "seed-averaged difference, relative_percent of scratch's mean; per_seed: gains of the seeds both rows "
            "have, their std (ddof=1) and how many agree in sign with the mean gain"
        ),
        "records": board.n_records,
        "latest_record": board.latest,
        "domains": [{**s, "board": f"{board.slugs[d]}.md"} for d in board.domains for s in domain_summaries(board, d)],
        "metrics": board.metrics,
        "rows": rows,
        "references": refs,
    }


def _slice_significance(board: Board) -> dict[str, Any]:
    """How the rows' gains on the cold-start-item slice (``slices.<name>.gain``) are tested; nothing
    when no row has one."""
    if not has_cold_gains(board.rows):
        return {}
    return {
        "slice_gains": holm_family(
            "the slice's test users (the same users on both sides), as for the full gains",
            "all gains on slices on this leaderboard, a family apart from the full gains",
            n_cold_gains(board),
        )
    }


def dumps_json(data: Any) -> str:
    """``leaderboard.json``'s text: indented, UTF-8, no NaN."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def script_json(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``</script``, ``<!--`` or ``-->``."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

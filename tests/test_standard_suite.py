"""``suites/standard.toml``: what it covers, and a reduced run of it on the real datasets.

The full suite is a benchmark run (about an hour on two cores, see docs/standard-suite.md);
CI runs the same targets, corpus, models and strategies with one seed, one epoch and tiny
models, which exercises every cell type end to end on real data.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from flm_bench.plan import plan
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_records
from flm_bench.results.summary import summarize
from flm_bench.runner import Runner
from flm_bench.suite import Suite, load_suite

STANDARD = Path(__file__).resolve().parents[1] / "suites" / "standard.toml"
NEURAL = {"sasrec", "flm-cnn", "unisrec"}
DOMAINS = {"ecommerce", "social", "media", "finance"}


def test_standard_suite_covers_every_domain_variant_and_strategy() -> None:
    suite = load_suite(STANDARD)
    plugins = load_plugins()
    cells = plan(suite, plugins)
    assert {plugins.datasets.get(t).domain for t in suite.targets} == DOMAINS
    assert not any(plugins.datasets.get(t).synthetic for t in suite.targets)
    assert NEURAL <= set(suite.models)
    # every strategy but zero-shot, which only content-only models can run (the suite's use item IDs)
    assert set(suite.strategies) == {e.spec.name for e in plugins.strategies} - {"zero-shot"}
    assert len(suite.seeds) == 3
    for corpus in suite.corpora:  # targets are never pretrained on
        assert not set(plugins.corpora.get(corpus).datasets) & set(suite.targets)
    per_target = {t: {(c.model, c.strategy) for c in cells if c.dataset == t} for t in suite.targets}
    for target, pairs in per_target.items():
        assert {(m, s) for m in NEURAL for s in suite.strategies} <= pairs, target


@pytest.mark.slow
def test_reduced_standard_suite_runs_on_real_data(real_data: Path, tmp_path: Path) -> None:
    doc = tomllib.loads(STANDARD.read_text())
    doc.update(name="standard-ci", seeds=[0])
    for section in ("training", "pretraining"):
        doc[section].update(epochs=1, max_valid_users=200)
    for params in doc["model_params"].values():
        params.update({"dim": 16, **({"layers": 1} if "layers" in params else {})})
    suite = Suite.model_validate(doc)
    plugins = load_plugins()
    Runner(suite, plugins, tmp_path / "out", device="cpu").run()
    records = load_records(tmp_path / "out")
    assert len(records) == len(plan(suite, plugins))
    assert {r.dataset.domain for _, r in records} == DOMAINS
    rows = summarize(records, ["ndcg@10"])
    gains = [r for r in rows if r.key.model in NEURAL and r.key.strategy != "scratch"]
    assert len(gains) == len(suite.targets) * len(NEURAL) * (len(suite.strategies) - 1)
    for row in gains:
        assert "ndcg@10" in row.gain and 0.0 <= row.p_value["ndcg@10"] <= 1.0, row
    online = [r for _, r in records if r.strategy.name == "online"]
    assert online and all(int(r.strategy_metrics["stream.events"]) > 0 for r in online)

"""Record ids stay put: a model parameter added later (``added``) leaves the ids and checkpoint keys
made before it unchanged at its default, so published records are still found and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from flm_bench.params import ModelParams, added
from flm_bench.plugins import load_plugins
from flm_bench.runner import Runner
from flm_bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]


class _Params(ModelParams):
    dim: int = Field(64, ge=1)
    block: str = added("old", "a field added after records were published")


def test_an_added_field_at_its_default_is_not_part_of_the_identity() -> None:
    assert _Params().identity() == {"dim": 64}
    assert _Params(block="new").identity() == {"dim": 64, "block": "new"}
    assert _Params(dim=32).identity() == {"dim": 32}  # a field declared before keeps its default in


@pytest.mark.parametrize(
    ("suite", "dataset", "published"),
    [
        (
            "reproduction-s3rec",
            "amazon-toys",
            {("sasrec", "scratch", 0): "reproduction-s3rec__amazon-toys__sasrec__scratch__seed0__"},
        ),
        (
            "standard-v2",
            "coil2000",
            {
                ("sasrec", "scratch", 1): "standard-v2__coil2000__sasrec__scratch__seed1__",
                ("sasrec", "finetune", 2): "standard-v2__coil2000__sasrec__finetune__mixed-small__seed2__",
            },
        ),
    ],
)
def test_planning_a_published_suite_gives_its_published_record_ids(
    real_data: Path, tmp_path: Path, suite: str, dataset: str, published: dict[tuple[str, str, int], str]
) -> None:
    """The ids the current code plans for published cells are the published records' folder names
    (standard-v2's sasrec records predate ``block``; reproduction-s3rec's sets it); another
    ``block`` is another cell."""
    on_board = {p.name for p in (ROOT / "leaderboards" / "records").iterdir()}
    loaded = load_suite(ROOT / "suites" / f"{suite}.toml")
    sasrec = loaded.model_params.get("sasrec", {})
    cut = loaded.model_copy(update={"targets": [dataset], "models": ["sasrec"], "model_params": {"sasrec": sasrec}})
    runner = Runner(cut, load_plugins(), tmp_path)
    cells = {(c.model, c.strategy, c.seed): (c, rid) for c, rid in runner.prepare()}
    for key, prefix in published.items():
        rid = cells[key][1]
        assert rid.startswith(prefix)
        assert rid in on_board, f"{rid} is planned but not published"
    block = "torch" if sasrec.get("block") == "s3rec" else "s3rec"
    runner.suite = cut.model_copy(update={"model_params": {"sasrec": {**sasrec, "block": block}}})  # data cached
    assert all(runner.record_id(cells[key][0]) != cells[key][1] for key in published)

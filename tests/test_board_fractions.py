"""The transfer board's data efficiency and cold-start gains, on small generated records: the gain
on the cold-start-item slice (same users both sides, its own Holm family), the gain-by-fraction
table and plot (only for a domain with gains at two fractions or more)."""

from __future__ import annotations

import copy
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ttest_rel

from flm_bench.data.transfer import COLD_START_ITEMS
from flm_bench.errors import RecordError
from flm_bench.results import render
from flm_bench.results.records import load_records
from flm_bench.results.render.base import build_board
from flm_bench.results.render.fractions import fraction_plot
from flm_bench.results.resampling import bootstrap_ci
from flm_bench.results.slices import NOT_STORED, slice_key
from flm_bench.results.stats import holm
from flm_bench.results.summary import summarize

HL = "ndcg@10"
USERS = np.arange(100, 160)  # 60 test users
COLD = USERS[::4]  # 15 of them are cold-start-item users
_PUBLISHED = sorted((Path(__file__).parents[1] / "leaderboards" / "records").glob("*/record.json"))


def _base() -> dict:
    """A published record's document, the template of the generated ones (their fields are replaced)."""
    doc = json.loads(_PUBLISHED[0].read_text())
    doc.update(levels=None, training=None, tuning=None, suite="gen")
    doc["dataset"].update(name="gen-data", domain="gen-domain")
    doc["evaluation"].update(users=len(USERS), metrics=[HL], exclude_history=True)
    return doc


BASE = _base()


def _write(
    root: Path, strategy: str, seed: int, scores: np.ndarray, *, fraction: float = 1.0, cold: np.ndarray | None = COLD
) -> None:
    """One record: ``scores`` per user of ``USERS``; ``cold``: the slice's users listed in per_user.npz
    (None: not listed, as in records made before they were)."""
    doc = copy.deepcopy(BASE)
    rid = f"gen__{strategy}__f{fraction}__seed{seed}"
    doc.update(record_id=rid, seed=seed, metrics={HL: float(scores.mean())})
    doc["strategy"].update(name=strategy, corpus=None if strategy == "scratch" else "corpus-a")
    doc["target_fraction"] = {"fraction": fraction, "seed": 0, "training_users": 10, "of_users": 100}
    mask = np.isin(USERS, COLD)
    doc["slices"] = {COLD_START_ITEMS: {"users": int(mask.sum()), "metrics": {HL: float(scores[mask].mean())}}}
    folder = root / rid
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps(doc))
    arrays = {
        "users": USERS,
        HL: scores,
        **({} if cold is None else {slice_key(COLD_START_ITEMS): np.isin(USERS, cold)}),
    }
    np.savez_compressed(folder / "per_user.npz", **arrays)


def _scores(seed: int, shift: float) -> np.ndarray:
    return np.clip(np.random.default_rng(seed).random(len(USERS)) * 0.5 + shift, 0.0, 1.0)


def _cell(root: Path, strategy: str, shift: float, **kw) -> list[np.ndarray]:
    """Two seeds of one cell; return their per-user scores."""
    out = [_scores(zlib.crc32(f"{strategy} {seed} {kw.get('fraction', 1.0)}".encode()), shift) for seed in (0, 1)]
    for seed, s in enumerate(out):
        _write(root, strategy, seed, s, **kw)
    return out


def _row(rows, strategy: str, fraction: float = 1.0):
    return next(r for r in rows if r.key.strategy == strategy and r.key.fraction == fraction)


def test_cold_gain_is_the_paired_gain_on_the_slice_users(tmp_path: Path) -> None:
    control = _cell(tmp_path, "scratch", 0.1)
    treated = _cell(tmp_path, "finetune", 0.3)
    other = _cell(tmp_path, "frozen", 0.12)
    rows = summarize(load_records(tmp_path))
    mask = np.isin(USERS, COLD)
    x = np.mean(control, axis=0)[mask]  # each cold user's score averaged over seeds
    raw = {}
    for name, side in (("finetune", treated), ("frozen", other)):
        y = np.mean(side, axis=0)[mask]
        gain = _row(rows, name).slice_gain[COLD_START_ITEMS][HL]
        assert gain.users == len(COLD)
        assert gain.mean == pytest.approx(float(np.mean(y - x)))
        assert gain.ci == pytest.approx(bootstrap_ci(y - x))
        raw[name] = float(ttest_rel(x, y).pvalue)
        assert gain.p_value == pytest.approx(raw[name])
    # Holm within the two cold-start gains only, not with the full gains
    adjusted = dict(zip(raw, holm(list(raw.values()))))
    for name in raw:
        assert _row(rows, name).slice_p[COLD_START_ITEMS][HL] == pytest.approx(adjusted[name])
    assert _row(rows, "finetune").slice_significant(COLD_START_ITEMS, HL)  # +0.2 on every user's scale
    assert not _row(rows, "scratch").slice_gain  # the control has none


def test_cold_gain_shows_on_every_format(tmp_path: Path) -> None:
    records = tmp_path / "records"
    _cell(records, "scratch", 0.1)
    _cell(records, "finetune", 0.3)
    files = {k: v.decode() for k, v in render.render_files(records).items()}
    md = files["gen-domain.md"]
    assert f"| {HL} cold-start items (users) | cold-start gain {HL} [95% CI] · p (Holm) |" in md
    assert re.search(r"\(15 users\) \| \+0\.\d{4} \[\+0\.\d{4}, \+0\.\d{4}\] † · p [0-9.e<\- ]+ \|", md)
    assert "Holm-adjusted in a family of its own, the 1 cold-start gains" in md
    data = json.loads(files["leaderboard.json"])
    row = next(r for r in data["rows"] if r["strategy"] == "finetune")
    assert row["slices"][COLD_START_ITEMS]["gain"][HL]["users"] == 15
    assert data["significance"]["slice_gains"]["gains"] == 1
    html = files["index.html"]
    assert '<input type="checkbox" data-col="cold_gain"> cold-start gain' in html
    assert re.search(r'<td data-col="cold_gain" data-v="0\.\d+" class="pos sig" hidden>\+0\.\d{4} \[', html)


def test_cold_gain_refused_when_the_users_differ_or_are_not_listed(tmp_path: Path) -> None:
    _cell(tmp_path, "scratch", 0.1)
    _cell(tmp_path, "finetune", 0.3, cold=COLD[:-1])  # one user fewer in the treated records' slice
    _cell(tmp_path, "frozen", 0.3, cold=None)  # records made before the slice's users were stored
    rows = summarize(load_records(tmp_path))
    differ, old = _row(rows, "finetune"), _row(rows, "frozen")
    assert not differ.slice_gain and not old.slice_gain
    assert differ.slice_skipped[COLD_START_ITEMS].startswith("the slice's users differ between the row and its")
    assert "15 vs 14 users" in differ.slice_skipped[COLD_START_ITEMS]
    assert old.slice_skipped[COLD_START_ITEMS] == NOT_STORED
    assert differ.to_json()["slices"][COLD_START_ITEMS]["gain_skipped"] == differ.slice_skipped[COLD_START_ITEMS]
    assert "gain" not in old.to_json()["slices"][COLD_START_ITEMS]


def _fractions(root: Path, fractions: tuple[float, ...]) -> None:
    for f in fractions:
        _cell(root, "scratch", 0.1, fraction=f)
        _cell(root, "finetune", 0.1 + 0.2 * (1 - f), fraction=f)  # pretraining helps most with least data


def test_fraction_table_and_plot_with_several_fractions(tmp_path: Path) -> None:
    _fractions(tmp_path, (0.05, 0.2, 1.0))
    board = build_board(load_records(tmp_path))
    svg = fraction_plot(board, "gen-domain")
    assert svg is not None and svg == fraction_plot(board, "gen-domain")  # deterministic
    assert [t.split("\n")[0] for t in re.findall(r"<title>([^<]*)</title>", svg)] == [
        f"{p} of the target's training users" for p in ("5%", "20%", "100%")
    ]
    for label in ("5%", "20%", "100%"):
        assert f">{label}</text>" in svg
    files = {k: v.decode() for k, v in render.render_files(tmp_path).items()}
    md = files["gen-domain.md"]
    table = md[md.index("## Gain by target fraction") :].split("\n\n")[2].splitlines()
    assert (
        table[0]
        == "| model · strategy ← corpus | 5% of training users | 20% of training users | 100% of training users |"
    )
    gains = {r.key.fraction: r.gain[HL] for r in board.rows if r.key.strategy == "finetune"}
    cells = table[2].split(" | ")[1:]
    assert table[2].startswith("| sasrec · finetune ← corpus-a |")
    for f, cell in zip((0.05, 0.2, 1.0), cells):
        assert cell.startswith(f"{gains[f].mean:+.4f} (")
    assert cells[0].endswith(" †")  # about +0.19 at 5%: significant
    assert 'class="plot fraction"' in files["index.html"]


def test_no_fraction_table_or_plot_with_one_fraction(tmp_path: Path) -> None:
    _fractions(tmp_path, (0.2,))
    board = build_board(load_records(tmp_path))
    assert fraction_plot(board, "gen-domain") is None
    files = {k: v.decode() for k, v in render.render_files(tmp_path).items()}
    assert "Gain by target fraction" not in files["gen-domain.md"] + files["index.html"]


@pytest.mark.slow
def test_runner_lists_the_slice_users_and_the_board_tests_them(board_records: Path) -> None:
    records = load_records(board_records)
    for path, rec in records:
        with np.load(path.parent / "per_user.npz") as npz:
            members = npz[slice_key(COLD_START_ITEMS)]
            assert members.dtype == bool and members.shape == npz["users"].shape
            assert members.sum() == rec.slices[COLD_START_ITEMS].users
    rows = [r for r in summarize(records) if not r.is_control]
    assert rows and not any(r.slice_skipped for r in rows)  # a row and its control list the same users
    for r in rows:
        assert bool(r.slice_gain) == (r.slices[COLD_START_ITEMS].users > 0)


def test_a_slice_mask_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    _cell(tmp_path, "scratch", 0.1)
    _cell(tmp_path, "finetune", 0.3)
    path = next(tmp_path.glob("gen__finetune__*seed1/per_user.npz"))
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez_compressed(path, **{**arrays, slice_key(COLD_START_ITEMS): arrays[slice_key(COLD_START_ITEMS)][:-1]})
    with pytest.raises(
        RecordError, match=r"per_user\.npz: slice:cold-start-items has 59 values, expected one per user \(60\)"
    ):
        summarize(load_records(tmp_path))

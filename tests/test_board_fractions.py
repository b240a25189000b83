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
from rich.console import Console
from scipy.stats import ttest_rel

from flm_bench.cli.board import board_table
from flm_bench.data.transfer import COLD_START_ITEMS
from flm_bench.errors import RecordError
from flm_bench.results import render
from flm_bench.results.records import load_records
from flm_bench.results.render.base import build_board
from flm_bench.results.render.fractions import fraction_plot
from flm_bench.results.render.json import board_json
from flm_bench.results.render.markdown import overall_markdown
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
    line = r"1 tested · 1 † better · 0 † worse · mean \+0\.\d{4} · best \+0\.\d{4}"  # the overall summary
    assert re.search(rf"\| {line} \| \[gen-domain\.md\]", files["overall.md"])
    assert re.search(rf'<td data-v="0\.\d+">{line}</td></tr>', html)
    assert 'data-label="cold-start gains" title="Cold-start gains: each row&#39;s gain in ndcg@10 over scratch' in html


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


def _terminal(root: Path, width: int) -> str:
    board = build_board(load_records(root))
    console = Console(width=width, record=True)
    console.print(board_table(board.rows, [HL], HL, width=width))
    return console.export_text()


@pytest.mark.parametrize("width", [120, 250])
def test_terminal_board_shows_the_cold_gain_when_the_slice_users_are_marked(tmp_path: Path, width: int) -> None:
    _cell(tmp_path, "scratch", 0.1)
    _cell(tmp_path, "finetune", 0.3)
    _cell(tmp_path, "frozen", 0.3, cold=None)  # its records do not mark the slice's users
    text = _terminal(tmp_path, width)
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
    rows = summarize(load_records(tmp_path))
    gain = _row(rows, "finetune").slice_gain[COLD_START_ITEMS][HL]
    lines = [line for line in text.splitlines() if "│" in line]
    # the gain, its mark and p on one line; its CI beside it, or on the next line when narrow
    (at,) = [i for i, line in enumerate(lines) if f"{gain.mean:+.4f} " in line]
    assert "[" not in lines[at].split("│")[-2] if width == 120 else f"{gain.mean:+.4f} [" in lines[at]
    assert f"[{gain.ci[0]:+.4f}, {gain.ci[1]:+.4f}]" in lines[at + (width == 120)]
    assert "† · p < 1e-4" in lines[at]
    assert (width == 120) != bool(re.search(r"┃ +gain ndcg@10 ┃", text))  # wide: a column of its own
    assert "n/a" in text and "the gain in ndcg@10 over scratch on the row's cold-start-item users" in " ".join(
        text.split()
    )


def test_terminal_board_hides_the_cold_gain_without_marked_slice_users(tmp_path: Path) -> None:
    _cell(tmp_path, "scratch", 0.1, cold=None)
    _cell(tmp_path, "finetune", 0.3, cold=None)
    text = _terminal(tmp_path, 250)
    assert "cold-start items" in text and "(15 users)" in text  # the slice's metric still shows
    assert not re.search(r"┃ +gain ndcg@10 ┃", text) and "n/a" not in text and "cold-start-item users only" not in text
    assert [line for line in text.splitlines() if "cold-start items" in line][0].count("cold-start items") == 1


def _overall_line(board) -> tuple[str, dict]:
    """The overall board's transfer-by-domain line of the generated domain, and its JSON entry."""
    md = overall_markdown(board)
    (line,) = [line for line in md.splitlines() if line.startswith("| gen-domain | gen |")]
    (entry,) = board_json(board)["domains"]
    return line, entry


def test_overall_board_summarizes_the_cold_gains_of_each_line(tmp_path: Path) -> None:
    control = _cell(tmp_path, "scratch", 0.1)
    treated = {n: _cell(tmp_path, n, shift) for n, shift in (("finetune", 0.3), ("probe", 0.25), ("frozen", 0.1))}
    worse = _cell(tmp_path, "online", 0.0)  # lower on every user's scale: a significant loss
    _cell(tmp_path, "adapter", 0.3, cold=None)  # no cold gain: not counted
    treated["online"] = worse
    mask = np.isin(USERS, COLD)
    x = np.mean(control, axis=0)[mask]
    gains = {n: float(np.mean(np.mean(s, axis=0)[mask] - x)) for n, s in treated.items()}
    raw = [float(ttest_rel(x, np.mean(s, axis=0)[mask]).pvalue) for s in treated.values()]
    sig = dict(zip(treated, (p < 0.05 for p in holm(raw))))
    assert sig == {"finetune": True, "probe": True, "frozen": False, "online": True}  # 2 wins, 1 loss
    line, entry = _overall_line(build_board(load_records(tmp_path)))
    mean, best = np.mean(list(gains.values())), max(gains.values())
    assert entry["cold_start_gains"] == {
        "gains": 4,
        "significant_positive": 2,
        "significant_negative": 1,
        "mean_gain": pytest.approx(mean, abs=1e-6),
        "best_gain": pytest.approx(best, abs=1e-6),
    }
    assert f"| 4 tested · 2 † better · 1 † worse · mean {mean:+.4f} · best {best:+.4f} |" in line
    assert entry["gains"] == 5  # the full gains count every row


def test_overall_board_says_n_a_for_a_line_without_cold_gains(tmp_path: Path) -> None:
    _cell(tmp_path, "scratch", 0.1, cold=None)
    _cell(tmp_path, "finetune", 0.3, cold=None)
    board = build_board(load_records(tmp_path))
    line, entry = _overall_line(board)
    assert entry["cold_start_gains"] is None and line.split(" | ")[-2] == "n/a"
    assert "cold-start gains" in overall_markdown(board) and " 0 tested" not in line


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
    text = _terminal(board_records, 250)  # `flm-bench run` prints this board of its records
    assert re.search(r"┃ +gain ndcg@10 ┃", text) and "cold-start-item users only" in " ".join(text.split())
    gains = [r.slice_gain[COLD_START_ITEMS][HL] for r in rows if HL in r.slice_gain.get(COLD_START_ITEMS, {})]
    assert gains and all(f"{g.mean:+.4f} [{g.ci[0]:+.4f}, {g.ci[1]:+.4f}]" in text for g in gains)


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

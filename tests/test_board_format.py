"""Numbers as every board shows them (one formatter per kind), the overall board's width, the answer
in sentences, and ``flm-bench leaderboard export`` through the installed console script."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from board_helpers import publish
from console import cli

from flm_bench.results import render
from flm_bench.results.records import load_records
from flm_bench.results.render.base import build_board, fmt_ci, fmt_pvalue, fmt_stat
from flm_bench.results.render.export import latex_escape
from flm_bench.results.render.md_text import md_citation
from flm_bench.results.render.story import domain_sentences
from flm_bench.results.render.strings import citation_parts
from flm_bench.results.summary import Stat


@pytest.mark.parametrize(
    ("p", "text"),
    [(1.0, "1.0"), (0.999, "1.0"), (0.12, "0.12"), (0.05, "0.050"), (0.0068, "0.0068"), (1e-4, "0.00010")]
    + [(9.9e-5, "< 1e-4"), (2.8e-33, "< 1e-4"), (0.0, "< 1e-4")],
)
def test_p_values_have_two_significant_digits_and_a_floor(p: float, text: str) -> None:
    assert fmt_pvalue(p) == text


def test_latex_text_is_escaped() -> None:
    assert latex_escape("a_b & 50% {x} #1 $ ~^\\") == (
        "a\\_b \\& 50\\% \\{x\\} \\#1 \\$ \\textasciitilde{}\\textasciicircum{}\\textbackslash{}"
    )


def test_deterministic_rows_have_no_spread_and_cis_are_brackets() -> None:
    assert fmt_stat(Stat(0.25, 0.0)) == "0.2500"  # every seed scored the same
    assert fmt_stat(Stat(0.25, None)) == "0.2500"  # one seed
    assert fmt_stat(Stat(0.25, 3e-17)) == "0.2500"  # identical seeds, up to float noise
    assert fmt_stat(Stat(0.25, 0.0123)) == "0.2500 ± 0.0123"
    assert fmt_ci((-0.001, 0.0204)) == "[-0.0010, +0.0204]"


@pytest.fixture(scope="module")
def published(board_records: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    records, boards = publish(board_records, tmp_path_factory.mktemp("published"))
    render.render(records, boards)
    return records, boards


def _tables(markdown: str) -> list[list[str]]:
    return [t.splitlines() for t in re.findall(r"(?:^\|.*\|\n)+", markdown, flags=re.M)]


@pytest.mark.slow
def test_overall_board_is_narrow_and_says_what_helps(published: tuple[Path, Path]) -> None:
    records, boards = published
    overall = (boards / "overall.md").read_text()
    tables = _tables(overall)
    assert tables and all(len(re.split(r"(?<!\\)\|", line)) - 2 <= 12 for t in tables for line in t)
    assert max(len(line) for t in tables for line in t) <= 200
    assert "± 0.0000" not in overall and not re.search(r"\de-\d", overall)  # p-values: 2 digits or < 1e-4
    board = build_board(load_records(records))
    for domain in board.domains:
        for sentence in domain_sentences(board, domain):
            assert sentence.replace("[", "\\[").replace("]", "\\]") in overall
    finance = (boards / "finance.md").read_text()
    assert "recall@10" in finance and "trainable params" in finance  # the domain boards keep the detail


@pytest.mark.slow
def test_export_csv_latex_json_from_the_console_script(published: tuple[Path, Path], tmp_path: Path) -> None:
    records, boards = published
    rows = json.loads((boards / "leaderboard.json").read_text())["rows"]

    done = cli("leaderboard", "export", "--format", "csv", "--from", str(records), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["dataset"], r["model"], r["strategy"]) for r in table] == [
        (r["dataset"], r["model"], r["strategy"]) for r in rows
    ]
    for line, row in zip(table, rows):
        assert float(line["ndcg@10"]) == row["metrics"]["ndcg@10"]["mean"]
        assert line["records"].split() == row["records"]
        gain = row["gain"].get("ndcg@10")
        assert (line["gain"] == "") == (gain is None)
        if gain:
            assert float(line["gain"]) == gain["mean"] and float(line["p_holm"]) == gain["p_holm"]
            assert [float(line["gain_ci95_low"]), float(line["gain_ci95_high"])] == gain["ci95"]

    out = tmp_path / "table.tex"
    done = cli("leaderboard", "export", "-f", "latex", "--from", str(records), "-o", str(out), cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "" and str(out) in done.stderr
    tex = out.read_text()
    assert tex.count("\\\\\n") == len(rows) + 1 and "\\toprule" in tex and "$\\pm$" in tex
    assert tex.count("synthetic-finance (synthetic) & sasrec & finetune & tiny-corpus &") == 1

    done = cli("leaderboard", "export", "--format", "json", "--from", str(records), cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout) == json.loads((boards / "leaderboard.json").read_text())

    done = cli("leaderboard", "export", "--format", "xml", "--from", str(records), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "xml" in done.stderr and "csv" in done.stderr


def test_citations_link_arxiv_ids_dois_and_https_only() -> None:
    parts = citation_parts("Kang & McAuley, ICDM 2018, arXiv 1808.09781; doi:10.1145/3340531.3411954. javascript:x")
    links = [(text, href) for text, href in parts if href]
    assert links == [
        ("arXiv 1808.09781", "https://arxiv.org/abs/1808.09781"),
        ("doi:10.1145/3340531.3411954", "https://doi.org/10.1145/3340531.3411954"),
    ]
    assert "".join(text for text, _ in parts).endswith(". javascript:x")  # text kept, never a link
    assert md_citation("see arXiv 1808.09781 [x](javascript:y)") == (
        "see [arXiv 1808.09781](https://arxiv.org/abs/1808.09781) \\[x\\](javascript:y)"
    )


def _tick_labels(svg: str, axis: str) -> set[str]:
    """The labels of one axis's major ticks in a matplotlib SVG (``axis``: "x" or "y")."""
    ticks = re.findall(rf'<g id="{axis}tick_\d+">(?:(?!<g id="[xy]tick_).)*?<text[^>]*>([^<]*)</text>', svg, flags=re.S)
    return {t.strip() for t in ticks if t.strip()}


@pytest.mark.slow
def test_plots_share_the_gain_axis_and_say_what_each_bar_is(published: tuple[Path, Path]) -> None:
    _, boards = published
    page = (boards / "index.html").read_text()
    data = json.loads((boards / "leaderboard.json").read_text())
    gains = re.findall(r'<figure class="plot gain".*?</figure>', page, flags=re.S)
    costs = re.findall(r'<figure class="plot cost".*?</figure>', page, flags=re.S)
    assert len(gains) == 2 and len(costs) == 2
    ticks = [_tick_labels(svg, "x") for svg in gains]
    assert ticks[0] and ticks[0] == ticks[1]  # one gain scale in every domain
    cost_ticks = [_tick_labels(svg, "y") for svg in costs]  # x is seconds: it depends on the machine
    assert cost_ticks[0] == cost_ticks[1] == ticks[0]  # the same scale on the cost plots' gain axis
    for row in (r for r in data["rows"] if r["gain"]):
        titles = [t for t in re.findall(r"<title>(.*?)</title>", page, flags=re.S) if row["records"][0] in t]
        assert len(titles) == 2  # the row's bar and its point, each naming its records
        assert all(f"{row['gain']['ndcg@10']['mean']:+.4f}" in t and "95% CI [" in t for t in titles)
        assert all("\n" in t and "\\u000a" not in t for t in titles)  # a hover text's lines are lines

"""The HTML board in a real browser (headless Chromium through the DevTools protocol): what a reader
sees at 1400 and 400 px, the tokenised filter and its URL, the column chooser, no console errors.

Screenshots are written to the test's folder and, when ``FLM_BENCH_ARTIFACTS`` names a folder,
copied there for review.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from board_helpers import publish
from cdp import Browser

from flm_bench.results import render

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# the records carry reference levels: the lift over popularity shows, the levels wait behind the chooser
HEADLINE = ["rank", "domain", "dataset", "model", "strategy", "corpus", "m:ndcg@10", "lift"]
HEADLINE += ["gain", "relative", "ci", "p", "agree", "cost", "records"]
VISIBLE_ROWS = "Array.from(document.querySelectorAll('#board tbody tr')).filter(r => !r.hidden)"


@pytest.fixture(scope="module")
def boards(board_records: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rendered boards of the shared records."""
    records, boards = publish(board_records, tmp_path_factory.mktemp("page"))
    render.render(records, boards)
    return boards


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Callable[[int], Browser]]:
    """Factory: a headless Chromium with a window ``width`` px wide (closed after the test)."""
    opened: list[Browser] = []

    def start(width: int) -> Browser:
        opened.append(Browser(tmp_path / f"profile-{len(opened)}", width))
        return opened[-1]

    yield start
    for b in opened:
        b.close()


def keep(png: Path) -> Path:
    """Copy a screenshot to ``$FLM_BENCH_ARTIFACTS`` when set; check it is a real PNG."""
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, png
    if folder := os.environ.get("FLM_BENCH_ARTIFACTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(folder) / png.name)
    return png


def test_headline_columns_and_the_answer_fit_at_1400_px(boards: Path, browser, tmp_path: Path) -> None:
    page = browser(1400)
    page.open((boards / "index.html").as_uri())
    viewport = page.js("document.documentElement.clientWidth")
    columns = page.js(
        "Array.from(document.querySelectorAll('#board thead th')).filter(th => th.offsetParent !== null)"
        ".map(th => [th.dataset.col, th.getBoundingClientRect().left, th.getBoundingClientRect().right])"
    )
    assert [c for c, _, _ in columns] == HEADLINE  # other metrics and costs wait behind the chooser
    assert all(0 <= left and right <= viewport for _, left, right in columns), (viewport, columns)
    assert page.js("window.scrollX") == 0 and page.js("document.documentElement.scrollWidth") <= viewport
    chooser = page.js("Array.from(document.querySelectorAll('.columns input')).map(i => i.dataset.col)")
    assert {"random", "popularity"} <= set(chooser)  # the levels are one click away

    data = json.loads((boards / "leaderboard.json").read_text())
    sentences = page.js("Array.from(document.querySelectorAll('#answer .sentences li')).map(li => li.textContent)")
    assert [s.split(" ")[0].rstrip(":") for s in sentences] == [d["domain"] for d in data["domains"]]
    for sentence, domain in zip(sentences, data["domains"]):
        gains = [r for r in data["rows"] if r["domain"] == domain["domain"] and r["gain"]]
        best = max(gains, key=lambda r: r["gain"]["ndcg@10"]["mean"])["gain"]["ndcg@10"]
        assert f"{best['mean']:+.4f} ndcg@10 ({best['relative_percent']:+.1f}%" in sentence, sentence
        assert f"among {len(gains)} gain" in sentence and "significant win" in sentence and " s to pretrain" in sentence
    assert "significant wins" in page.js("document.querySelector('#answer .overall').textContent")
    links = page.js("Array.from(document.querySelectorAll('#board td[data-col=records] a')).map(a => a.href)")
    assert len(links) == 12 and all(Path(link.removeprefix("file://")).exists() for link in links)
    cells = page.js(
        "Array.from(document.querySelectorAll('#board tbody tr')).map(r => {"
        "  var m = r.querySelector('[data-col=\"m:ndcg@10\"]'), cell = c => r.querySelector('[data-col=' + c + ']');"
        "  return [cell('dataset').textContent, Number(cell('rank').textContent), Number(m.dataset.v),"
        "          m.classList.contains('best')]; })"
    )
    for dataset in {c[0] for c in cells}:
        group = [c for c in cells if c[0] == dataset]
        top = max(v for _, _, v, _ in group)
        assert [(rank == 1, best) for _, rank, _, best in group] == [(v == top, v == top) for _, _, v, _ in group]
    assert page.errors == []
    keep(page.screenshot(tmp_path / "board-1400.png"))


def test_token_filter_round_trips_through_the_url_and_keeps_the_summary(boards: Path, browser) -> None:
    page = browser(1400)
    page.open((boards / "index.html").as_uri())
    rows = json.loads((boards / "leaderboard.json").read_text())["rows"]
    page.js("var f = document.getElementById('filter'); f.value = 'MEDIA  sasrec'; f.dispatchEvent(new Event('input'))")
    shown = page.js(f"{VISIBLE_ROWS}.map(r => [r.dataset.domain, r.querySelector('[data-col=model]').textContent])")
    expected = [r for r in rows if r["domain"] == "media" and r["model"] == "sasrec"]
    assert len(shown) == len(expected) == 2 and all(d == "media" and m.startswith("sasrec") for d, m in shown)
    assert page.js("document.getElementById('answer').offsetParent !== null")  # typing never hides the answer
    assert page.js("document.querySelectorAll('#answer .sentences li').length") == 2
    url = page.js("window.location.href")
    assert "filter=MEDIA+sasrec" in url

    page.js("document.querySelector('.columns input[data-col=\"m:recall@10\"]').click()")  # the chooser
    url = page.js("window.location.href")
    assert "cols=m%3Arecall%4010" in url and "filter=MEDIA+sasrec" in url
    again = browser(1400)
    again.open(url)
    assert again.js("document.getElementById('filter').value") == "MEDIA sasrec"
    assert again.js(f"{VISIBLE_ROWS}.length") == 2
    assert again.js("document.querySelector('#board th[data-col=\"m:recall@10\"]').offsetParent !== null")

    # tokens match within cells, never across them: "finetune" + "tiny-corpus" are two cells
    page.js("var f = document.getElementById('filter'); f.value = 'finetunetiny'; f.dispatchEvent(new Event('input'))")
    assert page.js(f"{VISIBLE_ROWS}.length") == 0 and "0 of 6" in page.js(
        "document.getElementById('count').textContent"
    )
    assert page.errors == [] and again.errors == []


def test_page_works_at_400_px(boards: Path, browser, tmp_path: Path) -> None:
    page = browser(400)
    page.open((boards / "index.html").as_uri())
    assert page.js("document.documentElement.scrollWidth") <= 400  # only the table scrolls sideways
    widths = page.js("Array.from(document.querySelectorAll('figure svg')).map(s => s.getBoundingClientRect().right)")
    assert widths and max(widths) <= 400
    assert page.js("document.querySelector('nav.controls').getBoundingClientRect().height") < 160
    assert page.js("document.querySelector('#board th[data-col=dataset]').offsetParent !== null")
    assert page.errors == []
    keep(page.screenshot(tmp_path / "board-400.png"))


def test_header_and_names_stay_in_view_when_the_table_scrolls(boards: Path, browser) -> None:
    page = browser(1400)
    page.open((boards / "index.html").as_uri())
    page.js("document.querySelectorAll('.columns input[data-col]').forEach(box => box.click())")  # every column
    assert "cols=split%2Csuite%2Cseeds" in page.js("window.location.href")
    page.js("var box = document.getElementById('board').parentElement; box.scrollTop = 60; box.scrollLeft = 500")
    assert page.js("document.getElementById('board').parentElement.scrollLeft") > 0, "all columns must overflow"
    box = page.js("document.getElementById('board').parentElement.getBoundingClientRect().toJSON()")
    for col in ("dataset", "model", "strategy"):
        th = page.js(f"document.querySelector('#board th[data-col={col}]').getBoundingClientRect().toJSON()")
        td = page.js(f"document.querySelector('#board tbody td[data-col={col}]').getBoundingClientRect().toJSON()")
        assert abs(th["top"] - box["top"]) < 1, f"{col}: the header scrolled away"
        assert box["left"] <= td["left"] and td["right"] <= box["left"] + 500, f"{col}: the name scrolled away"
    assert page.errors == []

"""Rendering the leaderboard: files and rows, determinism and --check, escaping, references, a real browser."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import typer
from board_helpers import edit_record, publish
from browser import chromium
from console import cli as console_cli
from typer.testing import CliRunner

from flm_bench.cli import leaderboard_cmd
from flm_bench.errors import ConfigError, RecordError
from flm_bench.results import render
from flm_bench.results.records import load_record, load_records
from flm_bench.results.render.base import build_board
from flm_bench.results.render.domains import domain_summaries

# Every test shares the ``measured`` suite run (about 15 s on two cores), so the whole module is slow.
pytestmark = pytest.mark.slow

SCRIPT = "<script>alert(1)</script>"
DATASET = "evil|<b>bold</b>"
DOMAIN = 'x"><img src=x onerror="document.body.dataset.pwned=1">'
TITLE = re.compile(r"<title>flm-bench leaderboard \(\d+ rows, \d+ external\)</title>")

cli = CliRunner()


@pytest.fixture(scope="module")
def measured(board_records: Path) -> Path:
    """Records of a tiny two-domain suite (2 seeds), run once for the session."""
    return board_records


def add_hostile(records: Path) -> None:
    """Copies of real records with hostile names: a model name, and a whole dataset (with its gain)."""
    popularity = next(p for p in sorted(records.iterdir()) if "__popularity__scratch__" in p.name)
    shutil.copytree(popularity, records / "hostile-model")
    edit_record(records / "hostile-model", model__name=SCRIPT)
    for folder in sorted(records.iterdir()):
        if "synthetic-finance__sasrec__" in folder.name:
            shutil.copytree(folder, records / f"hostile-{folder.name}")
            edit_record(records / f"hostile-{folder.name}", dataset__name=DATASET, dataset__domain=DOMAIN)


@pytest.fixture(scope="module")
def hostile(measured: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A rendered leaderboard whose records carry hostile strings (shared by the escaping tests)."""
    records, boards = publish(measured, tmp_path_factory.mktemp("hostile"))
    add_hostile(records)
    render.render(records, boards)
    return records, boards


def test_render_writes_every_board_with_its_rows(measured: Path, tmp_path: Path) -> None:
    records, boards = publish(measured, tmp_path)
    (boards / "README.md").write_text("# leaderboards\nhand-written\n")
    written = render.render(records, boards)
    assert sorted(p.name for p in written) == ["finance.md", "index.html", "leaderboard.json", "media.md", "overall.md"]
    assert (boards / "README.md").read_text() == "# leaderboards\nhand-written\n"  # never touched

    data = json.loads((boards / "leaderboard.json").read_text())
    assert data["format"] == "flm-bench.board/2" and data["headline_metric"] == "ndcg@10" and data["records"] == 12
    assert [(r["domain"], r["model"], r["strategy"]) for r in data["rows"]] == [
        ("finance", "popularity", "scratch"),
        ("finance", "sasrec", "scratch"),
        ("finance", "sasrec", "finetune"),
        ("media", "popularity", "scratch"),
        ("media", "sasrec", "scratch"),
        ("media", "sasrec", "finetune"),
    ]
    finetune = data["rows"][2]
    assert finetune["synthetic"] and finetune["seeds"] == [0, 1] and finetune["corpus"] == "tiny-corpus"
    assert set(finetune["metrics"]) == {"ndcg@10", "recall@10"}
    seed_values = {
        row["strategy"]: [load_record(records / i / "record.json").metrics["ndcg@10"] for i in row["records"]]
        for row in data["rows"][1:3]
    }
    assert finetune["metrics"]["ndcg@10"]["std"] == pytest.approx(np.std(seed_values["finetune"], ddof=1), abs=1e-6)
    assert data["rows"][0]["metrics"]["ndcg@10"]["std"] == 0.0  # popularity: every seed the same
    gain = finetune["gain"]["ndcg@10"]
    scratch = data["rows"][1]["metrics"]["ndcg@10"]["mean"]
    assert gain["mean"] == pytest.approx(finetune["metrics"]["ndcg@10"]["mean"] - scratch, abs=2e-6)
    assert gain["relative_percent"] == pytest.approx(100 * gain["mean"] / scratch, rel=1e-3)
    assert gain["ci95"][0] <= gain["mean"] <= gain["ci95"][1] and gain["users"] == 1200
    # one epoch: the cap ended every run, so no gain over these controls may be marked significant
    assert data["rows"][1]["capped_seeds"] == 2 and finetune["control_capped_seeds"] == 2
    assert 0 <= gain["p_holm"] <= 1 and gain["significant"] is False
    per_seed = [f - c for f, c in zip(seed_values["finetune"], seed_values["scratch"])]
    assert gain["per_seed"]["seeds"] == [0, 1] and gain["per_seed"]["gains"] == pytest.approx(per_seed, abs=2e-6)
    assert gain["per_seed"]["std"] == pytest.approx(np.std(per_seed, ddof=1), abs=2e-6)
    assert gain["per_seed"]["agreeing"] == sum(np.sign(per_seed) == np.sign(gain["mean"]))
    assert finetune["cost"]["pretrain_seconds"] > 0 and finetune["cost"]["trainable_parameters"] > 0
    assert data["rows"][0]["gain"] == {} and data["significance"]["gains"] == 4  # 2 gains x 2 metrics

    finance = (boards / "finance.md").read_text()
    assert finance.startswith("<!-- generated by")
    assert "## synthetic-finance (SYNTHETIC) · leave-one-out" in finance and "**SYNTHETIC data**" in finance
    start = "| sasrec ⚠cap 2/2 | finetune | tiny-corpus | 2 |"
    row = next(line for line in finance.splitlines() if line.startswith(start))
    ndcg = finetune["metrics"]["ndcg@10"]
    low, high = gain["ci95"]
    cell = f"{gain['mean']:+.4f} ({gain['relative_percent']:+.1f}%) [{low:+.4f}, {high:+.4f}]"
    assert f"{ndcg['mean']:.4f} ± {ndcg['std']:.4f}" in row and cell in row
    assert f" · {gain['per_seed']['agreeing']}/2 |" in row and "p (Holm) · seeds" in finance
    popularity = next(line for line in finance.splitlines() if line.startswith("| popularity | scratch |"))
    assert f"| {data['rows'][0]['metrics']['ndcg@10']['mean']:.4f} |" in popularity  # no ± 0 for identical seeds
    assert "synthetic-media" not in finance
    overall = (boards / "overall.md").read_text()
    assert overall.count("| synthetic-finance (SYNTHETIC) | leave-one-out · render-test |") == 3
    assert "[media.md](media.md)" in overall

    page = (boards / "index.html").read_text()
    assert page.count('data-kind="measured"') == 6 and page.count("<svg") == 4  # 2 domains' gains, 2 datasets' costs
    assert 'id="filter"' in page and '<option value="media">media</option>' in page
    external = re.search(r"<(link|img|iframe|object|embed)\b|\bsrc=|url\((?!#)|https?://(?!www\.w3\.org/)", page)
    assert not external, f"the page must be self-contained: {external}"
    assert page.count("<title>") == 1 + 2 + 2  # the page's, and a hover title per gain bar and per cost point
    assert "<dc:date" not in page


def test_suites_never_share_a_row_and_a_repeated_seed_is_refused(measured: Path, tmp_path: Path) -> None:
    records, boards = publish(measured, tmp_path)
    for folder in sorted(records.iterdir()):  # the finance sasrec cells again, as another suite measured them
        if "synthetic-finance__sasrec__" in folder.name:
            copy = records / f"other-{folder.name}"
            shutil.copytree(folder, copy)
            edit_record(
                copy,
                suite="other",
                record_id=f"other-{folder.name}",
                **({"metrics__ndcg@10": 0.0} if "__scratch__" in folder.name else {}),
            )
            if "__scratch__" in folder.name:  # gains are measured on the per-user scores: zero them too
                with np.load(copy / "per_user.npz") as npz:
                    arrays = {k: npz[k] for k in npz.files}
                np.savez_compressed(copy / "per_user.npz", **{**arrays, "ndcg@10": np.zeros_like(arrays["ndcg@10"])})
    render.render(records, boards)
    rows = [
        r
        for r in json.loads((boards / "leaderboard.json").read_text())["rows"]
        if (r["dataset"], r["model"]) == ("synthetic-finance", "sasrec")
    ]
    assert [(r["suite"], r["strategy"], r["seeds"]) for r in rows] == [
        ("other", "scratch", [0, 1]),
        ("other", "finetune", [0, 1]),
        ("render-test", "scratch", [0, 1]),
        ("render-test", "finetune", [0, 1]),
    ]
    (other_scratch, other_ft, scratch, ft) = rows
    assert other_scratch["metrics"]["ndcg@10"]["mean"] == 0.0 and scratch["metrics"]["ndcg@10"]["mean"] > 0
    assert other_ft["gain"]["ndcg@10"]["mean"] == pytest.approx(ft["metrics"]["ndcg@10"]["mean"], abs=2e-6)
    assert ft["gain"]["ndcg@10"]["mean"] == pytest.approx(
        ft["metrics"]["ndcg@10"]["mean"] - scratch["metrics"]["ndcg@10"]["mean"], abs=2e-6
    )
    finance = (boards / "finance.md").read_text()
    assert "(SYNTHETIC) · leave-one-out" in finance
    assert len([line for line in finance.splitlines() if line.startswith("## ") and " · suite " in line]) == 2
    # the domain's answer: one sentence per suite, never one best over both
    assert (
        len(
            [
                line
                for line in finance.splitlines()
                if line.startswith("finance · suite ") and "(SYNTHETIC data): " in line
            ]
        )
        == 2
    )

    twin = next(p for p in sorted(records.iterdir()) if p.name.startswith("other-") and "__finetune__" in p.name)
    edit_record(twin, suite="render-test")  # same cell and seed as a render-test record, another config
    with pytest.raises(RecordError, match="are the same cell \\(seed 0\\)"):
        render.render(records, boards)


def test_seeds_of_one_row_with_other_parameters_are_refused(measured: Path, tmp_path: Path) -> None:
    """A cell key does not hold the parameters: records of one cell whose seeds were run with other
    ``-p`` values or strategy parameters must not become one row's seeds."""
    records, boards = publish(measured, tmp_path)
    seed1 = next(p for p in sorted(records.iterdir()) if "__sasrec__finetune__" in p.name and "__seed1__" in p.name)
    params = load_record(seed1 / "record.json").model.parameters
    edit_record(seed1, model__parameters={**params, "dim": params["dim"] * 2})
    with pytest.raises(
        RecordError, match=rf"different parameters \(model dim: {params['dim']} vs {params['dim'] * 2}\)"
    ):
        render.render(records, boards)
    done = console_cli("leaderboard", "render", "--from", str(records), "--output", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert f"(model dim: {params['dim']} vs {params['dim'] * 2})" in done.stderr
    assert not (tmp_path / "out").exists()
    frozen = load_record(seed1 / "record.json").strategy.parameters["frozen_layers"]
    edit_record(seed1, model__parameters=params, strategy__parameters={"frozen_layers": frozen + 1})
    with pytest.raises(
        RecordError, match=rf"different parameters \(strategy frozen_layers: {frozen} vs {frozen + 1}\)"
    ):
        render.render(records, boards)


def test_render_is_deterministic_and_check_reports_stale_files(measured: Path, tmp_path: Path) -> None:
    records, boards = publish(measured, tmp_path)
    render.render(records, boards)
    first = {p.name: p.read_bytes() for p in boards.iterdir() if p.is_file()}
    other = tmp_path / "again"
    render.render(records, other)
    assert {p.name: p.read_bytes() for p in other.iterdir()} == first  # same records -> same bytes
    assert render.check(records, boards) == []

    finance = next(p for p in sorted(records.iterdir()) if "synthetic-finance__sasrec__finetune" in p.name)
    data = json.loads((finance / "record.json").read_text())
    data["metrics"]["ndcg@10"] += 0.01
    (finance / "record.json").write_text(json.dumps(data, indent=2))
    (boards / "media.md").unlink()
    problems = render.check(records, boards)
    assert sorted(problems) == sorted(
        [
            f"{boards / 'finance.md'}: stale",
            f"{boards / 'index.html'}: stale",
            f"{boards / 'leaderboard.json'}: stale",
            f"{boards / 'media.md'}: missing",
            f"{boards / 'overall.md'}: stale",
        ]
    )
    render.render(records, boards)
    assert render.check(records, boards) == []

    for folder in records.iterdir():  # the media domain disappears: its board is obsolete, then removed
        if "synthetic-media" in folder.name:
            shutil.rmtree(folder)
    assert render.check(records, boards).count(f"{boards / 'media.md'}: obsolete") == 1
    render.render(records, boards)
    assert not (boards / "media.md").exists() and render.check(records, boards) == []


def test_cli_render_and_check(measured: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.add_typer(leaderboard_cmd.app, name="leaderboard")
    records, boards = publish(measured, tmp_path)
    args = ["leaderboard", "render", "--from", str(records), "--output", str(boards)]

    result = cli.invoke(app, [*args, "--check"])
    assert result.exit_code == 1 and "overall.md: missing" in result.stdout
    assert not (boards / "overall.md").exists()
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert str(boards / "index.html") in result.stdout.splitlines()
    assert cli.invoke(app, [*args, "--check"]).exit_code == 0

    (boards / "leaderboard.json").write_text("{}")
    result = cli.invoke(app, [*args, "--check"])
    assert result.exit_code == 1 and result.stdout.strip() == f"{boards / 'leaderboard.json'}: stale"


def test_hostile_strings_are_escaped_everywhere(hostile: tuple[Path, Path]) -> None:
    _, boards = hostile
    data = json.loads((boards / "leaderboard.json").read_text())
    assert SCRIPT in {r["model"] for r in data["rows"]}  # JSON keeps the data exactly
    evil = [r for r in data["rows"] if r["dataset"] == DATASET]
    assert len(evil) == 2 and evil[1]["gain"] and evil[1]["domain"] == DOMAIN

    # Markdown: no HTML, no extra table cells
    slug = next(p.stem for p in boards.glob("x-*.md"))
    assert re.fullmatch(r"[a-z0-9-]+", slug)
    for md in [boards / "overall.md", boards / "finance.md", boards / f"{slug}.md"]:
        text = md.read_text()
        assert "<script" not in text and "<b>" not in text and "<img" not in text, md.name
        for table in re.findall(r"(?:^\|.*\|\n)+", text, flags=re.M):
            cells = {len(re.split(r"(?<!\\)\|", line)) for line in table.splitlines()}
            assert len(cells) == 1, f"{md.name}: a row has extra cells:\n{table}"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (boards / "finance.md").read_text()
    assert "evil\\|&lt;b&gt;bold&lt;/b&gt;" in (boards / f"{slug}.md").read_text()

    # HTML: text only, in the tables, in attributes, in the SVG plots and in the embedded JSON
    page = (boards / "index.html").read_text()
    assert "<script>alert(1)" not in page and "<b>bold" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # (the page's templates are autoescaped by Jinja2/markupsafe, which writes a quote as &#34;)
    assert 'data-domain="x&#34;&gt;&lt;img src=x onerror=&#34;document.body.dataset.pwned=1&#34;&gt;"' in page
    assert len(re.findall(r"<script\b", page)) == 2  # the JSON data and the page's own script
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert any("evil|&lt;b&gt;bold&lt;/b&gt;" in svg for svg in svgs)  # the hostile dataset's gain bar label
    embedded = re.search(r'<script type="application/json" id="leaderboard-data">(.*?)</script>', page, re.S).group(1)
    assert "<" not in embedded and ">" not in embedded
    assert json.loads(embedded) == data
    csp = re.search(r'Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1]


def test_references_are_shown_apart_and_never_mixed_in(measured: Path, tmp_path: Path) -> None:
    records, boards = publish(measured, tmp_path)
    render.render(records, boards)
    measured_rows = json.loads((boards / "leaderboard.json").read_text())["rows"]
    (boards / "references.json").write_text(
        json.dumps(
            [
                {
                    "dataset": "synthetic-finance",
                    "model": "SASRec",
                    "metrics": {"ndcg@10": 0.5, "hit_rate@10": 0.7},
                    "citation": "Kang & McAuley, ICDM 2018 <i>x</i>",
                    "protocol": "leave-one-out, 100 sampled negatives",
                },
                {
                    "dataset": "ml-1m",
                    "domain": "media",
                    "model": "BERT4Rec",
                    "metrics": {"ndcg@10": 0.4},
                    "citation": "Sun et al., CIKM 2019",
                    "protocol": "sampled",
                    "notes": "not | comparable",
                },
            ]
        )
    )
    render.render(records, boards)
    data = json.loads((boards / "leaderboard.json").read_text())
    assert data["rows"] == measured_rows  # references never enter the measured statistics
    assert [(r["kind"], r["dataset"], r["domain"]) for r in data["references"]] == [
        ("external", "ml-1m", "media"),
        ("external", "synthetic-finance", "finance"),
    ]
    finance = (boards / "finance.md").read_text()
    external = finance.split("## External (published) results", 1)[1]
    assert (
        "| synthetic-finance | SASRec (external) | — | 0.5000 | 0.7000 | leave-one-out, 100 sampled negatives |"
        in external
    )
    assert "&lt;i&gt;x&lt;/i&gt;" in external and "SASRec" not in finance.split("## External", 1)[0]
    assert "not \\| comparable" in (boards / "media.md").read_text()
    page = (boards / "index.html").read_text()
    assert page.count('data-kind="external"') == 2 and page.count("EXTERNAL</span>") == 2
    assert "<i>x" not in page
    assert render.check(records, boards) == []

    (boards / "references.json").write_text(json.dumps([{"dataset": "d", "model": "m"}]))
    with pytest.raises(ConfigError, match="references"):
        render.render(records, boards)


class _Rows(HTMLParser):
    """Rows of one table in a DOM dump: (tr attributes, cell texts); ``columns``: data-col -> index."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell, self.columns = table_id, False, [], None, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.inside = attrs.get("id") == self.table_id
        elif self.inside and tag == "th" and "data-col" in attrs:
            self.columns[attrs["data-col"]] = len(self.columns)
        elif self.inside and tag == "tr" and "data-kind" in attrs:
            self.rows.append((attrs, []))
        elif self.inside and tag == "td" and self.rows:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif tag == "td" and self.cell is not None:
            self.rows[-1][1].append(self.cell.strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def _screenshot_script():
    """scripts/screenshot_board.py, whose headless-Chromium flags the browser test shares."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "screenshot_board.py"
    spec = importlib.util.spec_from_file_location("screenshot_board", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCREENSHOT = _screenshot_script()


def chromium_dom(page: Path, tmp_path: Path, query: str = "") -> str:
    """The DOM of ``page`` after its scripts ran, from headless Chromium (see :func:`browser.chromium`)."""
    browser = chromium(os.environ)
    profile = tmp_path / f"chromium-profile{len(query)}"
    cmd = [*SCREENSHOT.chromium_args(browser, str(profile)), "--dump-dom", page.as_uri() + query]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "<body" in done.stdout, f"chromium failed: {done.stderr[-2000:]}"
    return done.stdout


@pytest.mark.browser
def test_page_works_in_headless_chromium(hostile: tuple[Path, Path], tmp_path: Path) -> None:
    _, boards = hostile
    rows = json.loads((boards / "leaderboard.json").read_text())["rows"]
    dom = chromium_dom(boards / "index.html", tmp_path)
    assert re.search(r'<body[^>]*data-ready="1"', dom), "the page's script did not finish"
    assert TITLE.search(dom) and f"({len(rows)} rows, 0 external)" in dom  # set by the page's own script only
    assert "data-pwned" not in dom and "<script>alert(1)" not in dom and "<img" not in dom
    table = _Rows("board")
    table.feed(dom)
    assert len(table.rows) == len(rows) == 9 and not any("hidden" in attrs for attrs, _ in table.rows)
    col = table.columns
    assert {cells[col["suite"]] for _, cells in table.rows} == {"render-test"}
    models = {cells[col["model"]].removesuffix(" ⚠cap 2/2") for _, cells in table.rows}  # the cap ended sasrec
    assert models == {"popularity", "sasrec", SCRIPT}  # text, not markup
    assert f"{len(rows)} of {len(rows)} measured rows shown" in dom
    assert dom.count("<svg") == 6  # gains of finance, media and the hostile domain; gain vs cost of their datasets

    # filtering and sorting, driven through the page's URL parameters
    dom = chromium_dom(boards / "index.html", tmp_path, "?filter=SASREC&domain=finance&sort=ndcg@10&desc=1")
    table = _Rows("board")
    table.feed(dom)
    shown = [(attrs, cells) for attrs, cells in table.rows if "hidden" not in attrs]
    col = table.columns
    assert [(a["data-domain"], c[col["model"]]) for a, c in shown] == [("finance", "sasrec ⚠cap 2/2")] * 2
    ndcg = [float(cells[col["m:ndcg@10"]].split()[0]) for _, cells in table.rows]
    assert ndcg == sorted(ndcg, reverse=True), "rows are not sorted by ndcg@10, descending"
    assert "2 of 9 measured rows shown" in dom
    hidden_plots = re.findall(r'<figure class="plot gain" data-plot-domain="([^"]*)"( hidden="")?', dom)
    assert [(d, bool(h)) for d, h in hidden_plots if d in ("finance", "media")] == [("finance", False), ("media", True)]


def test_strings_that_cannot_be_drawn_are_shown_escaped_and_never_fail_the_board(
    measured: Path, tmp_path: Path
) -> None:
    """A record string with NUL, an escape sequence, a right-to-left override or a noncharacter used
    to make the SVG plots unparseable (the whole board failed) and passed raw into .md and .html."""
    records, boards = publish(measured, tmp_path)
    for i, folder in enumerate(p for p in sorted(records.iterdir()) if "synthetic-finance__sasrec__" in p.name):
        edit_record(
            folder,
            dataset__name="fin\x00ance\x1b[31m",
            dataset__domain="mon\u202eey\uffff",
            model__plugin=f"plug\x01in{i}",
        )
    render.render(records, boards)
    texts = {p.name: p.read_text(encoding="utf-8") for p in boards.iterdir() if p.is_file()}
    for name, text in texts.items():
        body = text.replace("\u202e", "") if name == "leaderboard.json" else text  # JSON keeps data as data
        assert not any(c in body for c in ("\x00", "\x01", "\x1b", "\u202e", "\uffff")), name
    page = texts["index.html"]
    assert "fin\\u0000ance\\u001b[31m" in page and "mon\\u202eey\\uffff" in page
    assert "u0000ance" in texts["overall.md"]  # escaped again for Markdown
    assert json.loads(texts["leaderboard.json"])["rows"]  # the data itself is kept, JSON-escaped


def test_domain_summary_counts_only_datasets_with_gains(measured: Path, tmp_path: Path) -> None:
    """A dataset with controls only (e.g. reproduction rows) is on the board but not counted as tested."""
    records, _ = publish(measured, tmp_path)
    control = next(p for p in sorted(records.iterdir()) if "synthetic-finance__popularity__scratch__" in p.name)
    shutil.copytree(control, records / "controls-only")
    edit_record(records / "controls-only", dataset__name="controls-only-data")
    board = build_board(load_records(records))
    assert "controls-only-data" in {r.key.dataset for r in board.rows}
    (summary,) = domain_summaries(board, "finance")
    assert summary["datasets"] == 1 and summary["gains"] == 1  # synthetic-finance's sasrec finetune

"""The command line: typer's CliRunner for output, subprocesses for import and exit behaviour."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flm_bench import hookimpl
from flm_bench.cli import common
from flm_bench.cli.app import app, main
from flm_bench.plugins import load_plugins
from flm_bench.specs import DatasetSpec

runner = CliRunner()


class BrokenHook:
    @staticmethod
    @hookimpl
    def flm_bench_register_datasets(register):
        raise RuntimeError("catalogue server unreachable")


@pytest.fixture
def use_plugins(monkeypatch: pytest.MonkeyPatch):
    """Make the CLI use a fresh plugin set built from ``extra`` plugins."""

    def install(*extra):
        plugins = load_plugins(extra=list(extra))
        monkeypatch.setattr(common, "default_plugins", lambda: plugins)
        return plugins

    install()
    return install


def test_list_datasets_json(use_plugins) -> None:
    result = runner.invoke(app, ["list", "datasets", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name["synthetic-media"]["domain"] == "media"
    assert by_name["synthetic-media"]["plugin"] == "flm-bench"
    assert all({"name", "plugin", "domain"} <= set(r) for r in rows)


@pytest.mark.parametrize(
    "kind,name", [("corpora", "synthetic-general"), ("models", "sasrec"), ("strategies", "finetune")]
)
def test_list_other_kinds(use_plugins, kind: str, name: str) -> None:
    result = runner.invoke(app, ["list", kind, "--json"])
    assert result.exit_code == 0, result.output
    assert name in {r["name"] for r in json.loads(result.stdout)}
    table = runner.invoke(app, ["list", kind])
    assert name in table.stdout


def test_broken_plugin_is_reported_and_others_still_list(use_plugins) -> None:
    use_plugins(("broken", BrokenHook()))
    result = runner.invoke(app, ["list", "datasets", "--json"])
    assert result.exit_code == 0
    assert "synthetic-media" in {r["name"] for r in json.loads(result.stdout)}
    assert "broken" in result.stderr and "catalogue server unreachable" in result.stderr
    plugins = json.loads(runner.invoke(app, ["plugins", "--json"]).stdout)
    failed = [p for p in plugins if p["status"] == "failed"]
    assert [p["name"] for p in failed] == ["broken"]
    assert "catalogue server unreachable" in failed[0]["error"]
    loaded = {p["name"]: p for p in plugins if p["status"] == "loaded"}
    assert loaded["synthetic"]["distribution"] == "flm-bench"
    assert "flm_bench_register_datasets" in loaded["synthetic"]["hooks"]


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["flm-bench", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code or 0)


def test_unknown_name_is_one_clear_line(use_plugins, monkeypatch, capsys, tmp_path: Path) -> None:
    code = _main(monkeypatch, "run", "--dataset", "synthetic-medai", "--output", str(tmp_path))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == "error: unknown dataset 'synthetic-medai'. Did you mean 'synthetic-media'?"


def test_dataset_from_failed_plugin_says_so(use_plugins, monkeypatch, capsys, tmp_path: Path) -> None:
    use_plugins(("broken", BrokenHook()))
    code = _main(monkeypatch, "run", "--dataset", "broken-data", "--output", str(tmp_path))
    assert code == 2
    assert "plugins that failed to load: broken:broken" in capsys.readouterr().err


@pytest.mark.slow
def test_plugin_registered_dataset_runs_one_cell(use_plugins, tmp_path: Path) -> None:
    class Tiny:
        @staticmethod
        @hookimpl
        def flm_bench_register_datasets(register):
            from flm_bench_plugins.synthetic import load

            register(DatasetSpec("tiny-media", "media", lambda location: load("synthetic-finance")))

    use_plugins(("tiny", Tiny()))
    result = runner.invoke(
        app,
        [
            "run",
            "--dataset",
            "tiny-media",
            "--model",
            "popularity",
            "--strategy",
            "scratch",
            "--output",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    board = json.loads(result.stdout)
    assert board["format"] == "flm-bench.board/2" and board["records"] == 1
    assert [(r["dataset"], r["model"], r["strategy"]) for r in board["rows"]] == [
        ("synthetic-finance", "popularity", "scratch")
    ]
    assert "1 record(s) written" in result.stderr


def _fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [["--help"], ["list", "datasets"], ["list", "models", "--json"], ["plugins"]])
def test_help_and_list_do_not_import_torch(argv: list[str]) -> None:
    done = _fresh_python(
        "import sys\n"
        f"sys.argv = ['flm-bench', *{argv!r}]\n"
        "from flm_bench.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "heavy = {'transformers', 'sentence_transformers', 'all_minilm_l6_v2'} & set(sys.modules)\n"
        "assert not heavy, f'{heavy} imported'\n"
        "print('NO-TORCH-OK', file=sys.stderr)\n"
    )
    assert done.returncode == 0 and "NO-TORCH-OK" in done.stderr, done.stderr


@pytest.mark.parametrize("width", [80, 100, 120, 200])
def test_terminal_board_never_cuts_a_number(width: int) -> None:
    """At any width the headline metric, the gain with its mark, its CI (below it when narrow) and
    p are whole; what does not fit is left out (and said so), least important first; names fold
    instead of numbers being cut."""
    from rich.console import Console

    from flm_bench.cli.board import board_table
    from flm_bench.results.records import load_records
    from flm_bench.results.render.base import build_board

    board_dir = Path(__file__).resolve().parents[1] / "leaderboards" / "records"
    records = [(p, r) for p, r in load_records(board_dir) if p.parent.name.startswith("standard__filmtrust__")]
    rows = build_board(records).rows
    console = Console(width=width, record=True)
    console.print(board_table(rows, ["ndcg@10", "recall@10", "mrr@10"], "ndcg@10", width=width))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
    adapter = next(r for r in rows if r.key.model == "unisrec" and r.key.strategy == "adapter")
    g = adapter.gain["ndcg@10"]
    assert adapter.significant("ndcg@10") and f"{adapter.metrics['ndcg@10'].mean:.4f}" in text
    assert f"{g.mean:+.4f} ({g.relative:+.1f}%)" in text and "†" in text
    assert f"[{g.ci[0]:+.4f}, {g.ci[1]:+.4f}]" in text
    if width < 200:
        assert "left out for the terminal's width: corpus" in " ".join(text.split())


def test_terminal_board_explains_the_cap_mark() -> None:
    from rich.console import Console

    from flm_bench.cli.board import board_table
    from flm_bench.results.records import load_records
    from flm_bench.results.render.base import build_board

    board_dir = Path(__file__).resolve().parents[1] / "leaderboards" / "records"
    prefix = "standard__movielens-100k__sasrec"
    records = [(p, r) for p, r in load_records(board_dir) if p.parent.name.startswith(prefix)]
    console = Console(width=200, record=True)
    console.print(board_table(build_board(records).rows, ["ndcg@10"], "ndcg@10", width=200))
    text = " ".join(console.export_text().split())
    assert "sasrec ⚠cap 3/3" in text and "⚠cap k/n: a budget (epoch cap or time) ended k of n seeds" in text
    assert "†" not in text.split("gain = ")[0]  # no gain over the capped scratch is marked

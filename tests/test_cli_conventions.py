"""Command-line conventions: --version, -v/-q anywhere, metavars, an example in every --help, one name
for the output folder (old names as deprecated aliases), --data-dir checks, --split choices, ad-hoc runs,
and user text never read as rich markup. Behaviour through the installed console script."""

from __future__ import annotations

import json
import re
import shlex
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from console import cli
from fake_plugins import fake_plugin_env
from typer.core import TyperGroup
from typer.testing import CliRunner

from flm_bench.cli.app import GLOBAL_FLAGS, app, hoist_global_flags
from flm_bench.cli.examples import EXAMPLES
from flm_bench.data.splits import PROTOCOLS
from flm_bench.results.records import load_records

NO_PRETRAINING = 'name = "q"\ntargets = ["synthetic-finance"]\nmodels = ["popularity"]\nstrategies = ["scratch"]\n'
#: Commands that load datasets: each takes --data-dir and --mirror (data verify reads local files only).
LOADERS = ["run", "pretrain", "tune", "publish", "data info", "data prepare"]


def one_error_line(done, code: int, *needles: str) -> None:
    assert done.returncode == code, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert all(n in done.stderr for n in needles), done.stderr


def test_version(tmp_path: Path) -> None:
    done = cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == f"flm-bench {version('flm-bench')}\n" and done.stderr == ""


def test_quiet_and_verbose_anywhere(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(NO_PRETRAINING)
    loud = cli("pretrain", "--suite", "s.toml", cwd=tmp_path)
    assert loud.returncode == 0 and "needs no pretraining" in loud.stderr
    for args in (["-q", "pretrain", "--suite", "s.toml"], ["pretrain", "--suite", "s.toml", "--quiet"]):
        quiet = cli(*args, cwd=tmp_path)
        assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    one_error_line(cli("pretrain", "--suite", "missing.toml", "-q", cwd=tmp_path), 2, "missing.toml")  # errors stay
    verbose = cli("pretrain", "--suite", "missing.toml", "-v", cwd=tmp_path)
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr and "missing.toml" in verbose.stderr
    one_error_line(cli("pretrain", "-v", "-q", cwd=tmp_path), 2, "contradict")


def test_global_flags_move_before_the_command_but_not_past_a_double_dash() -> None:
    assert hoist_global_flags(["run", "--seed", "1", "-q"]) == ["-q", "run", "--seed", "1"]
    assert hoist_global_flags(["publish", "-v", "x", "--", "-q"]) == ["-v", "publish", "x", "--", "-q"]
    assert set(GLOBAL_FLAGS) == {"-v", "--verbose", "-q", "--quiet"}


def _commands(group: TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under ``group``, the group itself included."""
    found = [path]
    for name, command in group.commands.items():
        found += _commands(command, (*path, name)) if isinstance(command, TyperGroup) else [(*path, name)]
    return found


ROOT = typer.main.get_command(app)
assert isinstance(ROOT, TyperGroup)
COMMANDS = _commands(ROOT)
TYPE_LABEL = re.compile(r"\s<[\w|.\[\], -]+>(?=\s|$)")  # typer's <bool>, <list[Path]>, <str>, <a|b>


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="flm-bench")
    assert result.exit_code == 0, result.output
    return result.stdout


def _examples(text: str) -> list[str]:
    """The command lines under ``Examples:`` of a help page."""
    lines = [line.strip() for line in text.splitlines()]
    assert "Examples:" in lines, f"no examples in:\n{text}"
    return [line for line in lines[lines.index("Examples:") :] if line.startswith("flm-bench")]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "flm-bench")
def test_help_pages_name_values_and_show_examples(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert not TYPE_LABEL.search(text), TYPE_LABEL.search(text)
    examples = _examples(text)
    assert examples == [line for _, line in EXAMPLES[" ".join(path)]]
    if " ".join(path) in LOADERS:
        assert "--data-dir DIR" in text and "--mirror URL" in text
    for line in examples:
        _parse_example(line)


def _parse_example(line: str) -> None:
    """Parse ``line`` as the command it names (options, types, choices), and show that command's help."""
    args = hoist_global_flags(shlex.split(line)[1:])
    helped = CliRunner().invoke(app, [*args, "--help"], prog_name="flm-bench")
    assert helped.exit_code == 0 and helped.stdout.startswith("Usage: flm-bench"), (line, helped.output)
    command, name, rest = ROOT, "flm-bench", [a for a in args if a not in GLOBAL_FLAGS]
    while isinstance(command, TyperGroup) and rest and rest[0] in command.commands:
        name = rest.pop(0)
        command = command.commands[name]
    command.make_context(name, rest)  # raises on an unknown option, a bad value or a missing argument


def test_every_command_with_examples_exists() -> None:
    assert set(EXAMPLES) == {" ".join(p) for p in COMMANDS}


def test_split_choices_are_checked(tmp_path: Path) -> None:
    one_error_line(cli("run", "--split", "leave-two-out", cwd=tmp_path), 2, "--split", *PROTOCOLS)


@pytest.mark.parametrize(
    "args, old, new",
    [
        (["plugins", "new", "flm-bench-mine"], "--dir", "--output"),
        (["leaderboard", "render", "--from", "empty/records"], "--to", "--output"),
    ],
)
def test_old_output_names_still_work_with_a_warning(tmp_path: Path, args: list[str], old: str, new: str) -> None:
    (tmp_path / "empty" / "records").mkdir(parents=True)
    done = cli(*args, old, "made", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"warning: {old} is deprecated, use {new}\n"  # a warning: shown under -q too
    assert any((tmp_path / "made").iterdir())
    one_error_line(cli(*args, old, "a", new, "b", cwd=tmp_path), 2, old, new)


@pytest.mark.parametrize("command", [*LOADERS, "data verify"])
def test_a_missing_data_dir_is_a_usage_error(tmp_path: Path, command: str) -> None:
    args = {"publish": ["x"], "data info": ["filmtrust"], "data prepare": ["filmtrust"]}.get(command, [])
    done = cli(*command.split(), *args, "--data-dir", "no-such-folder", cwd=tmp_path)
    one_error_line(done, 2, "--data-dir no-such-folder does not exist")


def test_the_parent_of_a_mirror_is_refused_naming_the_folder_inside(tmp_path: Path) -> None:
    (tmp_path / "shared" / "datasets").mkdir(parents=True)
    (tmp_path / "shared" / "datasets" / "manifest.json").write_text("{}")
    done = cli("data", "verify", "--data-dir", "shared", cwd=tmp_path)
    one_error_line(done, 2, f"pass --data-dir {Path('shared') / 'datasets'}")
    inside = cli("data", "verify", "filmtrust", "--json", "--data-dir", "shared/datasets", cwd=tmp_path)
    assert inside.returncode == 0 and {r["dataset"] for r in json.loads(inside.stdout)} == {"filmtrust"}


MARKUP_PLUGIN = """
from flm_bench.api import DatasetSpec, hookimpl

@hookimpl
def flm_bench_register_datasets(register):
    register(DatasetSpec("tagged", "media", load=lambda location: None,
                         description="[bold]raw[/bold] ratings [1-5] from [the shop]"))
"""
BROKEN_PLUGIN = 'raise ImportError("needs the [gpu] extra")\n'


def test_user_text_is_never_rich_markup(tmp_path: Path) -> None:
    env = fake_plugin_env(tmp_path, {"markup_plugin": MARKUP_PLUGIN, "broken_plugin": BROKEN_PLUGIN})
    listed = cli("list", "datasets", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "[bold]raw[/bold] ratings [1-5] from [the shop]" in listed.stdout
    assert "needs the [gpu] extra" in listed.stderr
    shown = cli("plugins", cwd=tmp_path, env=env)
    assert "needs the [gpu] extra" in shown.stdout


@pytest.mark.slow
def test_adhoc_runs_have_their_own_suite_and_folder_and_publish(tmp_path: Path) -> None:
    done = cli("run", "--dataset", "synthetic-finance", "--model", "popularity", "--seed", "0", "-q", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    ((path, record),) = load_records(tmp_path / "flm-bench-adhoc")
    assert record.suite == "adhoc" and record.record_id.startswith("adhoc__") and path.parent.name == record.record_id
    assert not (tmp_path / "flm-bench-runs").exists()
    published = cli("publish", "flm-bench-adhoc", "-o", "board", "--no-commit", "-q", cwd=tmp_path)
    assert published.returncode == 0, published.stderr
    assert (tmp_path / "board" / "records" / record.record_id / "record.json").is_file()

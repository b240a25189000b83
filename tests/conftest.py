"""Shared, generic fixtures for the flm-bench test-suite."""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest
from browser import chromium
from fake_plugins import install_fake_plugin

from flm_bench.data.sources import DATA_DIR_ENV, MIRROR_ENV
from flm_bench.data.table import CACHE_ENV, InteractionData, from_table
from flm_bench.plugins import ALLOW_ENV, BLOCK_ENV

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
REAL_DATA_FIXTURES = frozenset({"shared_datasets", "real_data"})


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by ``-m``
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the real datasets (directly or through another fixture) is ``realdata``."""
    for item in items:
        if REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("realdata"):
            item.add_marker(pytest.mark.realdata)


@pytest.hookimpl(tryfirst=True)  # before any fixture of the test is set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``browser`` test is skipped, with the reason, where Chromium is missing (failed under CI)."""
    if item.get_closest_marker("browser"):
        chromium(os.environ)


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the whole test session (entries are keyed by content, so tests can
    share it, and real datasets are parsed once per session rather than once per test)."""
    return tmp_path_factory.mktemp("flm-cache")


@pytest.fixture(scope="session", autouse=True)
def _session_cache_env(session_cache: Path) -> Iterator[None]:
    """Module- and session-scoped fixtures run before the per-test environment is set: point them
    at the session cache too, so no test ever writes into the user's cache."""
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(session_cache)
    yield
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous


@pytest.fixture(autouse=True)
def _isolated_env(session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the user's cache, and see no plugin allow/block list or data location.

    A test that needs an empty cache sets ``FLM_BENCH_CACHE_DIR`` to its own ``tmp_path``.
    """
    monkeypatch.setenv(CACHE_ENV, str(session_cache))
    for name in (ALLOW_ENV, BLOCK_ENV, DATA_DIR_ENV, MIRROR_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``../shared/datasets`` beside the checkout; its absence is a failure, never a skip."""
    manifest = SHARED_DATASETS / "manifest.json"
    if not manifest.is_file():
        found = "the folder has no manifest.json" if SHARED_DATASETS.is_dir() else "the folder does not exist"
        pytest.fail(
            f"real datasets missing: expected {manifest} ({found}); "
            "lay the shared/ checkout beside the clone, as CI does",
            pytrace=False,
        )
    return SHARED_DATASETS


@pytest.fixture
def real_data(shared_datasets: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the loaders at ``../shared/datasets`` as the local data folder (no downloads)."""
    monkeypatch.setenv(DATA_DIR_ENV, str(shared_datasets))
    return shared_datasets


TinyData = Callable[..., InteractionData]


@pytest.fixture(scope="session")
def tiny_data() -> TinyData:
    """Factory: ``tiny_data(users, items, orders, name=..., timestamped=...)`` -> InteractionData.

    The columns become a ``datasets.Dataset`` (row order kept as given) wrapped with
    :func:`flm_bench.data.table.from_table`. Stateless, so session scope is safe (and lets
    hypothesis tests use it).
    """
    import datasets

    datasets.disable_progress_bars()

    def make(
        users: Sequence[int],
        items: Sequence[int],
        orders: Sequence[int],
        *,
        name: str = "tiny",
        domain: str = "test",
        timestamped: bool = True,
        ratings: Sequence[float] | None = None,
    ) -> InteractionData:
        columns = {
            "user": np.asarray(users, dtype=np.int64),
            "item": np.asarray(items, dtype=np.int64),
            "order": np.asarray(orders, dtype=np.int64),
        }
        if ratings is not None:
            columns["rating"] = np.asarray(ratings, dtype=np.float32)
        table = datasets.Dataset.from_dict(columns)
        return from_table(name, domain, table, timestamped=timestamped)

    return make


SuiteRun = Callable[..., Path]


@pytest.fixture(scope="session")
def run_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """Factory: ``run_suite(toml_text, plugins=None) -> output folder`` runs a suite once.

    For module-scoped fixtures: it uses its own cache folder, because the autouse cache
    fixture is function-scoped and not active yet when module fixtures run.
    """
    from flm_bench.plugins import Plugins, load_plugins
    from flm_bench.runner import Runner
    from flm_bench.suite import load_suite

    def run(text: str, plugins: Plugins | None = None) -> Path:
        tmp = tmp_path_factory.mktemp("suite-run")
        (tmp / "suite.toml").write_text(text)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(CACHE_ENV, str(tmp / "cache"))
            result = Runner(load_suite(tmp / "suite.toml"), plugins or load_plugins(), tmp / "out").run()
        assert result.written and not result.skipped
        return tmp / "out"

    return run


@pytest.fixture(scope="session")
def board_records(run_suite: SuiteRun) -> Path:
    """Records of the board tests' tiny two-domain suite (2 seeds), run once for the session."""
    from board_helpers import measure

    return measure(run_suite)


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A git identity and configuration of the test's own (never the user's)."""
    config = tmp_path / "gitconfig"
    config.write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    env = {
        "GIT_AUTHOR_NAME": "Test Publisher",
        "GIT_AUTHOR_EMAIL": "publisher@example.org",
        "GIT_COMMITTER_NAME": "Test Publisher",
        "GIT_COMMITTER_EMAIL": "publisher@example.org",
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


FakePlugin = Callable[[str, str], Path]


@pytest.fixture
def fake_plugin(tmp_path: Path) -> FakePlugin:
    """Factory: ``fake_plugin(module, source)`` installs ``source`` as a plugin distribution into
    ``<tmp_path>/site`` (:func:`fake_plugins.install_fake_plugin`) and returns that folder."""
    return functools.partial(install_fake_plugin, tmp_path / "site")


@dataclass
class FaultTally:
    """What one fault-injection test injected and found; :func:`pytest_terminal_summary` sums them."""

    kills: int = 0  # processes SIGKILLed
    lost: int = 0  # records missing or changed that should not be
    partial: int = 0  # visible record folders without a complete, readable record
    boards: int = 0  # boards rendered after the faults
    rendered: int = 0  # of which ``leaderboard render`` succeeded


@pytest.fixture
def fault_tally(request: pytest.FixtureRequest) -> Iterator[FaultTally]:
    """A :class:`FaultTally` for the test to fill; it travels in the test's report (also from xdist workers)."""
    tally = FaultTally()
    yield tally
    request.node.user_properties.append(("fault_tally", asdict(tally)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line of fault-injection counts, when fault tests ran (shown under ``-q`` too)."""
    totals: Counter[str] = Counter()
    teardowns = [
        r for reports in terminalreporter.stats.values() for r in reports if getattr(r, "when", "") == "teardown"
    ]
    for report in teardowns:
        for name, value in report.user_properties:
            if name == "fault_tally":
                totals.update(value)
    if totals:
        terminalreporter.write_line(
            f"fault injection: {totals['kills']} kills, {totals['lost']} records lost, "
            f"{totals['partial']} partial records visible, {totals['rendered']}/{totals['boards']} boards renderable"
        )

"""The declared plugin API: typed parameters, the model contract, data locations, command-line
overrides, a user's own CSV dataset, and provenance that identifies plugin code."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import torch
from console import cli
from torch import nn

from flm_bench.api import (
    BuildInputs,
    ConfigError,
    DataLocation,
    DatasetSpec,
    ModelParams,
    ModelSpec,
    NeuralRecommender,
    Search,
    hookimpl,
    tunable,
)
from flm_bench.errors import DuplicateNameError
from flm_bench.params import parse_params
from flm_bench.plugins import load_plugins
from flm_bench.results.provenance import plugin_code
from flm_bench.results.records import load_records
from flm_bench.runner import Runner
from flm_bench.suite import builtin_suite, load_suite, single_cell, with_params
from flm_bench.train.build import build_model


class Knobs(ModelParams):
    width: int = tunable(8, "a width", ge=2, le=64, search=Search(choices=(4, 8, 16)))
    rate: float = tunable(0.1, "a rate", gt=0, lt=1, search=Search(low=0.01, high=0.5, log=True))


def test_params_are_validated_with_one_line_naming_model_field_and_range() -> None:
    assert parse_params("knobs", Knobs, {"width": 16}).width == 16
    with pytest.raises(
        ConfigError, match=r"^model 'knobs': unknown parameter 'depth'; expected one of \['rate', 'width'\]$"
    ):
        parse_params("knobs", Knobs, {"depth": 3})
    with pytest.raises(ConfigError) as info:
        parse_params("knobs", Knobs, {"width": 1})
    assert str(info.value).startswith("model 'knobs': parameter 'width' = 1: ")
    assert str(info.value).endswith("allowed: an integer in [2, 64]") and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="parameter 'rate' = 'fast': .*allowed: a number in \\(0, 1\\)"):
        parse_params("knobs", Knobs, {"rate": "fast"})
    assert Knobs.search_space() == {"width": Search(choices=(4, 8, 16)), "rate": Search(low=0.01, high=0.5, log=True)}


class Tiny(NeuralRecommender):
    """A minimal pretrainable model; tests break one promise at a time."""

    def __init__(self, n_items: int, **broken) -> None:
        super().__init__()
        self.n_items, self.max_len = n_items, 4
        self.encoder = nn.Sequential(nn.Embedding(n_items + 1, 4), nn.Linear(4, 4))
        self.head = nn.Identity()
        self.id_parameters = ("encoder.0.weight",)
        self.adapter_targets = ("1",)
        for name, value in broken.items():
            setattr(self, name, value)

    def hidden(self, inputs, lengths):
        return self.encoder(inputs)

    def logits(self, hidden):
        return hidden @ self.encoder[0].weight[1:].T


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"adapter_targets": ("linear9",)}, "adapter target 'linear9' names no nn.Linear in its encoder"),
        (
            {"id_parameters": ("encoder.ids.weight",)},
            r"id_parameters \['encoder.ids.weight'\] are not in its state_dict",
        ),
        ({"max_len": 0}, "self.max_len must be a positive int, not 0"),
    ],
)
def test_a_broken_model_contract_is_named_when_the_model_is_built(tiny_data, broken, message) -> None:
    data = tiny_data([0, 0, 1, 1], [0, 1, 2, 1], [0, 1, 0, 1])
    spec = ModelSpec(
        "tiny", build=lambda inputs: Tiny(inputs.n_items, **broken), pretrainable=True, item_representation="ids"
    )
    with pytest.raises(ConfigError, match=f"model class Tiny: {message}"):
        build_model(spec, spec.params(), data, seed=0, device="cpu")
    good = ModelSpec("tiny", build=lambda inputs: Tiny(inputs.n_items), pretrainable=True, item_representation="ids")
    assert isinstance(build_model(good, good.params(), data, seed=0, device="cpu"), Tiny)
    not_neural = ModelSpec("tiny", build=lambda inputs: object(), pretrainable=True, item_representation="ids")
    with pytest.raises(ConfigError, match="pretrainable, so build\\(\\) must return a NeuralRecommender"):
        build_model(not_neural, not_neural.params(), data, seed=0, device="cpu")


def test_build_gets_the_cells_seed_and_device(tiny_data) -> None:
    seen: list[BuildInputs] = []

    def build(inputs: BuildInputs) -> Tiny:
        seen.append(inputs)
        return Tiny(inputs.n_items)

    spec = ModelSpec("tiny", build=build, pretrainable=True, item_representation="ids", params=Knobs)
    data = tiny_data([0, 0, 1, 1], [0, 1, 2, 1], [0, 1, 0, 1])
    a = build_model(spec, Knobs(width=4), data, seed=7, device="cpu")
    b = build_model(spec, Knobs(width=4), data, seed=7, device="cpu")
    assert [(i.seed, i.device, i.params.width, i.n_items) for i in seen] == [(7, "cpu", 4, 3)] * 2
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.slow
def test_datasets_are_told_where_the_data_folder_is(tmp_path: Path) -> None:
    seen: list[DataLocation] = []

    class Recorder:
        @staticmethod
        @hookimpl
        def flm_bench_register_datasets(register):
            from flm_bench_plugins.synthetic import load

            register(
                DatasetSpec("where", "finance", lambda location: seen.append(location) or load("synthetic-finance"))
            )

    plugins = load_plugins(extra=[("recorder", Recorder())])
    suite = single_cell(builtin_suite(), targets=["where"], models=["popularity"], strategies=["scratch"], seeds=[0])
    where = DataLocation(data_dir=tmp_path / "mine", mirror="http://127.0.0.1:9/mirror")
    Runner(suite, plugins, tmp_path / "out", device="cpu", location=where).run()
    assert seen == [where]
    assert DataLocation.from_env({"FLM_BENCH_DATA_DIR": "/d", "FLM_BENCH_MIRROR": ""}) == DataLocation(Path("/d"), None)


def write_csv(path: Path, users: int = 40, header: str = "user,item,timestamp") -> Path:
    rng = np.random.default_rng(0)
    rows = [header] + [
        f"u{u},i{int(rng.integers(0, 25))},{1000 * u + t}" for u in range(users) for t in range(int(rng.integers(4, 9)))
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.slow  # three runs of the installed console script
def test_changed_data_is_run_again_not_taken_for_complete(tmp_path: Path) -> None:
    """The record id covers the data's content: after the file behind a dataset changes, the cell
    runs again instead of being skipped with the old metrics."""
    args = ["run", "--csv", "mine=ratings.csv", "--dataset", "mine", "--model", "popularity", "--output", "out"]
    write_csv(tmp_path / "ratings.csv", users=40)
    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0 and "1 record(s) written, 0 already complete" in first.stderr, first.stderr
    write_csv(tmp_path / "ratings.csv", users=41)
    second = cli(*args, cwd=tmp_path)
    assert second.returncode == 0 and "1 record(s) written, 0 already complete" in second.stderr, second.stderr
    again = cli(*args, cwd=tmp_path)
    assert again.returncode == 0 and "0 record(s) written, 1 already complete" in again.stderr, again.stderr
    records = [r for _, r in load_records(tmp_path / "out")]
    assert sorted(r.dataset.users for r in records) == [40, 41]
    assert len({r.record_id for r in records}) == len({r.dataset.fingerprint for r in records}) == 2


@pytest.mark.slow  # four runs of the installed console script
def test_own_csv_and_param_overrides_through_the_console_script(tmp_path: Path) -> None:
    write_csv(tmp_path / "ratings.csv")
    mine = ["run", "--csv", "mine=ratings.csv", "--dataset", "mine"]
    done = cli(*mine, "--model", "itemknn", "--param", "itemknn.neighbours=5", "--output", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ((_, record),) = load_records(tmp_path / "out")
    assert record.dataset.name == "mine" and record.dataset.users == 40 and record.dataset.domain == "other"
    assert record.model.parameters == {"neighbours": 5, "shrink": 10.0}
    assert record.cost.trainable_parameters > 0  # itemknn reports its kept similarities

    for args, line in [
        (["--param", "itemknn.neighbours=0"], "error: model 'itemknn': parameter 'neighbours' = 0: "),
        (["--param", "neighbours=5"], "error: --param 'neighbours=5': expected NAME.FIELD=VALUE"),
        (
            ["--param", "sasrec.dim=8"],
            "error: --param 'sasrec.dim=8': 'sasrec' is neither among the suite's models ['itemknn'] "
            "nor its strategies",
        ),
    ]:
        bad = cli(*mine, "--model", "itemknn", *args, "--output", "out2", cwd=tmp_path)
        assert bad.returncode == 2 and bad.stderr.startswith(line) and bad.stderr.count("\n") == 1, bad.stderr

    write_csv(tmp_path / "odd.csv", header="person,thing,when")
    bad = cli(
        "run", "--csv", "odd=odd.csv", "--dataset", "odd", "--model", "popularity", "--output", "out3", cwd=tmp_path
    )
    assert bad.returncode == 1 and "no column(s) ['user', 'item', 'timestamp']" in bad.stderr, bad.stderr


@pytest.mark.slow
def test_suite_csv_tables_resolve_paths_and_never_shadow_a_plugin_dataset(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "ratings.csv")
    (tmp_path / "suite.toml").write_text(
        'name = "own"\ntargets = ["mine"]\nmodels = ["popularity"]\n'
        '[csv.mine]\npath = "data/ratings.csv"\ndomain = "media"\n'
        '[training]\ndevice = "cpu"\n'
    )
    suite = load_suite(tmp_path / "suite.toml")
    assert suite.csv["mine"].path == tmp_path / "data" / "ratings.csv"
    plugins = load_plugins()
    Runner(suite, plugins, tmp_path / "out").run()
    Runner(suite, plugins, tmp_path / "out")  # registering the same suite twice is fine
    assert plugins.datasets.get("mine").domain == "media"
    clash = with_params(suite, []).model_copy(update={"csv": {"synthetic-media": suite.csv["mine"]}})
    with pytest.raises(
        DuplicateNameError, match="'synthetic-media' is registered by both plugin 'flm-bench:synthetic'"
    ):
        Runner(clash, load_plugins(), tmp_path / "out")


def test_plugin_code_digest_changes_with_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "my_plugin_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = plugin_code.__wrapped__(("my_plugin_pkg.plugin",))
    (package / "plugin.py").write_text("X = 2\n")
    after = plugin_code.__wrapped__(("my_plugin_pkg.plugin",))
    assert before.sha256 != after.sha256 and len(after.sha256) == 64
    assert before.git_sha is None  # not inside a git work tree
    module = types.ModuleType("my_plugin_pkg.plugin")
    plugins = load_plugins(extra=[("mine", module)])
    assert plugins.modules()["mine"] == ["my_plugin_pkg.plugin"]


def test_csv_dates_become_epoch_seconds(tmp_path: Path) -> None:
    """Whatever resolution pandas parses dates to (microseconds in pandas 3), times are seconds."""
    from flm_bench.file_datasets import read_csv
    from flm_bench.suite import CsvDataset

    (tmp_path / "dated.csv").write_text("user,item,timestamp\na,x,2020-01-01 00:00:00\na,y,2020-01-02 00:00:01\n")
    columns, _ = read_csv(CsvDataset(path=tmp_path / "dated.csv"))
    assert sorted(columns["order"].tolist()) == [1_577_836_800, 1_577_923_201]

"""``far-trans``: files the user brings, declared and checked before they are read, explained by
``data info`` / ``data verify``, and loaded (buys, catalogue attributes, customer profiles) from
generated files in the published format beside the real asset catalogue."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from console import cli
from far_trans_files import FarTransFiles, catalogue_rows, declared_spec, declaring_env, generate

from flm_bench.api import DataLocation
from flm_bench_plugins.far_trans import CATALOGUE, CUSTOMERS, DOI, ITEM_ATTRIBUTES, TRANSACTIONS, USER_ATTRIBUTES


@pytest.fixture
def generated(shared_datasets: Path, tmp_path: Path) -> FarTransFiles:
    return generate(shared_datasets, tmp_path / "data")


def _seconds(day: str) -> int:
    return int(datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp())


def _names(columns: tuple[str, ...], rows: list[dict[str, str]]) -> list[str]:
    """``column=value`` of each one-hot feature: per column, '' then the sorted values of ``rows``."""
    return [f"{c}={v}" for c in columns for v in sorted({"", *(r[c] for r in rows)})]


def _active(features: np.ndarray, names: list[str]) -> set[str]:
    assert features.shape == (len(names),) and set(np.unique(features)) <= {0.0, 1.0}
    return {names[i] for i in np.flatnonzero(features)}


def _one_line_error(done, *parts: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr  # beside it: "loading far-trans"
    for part in parts:
        assert part in errors[0], (part, errors[0])


# ------------------------------------------------------------------------------------ loading


def test_buys_are_the_interactions_by_date(generated: FarTransFiles) -> None:
    data = declared_spec(generated.data_dir).load(DataLocation(data_dir=generated.data_dir))
    users, items = data.side["user_ids"], data.side["item_ids"]
    got = Counter(
        (users[u], items[i], int(o))
        for u, i, o in zip(*(np.asarray(data.column(c)) for c in ("user", "item", "order")))
    )
    assert got == Counter((b["customerID"], b["ISIN"], _seconds(b["timestamp"])) for b in generated.buys)
    assert len(generated.buys) < len(generated.transactions)  # the sells are left out
    assert data.timestamped and data.domain == "finance"


def test_items_carry_their_earliest_catalogue_attributes(generated: FarTransFiles, shared_datasets: Path) -> None:
    data = declared_spec(generated.data_dir).load(DataLocation(data_dir=generated.data_dir))
    catalogue = catalogue_rows(shared_datasets)
    earliest: dict[str, dict[str, str]] = {}
    for row in sorted(catalogue, key=lambda r: r["timestamp"]):  # sorted() is stable: file order among ties
        earliest.setdefault(row["ISIN"], row)
    names = _names(ITEM_ATTRIBUTES, catalogue)
    attributes = [n for n in names if not n.endswith("=")]
    ptr, ids = data.side["item_attr_indptr"], data.side["item_attr_ids"]
    unknown = 0
    for i, isin in enumerate(data.side["item_ids"]):
        row = earliest.get(isin, {c: "" for c in ("assetName", *ITEM_ATTRIBUTES)})
        unknown += isin not in earliest
        expected = {f"{c}={row[c]}" for c in ITEM_ATTRIBUTES}
        assert _active(data.side["item_features"][i], names) == expected, isin
        assert {attributes[a] for a in ids[ptr[i] : ptr[i + 1]]} == {n for n in expected if not n.endswith("=")}
        text = " | ".join(v for v in (row["assetName"], *(row[c] for c in ITEM_ATTRIBUTES)) if v)
        assert data.side["item_text"][i] == text
    assert unknown == 1  # the generated log buys one ISIN the catalogue lacks


def test_customers_carry_their_profile_as_of_their_first_buy(generated: FarTransFiles) -> None:
    data = declared_spec(generated.data_dir).load(DataLocation(data_dir=generated.data_dir))
    names = _names(USER_ATTRIBUTES, generated.customers)
    first_buy: dict[str, str] = {}
    for b in generated.buys:
        first_buy[b["customerID"]] = min(b["timestamp"], first_buy.get(b["customerID"], "9999"))
    changed = missing = 0
    for u, cid in enumerate(data.side["user_ids"]):
        rows = [r for r in generated.customers if r["customerID"] == cid and r["timestamp"] <= first_buy[cid]]
        latest = max(rows, key=lambda r: r["timestamp"]) if rows else {c: "" for c in USER_ATTRIBUTES}
        assert _active(data.side["user_features"][u], names) == {f"{c}={latest[c]}" for c in USER_ATTRIBUTES}, cid
        later = [r for r in generated.customers if r["customerID"] == cid and r["timestamp"] > first_buy[cid]]
        changed += any(r["riskLevel"] != latest["riskLevel"] for r in later)
        missing += not rows
    assert changed > 0 and missing > 0  # the data exercise both: a later profile unused, no profile at all


def test_a_changed_log_is_parsed_again(generated: FarTransFiles) -> None:
    """The log's digest is not declared: the table cache is keyed by the file's own digest."""
    before = declared_spec(generated.data_dir).load(DataLocation(data_dir=generated.data_dir))
    path = generated.data_dir / TRANSACTIONS.path
    path.write_text(path.read_text(encoding="utf-8").replace(",Sell,", ",Buy,", 1), encoding="utf-8")
    after = declared_spec(generated.data_dir).load(DataLocation(data_dir=generated.data_dir))
    assert after.n_interactions == before.n_interactions + 1


# ------------------------------------------------------------------ bring your own: explained


def test_info_and_verify_say_where_to_put_the_missing_files(shared_datasets: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / CATALOGUE).parent.mkdir(parents=True)
    (data / CATALOGUE).symlink_to(shared_datasets / CATALOGUE)

    info = cli("data", "info", "far-trans", "--json", "--data-dir", str(data), cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    facts = json.loads(info.stdout)
    assert "transactions.csv" in facts["load_error"] and "users" not in facts
    files = {f["path"]: f for f in facts["files"]}
    for declared in (TRANSACTIONS, CUSTOMERS):
        assert files[declared.path]["put_at"] == str(data / declared.path)
        assert files[declared.path]["obtain"] == DOI and files[declared.path]["columns"] == list(declared.columns)
    assert files[CUSTOMERS.path]["rows"] == 32_468 and files[TRANSACTIONS.path]["sha256"] is None
    text = cli("data", "info", "far-trans", "--data-dir", str(data), cwd=tmp_path)  # a table: cells wrap at spaces
    assert text.returncode == 0 and all(
        p in text.stdout for p in ("you bring it from", DOI, str(data / TRANSACTIONS.path))
    )

    verify = cli("data", "verify", "far-trans", "--json", "--data-dir", str(data), cwd=tmp_path)
    assert verify.returncode == 0, verify.stderr
    rows = {r["file"]: r for r in json.loads(verify.stdout)}
    assert rows[CATALOGUE]["status"] == "ok"
    for declared in (TRANSACTIONS, CUSTOMERS):
        assert rows[declared.path]["status"] == "missing"
        assert rows[declared.path]["detail"] == f"put {declared.name} at {data / declared.path} (get it from {DOI})"


def test_a_run_without_the_log_is_one_line_naming_file_place_and_doi(shared_datasets: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    done = cli(
        "run", "--dataset", "far-trans", "--model", "popularity", "--seed", "0", "--data-dir", str(data), cwd=tmp_path
    )
    _one_line_error(done, f"'{TRANSACTIONS.path}' is missing", str(data / TRANSACTIONS.path), DOI)


def test_a_wrong_column_is_one_line_naming_file_and_doi(generated: FarTransFiles, tmp_path: Path) -> None:
    path = generated.data_dir / TRANSACTIONS.path
    path.write_text(path.read_text(encoding="utf-8").replace("ISIN", "isin", 1), encoding="utf-8")
    env = declaring_env(tmp_path, generated.data_dir)
    args = ("--data-dir", str(generated.data_dir))
    done = cli("run", "--dataset", "far-trans", "--model", "popularity", "--seed", "0", *args, cwd=tmp_path, env=env)
    _one_line_error(done, str(path), "'isin'", "expected ['customerID', 'ISIN',", DOI)
    verify = cli("data", "verify", "far-trans", "--json", *args, cwd=tmp_path, env=env)
    assert verify.returncode == 1
    assert {r["file"]: r["status"] for r in json.loads(verify.stdout)}[TRANSACTIONS.path] == "mismatch"


def test_the_release_declaration_rejects_files_of_another_size(generated: FarTransFiles, tmp_path: Path) -> None:
    """The built-in declaration (no test plugin): the generated files are not the published ones."""
    verify = cli("data", "verify", "far-trans", "--json", "--data-dir", str(generated.data_dir), cwd=tmp_path)
    assert verify.returncode == 1, verify.stderr
    rows = {r["file"]: r for r in json.loads(verify.stdout)}
    assert rows[CATALOGUE]["status"] == "ok"
    assert (
        f"has {len(generated.transactions):,} rows after its header, expected 388,049"
        in rows[TRANSACTIONS.path]["detail"]
    )
    assert f"has {len(generated.customers):,} rows after its header, expected 32,468" in rows[CUSTOMERS.path]["detail"]
    assert all(DOI in rows[f.path]["detail"] for f in (TRANSACTIONS, CUSTOMERS))


# ------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_info_verify_and_a_popularity_run_on_generated_files(generated: FarTransFiles, tmp_path: Path) -> None:
    env = declaring_env(tmp_path, generated.data_dir)
    args = ("--data-dir", str(generated.data_dir))
    verify = cli("data", "verify", "far-trans", "--json", *args, cwd=tmp_path, env=env)
    assert verify.returncode == 0 and {r["status"] for r in json.loads(verify.stdout)} == {"ok"}, verify.stdout
    info = json.loads(cli("data", "info", "far-trans", "--json", *args, cwd=tmp_path, env=env).stdout)
    assert info["interactions"] == len(generated.buys)
    assert info["users"] == len({b["customerID"] for b in generated.buys})
    assert info["items"] == len({b["ISIN"] for b in generated.buys})
    run = ("run", "--dataset", "far-trans", "--model", "popularity", "--seed", "0", "--output", "out", "--json")
    done = cli(*run, *args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "far-trans" in done.stdout and list((tmp_path / "out").rglob("record.json"))


@pytest.mark.slow
def test_a_sasrec_run_on_generated_files(generated: FarTransFiles, tmp_path: Path) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "far-trans-sasrec"\ntargets = ["far-trans"]\nmodels = ["sasrec"]\nstrategies = ["scratch"]\n'
        'seeds = [0]\n[training]\nepochs = 1\ndevice = "cpu"\n[model_params.sasrec]\ndim = 8\nlayers = 1\nheads = 1\n'
    )
    env = declaring_env(tmp_path, generated.data_dir)
    done = cli(
        "run", "--suite", str(suite), "--data-dir", str(generated.data_dir), "--output", "out", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "out").rglob("record.json"))

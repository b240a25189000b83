"""Split protocols are deterministic and leak-free (property-based, plus MovieLens-100k)."""

from __future__ import annotations

import functools
import gzip
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from flm_bench.data.splits import (
    PROTOCOLS,
    EvalSet,
    Sequences,
    Split,
    cold_start,
    leave_one_out,
    make_split,
    predefined,
    prepare_split,
    random_holdout,
    temporal,
)
from flm_bench.data.table import InteractionData, fingerprint
from flm_bench.errors import DataError

SETTINGS = settings(max_examples=150, deadline=None)

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MOVIELENS_100K = SHARED_DATASETS / "media" / "movielens-100k"


# --------------------------------------------------------------------------- strategies


@st.composite
def tables(draw, min_rows: int = 1, max_rows: int = 150, min_span: int = 0) -> tuple[list[int], list[int], list[int]]:
    """Random small interaction tables: 1–30 users, 1–50 items, few distinct orders (many
    ties), rows in random order (each row is drawn independently)."""
    n_users = draw(st.integers(1, 30))
    n_items = draw(st.integers(1, 50))
    max_order = draw(st.integers(min_span, 12))
    n_rows = draw(st.integers(min_rows, max_rows))  # uniform-ish: lists alone favour tiny tables
    rows = draw(
        st.lists(
            st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1), st.integers(0, max_order)),
            min_size=n_rows,
            max_size=n_rows,
        )
    )
    users, items, orders = (list(c) for c in zip(*rows))
    return users, items, orders


# --------------------------------------------------------------------------- helpers


def columns(data: InteractionData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.asarray(data.column(c), dtype=np.int64) for c in ("user", "item", "order"))


def by_user(data: InteractionData) -> dict[int, list[int]]:
    """Each user's table rows, ordered by (order, table row)."""
    user, _, order = columns(data)
    rows: dict[int, list[int]] = defaultdict(list)
    for r in range(len(user)):
        rows[int(user[r])].append(r)
    return {u: sorted(rs, key=lambda r: (int(order[r]), r)) for u, rs in rows.items()}


def check_sequences(seq: Sequences, data: InteractionData) -> dict[int, list[int]]:
    """Structural checks; returns user -> table rows (in sequence order)."""
    user, item, order = columns(data)
    assert seq.indptr[0] == 0 and len(seq.indptr) == len(seq.users) + 1
    assert np.all(np.diff(seq.indptr) >= 0) and seq.indptr[-1] == len(seq.items) == len(seq.rows)
    assert np.all(np.diff(seq.users) > 0), "users sorted and unique"
    # every event is what the canonical table holds at that row
    np.testing.assert_array_equal(seq.items, item[seq.rows])
    out: dict[int, list[int]] = {}
    for i, u in enumerate(seq.users):
        rows = seq.rows[seq.indptr[i] : seq.indptr[i + 1]]
        assert np.all(user[rows] == u), "a row of another user leaked into a sequence"
        np.testing.assert_array_equal(seq.get(i), item[rows])
        keys = [(int(order[r]), int(r)) for r in rows]
        assert keys == sorted(keys), "sequence not in (order, row) order"
        out[int(u)] = [int(r) for r in rows]
    return out


def check_eval_set(es: EvalSet, data: InteractionData) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    history = check_sequences(es.history, data)
    targets = check_sequences(es.targets, data)
    np.testing.assert_array_equal(es.history.users, es.targets.users)
    assert len(es) == len(es.targets)
    assert all(len(t) > 0 for t in targets.values()), "an evaluated user without targets"
    return history, targets


def all_rows(seqs: dict[int, list[int]]) -> set[int]:
    return {r for rs in seqs.values() for r in rs}


def key(data: InteractionData, r: int) -> tuple[int, int]:
    return int(np.asarray(data.column("order"))[r]), r


def rebuild(tiny_data, data: InteractionData, **changes) -> InteractionData:
    user, item, order = (list(map(int, c)) for c in columns(data))
    cols = {"users": user, "items": item, "orders": order} | changes
    return tiny_data(cols["users"], cols["items"], cols["orders"], timestamped=data.timestamped)


# --------------------------------------------------------------------------- leave-one-out


def check_leave_one_out(split: Split, data: InteractionData) -> None:
    expected = by_user(data)
    evaluated = {u for u, rs in expected.items() if len(rs) >= 3}
    train = check_sequences(split.train, data)
    v_hist, v_tgt = check_eval_set(split.valid, data)
    t_hist, t_tgt = check_eval_set(split.test, data)

    assert set(v_tgt) == set(t_tgt) == evaluated, "users with < 3 interactions are evaluated"
    assert set(train) == set(expected), "every user keeps training rows"
    train_rows = all_rows(train)
    assert not train_rows & (all_rows(v_tgt) | all_rows(t_tgt)), "a held-out row is in train"
    assert train_rows | all_rows(v_tgt) | all_rows(t_tgt) == set(range(data.n_interactions))

    for u, rows in expected.items():
        if u not in evaluated:
            assert train[u] == rows
            continue
        (test_row,), (valid_row,) = t_tgt[u], v_tgt[u]
        assert test_row == rows[-1] and valid_row == rows[-2]
        assert all(key(data, r) < key(data, valid_row) for r in train[u])
        assert key(data, valid_row) < key(data, test_row)
        assert train[u] == rows[:-2]
        assert v_hist[u] == train[u]
        assert t_hist[u] == train[u] + [valid_row]
        assert set(t_hist[u]) == set(train[u]) | {valid_row}


@pytest.mark.slow
@SETTINGS
@given(tables())
def test_leave_one_out_no_leakage(tiny_data, table):
    data = tiny_data(*table)
    if all(len(rs) < 3 for rs in by_user(data).values()):
        event("nobody has 3 interactions")
        with pytest.raises(DataError, match="no test users"):
            leave_one_out(data)
        return
    split = leave_one_out(data)
    assert split.protocol == "leave-one-out" and split.dataset_fingerprint == data.fingerprint
    check_leave_one_out(split, data)


@pytest.mark.slow
@SETTINGS
@given(tables(min_rows=3), st.data())
def test_leave_one_out_deterministic(tiny_data, table, draw):
    data = tiny_data(*table)
    assume(any(len(rs) >= 3 for rs in by_user(data).values()))
    first = leave_one_out(data)
    again = leave_one_out(rebuild(tiny_data, data))
    assert first.fingerprint and first.fingerprint == again.fingerprint
    assert make_split(data, "leave-one-out").fingerprint == first.fingerprint
    # change one interaction's item: a different dataset, a different split fingerprint
    items = list(table[1])
    r = draw.draw(st.integers(0, len(items) - 1))
    items[r] += 1
    other = leave_one_out(rebuild(tiny_data, data, items=items))
    assert other.dataset_fingerprint != first.dataset_fingerprint
    assert other.fingerprint != first.fingerprint


def test_leave_one_out_ties_broken_by_row(tiny_data):
    # one user, all at the same time: the table row decides
    data = tiny_data([0, 0, 0, 0], [5, 6, 7, 8], [3, 3, 3, 3])
    split = leave_one_out(data)
    assert split.test.targets.items.tolist() == [8]
    assert split.valid.targets.items.tolist() == [7]
    assert split.train.items.tolist() == [5, 6]
    assert split.test.history.items.tolist() == [5, 6, 7]


# --------------------------------------------------------------------------- temporal


def expected_cutoffs(order: np.ndarray, vf: float, tf: float) -> tuple[int, int]:
    return (
        int(np.quantile(order, 1 - vf - tf, method="higher")),
        int(np.quantile(order, 1 - tf, method="higher")),
    )


fractions = st.sampled_from([0.1, 0.2, 0.25, 0.3])


@pytest.mark.slow
@SETTINGS
@given(tables(min_span=3), fractions, fractions)
def test_temporal_no_leakage(tiny_data, table, vf, tf):
    data = tiny_data(*table)
    user, _, order = columns(data)
    t_valid, t_test = expected_cutoffs(order, vf, tf)
    pre_test_users = set(user[order < t_test].tolist())
    if t_valid >= t_test:
        event("too few distinct times")
        with pytest.raises(DataError, match="too few distinct times"):
            temporal(data, valid_fraction=vf, test_fraction=tf)
        return
    if not any(o >= t_test and u in pre_test_users for u, o in zip(user.tolist(), order.tolist())):
        event("no test users")
        with pytest.raises(DataError, match="no test users"):
            temporal(data, valid_fraction=vf, test_fraction=tf)
        return

    split = temporal(data, valid_fraction=vf, test_fraction=tf)
    assert split.derived == {"valid_cutoff": t_valid, "test_cutoff": t_test}
    train = check_sequences(split.train, data)
    v_hist, v_tgt = check_eval_set(split.valid, data)
    t_hist, t_tgt = check_eval_set(split.test, data)
    rows = by_user(data)

    # train: exactly the rows before the validation cutoff
    assert all(order[r] < t_valid for r in all_rows(train))
    assert all_rows(train) == set(np.flatnonzero(order < t_valid).tolist())
    # targets lie in their windows
    assert all(t_valid <= order[r] < t_test for r in all_rows(v_tgt))
    assert all(order[r] >= t_test for r in all_rows(t_tgt))
    # histories never reach the cutoff they precede, and hold all of the user's earlier rows
    for u in v_tgt:
        assert all(order[r] < t_valid for r in v_hist[u])
        assert v_hist[u] == [r for r in rows[u] if order[r] < t_valid]
        assert v_hist[u], "validation user without training history"
        assert v_tgt[u] == [r for r in rows[u] if t_valid <= order[r] < t_test]
    for u in t_tgt:
        assert all(order[r] < t_test for r in t_hist[u])
        assert t_hist[u] == [r for r in rows[u] if order[r] < t_test]
        assert t_hist[u], "test user without history"
        assert t_tgt[u] == [r for r in rows[u] if order[r] >= t_test]
    # every user with history and a target in the window is evaluated
    assert set(v_tgt) == {
        u
        for u, rs in rows.items()
        if any(order[r] < t_valid for r in rs) and any(t_valid <= order[r] < t_test for r in rs)
    }
    assert set(t_tgt) == {
        u for u, rs in rows.items() if any(order[r] < t_test for r in rs) and any(order[r] >= t_test for r in rs)
    }
    # no test or validation target leaks into train
    assert not all_rows(train) & (all_rows(v_tgt) | all_rows(t_tgt))
    # deterministic
    assert temporal(rebuild(tiny_data, data), valid_fraction=vf, test_fraction=tf).fingerprint == split.fingerprint


def test_temporal_needs_timestamps(tiny_data):
    data = tiny_data([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2], timestamped=False)
    with pytest.raises(DataError, match="timestamps"):
        temporal(data)
    with pytest.raises(DataError, match="timestamps"):
        make_split(data, "temporal")


def test_temporal_bad_fractions(tiny_data):
    data = tiny_data([0, 0, 0], [0, 1, 2], [0, 1, 2])
    with pytest.raises(DataError):
        temporal(data, valid_fraction=0.5, test_fraction=0.5)
    with pytest.raises(DataError):
        temporal(data, valid_fraction=0.0)


# --------------------------------------------------------------------------- cold-start


@pytest.mark.slow
@SETTINGS
@given(
    tables(),
    st.sampled_from([0.1, 0.2, 0.3, 0.4]),
    st.sampled_from([0.2, 0.3, 0.4]),
    st.integers(0, 3),
    st.integers(0, 2**32 - 1),
)
def test_cold_start_no_leakage(tiny_data, table, vf, tf, context, seed):
    data = tiny_data(*table)
    rows = by_user(data)
    n_users = len(rows)
    eligible = {u for u, rs in rows.items() if len(rs) > context}
    n_valid = round(vf * n_users)
    n_test = min(round(tf * n_users), max(len(eligible) - n_valid, 0))
    if n_test == 0:
        event("no test users")
        with pytest.raises(DataError, match="no test users"):
            cold_start(data, valid_fraction=vf, test_fraction=tf, context=context, seed=seed)
        return

    split = cold_start(data, valid_fraction=vf, test_fraction=tf, context=context, seed=seed)
    train = check_sequences(split.train, data)
    v_hist, v_tgt = check_eval_set(split.valid, data)
    t_hist, t_tgt = check_eval_set(split.test, data)

    held_valid, held_test = set(v_tgt), set(t_tgt)
    assert len(held_valid) == min(n_valid, len(eligible)) and len(held_test) == n_test
    assert not held_valid & held_test
    assert not (held_valid | held_test) & set(train), "a held-out user has training rows"
    assert held_valid | held_test <= eligible
    assert set(train) == set(rows) - held_valid - held_test
    for u in train:
        assert train[u] == rows[u]
    for hist, tgt in ((v_hist, v_tgt), (t_hist, t_tgt)):
        for u in tgt:
            assert hist.get(u, []) == rows[u][:context]
            assert tgt[u] == rows[u][context:]
    # every row is used exactly once
    parts = [all_rows(x) for x in (train, v_hist, v_tgt, t_hist, t_tgt)]
    assert sum(map(len, parts)) == data.n_interactions
    assert set().union(*parts) == set(range(data.n_interactions))
    # deterministic for a seed
    again = cold_start(rebuild(tiny_data, data), valid_fraction=vf, test_fraction=tf, context=context, seed=seed)
    assert again.fingerprint == split.fingerprint
    np.testing.assert_array_equal(again.test.users, split.test.users)
    np.testing.assert_array_equal(again.valid.users, split.valid.users)


def test_cold_start_seed_changes_users(tiny_data):
    users = [u for u in range(40) for _ in range(3)]
    data = tiny_data(users, list(range(len(users))), [i % 3 for i in range(len(users))])
    quarter = {"valid_fraction": 0.25, "test_fraction": 0.25}
    picks = {tuple(cold_start(data, **quarter, seed=s).test.users.tolist()) for s in range(5)}
    assert len(picks) > 1
    assert cold_start(data, **quarter, seed=3).fingerprint == cold_start(data, **quarter, seed=3).fingerprint


def test_cold_start_negative_context(tiny_data):
    with pytest.raises(DataError):
        cold_start(tiny_data([0, 0], [0, 1], [0, 1]), context=-1)


def test_make_split_errors(tiny_data):
    data = tiny_data([0, 0, 0], [0, 1, 2], [0, 1, 2])
    with pytest.raises(DataError, match="unknown split protocol"):
        make_split(data, "random")
    with pytest.raises(DataError, match="split 'leave-one-out': unknown parameter 'seed'; it takes none"):
        make_split(data, "leave-one-out", seed=1)


# --------------------------------------------------------------------------- real data
# The tests request ``shared_datasets``: it marks them realdata and fails in one line without the data.


@functools.cache
def load_movielens(tiny_data) -> InteractionData:
    """MovieLens-100k from the shared datasets folder; missing data FAILS the test (no skip)."""
    assert SHARED_DATASETS.is_dir(), (
        f"shared datasets folder not found at {SHARED_DATASETS}: this test needs the "
        "shared/ checkout next to the repository (shared/datasets/media/movielens-100k)"
    )
    candidates = [MOVIELENS_100K / "u.data", MOVIELENS_100K / "u.data.gz"]
    path = next((p for p in candidates if p.is_file()), None)
    assert path is not None, f"MovieLens-100k ratings not found: expected one of {candidates}"
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        raw = np.loadtxt(f, dtype=np.int64, delimiter="\t")
    assert raw.shape == (100_000, 4), f"unexpected u.data shape {raw.shape}"
    _, user = np.unique(raw[:, 0], return_inverse=True)
    _, item = np.unique(raw[:, 1], return_inverse=True)
    return tiny_data(user, item, raw[:, 3], name="movielens-100k", domain="media")


def test_movielens_leave_one_out(tiny_data, shared_datasets):
    movielens = load_movielens(tiny_data)
    assert movielens.n_users == 943 and movielens.n_interactions == 100_000
    assert movielens.n_items == 1682
    split = leave_one_out(movielens)
    assert len(split.test) == len(split.valid) == 943  # every user has >= 20 ratings
    assert len(split.train.items) == 100_000 - 2 * 943
    assert len(split.train) == 943
    check_leave_one_out(split, movielens)
    assert leave_one_out(movielens).fingerprint == split.fingerprint


def test_movielens_temporal(tiny_data, shared_datasets):
    movielens = load_movielens(tiny_data)
    split = temporal(movielens, valid_fraction=0.1, test_fraction=0.1)
    order = np.asarray(movielens.column("order"))
    t_valid, t_test = split.derived["valid_cutoff"], split.derived["test_cutoff"]
    assert (t_valid, t_test) == expected_cutoffs(order, 0.1, 0.1)
    assert np.all(order[split.train.rows] < t_valid)
    assert len(split.train.rows) == int(np.sum(order < t_valid))
    v, t = split.valid, split.test
    assert np.all((order[v.targets.rows] >= t_valid) & (order[v.targets.rows] < t_test))
    assert np.all(order[t.targets.rows] >= t_test)
    assert np.all(order[v.history.rows] < t_valid)
    assert np.all(order[t.history.rows] < t_test)
    assert np.all(v.history.lengths() > 0) and np.all(t.history.lengths() > 0)
    assert 0 < len(t) < 943 and 0 < len(v) < 943
    # roughly the asked share of interactions is held out at the test cutoff
    assert 0.05 < np.mean(order >= t_test) < 0.15
    assert not set(split.train.rows.tolist()) & set(t.targets.rows.tolist())
    np.testing.assert_array_equal(split.train.items, np.asarray(movielens.column("item"))[split.train.rows])


# --------------------------------------------------------------------------- random-holdout, predefined


@pytest.mark.slow
@SETTINGS
@given(tables(), st.integers(0, 3))
def test_random_holdout_no_leakage(tiny_data, table, seed):
    data = tiny_data(*table, timestamped=False)
    assume(any(len(r) >= 3 for r in by_user(data).values()))
    split = random_holdout(data, seed=seed)
    user = columns(data)[0]
    rows_of = by_user(data)
    evaluated = {u for u, rs in rows_of.items() if len(rs) >= 3}
    train = {
        int(u): set(split.train.rows[split.train.indptr[i] : split.train.indptr[i + 1]].tolist())
        for i, u in enumerate(split.train.users)
    }
    for es, name in ((split.valid, "valid"), (split.test, "test")):
        assert set(es.users.tolist()) == evaluated, name
        np.testing.assert_array_equal(es.targets.lengths(), 1)
        assert np.all(user[es.targets.rows] == np.repeat(es.users, 1))
    for i, u in enumerate(split.test.users.tolist()):
        test_row, valid_row = int(split.test.targets.rows[i]), int(split.valid.targets.rows[i])
        assert test_row != valid_row
        assert test_row not in train[u] and valid_row not in train[u]
        assert train[u] | {test_row, valid_row} == set(rows_of[u])
        assert set(
            split.test.history.rows[split.test.history.indptr[i] : split.test.history.indptr[i + 1]].tolist()
        ) == train[u] | {valid_row}
    again = random_holdout(data, seed=seed)
    assert again.fingerprint == split.fingerprint


def test_random_holdout_seed_changes_targets(tiny_data):
    users = [u for u in range(40) for _ in range(8)]
    data = tiny_data(users, list(range(len(users))), [0] * len(users), timestamped=False)
    assert not np.array_equal(
        random_holdout(data, seed=0).test.targets.rows, random_holdout(data, seed=1).test.targets.rows
    )


def test_order_protocols_refuse_unordered_data(tiny_data):
    data = tiny_data([0, 0, 0], [0, 1, 2], [0, 0, 0], timestamped=False)
    for protocol in ("leave-one-out", "cold-start"):
        with pytest.raises(DataError, match="random-holdout"):
            make_split(data, protocol)


def test_predefined_split_follows_the_fold_column(tiny_data):
    import datasets

    from flm_bench.data.table import from_table

    table = datasets.Dataset.from_dict(
        {
            "user": [0, 0, 0, 0, 1, 1, 1],
            "item": [5, 6, 7, 8, 1, 2, 3],
            "order": [0, 1, 2, 3, 0, 1, 2],
            "fold": np.array([0, 0, 1, 2, 0, 0, 2], dtype=np.int8),
        }
    )
    data = from_table("pre", "test", table, timestamped=False, ordered=True)
    split = predefined(data)
    assert split.train.rows.tolist() == [0, 1, 4, 5]
    assert split.valid.users.tolist() == [0] and split.valid.targets.items.tolist() == [7]
    assert split.test.users.tolist() == [0, 1]
    assert split.test.history.get(0).tolist() == [5, 6, 7] and split.test.history.get(1).tolist() == [1, 2]
    assert split.test.targets.items.tolist() == [8, 3]
    with pytest.raises(DataError, match="no published split"):
        predefined(tiny_data([0], [0], [0]))


# --------------------------------------------------------------------------- the protocol registry


def registry_fixture() -> InteractionData:
    """Ten users with six interactions each, distinct times, and a published fold column."""
    import datasets

    from flm_bench.data.table import from_table

    users = [u for u in range(10) for _ in range(6)]
    step = [j for _ in range(10) for j in range(6)]
    table = datasets.Dataset.from_dict(
        {
            "user": np.array(users, dtype=np.int64),
            "item": np.array([(u * 7 + j * 3) % 13 for u, j in zip(users, step)], dtype=np.int64),
            "order": np.array([j * 10 + u for u, j in zip(users, step)], dtype=np.int64),
            "fold": np.array([0 if j < 4 else j - 3 for j in step], dtype=np.int8),
        }
    )
    return from_table("fixture", "test", table, timestamped=True, ordered=True)


# computed with the protocols as they were before the registry (make_split of commit 99d0aef):
# published records keep their split fingerprints
FINGERPRINTS = [
    ("leave-one-out", {}, "3f866b30535f3a34ce341c4a044c34950a09f784c37b9cbd0c3f793151fd1938"),
    ("temporal", {}, "280fc12c3d37c245c4341b94f3ef965fea4091e695ba02c70c951b7e72fd1603"),
    (
        "temporal",
        {"valid_fraction": 0.2, "test_fraction": 0.3},
        "feebf09b1a7580397e3e72b89b465e592e016ea9286453f20eb491a86beec240",
    ),
    ("cold-start", {}, "3518535b100dc827545effca497966826bf9ebe03c00e2cba778617fba27ec60"),
    (
        "cold-start",
        {"valid_fraction": 0.2, "test_fraction": 0.3, "context": 2, "seed": 3},
        "a9d36a4f4da9f02edfc8e82ff85b07052c0cf8e296cfabc28ba37ebd9314a9e1",
    ),
    ("random-holdout", {}, "45107ce653b0df659c398c1b89f5ab5b200e98747b3a02e2f6106a8b5d95835f"),
    ("random-holdout", {"seed": 5}, "ddb697d2366930bb263e6549e67c5a9f7e426303e9fff96e49490d52d29f76a6"),
    ("predefined", {}, "95ac70dbadbeff07bcaf2d455351248f12f42ed793530313318d29df04e56a31"),
]


@pytest.mark.parametrize(("protocol", "params", "expected"), FINGERPRINTS)
def test_every_protocol_keeps_its_fingerprint(protocol, params, expected):
    data = registry_fixture()
    assert data.fingerprint == "d70c6ccfa0daefd628db65f6847e40565bdb5422a7e53a61e54b28460a9129ee"
    assert prepare_split(data, protocol, params).fingerprint == expected
    assert make_split(data, protocol, **params).fingerprint == expected


def test_every_protocol_is_covered_by_the_fingerprints():
    assert set(PROTOCOLS) == {protocol for protocol, _, _ in FINGERPRINTS}


def test_derived_values_are_kept_apart_from_the_inputs():
    data = registry_fixture()
    split = prepare_split(data, "temporal", {"valid_fraction": 0.2, "test_fraction": 0.3})
    assert split.params == {"valid_fraction": 0.2, "test_fraction": 0.3}
    assert split.derived == {"valid_cutoff": 30, "test_cutoff": 42}
    # the fingerprint hashes inputs and derived values together, as before the split of the two
    assert split.fingerprint == fingerprint(
        "temporal",
        {**split.params, **split.derived},
        data.fingerprint,
        split.train.rows,
        split.valid.targets.rows,
        split.test.targets.rows,
    )
    # defaults are filled in; protocols without derived values derive nothing
    cold = prepare_split(data, "cold-start", {"seed": 1})
    assert cold.params == {"valid_fraction": 0.1, "test_fraction": 0.1, "context": 1, "seed": 1}
    assert cold.derived == {}
    # older records kept the cutoffs inside params: they separate into inputs and derived values
    legacy = {**split.params, **split.derived}
    assert PROTOCOLS["temporal"].separate(legacy) == (split.params, split.derived)
    assert PROTOCOLS["random-holdout"].separate({"seed": 3}) == ({"seed": 3}, {})


SPLIT_ERRORS = [
    (
        "random",
        {},
        r"unknown split protocol 'random'; expected one of \['leave-one-out', 'temporal', "
        r"'cold-start', 'random-holdout', 'predefined'\]",
    ),
    ("leave-one-out", {"seed": 1}, r"split 'leave-one-out': unknown parameter 'seed'; it takes none"),
    ("random-holdout", {"sed": 1}, r"split 'random-holdout': unknown parameter 'sed'; expected one of \['seed'\]"),
    (
        "temporal",
        {"valid_fraction": 1.5},
        r"split 'temporal': parameter 'valid_fraction' = 1\.5: .*; allowed: a number in \(0, 1\)",
    ),
    (
        "temporal",
        {"test_fraction": 0.0},
        r"split 'temporal': parameter 'test_fraction' = 0\.0: .*; allowed: a number in \(0, 1\)",
    ),
    (
        "temporal",
        {"valid_fraction": 0.5, "test_fraction": 0.5},
        r"split 'temporal': valid_fraction \+ test_fraction must be < 1, got 0\.5 \+ 0\.5",
    ),
    ("cold-start", {"context": -1}, r"split 'cold-start': parameter 'context' = -1: .*; allowed: an integer >= 0"),
    ("cold-start", {"context": 1.5}, r"split 'cold-start': parameter 'context' = 1\.5: .*; allowed: an integer >= 0"),
    (
        "random-holdout",
        {"seed": True},
        r"split 'random-holdout': parameter 'seed' = True: .*; allowed: an integer >= 0",
    ),
]


@pytest.mark.parametrize(("protocol", "params", "reason"), SPLIT_ERRORS)
def test_bad_split_config_is_one_line_naming_the_field(protocol, params, reason, tmp_path):
    from flm_bench.errors import ConfigError
    from flm_bench.suite import load_suite

    with pytest.raises(DataError, match=f"^{reason}$"):
        prepare_split(registry_fixture(), protocol, params)
    # the suite validates against the same registry, before anything runs
    suite = tmp_path / "suite.toml"
    rows = "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in params.items())
    suite.write_text(
        f'name = "s"\ntargets = ["t"]\nmodels = ["m"]\n\n[split_overrides.t]\nprotocol = "{protocol}"\n'
        + (f"\n[split_overrides.t.params]\n{rows}" if params else "")
    )
    with pytest.raises(ConfigError) as info:
        load_suite(suite)
    message = str(info.value)
    assert "\n" not in message
    assert re.fullmatch(f"{re.escape(str(suite))}: field split_overrides.t: {reason}", message), message


def test_a_suite_accepts_every_registered_protocol_and_keeps_params_as_written(tmp_path):
    from flm_bench.suite import load_suite

    for name in PROTOCOLS:
        suite = tmp_path / f"{name}.toml"
        suite.write_text(f'name = "s"\ntargets = ["t"]\nmodels = ["m"]\n\n[split]\nprotocol = "{name}"\n')
        assert load_suite(suite).split.protocol == name
    suite.write_text(
        'name = "s"\ntargets = ["t"]\nmodels = ["m"]\n\n[split]\nprotocol = "temporal"\n'
        "params = { test_fraction = 0.2 }\n"
    )
    assert load_suite(suite).split.params == {"test_fraction": 0.2}  # record ids hash what was written


def test_select_takes_sequences_by_position_in_the_order_given() -> None:
    """One subsetting of sequences (fractions keep training users, the loop shards validation users):
    a slice of a larger array (``indptr`` not starting at 0) keeps each user's items and rows."""
    items = np.array([9, 9, 1, 2, 3, 4, 5, 6], dtype=np.int32)
    seqs = Sequences(np.array([10, 11, 12]), np.array([2, 4, 4, 8]), items, np.arange(100, 108))
    picked = seqs.select(np.array([2, 0]))
    assert picked.users.tolist() == [12, 10] and picked.indptr.tolist() == [0, 4, 6]
    assert picked.items.tolist() == [3, 4, 5, 6, 1, 2] and picked.items.dtype == np.int32
    assert picked.rows.tolist() == [104, 105, 106, 107, 102, 103]
    assert [seqs.select(np.array([1])).get(0).tolist(), len(seqs.select(np.array([], dtype=int)))] == [[], 0]

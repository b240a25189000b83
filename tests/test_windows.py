"""Training windows: every item after a user's first is a target exactly once per epoch."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flm_bench.data.splits import Sequences
from flm_bench.train.neural import training_batches, windows


def _sequences(lengths: list[int]) -> Sequences:
    """Users with these history lengths; item ids are the positions in ``items`` (all distinct)."""
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = np.arange(indptr[-1], dtype=np.int64)
    return Sequences(np.arange(len(lengths)), indptr, items, items.copy())


def _targets_of_one_epoch(train: Sequences, max_len: int, *, sliding: bool) -> Counter[int]:
    seen: Counter[int] = Counter()
    batches = training_batches(train, 3, max_len, np.random.default_rng(0), "cpu", sliding=sliding)
    for inputs, lengths, targets in batches:
        assert inputs.shape[1] <= max_len and int(lengths.max()) <= max_len
        seen.update(targets[targets >= 0].tolist())
    return seen


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=12), st.integers(1, 9))
def test_sliding_windows_make_every_item_after_the_first_a_target_exactly_once(lengths: list[int], max_len: int):
    train = _sequences(lengths)
    expected = {int(i) for u in range(len(train)) for i in train.get(u)[1:]}
    seen = _targets_of_one_epoch(train, max_len, sliding=True)
    assert set(seen) == expected and set(seen.values()) <= {1}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=12), st.integers(1, 9))
def test_each_target_is_read_after_the_items_before_it_in_its_window(lengths: list[int], max_len: int):
    """A window is a contiguous stretch of one user's history: its inputs are the items right before each target."""
    train = _sequences(lengths)
    starts, ends = windows(train, max_len)
    for a, b in zip(starts, ends):
        user = int(np.searchsorted(train.indptr, a, side="right") - 1)
        assert train.indptr[user] <= a < b <= train.indptr[user + 1] and 2 <= b - a <= max_len + 1


def test_last_windows_are_what_the_harness_trained_on_before():
    """``last``: one window per user with 2+ items, its last ``max_len + 1`` items (the old batches)."""
    train = _sequences([1, 2, 5, 30])
    starts, ends = windows(train, 4, sliding=False)
    assert [train.items[a:b].tolist() for a, b in zip(starts, ends)] == [[1, 2], [3, 4, 5, 6, 7], [33, 34, 35, 36, 37]]
    assert sorted(_targets_of_one_epoch(train, 4, sliding=False)) == [2, 4, 5, 6, 7, 34, 35, 36, 37]


def test_long_histories_are_cut_from_their_end():
    train = _sequences([11])
    starts, ends = windows(train, 4)
    assert [train.items[a:b].tolist() for a, b in zip(starts, ends)] == [[6, 7, 8, 9, 10], [2, 3, 4, 5, 6], [0, 1, 2]]

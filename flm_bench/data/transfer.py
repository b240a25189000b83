"""Transfer protocols on a split: a target's training users cut to a fraction, and the test
users whose held-out items the training data never shows (``docs/transfer.md``).

``target_fraction``: a seeded permutation of the split's training users (those with at least
one training interaction) is drawn once per (split, seed); a fraction keeps its first
``round(fraction * n)`` users (at least one). Fractions of one split are nested (the 5% users are
the first of the 20%, which are the first of all), and the same for every model, strategy and
seed, so cells at one fraction stay paired. Only ``split.train`` changes: validation and test
users, their histories (still the model's input) and their targets stay as they are, so numbers
at every fraction are measured on the same users; the catalogue and its item indices are the
dataset's, whatever items the kept users touch.

``cold-start-items``: the test users every one of whose test targets is absent from the training
sequences the cell is fitted on (``split.train`` after the fraction). An item seen only as a
validation target or in an evaluation history is cold too: no model is fitted on those.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from flm_bench.data.splits import Split

#: The name of the cold-start-item slice in records and boards.
COLD_START_ITEMS = "cold-start-items"


def kept_users(train_users: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The training users kept at ``fraction`` (in draw order): a prefix of one seeded permutation
    of ``train_users``, so a smaller fraction's users are among a larger one's."""
    if not 0 < fraction <= 1:
        raise ValueError(f"target fraction must be in (0, 1], got {fraction}")
    users = np.sort(np.asarray(train_users, dtype=np.int64))
    order = np.random.default_rng(seed).permutation(len(users))
    return users[order[: max(1, int(round(fraction * len(users))))]]


def with_fraction(split: Split, fraction: float, seed: int) -> Split:
    """``split`` trained on the :func:`kept_users` at ``fraction`` only (itself at 1.0); its
    validation and test sets, catalogue and fingerprint (the test users) are unchanged."""
    if fraction == 1.0:
        return split
    kept = np.isin(split.train.users, kept_users(split.train.users, fraction, seed))
    return dataclasses.replace(split, train=split.train.select(np.flatnonzero(kept)))


def cold_item_users(split: Split) -> np.ndarray:
    """A mask over ``split.test``'s users: those none of whose targets is in ``split.train``."""
    seen = np.zeros(split.n_items, dtype=bool)
    seen[split.train.items[split.train.indptr[0] : split.train.indptr[-1]]] = True
    targets = split.test.targets
    lengths = targets.lengths()
    owner = np.repeat(np.arange(len(targets)), lengths)
    warm = np.bincount(
        owner, weights=seen[targets.items[targets.indptr[0] : targets.indptr[-1]]], minlength=len(targets)
    )
    return (warm == 0) & (lengths > 0)

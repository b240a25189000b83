"""Per-user scores of a slice of the test users (e.g. cold-start items), for gains on the slice.

A record's ``per_user.npz`` marks each slice's users beside the per-user scores, as the array
``slice:<name>`` (a boolean per user, aligned with ``users`` like every other array; records made
before it was stored have none). The slice's scores are
then the full per-user scores of those users, so a gain on the slice is measured exactly as the full
gain (:func:`flm_bench.results.stats.measure_gain`), on the slice's users only.
"""

from __future__ import annotations

import numpy as np

from flm_bench.errors import RecordError
from flm_bench.results.stats import SeedScores

SLICE_PREFIX = "slice:"
#: why a row has no gain on a slice whose users its records do not list
NOT_STORED = "the per-user scores do not mark the slice's users (records made before they were stored)"


def slice_key(name: str) -> str:
    """The name of the array of a slice's users in ``per_user.npz``."""
    return SLICE_PREFIX + name


def slice_scores(arrays: dict[str, np.ndarray], name: str, metric: str) -> SeedScores | None:
    """(users, scores of ``metric``) of the slice ``name``'s users in one record's per-user arrays;
    None when the arrays do not mark the slice's users.

    :raises RecordError: a mask that is not one value per user."""
    members = arrays.get(slice_key(name))
    if members is None:
        return None
    keep = np.asarray(members, dtype=bool)
    if keep.shape != arrays["users"].shape:
        raise RecordError(
            f"per_user.npz: {slice_key(name)} has {keep.size} values, expected one per user ({arrays['users'].size})"
        )
    return arrays["users"][keep], arrays[metric][keep]

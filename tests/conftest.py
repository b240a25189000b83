"""Shared, generic fixtures for the flm-bench test-suite."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from flm_bench.data import CACHE_ENV, InteractionData, from_table
from flm_bench.plugins import ALLOW_ENV, BLOCK_ENV


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own cache folder and sees no plugin allow/block list."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("flm-cache")))
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    monkeypatch.delenv(BLOCK_ENV, raising=False)


TinyData = Callable[..., InteractionData]


@pytest.fixture(scope="session")
def tiny_data() -> TinyData:
    """Factory: ``tiny_data(users, items, orders, name=..., timestamped=...)`` -> InteractionData.

    The columns become a ``datasets.Dataset`` (row order kept as given) wrapped with
    :func:`flm_bench.data.from_table`. Stateless, so session scope is safe (and lets
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

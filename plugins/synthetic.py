"""SYNTHETIC multi-domain data: the embedded default for a first run with no data at all.

Four clearly labelled synthetic domains (``synthetic-ecommerce``, ``-social``, ``-media``,
``-finance``) share one latent world: item features live in one feature space and users
follow the same kind of taste + last-item dynamics, so what a sequence model learns on the
large domains can transfer to the small ones. Nothing here is real data.

Generative story (deterministic from a seed): each item has a latent vector ``z`` (dim 8)
and observed features ``x = z P + noise`` (dim 16, ``P`` shared by all domains) plus a
popularity bias; each user has a taste ``t``. The next item is drawn without repetition
with probability ∝ ``exp(β z·(α t + (1-α) z_prev) + bias)``. Item indices are a random
permutation, so they carry no order information. ``order`` is a timestamp.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from flm_bench.api import (
    CorpusSpec,
    DataLocation,
    DatasetSpec,
    Domain,
    InteractionData,
    build_table,
    from_table,
    hookimpl,
)

GENERATOR_VERSION = 1
LATENT, FEATURES = 8, 16


@dataclass(frozen=True)
class DomainConfig:
    """Size and dynamics of one synthetic domain."""

    domain: Domain
    n_users: int
    n_items: int
    mean_length: float
    seed: int
    taste_weight: float = 0.6  # α: long-term taste vs. the last item
    sharpness: float = 2.5  # β


DOMAINS = {
    "ecommerce": DomainConfig("ecommerce", 3000, 1200, 20, seed=11),
    "social": DomainConfig("social", 3000, 1200, 20, seed=12),
    "media": DomainConfig("media", 1500, 1500, 6, seed=13),
    "finance": DomainConfig("finance", 1200, 800, 6, seed=14),
}
WORLD_SEED = 2024


def _world() -> np.ndarray:
    """The projection from latent item vectors to observed features, shared by all domains."""
    return np.random.default_rng(WORLD_SEED).normal(size=(LATENT, FEATURES)) / np.sqrt(LATENT)


def generate(cfg: DomainConfig) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Interaction columns and item features ``[n_items, 16]`` for one domain."""
    rng = np.random.default_rng(cfg.seed)
    z = rng.normal(size=(cfg.n_items, LATENT))
    features = (z @ _world() + 0.1 * rng.normal(size=(cfg.n_items, FEATURES))).astype(np.float32)
    bias = rng.normal(scale=0.5, size=cfg.n_items)
    taste = rng.normal(size=(cfg.n_users, LATENT)) / np.sqrt(LATENT)
    lengths = np.minimum(5 + rng.poisson(cfg.mean_length - 5, cfg.n_users), cfg.n_items // 2)
    seen = np.zeros((cfg.n_users, cfg.n_items), dtype=bool)
    prev = taste.copy()
    steps = []
    for t in range(int(lengths.max())):
        active = lengths > t
        context = cfg.taste_weight * taste + (1 - cfg.taste_weight) * prev
        logits = cfg.sharpness * context @ z.T + bias
        logits[seen] = -np.inf
        gumbel = rng.gumbel(size=logits.shape)
        choice = np.argmax(logits + gumbel, axis=1)
        rows = np.flatnonzero(active)
        seen[rows, choice[rows]] = True
        prev = np.where(active[:, None], z[choice] / np.sqrt(LATENT), prev)
        steps.append((rows, choice[rows], t))
    user = np.concatenate([r for r, _, _ in steps])
    item_latent = np.concatenate([c for _, c, _ in steps])
    position = np.concatenate([np.full(len(r), t) for r, _, t in steps])
    start = rng.integers(0, 1_000_000, cfg.n_users)  # users arrive at different times
    order = start[user] + 3600 * position + rng.integers(0, 3600, len(user))
    relabel = rng.permutation(cfg.n_items)  # item index carries no order information
    inverse = np.empty_like(relabel)
    inverse[relabel] = np.arange(cfg.n_items)
    columns = {
        "user": user.astype(np.int64),
        "item": relabel[item_latent].astype(np.int64),
        "order": order.astype(np.int64),
    }
    return columns, features[inverse]


def load(name: str) -> InteractionData:
    """Generate (or read from the cache) the synthetic dataset ``synthetic-<domain>``."""
    cfg = DOMAINS[name.removeprefix("synthetic-")]
    key = {"name": name, "generator": GENERATOR_VERSION, **asdict(cfg)}

    def make() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        columns, features = generate(cfg)
        return columns, {"item_features": features}

    table, side = build_table(key, make)
    return from_table(name, cfg.domain, table, timestamped=True, side=side, synthetic=True)


def _generated(name: str, location: DataLocation) -> InteractionData:
    """``load`` of a synthetic dataset: generated, so there are no files to look for."""
    return load(name)


@hookimpl
def flm_bench_register_datasets(register):
    for domain, cfg in DOMAINS.items():
        register(
            DatasetSpec(
                name=f"synthetic-{domain}",
                domain=cfg.domain,
                load=functools.partial(_generated, f"synthetic-{domain}"),
                description=f"SYNTHETIC {domain}: {cfg.n_users} users, {cfg.n_items} items (generated, not real data)",
                synthetic=True,
            )
        )


@hookimpl
def flm_bench_register_corpora(register):
    register(
        CorpusSpec(
            name="synthetic-general",
            datasets=("synthetic-ecommerce", "synthetic-social"),
            description="SYNTHETIC general data: the two large synthetic domains",
        )
    )
    register(
        CorpusSpec(
            name="synthetic-all",
            datasets=tuple(f"synthetic-{d}" for d in DOMAINS),
            description="SYNTHETIC: every synthetic domain (a target is excluded automatically)",
        )
    )

"""What a target may pretrain on: its corpus without the target, without every dataset of the
target's source family (the same raw data under another preprocessing, or another crawl of the
same site), so pretraining never sees the target's interactions, and without every dataset whose
raw user or item ids demonstrably overlap the target's where the ids are comparable (both declare
the same id space, e.g. Amazon reviewer ids): the same people or products under another name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from flm_bench.errors import ConfigError, DataError
from flm_bench.registry import Registry
from flm_bench.specs import CorpusSpec, DatasetSpec


@dataclass(frozen=True)
class CorpusUse:
    """A corpus as one target uses it."""

    name: str  # the corpus, or "<corpus>-minus-<target>" when members were excluded
    members: tuple[str, ...]  # what is pretrained on
    excluded: dict[str, str] = field(default_factory=dict)  # dataset -> why it was left out


def family_of(name: str, datasets: Registry[DatasetSpec]) -> str:
    """The source family of dataset ``name`` (its own name when no plugin registers it)."""
    return datasets.get(name).source_family if name in datasets else name


#: A dataset's raw ``(user ids, item ids)`` by name (side data ``user_ids`` / ``item_ids``, None where
#: it has none), or None when the dataset cannot be read here (its overlaps then go unchecked).
RawIds = Callable[[str], "tuple[np.ndarray | None, np.ndarray | None] | None"]


def overlap(member: str, target: str, datasets: Registry[DatasetSpec], ids: RawIds) -> str:
    """What ``member`` shares with ``target`` in the id spaces both declare ("" for nothing)."""
    if member not in datasets or target not in datasets:
        return ""
    ours, theirs = datasets.get(target), datasets.get(member)
    spaces = [
        (i, kind, space)
        for i, kind, space, other in (
            (0, "users", ours.user_id_space, theirs.user_id_space),
            (1, "items", ours.item_id_space, theirs.item_id_space),
        )
        if space and space == other
    ]
    if not spaces or (own_ids := ids(target)) is None or (other_ids := ids(member)) is None:
        return ""
    shared = []
    for i, kind, space in spaces:
        own, other = _raw(target, own_ids[i], kind), _raw(member, other_ids[i], kind)
        common = np.intersect1d(own, other)
        if len(common):
            shared.append(f"{len(common):,} of the target's {len(own):,} {kind} ({space} ids)")
    return f"shares {' and '.join(shared)}" if shared else ""


def _raw(name: str, ids: np.ndarray | None, kind: str) -> np.ndarray:
    """The distinct raw ids of one kind, as strings; a dataset that declared the space must have them."""
    if ids is None:
        raise DataError(f"dataset {name!r} declares an id space for its {kind} but its data has no raw {kind[:-1]} ids")
    return np.unique(ids.astype(str))


def left_out(
    corpus: CorpusSpec, target: str, datasets: Registry[DatasetSpec], ids: RawIds | None = None
) -> dict[str, str]:
    """The members of ``corpus`` that ``target`` may not pretrain on, each with the reason; id
    overlap is checked only when ``ids`` can read the datasets' raw ids."""
    family = family_of(target, datasets)
    reasons = {}
    for member in corpus.datasets:
        if member == target:
            reasons[member] = "the target"
        elif family_of(member, datasets) == family:
            reasons[member] = f"same source family as the target ({family})"
        elif ids is not None and (shared := overlap(member, target, datasets, ids)):
            reasons[member] = shared
    return reasons


def corpus_for(
    corpus: CorpusSpec, target: str, datasets: Registry[DatasetSpec], ids: RawIds | None = None
) -> CorpusUse:
    """``corpus`` without what :func:`left_out` names; a corpus left empty is an error."""
    excluded = left_out(corpus, target, datasets, ids)
    members = tuple(d for d in corpus.datasets if d not in excluded)
    if not members:
        raise ConfigError(
            f"corpus {corpus.name!r} holds nothing {target!r} may pretrain on: "
            + "; ".join(f"{m}: {why}" for m, why in excluded.items())
        )
    return CorpusUse(f"{corpus.name}-minus-{target}" if excluded else corpus.name, members, excluded)


def exclusions(
    corpus: CorpusSpec, datasets: Registry[DatasetSpec], ids: RawIds | None = None
) -> dict[str, dict[str, str]]:
    """For every registered dataset as target: what ``corpus`` leaves out for it, and why."""
    return {e.spec.name: reasons for e in datasets if (reasons := left_out(corpus, e.spec.name, datasets, ids))}

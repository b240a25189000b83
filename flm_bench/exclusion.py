"""What a target may pretrain on: its corpus without the target and without every dataset of the
target's source family (the same raw data under another preprocessing, or another crawl of the
same site), so pretraining never sees the target's interactions."""

from __future__ import annotations

from dataclasses import dataclass, field

from flm_bench.errors import ConfigError
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


def left_out(corpus: CorpusSpec, target: str, datasets: Registry[DatasetSpec]) -> dict[str, str]:
    """The members of ``corpus`` that ``target`` may not pretrain on, each with the reason."""
    family = family_of(target, datasets)
    reasons = {}
    for member in corpus.datasets:
        if member == target:
            reasons[member] = "the target"
        elif family_of(member, datasets) == family:
            reasons[member] = f"same source family as the target ({family})"
    return reasons


def corpus_for(corpus: CorpusSpec, target: str, datasets: Registry[DatasetSpec]) -> CorpusUse:
    """``corpus`` without ``target`` and its source family; a corpus left empty is an error."""
    excluded = left_out(corpus, target, datasets)
    members = tuple(d for d in corpus.datasets if d not in excluded)
    if not members:
        raise ConfigError(f"corpus {corpus.name!r} holds nothing but the target {target!r} and its source family")
    return CorpusUse(f"{corpus.name}-minus-{target}" if excluded else corpus.name, members, excluded)


def exclusions(corpus: CorpusSpec, datasets: Registry[DatasetSpec]) -> dict[str, dict[str, str]]:
    """For every registered dataset as target: what ``corpus`` leaves out for it, and why."""
    return {e.spec.name: reasons for e in datasets if (reasons := left_out(corpus, e.spec.name, datasets))}

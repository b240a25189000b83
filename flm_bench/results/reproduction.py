"""Like-for-like reproduction: the rules a published result was measured under, and whether a
record was measured under the same ones (only then is "ours / published" a reproduction ratio)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from flm_bench.results.records import Record

#: The loss a model's record used when its parameters do not name one (every model's default).
DEFAULT_LOSS = "ce"


class ReferenceRules(BaseModel):
    """The rules a published result was measured under, as far as its source says (``None``: not
    stated); a reproduction ratio is only taken against records measured under the same rules."""

    model_config = ConfigDict(extra="forbid")

    exclude_history: bool | None = Field(description="whether the user's history items were kept out of the ranking")
    loss: str | None = Field(description="ce (cross-entropy over the catalogue) or bce (sampled negatives)")
    negatives: int | None = Field(None, description="sampled negatives per position under bce")
    max_len: int | None = Field(description="items of a history the model reads")
    dim: int | None = Field(description="hidden dimension")
    source: str = Field(description="where each rule is read from")


def record_rules(record: Record) -> dict[str, object]:
    """The same rules, as ``record`` was measured (this harness's ``bce`` draws one negative)."""
    params = record.model.parameters
    loss = params.get("loss", DEFAULT_LOSS)
    return {
        "exclude_history": record.evaluation.exclude_history,
        "loss": loss,
        "negatives": 1 if loss == "bce" else None,
        "max_len": params.get("max_len"),
        "dim": params.get("dim"),
    }


def differences(rules: ReferenceRules | None, record: Record) -> list[str]:
    """Each rule on which ``record`` differs from ``rules`` or that the source does not state,
    e.g. ``"exclude_history: published False, ours True"``; empty means like for like."""
    if rules is None:
        return ["the source states no rules"]
    published = rules.model_dump(exclude={"source"})
    ours = record_rules(record)
    out = []
    for name, theirs in published.items():
        if name == "negatives" and not rules.loss == ours["loss"] == "bce":
            continue  # negatives only count under bce, and a loss that differs is said already
        if theirs is None:
            out.append(f"{name}: not stated by the source")
        elif theirs != ours[name]:
            out.append(f"{name}: published {theirs}, ours {ours[name]}")
    return out

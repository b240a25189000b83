"""What ``flm-bench tune`` chose for a cell: the :class:`Tuning` a record carries, and the ``[[tuned]]``
entry (:class:`TunedCell`) of a suite or overlay that re-applies it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrialCounts(_Strict):
    """How a study's trials ended (``run`` = ``complete`` + ``pruned`` + ``failed``)."""

    run: int = Field(ge=0)
    complete: int = Field(ge=0)
    pruned: int = Field(ge=0)
    failed: int = Field(ge=0)


class Tuning(_Strict):
    """Parameters ``flm-bench tune`` chose for a cell on validation, and the study they come from."""

    model_params: dict[str, Any] = Field(default_factory=dict, description="overrides of the model's parameters")
    training: dict[str, Any] = Field(default_factory=dict, description="overrides of [training] (learning rate, …)")
    strategy_params: dict[str, Any] = Field(
        default_factory=dict, description="overrides of the strategy's parameters (e.g. the adapter's rank)"
    )
    study: str = Field(description="the Optuna study's name")
    best_trial: int = Field(ge=0, description="number of the study's best trial")
    best_value: float = Field(description="its best validation value (valid_metric; never the test split)")
    valid_metric: str
    search_space: str = Field(description="sha256 prefix of the search space the study drew from")
    trials: TrialCounts

    def identity(self) -> dict[str, Any]:
        """What enters the record id: every field, ``strategy_params`` only when it overrides any (the
        ids of cells tuned before strategies had parameters stay what they were)."""
        return self.model_dump(exclude=None if self.strategy_params else {"strategy_params"})


class TunedCell(Tuning):
    """A ``[[tuned]]`` entry: the :class:`Tuning` of one tuning cell (every seed of it)."""

    dataset: str
    model: str
    strategy: str
    corpus: str = Field("", description='pretraining corpus; "" for a cell without one (TOML has no null)')

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.dataset, self.model, self.strategy, self.corpus)

    def tuning(self) -> Tuning:
        """The entry without its cell's names (what a record carries)."""
        return Tuning.model_validate(self.model_dump(include=set(Tuning.model_fields)))

"""Typed model parameters: what a model accepts, with defaults, allowed ranges and a search space.

A model plugin declares a subclass of :class:`ModelParams` on its ``ModelSpec``; suites
(``[model_params.NAME]``) and ``--param NAME.FIELD=VALUE`` are validated against it, so an
unknown or out-of-range parameter is one line naming the model, the field and what is allowed::

    class MyParams(ModelParams):
        dim: int = tunable(64, "embedding width", ge=8, le=1024, search=Search(choices=(32, 64, 128)))
        dropout: float = tunable(0.2, "dropout", ge=0, lt=1, search=Search(low=0.0, high=0.5))
        loss: Literal["ce", "bce"] = "ce"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flm_bench.errors import ConfigError
from flm_bench.validation import problem


@dataclass(frozen=True)
class Search:
    """One dimension of a parameter's search space: ``choices``, or a ``low``..``high`` range
    (sampled on a log scale when ``log``)."""

    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False

    def __post_init__(self) -> None:
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError("a Search has either choices or both low and high")


def tunable(default: Any, description: str, *, search: Search, **constraints: Any) -> Any:
    """A parameter field with a search space (``constraints``: pydantic's ``ge``, ``le``, ``gt``, ``lt``)."""
    return Field(default, description=description, json_schema_extra={"search": asdict(search)}, **constraints)


class ModelParams(BaseModel):
    """Base class of a model's parameters: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def search_space(cls) -> dict[str, Search]:
        """Field name -> its search dimension, for the fields declared with :func:`tunable`."""
        out = {}
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra
            search = extra.get("search") if isinstance(extra, dict) else None
            if isinstance(search, dict):
                spec: dict[str, Any] = dict(search)
                if spec.get("choices") is not None:
                    spec["choices"] = tuple(spec["choices"])
                out[name] = Search(**spec)
        return out


class NoParams(ModelParams):
    """A model without parameters."""


def parse_params(model: str, cls: type[ModelParams], raw: Mapping[str, Any]) -> ModelParams:
    """``raw`` validated as ``cls``; the first problem is a one-line :class:`ConfigError`."""
    try:
        return cls.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(problem(f"model {model!r}", cls, exc)) from None

"""Typed model and strategy parameters: what a model (or strategy) accepts, with defaults, allowed
ranges and a search space.

A model plugin declares a subclass of :class:`ModelParams` on its ``ModelSpec``, a strategy plugin one
of :class:`StrategyParams` on its ``StrategySpec``; suites (``[model_params.NAME]``,
``[strategy_params.NAME]``) and ``--param NAME.FIELD=VALUE`` are validated against it, so an
unknown or out-of-range parameter is one line naming the model, the field and what is allowed::

    class MyParams(ModelParams):
        dim: int = tunable(64, "embedding width", ge=8, le=1024, search=Search(choices=(32, 64, 128)))
        dropout: float = tunable(0.2, "dropout", ge=0, lt=1, search=Search(low=0.0, high=0.5))
        loss: Literal["ce", "bce"] = "ce"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

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


def added(default: Any, description: str, **constraints: Any) -> Any:
    """A parameter field added after records were published, whose ``default`` reproduces the
    behaviour from before it: at that default it is left out of :meth:`ModelParams.identity`, so the
    record ids and checkpoint keys made before the field existed stay what they were."""
    return Field(default, description=description, json_schema_extra={"added": True}, **constraints)


class ModelParams(BaseModel):
    """Base class of a model's parameters: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def identity(self) -> dict[str, Any]:
        """The parameters that name a record or a checkpoint (and that a record holds): all fields,
        less those declared with :func:`added` while they hold their default."""
        fields = type(self).model_fields
        return {
            name: value
            for name, value in self.model_dump().items()
            if not (_marks(fields[name]).get("added") is True and value == fields[name].default)
        }

    @classmethod
    def search_space(cls) -> dict[str, Search]:
        """Field name -> its search dimension, for the fields declared with :func:`tunable`."""
        out = {}
        for name, info in cls.model_fields.items():
            search = _marks(info).get("search")
            if isinstance(search, dict):
                spec: dict[str, Any] = dict(search)
                if spec.get("choices") is not None:
                    spec["choices"] = tuple(spec["choices"])
                out[name] = Search(**spec)
        return out


def _marks(info: FieldInfo) -> dict[str, Any]:
    """What :func:`tunable` or :func:`added` put on a field (its ``json_schema_extra``), or nothing."""
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


class NoParams(ModelParams):
    """A model without parameters."""


class StrategyParams(ModelParams):
    """Base class of a strategy's parameters (itself: a strategy without parameters).

    :meth:`bounds` gives the largest value of a field that a built model allows (e.g. how many
    encoder blocks it has); the harness checks it when the strategy builds the model, and tuning
    caps the search space by it.
    """

    @classmethod
    def bounds(cls, model: Any) -> dict[str, int]:
        """Field -> the largest value ``model`` (a built neural model) allows; none by default."""
        return {}


ParamsT = TypeVar("ParamsT", bound=ModelParams)


def parse_params(name: str, cls: type[ParamsT], raw: Mapping[str, Any], kind: str = "model") -> ParamsT:
    """``raw`` validated as ``cls`` (the parameters of the ``kind`` ``name``); the first problem is a
    one-line :class:`ConfigError`."""
    try:
        return cls.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(problem(f"{kind} {name!r}", cls, exc)) from None

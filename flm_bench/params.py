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
from typing import Any, Literal, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flm_bench.errors import ConfigError


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
            if isinstance(extra, dict) and isinstance(extra.get("search"), dict):
                spec = dict(extra["search"])
                if spec.get("choices") is not None:
                    spec["choices"] = tuple(spec["choices"])
                out[name] = Search(**spec)
        return out


class NoParams(ModelParams):
    """A model without parameters."""


def allowed(cls: type[ModelParams], name: str) -> str:
    """What field ``name`` accepts, in words: its type, choices and range."""
    info = cls.model_fields[name]
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(annotation))
    kind = getattr(annotation, "__name__", str(annotation))
    bounds = []
    for m in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(m, getattr(at, attr.capitalize())):
                bounds.append(f"{sign} {getattr(m, attr)}")
    return f"{kind}" + (f" {' and '.join(bounds)}" if bounds else "")


def parse_params(model: str, cls: type[ModelParams], raw: Mapping[str, Any]) -> ModelParams:
    """``raw`` validated as ``cls``; the first problem is a one-line :class:`ConfigError`."""
    try:
        return cls.model_validate(dict(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "(all)"
        if error["type"] == "extra_forbidden":
            raise ConfigError(f"model {model!r}: unknown parameter {field!r}; "
                              f"expected one of {sorted(cls.model_fields)}") from None
        what = f"; allowed: {allowed(cls, field)}" if field in cls.model_fields else ""
        raise ConfigError(f"model {model!r}: parameter {field!r} = {error.get('input')!r}: {error['msg']}{what}") from None

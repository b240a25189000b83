"""One-line descriptions of what a typed parameter set accepts, and of why a value was refused.

Model parameters (:mod:`flm_bench.params`) and split parameters (:mod:`flm_bench.data.splits`)
are pydantic models; a bad value is reported as one line naming the field, the value and what
the field allows, e.g. ``parameter 'dim' = 0: Input should be greater than or equal to 1;
allowed: an integer >= 1``.
"""

from __future__ import annotations

from typing import Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def allowed(model: type[BaseModel], name: str) -> str:
    """What field ``name`` of ``model`` accepts, in words: ``a number in (0, 1)``, ``one of 'a', 'b'``."""
    info = model.model_fields[name]
    if get_origin(info.annotation) is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(info.annotation))
    kind = _KINDS.get(info.annotation, str(info.annotation))  # type: ignore[arg-type]
    bounds = {b: getattr(m, b) for m in info.metadata for b in _BOUNDS if hasattr(m, b)}
    low = next((b for b in ("gt", "ge") if b in bounds), None)
    high = next((b for b in ("lt", "le") if b in bounds), None)
    if low and high:
        return f"{kind} in {'(' if low == 'gt' else '['}{bounds[low]}, {bounds[high]}{')' if high == 'lt' else ']'}"
    return " ".join([kind] + [f"{_BOUNDS[b]} {v}" for b, v in bounds.items()])


def problem(what: str, model: type[BaseModel], exc: ValidationError) -> str:
    """The first error of ``exc`` (raised validating ``model``) on one line, prefixed by ``what``."""
    error = exc.errors()[0]
    name = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        known = sorted(model.model_fields)
        return f"{what}: unknown parameter {name!r}; " + (f"expected one of {known}" if known else "it takes none")
    if name in model.model_fields:
        return f"{what}: parameter {name!r} = {error.get('input')!r}: {error['msg']}; allowed: {allowed(model, name)}"
    return f"{what}: {error['msg'].removeprefix('Value error, ')}"

"""The generic validation step, shared by hw, workload, sweep and claims schemas: data in,
pydantic model out, or exactly one ConfigError."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from closim.config.errors import did_you_mean, single_line_errors, translate
from closim.engines.registry import engine_names
from closim.model.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_default=False)
"""The model config of every closim schema: unknown keys are errors, YAML types are taken as
written (``true`` is not 1, ``64.5`` is not an integer), NaN and infinity are rejected."""


class Schema(BaseModel):
    """Base class of closim's config schemas (see ``STRICT``)."""

    model_config = STRICT


@single_line_errors
def validate(model_cls: type[M], data: Any, source: str | None = None) -> M:
    """``data`` validated as ``model_cls``; a failure is one ConfigError placed in ``source``."""
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise translate(exc, model_cls).located(source=source) from None
    except RecursionError:
        raise ConfigError("nested too deeply (got a recursive value)", source=source) from None


# Bounds keep every derived quantity a finite float (no overflow, no denormals): an integer up to
# 2**53 converts to float exactly, a float is taken between 1e-9 and 1e15.
MAX_INT = 2**53
MIN_POSITIVE = 1e-9
MAX_FLOAT = 1e15
PositiveInt = Annotated[int, Field(gt=0, le=MAX_INT)]
PositiveFloat = Annotated[float, Field(ge=MIN_POSITIVE, le=MAX_FLOAT)]
NonNegativeFloat = Annotated[float, Field(ge=0, le=MAX_FLOAT)]
Text = Annotated[str, Field(max_length=10_000)]


def known_engine(engine: str) -> str:
    """``engine`` if it is a registered engine's name; else a ValueError naming the choices (a
    pydantic field validator's message)."""
    names = engine_names()
    if engine not in names:
        near = did_you_mean(engine, names)
        hint = f"; did you mean {near!r}?" if near else ""
        raise ValueError(f"expected one of {', '.join(names)}{hint}")
    return engine

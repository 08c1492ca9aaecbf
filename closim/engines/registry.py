"""The one list of engines: the CLI's ``--engine`` choices, the sweep and claim schemas and
``closim.api`` all read it. Adding an engine is a module with an ``ENGINE`` object and one line
here (or a call to :func:`register` from a user's code)."""

from __future__ import annotations

from closim.engines import analytic, des
from closim.engines.base import Engine
from closim.model.errors import ConfigError

_ENGINES: dict[str, Engine] = {
    des.ENGINE.name: des.ENGINE,
    analytic.ENGINE.name: analytic.ENGINE,
}


def engine_names() -> tuple[str, ...]:
    """Names of the registered engines, the default (``des``) first."""
    return tuple(_ENGINES)


def get_engine(name: str) -> Engine:
    """The engine called ``name``; a ConfigError naming the choices if there is none."""
    try:
        return _ENGINES[name]
    except KeyError:
        choices = ", ".join(_ENGINES)
        raise ConfigError(f"unknown engine, expected one of {choices} (got {name!r})") from None


def register(engine: Engine) -> None:
    """Adds ``engine`` under ``engine.name`` (replacing one of that name)."""
    _ENGINES[engine.name] = engine


def unregister(name: str) -> None:
    """Removes the engine called ``name`` (tests use it to clean up)."""
    _ENGINES.pop(name, None)

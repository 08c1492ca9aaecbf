"""Typed, located reads of one topology spec mapping; every bad value becomes a ConfigError."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from closim.model.errors import ConfigError

_REQUIRED = object()


def short_list(values: Sequence[Any], limit: int = 8) -> str:
    """``1, 2, 4, ..., 1024``: a list of valid values, elided in the middle when long."""
    shown = [str(v) for v in values]
    if len(shown) > limit:
        shown = [*shown[:3], "...", shown[-1]]
    return ", ".join(shown)


def divisors(n: int) -> list[int]:
    """All positive divisors of ``n``, ascending."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


def is_int(value: object) -> bool:
    """True for Python and NumPy integers, False for bools (YAML ``yes`` is not a size)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class SpecReader:
    """Reads keys of one spec mapping; errors carry ``key_path`` ``<prefix>.<key>``.

    ``prefix`` is where the mapping sits in a config (``topology``, ``topology.like``,
    ``topology.stages.2``); the config loader later prepends the layer's own path.
    """

    def __init__(self, raw: Mapping[str, Any], prefix: str) -> None:
        self.raw = raw
        self.prefix = prefix

    def path(self, key: str) -> str:
        """The dotted key path of ``key`` in this mapping."""
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, key: str, message: str, got: object) -> ConfigError:
        """A ConfigError at ``key``: ``message (got <got>)``."""
        return ConfigError(f"{message} (got {got!r})", key_path=self.path(key))

    def has(self, key: str) -> bool:
        """Whether the spec gives ``key`` (a YAML null counts as not given)."""
        return self.raw.get(key) is not None

    def check_keys(self, where: str, allowed: Sequence[str]) -> None:
        """Reject any key not in ``allowed`` (naming them); ``where`` names the mapping."""
        for key in self.raw:
            if key not in allowed:
                raise self.fail(
                    str(key),
                    f"unknown key {key!r} in {where} (allowed keys: {', '.join(sorted(allowed))})",
                    key,
                )

    def positive_int(self, key: str, default: Any = _REQUIRED, *, what: str = "") -> Any:
        """The integer at ``key`` (>= 1); ``default`` when absent, a ConfigError when required."""
        if not self.has(key):
            if default is _REQUIRED:
                raise self.fail(key, f"{key} is required{what}", self.raw.get(key))
            return default
        value = self.raw[key]
        if not is_int(value) or value < 1:
            raise self.fail(key, f"{key} must be a positive integer", value)
        return int(value)

    def non_negative_int(self, key: str, default: int) -> int:
        """The integer at ``key`` (>= 0), or ``default`` when absent."""
        if not self.has(key):
            return default
        value = self.raw[key]
        if not is_int(value) or value < 0:
            raise self.fail(key, f"{key} must be a non-negative integer", value)
        return int(value)

    def boolean(self, key: str, default: bool) -> bool:
        """The bool at ``key``, or ``default`` when absent."""
        if not self.has(key):
            return default
        value = self.raw[key]
        if not isinstance(value, bool):
            raise self.fail(key, f"{key} must be true or false", value)
        return value

    def choice(self, key: str, options: Sequence[str], default: str) -> str:
        """One of ``options`` at ``key``, or ``default`` when absent."""
        if not self.has(key):
            return default
        value = self.raw[key]
        if value not in options:
            raise self.fail(key, f"{key} must be one of: {', '.join(options)}", value)
        return str(value)

"""The configs and overrides that a claims file or a validation case names for a run: one
resolution for both, so that a path or a ``set`` entry means the same in either file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from closim.config.catalog import resolve_path
from closim.config.compose import Composed
from closim.config.errors import describe
from closim.config.overrides import parse_set_options
from closim.config.yaml_io import is_file
from closim.model.errors import ConfigError

OVERRIDE_ROOTS = ("hw", "workload")
"""The configs a run's ``set`` may override."""


def config_file(
    value: str, kind: str, composed: Composed, key: tuple[str, ...], source: str
) -> Path:
    """The ``kind`` config (hw, workload) that ``value`` names at ``key`` of the file ``source``:
    relative to the file that wrote it (an included file keeps its own folder), else bundled; a
    name that is neither is a ConfigError at ``key``."""
    near = Path(composed.origin(key)).parent / value
    if is_file(near):
        return near
    try:
        return resolve_path(value, kind)
    except ConfigError as err:
        raise ConfigError(err.message, source=source, key_path=".".join(key)) from None


def run_overrides(
    given: list[str] | dict[str, Any],
    source: str,
    key: str,
    roots: Sequence[str] = OVERRIDE_ROOTS,
    run: str = "this run",
) -> dict[str, dict[str, Any]]:
    """A run's ``set`` (a list of ``PATH=VALUE`` or a mapping of paths to values) as
    {root: {path-without-root: value}} for both roots; an entry that is malformed, or under a
    root not in ``roots``, is a ConfigError at ``key`` of ``source`` (``run`` names the run in
    that message)."""
    try:
        if isinstance(given, list):
            sections = parse_set_options(given)
        else:
            sections = {root: {} for root in OVERRIDE_ROOTS}
            for path, value in given.items():
                root, _, rest = str(path).partition(".")
                if root not in sections or not rest:
                    raise ConfigError(
                        f"a path starts with hw. or workload. and names a key below it "
                        f"(got {describe(path)})"
                    )
                sections[root][rest] = value
    except ConfigError as err:
        raise ConfigError(err.message, source=source, key_path=key) from None
    for root, section in sections.items():
        if section and root not in roots:
            path = next(iter(section))
            only = " and ".join(roots)
            raise ConfigError(
                f"{run} takes {only} overrides only (got {root}.{path})",
                source=source,
                key_path=key,
            )
    return sections


def relocated(err: ConfigError, source: str, key: str) -> ConfigError:
    """An override's error (source ``--set``) placed at the run's ``set``, ``key`` of the file
    ``source``; an error in a config file itself keeps its own location."""
    if err.source != "--set":
        return err
    inner = f"{err.key_path}: " if err.key_path else ""
    return ConfigError(f"{inner}{err.message}", source=source, key_path=key)

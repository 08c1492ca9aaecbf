"""Composing config data: ``extends`` chains and overrides, merged deeply, each value's origin kept.

A file may name ``extends: other.yaml`` (relative to itself). Its keys override the parent's:
mappings merge key by key, except at the paths matched by ``replace_whole`` (a workload layer's
``topology``), whose value replaces the parent's entirely, so that clos ``r``/``m`` never leak into
a monarch override. The origin of every value (which file, or ``--set``) is remembered so that
an error points at the file that wrote the bad value.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from closim.config.errors import describe, single_line_errors
from closim.config.yaml_io import display_path, is_file, load_yaml_file, resolved
from closim.model.errors import ConfigError

EXTENDS_KEY = "extends"
MAX_EXTENDS_DEPTH = 32
SET_ORIGIN = "--set"

KeyPath = tuple[str, ...]
Pattern = tuple[str, ...]  # a key path where "*" matches any one key


@dataclass
class Composed:
    """Merged data of a file and its ancestors, with the origin of every value."""

    data: dict[str, Any]
    top: str
    files: tuple[str, ...]  # the file itself first, then what it extends, transitively
    origins: dict[KeyPath, str] = field(default_factory=dict)

    def origin(self, key_path: KeyPath) -> str:
        """The file (or ``--set``) that wrote the value at ``key_path`` or the nearest mapping
        above it; the top file when none did (a key missing everywhere)."""
        return self.find_origin(key_path) or self.top

    def find_origin(self, key_path: KeyPath) -> str | None:
        """Like ``origin``, but None when nothing on ``key_path`` was written by any file."""
        for n in range(len(key_path), 0, -1):
            found = self.origins.get(key_path[:n])
            if found is not None:
                return found
        return None

    def copy(self) -> Composed:
        """An independent copy (data and origins)."""
        return Composed(copy.deepcopy(self.data), self.top, self.files, dict(self.origins))


def parse_patterns(patterns: Iterable[str]) -> tuple[Pattern, ...]:
    """``["layers.*.topology"]`` -> ``(("layers", "*", "topology"),)``."""
    return tuple(tuple(p.split(".")) for p in patterns)


def matches(path: KeyPath, patterns: Iterable[Pattern]) -> bool:
    """True when ``path`` matches one of ``patterns`` (``*`` matches any one key)."""
    return any(
        len(p) == len(path) and all(a in ("*", b) for a, b in zip(p, path, strict=True))
        for p in patterns
    )


def merge_into(
    target: dict[str, Any],
    over: Mapping[str, Any],
    *,
    origins: dict[KeyPath, str],
    origin: str,
    replace_whole: Iterable[Pattern] = (),
    path: KeyPath = (),
) -> None:
    """Deep-merges ``over`` into ``target`` in place, recording ``origin`` for what it writes."""
    replace_whole = tuple(replace_whole)
    for key, value in over.items():
        here = (*path, key)
        current = target.get(key)
        mergeable = isinstance(value, Mapping) and isinstance(current, dict)
        if mergeable and not matches(here, replace_whole):
            merge_into(
                current, value, origins=origins, origin=origin,
                replace_whole=replace_whole, path=here,
            )  # fmt: skip
            continue
        target[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)
        for stale in [p for p in origins if p[: len(here)] == here]:
            del origins[stale]
        origins[here] = origin


@single_line_errors
def compose(
    path: str | Path,
    *,
    source: str | None = None,
    replace_whole: Iterable[Pattern] = (),
    local_keys: Iterable[str] = ("name",),
) -> Composed:
    """The data of the YAML file ``path`` merged over the chain of files it ``extends``.

    ``local_keys`` are not inherited (a variant's ``name`` defaults to its own file name).
    """
    chain: list[tuple[str, dict[str, Any]]] = []
    visited: list[tuple[Path, str]] = []
    current, src = Path(path), source or display_path(path)
    while True:
        data = load_yaml_file(current, source=src)
        chain.append((src, data))
        visited.append((resolved(current), src))
        parent = data.pop(EXTENDS_KEY, None)
        if parent is None:
            break
        if not isinstance(parent, str) or not parent.strip():
            raise ConfigError(
                f"expected the path of a YAML file, relative to this one (got {describe(parent)})",
                source=src,
                key_path=EXTENDS_KEY,
            )
        nxt = resolved(current).parent / parent.strip()
        if any(resolved(nxt) == seen for seen, _ in visited):
            loop = " -> ".join([s for _, s in visited] + [display_path(nxt)])
            raise ConfigError(f"extends makes a cycle: {loop} (got {parent!r})",
                              source=src, key_path=EXTENDS_KEY)  # fmt: skip
        if len(visited) > MAX_EXTENDS_DEPTH:
            raise ConfigError(
                f"extends chain longer than {MAX_EXTENDS_DEPTH} files (got {parent!r})",
                source=src,
                key_path=EXTENDS_KEY,
            )
        if not is_file(nxt):
            raise ConfigError(
                f"no such file {display_path(nxt)} (relative to this file) (got {parent!r})",
                source=src,
                key_path=EXTENDS_KEY,
            )
        current, src = nxt, display_path(nxt)

    top = chain[0][0]
    result: dict[str, Any] = {}
    origins: dict[KeyPath, str] = {}
    patterns = tuple(replace_whole)
    for file_src, data in reversed(chain):
        merge_into(result, data, origins=origins, origin=file_src, replace_whole=patterns)
    for key in local_keys:
        if key not in chain[0][1]:
            result.pop(key, None)
            origins.pop((key,), None)
    return Composed(result, top, tuple(s for s, _ in chain), origins)

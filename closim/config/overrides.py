"""Overrides by dotted path: ``--set hw.pe_array.rows=64`` on the command line, sweep axes, and
the ``overrides`` argument of the loaders. An override is applied like a one-key child file
(mappings merge, a layer's topology is replaced whole) and errors it causes name ``--set``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from closim.config.compose import SET_ORIGIN, Composed, KeyPath, Pattern, merge_into
from closim.config.errors import describe, single_line_errors
from closim.config.yaml_io import parse_yaml_text
from closim.model.errors import ConfigError

ROOTS = ("hw", "workload")


def split_path(path: object, *, where: str = SET_ORIGIN) -> KeyPath:
    """``"hw.pe_array.rows"`` -> ``("hw", "pe_array", "rows")``; empty keys are errors."""
    if not isinstance(path, str):
        raise ConfigError(f"a config path is dotted text (got {describe(path)})", source=where)
    parts = tuple(p.strip() for p in path.strip().split("."))
    if not path.strip() or any(not p for p in parts):
        raise ConfigError(
            f"a config path is keys joined by dots, e.g. hw.pe_array.rows (got {path!r})",
            source=where,
        )
    return parts


@single_line_errors
def parse_set_options(values: Iterable[str] | None) -> dict[str, dict[str, object]]:
    """``["hw.pe_array.rows=64", "workload.batch=8"]`` -> ``{"hw": {"pe_array.rows": 64},
    "workload": {"batch": 8}}``: paths without their root, values parsed as YAML, in order (a
    path given twice keeps the last value)."""
    result: dict[str, dict[str, object]] = {root: {} for root in ROOTS}
    for item in values or ():
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(
                "expected PATH=VALUE, e.g. hw.pe_array.rows=64 or "
                "'workload.layers.fc7.topology={kind: clos, r: 32, m: 32}' "
                f"(got {describe(item)})",
                source=SET_ORIGIN,
            )
        path, _, text = item.partition("=")
        parts = split_path(path)
        if parts[0] not in ROOTS or len(parts) < 2:
            raise ConfigError(
                "a path starts with hw. or workload. and names a key below it "
                f"(got {path.strip()!r})",
                source=SET_ORIGIN,
            )
        dotted = ".".join(parts)
        try:
            value = parse_yaml_text(text, SET_ORIGIN)
        except ConfigError as err:
            inner = ".".join(p for p in (dotted, err.key_path) if p)
            raise ConfigError(
                f"the value is not valid YAML: {err.message}", source=SET_ORIGIN, key_path=inner
            ) from None
        section = result[parts[0]]
        rest = ".".join(parts[1:])
        section.pop(rest, None)  # re-insert: the last value of a path is applied last
        section[rest] = value
    return result


@single_line_errors
def normalize_overrides(overrides: Mapping[str, object] | None, root: str) -> dict[KeyPath, object]:
    """Overrides for a ``root`` file ("hw" or "workload") as key paths relative to the file.

    Accepts ``{"pe_array.rows": 64}``, ``{"hw.pe_array.rows": 64}`` and the sectioned output of
    ``parse_set_options`` (``{"hw": {...}, "workload": {...}}``, only ``root``'s part is used).
    """
    if not overrides:
        return {}
    if not isinstance(overrides, Mapping):
        raise ConfigError(
            f"overrides are a mapping of dotted paths to values (got {describe(overrides)})",
            source=SET_ORIGIN,
        )
    if set(overrides) <= set(ROOTS) and all(isinstance(v, Mapping) for v in overrides.values()):
        overrides = overrides.get(root) or {}
    result: dict[KeyPath, object] = {}
    for path, value in overrides.items():
        parts = split_path(path)
        if parts[0] == root:
            parts = parts[1:]
        elif parts[0] in ROOTS:
            raise ConfigError(
                f"applies to a {parts[0]} config, not to a {root} config (got {describe(value)})",
                source=SET_ORIGIN,
                key_path=".".join(parts),
            )
        if not parts:
            raise ConfigError(
                f"names no key below {root} (got {path!r})", source=SET_ORIGIN, key_path=root
            )
        result.pop(parts, None)
        result[parts] = value
    return result


def apply_overrides(
    composed: Composed,
    overrides: Mapping[KeyPath, object],
    *,
    root: str,
    replace_whole: Sequence[Pattern] = (),
) -> Composed:
    """A copy of ``composed`` with ``overrides`` applied in order, their origin ``--set``."""
    result = composed.copy()
    for path, value in overrides.items():
        node: Any = result.data
        for depth, key in enumerate(path[:-1]):
            here = path[: depth + 1]
            if isinstance(node, list):
                node = _list_item(node, key, root, here)
                continue
            child = node.get(key)
            if child is None:
                child = node[key] = {}
                result.origins[here] = SET_ORIGIN
            elif not isinstance(child, dict | list):
                raise ConfigError(
                    f"cannot set a key inside {key!r}, which is not a mapping "
                    f"(got {describe(child)})",
                    source=SET_ORIGIN,
                    key_path=".".join((root, *path)),
                )
            node = child
        last = path[-1]
        if isinstance(node, list):
            index = _index(node, last, root, path)
            node[index] = value
            result.origins[path] = SET_ORIGIN
        else:
            merge_into(
                node, {last: value}, origins=result.origins, origin=SET_ORIGIN,
                replace_whole=replace_whole, path=path[:-1],
            )  # fmt: skip
    return result


def _index(node: list[Any], key: str, root: str, path: KeyPath) -> int:
    if key.lstrip("-").isdigit() and -len(node) <= int(key) < len(node):
        return int(key)
    raise ConfigError(
        f"a list of {len(node)} items takes an index 0..{len(node) - 1} (got {key!r})",
        source=SET_ORIGIN,
        key_path=".".join((root, *path)),
    )


def _list_item(node: list[Any], key: str, root: str, here: KeyPath) -> Any:
    item = node[_index(node, key, root, here)]
    if not isinstance(item, dict | list):
        raise ConfigError(
            f"cannot set a key inside item {key}, which is not a mapping (got {describe(item)})",
            source=SET_ORIGIN,
            key_path=".".join((root, *here)),
        )
    return item

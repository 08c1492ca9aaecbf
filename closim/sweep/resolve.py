"""Resolving sweep points: a point's hw and workload records with its overrides, the task a
worker runs, and the point's key, the sha256 of the canonical JSON of its resolved config (the
validated hw and workload records, engine, mode, ``compare``) and closim's version: two sweeps
that reach the same config share its result, and a changed config file changes the key. A
``Resolver`` keeps recent records, since a grid repeats each setting.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

from closim.config.compose import compose
from closim.config.loader import load_hw, load_workload
from closim.model.errors import ConfigError
from closim.model.hw import Accelerator
from closim.model.version import PACKAGE_DIR, VERSION
from closim.model.workload import Workload
from closim.sweep.spec import Point, SweepSpec

_RESOLVE_CACHE_SIZE = 512  # records per root a Resolver keeps: a grid repeats each hw setting
_CLI_FILES = ("cli.py", "cli_parser.py")  # how results are printed does not change them


@dataclass(frozen=True)
class Task:
    """What a worker needs to run one point: resolved records and run settings."""

    key: str
    hw: Accelerator
    workload: Workload
    engine: str
    mode: str
    compare: bool


@dataclass
class Resolved:
    """A point with its key and either its task or the error that kept it from resolving."""

    point: Point
    key: str
    task: Task | None = None
    error: str | None = None
    config: dict[str, Any] | None = None

    @property
    def point_id(self) -> str:
        """``3f2a9c1b4d5e [hw.pe_array.rows=64]``: the key's prefix and the axes' values."""
        label = self.point.label
        return f"{self.key[:12]} [{label}]" if label else self.key[:12]


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no spaces: equal data, equal text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"not JSON data: {type(value).__name__}")


def _sha256(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def resolved_config(hw: Accelerator, workload: Workload) -> dict[str, Any]:
    """The validated hw and workload records as plain dicts (what a point's key hashes)."""
    return json.loads(
        canonical_json({"hw": dataclasses.asdict(hw), "workload": dataclasses.asdict(workload)})
    )


def model_version() -> str:
    """closim's version plus a fingerprint of its own source (every module but the CLI): a
    result computed by other code, even under the same version number, is not reused."""
    return f"{VERSION}+{_source_digest()}"


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    root = PACKAGE_DIR
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if path.name not in _CLI_FILES:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def point_key(
    hw: Accelerator, workload: Workload, engine: str, mode: str, compare: bool = False
) -> str:
    """The store key of a resolved point: sha256 (hex) of its config, run settings and closim's
    version and source fingerprint (``model_version``)."""
    return _sha256(
        {
            **resolved_config(hw, workload),
            "engine": engine,
            "mode": mode,
            "compare": compare,
            "closim": model_version(),
        }
    )


def error_text(err: BaseException) -> str:
    """One line for the store: an override's ConfigError without its ``--set`` source."""
    if isinstance(err, ConfigError):
        if err.source == "--set":
            return ": ".join(p for p in (err.key_path, err.message) if p)
        return str(err)
    return f"{type(err).__name__}: {err}"


def _key_text(hw_text: str, workload_text: str, engine: str, mode: str, compare: bool) -> str:
    """``canonical_json`` of ``point_key``'s payload, made from the records' canonical JSON texts
    (keys in sorted order), so that a sweep hashes each record's JSON once, not once per point."""
    scalars = {"closim": model_version(), "compare": compare, "engine": engine, "mode": mode}
    text = {name: json.dumps(value) for name, value in scalars.items()}
    return (
        f'{{"closim":{text["closim"]},"compare":{text["compare"]},"engine":{text["engine"]},'
        f'"hw":{hw_text},"mode":{text["mode"]},"workload":{workload_text}}}'
    )


@dataclass(frozen=True)
class _Loaded:
    """A record loaded for a sweep, as plain data and as canonical JSON (what keys hash)."""

    record: Accelerator | Workload
    plain: dict[str, Any]
    text: str


class Resolver:
    """Resolves the points of one sweep. Loading and validating a config (pydantic) costs about a
    millisecond, but a grid point differs from its neighbours in one axis, so most of its hw and
    workload records were loaded before: the last ``cache_size`` of each (or the error that a
    setting gave) are kept, keyed by the overrides. The config files are read once per setting;
    a file edited during a sweep reaches the points resolved after its setting was forgotten."""

    def __init__(self, spec: SweepSpec, cache_size: int = _RESOLVE_CACHE_SIZE):
        self.spec = spec
        self.cache_size = cache_size
        self._loaded: dict[str, OrderedDict[str, _Loaded | str]] = {
            "hw": OrderedDict(),
            "workload": OrderedDict(),
        }
        self._base_data: dict[str, Any] | None = None

    def _load(self, root: str, overrides: dict[str, Any]) -> _Loaded | str:
        """The record of ``root`` with ``overrides``, or the error text when they are rejected."""
        try:
            cache_key: str | None = canonical_json(list(overrides.items()))
        except (TypeError, ValueError):  # a value JSON cannot hold (a YAML date): not cached
            cache_key = None
        cache = self._loaded[root]
        if cache_key is not None and cache_key in cache:
            cache.move_to_end(cache_key)
            return cache[cache_key]
        loaded: _Loaded | str
        try:
            if root == "hw":
                record: Accelerator | Workload = load_hw(self.spec.hw, overrides or None)
            else:
                record = load_workload(self.spec.workload, overrides or None)
            text = canonical_json(dataclasses.asdict(record))
            loaded = _Loaded(record, json.loads(text), text)
        except ConfigError as err:
            loaded = error_text(err)  # the text, not the error: re-raising one object grows it
        if cache_key is not None:
            cache[cache_key] = loaded
            if len(cache) > self.cache_size:
                cache.popitem(last=False)
        return loaded

    def _unresolved_key(self, point: Point) -> str:
        """The key of a point that did not resolve: the base files' data and its overrides."""
        if self._base_data is None:
            self._base_data = {
                "hw": compose(self.spec.hw).data,
                "workload": compose(self.spec.workload).data,
            }
        return _sha256(
            {
                "unresolved": {
                    **self._base_data,
                    "hw_set": point.hw_set,
                    "workload_set": point.workload_set,
                },
                "engine": point.engine,
                "mode": point.mode,
                "compare": self.spec.compare,
                "closim": model_version(),
            }
        )

    def resolve(self, point: Point) -> Resolved:
        """Loads the point's hw and workload with its overrides. A value the configs reject
        makes a failed point, keyed by the base files' data and the overrides (so a fixed file
        re-runs it)."""
        hw = self._load("hw", point.hw_set)
        workload = self._load("workload", point.workload_set) if isinstance(hw, _Loaded) else hw
        if isinstance(hw, str) or isinstance(workload, str):
            error = hw if isinstance(hw, str) else workload
            return Resolved(point, self._unresolved_key(point), error=str(error))
        hw_record, workload_record = cast(Accelerator, hw.record), cast(Workload, workload.record)
        mode = point.mode or workload_record.mode
        key_text = _key_text(hw.text, workload.text, point.engine, mode, self.spec.compare)
        key = hashlib.sha256(key_text.encode()).hexdigest()
        task = Task(key, hw_record, workload_record, point.engine, mode, self.spec.compare)
        config = {"hw": hw.plain, "workload": workload.plain}
        return Resolved(point, key, task=task, config=config)


def resolve_point(spec: SweepSpec, point: Point) -> Resolved:
    """Loads the point's hw and workload with its overrides. A value the configs reject makes a
    failed point, keyed by the base files' data and the overrides (so a fixed file re-runs it).
    A sweep resolves its points with one ``Resolver``, which remembers records between points."""
    return Resolver(spec).resolve(point)

"""Sweep files: the schema, validation against the base configs, and expansion into points.

A sweep file names a base hw config and workload, optional base overrides (``set``), and axes over
dotted config paths: ``grid`` (cartesian product) and ``zip`` (lists advanced together), combined
as a product. Every axis path is checked against the base configs before anything runs (a bad path
is a ConfigError); a bad *value* only fails the points that use it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, model_validator

from closim.config.catalog import resolve_path
from closim.config.compose import Composed, parse_patterns
from closim.config.errors import describe, did_you_mean, single_line_errors
from closim.config.loader import load_hw, load_model, load_workload, resolved_config
from closim.config.validate import Schema, Text
from closim.config.yaml_io import display_path
from closim.engines.registry import engine_names
from closim.model.errors import ConfigError
from closim.model.workload import MODES

CONFIG_ROOTS = ("hw", "workload")


def run_axis_choices() -> dict[str, tuple[str, ...]]:
    """The axes that are not config keys, with their choices (engines as registered now)."""
    return {"engine": engine_names(), "mode": MODES}


"""Axes that are not config paths but arguments of ``simulate``, with their allowed values."""

MAX_POINTS = 100_000
"""The default of ``load_sweep(max_points=...)`` and ``closim sweep --max-points``: points are
expanded lazily, so a larger sweep costs no memory up front, but a typo such as 10 axes of 10
values (10^10 points) should be an error at once, not a run of years."""

AxisValues = Annotated[list[Any], Field(min_length=1)]


def _check_path(path: str, *, run_axes: bool) -> None:
    """A sweep key is ``hw.X...``, ``workload.X...`` or (axes only) ``engine`` / ``mode``."""
    parts = path.split(".")
    if run_axes and path in run_axis_choices():
        return
    if parts[0] in CONFIG_ROOTS and len(parts) > 1 and all(p.strip() for p in parts):
        return
    roots = [*CONFIG_ROOTS, *(run_axis_choices() if run_axes else ())]
    near = did_you_mean(parts[0], roots)
    hint = f"did you mean {near!r}? " if near and near != parts[0] else ""
    extra = ", or engine / mode" if run_axes else ""
    raise ConfigError(
        f"a path starts with hw. or workload. and names a key below it{extra}; {hint}"
        f"e.g. hw.pe_array.rows (got {path!r})",
        key_path=path,
    )


class SweepConfig(Schema):
    """The sweep file format (sweeps/*.yaml)."""

    name: Text | None = Field(None, description="the sweep's name (default: the file name)")
    description: Text = ""
    hw: Text = Field(description="base hw config: a path relative to the sweep file, or a name")
    workload: Text = Field(description="base workload: a path relative to the sweep file or name")
    engine: Literal["des", "analytic"] = "des"
    mode: Literal["inference", "training"] | None = None
    compare: bool = Field(False, description="also run every point with all layers dense")
    set: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, AxisValues] = Field(default_factory=dict)
    zip: dict[str, AxisValues] = Field(default_factory=dict)
    db: Text | None = Field(None, description="the SQLite store, relative to the sweep file")

    @model_validator(mode="after")
    def _axes(self) -> SweepConfig:
        for path in self.set:
            try:
                _check_path(path, run_axes=False)
            except ConfigError as err:
                raise err.located(prefix="set") from None
        for section, axes in (("grid", self.grid), ("zip", self.zip)):
            for path, values in axes.items():
                try:
                    _check_path(path, run_axes=True)
                except ConfigError as err:
                    raise err.located(prefix=section) from None
                choices = run_axis_choices().get(path)
                for i, value in enumerate(values if choices else ()):
                    if value not in choices:
                        near = did_you_mean(value, choices)
                        hint = f"; did you mean {near!r}?" if near else ""
                        raise ConfigError(
                            f"expected one of {', '.join(choices)}{hint} (got {describe(value)})",
                            key_path=f"{section}.{path}.{i}",
                        )
        both = [p for p in self.zip if p in self.grid]
        if both:
            raise ConfigError(
                f"an axis is either in grid or in zip, not in both (got {both[0]!r} in both)",
                key_path=f"zip.{both[0]}",
            )
        lengths = {path: len(values) for path, values in self.zip.items()}
        if len(set(lengths.values())) > 1:
            first = next(iter(lengths))
            odd = next(p for p, n in lengths.items() if n != lengths[first])
            raise ConfigError(
                f"zip lists advance together and need equal lengths: {first} has "
                f"{lengths[first]} values (got {lengths[odd]})",
                key_path=f"zip.{odd}",
            )
        return self


@dataclass(frozen=True)
class Point:
    """One point of a sweep: the axes' values and the overrides they give, in application order.

    ``hw_set`` / ``workload_set`` are dotted paths without their root (what ``load_hw`` takes).
    """

    index: int
    axes: dict[str, Any]
    hw_set: dict[str, Any]
    workload_set: dict[str, Any]
    engine: str
    mode: str | None

    @property
    def label(self) -> str:
        """``hw.pe_array.rows=64, workload.batch=8``: the axes' values on one line."""
        return ", ".join(f"{path}={axis_text(value)}" for path, value in self.axes.items())


def axis_text(value: Any) -> Any:
    """An axis value as a table cell: scalars as they are, mappings and lists as flow YAML
    (``{kind: clos, r: 32, m: 32}``), so that CSV and Parquet columns hold one type."""
    if isinstance(value, Mapping | list | tuple):
        text = yaml.safe_dump(
            value, default_flow_style=True, sort_keys=False, width=math.inf
        ).strip()
        return text.removesuffix("...").strip()
    return value


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: base configs (files), run settings and axes. ``len(spec)`` points."""

    name: str
    source: str
    hw: Path
    workload: Path
    engine: str
    mode: str | None
    compare: bool
    base: dict[str, dict[str, Any]]
    grid: dict[str, list[Any]]
    zip: dict[str, list[Any]]
    db: Path
    description: str = ""
    axes: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "axes", (*self.grid, *self.zip))

    @property
    def count(self) -> int:
        """The number of points, in closed form from the axes' lengths (no point is made). Unlike
        ``len()``, exact beyond ``sys.maxsize`` (where ``len`` raises OverflowError)."""
        zipped = len(next(iter(self.zip.values()))) if self.zip else 1
        return math.prod(len(v) for v in self.grid.values()) * zipped

    def __len__(self) -> int:
        return self.count

    def points(self) -> Iterator[Point]:
        """Every point, grid axes varying slowest-first in file order, the zip innermost. Lazy:
        one point is made at a time, so the first comes at once whatever the sweep's size."""
        # product() takes each of its inputs as a tuple, so the grid's rows are one product
        # (of the axes' lists) and the zip rows a loop inside it: product(grid_rows, zip_rows)
        # would hold every grid row in memory before the first point
        zip_rows = list(zip(*self.zip.values(), strict=True)) if self.zip else [()]
        index = 0
        for g in itertools.product(*self.grid.values()):
            grid_axes = dict(zip(self.grid, g, strict=True))
            for z in zip_rows:
                yield self.point(index, grid_axes | dict(zip(self.zip, z, strict=True)))
                index += 1

    def point(self, index: int, axes: Mapping[str, Any]) -> Point:
        """The point with these axis values (base overrides first, then the axes in order)."""
        sets: dict[str, dict[str, Any]] = {root: dict(self.base[root]) for root in CONFIG_ROOTS}
        engine, mode = self.engine, self.mode
        for path, value in axes.items():
            if path == "engine":
                engine = value
            elif path == "mode":
                mode = value
            else:
                root, _, rest = path.partition(".")
                sets[root].pop(rest, None)  # re-insert: an axis applies after the base value
                sets[root][rest] = value
        return Point(index, dict(axes), sets["hw"], sets["workload"], engine, mode)


def _base_file(value: str, kind: str, composed: Composed, key: str, source: str) -> Path:
    """A base config named in a sweep: relative to the file that wrote it, else a bundled name."""
    near = Path(composed.origin((key,))).parent / value
    if near.is_file():
        return near
    try:
        return resolve_path(value, kind)
    except ConfigError as err:
        raise ConfigError(err.message, source=source, key_path=key) from None


def _walk(data: Any, parts: list[str]) -> tuple[int, Any]:
    """How many of ``parts`` exist as mapping keys in ``data``, and the node where it stopped."""
    node = data
    for depth, part in enumerate(parts):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return depth, node
    return len(parts), node


def _unknown_path(path: str, resolved: dict[str, Any]) -> ConfigError | None:
    """A ConfigError when ``path`` names no key of the resolved base config, else None."""
    root, *parts = path.split(".")
    found, node = _walk(resolved, parts)
    if found == len(parts) or not isinstance(node, Mapping) or "topology" in parts[:found]:
        # exists, or stops inside a value (null, text) or a topology spec, whose own
        # validation names its keys better
        return None
    here = ".".join([root, *parts[:found]])
    keys = [str(k) for k in node]
    near = did_you_mean(parts[found], keys)
    hint = f"; did you mean {'.'.join([here, near, *parts[found + 1 :]])!r}?" if near else ""
    return ConfigError(
        f"unknown config path{hint}{' ' if hint else '; '}keys under {here}: {', '.join(keys)} "
        f"(got {path!r})",
        key_path=path,
    )


class _PathChecker:
    """Tells whether a dotted path names a key of a base config (with the sweep's ``set``)."""

    def __init__(self, spec: SweepSpec):
        self.spec = spec
        self.files = {"hw": spec.hw, "workload": spec.workload}
        self.resolved: dict[str, tuple[dict[str, Any], bool]] = {}

    def _config(self, root: str) -> tuple[dict[str, Any], bool]:
        """The resolved base config, and whether the sweep's ``set`` is applied to it (not when
        ``set`` alone is invalid: it may only be valid together with the axes)."""
        if root not in self.resolved:
            try:
                config = resolved_config(self.files[root], root, self.spec.base[root] or None)
                self.resolved[root] = (config["config"], True)
            except ConfigError:
                self.resolved[root] = (resolved_config(self.files[root], root)["config"], False)
        return self.resolved[root]

    def unknown(self, path: str, *, in_set: bool = False) -> ConfigError | None:
        """A ConfigError when ``path`` names no key (nor, for an axis, one that ``set``
        creates)."""
        config, with_set = self._config(path.partition(".")[0])
        error = _unknown_path(path, config)
        if error is None or with_set or in_set:
            return error
        root, _, rest = path.partition(".")
        made = any(rest == p or rest.startswith(p + ".") for p in self.spec.base[root])
        return None if made else error


_PATH_ERRORS = ("unknown key", "cannot set a key inside", "a list of")
"""How the loader's messages begin when an override's path, not its value, is wrong."""


def _path_error(
    path: str, err: ConfigError, checker: _PathChecker, *, in_set: bool = False
) -> ConfigError | None:
    """The error to report now when ``err`` (from applying ``path``) is about the path."""
    unknown = checker.unknown(path, in_set=in_set)
    if unknown is not None:
        return unknown
    at = err.key_path or ""
    if (path == at or path.startswith(at + ".")) and err.message.startswith(_PATH_ERRORS):
        return ConfigError(err.message, key_path=path)
    return None


def _check_axes(spec: SweepSpec) -> None:
    """Checks every ``set`` path, then applies each axis's first value (after the first values
    of the axes before it) to the base configs: a path that names no config key is a
    ConfigError now, before any point runs. A value the configs reject is left to its points
    (it may be valid in combination with another axis's value)."""
    loaders = {"hw": load_hw, "workload": load_workload}
    checker = _PathChecker(spec)
    for root in CONFIG_ROOTS:
        try:
            loaders[root](checker.files[root], spec.base[root] or None)
        except ConfigError as err:
            if err.source != "--set":
                raise  # the base file itself is invalid
            for rest in spec.base[root]:
                bad = _path_error(f"{root}.{rest}", err, checker, in_set=True)
                if bad is not None:
                    raise bad.located(source=spec.source, prefix="set") from None
    firsts: dict[str, dict[str, Any]] = {root: dict(spec.base[root]) for root in CONFIG_ROOTS}
    for section, axes in (("grid", spec.grid), ("zip", spec.zip)):
        for path, values in axes.items():
            root, _, rest = path.partition(".")
            if root not in CONFIG_ROOTS:
                continue
            firsts[root].pop(rest, None)
            firsts[root][rest] = values[0]
            try:
                loaders[root](checker.files[root], firsts[root])
            except ConfigError as err:
                if err.source != "--set":
                    raise  # the combination breaks the base file itself
                bad = _path_error(path, err, checker)
                if bad is not None:
                    raise bad.located(source=spec.source, prefix=section) from None
                # else: a value error; the points with this value fail on their own


@single_line_errors
def load_sweep(path: str | Path, *, max_points: int | None = MAX_POINTS) -> SweepSpec:
    """The validated sweep at ``path``. Errors are one ConfigError ``FILE: axis.path: message``.

    A sweep of more than ``max_points`` points (``closim sweep --max-points``; None: no limit) is
    an error before anything is checked or run."""
    loaded = load_model(
        path,
        SweepConfig,
        root="sweep",
        replace_whole=parse_patterns(["set.*", "grid.*", "zip.*"]),
        precheck=_is_sweep,
    )
    model, composed = loaded.model, loaded.composed
    source = display_path(path)
    base: dict[str, dict[str, Any]] = {root: {} for root in CONFIG_ROOTS}
    for dotted, value in model.set.items():
        root, _, rest = dotted.partition(".")
        base[root][rest] = value
    db_value = model.db or f"{Path(path).stem}.sqlite"
    spec = SweepSpec(
        name=model.name or Path(path).stem,
        source=source,
        hw=_base_file(model.hw, "hw", composed, "hw", source),
        workload=_base_file(model.workload, "workload", composed, "workload", source),
        engine=model.engine,
        mode=model.mode,
        compare=model.compare,
        base=base,
        grid={k: list(v) for k, v in model.grid.items()},
        zip={k: list(v) for k, v in model.zip.items()},
        db=Path(composed.origin(("db",)) if model.db else path).parent / db_value,
        description=model.description,
    )
    if max_points is not None and spec.count > max_points:
        raise ConfigError(
            f"{spec.count:,} points, more than --max-points {max_points}; raise --max-points or "
            "shrink the grid",
            source=source,
        )
    _check_axes(spec)
    return spec


def _is_sweep(composed: Composed) -> None:
    """Rejects a hw config or workload given where a sweep file belongs, by name."""
    data = composed.data
    for key, word in (("pe_array", "a hw config"), ("layers", "a workload")):
        if key in data and "grid" not in data and "zip" not in data:
            raise ConfigError(
                f"this is {word}, but a sweep file is expected (got keys: "
                f"{', '.join(map(str, data))})",
                source=composed.top,
            )

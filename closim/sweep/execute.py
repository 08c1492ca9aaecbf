"""Running a sweep: resolve the points in the driver as they are needed, a batch at a time, skip
the points already stored (one store query per batch), run the rest in-process or on Dask
workers, and commit each result as it finishes. Nothing holds every point: a sweep of a million
points starts its first at once and runs in bounded memory.

A point's key is the sha256 of the canonical JSON of its resolved config (the validated hw and
workload records, engine, mode, ``compare``) and closim's version: two sweeps that reach the same
config share its result, and a changed config file changes the key. Only the driver writes the
store, so workers need nothing but closim and the task.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import os
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from closim.api import Result, simulate
from closim.config.compose import compose
from closim.config.loader import load_hw, load_workload
from closim.model.errors import ConfigError
from closim.model.hw import Accelerator
from closim.model.version import PACKAGE_DIR, VERSION
from closim.model.workload import Workload
from closim.report.results import RATIO_KEYS, result_dict
from closim.sweep.spec import MAX_POINTS, Point, SweepSpec, load_sweep
from closim.sweep.store import Record, Store

Progress = Callable[[int, int, int], None]
_DENSE_CACHE_SIZE = 128
_RESOLVE_CACHE_SIZE = 512  # records per root a Resolver keeps: a grid repeats each hw setting
_FIRST_BATCH, _MAX_BATCH = 32, 512  # points resolved per store query: small first, to start soon
_CLI_FILES = ("cli.py", "cli_parser.py")  # how results are printed does not change them
_dense_cache: dict[str, dict[str, Any]] = {}  # per process: a compare sweep's dense baselines


@dataclass
class SweepOutcome:
    """What ``run_sweep`` did. ``total`` is the sweep's point count, ``ran + skipped``; a point
    that resolves to the config of an earlier one is skipped. ``failed`` lists (point id, error)
    of every failed point of the sweep, stored by this run or an earlier one."""

    total: int
    ran: int
    skipped: int
    failed: list[tuple[str, str]]
    db_path: Path


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


def batched(items: Iterable[Any], sizes: Iterable[int]) -> Iterator[list[Any]]:
    """``items`` in lists of the successive ``sizes`` (the last size repeats), the last list
    possibly shorter; lazy."""
    iterator = iter(items)
    size = 1
    for size in sizes:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _batch_sizes() -> Iterator[int]:
    """_FIRST_BATCH, doubling up to _MAX_BATCH: the first points start soon, later batches
    amortise the store query."""
    size = _FIRST_BATCH
    while size < _MAX_BATCH:
        yield size
        size *= 2
    yield _MAX_BATCH


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "in-process"


def _run_extra(hw: Accelerator, workload: Workload, engine: str, mode: str) -> dict[str, Any]:
    """Columns known before simulating: names, settings and the hw's roofs."""
    return {
        "hw": hw.name,
        "workload": workload.name,
        "engine": engine,
        "mode": mode,
        "batch": workload.batch,
        "dense_params": sum(layer.in_features * layer.out_features for layer in workload.layers),
        "peak_macs_per_cycle": hw.total_pes,
        "dram_bytes_per_cycle": hw.dram_bytes_per_cycle,
    }


def _dense_totals(task: Task) -> dict[str, Any]:
    """Totals of the point's workload with every layer dense, cached per process (a compare
    sweep over topologies shares one baseline per hw)."""
    dense = task.workload.densified()
    if dense == task.workload:
        return {}
    key = point_key(task.hw, dense, task.engine, task.mode)
    if key not in _dense_cache:
        if len(_dense_cache) >= _DENSE_CACHE_SIZE:
            _dense_cache.pop(next(iter(_dense_cache)))
        result = simulate(task.hw, dense, engine=task.engine, mode=task.mode)
        _dense_cache[key] = result_dict(result)["totals"]
    return _dense_cache[key]


def _summarize(task: Task, result: Result, extra: dict[str, Any]) -> dict[str, Any]:
    data = result_dict(result)
    totals = data["totals"]
    params = sum(layer["params"] for layer in data["layers"])
    dram_bytes = totals["dram_read_bytes"] + totals["dram_write_bytes"]
    extra["params"] = params
    extra["compression"] = extra["dense_params"] / params if params else None
    extra["arithmetic_intensity"] = totals["macs"] / dram_bytes if dram_bytes else None
    extra["macs_per_cycle"] = totals["macs"] / totals["cycles"] if totals["cycles"] else None
    if task.compare:
        dense = _dense_totals(task) or totals
        extra["dense"] = dense
        extra["ratios"] = {
            key: (totals[key] / dense[key] if dense[key] else None) for key in RATIO_KEYS
        }
    return {
        "status": "ok",
        "error": None,
        "totals": totals,
        "layers": data["layers"],
        "extra": extra,
    }


def run_task(task: Task) -> dict[str, Any]:
    """Simulates one point (in a worker or in-process). Never raises: an error in the point is
    returned as ``status: failed`` with its message. Keys: status, error, totals, layers, extra,
    meta (started, finished, wall_s, host, pid, worker)."""
    started, clock = _now(), time.perf_counter()
    extra = _run_extra(task.hw, task.workload, task.engine, task.mode)
    try:
        result = simulate(task.hw, task.workload, engine=task.engine, mode=task.mode)
        outcome = _summarize(task, result, extra)
    except Exception as exc:  # a bad point must not stop the sweep; its message is stored
        outcome = {
            "status": "failed",
            "error": error_text(exc),
            "totals": None,
            "layers": None,
            "extra": extra,
        }
    outcome["meta"] = {
        "started": started,
        "finished": _now(),
        "wall_s": time.perf_counter() - clock,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "worker": _worker_name(),
    }
    return outcome


@dataclass
class Driver:
    """State of one run: resolves the points lazily, commits finished points and reports
    progress. ``total`` is the sweep's point count (closed form, ``spec.count``); a point that
    resolves to the config of an earlier one counts as already stored when its turn comes."""

    spec: SweepSpec
    store: Store
    total: int
    on_progress: Progress | None
    ran: int = 0
    skipped: int = 0
    done: int = 0
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (index, id, error)
    resolver: Resolver | None = None

    def progress(self) -> None:
        """Reports (done, total, failed) to ``on_progress``, if given."""
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, len(self.failed))

    def pending(self) -> Iterator[Resolved]:
        """The sweep's points that are not stored yet, in order, resolved a batch at a time
        (one store query per batch). Points found stored are counted as skipped, with one
        progress report per batch; the first report comes with the first batch."""
        resolver = self.resolver or Resolver(self.spec)
        first = True
        for batch in batched(self.spec.points(), _batch_sizes()):
            resolved = [resolver.resolve(point) for point in batch]
            stored = self.store.statuses({res.key for res in resolved})
            todo = []
            for res in resolved:
                if res.key in stored:
                    self.skip(res, stored[res.key])
                else:
                    todo.append(res)
            if first or len(todo) < len(resolved):
                self.progress()
                first = False
            yield from todo

    def already_stored(self, res: Resolved) -> bool:
        """True (and counted as skipped) when the point was stored since its batch was looked
        up: by another process, or by this run for an identical earlier point."""
        stored = self.store.get(res.key)
        if stored is None:
            return False
        self.skip(res, stored)
        self.progress()
        return True

    def skip(self, res: Resolved, stored: tuple[str, str | None]) -> None:
        """Counts a point found in the store; ``stored`` is its (status, error)."""
        self.skipped += 1
        self.done += 1
        if stored[0] == "failed":
            self.failed.append((res.point.index, res.point_id, stored[1] or ""))

    def commit(self, res: Resolved, outcome: dict[str, Any]) -> None:
        """Stores a finished point's outcome (``run_task``'s dict) and reports progress."""
        meta = dict(outcome["meta"])
        meta["closim_version"] = model_version()
        meta["sweep_file"] = self.spec.source
        record = Record(
            key=res.key,
            sweep=self.spec.name,
            point_index=res.point.index,
            axes=res.point.axes,
            status=outcome["status"],
            error=outcome["error"],
            totals=outcome["totals"],
            extra=outcome["extra"],
            layers=outcome["layers"],
            config=res.config,
            meta=meta,
        )
        self.store.insert(record)
        self.ran += 1
        self.done += 1
        if outcome["status"] == "failed":
            self.failed.append((res.point.index, res.point_id, outcome["error"] or ""))
        self.progress()


def unresolved_outcome(res: Resolved) -> dict[str, Any]:
    """A failed outcome in ``run_task``'s shape, made by the driver: for a point that did not
    resolve (its error) or whose task never returned (the Dask runner puts in why)."""
    now = _now()
    meta = {"started": now, "finished": now, "wall_s": 0.0, "host": socket.gethostname(),
            "pid": os.getpid(), "worker": "driver"}  # fmt: skip
    extra = {"engine": res.point.engine, "mode": res.point.mode}
    return {"status": "failed", "error": res.error, "totals": None, "layers": None,
            "extra": extra, "meta": meta}  # fmt: skip


def run_tasks(tasks: list[Task]) -> list[dict[str, Any]]:
    """``run_task`` of each task in turn (one Dask task of several small points); never raises,
    so a failed point fails itself only."""
    return [run_task(task) for task in tasks]


def _run_local(driver: Driver, todo: Iterable[Resolved]) -> None:
    """Runs the points one after the other in this process (``workers=1``)."""
    for res in todo:
        if driver.already_stored(res):
            continue
        driver.commit(res, run_task(res.task) if res.task else unresolved_outcome(res))


def run_sweep(
    spec: SweepSpec | str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    db: str | Path | None = None,
    on_progress: Progress | None = None,
    max_points: int | None = MAX_POINTS,
) -> SweepOutcome:
    """Runs every point of ``spec`` not yet in the store and commits each as it finishes.

    ``workers=1``: in this process; ``None`` or more: a local Dask cluster of that many
    processes (default: one per CPU); ``scheduler="tcp://host:8786"``: an existing Dask
    scheduler. ``db``: the SQLite store (default: the sweep file's ``db``, else
    ``<sweep-stem>.sqlite`` next to it). ``max_points``: the limit of ``load_sweep`` when
    ``spec`` is a path. Points are resolved lazily, a batch at a time, so memory stays bounded
    whatever the sweep's size. ``on_progress(done, total, failed)`` is called once when the
    first batch is looked up in the store (points already stored count as done), after each
    later batch with stored points, and after every finished point; ``total`` is the sweep's
    point count. A point that resolves to the config of an earlier point of the sweep runs
    once; the later one counts as already stored.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec, max_points=max_points)
    if workers is not None and workers < 1:
        raise ConfigError(f"needs at least 1 worker (got {workers})", source="--workers")
    db_path = Path(db) if db is not None else spec.db
    with Store(db_path) as store:
        driver = Driver(spec, store, spec.count, on_progress, resolver=Resolver(spec))
        pending = driver.pending()
        first = next(pending, None)  # a sweep with nothing left to run starts no cluster
        if first is not None:
            todo = itertools.chain([first], pending)
            if scheduler is None and workers == 1:
                _run_local(driver, todo)
            else:
                # imported here, not at the top: closim.sweep.dask_run imports this module
                from closim.sweep.dask_run import run_dask

                run_dask(driver, todo, workers, scheduler)
        return SweepOutcome(
            total=driver.total,
            ran=driver.ran,
            skipped=driver.skipped,
            failed=[(pid, err) for _, pid, err in sorted(driver.failed)],
            db_path=db_path,
        )

"""Running a sweep: resolve the points in the driver as they are needed, a batch at a time, skip
the points already stored (one store query per batch), run the rest in-process or on Dask
workers, and commit each result as it finishes. Nothing holds every point: a sweep of a million
points starts its first at once and runs in bounded memory.

Points are resolved and keyed in ``closim.sweep.resolve``. Only the driver writes the store, so
workers need nothing but closim and the task.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from closim.api import Result, simulate
from closim.model.errors import ConfigError
from closim.model.hw import Accelerator
from closim.model.workload import Workload
from closim.report.results import RATIO_KEYS, result_dict
from closim.sweep.resolve import (
    Resolved,
    Resolver,
    Task,
    error_text,
    model_version,
    point_key,
)
from closim.sweep.spec import MAX_POINTS, SweepSpec, load_sweep
from closim.sweep.store import Record, Store

Progress = Callable[[int, int, int], None]
_DENSE_CACHE_SIZE = 128
_FIRST_BATCH, _MAX_BATCH = 32, 512  # points resolved per store query: small first, to start soon
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

"""Sweeps at scale: points expanded lazily (the same points, in the same order, as an independent
cartesian product; the count in closed form; the first point of a million-point sweep without
the rest), ``run_sweep`` resolving a batch at a time, one store query per batch on resume,
``--max-points``, and Dask tasks of several points that store what an in-process run stores, a
task that fails failing only its own point."""

from __future__ import annotations

import itertools
import json
import sqlite3
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import closim.sweep.dask_run as dask_run
import closim.sweep.execute as execute
from closim.cli import main
from closim.config import load_hw, load_workload
from closim.model.errors import ConfigError
from closim.sweep import (
    MAX_POINTS,
    Resolver,
    load_results,
    load_sweep,
    point_key,
    resolve_point,
    run_sweep,
)
from closim.sweep.execute import run_tasks
from closim.sweep.resolve import Task, resolved_config
from closim.sweep.store import Store
from tests.test_sweep_spec import write_sweep

CLOS8 = {"kind": "clos", "r": 8, "m": 8}
MILLION_GRID = {  # 10 x 10 x 10 x 10 x 100 = 10^6 points, every value valid
    "workload.batch": list(range(1, 11)),
    "hw.pe_array.rows": [8 * i for i in range(1, 11)],
    "hw.pe_array.cols": [8 * i for i in range(1, 11)],
    "hw.dram.bandwidth_gb_per_s": [10 * i for i in range(1, 11)],
    "hw.dram.pj_per_bit": list(range(1, 101)),
}


def non_meta(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not c.startswith("meta_")]]


class Stop(Exception):
    """Raised from a progress callback to stop a sweep part-way (as a kill would)."""


def stop_after(points: int) -> Any:
    def on_progress(done: int, total: int, failed: int) -> None:
        if done >= points:
            raise Stop

    return on_progress


# --- lazy expansion ---------------------------------------------------------------------------


def test_points_are_the_cartesian_product_in_order(tmp_path: Path) -> None:
    grid = {
        "hw.pe_array.rows": [8, 16, 32],
        "workload.batch": [1, 2],
        "engine": ["des", "analytic"],
    }
    zipped = {
        "hw.pe_array.cols": [8, 16, 64],
        "workload.layers.l0.topology": ["dense", CLOS8, CLOS8],
    }
    spec = load_sweep(write_sweep(tmp_path, {"grid": grid, "zip": zipped}))
    # independently: the grid's product, then each zip row innermost
    rows = list(zip(*zipped.values(), strict=True))
    expected = [
        dict(zip(grid, g, strict=True)) | dict(zip(zipped, z, strict=True))
        for g in itertools.product(*grid.values())
        for z in rows
    ]
    points = list(spec.points())
    assert [p.axes for p in points] == expected
    assert [p.index for p in points] == list(range(len(expected)))
    assert len(spec) == spec.count == 3 * 2 * 2 * 3 == len(expected)
    assert [p.engine for p in points] == [axes["engine"] for axes in expected]
    assert [p.hw_set["pe_array.cols"] for p in points] == [a["hw.pe_array.cols"] for a in expected]


def test_count_is_closed_form_and_exact_beyond_sys_maxsize(tmp_path: Path) -> None:
    paths = ["hw.pe_array.rows", "hw.pe_array.cols", "hw.dram.bandwidth_gb_per_s",
             "hw.dram.latency_ns", "hw.dram.pj_per_bit", "hw.dram.channels",
             "hw.sram.bytes_per_cycle", "workload.batch", "hw.clock_mhz",
             "hw.vector_unit.lanes"]  # fmt: skip
    path = write_sweep(tmp_path, {"grid": {p: list(range(1, 101)) for p in paths}})
    with pytest.raises(ConfigError) as info:  # the limit, not an OverflowError from len()
        load_sweep(path)
    assert str(info.value) == (
        f"{path}: 100,000,000,000,000,000,000 points, more than --max-points {MAX_POINTS}; "
        "raise --max-points or shrink the grid"
    )
    spec = load_sweep(path, max_points=None)
    assert spec.count == 100**10 > sys.maxsize
    first, second = itertools.islice(spec.points(), 2)
    assert first.axes == dict.fromkeys(paths, 1)
    assert second.axes == dict.fromkeys(paths, 1) | {"hw.vector_unit.lanes": 2}


@pytest.mark.parametrize("with_zip", [False, True])
def test_first_points_of_a_million_point_sweep_come_without_the_rest(
    tmp_path: Path, with_zip: bool
) -> None:
    grid = dict(MILLION_GRID)
    body: dict[str, Any] = {"grid": grid}
    if with_zip:  # 10^5 grid rows x a zip of 10
        del grid["hw.dram.bandwidth_gb_per_s"]
        body["zip"] = {"hw.dram.latency_ns": list(range(10)), "hw.dram.channels": [1] * 10}
    spec = load_sweep(write_sweep(tmp_path, body), max_points=None)
    assert spec.count == 10**6
    tracemalloc.start()
    try:
        points = list(itertools.islice(spec.points(), 5))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a million axis tuples would take ~80 MB (a materialised grid); five points take ~kB
    assert peak < 2_000_000, peak
    assert [p.index for p in points] == list(range(5))
    inner = "hw.dram.latency_ns" if with_zip else "hw.dram.pj_per_bit"
    assert [p.axes[inner] for p in points] == list(body.get("zip", grid).get(inner))[:5]


def test_run_sweep_resolves_a_batch_at_a_time(tmp_path: Path, monkeypatch) -> None:
    """A million-point sweep stopped after 3 points resolved only its first batch."""
    spec = load_sweep(write_sweep(tmp_path, {"grid": MILLION_GRID}), max_points=None)
    resolved: list[int] = []
    original = Resolver.resolve

    def counting(self: Resolver, point: Any) -> Any:
        resolved.append(point.index)
        assert len(resolved) <= 1000, "points are resolved ahead of need"
        return original(self, point)

    monkeypatch.setattr(Resolver, "resolve", counting)
    calls: list[tuple[int, int, int]] = []

    def on_progress(done: int, total: int, failed: int) -> None:
        calls.append((done, total, failed))
        stop_after(3)(done, total, failed)

    with pytest.raises(Stop):
        run_sweep(spec, workers=1, db=tmp_path / "r.db", on_progress=on_progress)
    assert resolved == list(range(execute._FIRST_BATCH))
    assert calls == [(0, 10**6, 0), (1, 10**6, 0), (2, 10**6, 0), (3, 10**6, 0)]
    with sqlite3.connect(tmp_path / "r.db") as conn:
        assert conn.execute("SELECT point_index FROM points ORDER BY point_index").fetchall() == [
            (0,),
            (1,),
            (2,),
        ]


def test_resolver_keys_and_configs_equal_a_direct_resolution(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path,
        {
            "compare": True,
            "grid": {
                "hw.pe_array.rows": [8, 16],
                "mode": ["inference", "training"],
                "workload.layers.l0.topology": ["dense", CLOS8],
                "workload.batch": [2, 2],  # a repeated setting: a cache hit
            },
        },
    )
    spec = load_sweep(path)
    resolver = Resolver(spec, cache_size=1)  # a tiny cache: hits, misses and forgetting
    for point in spec.points():
        res = resolver.resolve(point)
        hw = load_hw("scalesim-32x32", point.hw_set)
        workload = load_workload(tmp_path / "tiny.yaml", point.workload_set)
        mode = point.axes["mode"]
        assert res.key == point_key(hw, workload, "analytic", mode, True)
        assert res.config == resolved_config(hw, workload)
        assert res.task == Task(res.key, hw, workload, "analytic", mode, True)
        assert res.key == resolve_point(spec, point).key


def test_a_rejected_value_is_keyed_and_reported_with_or_without_the_cache(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path,
        {"set": {"workload.layers.l0.topology": CLOS8},
         "grid": {"workload.batch": [1, 2], "workload.layers.l0.topology.r": [5, 8]}},
    )  # fmt: skip
    spec = load_sweep(path)
    resolver = Resolver(spec)
    for point in spec.points():
        cached, fresh = resolver.resolve(point), resolve_point(spec, point)
        assert (cached.key, cached.error) == (fresh.key, fresh.error)
        assert (cached.error is None) == (point.axes["workload.layers.l0.topology.r"] == 8)
        if cached.error is not None:
            assert cached.error.startswith("workload.layers.l0.topology.r: r=5 must divide")


# --- resume -------------------------------------------------------------------------------------


def test_a_stopped_sweep_resumes_skipping_stored_points_with_one_query_per_batch(
    tmp_path: Path, monkeypatch
) -> None:
    """100 points span batches of 32, 64 and 4; stopped after 40, the rerun runs 60, looking up
    the 40 stored points a batch at a time (no per-point lookup for them)."""
    path = write_sweep(
        tmp_path,
        {"grid": {"workload.batch": list(range(1, 26)), "hw.pe_array.rows": [8, 16],
                  "workload.layers.l0.topology": ["dense", CLOS8]}},
    )  # fmt: skip
    db = tmp_path / "r.sqlite"
    with pytest.raises(Stop):
        run_sweep(path, workers=1, db=db, on_progress=stop_after(40))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM points").fetchone() == (40,)

    lookups = {"batch": 0, "point": 0}
    statuses, get = Store.statuses, Store.get

    def batch_lookup(self: Store, keys: Any = None) -> Any:
        lookups["batch"] += 1
        return statuses(self, keys)

    def point_lookup(self: Store, key: str) -> Any:
        lookups["point"] += 1
        return get(self, key)

    monkeypatch.setattr(Store, "statuses", batch_lookup)
    monkeypatch.setattr(Store, "get", point_lookup)
    outcome = run_sweep(path, workers=1, db=db)
    assert (outcome.total, outcome.ran, outcome.skipped, outcome.failed) == (100, 60, 40, [])
    assert lookups == {"batch": 3, "point": 60}  # 32 + 64 + 4; only the points that ran
    monkeypatch.undo()

    reference = run_sweep(path, workers=1, db=tmp_path / "reference.sqlite")
    assert reference.ran == 100
    got, want = load_results(db), load_results(tmp_path / "reference.sqlite")
    pd.testing.assert_frame_equal(non_meta(got), non_meta(want))
    assert got["meta_pid"].nunique() == 1 and len(got) == 100  # in-process: one pid


# --- --max-points ---------------------------------------------------------------------------


def test_max_points_refuses_a_larger_sweep_with_status_2_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_sweep(
        tmp_path, {"grid": {"workload.batch": [1, 2, 3], "hw.pe_array.rows": [8, 16]}}
    )
    db = tmp_path / "r.db"
    code = main(["sweep", str(path), "--workers", "1", "--quiet", "--db", str(db),
                 "--max-points", "5"])  # fmt: skip
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err == [
        f"closim: error: {path}: 6 points, more than --max-points 5; raise --max-points or "
        "shrink the grid"
    ]
    assert not db.exists()  # refused before anything ran
    code = main(["sweep", str(path), "--workers", "1", "--quiet", "--db", str(db),
                 "--max-points", "6"])  # fmt: skip
    assert code == 0 and len(load_results(db)) == 6


def test_default_max_points_is_the_library_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_sweep(tmp_path, {"grid": MILLION_GRID})
    code = main(["sweep", str(path), "--workers", "1", "--quiet", "--db", str(tmp_path / "r.db")])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].endswith(
        f"1,000,000 points, more than --max-points {MAX_POINTS}; raise --max-points or shrink "
        "the grid"
    )
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    assert f"default: {MAX_POINTS:,}" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_max_points_must_be_a_positive_integer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    path = write_sweep(tmp_path, {"grid": {"workload.batch": [1]}})
    code = main(["sweep", str(path), "--max-points", value])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1
    assert "--max-points: expected a positive integer" in err[0]


# --- Dask batches -------------------------------------------------------------------------------


def test_batch_sizer_aims_at_the_target_and_spreads_the_last_points() -> None:
    sizer = dask_run.BatchSizer()
    assert sizer.size(remaining=1000, workers=2) == dask_run.FIRST_BATCH
    assert sizer.size(remaining=3, workers=2) == 2  # ceil(3 / 2): both workers get a task
    sizer.observe([{"meta": {"wall_s": 0.01}}] * 3 + [{"meta": {"wall_s": 0.03}}])  # mean 15 ms
    assert sizer.size(remaining=10**6, workers=2) == int(dask_run.TARGET_TASK_S / 0.015)
    assert sizer.size(remaining=10, workers=2) == 5
    sizer.observe([{"meta": {"wall_s": 1e-5}}] * 10_000)  # tiny points: capped
    assert sizer.size(remaining=10**6, workers=2) == dask_run.MAX_BATCH
    slow = dask_run.BatchSizer()
    slow.observe([{"meta": {"wall_s": 2.0}}])  # one point is more than a task's worth
    assert slow.size(remaining=100, workers=2) == 1
    assert slow.size(remaining=0, workers=2) == 1


@pytest.fixture(scope="module")
def cluster() -> Any:
    """A local Dask cluster of 2 single-threaded worker processes, shared by this module."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


def mixed_sweep(folder: Path) -> Path:
    """48 points, 16 of them repeating another point's config (batch 8 twice): of the 32 distinct,
    8 have a config the driver rejects (r=5 does not divide 64) and 12 a simulation that fails
    in the worker (an SRAM of 4 bytes); repeats of failed points are listed as failed too."""
    return write_sweep(
        folder,
        {
            "set": {"hw.sram.partitions": None},
            "grid": {
                "workload.batch": [8, 8, 3],
                "hw.sram.capacity_bytes": [65536, 4],
                "hw.pe_array.rows": [8, 16],
                "workload.layers.l0.topology": ["dense", CLOS8, {"kind": "clos", "r": 5, "m": 5},
                                                {"kind": "clos", "r": 8, "m": 16}],
            },
        },
    )  # fmt: skip


def test_dask_batches_store_what_an_in_process_run_stores(
    tmp_path: Path, cluster: Any, monkeypatch
) -> None:
    from distributed import Client

    path = mixed_sweep(tmp_path)
    submitted: list[int] = []
    submit = Client.submit

    def spy(self: Client, func: Any, *args: Any, **kwargs: Any) -> Any:
        if func is run_tasks:
            submitted.append(len(args[0]))
        return submit(self, func, *args, **kwargs)

    monkeypatch.setattr(Client, "submit", spy)
    dask = run_sweep(path, scheduler=cluster.scheduler_address, db=tmp_path / "dask.db")
    monkeypatch.undo()
    local = run_sweep(path, workers=1, db=tmp_path / "local.db")
    # 32 distinct points, 8 rejected in the driver: 24 simulated, on workers, in batches
    assert (dask.total, dask.ran, dask.skipped) == (local.total, local.ran, local.skipped)
    assert (local.total, local.ran, local.skipped) == (48, 32, 16)
    assert dask.failed == local.failed and len(local.failed) == (8 + 12) + (4 + 6)
    assert sum(submitted) == 24 and max(submitted) > 1 and len(submitted) < 24
    frame = load_results(tmp_path / "dask.db")
    pd.testing.assert_frame_equal(non_meta(frame), non_meta(load_results(tmp_path / "local.db")))
    ran = frame[frame["meta_worker"] != "driver"]
    assert len(ran) == 24 and ran["meta_worker"].str.startswith("tcp://").all()
    assert len(frame) == 32 and (frame["status"] == "failed").sum() == 8 + 12
    simulated_failures = frame[frame["error"].str.contains("no tiling", na=False)]
    assert len(simulated_failures) == 12
    assert (simulated_failures["hw.sram.capacity_bytes"] == 4).all()


def explode_with_a_marked_point(tasks: list[Task]) -> list[dict[str, Any]]:
    """``run_tasks``, but a task holding a point of 24 array rows raises (as if its result were
    lost), whatever else it holds."""
    if any(task.hw.pe_array.rows == 24 for task in tasks):
        raise RuntimeError("lost with its worker")
    return run_tasks(tasks)


def test_a_failing_task_fails_only_its_own_point(tmp_path: Path, cluster: Any, monkeypatch) -> None:
    path = write_sweep(
        tmp_path, {"grid": {"hw.pe_array.rows": [8, 16, 24, 32], "workload.batch": [1, 2, 3]}}
    )
    from distributed import Client

    submitted: list[list[tuple[int, int]]] = []  # (rows, batch) of each task's points
    submit = Client.submit

    def spy(self: Client, func: Any, *args: Any, **kwargs: Any) -> Any:
        submitted.append([(t.hw.pe_array.rows, t.workload.batch) for t in args[0]])
        return submit(self, func, *args, **kwargs)

    monkeypatch.setattr(dask_run, "run_tasks", explode_with_a_marked_point)
    monkeypatch.setattr(Client, "submit", spy)
    outcome = run_sweep(path, scheduler=cluster.scheduler_address, db=tmp_path / "r.db")
    assert (outcome.total, outcome.ran) == (12, 12)
    assert len(outcome.failed) == 3
    assert all("hw.pe_array.rows=24" in point for point, _ in outcome.failed)
    assert {error for _, error in outcome.failed} == {"RuntimeError: lost with its worker"}
    # a batch holding a rows=24 point was split, its other points ran alone; each rows=24
    # point was submitted _ATTEMPTS times (its batch counts), the last ones alone
    assert max(len(batch) for batch in submitted) > 1
    for batch in (1, 2, 3):
        tries = [task for task in submitted if (24, batch) in task]
        assert len(tries) == dask_run._ATTEMPTS and tries[-1] == [(24, batch)]
    split = [task for task in submitted if len(task) > 1 and any(r == 24 for r, _ in task)]
    for task in split:  # its innocent points were resubmitted alone
        for point in task:
            assert [point] in submitted
    frame = load_results(tmp_path / "r.db")
    ok = frame[frame["status"] == "ok"]
    assert len(ok) == 9 and 24 not in set(ok["hw.pe_array.rows"])
    with sqlite3.connect(tmp_path / "r.db") as conn:
        totals = [t for (t,) in conn.execute("SELECT totals FROM points")]
    assert sum(t is None for t in totals) == 3
    assert all(json.loads(t)["cycles"] > 0 for t in totals if t is not None)

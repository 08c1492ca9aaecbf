"""Sweep throughput: points per second of one small sweep, for the analytic and the DES engine,
run in-process (``--workers 1``) and on a local Dask cluster of 2 worker processes; with
``--scale``, points per second of a generated 2,000-point analytic sweep and the time to the
first progress of a 10^6-point one.

Run: ``python benchmarks/sweep_throughput.py [--workers N]`` (about a minute on 2 cores), or
``python benchmarks/sweep_throughput.py --scale`` (about a minute).

The sweep: ``workloads/closnet-1024.yaml`` (three 1024-wide layers, training) on
``hw_configs/scalesim-32x32.yaml``, batch (1, 4, 16, 64) x array rows (16, 32, 64) x the three
layers' topology (dense, Clos r=m=32, Clos r=16 m=64) = 36 points. Every measurement runs in a
fresh process (cold mapper caches, as a new ``closim sweep`` has) writing a fresh store, and
times ``run_sweep`` alone: resolving the points, running them and committing each to SQLite.
The Dask column includes starting and stopping the local cluster (what one ``closim sweep
--workers 2`` pays); the "warm cluster" column connects to a cluster started beforehand
(``--scheduler``), so it shows the per-point cost alone.

``--scale``: ``workloads/gemm.yaml`` (one 784 x 300 GEMM) on ``scalesim-32x32``, analytic, batch
(1, 4, 16, 64, 256) x array rows x cols (32..256) x SRAM (640 KiB..16 MiB) x DRAM pJ/bit (10..100)
= 2,000 points of a few milliseconds each (the DRAM energy axis leaves the mapping unchanged,
so points that differ only in it share the mapper's per-process cache, as on a worker). Each
measurement runs in a fresh process (the fastest of ``--repeat`` rounds is kept): in-process, a
warm local Dask cluster of 1 and of 2 worker processes (so the two differ only in the workers),
and ``--workers 2`` with the cluster's start.
Targets: at least 200 points/s in-process, and 2 workers faster than 1. Then the time to the
first progress of a 10^6-point grid (the same kind of points, more values per axis), run with
``--max-points 1000000`` and killed after its first points: from the ``closim sweep`` command's
start to its first stored point, and inside one process from calling ``run_sweep`` to its first
progress report and to its first finished point.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CLOS = [{"kind": "clos", "r": 32, "m": 32}, {"kind": "clos", "r": 16, "m": 64}]
SWEEP = {
    "description": "sweep throughput benchmark",
    "hw": str(ROOT / "hw_configs" / "scalesim-32x32.yaml"),
    "workload": str(ROOT / "workloads" / "closnet-1024.yaml"),
    "grid": {"workload.batch": [1, 4, 16, 64], "hw.pe_array.rows": [16, 32, 64]},
    "zip": {f"workload.layers.fc{i}.topology": ["dense", *CLOS] for i in (1, 2, 3)},
}
MODES = ("in-process", "dask", "dask-warm")

SCALE_SWEEP = {
    "description": "sweep throughput at scale: 2,000 small analytic points",
    "hw": str(ROOT / "hw_configs" / "scalesim-32x32.yaml"),
    "workload": str(ROOT / "workloads" / "gemm.yaml"),
    "engine": "analytic",
    "grid": {
        "workload.batch": [1, 4, 16, 64, 256],
        "hw.pe_array.rows": [32, 64, 128, 256],
        "hw.pe_array.cols": [32, 64, 128, 256],
        "hw.sram.capacity_bytes": [655360, 1048576, 2097152, 4194304, 16777216],
        "hw.dram.pj_per_bit": [10, 20, 40, 70, 100],
    },
}
MILLION_SWEEP = {
    **SCALE_SWEEP,
    "description": "10^6 points, for the time to the first progress",
    "grid": {
        "workload.batch": list(range(1, 11)),
        "hw.pe_array.rows": [16 * i for i in range(1, 11)],
        "hw.pe_array.cols": [16 * i for i in range(1, 11)],
        "hw.sram.capacity_bytes": [655360 * i for i in range(1, 11)],
        "hw.dram.pj_per_bit": list(range(1, 101)),
    },
}
SCALE_MODES = ("in-process", "dask-warm-1", "dask-warm-2", "dask-2")
FIRST_POINTS = 5  # of the 10^6-point sweep, before it is killed


class _Stop(Exception):
    """Stops the 10^6-point sweep after its first points."""


def _one(engine: str, mode: str, workers: int, folder: Path) -> dict[str, float]:
    """One measurement (in this fresh process): seconds of ``run_sweep`` and points run."""
    from closim.sweep import run_sweep

    path = folder / f"{engine}-{mode}.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, "engine": engine}, sort_keys=False))
    db = folder / f"{engine}-{mode}.sqlite"
    if mode == "dask-warm":
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as c:
            with Client(c) as client:  # workers import closim before the clock starts
                client.run(lambda: __import__("closim.api"))
            start = time.perf_counter()
            outcome = run_sweep(path, scheduler=c.scheduler_address, db=db)
            seconds = time.perf_counter() - start
    else:
        start = time.perf_counter()
        outcome = run_sweep(path, workers=1 if mode == "in-process" else workers, db=db)
        seconds = time.perf_counter() - start
    assert not outcome.failed, outcome.failed
    return {"seconds": seconds, "points": outcome.ran}


def _one_scale(mode: str, folder: Path) -> dict[str, float]:
    """One measurement of the 2,000-point sweep (in this fresh process)."""
    from closim.sweep import run_sweep

    path = folder / "scale.yaml"
    path.write_text(yaml.safe_dump(SCALE_SWEEP, sort_keys=False))
    db = folder / f"scale-{mode}-{os.getpid()}.sqlite"  # a fresh store for every run
    if mode.startswith("dask-warm"):
        from distributed import Client, LocalCluster

        workers = int(mode.rsplit("-", 1)[1])
        with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as c:
            with Client(c) as client:  # workers import closim before the clock starts
                client.run(lambda: __import__("closim.api"))
            start = time.perf_counter()
            outcome = run_sweep(path, scheduler=c.scheduler_address, db=db)
            seconds = time.perf_counter() - start
    else:
        start = time.perf_counter()
        outcome = run_sweep(path, workers=1 if mode == "in-process" else 2, db=db)
        seconds = time.perf_counter() - start
    assert not outcome.failed, outcome.failed[:3]
    assert outcome.ran == outcome.total, (outcome.ran, outcome.total)
    return {"seconds": seconds, "points": outcome.ran}


def _first_progress(folder: Path) -> dict[str, float]:
    """Seconds from calling ``run_sweep`` on the 10^6-point sweep to its first progress report
    and to its first finished point (in this fresh process); stopped after FIRST_POINTS."""
    from closim.sweep import run_sweep

    path = folder / "million.yaml"
    path.write_text(yaml.safe_dump(MILLION_SWEEP, sort_keys=False))
    times: dict[str, float] = {}
    start = time.perf_counter()

    def on_progress(done: int, total: int, failed: int) -> None:
        assert total == 10**6, total
        times.setdefault("first_report_s", time.perf_counter() - start)
        if done >= 1:
            times.setdefault("first_point_s", time.perf_counter() - start)
        if done >= FIRST_POINTS:
            raise _Stop

    with contextlib.suppress(_Stop):
        run_sweep(path, workers=1, db=folder / "million-api.sqlite", on_progress=on_progress,
                  max_points=10**6)  # fmt: skip
    return times


def _cli_first_point(folder: Path) -> float:
    """Seconds from starting ``closim sweep`` on the 10^6-point sweep to its first stored point;
    the command is killed after FIRST_POINTS points."""
    path = folder / "million.yaml"
    path.write_text(yaml.safe_dump(MILLION_SWEEP, sort_keys=False))
    db = folder / "million-cli.sqlite"
    command = [sys.executable, "-m", "closim", "sweep", str(path), "--workers", "1", "--quiet",
               "--max-points", "1000000", "--db", str(db)]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = None
    try:
        while proc.poll() is None and time.perf_counter() - start < 120:
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    rows = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
            except sqlite3.OperationalError:  # not created yet
                rows = 0
            if rows and first is None:
                first = time.perf_counter() - start
            if rows >= FIRST_POINTS:
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    if first is None:
        raise RuntimeError(f"closim sweep stored no point: {proc.stderr.read().decode()[-500:]}")
    return first


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _child(*argv: str) -> dict[str, float]:
    """Runs this script with ``argv`` in a fresh process; its last line of JSON."""
    run = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True,
                         check=True, cwd=ROOT)  # fmt: skip
    return json.loads(run.stdout.strip().splitlines()[-1])


def scale(repeat: int) -> None:
    """``--scale``: the 2,000-point sweep's throughput (the fastest of ``repeat`` rounds of runs
    of every mode, each in a fresh process: other load on the machine only slows a run down),
    then the 10^6-point first progress."""
    print(f"load average before: {_load()} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as folder:
        results: dict[str, dict[str, float]] = {}
        for _ in range(repeat):  # rounds of every mode: a burst of other load hits them alike
            for mode in SCALE_MODES:
                run = _child("--one-scale", mode, folder)
                if mode not in results or run["seconds"] < results[mode]["seconds"]:
                    results[mode] = run
        rates = {mode: r["points"] / r["seconds"] for mode, r in results.items()}
        print(f"sweep: {int(results['in-process']['points'])} points (gemm on scalesim-32x32, "
              "analytic: batch x rows x cols x SRAM x DRAM pJ/bit); the fastest of "
              f"{repeat} runs")  # fmt: skip
        labels = {"in-process": "in-process", "dask-warm-1": "dask x1 warm",
                  "dask-warm-2": "dask x2 warm", "dask-2": "--workers 2"}  # fmt: skip
        print("".join(f"{labels[m]:>16}" for m in SCALE_MODES) + "   (points per second; seconds)")
        cells = [f"{rates[m]:.0f} ({results[m]['seconds']:.1f}s)" for m in SCALE_MODES]
        print("".join(f"{cell:>16}" for cell in cells))
        print(
            '("warm": a cluster started beforehand, --scheduler; "--workers 2" includes '
            "starting and stopping its cluster)"
        )
        verdict = {True: "PASS", False: "FAIL"}
        print(
            f"≥ 200 points/s in-process: {verdict[rates['in-process'] >= 200]} "
            f"({rates['in-process']:.0f})"
        )
        faster = rates["dask-warm-2"] > rates["dask-warm-1"]
        print(
            f"workers 2 faster than workers 1: {verdict[faster]} "
            f"({rates['dask-warm-2']:.0f} vs {rates['dask-warm-1']:.0f} points/s, warm)"
        )
        first = _child("--first-progress", folder)
        cli = _cli_first_point(Path(folder))
        print(
            f"10^6-point grid (--max-points 1000000), killed after {FIRST_POINTS} points: "
            f"first progress {first['first_report_s']:.2f}s and first point "
            f"{first['first_point_s']:.2f}s after calling run_sweep; first point stored "
            f"{cli:.2f}s after starting closim sweep"
        )
    print(f"load average after: {_load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument(
        "--scale", action="store_true", help="the 2,000-point sweep and the 10^6-point start"
    )
    parser.add_argument(
        "--one", nargs=3, metavar=("ENGINE", "MODE", "FOLDER"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="--scale: runs of each mode, the fastest kept"
    )
    parser.add_argument("--one-scale", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--first-progress", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        engine, mode, folder = args.one
        print(json.dumps(_one(engine, mode, args.workers, Path(folder))))
        return
    if args.one_scale:
        mode, folder = args.one_scale
        print(json.dumps(_one_scale(mode, Path(folder))))
        return
    if args.first_progress:
        print(json.dumps(_first_progress(Path(args.first_progress))))
        return
    if args.scale:
        scale(args.repeat)
        return
    results: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for engine in ("analytic", "des"):
            for mode in MODES:
                run = subprocess.run(
                    [sys.executable, __file__, "--workers", str(args.workers), "--one", engine,
                     mode, folder],
                    capture_output=True, text=True, check=True, cwd=ROOT,
                )  # fmt: skip
                results[engine, mode] = json.loads(run.stdout.strip().splitlines()[-1])
    points = int(next(iter(results.values()))["points"])
    print(f"sweep: {points} points (closnet-1024 on scalesim-32x32: batch x rows x topology)")
    header = (f"{'engine':<10}{'in-process':>14}{f'dask x{args.workers}':>16}"
              f"{f'dask x{args.workers} warm':>20}   (points per second; seconds)")  # fmt: skip
    print(header)
    for engine in ("analytic", "des"):
        cells = []
        for mode, width in zip(MODES, (14, 16, 20), strict=True):
            r = results[engine, mode]
            cells.append(f"{r['points'] / r['seconds']:.1f} ({r['seconds']:.1f}s)".rjust(width))
        print(f"{engine:<10}{''.join(cells)}")


if __name__ == "__main__":
    main()

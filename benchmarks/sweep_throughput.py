"""Sweep throughput: points per second of one small sweep, for the analytic and the DES engine,
run in-process (``--workers 1``) and on a local Dask cluster of 2 worker processes.

Run: ``python benchmarks/sweep_throughput.py [--workers N]`` (about a minute on 2 cores).

The sweep: ``workloads/closnet-1024.yaml`` (three 1024-wide layers, training) on
``hw_configs/scalesim-32x32.yaml``, batch (1, 4, 16, 64) x array rows (16, 32, 64) x the three
layers' topology (dense, Clos r=m=32, Clos r=16 m=64) = 36 points. Every measurement runs in a
fresh process (cold mapper caches, as a new ``closim sweep`` has) writing a fresh store, and
times ``run_sweep`` alone: resolving the points, running them and committing each to SQLite.
The Dask column includes starting and stopping the local cluster (what one ``closim sweep
--workers 2`` pays); the "warm cluster" column connects to a cluster started beforehand
(``--scheduler``), so it shows the per-point cost alone.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument(
        "--one", nargs=3, metavar=("ENGINE", "MODE", "FOLDER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        engine, mode, folder = args.one
        print(json.dumps(_one(engine, mode, args.workers, Path(folder))))
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

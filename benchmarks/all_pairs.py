"""Every bundled hw x workload x mode step with both engines: how long each takes, cold.

Run: ``python benchmarks/all_pairs.py [--hw NAME ...] [--workload NAME ...] [--mode M ...]
[--whole N]`` from the repository root.

Per step (configs loaded once beforehand; every memo cache of closim cleared before each step, so
that each maps from scratch as one ``closim run`` process does), in this process:

* ``rows``: trace rows; ``events``: SimPy events the DES processed;
* ``map s``: lowering and mapping (program -> trace);
* ``an s`` / ``des s``: the engine alone on that trace;
* ``an step`` / ``des step``: the whole ``closim.api.simulate`` (mapping, engine, counting, energy),
  each from cold.

``--whole N`` also times the whole ``closim run --format json`` process (interpreter start-up and
imports included) for the N slowest DES steps. Targets (PASS/FAIL printed with the worst case):
every DES step <= 0.5 s and every analytic step <= 0.1 s in-process.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
from pathlib import Path

from closim.api import lower_workload, simulate
from closim.config import load_hw, load_workload
from closim.engines import analytic, des
from closim.mapping.cache import clear_caches
from closim.mapping.mapper import map_program

ROOT = Path(__file__).resolve().parents[1]
TARGET_DES_S = 0.5
TARGET_ANALYTIC_S = 0.1


def _timed(fn):
    clear_caches()
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def step(hw, wl, mode: str) -> dict:
    """Timings of one step (seconds) and its trace and event counts."""
    t_map, trace = _timed(lambda: map_program(lower_workload(hw, wl, mode, wl.batch), hw))
    t0 = time.perf_counter()
    analytic.ENGINE.run(trace, hw)
    t_an = time.perf_counter() - t0
    t0 = time.perf_counter()
    played = des.run(trace, hw)
    t_des = time.perf_counter() - t0
    rows, events = len(trace.rows), played.events
    del trace, played  # a large trace left alive slows the timings below (garbage collection)
    t_an_step, _ = _timed(lambda: simulate(hw, wl, engine="analytic", mode=mode))
    t_des_step, _ = _timed(lambda: simulate(hw, wl, engine="des", mode=mode))
    return {
        "rows": rows, "events": events, "map": t_map, "an": t_an,
        "des": t_des, "an_step": t_an_step, "des_step": t_des_step,
    }  # fmt: skip


def whole_process_s(hw: str, wl: str, mode: str) -> float:
    """Wall seconds of one ``closim run`` process (DES, JSON to a pipe)."""
    cmd = [sys.executable, "-m", "closim", "run", "--hw", hw, "--workload", wl, "--mode", mode,
           "--format", "json"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", nargs="*", default=None)
    parser.add_argument("--workload", nargs="*", default=None)
    parser.add_argument("--mode", nargs="*", default=["inference", "training"])
    parser.add_argument("--whole", type=int, default=3, metavar="N")
    args = parser.parse_args()
    hws = args.hw or sorted(p.stem for p in (ROOT / "hw_configs").glob("*.yaml"))
    wls = args.workload or sorted(p.stem for p in (ROOT / "workloads").glob("*.yaml"))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, cpus {os.cpu_count()}")
    head = (
        f"{'hw':15} {'workload':20} {'mode':9} {'rows':>9} {'events':>10} {'map s':>7} "
        f"{'an s':>7} {'des s':>7} {'an step':>8} {'des step':>8}"
    )
    print(head, flush=True)
    results = {}
    for hw_name in hws:
        hw = load_hw(ROOT / "hw_configs" / f"{hw_name}.yaml")
        for wl_name in wls:
            wl = load_workload(ROOT / "workloads" / f"{wl_name}.yaml")
            for mode in args.mode:
                r = step(hw, wl, mode)
                results[(hw_name, wl_name, mode)] = r
                print(
                    f"{hw_name:15} {wl_name:20} {mode:9} {r['rows']:9,} {r['events']:10,} "
                    f"{r['map']:7.3f} {r['an']:7.3f} {r['des']:7.3f} {r['an_step']:8.3f} "
                    f"{r['des_step']:8.3f}",
                    flush=True,
                )
    worst_an = max(results.items(), key=lambda kv: kv[1]["an_step"])
    worst_des = max(results.items(), key=lambda kv: kv[1]["des_step"])
    over_an = sum(r["an_step"] > TARGET_ANALYTIC_S for r in results.values())
    over_des = sum(r["des_step"] > TARGET_DES_S for r in results.values())
    n = len(results)
    print(f"steps: {n}; total rows {sum(r['rows'] for r in results.values()):,}")
    print(
        f"worst analytic step: {worst_an[1]['an_step']:.3f} s on {'/'.join(worst_an[0])}; "
        f"{over_an} of {n} over {TARGET_ANALYTIC_S} s: "
        f"{'PASS' if not over_an else 'FAIL'}"
    )
    print(
        f"worst DES step: {worst_des[1]['des_step']:.3f} s on {'/'.join(worst_des[0])}; "
        f"{over_des} of {n} over {TARGET_DES_S} s: {'PASS' if not over_des else 'FAIL'}"
    )
    slowest = sorted(results.items(), key=lambda kv: -kv[1]["des_step"])[: args.whole]
    for (hw_name, wl_name, mode), r in slowest:
        seconds = whole_process_s(hw_name, wl_name, mode)
        print(
            f"whole process closim run {hw_name} {wl_name} {mode}: {seconds:.2f} s "
            f"(in-process DES step {r['des_step']:.3f} s)"
        )


if __name__ == "__main__":
    main()

"""DES vs analytic cycles on every bundled hw x workload pair, inference and training.

Prints, per pair, both engines' cycles, the gap (DES / analytic - 1), the compute and DRAM lower
bounds and which of them binds, and the wall time of each engine. Run:

    python benchmarks/engine_gap.py [--hw NAME ...] [--workload NAME ...]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from closim.api import simulate
from closim.config import load_hw, load_workload

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", nargs="*", default=None)
    parser.add_argument("--workload", nargs="*", default=None)
    args = parser.parse_args()
    hws = args.hw or sorted(p.stem for p in (ROOT / "hw_configs").glob("*.yaml"))
    wls = args.workload or sorted(p.stem for p in (ROOT / "workloads").glob("*.yaml"))
    print(
        f"{'hw':15} {'workload':20} {'mode':9} {'analytic':>12} {'des':>12} {'gap':>7} "
        f"{'compute LB':>12} {'DRAM LB':>12} {'binds':>7} {'t_an s':>7} {'t_des s':>7}"
    )
    worst = (0.0, "")
    for hw_name in hws:
        hw = load_hw(ROOT / "hw_configs" / f"{hw_name}.yaml")
        for wl_name in wls:
            wl = load_workload(ROOT / "workloads" / f"{wl_name}.yaml")
            for mode in ("inference", "training"):
                t0 = time.perf_counter()
                an = simulate(hw, wl, engine="analytic", mode=mode)
                t1 = time.perf_counter()
                de = simulate(hw, wl, engine="des", mode=mode)
                t2 = time.perf_counter()
                moved = an.totals.read_bytes["dram"] + an.totals.write_bytes["dram"]
                dram_lb = math.ceil(moved / hw.dram_bytes_per_cycle)
                gap = de.totals.cycles / an.totals.cycles - 1
                binds = "dram" if dram_lb >= an.totals.critical_compute_cycles else "compute"
                if abs(gap) > abs(worst[0]):
                    worst = (gap, f"{hw_name} x {wl_name} ({mode})")
                print(
                    f"{hw_name:15} {wl_name:20} {mode:9} {an.totals.cycles:12,} "
                    f"{de.totals.cycles:12,} {gap:+7.1%} {an.totals.critical_compute_cycles:12,} "
                    f"{dram_lb:12,} {binds:>7} {t1 - t0:7.2f} {t2 - t1:7.2f}",
                    flush=True,
                )
    print(f"largest gap: {worst[0]:+.1%} on {worst[1]}")


if __name__ == "__main__":
    main()

"""How fast closim simulates: the DES on training steps, a large dense layer, the whole CLI
process, and one GEMM side by side with SCALE-Sim v3.

Run: ``python benchmarks/sim_speed.py [--repeats N] [--scalesim-python PATH]`` (about 30 s; the
SCALE-Sim part runs only when SCALE-Sim is installed in its own interpreter: ``--scalesim-python``,
else ``$SCALESIM_PYTHON``, else ``/work/scalesim-venv/bin/python``).

Measured, in this process (configs loaded once beforehand; medians of ``--repeats`` runs; the
mapper's memo caches are cleared before each run so that every run maps from cold, as one
``closim run`` does; "warm" columns keep them, as a sweep does):

1. One training step of ``workloads/alexnet-fc.yaml`` and ``alexnet-fc-clos.yaml`` on
   ``hw_configs/tpu-v1.yaml`` and ``scalesim-32x32.yaml``: wall seconds of mapping (lowering and
   mapper: program -> trace), of the simulation alone (``closim.engines.des.run(trace, hw)``), and
   of the whole ``closim.api.simulate(..., engine="des")`` (mapping, DES, counting, energy); trace
   rows, simulated events (SimPy's event count), simulated cycles and events per second.
2. One 4096x4096 dense layer at batch 128 (inference) on ``scalesim-32x32``, with ``simulate``.
   SCALE-Sim v3 needs 775-870 s and up to 10 GB for that layer (quoted, not run here).
3. The whole ``closim run --hw hw_configs/tpu-v1.yaml --workload workloads/alexnet-fc-clos.yaml
   --mode training --format json`` process (a subprocess: interpreter start-up and imports
   included).
4. With SCALE-Sim: the GEMM M=64, K=784, N=300 on one 32x32 weight-stationary array in both
   tools. SCALE-Sim runs its Python API in a subprocess (CALC mode, no trace files), timed inside
   the process (simulation only) and as a whole process; closim is timed in-process
   (``simulate``, DES) and as a whole ``closim run`` process. The script asserts that closim's
   cycles for SCALE-Sim's mapping (``scalesim_compute_cycles``) equal SCALE-Sim's compute cycles.

Targets (PASS/FAIL printed): under 1 s in-process per simulated training step and for the
4096x4096 layer; under 2 s for the whole ``closim run`` process; closim's in-process simulation at
least 100x faster than SCALE-Sim's in-process simulation of the same GEMM.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _scalesim import INSTALL_HINT, run_scalesim, scalesim_available, scalesim_python

from closim.api import lower_workload, simulate
from closim.config import load_hw, load_workload
from closim.engines import des
from closim.mapping import lowering, mapper, systolic, tiling
from closim.mapping.mapper import map_program
from closim.mapping.systolic import scalesim_compute_cycles
from closim.model.workload import LayerSpec, Workload

ROOT = Path(__file__).resolve().parents[1]
HWS = ("tpu-v1", "scalesim-32x32")
WORKLOADS = ("alexnet-fc", "alexnet-fc-clos")
CLI = (
    "run --hw hw_configs/tpu-v1.yaml --workload workloads/alexnet-fc-clos.yaml "
    "--mode training --format json"
)
CLI_GEMM = "run --hw hw_configs/scalesim-32x32.yaml --workload workloads/gemm.yaml --format json"
GEMM = (64, 784, 300)  # M, K, N
TARGET_STEP_S = 1.0
TARGET_PROCESS_S = 2.0
TARGET_SPEEDUP = 100.0
SCALESIM_BIG_LAYER = "775-870 s, up to 10 GB (quoted, not run)"


def _cold() -> None:
    """Forget what the mapper memoizes (functools caches of closim.mapping: fold plans, tiling
    searches) so that every timed run maps from scratch, as one ``closim run`` process does."""
    for module in (lowering, mapper, systolic, tiling):
        for obj in vars(module).values():
            clear = getattr(obj, "cache_clear", None)
            if callable(clear):
                clear()


def median_s(fn: Callable[[], object], repeats: int, cold: bool = True) -> tuple[float, object]:
    """Median wall seconds of ``fn`` over ``repeats`` runs (cold: caches cleared before each), and
    its last result."""
    times = []
    out = None
    for _ in range(repeats):
        if cold:
            _cold()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def process_s(args: list[str], repeats: int) -> float:
    """Median wall seconds of a whole ``python -m closim ...`` process."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "closim", *args], cwd=ROOT, check=True, capture_output=True
        )
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(header: tuple[str, ...], rows: list[tuple], left: int = 2) -> None:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        cells = [
            str(v).ljust(w) if i < left else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(r, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="in-process repeats (median)")
    ap.add_argument("--process-repeats", type=int, default=3, help="whole-process repeats")
    ap.add_argument("--scalesim-python", help="interpreter with scalesim installed")
    args = ap.parse_args(argv)
    reps = args.repeats
    verdicts: list[tuple[str, bool]] = []

    print(f"1. DES, one training step (in-process, median of {reps} cold runs)")
    rows = []
    for hw_name in HWS:
        hw = load_hw(ROOT / "hw_configs" / f"{hw_name}.yaml")
        for wl_name in WORKLOADS:
            wl = load_workload(ROOT / "workloads" / f"{wl_name}.yaml")

            def mapping(hw=hw, wl=wl):
                return map_program(lower_workload(hw, wl, "training", wl.batch), hw)

            t_map, trace = median_s(mapping, reps)
            t_des, played = median_s(lambda hw=hw, trace=trace: des.run(trace, hw), reps)
            t_all, res = median_s(
                lambda hw=hw, wl=wl: simulate(hw, wl, engine="des", mode="training"), reps
            )
            t_warm, _ = median_s(
                lambda hw=hw, wl=wl: simulate(hw, wl, engine="des", mode="training"), reps, False
            )
            assert res.totals.cycles == played.cycles
            rows.append((
                hw_name, wl_name, f"{t_map:.3f}", f"{t_des:.3f}", f"{t_all:.3f}", f"{t_warm:.3f}",
                f"{len(trace.rows):,}", f"{played.events:,}", f"{played.cycles:,}",
                f"{played.events / t_des:,.0f}", verdict(t_all < TARGET_STEP_S),
            ))  # fmt: skip
            verdicts.append((f"training step {hw_name} / {wl_name} < 1 s", t_all < TARGET_STEP_S))
    table(
        ("hw", "workload", "map s", "DES s", "total s", "warm s", "trace rows", "events",
         "sim cycles", "events/s", "< 1 s"),
        rows,
    )  # fmt: skip
    print(
        "  map s: lowering + mapper (program -> trace); DES s: closim.engines.des.run(trace, hw);"
    )
    print("  total s: closim.api.simulate(engine='des'), mapping + DES + counting + energy;")
    print("  warm s: the same with the mapper's caches kept from the previous run (sweeps).")

    print("\n2. One 4096x4096 dense layer, batch 128, inference, scalesim-32x32 (in-process)")
    hw = load_hw(ROOT / "hw_configs" / "scalesim-32x32.yaml")
    big = Workload(name="dense-4096", batch=128, layers=(LayerSpec("fc", 4096, 4096),))
    t_big, res = median_s(lambda: simulate(hw, big, engine="des"), reps)
    t_big_warm, _ = median_s(lambda: simulate(hw, big, engine="des"), reps, False)
    ok = t_big < TARGET_STEP_S
    verdicts.append(("4096x4096 layer < 1 s", ok))
    print(
        f"  closim: {t_big:.3f} s (simulate, DES; warm {t_big_warm:.3f} s), "
        f"{len(res.trace.rows):,} trace rows, "
        f"{res.totals.cycles:,} cycles ({res.totals.compute_cycles:,} compute)  {verdict(ok)}"
    )
    print(f"  SCALE-Sim v3: {SCALESIM_BIG_LAYER}")

    print(f"\n3. Whole process (median of {args.process_repeats}): closim {CLI}")
    t_cli = process_s(CLI.split(), args.process_repeats)
    ok = t_cli < TARGET_PROCESS_S
    verdicts.append(("closim run process < 2 s", ok))
    print(f"  {t_cli:.2f} s  {verdict(ok)}")

    m, k, n = GEMM
    print(f"\n4. GEMM M={m} K={k} N={n}, one 32x32 ws array: closim vs SCALE-Sim v3")
    python = scalesim_python(args.scalesim_python)
    if not scalesim_available(python):
        print(f"  SCALE-Sim not found at {python}; install it with: {INSTALL_HINT}")
    else:
        hw = load_hw(ROOT / "hw_configs" / "scalesim-32x32.yaml", {"pe_array.dataflow": "ws"})
        wl = load_workload(
            ROOT / "workloads" / "gemm.yaml",
            {"batch": m, "layers.gemm.in_features": k, "layers.gemm.out_features": n},
        )
        parts = hw.sram.partitions
        sram_kb = (
            parts.activations_bytes // 1024,
            parts.weights_bytes // 1024,
            parts.partial_sums_bytes // 1024,
        )
        t_cl, res = median_s(lambda: simulate(hw, wl, engine="des"), reps)
        t_cl_warm, _ = median_s(lambda: simulate(hw, wl, engine="des"), reps, False)
        t_cl_proc = process_s(CLI_GEMM.split(), args.process_repeats)
        runs = [
            run_scalesim([GEMM], "ws", 32, 32, sram_kb=sram_kb, python=python)
            for _ in range(args.process_repeats)
        ]
        ss_sim = statistics.median(r.sim_s for r in runs)
        ss_proc = statistics.median(r.process_s for r in runs)
        ss_cycles = runs[0].gemms[0].compute_cycles
        model = scalesim_compute_cycles("ws", m, k, n, 32, 32)
        assert model == ss_cycles, f"closim SCALE-Sim model {model} != SCALE-Sim {ss_cycles}"
        mp = res.trace.mappings[0].to_dict()
        print(
            f"  compute cycles: SCALE-Sim {ss_cycles:,}; closim for SCALE-Sim's mapping "
            f"{model:,} (equal); closim's own mapping ({mp['orientation']}) "
            f"{res.totals.compute_cycles:,}"
        )
        speedup = ss_sim / t_cl
        proc_ratio = ss_proc / t_cl_proc
        table(
            ("", "SCALE-Sim s", "closim s", "ratio"),
            [
                ("simulation, in-process", f"{ss_sim:.3f}", f"{t_cl:.4f}", f"{speedup:,.0f}x"),
                ("  closim warm caches", f"{ss_sim:.3f}", f"{t_cl_warm:.4f}",
                 f"{ss_sim / t_cl_warm:,.0f}x"),
                ("whole process", f"{ss_proc:.2f}", f"{t_cl_proc:.2f}", f"{proc_ratio:.1f}x"),
            ],
            left=1,
        )  # fmt: skip
        print(
            "  SCALE-Sim in-process: scalesim(...) + run_scale(), imports excluded; closim "
            "in-process: simulate(engine='des'). Whole process: interpreter, imports, config "
            "files, report."
        )
        ok = speedup >= TARGET_SPEEDUP
        verdicts.append(("in-process simulation >= 100x faster than SCALE-Sim", ok))
        print(f"  >= {TARGET_SPEEDUP:.0f}x faster (in-process): {verdict(ok)}")

    print("\nTargets:")
    for name, ok in verdicts:
        print(f"  {verdict(ok)}  {name}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())

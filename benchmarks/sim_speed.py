"""How fast closim simulates: the DES on training steps, a large dense layer, the whole CLI
process, and one GEMM side by side with SCALE-Sim v3 and ZigZag.

Run: ``python benchmarks/sim_speed.py [--repeats N] [--process-repeats N] [--tool-repeats N]
[--scalesim-python PATH] [--zigzag-python PATH]`` (about 70 s with both tools, most of it
SCALE-Sim). Each tool runs in its own interpreter, never in closim's, and only when installed
there (else the script prints how to install it and skips it): SCALE-Sim: ``--scalesim-python``,
else ``$SCALESIM_PYTHON``, else ``/work/scalesim-venv/bin/python`` (see ``_scalesim.py``); ZigZag:
``--zigzag-python``, else ``$ZIGZAG_PYTHON``, else ``/work/zigzag-venv/bin/python`` (see
``_zigzag.py``).

Measured, in this process (configs loaded once beforehand; medians of ``--repeats`` runs; the
mapper's memo caches are cleared before each run (``closim.mapping.cache.clear_caches``) so that
every run maps from cold, as one ``closim run`` does; "warm" columns keep them, as a sweep does):

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
4. The GEMM M=128, K=1024, N=1024 on one 32x32 weight-stationary array (closim:
   ``scalesim-32x32``), timed in closim in-process with both engines (``simulate(...,
   engine="analytic")`` and ``engine="des"``) and as a whole ``closim run`` process; with
   SCALE-Sim v3 (its Python API in a subprocess, CALC mode, no trace files) and with ZigZag
   (``get_hardware_performance_zigzag`` in a subprocess, on an equivalent 32x32 ws array with a
   register level, one SRAM and DRAM), each timed inside its process (simulation only, imports
   excluded) and as a whole process, medians of ``--tool-repeats`` runs. The script asserts that
   closim's cycles for SCALE-Sim's mapping (``scalesim_compute_cycles``) equal SCALE-Sim's
   compute cycles (227,327). ZigZag's latency is printed beside closim's cycles: a different
   model, not expected to equal them.

Targets (PASS/FAIL printed): under 1 s in-process per simulated training step and for the
4096x4096 layer; under 2 s for the whole ``closim run`` process; closim's in-process simulation
(cold caches, each engine) at least 1,000x faster than SCALE-Sim's and than ZigZag's in-process
simulation of the same GEMM.
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
from _zigzag import INSTALL_HINT as ZIGZAG_INSTALL_HINT
from _zigzag import run_zigzag, zigzag_available, zigzag_python, zigzag_version

from closim.api import lower_workload, simulate
from closim.config import load_hw, load_workload
from closim.engines import des
from closim.mapping.cache import clear_caches
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
GEMM = (128, 1024, 1024)  # M, K, N
ENGINES = {"analytic": "analytic", "des": "DES"}  # simulate(engine=...) -> label
TARGET_STEP_S = 1.0
TARGET_PROCESS_S = 2.0
TARGET_SPEEDUP = 1000.0
SCALESIM_BIG_LAYER = "775-870 s, up to 10 GB (quoted, not run)"


def _cold() -> None:
    """Forget what the mapper memoizes (fold plans, tiling searches, GEMM choices) so that every
    timed run maps from scratch, as one ``closim run`` process does."""
    clear_caches()


def gemm_sets(gemm: tuple[int, int, int]) -> list[str]:
    """``closim run`` arguments that set ``workloads/gemm.yaml`` to the GEMM ``(M, K, N)``."""
    m, k, n = gemm
    sets = {"batch": m, "layers.gemm.in_features": k, "layers.gemm.out_features": n}
    return [a for path, v in sets.items() for a in ("--set", f"workload.{path}={v}")]


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
    ap.add_argument("--tool-repeats", type=int, default=1, help="SCALE-Sim / ZigZag runs (median)")
    ap.add_argument("--scalesim-python", help="interpreter with scalesim installed")
    ap.add_argument("--zigzag-python", help="interpreter with zigzag-dse installed")
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
    print(
        f"\n4. GEMM M={m} K={k} N={n}, one 32x32 ws array: closim vs SCALE-Sim v3 and ZigZag "
        f"(tools: median of {args.tool_repeats} run(s))"
    )
    hw = load_hw(ROOT / "hw_configs" / "scalesim-32x32.yaml", {"pe_array.dataflow": "ws"})
    wl = load_workload(
        ROOT / "workloads" / "gemm.yaml",
        {"batch": m, "layers.gemm.in_features": k, "layers.gemm.out_features": n},
    )
    closim_s: dict[str, tuple[float, float]] = {}  # engine -> (cold, warm) in-process seconds
    for engine in ENGINES:
        t_cold, res = median_s(lambda engine=engine: simulate(hw, wl, engine=engine), reps)
        t_warm, _ = median_s(lambda engine=engine: simulate(hw, wl, engine=engine), reps, False)
        closim_s[engine] = (t_cold, t_warm)
    t_cl_proc = process_s([*CLI_GEMM.split(), *gemm_sets(GEMM)], args.process_repeats)
    mp = res.trace.mappings[0].to_dict()
    print(
        f"  closim (scalesim-32x32, simulate(), median of {reps} cold runs): "
        + ", ".join(f"{ENGINES[e]} {c:.4f} s (warm {w:.4f} s)" for e, (c, w) in closim_s.items())
        + f"; {res.totals.cycles:,} cycles ({res.totals.compute_cycles:,} compute, "
        f"mapping {mp['orientation']}); whole `closim run` process {t_cl_proc:.2f} s"
    )
    tools: list[tuple[str, float, float]] = []  # (name, in-process s, whole-process s)

    python = scalesim_python(args.scalesim_python)
    if not scalesim_available(python):
        print(f"  SCALE-Sim v3 not found at {python}; skipped. Install it with: {INSTALL_HINT}")
    else:
        parts = hw.sram.partitions
        sram_kb = (
            parts.activations_bytes // 1024,
            parts.weights_bytes // 1024,
            parts.partial_sums_bytes // 1024,
        )
        runs = [
            run_scalesim([GEMM], "ws", 32, 32, sram_kb=sram_kb, python=python)
            for _ in range(args.tool_repeats)
        ]
        ss_cycles = runs[0].gemms[0].compute_cycles
        model = scalesim_compute_cycles("ws", m, k, n, 32, 32)
        assert model == ss_cycles, f"closim SCALE-Sim model {model} != SCALE-Sim {ss_cycles}"
        print(
            f"  SCALE-Sim v3: compute cycles {ss_cycles:,}; closim for SCALE-Sim's mapping "
            f"{model:,} (equal); closim's own mapping {res.totals.compute_cycles:,}"
        )
        tools.append((
            "SCALE-Sim v3",
            statistics.median(r.sim_s for r in runs),
            statistics.median(r.process_s for r in runs),
        ))  # fmt: skip

    python = zigzag_python(args.zigzag_python)
    if not zigzag_available(python):
        print(f"  ZigZag not found at {python}; skipped. Install it with: {ZIGZAG_INSTALL_HINT}")
    else:
        name = f"ZigZag {zigzag_version(python)}"
        zz = [
            run_zigzag(
                GEMM, 32, 32, sram_bytes=hw.sram.capacity_bytes,
                sram_bytes_per_cycle=hw.sram.bytes_per_cycle,
                dram_bytes_per_cycle=hw.dram_bytes_per_cycle, python=python,
            )
            for _ in range(args.tool_repeats)
        ]  # fmt: skip
        print(
            f"  {name}: latency {zz[0].latency_cycles:,} cycles (ideal {zz[0].ideal_cycles:,}); "
            f"closim {res.totals.cycles:,}. A different model (its own memory hierarchy, "
            "stalls and mapping search): side by side, not expected to be equal"
        )
        tools.append((
            name,
            statistics.median(r.sim_s for r in zz),
            statistics.median(r.process_s for r in zz),
        ))  # fmt: skip

    if tools:
        rows = []
        for name, t_in, t_proc in tools:
            ratios = [f"{t_in / closim_s[e][0]:,.0f}x" for e in ENGINES]
            ratios += [f"{t_in / closim_s[e][1]:,.0f}x" for e in ENGINES]
            rows.append(
                (name, f"{t_in:.3f}", *ratios, f"{t_proc:.2f}", f"{t_proc / t_cl_proc:.1f}x")
            )
        table(
            ("tool", "tool s", "analytic", "DES", "analytic warm", "DES warm", "tool process s",
             "process"),
            rows,
            left=1,
        )  # fmt: skip
        print("  tool s: the tool's simulation in its own process, imports excluded (SCALE-Sim:")
        print("  scalesim(...) + run_scale(); ZigZag: get_hardware_performance_zigzag(...): YAML")
        print("  parsing, LOMA mapping search, cost model, its result files). analytic, DES: how")
        print("  many times faster closim's in-process simulate(engine=...) is (tool s / closim s;")
        print("  cold mapper caches; warm: kept). process: whole tool process / whole closim run.")
        for name, t_in, _ in tools:
            oks = {e: t_in / closim_s[e][0] >= TARGET_SPEEDUP for e in ENGINES}
            short = name.split()[0]
            for e, ok in oks.items():
                verdicts.append((f">= 1,000x vs {short} (in-process), {ENGINES[e]}", ok))
            print(
                f"  >= 1,000x vs {short} (in-process): {verdict(all(oks.values()))} ("
                + ", ".join(f"{ENGINES[e]} {verdict(ok)}" for e, ok in oks.items())
                + ")"
            )

    print("\nTargets:")
    for name, ok in verdicts:
        print(f"  {verdict(ok)}  {name}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())

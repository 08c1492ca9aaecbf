"""Run SCALE-Sim v3 on dense GEMMs from a benchmark script and parse its reports.

SCALE-Sim lives in its own interpreter (a venv with ``scalesim==3.0.0`` and ``numpy<2.4``); closim
never imports it. The interpreter is ``--scalesim-python PATH``, else ``$SCALESIM_PYTHON``, else
``/work/scalesim-venv/bin/python``. Each call writes a config, a GEMM topology and an (unused)
layout file to a temporary folder and runs SCALE-Sim's Python API in a subprocess, in CALC mode
(no stalls) and without trace files. Counts are SCALE-Sim words, which are 1 byte.

Traps handled here (see SCALE-Sim v3's ``topology_utils`` and ``scale_config``): a topology row is
``name, M, N, K,`` with N before K and a trailing comma (without it K is silently dropped); there
must be no ``[network_presets]`` section; the library prints an error and calls ``exit()`` (status
0) on bad input, so a missing report is an error here.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PYTHON = "/work/scalesim-venv/bin/python"
ENV_VAR = "SCALESIM_PYTHON"
INSTALL_HINT = (
    f"python3.11 -m venv {DEFAULT_PYTHON[: -len('/bin/python')]} && "
    f"{DEFAULT_PYTHON[: -len('python')]}pip install scalesim==3.0.0 'numpy<2.4' "
    f"(or in another venv V, then pass --scalesim-python V/bin/python or set {ENV_VAR})"
)

_CFG = """[general]
run_name = run

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : {ifmap_kb}
FilterSramSzkB : {filter_kb}
OfmapSramSzkB : {ofmap_kb}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Dataflow : {dataflow}
Bandwidth : 10
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : 10
IfmapSRAMBankNum : 1
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : 10
FilterSRAMBankNum : 1
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : CALC
UseRamulatorTrace : False
"""

_LAYOUT = "Layer name, IFMAP Height Intraline Factor,\n"  # parsed, unused without custom layouts

_MARK = "CLOSIM_SCALESIM_TIMING "

# Runs in SCALE-Sim's interpreter: imports and simulation timed apart, printed on a marked line.
_DRIVER = f"""
import json, sys, time
t0 = time.perf_counter()
from scalesim.scale_sim import scalesim
t1 = time.perf_counter()
s = scalesim(save_disk_space=True, verbose=False, config=sys.argv[1], topology=sys.argv[2],
             layout=sys.argv[3], input_type_gemm=True)
s.run_scale(top_path=sys.argv[4])
t2 = time.perf_counter()
print({_MARK!r} + json.dumps({{"import_s": t1 - t0, "sim_s": t2 - t1}}))
"""


@dataclass(frozen=True)
class ScaleSimGemm:
    """SCALE-Sim's counts for one GEMM C[M,N] = A[M,K] @ B[K,N] (A = ifmap, B = filter)."""

    m: int
    k: int
    n: int
    dataflow: str
    compute_cycles: int  # "Total Cycles" - "Stall Cycles" (stalls are 0 in CALC mode)
    stall_cycles: int
    dram_ifmap_read: int
    dram_filter_read: int
    dram_ofmap_write: int
    sram_ifmap_read: int
    sram_filter_read: int
    sram_ofmap_write: int
    # BANDWIDTH_REPORT.csv: average DRAM words per cycle CALC mode needs for no stalls
    dram_ifmap_bw: float = 0.0
    dram_filter_bw: float = 0.0
    dram_ofmap_bw: float = 0.0

    @property
    def dram_read(self) -> int:
        return self.dram_ifmap_read + self.dram_filter_read

    @property
    def dram_demand_words_per_cycle(self) -> float:
        """SCALE-Sim's DRAM bandwidth demand: its average ifmap + filter + ofmap DRAM words per
        cycle (words are 1 byte here)."""
        return self.dram_ifmap_bw + self.dram_filter_bw + self.dram_ofmap_bw


@dataclass(frozen=True)
class ScaleSimRun:
    """One SCALE-Sim process: its GEMMs and wall times (seconds)."""

    gemms: list[ScaleSimGemm]
    sim_s: float  # inside the process: scalesim(...) + run_scale(), imports excluded
    import_s: float  # inside the process: ``from scalesim.scale_sim import scalesim``
    process_s: float  # the whole subprocess, interpreter start-up and imports included


def scalesim_python(cli_value: str | None = None) -> str:
    """The interpreter that has SCALE-Sim: the CLI value, else $SCALESIM_PYTHON, else default."""
    return cli_value or os.environ.get(ENV_VAR) or DEFAULT_PYTHON


def scalesim_available(python: str) -> bool:
    """True when ``python`` runs and can import ``scalesim``."""
    try:
        done = subprocess.run(
            [python, "-c", "import scalesim.scale_sim"],
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _report(path: Path) -> list[dict[str, float]]:
    with path.open() as f:
        rows = [r for r in csv.reader(f) if r]
    header = [h.strip() for h in rows[0] if h.strip()]
    return [dict(zip(header, (float(v) for v in r if v.strip()), strict=True)) for r in rows[1:]]


def run_scalesim(
    gemms: list[tuple[int, int, int]],
    dataflow: str,
    rows: int,
    cols: int,
    *,
    sram_kb: tuple[int, int, int] = (256, 256, 128),
    python: str | None = None,
    timeout_s: float = 1800,
) -> ScaleSimRun:
    """SCALE-Sim v3 (CALC mode) on GEMMs ``(M, K, N)``, one layer each, in one subprocess.

    ``sram_kb``: (ifmap, filter, ofmap) SRAM sizes in KiB of 1-byte words.
    """
    python = scalesim_python(python)
    with tempfile.TemporaryDirectory(prefix="closim_scalesim_") as tmp:
        wd = Path(tmp)
        cfg = _CFG.format(
            rows=rows,
            cols=cols,
            ifmap_kb=sram_kb[0],
            filter_kb=sram_kb[1],
            ofmap_kb=sram_kb[2],
            dataflow=dataflow,
        )
        (wd / "run.cfg").write_text(cfg)
        topo = ["Layer, M, N, K,"] + [f"g{i}, {m}, {n}, {k}," for i, (m, k, n) in enumerate(gemms)]
        (wd / "topo.csv").write_text("\n".join(topo) + "\n")
        (wd / "layout.csv").write_text(_LAYOUT)
        args = [python, "-c", _DRIVER]
        args += [str(wd / f) for f in ("run.cfg", "topo.csv", "layout.csv", "out")]
        t0 = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
        process_s = time.perf_counter() - t0
        report = wd / "out" / "run"
        marks = [ln for ln in done.stdout.splitlines() if ln.startswith(_MARK)]
        if done.returncode != 0 or not marks or not (report / "COMPUTE_REPORT.csv").exists():
            tail = (done.stdout + done.stderr)[-2000:]
            raise RuntimeError(f"SCALE-Sim failed (exit {done.returncode}):\n{tail}")
        timing = json.loads(marks[-1][len(_MARK) :])
        comp = _report(report / "COMPUTE_REPORT.csv")
        det = _report(report / "DETAILED_ACCESS_REPORT.csv")
        bws = _report(report / "BANDWIDTH_REPORT.csv")
    out = []
    for (m, k, n), c, d, bw in zip(gemms, comp, det, bws, strict=True):
        total, stall = int(c["Total Cycles"]), int(c["Stall Cycles"])
        out.append(
            ScaleSimGemm(
                m=m,
                k=k,
                n=n,
                dataflow=dataflow,
                compute_cycles=total - stall,
                stall_cycles=stall,
                dram_ifmap_read=int(d["DRAM IFMAP Reads"]),
                dram_filter_read=int(d["DRAM Filter Reads"]),
                dram_ofmap_write=int(d["DRAM OFMAP Writes"]),
                sram_ifmap_read=int(d["SRAM IFMAP Reads"]),
                sram_filter_read=int(d["SRAM Filter Reads"]),
                sram_ofmap_write=int(d["SRAM OFMAP Writes"]),
                dram_ifmap_bw=bw["Avg IFMAP DRAM BW"],
                dram_filter_bw=bw["Avg FILTER DRAM BW"],
                dram_ofmap_bw=bw["Avg OFMAP DRAM BW"],
            )
        )
    return ScaleSimRun(out, timing["sim_s"], timing["import_s"], process_s)

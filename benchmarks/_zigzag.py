"""Run ZigZag (KU Leuven's analytical DSE cost model) on one dense GEMM from a benchmark script.

ZigZag lives in its own interpreter (a venv with ``zigzag-dse==3.9.1`` and ``six``); closim never
imports it. The interpreter is ``--zigzag-python PATH``, else ``$ZIGZAG_PYTHON``, else
``/work/zigzag-venv/bin/python``. Each call writes an accelerator, a mapping and a one-layer
workload (YAML, ZigZag 3.x formats: see its ``zigzag/inputs/hardware/tpu_like.yaml``,
``mapping/tpu_like.yaml`` and ``workload/gemm_layer.yaml``) to a temporary folder and runs
``zigzag.api.get_hardware_performance_zigzag`` in a subprocess (LOMA temporal-mapping search with
its default ``lpf_limit=6``, optimizing latency), timed inside the process (the API call: parsing
the YAML files, the mapping search, the cost model and ZigZag's own result files; imports
excluded) and as a whole process.

The accelerator: one ``rows`` x ``cols`` array of MACs, weight-stationary and systolic along both
dimensions (``systolic_dimensions``: ZigZag then adds the array's drain cycles), D1 unrolling the
GEMM's N (ZigZag's K, output channels) and D2 its K (ZigZag's C, the reduction); a register level
(one weight per MAC; one partial sum per column, shared along the reduction dimension D2); one
SRAM holding all three operands; DRAM. Words are 1 byte. Sizes and bandwidths come from the
caller (closim's config); ZigZag's per-access energies here are placeholders (only its latency is
read). ZigZag models a different machine than closim (its own memory hierarchy, stall and
on/off-loading model and mapping search), so its cycles are shown beside closim's, not expected
to equal them.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PYTHON = "/work/zigzag-venv/bin/python"
ENV_VAR = "ZIGZAG_PYTHON"
INSTALL_HINT = (
    f"python3.11 -m venv {DEFAULT_PYTHON[: -len('/bin/python')]} && "
    f"{DEFAULT_PYTHON[: -len('python')]}pip install zigzag-dse==3.9.1 six "
    f"(or in another venv V, then pass --zigzag-python V/bin/python or set {ENV_VAR})"
)

# Sizes and bandwidths in bits (ZigZag's unit); costs in pJ per access (placeholders).
_HW = """name: closim_ws_{rows}x{cols}

memories:
  reg_W:  # one weight per MAC: weight-stationary
    size: 8
    r_cost: 0.01
    w_cost: 0.01
    area: 0
    latency: 1
    operands: [I2]
    ports:
      - name: r_port_1
        type: read
        bandwidth_min: 8
        bandwidth_max: 8
        allocation:
          - I2, tl
      - name: w_port_1
        type: write
        bandwidth_min: 8
        bandwidth_max: 8
        allocation:
          - I2, fh
    served_dimensions: []

  reg_O:  # one partial sum per column, the reduction (D2) runs down it
    size: 32
    r_cost: 0.02
    w_cost: 0.02
    area: 0
    latency: 1
    operands: [O]
    ports:
      - name: r_port_1
        type: read
        bandwidth_min: 32
        bandwidth_max: 32
        allocation:
          - O, tl
      - name: r_port_2
        type: read
        bandwidth_min: 32
        bandwidth_max: 32
        allocation:
          - O, th
      - name: w_port_1
        type: write
        bandwidth_min: 32
        bandwidth_max: 32
        allocation:
          - O, fh
      - name: w_port_2
        type: write
        bandwidth_min: 32
        bandwidth_max: 32
        allocation:
          - O, fl
    served_dimensions: [D2]

  sram:
    size: {sram_bits}
    r_cost: 26
    w_cost: 22
    area: 0
    latency: 1
    operands: [I1, I2, O]
    ports:
      - name: r_port_1
        type: read
        bandwidth_min: 8
        bandwidth_max: {sram_bw_bits}
        allocation:
          - I1, tl
          - I2, tl
          - O, tl
          - O, th
      - name: w_port_1
        type: write
        bandwidth_min: 8
        bandwidth_max: {sram_bw_bits}
        allocation:
          - I1, fh
          - I2, fh
          - O, fh
          - O, fl
    served_dimensions: [D1, D2]

  dram:
    size: 10000000000
    r_cost: 4480
    w_cost: 4480
    area: 0
    latency: 1
    operands: [I1, I2, O]
    ports:
      - name: rw_port_1
        type: read_write
        bandwidth_min: 8
        bandwidth_max: {dram_bw_bits}
        allocation:
          - I1, fh
          - I1, tl
          - I2, fh
          - I2, tl
          - O, fh
          - O, tl
          - O, fl
          - O, th
    served_dimensions: [D1, D2]

operational_array:
  unit_energy: 0.3
  unit_area: 1
  dimensions: [D1, D2]
  sizes: [{cols}, {rows}]  # D1: columns (the GEMM's N), D2: rows (its K)
  systolic_dimensions: [D1, D2]
"""

_MAPPING = """- name: default
  spatial_mapping:
    D1:
      - K, {cols}
    D2:
      - C, {rows}
  memory_operand_links:
    O: O
    W: I2
    I: I1
"""

# C[M,N] = A[M,K] @ B[K,N] in ZigZag's names: B = M (batch), C = K (reduction), K = N (outputs).
_WORKLOAD = """- id: 0
  operator_type: Gemm
  equation: O[b][k]+=I[b][c]*W[c][k]
  dimension_relations: []
  loop_dims: [B, K, C]
  loop_sizes: [{m}, {n}, {k}]
  operand_precision:
    W: 8
    I: 8
    O: 8
    O_final: 8
  operand_source:
    I: 0
    W: 0
"""

_MARK = "CLOSIM_ZIGZAG_TIMING "

# Runs in ZigZag's interpreter: imports and the API call timed apart, printed on a marked line.
# Logging at WARNING (the API's basicConfig(INFO) is then a no-op), as SCALE-Sim runs quiet.
_DRIVER = f"""
import json, logging, sys, time
logging.basicConfig(level=logging.WARNING)
t0 = time.perf_counter()
from zigzag.api import get_hardware_performance_zigzag
t1 = time.perf_counter()
energy, latency, cmes = get_hardware_performance_zigzag(
    sys.argv[1], sys.argv[2], sys.argv[3], opt="latency", dump_folder=sys.argv[4],
    loma_show_progress_bar=False)
t2 = time.perf_counter()
cme = cmes[0][0]
print({_MARK!r} + json.dumps({{
    "import_s": t1 - t0, "sim_s": t2 - t1, "latency_cycles": float(latency),
    "ideal_cycles": float(cme.ideal_cycle),
    "ideal_temporal_cycles": float(cme.ideal_temporal_cycle),
    "energy_pj": float(energy)}}))
"""


@dataclass(frozen=True)
class ZigZagRun:
    """One ZigZag process on one GEMM C[M,N] = A[M,K] @ B[K,N]: its figures and wall times."""

    m: int
    k: int
    n: int
    latency_cycles: int  # ZigZag's latency_total2: compute, stalls, on/off-loading, drain
    ideal_cycles: int  # MACs / array size
    ideal_temporal_cycles: int  # the temporal loops of its chosen mapping, without stalls
    energy_pj: float  # with this module's placeholder access costs: not comparable
    sim_s: float  # inside the process: get_hardware_performance_zigzag(...), imports excluded
    import_s: float  # inside the process: ``from zigzag.api import ...``
    process_s: float  # the whole subprocess, interpreter start-up and imports included


def zigzag_python(cli_value: str | None = None) -> str:
    """The interpreter that has ZigZag: the CLI value, else $ZIGZAG_PYTHON, else the default."""
    return cli_value or os.environ.get(ENV_VAR) or DEFAULT_PYTHON


def zigzag_available(python: str) -> bool:
    """True when ``python`` runs and can import ``zigzag.api``."""
    try:
        done = subprocess.run(
            [python, "-c", "import zigzag.api"], capture_output=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def zigzag_version(python: str) -> str:
    """The installed ``zigzag-dse`` version, or ``?``."""
    code = "from importlib.metadata import version; print(version('zigzag-dse'))"
    try:
        done = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return done.stdout.strip() or "?"


def run_zigzag(
    gemm: tuple[int, int, int],
    rows: int,
    cols: int,
    *,
    sram_bytes: int = 655_360,
    sram_bytes_per_cycle: float = 96,
    dram_bytes_per_cycle: float = 100,
    python: str | None = None,
    timeout_s: float = 1800,
) -> ZigZagRun:
    """ZigZag on the GEMM ``(M, K, N)`` on one ``rows`` x ``cols`` ws array, in one subprocess."""
    m, k, n = gemm
    python = zigzag_python(python)
    with tempfile.TemporaryDirectory(prefix="closim_zigzag_") as tmp:
        wd = Path(tmp)
        hw = _HW.format(
            rows=rows,
            cols=cols,
            sram_bits=int(sram_bytes) * 8,
            sram_bw_bits=int(sram_bytes_per_cycle * 8),
            dram_bw_bits=int(dram_bytes_per_cycle * 8),
        )
        (wd / "hw.yaml").write_text(hw)
        (wd / "mapping.yaml").write_text(_MAPPING.format(rows=rows, cols=cols))
        (wd / "workload.yaml").write_text(_WORKLOAD.format(m=m, k=k, n=n))
        args = [python, "-c", _DRIVER]
        args += [str(wd / f) for f in ("workload.yaml", "hw.yaml", "mapping.yaml", "out")]
        t0 = time.perf_counter()
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout_s, check=False, cwd=wd
        )
        process_s = time.perf_counter() - t0
    marks = [ln for ln in done.stdout.splitlines() if ln.startswith(_MARK)]
    if done.returncode != 0 or not marks:
        tail = (done.stdout + done.stderr)[-2000:]
        raise RuntimeError(f"ZigZag failed (exit {done.returncode}):\n{tail}")
    r = json.loads(marks[-1][len(_MARK) :])
    return ZigZagRun(
        m=m,
        k=k,
        n=n,
        latency_cycles=round(r["latency_cycles"]),
        ideal_cycles=round(r["ideal_cycles"]),
        ideal_temporal_cycles=round(r["ideal_temporal_cycles"]),
        energy_pj=r["energy_pj"],
        sim_s=r["sim_s"],
        import_s=r["import_s"],
        process_s=process_s,
    )

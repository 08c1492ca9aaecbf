"""Shared test helpers: hand-built accelerators and workloads, independent of bundled files."""

from __future__ import annotations

import math

from closim.model.hw import (
    Accelerator,
    Accumulator,
    Dma,
    Dram,
    MappingOptions,
    PEArray,
    Sram,
    VectorUnit,
    Widths,
)
from closim.model.workload import LayerSpec, Workload


def make_hw(
    *,
    rows: int = 8,
    cols: int = 8,
    count: int = 1,
    dataflow: str = "ws",
    fold_model: str = "scalesim",
    sram_bytes: int = 1 << 20,
    bandwidth_gb_per_s: float = 16.0,
    latency_ns: float = 0.0,
    accumulator_bytes: int | None = None,
    packing: bool = True,
    transpose: bool = True,
    shuffle: str = "free",
    widths: tuple[int, int, int, int, int] = (2, 2, 4, 2, 4),
    clock_mhz: float = 1000.0,
    prefetch_depth: int = 1,
    outstanding_requests: int | None = None,
) -> Accelerator:
    """A small accelerator; ``bandwidth_gb_per_s=math.inf`` means unlimited DRAM bandwidth."""
    return Accelerator(
        name="test-hw",
        clock_mhz=clock_mhz,
        node_nm=45,
        fold_model=fold_model,
        widths=Widths(*widths),
        pe_array=PEArray(rows=rows, cols=cols, count=count, dataflow=dataflow, mac_pj=1.0),
        sram=Sram(
            capacity_bytes=sram_bytes, bytes_per_cycle=1024, read_pj_per_byte=1.0,
            write_pj_per_byte=1.5,
        ),
        dram=Dram(
            bandwidth_gb_per_s=bandwidth_gb_per_s, latency_ns=latency_ns, channels=1,
            burst_bytes=64, pj_per_bit=10.0,
        ),
        vector_unit=VectorUnit(lanes=16, pj_per_op=0.5),
        static_power_mw=100.0,
        mapping=MappingOptions(block_packing=packing, transpose=transpose, shuffle=shuffle),
        dma=Dma(prefetch_depth, outstanding_requests),
        accumulator=(
            None if accumulator_bytes is None else Accumulator(accumulator_bytes, 0.2, 0.3)
        ),
    )  # fmt: skip


def make_workload(
    widths: list[int],
    topologies: list[object],
    *,
    batch: int = 8,
    mode: str = "training",
    optimizer: str = "momentum",
) -> Workload:
    """An MLP with layers l0, l1, ... of the given widths and topologies."""
    layers = tuple(
        LayerSpec(f"l{i}", widths[i], widths[i + 1], topologies[i]) for i in range(len(topologies))
    )
    return Workload(
        name="test-wl", description="", source="", batch=batch, mode=mode, optimizer=optimizer,
        dtype="fp16", layers=layers,
    )  # fmt: skip


UNLIMITED = math.inf


# --- config files written by tests (shared by test_config.py-style and test_power.py tests) -------

from pathlib import Path  # noqa: E402 (this section was appended; the helpers above stay as they are)

#: The smallest valid hw config, as tests/test_config.py writes it (DRAM given by pj_per_bit).
MINIMAL_HW_YAML = """\
clock_mhz: 1000
node_nm: 45
fold_model: scalesim
widths: {weights_bytes: 1, activations_bytes: 1, partial_sums_bytes: 4,
         gradients_bytes: 2, optimizer_bytes: 4}
pe_array: {rows: 32, cols: 32, dataflow: ws, mac_pj: 0.3}
sram: {capacity_bytes: 8192, bytes_per_cycle: 8}
dram: {bandwidth_gb_per_s: 10, latency_ns: 100, pj_per_bit: 20}
"""


def write_config(path: Path, text: str) -> Path:
    """Write ``text`` (a YAML config) to ``path``, creating its folder; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path

"""The accelerator as the simulator sees it: frozen records with units in every field name.

Built only by ``closim.config.load_hw`` from a validated hw config (or by tests directly); the
simulator never sees a raw dict. Every energy is already resolved: values a config leaves out are
derived by ``closim.config.defaults`` and listed in ``Accelerator.derived``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from closim.model.vocabulary import ROLES

Dataflow = Literal["ws", "os", "is"]
"""Which operand stays in the PEs: weights (ws), outputs (os) or inputs (is)."""

FoldModel = Literal["scalesim", "pipelined"]
"""How consecutive folds of one GEMM overlap (docs/architecture.md §5)."""

ShuffleMode = Literal["free", "sram_pass"]
"""How a permutation between two stages executes (docs/architecture.md §4)."""

DramTechnology = Literal["ddr3", "ddr4", "lpddr4", "lpddr5", "gddr5", "hbm2", "hbm2e", "hbm3"]
"""DRAM kinds with a whole-path energy per bit in ``closim.config.defaults.DRAM_PJ_PER_BIT``."""

DATAFLOWS: tuple[Dataflow, ...] = ("ws", "os", "is")
FOLD_MODELS: tuple[FoldModel, ...] = ("scalesim", "pipelined")
SHUFFLE_MODES: tuple[ShuffleMode, ...] = ("free", "sram_pass")
DRAM_TECHNOLOGIES: tuple[DramTechnology, ...] = (
    "ddr3", "ddr4", "lpddr4", "lpddr5", "gddr5", "hbm2", "hbm2e", "hbm3",
)  # fmt: skip


@dataclass(frozen=True)
class Widths:
    """Bytes per element of each tensor role, as the accelerator's datapath stores it."""

    weights_bytes: int
    activations_bytes: int
    partial_sums_bytes: int
    gradients_bytes: int
    optimizer_bytes: int


@dataclass(frozen=True)
class PEArray:
    """``count`` identical systolic arrays of ``rows x cols`` MAC units.

    ``split`` > 1: each array can also run as ``split x split`` independent sub-arrays of
    ``(rows/split) x (cols/split)`` PEs, each with its own blocks. ``local_pj_per_mac``: energy of
    the PE-local operand storage (register files, scratchpads) one MAC reads and writes, in pJ,
    on top of ``mac_pj`` (0 where the operands sit in the pipeline registers ``mac_pj`` covers).
    """

    rows: int
    cols: int
    count: int
    dataflow: Dataflow
    mac_pj: float
    split: int = 1
    local_pj_per_mac: float = 0.0

    @property
    def pes(self) -> int:
        """MAC units in one array."""
        return self.rows * self.cols


@dataclass(frozen=True)
class Accumulator:
    """A buffer for partial sums next to the arrays (TPU-style), written and read per K-fold."""

    capacity_bytes: int
    read_pj_per_byte: float
    write_pj_per_byte: float


@dataclass(frozen=True)
class SramPartitions:
    """Fixed per-operand shares of the global SRAM (SCALE-Sim's ifmap/filter/ofmap buffers)."""

    weights_bytes: int
    activations_bytes: int
    partial_sums_bytes: int


@dataclass(frozen=True)
class Sram:
    """The global on-chip buffer. ``partitions`` None: one pool shared by every operand."""

    capacity_bytes: int
    bytes_per_cycle: float
    read_pj_per_byte: float
    write_pj_per_byte: float
    partitions: SramPartitions | None = None


@dataclass(frozen=True)
class Dram:
    """Off-chip memory. GB/s are 1e9 bytes/s; latency delays a transfer, holds no channel.
    ``pj_per_bit``: energy per bit moved (given, or the whole-path figure of ``technology``);
    ``technology``: the DRAM kind, None where the config gives only ``pj_per_bit``."""

    bandwidth_gb_per_s: float
    latency_ns: float
    channels: int
    burst_bytes: int
    pj_per_bit: float
    controller_pj_per_bit: float = 0.0
    technology: DramTechnology | None = None

    @property
    def total_pj_per_bit(self) -> float:
        """Device plus controller energy of moving one bit."""
        return self.pj_per_bit + self.controller_pj_per_bit


@dataclass(frozen=True)
class Dma:
    """The engine that moves tiles between DRAM and the SRAM.

    ``prefetch_depth``: lockstep steps a lane's loads may run ahead of its compute (1: double
    buffering, one tile loads while one computes; more where the SRAM holds the extra buffers).
    ``outstanding_requests``: DRAM bursts in flight at once; by Little's law the sustained
    bandwidth is at most ``outstanding_requests x burst_bytes / latency`` (None: enough to
    cover the latency at full bandwidth)."""

    prefetch_depth: int = 1
    outstanding_requests: int | None = None


@dataclass(frozen=True)
class Power:
    """Energy beyond the datapath, memories and idle power.

    ``clock_pj_per_pe_cycle``: clock tree and control energy per PE of an array per cycle the
    array computes, in pJ (gated off while it idles; an ungated clock belongs to the idle
    power). ``noc_pj_per_byte``: on-chip network energy per byte read from or written to the
    SRAM, in pJ (0: no network priced)."""

    clock_pj_per_pe_cycle: float = 0.0
    noc_pj_per_byte: float = 0.0


@dataclass(frozen=True)
class VectorUnit:
    """Element-wise unit: optimizer updates, activations, shuffles that are not free, decode."""

    lanes: int
    pj_per_op: float


@dataclass(frozen=True)
class MappingOptions:
    """Mapper switches that the hardware permits: packing blocks on the array diagonal, computing
    a GEMM transposed (the other operand stationary), and how a permutation between stages
    executes."""

    block_packing: bool = True
    transpose: bool = True
    shuffle: ShuffleMode = "free"
    tile_tolerance: float = 0.02


@dataclass(frozen=True)
class MemoryLevel:
    """One memory level as data: where tensors of ``roles`` may live, what it holds, how fast it
    moves bytes and what a byte costs.

    ``capacity_bytes`` None: unbounded (off-chip); ``bytes_per_cycle`` in bytes per PE-clock cycle
    (``math.inf``: never a bottleneck); ``latency_cycles`` until a read's data arrives;
    ``off_chip``: the level that backs the step (it holds every tensor before and after it);
    ``timed``: the engines time its transfers (a bandwidth server with that latency, moving
    whole ``burst_bytes``), as they do the DRAM's; an untimed level is counted and priced only.
    """

    name: str
    capacity_bytes: int | None
    bytes_per_cycle: float
    latency_cycles: float
    read_pj_per_byte: float
    write_pj_per_byte: float
    roles: tuple[str, ...] = ROLES
    off_chip: bool = False
    timed: bool = False
    burst_bytes: int = 1


@dataclass(frozen=True)
class Accelerator:
    """One modeled accelerator. ``derived`` lists the dotted paths (``sram.read_pj_per_byte``...)
    whose values closim derived because the config left them out. ``static_power_mw`` is the
    idle power: what the chip draws while powered, priced over every simulated cycle."""

    name: str
    clock_mhz: float
    node_nm: float
    fold_model: FoldModel
    widths: Widths
    pe_array: PEArray
    sram: Sram
    dram: Dram
    vector_unit: VectorUnit
    static_power_mw: float
    mapping: MappingOptions = MappingOptions()
    accumulator: Accumulator | None = None
    description: str = ""
    source: str = ""
    derived: tuple[str, ...] = ()
    extra_levels: tuple[MemoryLevel, ...] = ()
    dma: Dma = Dma()
    power: Power = Power()

    @property
    def levels(self) -> tuple[MemoryLevel, ...]:
        """Every memory level, innermost first: the accumulator (if any), the SRAM, the DRAM,
        then any levels the accelerator adds."""
        acc = self.accumulator
        on_chip = () if acc is None else (
            MemoryLevel("accumulator", acc.capacity_bytes, math.inf, 0.0, acc.read_pj_per_byte,
                        acc.write_pj_per_byte, ("partial_sums",)),
        )  # fmt: skip
        sram = MemoryLevel(
            "sram", self.sram.capacity_bytes, self.sram.bytes_per_cycle, 0.0,
            self.sram.read_pj_per_byte, self.sram.write_pj_per_byte,
        )  # fmt: skip
        dram_pj_per_byte = 8 * self.dram.total_pj_per_bit
        dram = MemoryLevel(
            "dram", None, self.dram_bytes_per_cycle, self.dram_latency_cycles, dram_pj_per_byte,
            dram_pj_per_byte, off_chip=True, timed=True, burst_bytes=self.dram.burst_bytes,
        )  # fmt: skip
        return (*on_chip, sram, dram, *self.extra_levels)

    @property
    def timed_levels(self) -> tuple[MemoryLevel, ...]:
        """The levels the engines time: the DRAM, then every added level marked ``timed``."""
        return tuple(level for level in self.levels if level.timed)

    def level(self, name: str) -> MemoryLevel:
        """The memory level called ``name`` (KeyError if the accelerator has none)."""
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(name)

    @property
    def total_pes(self) -> int:
        """MAC units over all arrays."""
        return self.pe_array.pes * self.pe_array.count

    @property
    def dram_peak_bytes_per_cycle(self) -> float:
        """DRAM peak bandwidth in bytes per clock cycle of the arrays."""
        return self.dram.bandwidth_gb_per_s * 1e9 / (self.clock_mhz * 1e6)

    @property
    def dram_bytes_per_cycle(self) -> float:
        """DRAM bandwidth the DMA sustains, in bytes per clock cycle of the arrays: the peak,
        or less when too few requests are in flight to cover the latency (Little's law:
        ``outstanding_requests x burst_bytes / latency``). Every timing model uses this."""
        peak = self.dram_peak_bytes_per_cycle
        requests = self.dma.outstanding_requests
        latency = self.dram_latency_cycles
        if requests is None or latency <= 0:
            return peak
        return min(peak, requests * self.dram.burst_bytes / latency)

    @property
    def dram_latency_cycles(self) -> float:
        """DRAM latency in clock cycles."""
        return self.dram.latency_ns * self.clock_mhz / 1e3

    @property
    def clock_pj_per_array_cycle(self) -> float:
        """Clock tree and control energy of one array computing for one cycle, in pJ."""
        return self.power.clock_pj_per_pe_cycle * self.pe_array.pes

    @property
    def static_pj_per_cycle(self) -> float:
        """Static energy of one clock cycle in pJ (mW x ns per cycle)."""
        return self.static_power_mw * 1e3 / self.clock_mhz

    def seconds(self, cycles: float) -> float:
        """Wall time of ``cycles`` clock cycles, in seconds."""
        return cycles / (self.clock_mhz * 1e6)

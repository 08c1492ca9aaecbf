"""The schema of a hardware config file (``hw_configs/*.yaml``). Units are in the key names;
every key is documented in its description, which error messages quote for missing keys.

Energies left out (null) are derived by ``closim.config.defaults`` when the record is built.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from closim.config.errors import CrossKeyError
from closim.config.validate import NonNegativeFloat, PositiveFloat, PositiveInt, Schema, Text
from closim.model.hw import Dataflow, DramTechnology, FoldModel, ShuffleMode


class WidthsModel(Schema):
    """Bytes per element of each tensor role on this accelerator's datapath."""

    weights_bytes: PositiveInt = Field(description="bytes per weight (int8: 1, bf16: 2, fp32: 4)")
    activations_bytes: PositiveInt = Field(description="bytes per activation (layer input/output)")
    partial_sums_bytes: PositiveInt = Field(
        description="bytes per partial sum as accumulated (int8 MACs usually 4)"
    )
    gradients_bytes: PositiveInt = Field(description="bytes per gradient element (training)")
    optimizer_bytes: PositiveInt = Field(
        description="bytes per optimizer-state element (momentum, Adam moments)"
    )


class PEArrayModel(Schema):
    """The systolic arrays: ``count`` identical arrays of ``rows x cols`` MAC units."""

    rows: PositiveInt = Field(description="PE rows per array (integer > 0)")
    cols: PositiveInt = Field(description="PE columns per array (integer > 0)")
    count: PositiveInt = Field(1, description="number of identical arrays")
    dataflow: Dataflow = Field(
        description="stationary operand: ws (weights), os (outputs) or is (inputs)"
    )
    mac_pj: PositiveFloat = Field(description="energy of one multiply-accumulate in pJ")
    split: PositiveInt = Field(
        1,
        description="each array can run as split x split independent sub-arrays of "
        "(rows/split) x (cols/split) PEs; 1 = one monolithic array",
    )
    local_pj_per_mac: NonNegativeFloat = Field(
        0.0,
        description="energy in pJ of the PE-local register files or scratchpads one MAC reads "
        "and writes, on top of mac_pj (0: operands sit in the registers mac_pj covers)",
    )

    @model_validator(mode="after")
    def _split_divides(self) -> PEArrayModel:
        for side in ("rows", "cols"):
            size = getattr(self, side)
            if size % self.split:
                raise CrossKeyError(
                    [
                        ("split", f"must divide rows ({self.rows}) and cols ({self.cols}) "
                         f"(got {self.split})"),
                        (side, f"must be a multiple of split ({self.split}) (got {size})"),
                    ]
                )  # fmt: skip
        return self


class AccumulatorModel(Schema):
    """A partial-sum buffer beside the arrays (TPU's accumulators); null or absent: none."""

    capacity_bytes: PositiveInt = Field(description="accumulator capacity in bytes")
    read_pj_per_byte: NonNegativeFloat | None = Field(
        None, description="energy per byte read in pJ; null: sqrt-capacity law"
    )
    write_pj_per_byte: NonNegativeFloat | None = Field(
        None, description="energy per byte written in pJ; null: 0.85 x the derived read"
    )


class SramPartitionsModel(Schema):
    """Fixed per-operand shares of the global SRAM, as SCALE-Sim's three buffers."""

    weights_bytes: PositiveInt = Field(description="bytes reserved for weights (SCALE-Sim filter)")
    activations_bytes: PositiveInt = Field(
        description="bytes reserved for layer inputs (SCALE-Sim ifmap)"
    )
    partial_sums_bytes: PositiveInt = Field(
        description="bytes reserved for outputs and partial sums (SCALE-Sim ofmap)"
    )


class SramModel(Schema):
    """The global on-chip SRAM buffer."""

    capacity_bytes: PositiveInt = Field(description="SRAM capacity in bytes")
    bytes_per_cycle: PositiveFloat = Field(
        description="bytes the SRAM reads plus writes per clock cycle, all ports together"
    )
    read_pj_per_byte: NonNegativeFloat | None = Field(
        None, description="energy per byte read in pJ; null: sqrt-capacity law"
    )
    write_pj_per_byte: NonNegativeFloat | None = Field(
        None, description="energy per byte written in pJ; null: 0.85 x the derived read"
    )
    partitions: SramPartitionsModel | None = Field(
        None, description="fixed per-operand shares; null: one pool shared by all operands"
    )

    @model_validator(mode="after")
    def _partitions_fit(self) -> SramModel:
        p = self.partitions
        if p is not None:
            total = p.weights_bytes + p.activations_bytes + p.partial_sums_bytes
            if total > self.capacity_bytes:
                raise CrossKeyError(
                    [
                        ("partitions", "the partitions add up to more than capacity_bytes "
                         f"({self.capacity_bytes}) (got {total} bytes)"),
                        ("capacity_bytes", f"must hold the partitions' {total} bytes "
                         f"(got {self.capacity_bytes})"),
                    ]
                )  # fmt: skip
        return self


class DramModel(Schema):
    """Off-chip DRAM."""

    bandwidth_gb_per_s: PositiveFloat = Field(description="peak bandwidth in GB/s (1e9 bytes/s)")
    latency_ns: NonNegativeFloat = Field(
        description="access latency in ns; pipelined: delays a transfer, does not hold a channel"
    )
    channels: PositiveInt = Field(1, description="independent channels sharing the bandwidth")
    burst_bytes: PositiveInt = Field(64, description="bytes per burst: the transfer granule")
    technology: DramTechnology | None = Field(
        None,
        description="DRAM kind (ddr3, ddr4, lpddr4, lpddr5, gddr5, hbm2, hbm2e, hbm3): gives "
        "pj_per_bit its whole-path figure when pj_per_bit is null; null: pj_per_bit is required",
    )
    pj_per_bit: NonNegativeFloat | None = Field(
        None,
        description="energy per bit moved in pJ (device and I/O); null: the whole-path figure of "
        "technology",
    )
    controller_pj_per_bit: NonNegativeFloat = Field(
        0.0, description="memory-controller and PHY energy per bit in pJ, on top of pj_per_bit"
    )

    @model_validator(mode="after")
    def _energy_known(self) -> DramModel:
        if self.pj_per_bit is None and self.technology is None:
            raise CrossKeyError(
                [
                    ("pj_per_bit", "required when technology is not given: energy per bit moved "
                     "in pJ (got nothing)"),
                    ("technology", "required when pj_per_bit is not given: the DRAM kind "
                     "(got nothing)"),
                ]
            )  # fmt: skip
        return self


class LevelModel(Schema):
    """A memory level between the SRAM and the DRAM (an L2, TPU v4's CMEM): tensors the mapper
    places there are read from and written to it instead of the DRAM, at its bandwidth and
    latency, which the engines time."""

    name: Text = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="the level's name in reports and transfers (lower case; not sram, dram or "
        "accumulator)",
    )
    capacity_bytes: PositiveInt = Field(description="bytes it holds")
    bandwidth_gb_per_s: PositiveFloat = Field(description="bandwidth in GB/s (1e9 bytes/s)")
    latency_ns: NonNegativeFloat = Field(description="read latency in ns (holds no bandwidth)")
    burst_bytes: PositiveInt = Field(64, description="bytes per access: the transfer granule")
    read_pj_per_byte: NonNegativeFloat | None = Field(
        None, description="read energy in pJ per byte; null: derived by the SRAM law"
    )
    write_pj_per_byte: NonNegativeFloat | None = Field(
        None, description="write energy in pJ per byte; null: derived from the read energy"
    )

    @field_validator("name")
    @classmethod
    def _not_a_standard_level(cls, name: str) -> str:
        if name in ("sram", "dram", "accumulator"):
            raise ValueError(f"the name of a level of its own (got {name!r}, a standard level)")
        return name


class DmaModel(Schema):
    """The DMA engine between DRAM and the SRAM."""

    prefetch_depth: PositiveInt = Field(
        1,
        description="lockstep steps a lane's loads may run ahead of its compute (1: double "
        "buffering; more where the SRAM holds the extra buffers)",
    )
    outstanding_requests: PositiveInt | None = Field(
        None,
        description="DRAM bursts in flight at once; sustained bandwidth <= outstanding x "
        "burst_bytes / latency (Little's law); null: enough to cover the latency",
    )


class VectorUnitModel(Schema):
    """The element-wise unit: optimizer updates, activations, shuffles that are not free."""

    lanes: PositiveInt | None = Field(
        None, description="elements processed per cycle; null: one per PE column of every array"
    )
    pj_per_op: NonNegativeFloat | None = Field(
        None, description="energy per element operation in pJ; null: fp32 FMA scaled to node_nm"
    )


class MappingModel(Schema):
    """What the hardware lets the mapper do."""

    block_packing: bool = Field(
        True, description="blocks of one stage may share a fold on the array diagonal"
    )
    transpose: bool = Field(
        True,
        description="the mapper may compute C^T = B^T A^T, making the other operand stationary; "
        "false keeps SCALE-Sim's roles (inputs stream, weights are B) for cross-checks",
    )
    tile_tolerance: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="relative slack of estimated cycles within which the mapper prefers the "
        "least compute, then fewer, larger tiles (0: always the fastest estimate)",
    )
    shuffle: ShuffleMode = Field(
        "free",
        description="a permutation between stages: free (address remap) or sram_pass (a pass "
        "through SRAM on the vector unit); closim models no on-chip network",
    )


class PowerModel(Schema):
    """Energy beyond the datapath and memories: clock tree and control, on-chip network."""

    clock_pj_per_pe_cycle: NonNegativeFloat | None = Field(
        None,
        description="clock tree and control energy in pJ per PE per cycle its array computes "
        "(0 where the clock is never gated: then it is part of static_power_mw); null: derived "
        "from the PE's register bits and Eyeriss's clock network, scaled to node_nm",
    )
    noc_pj_per_byte: NonNegativeFloat = Field(
        0.0,
        description="on-chip network energy in pJ per byte read from or written to the sram "
        "(0: no network priced)",
    )


class HwConfig(Schema):
    """A hardware config file."""

    name: Text | None = Field(None, description="short name; default: the file name without .yaml")
    description: Text = Field("", description="one line shown by closim list")
    source: Text = Field("", description="citations for the numbers (docs/references.md)")
    clock_mhz: PositiveFloat = Field(description="clock of the arrays in MHz")
    node_nm: float = Field(
        ge=1, le=1000, description="process node in nm (1-1000): scales derived energies"
    )
    fold_model: FoldModel = Field(
        description="systolic fold timing: scalesim (SCALE-Sim's, operand preload not overlapped) "
        "or pipelined (the stationary operand is double-buffered, as TPU's weight FIFO)"
    )
    widths: WidthsModel = Field(description="bytes per element of each tensor role")
    pe_array: PEArrayModel = Field(description="the MAC arrays")
    accumulator: AccumulatorModel | None = Field(None, description="partial-sum buffer; null: none")
    sram: SramModel = Field(description="the global on-chip buffer")
    dram: DramModel = Field(description="off-chip memory")
    levels: list[LevelModel] = Field(
        default_factory=list,
        max_length=1,
        description="memory levels between the SRAM and the DRAM (at most one): an L2, a CMEM",
    )
    dma: DmaModel = Field(default_factory=DmaModel, description="the DRAM <-> SRAM DMA engine")
    vector_unit: VectorUnitModel = Field(
        default_factory=VectorUnitModel, description="element-wise unit"
    )
    static_power_mw: NonNegativeFloat | None = Field(
        None,
        description="idle (static) power in mW, drawn over every simulated cycle: leakage, "
        "ungated clocks, DRAM standby, I/O (a published idle figure where there is one); null: "
        "leakage of the PEs and on-chip buffers only",
    )
    power: PowerModel = Field(
        default_factory=PowerModel, description="clock tree, control and on-chip network energy"
    )
    mapping: MappingModel = Field(default_factory=MappingModel, description="mapper options")

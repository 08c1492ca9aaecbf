"""The factory step: validated schema models -> frozen records, derived values filled in."""

from __future__ import annotations

import dataclasses

from closim.config import defaults
from closim.config.hw_schema import HwConfig
from closim.config.workload_schema import WorkloadConfig
from closim.model.hw import (
    Accelerator,
    Accumulator,
    Dma,
    Dram,
    MappingOptions,
    MemoryLevel,
    PEArray,
    Power,
    Sram,
    SramPartitions,
    VectorUnit,
    Widths,
)
from closim.model.workload import LayerSpec, Workload


def build_accelerator(cfg: HwConfig, default_name: str) -> tuple[Accelerator, dict[str, str]]:
    """The Accelerator of a validated hw config, and a note per derived value (by dotted path)."""
    notes: dict[str, str] = {}
    pe = cfg.pe_array
    total_pes = pe.rows * pe.cols * pe.count

    s = cfg.sram
    read, write = _buffer_energy(
        "sram", s.read_pj_per_byte, s.write_pj_per_byte, s.capacity_bytes,
        8 * s.bytes_per_cycle, cfg.node_nm, notes,
    )  # fmt: skip
    partitions = SramPartitions(**s.partitions.model_dump()) if s.partitions is not None else None
    sram = Sram(
        capacity_bytes=s.capacity_bytes,
        bytes_per_cycle=s.bytes_per_cycle,
        read_pj_per_byte=read,
        write_pj_per_byte=write,
        partitions=partitions,
    )

    accumulator = None
    on_chip = s.capacity_bytes
    if (a := cfg.accumulator) is not None:
        access_bits = 8 * pe.cols * cfg.widths.partial_sums_bytes  # one row of sums per cycle
        read, write = _buffer_energy(
            "accumulator", a.read_pj_per_byte, a.write_pj_per_byte, a.capacity_bytes,
            access_bits, cfg.node_nm, notes,
        )  # fmt: skip
        accumulator = Accumulator(a.capacity_bytes, read, write)
        on_chip += a.capacity_bytes

    v = cfg.vector_unit
    lanes, pj = v.lanes, v.pj_per_op
    if lanes is None:
        lanes, notes["vector_unit.lanes"] = defaults.vector_lanes(pe.cols, pe.count)
    if pj is None:
        pj, notes["vector_unit.pj_per_op"] = defaults.vector_pj_per_op(cfg.node_nm)

    w = cfg.widths
    static = cfg.static_power_mw
    if static is None:
        static, notes["static_power_mw"] = defaults.static_power(
            total_pes, on_chip, max(w.weights_bytes, w.activations_bytes), w.partial_sums_bytes,
            cfg.node_nm,
        )  # fmt: skip
    clock = cfg.power.clock_pj_per_pe_cycle
    if clock is None:
        clock, notes["power.clock_pj_per_pe_cycle"] = defaults.clock_pj_per_pe_cycle(
            w.weights_bytes, w.activations_bytes, w.partial_sums_bytes, cfg.node_nm
        )
    d = cfg.dram
    dram_pj = d.pj_per_bit
    if dram_pj is None:
        assert d.technology is not None  # the schema requires one of the two
        dram_pj, notes["dram.pj_per_bit"] = defaults.dram_pj_per_bit(d.technology)

    hw = Accelerator(
        name=cfg.name or default_name,
        description=cfg.description,
        source=cfg.source,
        clock_mhz=cfg.clock_mhz,
        node_nm=cfg.node_nm,
        fold_model=cfg.fold_model,
        widths=Widths(**cfg.widths.model_dump()),
        pe_array=PEArray(**pe.model_dump()),
        accumulator=accumulator,
        sram=sram,
        dram=Dram(**(d.model_dump() | {"pj_per_bit": dram_pj})),
        dma=Dma(**cfg.dma.model_dump()),
        vector_unit=VectorUnit(lanes=lanes, pj_per_op=pj),
        static_power_mw=static,
        mapping=MappingOptions(**cfg.mapping.model_dump()),
        power=Power(clock_pj_per_pe_cycle=clock, noc_pj_per_byte=cfg.power.noc_pj_per_byte),
        extra_levels=tuple(_level(cfg, i, notes) for i in range(len(cfg.levels))),
    )
    return dataclasses.replace(hw, derived=tuple(notes)), notes


def _level(cfg: HwConfig, i: int, notes: dict[str, str]) -> MemoryLevel:
    """The timed MemoryLevel of ``levels[i]``: GB/s and ns in PE-clock cycles, energies as given
    or derived by the SRAM law at its capacity, one burst an access (noted)."""
    lv = cfg.levels[i]
    read, write = _buffer_energy(
        f"levels.{i}", lv.read_pj_per_byte, lv.write_pj_per_byte, lv.capacity_bytes,
        8 * lv.burst_bytes, cfg.node_nm, notes,
    )  # fmt: skip
    return MemoryLevel(
        lv.name, lv.capacity_bytes, lv.bandwidth_gb_per_s * 1e3 / cfg.clock_mhz,
        lv.latency_ns * cfg.clock_mhz / 1e3, read, write, timed=True, burst_bytes=lv.burst_bytes,
    )  # fmt: skip


def build_workload(cfg: WorkloadConfig, default_name: str) -> Workload:
    """The Workload of a validated workload file."""
    return Workload(
        name=cfg.name or default_name,
        description=cfg.description,
        source=cfg.source,
        batch=cfg.batch,
        mode=cfg.mode,
        optimizer=cfg.optimizer,
        dtype=cfg.dtype,
        layers=tuple(
            LayerSpec(name, layer.in_features, layer.out_features, layer.topology)
            for name, layer in cfg.layers.items()
        ),
    )


def _buffer_energy(
    path: str,
    read: float | None,
    write: float | None,
    capacity_bytes: int,
    access_bits: float,
    node_nm: float,
    notes: dict[str, str],
) -> tuple[float, float]:
    """(read, write) pJ per byte of an on-chip buffer: as given, else derived (noted)."""
    if read is None:
        read, notes[f"{path}.read_pj_per_byte"] = defaults.sram_read_energy(
            capacity_bytes, access_bits, node_nm
        )
    if write is None:
        write, notes[f"{path}.write_pj_per_byte"] = defaults.sram_write_energy(read)
    return read, write

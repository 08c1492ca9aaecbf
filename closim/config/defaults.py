"""Values a hw config may leave out, derived from the ones it gives (docs/references.md §1, §3).

Every function returns a number and a one-line note saying how it was obtained; ``closim show``
prints the notes. Because they are derived, sweeps over sizes change energies too.

- SRAM and accumulator energy per byte: Horowitz's 10 pJ per 64-bit read of an 8 KiB SRAM at
  45 nm, times sqrt(capacity / 8 KiB) (bitline and H-tree length grow with the square root of
  the area), times the access width term (64 / w)**0.5 per 64 bits for wide words (w clamped to
  64..2048 bits), times the Stillmaker-Baas energy factor of the node. Writes cost 0.85 x a read:
  the three CACTI points in docs/references.md §3.2 give write/read 0.81, 0.77 and 0.91 [der].
- Static (idle) power when a config gives none: leakage only, a lower bound of a real chip's
  idle power (docs/references.md §20.1). Per PE, Aladdin's 40 nm leakage of a 32 x 32-bit
  multiplier (0.08 mW, quadratic in the operand width) plus a 32-bit adder (0.0024 mW, linear in
  the partial-sum width) [src], times the node factor over 40 nm's [der]; plus 0.02 mW per KiB of
  SRAM and accumulator [asm]. Give ``static_power_mw`` (a published idle power) to override.
- Clock tree and control, per PE per busy array cycle (docs/references.md §20.2): Eyeriss's
  clock network, 39% of 278 mW over 168 PEs at 200 MHz = 3.23 pJ at 65 nm [der], is 5.6 fJ per
  bit of its PEs' 576 register bits; a weight-stationary PE holds 8 x (2 x weight + activation +
  partial sum) bits (a weight and its shadow, the passing input and sum) [asm], times the node
  factor over 65 nm's [der].
- DRAM energy per bit from ``dram.technology`` when ``dram.pj_per_bit`` is null: the whole-path
  table ``DRAM_PJ_PER_BIT`` (docs/references.md §20.3).
- Vector unit: one lane per PE column of every array [asm]; 4.6 pJ per op at 45 nm (a fp32 fused
  multiply-add, Horowitz: 3.7 + 0.9) times the node factor [der].
"""

from __future__ import annotations

import math

#: Energy of logic at a node relative to 45 nm, Stillmaker & Baas 2017 as implemented by
#: hwcomponents' tech_node_energy (docs/references.md §2); 5 and 3 nm are its sqrt-rule
#: extrapolation.
NODE_ENERGY_SCALE: dict[float, float] = {
    65.0: 1.24, 45.0: 1.0, 32.0: 0.66, 28.0: 0.51, 22.0: 0.29, 16.0: 0.17,
    14.0: 0.14, 10.0: 0.12, 7.0: 0.094, 5.0: 0.080, 3.0: 0.062,
}  # fmt: skip

SRAM_REF_PJ_PER_64B = 10.0  # Horowitz ISSCC 2014: 64-bit read of an 8 KiB SRAM at 45 nm [src]
SRAM_REF_BYTES = 8192
SRAM_MIN_WORD_BITS = 64  # below 64 bits energy per access falls with the width: per byte constant
SRAM_MAX_WORD_BITS = 2048  # wider accesses: treated as parallel 2048-bit banks [asm]
SRAM_WRITE_OVER_READ = 0.85  # CACTI: 26.2/32.4, 14.1/18.2, 378/416 [der]
STATIC_MW_PER_KIB = 0.02  # [asm] SRAM leakage per KiB
LEAK_NODE_NM = 40.0  # the node of Aladdin's component library (Shao et al., ISCA 2014)
LEAK_MULT32_MW = 0.08  # Aladdin 32 x 32-bit integer multiplier leakage at 40 nm [src]
LEAK_ADD32_MW = 0.0024  # Aladdin 32-bit adder leakage at 40 nm [src]
CLOCK_REF_MW = 0.39 * 278.0  # Eyeriss: clock network 33-45% of 278 mW, midpoint [der]
CLOCK_REF_PES = 168  # Eyeriss PEs [src]
CLOCK_REF_MHZ = 200.0  # Eyeriss core clock of the 278 mW figure [src]
CLOCK_REF_BITS_PER_PE = 576  # Eyeriss PE register spads: (12 ifmap + 24 psum) x 16 b [src]
CLOCK_REF_NODE_NM = 65.0  # Eyeriss [src]

#: Whole-path DRAM energy per bit moved (pJ) by technology, and how each was obtained
#: (docs/references.md §20.3). Background and refresh power belong to the idle power.
DRAM_PJ_PER_BIT: dict[str, tuple[float, str]] = {
    "ddr3": (30.0, "[der] Horowitz ISSCC 2014: 1.3-2.6 nJ per 64-bit read = 20-41 pJ/bit, mid"),
    "ddr4": (19.2, "[der] ddr3's 30 pJ/bit x (1.2 V / 1.5 V)^2 (JEDEC supplies)"),
    "lpddr4": (8.0, "[src] Accelergy CactiDRAM table"),
    "lpddr5": (6.0, "[asm] LPDDR4's 8 pJ/bit less the lower I/O voltage"),
    "gddr5": (14.0, "[src] Accelergy CactiDRAM table"),
    "hbm2": (3.9, "[src] Accelergy CactiDRAM table (O'Connor et al. MICRO 2017: ~3.97)"),
    "hbm2e": (3.9, "[asm] as hbm2"),
    "hbm3": (3.5, "[asm] HBM2-class or slightly better"),
}
VECTOR_PJ_PER_OP_45NM = 4.6  # fp32 FMA, Horowitz 3.7 + 0.9 [der]


def node_energy_scale(node_nm: float) -> float:
    """Logic energy at ``node_nm`` relative to 45 nm: log-log interpolation of the table, and
    extrapolation with the nearest segment outside 3-65 nm [asm]."""
    nodes = sorted(NODE_ENERGY_SCALE)
    if node_nm in NODE_ENERGY_SCALE:
        return NODE_ENERGY_SCALE[node_nm]
    if node_nm <= nodes[0]:
        lo, hi = nodes[0], nodes[1]
    elif node_nm >= nodes[-1]:
        lo, hi = nodes[-2], nodes[-1]
    else:
        hi = next(n for n in nodes if n > node_nm)
        lo = nodes[nodes.index(hi) - 1]
    slope = math.log(NODE_ENERGY_SCALE[hi] / NODE_ENERGY_SCALE[lo]) / math.log(hi / lo)
    return NODE_ENERGY_SCALE[lo] * (node_nm / lo) ** slope


def sram_read_pj_per_byte(capacity_bytes: int, access_bits: float, node_nm: float) -> float:
    """Read energy per byte of an SRAM of ``capacity_bytes`` read ``access_bits`` at a time."""
    w = min(max(access_bits, SRAM_MIN_WORD_BITS), SRAM_MAX_WORD_BITS)
    per_64b = SRAM_REF_PJ_PER_64B * math.sqrt(capacity_bytes / SRAM_REF_BYTES) * math.sqrt(64 / w)
    return per_64b / 8 * node_energy_scale(node_nm)


def sram_read_energy(capacity_bytes: int, access_bits: float, node_nm: float) -> tuple[float, str]:
    """Read pJ per byte by the square-root-of-capacity law, and the note saying so."""
    read = sram_read_pj_per_byte(capacity_bytes, access_bits, node_nm)
    w = min(max(access_bits, SRAM_MIN_WORD_BITS), SRAM_MAX_WORD_BITS)
    note = (
        f"[der] sqrt law: 10 pJ/64 b x sqrt({_size(capacity_bytes)} / 8 KiB) x sqrt(64/{w:g} b)"
        f" x {node_energy_scale(node_nm):.3g} ({node_nm:g} nm) / 8 B"
    )
    return read, note


def sram_write_energy(read_pj_per_byte: float) -> tuple[float, str]:
    """Write pJ per byte from the read energy (CACTI's write/read ratio), and the note."""
    return read_pj_per_byte * SRAM_WRITE_OVER_READ, f"[der] {SRAM_WRITE_OVER_READ} x read (CACTI)"


def _size(nbytes: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.4g} {unit}"
    return f"{nbytes:g} B"


def pe_leakage_mw(operand_bytes: int, partial_sum_bytes: int, node_nm: float) -> float:
    """Leakage of one MAC unit in mW: Aladdin's 40 nm multiplier (quadratic in the operand
    width) and adder (linear in the partial-sum width), scaled from 40 nm to ``node_nm``."""
    mult = LEAK_MULT32_MW * (8 * operand_bytes / 32) ** 2
    add = LEAK_ADD32_MW * (8 * partial_sum_bytes / 32)
    return (mult + add) * node_energy_scale(node_nm) / node_energy_scale(LEAK_NODE_NM)


def static_power(
    total_pes: int,
    on_chip_bytes: int,
    operand_bytes: int = 1,
    partial_sum_bytes: int = 4,
    node_nm: float = 45.0,
) -> tuple[float, str]:
    """Static (idle) power in mW when a config gives none: leakage of the PEs (Aladdin, scaled to
    ``node_nm``) and of the on-chip buffer bytes, with its note."""
    pe = pe_leakage_mw(operand_bytes, partial_sum_bytes, node_nm)
    kib = on_chip_bytes / 1024
    mw = pe * total_pes + STATIC_MW_PER_KIB * kib
    note = (
        f"[der/asm] leakage only: {pe:.3g} mW x {total_pes} PEs (Aladdin 40 nm, "
        f"{8 * operand_bytes}-b mult + {8 * partial_sum_bytes}-b add, {node_nm:g} nm) "
        f"+ {STATIC_MW_PER_KIB} mW x {kib:g} KiB"
    )
    return mw, note


def clock_pj_per_pe_cycle(
    weights_bytes: int, activations_bytes: int, partial_sums_bytes: int, node_nm: float
) -> tuple[float, str]:
    """Clock tree and control energy per PE per busy array cycle in pJ, with its note: the
    register bits of a weight-stationary PE times Eyeriss's clock energy per register bit."""
    bits = 8 * (2 * weights_bytes + activations_bytes + partial_sums_bytes)
    ref_pj = CLOCK_REF_MW * 1e-3 / (CLOCK_REF_PES * CLOCK_REF_MHZ * 1e6) * 1e12
    per_bit = ref_pj / CLOCK_REF_BITS_PER_PE
    scale = node_energy_scale(node_nm) / node_energy_scale(CLOCK_REF_NODE_NM)
    pj = bits * per_bit * scale
    note = (
        f"[der] {bits} register bits x {per_bit * 1e3:.3g} fJ/bit (Eyeriss clock network at "
        f"65 nm) x {scale:.3g} ({node_nm:g} nm)"
    )
    return pj, note


def dram_pj_per_bit(technology: str) -> tuple[float, str]:
    """Whole-path DRAM energy per bit of ``technology`` in pJ, with its note."""
    pj, how = DRAM_PJ_PER_BIT[technology]
    return pj, f"{how}: {technology} whole path"


def vector_pj_per_op(node_nm: float) -> tuple[float, str]:
    """Energy of one vector-unit op (a fp32 FMA) at ``node_nm``, with its note."""
    scale = node_energy_scale(node_nm)
    return VECTOR_PJ_PER_OP_45NM * scale, (
        f"[der] fp32 FMA 4.6 pJ at 45 nm x {scale:.3g} ({node_nm:g} nm)"
    )


def vector_lanes(cols: int, count: int) -> tuple[int, str]:
    """Vector lanes when the config gives none: one per PE column of every array [asm]."""
    return cols * count, f"[asm] one lane per PE column: {cols} x {count} arrays"

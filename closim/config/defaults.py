"""Values a hw config may leave out, derived from the ones it gives (docs/references.md §1, §3).

Every function returns a number and a one-line note saying how it was obtained; ``closim show``
prints the notes. Because they are derived, sweeps over sizes change energies too.

- SRAM and accumulator energy per byte: Horowitz's 10 pJ per 64-bit read of an 8 KiB SRAM at
  45 nm, times sqrt(capacity / 8 KiB) (bitline and H-tree length grow with the square root of
  the area), times the access width term (64 / w)**0.5 per 64 bits for wide words (w clamped to
  64..2048 bits), times the Stillmaker-Baas energy factor of the node. Writes cost 0.85 x a read:
  the three CACTI points in docs/references.md §3.2 give write/read 0.81, 0.77 and 0.91 [der].
- Static power: 0.02 mW per MAC unit plus 0.02 mW per KiB of SRAM and accumulator [asm]:
  order-of-magnitude leakage figures with no primary source; give ``static_power_mw`` to override.
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
STATIC_MW_PER_PE = 0.02  # [asm]
STATIC_MW_PER_KIB = 0.02  # [asm]
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


def static_power(total_pes: int, on_chip_bytes: int) -> tuple[float, str]:
    """Static power in mW from the PE count and on-chip buffer bytes, with its note."""
    kib = on_chip_bytes / 1024
    mw = STATIC_MW_PER_PE * total_pes + STATIC_MW_PER_KIB * kib
    note = f"[asm] {STATIC_MW_PER_PE} mW x {total_pes} PEs + {STATIC_MW_PER_KIB} mW x {kib:g} KiB"
    return mw, note


def vector_pj_per_op(node_nm: float) -> tuple[float, str]:
    """Energy of one vector-unit op (a fp32 FMA) at ``node_nm``, with its note."""
    scale = node_energy_scale(node_nm)
    return VECTOR_PJ_PER_OP_45NM * scale, (
        f"[der] fp32 FMA 4.6 pJ at 45 nm x {scale:.3g} ({node_nm:g} nm)"
    )


def vector_lanes(cols: int, count: int) -> tuple[int, str]:
    """Vector lanes when the config gives none: one per PE column of every array [asm]."""
    return cols * count, f"[asm] one lane per PE column: {cols} x {count} arrays"

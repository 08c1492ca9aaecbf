"""Cross-check closim against SCALE-Sim v3 on dense GEMMs: compute cycles and DRAM bytes.

Run: ``python benchmarks/scalesim_check.py [--scalesim-python PATH] [--jobs N] [--quick]
[--gemms MxKxN,...]`` (about 3 minutes on 2 idle cores, up to 7 on a loaded machine; most of it
is SCALE-Sim on 128x4096x1000, which ``--quick`` skips: then under a minute). SCALE-Sim runs in
its own interpreter (``--scalesim-python``, else ``$SCALESIM_PYTHON``, else
``/work/scalesim-venv/bin/python``); without it the script prints how to install it and exits 0.

Both tools get the same hardware: one 32x32 array, SCALE-Sim's 256 / 256 / 128 KiB ifmap / filter
/ ofmap SRAMs (closim: ``hw_configs/scalesim-32x32.yaml``, whose ``sram.partitions`` are those
three buffers, with ``--set``-style overrides for the dataflow and 1-byte widths so that closim's
bytes are SCALE-Sim's words). SCALE-Sim runs in CALC mode (no stalls). closim runs its analytic
engine: compute cycles and DRAM bytes come from the mapper's trace and are the same under the DES.

For every GEMM (M, K, N) = (batch, in_features, out_features) and dataflow it prints SCALE-Sim's
and closim's compute cycles and their ratio, closim's cycles for SCALE-Sim's own mapping
(``closim.mapping.systolic.scalesim_compute_cycles``), closim's mapping (orientation and tile),
DRAM read and write bytes of both, how many times each operand is read from DRAM, and codes that
explain each difference (footnotes under the table). The script exits 1 when closim's
SCALE-Sim-model cycles differ from SCALE-Sim's for any case; closim's own mapping may legitimately
take fewer cycles (it may transpose the GEMM) or more (it tiles to fit its buffers; flagged).

Then the small-buffer check (closim issue 12; ``--small-buffers-only`` runs only it, about two
minutes): 22 fresh GEMMs with 8/8/8 or 16/16/8 KiB ifmap/filter/ofmap SRAMs and the issue's two
cases, every dataflow, closim with an ideal DRAM latency (SCALE-Sim's CALC mode has none). Where
closim's DRAM bandwidth (100 bytes per cycle) covers SCALE-Sim's demand (its BANDWIDTH_REPORT),
closim's compute cycles must not exceed SCALE-Sim's; the script exits 1 otherwise. The control
``--legacy-mapper`` maps with the search space from before the issue (halvings only, reduction
innermost, every tile refilling the array) and must FAIL (it does on the issue's 100x300x100).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from _scalesim import (
    INSTALL_HINT,
    ScaleSimGemm,
    run_scalesim,
    scalesim_available,
    scalesim_python,
)

from closim.api import simulate
from closim.config import load_hw, load_workload, parse_set_options
from closim.mapping.systolic import scalesim_compute_cycles

ROOT = Path(__file__).resolve().parents[1]
HW = ROOT / "hw_configs" / "scalesim-32x32.yaml"
WORKLOAD = ROOT / "workloads" / "gemm.yaml"
DATAFLOWS = ("ws", "os", "is")
# (M, K, N). 128x4096x1000: B (4 MB) fits neither tool's 256 KiB filter buffer; 320x1024x320: A and
# B (320 KiB each) both exceed their buffers.
GEMMS = (
    (64, 784, 300),
    (128, 4096, 1000),
    (256, 32, 32),
    (32, 512, 512),
    (16, 64, 64),
    (320, 1024, 320),
)
QUICK_SKIP = (128, 4096, 1000)  # ~2 M SCALE-Sim cycles: about 5 CPU-minutes of SCALE-Sim
ONE_BYTE = {
    f"widths.{w}_bytes": 1
    for w in ("weights", "activations", "partial_sums", "gradients", "optimizer")
}

NOTES = {
    "L": "closim's mapping takes fewer cycles than SCALE-Sim's (see 'closim map').",
    "T": "with transposing allowed, closim computes C^T = B^T A^T: the other operand is "
    "stationary, so ws runs as SCALE-Sim's is mapping and vice versa (Sr, Sc, T permuted), in "
    "fewer cycles.",
    "S": "closim's tile splits the temporal dimension (ws: M, os: K, is: N of the oriented GEMM), "
    "and every extra fold pays the fill (2*rows + cols - 2 for ws/is, rows + cols - 2 for os) "
    "again, while SCALE-Sim never tiles: either two tiles must fit the partition "
    "double-buffered, or the mapper traded a few percent of cycles for fewer, larger tiles "
    "(hw mapping.tile_tolerance; 0 in scalesim-32x32).",
    "a": "SCALE-Sim reads an operand again on each pass of its demand order over it once it does "
    "not fit in HALF its SRAM (its reuse window: 50 of 100 sets); partial passes where the "
    "window covers part of the operand. ws/os: A once per column fold (up to ceil(N/cols)); "
    "os: B once per row fold (up to ceil(M/rows)); is: B once per column fold (ceil(M/cols)).",
    "b": "closim re-fetches an operand once per tile of the outer loop (A per n-tile or B per "
    "m-tile, by its loop order) because two tiles of it must fit its partition (double "
    "buffering), or pins a whole operand that fits the partition (read once). Its tiler minimizes "
    "cycles first, then DRAM bytes, so it may re-read more or less than SCALE-Sim.",
    "w": "SCALE-Sim writes every K-fold's partial outputs to DRAM (ws, is: ceil(K/rows) x M*N, no "
    "accumulation across folds); closim accumulates partial sums on chip (also across its "
    "K-tiles) and writes C once, unless a reduction-outer loop order spills them to DRAM after "
    "each k-tile and reads them back before the next (then its DRAM writes include them).",
    "+": "SCALE-Sim's drain artifact: +(cols - 1) = 31 words once per layer when the writes exceed "
    "half the ofmap SRAM (a partial line's padding is counted).",
}


@dataclass
class ClosimGemm:
    compute_cycles: int
    model_cycles: int  # closim.mapping.systolic.scalesim_compute_cycles: SCALE-Sim's mapping
    dram_read_a: int
    dram_read_b: int
    dram_write: int
    mapping: dict


def run_closim(dataflow: str, m: int, k: int, n: int, extra: dict) -> ClosimGemm:
    """closim (analytic engine) on the GEMM (M, K, N) with ``dataflow`` on scalesim-32x32, with
    ``extra`` hw overrides (dotted paths)."""
    hw = load_hw(HW, {**extra, "pe_array.dataflow": dataflow, **ONE_BYTE})
    pe = hw.pe_array
    wl = load_workload(
        WORKLOAD,
        {
            "batch": m,
            "mode": "inference",
            "layers.gemm.in_features": k,
            "layers.gemm.out_features": n,
        },
    )
    result = simulate(hw, wl, engine="analytic", mode="inference")
    (mapping,) = result.trace.mappings
    loads = [r for r in result.trace.rows if r.op == "load"]
    read_a = sum(r.moved("dram", "read") for r in loads if r.operand == "activations")
    read_b = sum(r.moved("dram", "read") for r in loads if r.operand == "weights")
    # spilled partial sums come back too (a reduction-outer loop order)
    read_p = sum(r.moved("dram", "read") for r in loads if r.operand == "partial_sums")
    assert read_a + read_b + read_p == result.totals.read_bytes["dram"], "unexpected DRAM reads"
    return ClosimGemm(
        compute_cycles=result.totals.compute_cycles,
        model_cycles=scalesim_compute_cycles(dataflow, m, k, n, pe.rows, pe.cols),
        dram_read_a=read_a,
        dram_read_b=read_b,
        dram_write=result.totals.write_bytes["dram"],
        mapping=mapping.to_dict(),
    )


def _passes(count: int, elements: int) -> str:
    x = count / elements
    return f"{x:.0f}" if x == round(x) else f"{x:.2f}"


def _mapping_text(mp: dict) -> str:
    t = mp["tile"]
    orient = "T" if mp["orientation"] == "transposed" else "N"
    return f"{orient} {t['m']}x{t['k']}x{t['n']} /{mp['tiles']}"


def _notes(
    df: str,
    m: int,
    k: int,
    n: int,
    rows: int,
    cols: int,
    ss: ScaleSimGemm,
    c: ClosimGemm,
    free: ClosimGemm | None,
) -> list[str]:
    codes = []
    if c.compute_cycles < ss.compute_cycles:
        codes.append("L")
    if free is not None and free.compute_cycles < c.compute_cycles:
        codes.append("T")
    if c.compute_cycles > ss.compute_cycles:
        codes.append("S")
    if ss.dram_ifmap_read != m * k or ss.dram_filter_read != k * n:
        codes.append("a")
    if c.dram_read_a != m * k or c.dram_read_b != k * n:
        codes.append("b")
    kfolds = 1 if df == "os" else -(-k // rows)
    if kfolds > 1:
        codes.append("w")
    if 0 < ss.dram_ofmap_write - m * n * kfolds < cols:
        codes.append("+")
    return codes


def parse_gemms(text: str) -> tuple[tuple[int, int, int], ...]:
    out = []
    for item in text.split(","):
        m, k, n = (int(v) for v in item.lower().split("x"))
        out.append((m, k, n))
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scalesim-python", help="interpreter with scalesim installed")
    ap.add_argument(
        "--jobs",
        type=int,
        default=max(1, os.cpu_count() or 1),
        help="SCALE-Sim processes at once (default: CPU count)",
    )
    ap.add_argument("--gemms", type=parse_gemms, default=GEMMS, help="MxKxN,MxKxN,...")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="hw.PATH=VALUE",
        help="extra closim hw override, e.g. hw.mapping.transpose=true (repeatable)",
    )
    ap.add_argument(
        "--quick", action="store_true", help=f"skip {QUICK_SKIP} (~90%% of SCALE-Sim's time)"
    )
    ap.add_argument(
        "--small-buffers-only",
        action="store_true",
        help="run only the small-buffer check (closim's compute cycles <= SCALE-Sim's)",
    )
    ap.add_argument(
        "--skip-small-buffers", action="store_true", help="run only the cross-check table"
    )
    ap.add_argument(
        "--legacy-mapper",
        action="store_true",
        help="control: map with the search space before closim issue 12 (halvings only, "
        "reduction innermost, no fold chaining); the small-buffer check must then FAIL",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.gemms = tuple(g for g in args.gemms if g != QUICK_SKIP)
    python = scalesim_python(args.scalesim_python)
    if not scalesim_available(python):
        print(f"SCALE-Sim not found at {python}; install it with: {INSTALL_HINT}")
        return 0
    if args.legacy_mapper:
        use_legacy_mapper()
    extra = parse_set_options(args.set)["hw"]
    rc = 0
    if not args.small_buffers_only:
        rc = max(rc, cross_check(args, python, extra))
    if not args.skip_small_buffers:
        rc = max(rc, small_buffer_check(args, python, extra))
    return rc


def cross_check(args: argparse.Namespace, python: str, extra: dict) -> int:
    """The cross-check table at scalesim-32x32's own buffers; 1 when closim's model of SCALE-Sim's
    mapping (``scalesim_compute_cycles``) differs from SCALE-Sim for some case."""
    hw = load_hw(HW, {**extra, **ONE_BYTE})
    # closim may transpose a GEMM (mapping.transpose, on by default); scalesim-32x32 turns it off
    # to keep SCALE-Sim's operand roles. Then a second closim run shows what transposing gains.
    free_run = getattr(hw.mapping, "transpose", True) is False
    free_extra = {**extra, "mapping.transpose": True}
    pe, parts = hw.pe_array, hw.sram.partitions
    assert pe.count == 1 and hw.fold_model == "scalesim" and parts is not None
    sram_kb = tuple(
        b // 1024 for b in (parts.activations_bytes, parts.weights_bytes, parts.partial_sums_bytes)
    )
    cases = [(df, g) for g in args.gemms for df in DATAFLOWS]
    # longest first (SCALE-Sim's time grows with its cycle count), one process per case
    order = sorted(cases, key=lambda c: -scalesim_compute_cycles(c[0], *c[1], pe.rows, pe.cols))
    print(
        f"SCALE-Sim v3 ({python}, CALC mode) vs closim (analytic engine) on {HW.name}: "
        f"{pe.rows}x{pe.cols} array, ifmap/filter/ofmap SRAM {'/'.join(map(str, sram_kb))} KiB, "
        f"1-byte elements; {len(cases)} cases on {args.jobs} processes",
        flush=True,
    )
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            case: pool.submit(run_scalesim, [case[1]], case[0], pe.rows, pe.cols, sram_kb=sram_kb,
                              python=python)
            for case in order
        }  # fmt: skip
        closim = {(df, g): run_closim(df, *g, extra) for df, g in cases}
        free = {(df, g): run_closim(df, *g, free_extra) if free_run else None for df, g in cases}
        scalesim = {case: fut.result().gemms[0] for case, fut in futures.items()}
    wall = time.perf_counter() - t0

    header = (
        "GEMM MxKxN", "df", "SS cycles", "closim cyc", "cl/SS", "cl SS-map", "check",
        "closim map", "SS DRAM rd", "cl DRAM rd", "SS DRAM wr", "cl DRAM wr",
        "rd A,B SS", "rd A,B cl", "notes",
    )  # fmt: skip
    if free_run:
        header += ("cl +transpose",)
    rows = []
    used: list[str] = []
    bad = 0
    for df, (m, k, n) in cases:
        ss, c, f = scalesim[(df, (m, k, n))], closim[(df, (m, k, n))], free[(df, (m, k, n))]
        ok = c.model_cycles == ss.compute_cycles and ss.stall_cycles == 0
        bad += not ok
        codes = _notes(df, m, k, n, pe.rows, pe.cols, ss, c, f)
        used += [x for x in codes if x not in used]
        rows.append((
            f"{m}x{k}x{n}", df, f"{ss.compute_cycles:,}", f"{c.compute_cycles:,}",
            f"{c.compute_cycles / ss.compute_cycles:.3f}", f"{c.model_cycles:,}",
            "OK" if ok else "MISMATCH", _mapping_text(c.mapping),
            f"{ss.dram_read:,}", f"{c.dram_read_a + c.dram_read_b:,}",
            f"{ss.dram_ofmap_write:,}", f"{c.dram_write:,}",
            f"{_passes(ss.dram_ifmap_read, m * k)},{_passes(ss.dram_filter_read, k * n)}",
            f"{_passes(c.dram_read_a, m * k)},{_passes(c.dram_read_b, k * n)}",
            ",".join(codes) or "-",
        ))  # fmt: skip
        if f is not None:
            rows[-1] += (f"{f.compute_cycles:,} {_mapping_text(f.mapping)}",)
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    right = {2, 3, 4, 5, 8, 9, 10, 11}
    for r in (header, *rows):
        cells = [
            str(v).rjust(w) if i in right else str(v).ljust(w)
            for i, (v, w) in enumerate(zip(r, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    legend = (
        "SS = SCALE-Sim, cl = closim. 'cl SS-map': closim's cycles for SCALE-Sim's own mapping "
        "(scalesim_compute_cycles), must equal 'SS cycles'. 'closim map': N normal / T transposed, "
        "tile MxKxN of the oriented GEMM, /number of tiles. 'rd A,B': DRAM reads of A (M x K, "
        "SCALE-Sim's ifmap) and B (K x N, filter) in multiples of their sizes. DRAM bytes = "
        "SCALE-Sim words (1-byte elements)."
    )
    if free_run:
        legend += (
            " 'cl +transpose': closim's compute cycles and mapping with hw.mapping.transpose=true "
            "(closim's default; the scalesim-32x32 config sets it false)."
        )
    print("\n" + textwrap.fill(legend, 100))
    for code in used:
        print(
            textwrap.fill(NOTES[code], 100, initial_indent=f"  {code}: ", subsequent_indent="     ")
        )
    print(f"SCALE-Sim + closim wall time: {wall:.0f} s")
    if bad:
        print(f"FAIL: {bad} case(s) where closim's SCALE-Sim-model cycles differ from SCALE-Sim")
        return 1
    print(f"PASS: closim's SCALE-Sim-model cycles equal SCALE-Sim's in all {len(cases)} cases")
    return 0


# The small-buffer check (closim issue 12): on scalesim-32x32 with small SRAM partitions,
# closim's compute cycles never exceed SCALE-Sim's, since its search space holds SCALE-Sim's own
# mapping (the temporal dimension streamed through each fold, chained across tiles) whenever two
# steps of a fold's operands fit the buffers. Fresh shapes of this check's own [asm: chosen for
# edges and for temporal dimensions larger than one 8 KiB tile], each with one buffer set
# (ifmap, filter, ofmap KiB), on the 32x32 array, for every dataflow.
SMALL_BUFFER_CASES = tuple(
    ((m, k, n), (8, 8, 8) if kib == 8 else (16, 16, 8), (32, 32))
    for m, k, n, kib in (
        (72, 200, 90, 8), (130, 64, 48, 16), (48, 390, 70, 8), (200, 96, 33, 16),
        (33, 400, 100, 8), (256, 160, 64, 8), (90, 90, 300, 16), (17, 350, 260, 8),
        (300, 40, 150, 16), (64, 384, 200, 8), (150, 150, 150, 16), (100, 360, 40, 8),
        (40, 130, 380, 16), (311, 64, 65, 8), (96, 333, 96, 16), (250, 30, 250, 8),
        (128, 300, 33, 16), (77, 256, 128, 8), (180, 180, 20, 16), (20, 400, 64, 8),
        (64, 64, 400, 16), (1, 390, 300, 8),
    )
)  # fmt: skip
#: The issue's own cases (ws 100x300x100 on a 16x64 array with 8 KiB buffers; os 1x4097x127 at
#: the default buffers, where two K-long B tiles miss the filter SRAM by 64 bytes).
ISSUE_CASES = (((100, 300, 100), (8, 8, 8), (16, 64)), ((1, 4097, 127), (256, 256, 128), (32, 32)))


def small_buffer_overrides(kib: tuple[int, int, int], array: tuple[int, int]) -> dict:
    """closim hw overrides for SCALE-Sim's ifmap / filter / ofmap SRAMs of ``kib`` KiB on a
    ``rows x cols`` array, with an ideal DRAM latency (0 ns): SCALE-Sim's CALC mode has none, it
    only reports the bandwidth it needs."""
    a, w, o = (x * 1024 for x in kib)
    return {
        "sram.partitions.activations_bytes": a, "sram.partitions.weights_bytes": w,
        "sram.partitions.partial_sums_bytes": o, "sram.capacity_bytes": a + w + o,
        "pe_array.rows": array[0], "pe_array.cols": array[1], "dram.latency_ns": 0,
    }  # fmt: skip


def use_legacy_mapper() -> None:
    """The control: every later closim run maps with the legacy search space."""
    from closim.mapping import cache, mapper

    plain = mapper.array_spec
    mapper.array_spec = lambda hw: dataclasses.replace(plain(hw), search_space="legacy")
    cache.clear_caches()


@dataclass(frozen=True)
class SmallBufferVerdict:
    """One small-buffer case: whether closim's DRAM bandwidth covers SCALE-Sim's demand (else the
    principle does not apply), whether the model of SCALE-Sim's mapping matches SCALE-Sim, and
    whether closim's compute cycles stay within SCALE-Sim's."""

    applies: bool
    model_ok: bool
    within: bool

    @property
    def ok(self) -> bool:
        return self.model_ok and (self.within or not self.applies)


def judge(ss: ScaleSimGemm, c: ClosimGemm, closim_bytes_per_cycle: float) -> SmallBufferVerdict:
    """The verdict of one case (1-byte words: bytes per cycle = words per cycle)."""
    applies = closim_bytes_per_cycle >= ss.dram_demand_words_per_cycle
    model_ok = c.model_cycles == ss.compute_cycles and ss.stall_cycles == 0
    return SmallBufferVerdict(applies, model_ok, c.compute_cycles <= ss.compute_cycles)


def small_buffer_check(args: argparse.Namespace, python: str, extra: dict) -> int:
    """Runs SMALL_BUFFER_CASES and ISSUE_CASES on both tools; 1 when closim's compute cycles
    exceed SCALE-Sim's in a case whose DRAM bandwidth covers SCALE-Sim's demand, or its model of
    SCALE-Sim's mapping misses SCALE-Sim."""
    cases = [(df, gemm, kib, array, False) for gemm, kib, array in SMALL_BUFFER_CASES
             for df in DATAFLOWS]  # fmt: skip
    cases += [(df, gemm, kib, array, True) for gemm, kib, array in ISSUE_CASES for df in DATAFLOWS]
    fresh = len(SMALL_BUFFER_CASES)
    print(f"\nSmall buffers: {fresh} fresh GEMMs + {len(ISSUE_CASES)} of the issue, x "
          f"{len(DATAFLOWS)} dataflows; closim DRAM latency 0 (SCALE-Sim CALC has none)"
          + ("; LEGACY MAPPER (control)" if args.legacy_mapper else ""), flush=True)  # fmt: skip
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            case: pool.submit(run_scalesim, [case[1]], case[0], *case[3], sram_kb=case[2],
                              python=python)
            for case in cases
        }  # fmt: skip
        closim = {case: run_closim(case[0], *case[1], {**extra, **small_buffer_overrides(
            case[2], case[3])}) for case in cases}  # fmt: skip
        scalesim = {case: fut.result().gemms[0] for case, fut in futures.items()}
    wall = time.perf_counter() - t0
    header = ("GEMM MxKxN", "df", "KiB", "array", "SS cycles", "closim cyc", "cl/SS",
              "SS B/cyc", "closim map", "verdict")  # fmt: skip
    rows, failed, skipped = [], 0, 0
    for case in cases:
        df, (m, k, n), kib, array, issue = case
        ss, c = scalesim[case], closim[case]
        bpc = load_hw(HW, {**extra, **small_buffer_overrides(kib, array)}).dram_bytes_per_cycle
        v = judge(ss, c, bpc)
        failed += not v.ok
        skipped += not v.applies
        verdict = ("OK" if v.within else "SLOWER") if v.applies else "n/a (bandwidth)"
        if not v.model_ok:
            verdict = "MODEL MISMATCH"
        rows.append((f"{m}x{k}x{n}" + (" (issue)" if issue else ""), df,
                     "/".join(map(str, kib)), f"{array[0]}x{array[1]}", f"{ss.compute_cycles:,}",
                     f"{c.compute_cycles:,}", f"{c.compute_cycles / ss.compute_cycles:.3f}",
                     f"{ss.dram_demand_words_per_cycle:.1f}",
                     f"{_mapping_text(c.mapping)} {c.mapping['loop_order']}", verdict))  # fmt: skip
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        cells = [str(v).rjust(w) if 4 <= i <= 7 else str(v).ljust(w)
                 for i, (v, w) in enumerate(zip(r, widths, strict=True))]  # fmt: skip
        print("  ".join(cells).rstrip())
    print(
        textwrap.fill(
            "SS B/cyc: SCALE-Sim's DRAM demand (average ifmap + filter + ofmap DRAM words per "
            "cycle, BANDWIDTH_REPORT.csv); closim has 100 bytes per cycle, so the check applies "
            "where that covers it. closim map: N/T tile MxKxN /tiles and loop order outer -> "
            "inner.",
            100,
        )
    )
    print(f"SCALE-Sim + closim wall time: {wall:.0f} s")
    if failed:
        print(f"FAIL: {failed} of {len(cases)} small-buffer case(s): closim's compute cycles "
              f"exceed SCALE-Sim's (or the model misses SCALE-Sim)")  # fmt: skip
        return 1
    print(f"PASS: closim's compute cycles <= SCALE-Sim's in all {len(cases) - skipped} applicable "
          f"small-buffer cases ({fresh * len(DATAFLOWS)} fresh; {skipped} n/a)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

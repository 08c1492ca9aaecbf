"""Systolic fold timing (closim.mapping.systolic) against independent computations.

1. SCALE-Sim v3's own compute cycles, measured with the real tool (table below).
2. A register-level, cycle-by-cycle simulation of a small systolic array for each dataflow that
   moves every operand, partial sum and stationary value one PE per cycle, checks the numerical
   result against a direct matrix product, and reports the cycle of the last MAC of the last output.
   It reproduces SCALE-Sim's schedule (folds back to back) and the pipelined one (folds every
   max(T, rows) cycles, two buffers per PE), and fails loudly where a schedule is infeasible.
3. Closed forms and hypothesis properties.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closim.mapping.systolic import (
    DATAFLOWS,
    FOLD_MODELS,
    FoldPlan,
    blocks_per_fold,
    fold_count,
    fold_cycles,
    fold_latency,
    fold_period,
    pipelined_compute_cycles,
    plan_gemm,
    preload_cycles,
    scalesim_compute_cycles,
    spatial_temporal,
)

# ---------------------------------------------------------------------------------------------
# 1. Measured SCALE-Sim v3 compute cycles.
#
# Measured with the real tool, scalesim==3.0.0 from PyPI with numpy 2.3.5, in a venv outside the
# repo (/work/scalesim-venv), on 2 CPU cores: one run per (dataflow, rows, cols) with all GEMMs of
# that group as layers of one `-i gemm` topology file (rows "name, M, N, K," with the trailing
# comma SCALE-Sim needs), a header-only layout file, InterfaceBandwidth CALC and 1024 kB per SRAM,
# via scalesim.scale_sim.scalesim(..., input_type_gemm=True).run_scale(). The value is the
# "Total Cycles" column of COMPUTE_REPORT.csv; "Stall Cycles" was 0 in every run. 477 GEMMs:
# the shapes below on arrays 4x4, 4x8, 8x4, 8x8, 16x8, 16x16, 32x32 and 128x128, including GEMMs
# smaller than the array, edge folds and single MACs. The exact cfg, topology and layout files and
# the commands are in the project notes (scalesim.md). Columns: dataflow M K N rows cols cycles.
MEASURED_SCALESIM = """
is   1   1   1   4   4     10
is   1   1  11   4   4     20
is   1   5   3   4   4     25
is   2   6   1   4   4     21
is   2   7   5   4   4     29
is   3   3   3   4   4     12
is   4   8   8   4   4     35
is   4  11   4   4   4     41
is   4  16   8   4   4     71
is   5   2   9   4   4     37
is   7  40  13   4   4    459
is   8   8   8   4   4     71
is   9   1   7   4   4     50
is   9   4   6   4   4     47
is  11   4   7   4   4     50
is  12   1   9   4   4     56
is  16   4   4   4   4     55
is  32  32  32   4   4   2687
is  33  17   9   4   4    854
is  64 784 300   4   4 972159
is 100   3  70   4   4   1999
is 256  32  32   4   4  21503
os   1   1   1   4   4      6
os   1   1  11   4   4     20
os   1   5   3   4   4     10
os   2   6   1   4   4     11
os   2   7   5   4   4     25
os   3   3   3   4   4      8
os   4   8   8   4   4     27
os   4  11   4   4   4     16
os   4  16   8   4   4     43
os   5   2   9   4   4     47
os   7  40  13   4   4    367
os   8   8   8   4   4     55
os   9   1   7   4   4     41
os   9   4   6   4   4     59
os  11   4   7   4   4     59
os  12   1   9   4   4     62
os  16   4   4   4   4     39
os  32  32  32   4   4   2431
os  33  17   9   4   4    620
os  64 784 300   4   4 947999
os 100   3  70   4   4   4049
os 256  32  32   4   4  19455
ws   1   1   1   4   4     10
ws   1   1  11   4   4     32
ws   1   5   3   4   4     21
ws   2   6   1   4   4     23
ws   2   7   5   4   4     47
ws   3   3   3   4   4     12
ws   4   8   8   4   4     55
ws   4  11   4   4   4     41
ws   4  16   8   4   4    111
ws   5   2   9   4   4     44
ws   7  40  13   4   4    679
ws   8   8   8   4   4     71
ws   9   1   7   4   4     37
ws   9   4   6   4   4     37
ws  11   4   7   4   4     41
ws  12   1   9   4   4     65
ws  16   4   4   4   4     25
ws  32  32  32   4   4   2687
ws  33  17   9   4   4    644
ws  64 784 300   4   4 1087799
ws 100   3  70   4   4   1979
ws 256  32  32   4   4  17023
is   1   1   1   4   8     14
is   1   5   3   4   8     33
is   2   7   5   4   8     37
is   2   8  22   4   8     71
is   3   3   3   4   8     16
is   4  12  13   4   8     80
is   4  16   8   4   8     87
is   5   2   9   4   8     22
is   6   9  23   4   8    110
is   7  11   6   4   8     59
is   7  40  13   4   8    269
is   8   8   8   4   8     43
is   8   9  13   4   8     80
is   9   2   6   4   8     39
is  10   1  16   4   8     59
is  11  12  12   4   8    155
is  16   4   4   4   8     35
is  32  32  32   4   8   1471
is  33  17   9   4   8    574
is  64 784 300   4   8 492351
is 100   3  70   4   8   1091
is 256  32  32   4   8  11775
os   1   1   1   4   8     10
os   1   5   3   4   8     14
os   2   7   5   4   8     16
os   2   8  22   4   8     53
os   3   3   3   4   8     12
os   4  12  13   4   8     43
os   4  16   8   4   8     25
os   5   2   9   4   8     47
os   6   9  23   4   8    113
os   7  11   6   4   8     41
os   7  40  13   4   8    199
os   8   8   8   4   8     35
os   8   9  13   4   8     75
os   9   2   6   4   8     35
os  10   1  16   4   8     65
os  11  12  12   4   8    131
os  16   4   4   4   8     55
os  32  32  32   4   8   1343
os  33  17   9   4   8    485
os  64 784 300   4   8 482751
os 100   3  70   4   8   2924
os 256  32  32   4   8  10751
ws   1   1   1   4   8     14
ws   1   5   3   4   8     29
ws   2   7   5   4   8     31
ws   2   8  22   4   8     95
ws   3   3   3   4   8     16
ws   4  12  13   4   8    107
ws   4  16   8   4   8     71
ws   5   2   9   4   8     37
ws   6   9  23   4   8    179
ws   7  11   6   4   8     62
ws   7  40  13   4   8    419
ws   8   8   8   4   8     43
ws   8   9  13   4   8    131
ws   9   2   6   4   8     22
ws  10   1  16   4   8     47
ws  11  12  12   4   8    149
ws  16   4   4   4   8     29
ws  32  32  32   4   8   1471
ws  33  17   9   4   8    469
ws  64 784 300   4   8 580943
ws 100   3  70   4   8   1025
ws 256  32  32   4   8   8639
is   1   1   1   8   4     18
is   1   5   3   8   4     20
is   2   7   5   8   4     22
is   3   3   3   8   4     20
is   4   6  11   8   4     28
is   4  16   8   8   4     51
is   5   2   9   8   4     53
is   7  40  13   8   4    309
is   8   8   8   8   4     51
is  10  10  10   8   4    167
is  14  18  11   8   4    347
is  15  10   1   8   4    151
is  16   4   4   8   4     87
is  17  22   4   8   4    329
is  23  17   7   8   4    449
is  24  10   2   8   4    239
is  24  11  12   8   4    359
is  32  32  32   8   4   1599
is  33  17   9   8   4    728
is  64 784 300   8   4 498623
is 100   3  70   8   4   2199
is 256  32  32   8   4  12799
os   1   1   1   8   4     10
os   1   5   3   8   4     14
os   2   7   5   8   4     33
os   3   3   3   8   4     12
os   4   6  11   8   4     47
os   4  16   8   8   4     51
os   5   2   9   8   4     35
os   7  40  13   8   4    199
os   8   8   8   8   4     35
os  10  10  10   8   4    119
os  14  18  11   8   4    167
os  15  10   1   8   4     39
os  16   4   4   8   4     27
os  17  22   4   8   4     95
os  23  17   7   8   4    161
os  24  10   2   8   4     59
os  24  11  12   8   4    188
os  32  32  32   8   4   1343
os  33  17   9   8   4    404
os  64 784 300   8   4 476399
os 100   3  70   8   4   3041
os 256  32  32   8   4  10751
ws   1   1   1   8   4     18
ws   1   5   3   8   4     18
ws   2   7   5   8   4     39
ws   3   3   3   8   4     20
ws   4   6  11   8   4     65
ws   4  16   8   8   4     87
ws   5   2   9   8   4     68
ws   7  40  13   8   4    499
ws   8   8   8   8   4     51
ws  10  10  10   8   4    167
ws  14  18  11   8   4    287
ws  15  10   1   8   4     65
ws  16   4   4   8   4     33
ws  17  22   4   8   4    104
ws  23  17   7   8   4    245
ws  24  10   2   8   4     83
ws  24  11  12   8   4    251
ws  32  32  32   8   4   1599
ws  33  17   9   8   4    458
ws  64 784 300   8   4 602699
ws 100   3  70   8   4   2123
ws 256  32  32   8   4   8767
is   1   1   1   8   8     22
is   1   5   3   8   8     24
is   2   7   5   8   8     26
is   3   3   3   8   8     24
is   4  16   8   8   8     59
is   5   2   9   8   8     30
is   5  19   3   8   8     74
is   7  40  13   8   8    174
is   8   8   8   8   8     29
is   9   4  16   8   8     75
is  13   7   4   8   8     51
is  14  20   1   8   8    137
is  15  16  21   8   8    171
is  16   1  13   8   8     69
is  16   4   4   8   8     51
is  23  15   9   8   8    185
is  24   8  19   8   8    122
is  32  32  32   8   8    863
is  33  17   9   8   8    464
is  64 784 300   8   8 252447
is 100   3  70   8   8   1195
is 256  32  32   8   8   6911
os   1   1   1   8   8     14
os   1   5   3   8   8     18
os   2   7   5   8   8     20
os   3   3   3   8   8     16
os   4  16   8   8   8     29
os   5   2   9   8   8     31
os   5  19   3   8   8     32
os   7  40  13   8   8    107
os   8   8   8   8   8     21
os   9   4  16   8   8     71
os  13   7   4   8   8     41
os  14  20   1   8   8     67
os  15  16  21   8   8    179
os  16   1  13   8   8     59
os  16   4   4   8   8     35
os  23  15   9   8   8    173
os  24   8  19   8   8    197
os  32  32  32   8   8    735
os  33  17   9   8   8    309
os  64 784 300   8   8 242591
os 100   3  70   8   8   1988
os 256  32  32   8   8   5887
ws   1   1   1   8   8     22
ws   1   5   3   8   8     22
ws   2   7   5   8   8     23
ws   3   3   3   8   8     24
ws   4  16   8   8   8     51
ws   5   2   9   8   8     53
ws   5  19   3   8   8     80
ws   7  40  13   8   8    289
ws   8   8   8   8   8     29
ws   9   4  16   8   8     61
ws  13   7   4   8   8     34
ws  14  20   1   8   8    107
ws  15  16  21   8   8    221
ws  16   1  13   8   8     75
ws  16   4   4   8   8     37
ws  23  15   9   8   8    179
ws  24   8  19   8   8    137
ws  32  32  32   8   8    863
ws  33  17   9   8   8    329
ws  64 784 300   8   8 320263
ws 100   3  70   8   8   1097
ws 256  32  32   8   8   4447
is   1   1   1  16   8     38
is   1   5   3  16   8     40
is   2   7   5  16   8     42
is   3   3   3  16   8     40
is   4  16   8  16   8     45
is   5   2   9  16   8     46
is   7  40  13  16   8    152
is   8   8   8  16   8     45
is  16   4   4  16   8     83
is  27  23   1  16   8    311
is  27  32  12  16   8    399
is  32  32  32  16   8    559
is  33  17   9  16   8    469
is  35  35  20  16   8    869
is  36  13  17  16   8    274
is  38  12   3  16   8    204
is  39   2   8  16   8    229
is  40  22  15  16   8    529
is  41  12  18  16   8    335
is  64 784 300  16   8 132495
is 100   3  70  16   8   1403
is 256  32  32  16   8   4479
os   1   1   1  16   8     22
os   1   5   3  16   8     26
os   2   7   5  16   8     28
os   3   3   3  16   8     24
os   4  16   8  16   8     37
os   5   2   9  16   8     47
os   7  40  13  16   8    123
os   8   8   8  16   8     29
os  16   4   4  16   8     25
os  27  23   1  16   8     89
os  27  32  12  16   8    215
os  32  32  32  16   8    431
os  33  17   9  16   8    233
os  35  35  20  16   8    512
os  36  13  17  16   8    314
os  38  12   3  16   8    101
os  39   2   8  16   8     71
os  40  22  15  16   8    263
os  41  12  18  16   8    305
os  64 784 300  16   8 122511
os 100   3  70  16   8   1574
os 256  32  32  16   8   3455
ws   1   1   1  16   8     38
ws   1   5   3  16   8     38
ws   2   7   5  16   8     39
ws   3   3   3  16   8     40
ws   4  16   8  16   8     41
ws   5   2   9  16   8     85
ws   7  40  13  16   8    269
ws   8   8   8  16   8     45
ws  16   4   4  16   8     53
ws  27  23   1  16   8    129
ws  27  32  12  16   8    259
ws  32  32  32  16   8    559
ws  33  17   9  16   8    283
ws  35  35  20  16   8    656
ws  36  13  17  16   8    221
ws  38  12   3  16   8     75
ws  39   2   8  16   8     76
ws  40  22  15  16   8    311
ws  41  12  18  16   8    236
ws  64 784 300  16   8 189923
ws 100   3  70  16   8   1241
ws 256  32  32  16   8   2351
is   1   1   1  16  16     46
is   1   5   3  16  16     48
is   2   7   5  16  16     50
is   3   3   3  16  16     48
is   4  16   8  16  16     53
is   5   2   9  16  16     54
is   7  40  13  16  16    176
is   8   8   8  16  16     53
is  11  11  33  16  16     78
is  15   1  13  16  16     58
is  16   4   4  16  16     49
is  31   3  20  16  16    131
is  32  32  32  16  16    311
is  32  47   2  16  16    287
is  33  17   9  16  16    329
is  34  26  24  16  16    419
is  35  36  15  16  16    548
is  38  26  42  16  16    527
is  46  40  38  16  16    755
is  64 784 300  16  16  67815
is 100   3  70  16  16    811
is 256  32  32  16  16   2495
os   1   1   1  16  16     30
os   1   5   3  16  16     34
os   2   7   5  16  16     36
os   3   3   3  16  16     32
os   4  16   8  16  16     45
os   5   2   9  16  16     31
os   7  40  13  16  16     69
os   8   8   8  16  16     37
os  11  11  33  16  16    122
os  15   1  13  16  16     30
os  16   4   4  16  16     33
os  31   3  20  16  16    131
os  32  32  32  16  16    247
os  32  47   2  16  16    153
os  33  17   9  16  16    140
os  34  26  24  16  16    335
os  35  36  15  16  16    197
os  38  26  42  16  16    503
os  46  40  38  16  16    629
os  64 784 300  16  16  61863
os 100   3  70  16  16   1154
os 256  32  32  16  16   1983
ws   1   1   1  16  16     46
ws   1   5   3  16  16     46
ws   2   7   5  16  16     47
ws   3   3   3  16  16     48
ws   4  16   8  16  16     49
ws   5   2   9  16  16     50
ws   7  40  13  16  16    158
ws   8   8   8  16  16     53
ws  11  11  33  16  16    170
ws  15   1  13  16  16     60
ws  16   4   4  16  16     61
ws  31   3  20  16  16    153
ws  32  32  32  16  16    311
ws  32  47   2  16  16    233
ws  33  17   9  16  16    157
ws  34  26  24  16  16    319
ws  35  36  15  16  16    242
ws  38  26  42  16  16    503
ws  46  40  38  16  16    827
ws  64 784 300  16  16 102409
ws 100   3  70  16  16    729
ws 256  32  32  16  16   1207
is   1   1   1  32  32     94
is   1   5   3  32  32     96
is   2   7   5  32  32     98
is   3   3   3  32  32     96
is   4  16   8  32  32    101
is   5   2   9  32  32    102
is   7  40  13  32  32    213
is   8   8   8  32  32    101
is  16   4   4  32  32     97
is  17  67  72  32  32    497
is  27  55   8  32  32    203
is  32  32  32  32  32    125
is  33  17   9  32  32    205
is  35  85  71  32  32    989
is  50  95  66  32  32    959
is  52  66  45  32  32    833
is  62  47  73  32  32    667
is  64 784 300  32  32  19699
is  74  46  59  32  32    917
is  78  94   1  32  32    854
is 100   3  70  32  32    655
is 256  32  32  32  32   1007
os   1   1   1  32  32     62
os   1   5   3  32  32     66
os   2   7   5  32  32     68
os   3   3   3  32  32     64
os   4  16   8  32  32     77
os   5   2   9  32  32     63
os   7  40  13  32  32    101
os   8   8   8  32  32     69
os  16   4   4  32  32     65
os  17  67  72  32  32    386
os  27  55   8  32  32    116
os  32  32  32  32  32     93
os  33  17   9  32  32    157
os  35  85  71  32  32    881
os  50  95  66  32  32    941
os  52  66  45  32  32    511
os  62  47  73  32  32    653
os  64 784 300  32  32  16919
os  74  46  59  32  32    647
os  78  94   1  32  32    467
os 100   3  70  32  32    779
os 256  32  32  32  32    751
ws   1   1   1  32  32     94
ws   1   5   3  32  32     94
ws   2   7   5  32  32     95
ws   3   3   3  32  32     96
ws   4  16   8  32  32     97
ws   5   2   9  32  32     98
ws   7  40  13  32  32    201
ws   8   8   8  32  32    101
ws  16   4   4  32  32    109
ws  17  67  72  32  32    998
ws  27  55   8  32  32    241
ws  32  32  32  32  32    125
ws  33  17   9  32  32    126
ws  35  85  71  32  32   1160
ws  50  95  66  32  32   1295
ws  52  66  45  32  32    875
ws  62  47  73  32  32    935
ws  64 784 300  32  32  39499
ws  74  46  59  32  32    671
ws  78  94   1  32  32    515
ws 100   3  70  32  32    581
ws 256  32  32  32  32    349
is   1   1   1 128 128    382
is   8   8   8 128 128    389
is  64 784 300 128 128   4773
is 200 130 129 128 128   2043
is 256  32  32 128 128    827
os   1   1   1 128 128    254
os   8   8   8 128 128    261
os  64 784 300 128 128   3113
os 200 130 129 128 128   1535
os 256  32  32 128 128    571
ws   1   1   1 128 128    382
ws   8   8   8 128 128    389
ws  64 784 300 128 128   9365
ws 200 130 129 128 128   2327
ws 256  32  32 128 128    637
"""


def _measured() -> list[tuple[str, int, int, int, int, int, int]]:
    out = []
    for line in MEASURED_SCALESIM.strip().splitlines():
        df, *nums = line.split()
        m, k, n, rows, cols, cycles = (int(x) for x in nums)
        out.append((df, m, k, n, rows, cols, cycles))
    return out


MEASURED = _measured()


def test_measured_table_is_complete():
    assert len(MEASURED) == 477
    assert {r[0] for r in MEASURED} == set(DATAFLOWS)
    # GEMMs smaller than the array in every dimension, on every dataflow
    small = [r for r in MEASURED if max(r[1:4]) < min(r[4:6])]
    assert {r[0] for r in small} == set(DATAFLOWS)


@pytest.mark.parametrize(("dataflow", "m", "k", "n", "rows", "cols", "cycles"), MEASURED)
def test_scalesim_matches_measured(dataflow, m, k, n, rows, cols, cycles):
    assert scalesim_compute_cycles(dataflow, m, k, n, rows, cols) == cycles
    plan = plan_gemm("scalesim", dataflow, m, k, n, rows, cols)
    assert plan.cycles == cycles
    assert pipelined_compute_cycles(dataflow, m, k, n, rows, cols) <= cycles


def test_design_examples():
    # docs/architecture.md §5 and the measured runs: M=64, K=784, N=300 on 32x32
    assert scalesim_compute_cycles("ws", 64, 784, 300, 32, 32) == 39_499
    assert scalesim_compute_cycles("os", 64, 784, 300, 32, 32) == 16_919
    assert scalesim_compute_cycles("is", 64, 784, 300, 32, 32) == 19_699
    # pipelined ws: 250 folds of T=64 every max(64, 32) cycles after the first fold's 158
    assert pipelined_compute_cycles("ws", 64, 784, 300, 32, 32) == 157 + 249 * 64


# ---------------------------------------------------------------------------------------------
# 2. Register-level simulation of a small systolic array.


class Infeasible(AssertionError):
    """The schedule asks a register, port or buffer to hold two things at once."""


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise Infeasible(what)


def simulate_stationary(folds, rows, cols, starts, nbuf, skew_load):
    """WS/IS array: a stationary ``rows x cols`` grid per fold, vectors streamed left to right,
    partial sums flowing top to bottom.

    ``folds``: list of (S, X) with S a rows x cols grid of stationary values and X a T x rows list
    (row ``j`` is the vector streamed at step ``j``). Fold ``i``'s vector ``j`` enters row ``r`` at
    cycle ``starts[i] + r + j`` (the skew). Its stationary values are shifted in from the top of
    each column over ``rows`` cycles ending at ``starts[i] - 1`` (plus ``c`` for column ``c`` when
    ``skew_load``: loaded along the data's diagonal wavefront), each latched into buffer
    ``i % nbuf`` of its PE when it reaches its row. Returns ({(fold, j, c): value}, last cycle at
    which the bottom row produced an output).
    """
    injections = {}  # (cycle, column) -> (fold, target row, value)
    for i, (s_grid, _x) in enumerate(folds):
        for r, c in itertools.product(range(rows), range(cols)):
            cyc = starts[i] - rows + (rows - 1 - r) + (c if skew_load else 0)
            _check(cyc >= 0, "preload before cycle 0")
            _check((cyc, c) not in injections, "two values enter a load chain in one cycle")
            injections[(cyc, c)] = (i, r, s_grid[r][c])
    streams = {}  # (cycle, row) -> (fold, j, value)
    for i, (_s, x) in enumerate(folds):
        for j, r in itertools.product(range(len(x)), range(rows)):
            cyc = starts[i] + r + j
            _check((cyc, r) not in streams, "two vectors enter a row in one cycle")
            streams[(cyc, r)] = (i, j, x[j][r])
    chain = [[None] * cols for _ in range(rows)]
    buf = [[[None] * nbuf for _ in range(cols)] for _ in range(rows)]  # [fold, value, uses left]
    xreg = [[None] * cols for _ in range(rows)]
    preg = [[None] * cols for _ in range(rows)]
    outputs, last = {}, -1
    expected = sum(len(x) * cols for _s, x in folds)
    horizon = max(starts) + 4 * (rows + cols) + max(len(x) for _s, x in folds) + 8
    for cyc in range(horizon):
        # load chains: shift down one row; a value stops at its row and is latched
        new_chain = [[None] * cols for _ in range(rows)]
        for r, c in itertools.product(range(rows), range(cols)):
            v = injections.get((cyc, c)) if r == 0 else chain[r - 1][c]
            if v is None:
                continue
            fold, target, value = v
            if target == r:
                slot = buf[r][c][fold % nbuf]
                _check(
                    slot is None or slot[2] == 0, "a stationary buffer still in use is overwritten"
                )
                buf[r][c][fold % nbuf] = [fold, value, len(folds[fold][1]), cyc]
            else:
                new_chain[r][c] = v
        chain = new_chain
        # vectors move right, partial sums move down, every PE does at most one MAC
        new_x = [[None] * cols for _ in range(rows)]
        new_p = [[None] * cols for _ in range(rows)]
        for r, c in itertools.product(range(rows), range(cols)):
            x = streams.get((cyc, r)) if c == 0 else xreg[r][c - 1]
            p_in = preg[r - 1][c] if r > 0 else None
            if x is None:
                _check(p_in is None, "a partial sum arrives at a PE with no operand")
                continue
            fold, j, xv = x
            slot = buf[r][c][fold % nbuf]
            _check(
                slot is not None and slot[0] == fold and slot[3] < cyc, "stationary value absent"
            )
            slot[2] -= 1
            if r == 0:
                p_in = (fold, j, 0)
            _check(p_in is not None and p_in[:2] == (fold, j), "partial sum out of step")
            new_x[r][c] = x
            new_p[r][c] = (fold, j, p_in[2] + xv * slot[1])
            if r == rows - 1:
                outputs[(fold, j, c)] = new_p[r][c][2]
                last = cyc
        xreg, preg = new_x, new_p
        if len(outputs) == expected:
            break
    _check(len(outputs) == expected, "outputs missing")
    return outputs, last


def simulate_output_stationary(folds, rows, cols, starts):
    """OS array: fold ``i`` streams A_i (rows x T) from the left and B_i (T x cols) from the top,
    A_i[r][k] entering row ``r`` at ``starts[i] + r + k`` and B_i[k][c] entering column ``c`` at
    ``starts[i] + c + k``; each PE accumulates in place. A finished accumulator moves to the PE's
    second (output) register, and each column reads one output register per cycle through its port
    (double-buffered accumulators). Returns ({(fold, r, c): value}, cycle of the last MAC)."""
    a_in, b_in = {}, {}
    for i, (a, b) in enumerate(folds):
        for r, k in itertools.product(range(rows), range(len(b))):
            _check((starts[i] + r + k, r) not in a_in, "two operands enter a row in one cycle")
            a_in[(starts[i] + r + k, r)] = (i, k, a[r][k])
        for c, k in itertools.product(range(cols), range(len(b))):
            _check((starts[i] + c + k, c) not in b_in, "two operands enter a column in one cycle")
            b_in[(starts[i] + c + k, c)] = (i, k, b[k][c])
    areg = [[None] * cols for _ in range(rows)]
    breg = [[None] * cols for _ in range(rows)]
    acc = [[None] * cols for _ in range(rows)]
    out_reg = [[None] * cols for _ in range(rows)]
    port_queue = [[] for _ in range(cols)]
    outputs, last = {}, -1
    expected = len(folds) * rows * cols
    horizon = max(starts) + 4 * (rows + cols) + max(len(b) for _a, b in folds) + 8
    for cyc in range(horizon):
        # each column's port reads one finished output register per cycle, oldest first
        for c in range(cols):
            if port_queue[c]:
                r = port_queue[c].pop(0)
                fold, value = out_reg[r][c]
                outputs[(fold, r, c)] = value
                out_reg[r][c] = None
        new_a = [[None] * cols for _ in range(rows)]
        new_b = [[None] * cols for _ in range(rows)]
        for r, c in itertools.product(range(rows), range(cols)):
            a = a_in.get((cyc, r)) if c == 0 else areg[r][c - 1]
            b = b_in.get((cyc, c)) if r == 0 else breg[r - 1][c]
            if a is None and b is None:
                continue
            _check(a is not None and b is not None and a[:2] == b[:2], "operands out of step")
            fold, k, av = a
            t_len = len(folds[fold][1])
            if k == 0:
                _check(acc[r][c] is None, "accumulator busy")
                acc[r][c] = [fold, 0]
            _check(acc[r][c] is not None and acc[r][c][0] == fold, "accumulator of another fold")
            acc[r][c][1] += av * b[2]
            if k == t_len - 1:
                _check(out_reg[r][c] is None, "output register not read out yet")
                out_reg[r][c] = (fold, acc[r][c][1])
                port_queue[c].append(r)
                acc[r][c] = None
                last = max(last, cyc)
            new_a[r][c], new_b[r][c] = a, b
        areg, breg = new_a, new_b
        if len(outputs) == expected:
            break
    _check(len(outputs) == expected, "outputs missing")
    return outputs, last


def _pad(grid, n_rows, n_cols):
    return [[grid[r][c] if r < len(grid) and c < len(grid[0]) else 0 for c in range(n_cols)]
            for r in range(n_rows)]  # fmt: skip


def _block(mat, r0, c0, n_rows, n_cols):
    return _pad([row[c0 : c0 + n_cols] for row in mat[r0 : r0 + n_rows]], n_rows, n_cols)


def _transpose(mat):
    return [list(col) for col in zip(*mat, strict=True)]


def _matmul(a, b):
    return [[sum(a[i][p] * b[p][j] for p in range(len(b))) for j in range(len(b[0]))]
            for i in range(len(a))]  # fmt: skip


def brute_force_gemm(dataflow, a, b, rows, cols, fold_model):
    """Run C = A @ B on the simulated array, folds in SCALE-Sim's order (column folds outer),
    started back to back (scalesim) or every max(T, rows) cycles with two buffers (pipelined).
    Returns (C, the cycle index of the last MAC of the last output)."""
    m, k, n = len(a), len(b), len(b[0])
    sr, sc, t = spatial_temporal(dataflow, m, k, n)
    tiles = [(fc, fr) for fc in range(-(-sc // cols)) for fr in range(-(-sr // rows))]
    pipelined = fold_model == "pipelined"
    if dataflow == "os":
        latency = rows + cols + t - 2
        period = max(t, rows) if pipelined else latency
        starts = [i * period for i in range(len(tiles))]
        folds = [(_block(a, fr * rows, 0, rows, k), _block(b, 0, fc * cols, k, cols))
                 for fc, fr in tiles]  # fmt: skip
        out, last = simulate_output_stationary(folds, rows, cols, starts)
        c_mat = [[0] * n for _ in range(m)]
        for (i, r, c), v in out.items():
            fc, fr = tiles[i]
            if fr * rows + r < m and fc * cols + c < n:
                c_mat[fr * rows + r][fc * cols + c] = v
        return c_mat, last
    # ws: stationary B, streamed rows of A; is: stationary A^T, streamed rows of B^T
    stat, stream = (b, a) if dataflow == "ws" else (_transpose(a), _transpose(b))
    latency = 2 * rows + cols + t - 2
    period = max(t, rows) if pipelined else latency
    starts = [rows + i * period for i in range(len(tiles))]
    folds = [(_block(stat, fr * rows, fc * cols, rows, cols), _block(stream, 0, fr * rows, t, rows))
             for fc, fr in tiles]  # fmt: skip
    out, last = simulate_stationary(folds, rows, cols, starts, 2 if pipelined else 1, pipelined)
    acc = [[0] * sc for _ in range(t)]  # accumulate partial sums over the row folds
    for (i, j, c), v in out.items():
        fc, _fr = tiles[i]
        if fc * cols + c < sc:
            acc[j][fc * cols + c] += v
    return (acc if dataflow == "ws" else _transpose(acc)), last


def _rand(n_rows, n_cols, rng):
    return [[rng.randint(-3, 3) for _ in range(n_cols)] for _ in range(n_rows)]


BRUTE_CASES = [
    # (m, k, n, rows, cols): one fold, edge folds, smaller than the array, T < rows, T > rows
    (1, 1, 1, 1, 1),
    (1, 1, 1, 3, 2),
    (2, 3, 2, 4, 4),
    (4, 4, 4, 4, 4),
    (5, 7, 3, 3, 2),
    (3, 9, 10, 4, 3),
    (9, 2, 5, 2, 4),
    (6, 5, 7, 3, 3),
    (1, 8, 8, 4, 4),
    (8, 1, 1, 2, 2),
]


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("fold_model", FOLD_MODELS)
@pytest.mark.parametrize(("m", "k", "n", "rows", "cols"), BRUTE_CASES)
def test_brute_force_simulation(dataflow, fold_model, m, k, n, rows, cols):
    rng = random.Random(f"{dataflow} {m} {k} {n} {rows} {cols}")
    a, b = _rand(m, k, rng), _rand(k, n, rng)
    c_mat, last = brute_force_gemm(dataflow, a, b, rows, cols, fold_model)
    assert c_mat == _matmul(a, b)
    want = (scalesim_compute_cycles if fold_model == "scalesim" else pipelined_compute_cycles)(
        dataflow, m, k, n, rows, cols
    )
    assert last == want


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(DATAFLOWS),
    st.sampled_from(FOLD_MODELS),
    st.integers(1, 7),
    st.integers(1, 7),
    st.integers(1, 7),
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_brute_force_simulation_random(dataflow, fold_model, m, k, n, rows, cols):
    rng = random.Random(m * 1000 + k * 100 + n * 10 + rows + cols)
    a, b = _rand(m, k, rng), _rand(k, n, rng)
    c_mat, last = brute_force_gemm(dataflow, a, b, rows, cols, fold_model)
    assert c_mat == _matmul(a, b)
    want = fold_cycles(
        fold_model,
        dataflow,
        spatial_temporal(dataflow, m, k, n)[2],
        rows,
        cols,
        fold_count(*spatial_temporal(dataflow, m, k, n)[:2], rows, cols),
    )
    assert last == want


def _stationary_folds(t, rows, cols, count, rng):
    return [(_rand(rows, cols, rng), _rand(t, rows, rng)) for _ in range(count)]


@pytest.mark.parametrize(("t", "rows", "cols"), [(2, 4, 3), (6, 4, 3), (4, 4, 4), (1, 3, 5)])
def test_pipelined_period_is_tight_for_stationary(t, rows, cols):
    """Two buffers per PE and diagonal loading sustain a fold every max(T, rows) cycles, and no
    less: one cycle less overloads an input row (T) or a load chain (rows)."""
    rng = random.Random(7)
    folds = _stationary_folds(t, rows, cols, 4, rng)
    period = max(t, rows)
    starts = [rows + i * period for i in range(4)]
    out, last = simulate_stationary(folds, rows, cols, starts, nbuf=2, skew_load=True)
    assert last == fold_cycles("pipelined", "ws", t, rows, cols, 4)
    for i, (s_grid, x) in enumerate(folds):
        y = _matmul(x, s_grid)
        assert all(out[(i, j, c)] == y[j][c] for j in range(t) for c in range(cols))
    faster = [rows + i * (period - 1) for i in range(4)]
    with pytest.raises(Infeasible):
        simulate_stationary(folds, rows, cols, faster, nbuf=2, skew_load=True)


def test_pipelined_needs_two_buffers():
    rng = random.Random(3)
    t, rows, cols = 3, 3, 3
    folds = _stationary_folds(t, rows, cols, 3, rng)
    starts = [rows + i * max(t, rows) for i in range(3)]
    with pytest.raises(Infeasible):
        simulate_stationary(folds, rows, cols, starts, nbuf=1, skew_load=True)


@pytest.mark.parametrize(("t", "rows", "cols"), [(2, 4, 3), (6, 4, 3), (3, 3, 2)])
def test_pipelined_period_is_tight_for_output_stationary(t, rows, cols):
    """Double-buffered accumulators sustain an os fold every max(T, rows) cycles: rows outputs
    leave each column through one port, one per cycle."""
    rng = random.Random(5)
    folds = [(_rand(rows, t, rng), _rand(t, cols, rng)) for _ in range(4)]
    period = max(t, rows)
    out, last = simulate_output_stationary(folds, rows, cols, [i * period for i in range(4)])
    assert last == fold_cycles("pipelined", "os", t, rows, cols, 4)
    for i, (a, b) in enumerate(folds):
        y = _matmul(a, b)
        assert all(out[(i, r, c)] == y[r][c] for r in range(rows) for c in range(cols))
    with pytest.raises(Infeasible):
        simulate_output_stationary(folds, rows, cols, [i * (period - 1) for i in range(4)])


def _block_diag(blocks):
    n_rows = sum(len(x) for x in blocks)
    n_cols = sum(len(x[0]) for x in blocks)
    out = [[0] * n_cols for _ in range(n_rows)]
    r0 = c0 = 0
    for blk in blocks:
        for r, row in enumerate(blk):
            out[r0 + r][c0 : c0 + len(row)] = row
        r0, c0 = r0 + len(blk), c0 + len(blk[0])
    return out


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize(
    ("m", "k", "n", "rows", "cols"),
    [(2, 2, 2, 4, 4), (1, 2, 1, 6, 6), (2, 1, 2, 6, 4), (1, 1, 1, 3, 5), (2, 3, 1, 7, 7)],
)
def test_packed_blocks_on_the_diagonal(dataflow, m, k, n, rows, cols):
    """Blocks placed on the array's diagonal compute their own GEMMs in one fold: the packed fold is
    a dense GEMM whose off-diagonal stationary values are zero (ws, is) or whose off-diagonal
    outputs are dropped (os)."""
    sr, sc, _t = spatial_temporal(dataflow, m, k, n)
    nblocks = min(3, blocks_per_fold(sr, sc, rows, cols))
    assert nblocks >= 2
    rng = random.Random(11)
    blocks = [(_rand(m, k, rng), _rand(k, n, rng)) for _ in range(nblocks)]
    if dataflow == "ws":  # [A_1 | A_2 | ...] @ blockdiag(B_i)
        a = [[v for blk in blocks for v in blk[0][i]] for i in range(m)]
        b = _block_diag([blk[1] for blk in blocks])
    elif dataflow == "is":  # blockdiag(A_i) @ [B_1; B_2; ...]
        a = _block_diag([blk[0] for blk in blocks])
        b = [row for blk in blocks for row in blk[1]]
    else:  # [A_1; A_2; ...] @ [B_1 | B_2 | ...], the diagonal blocks kept
        a = [row for blk in blocks for row in blk[0]]
        b = [[v for blk in blocks for v in blk[1][i]] for i in range(k)]
    for fold_model in FOLD_MODELS:
        c_mat, last = brute_force_gemm(dataflow, a, b, rows, cols, fold_model)
        for i, (ai, bi) in enumerate(blocks):
            if dataflow == "ws":
                got = [row[i * n : (i + 1) * n] for row in c_mat]
            elif dataflow == "is":
                got = c_mat[i * m : (i + 1) * m]
            else:
                got = [row[i * n : (i + 1) * n] for row in c_mat[i * m : (i + 1) * m]]
            assert got == _matmul(ai, bi)
        plan = plan_gemm(fold_model, dataflow, m, k, n, rows, cols, blocks=nblocks)
        assert plan.folds == 1
        assert last == plan.cycles


# ---------------------------------------------------------------------------------------------
# 3. Closed forms and properties.


def test_spatial_temporal_and_fold_count():
    assert spatial_temporal("os", 2, 3, 5) == (2, 5, 3)
    assert spatial_temporal("ws", 2, 3, 5) == (3, 5, 2)
    assert spatial_temporal("is", 2, 3, 5) == (3, 2, 5)
    assert fold_count(64, 300, 32, 32) == 2 * 10
    assert fold_count(1, 1, 128, 128) == 1
    assert fold_count(33, 32, 32, 32) == 2


def test_fold_latency_and_preload():
    assert fold_latency("ws", 64, 32, 32) == 2 * 32 + 32 + 64 - 2
    assert fold_latency("is", 64, 32, 16) == 2 * 32 + 16 + 64 - 2
    assert fold_latency("os", 784, 32, 32) == 32 + 32 + 784 - 2
    assert all(preload_cycles(df, 32, 8) == 32 for df in DATAFLOWS)
    assert fold_period("scalesim", "ws", 10, 8, 8) == fold_latency("ws", 10, 8, 8)
    assert fold_period("pipelined", "ws", 10, 8, 8) == 10
    assert fold_period("pipelined", "os", 3, 8, 8) == 8


def test_fold_cycles_closed_forms():
    assert fold_cycles("scalesim", "ws", 5, 4, 4, 0) == 0
    assert fold_cycles("pipelined", "os", 5, 4, 4, 0) == 0
    assert fold_cycles("scalesim", "ws", 5, 4, 4, 3) == 3 * (8 + 4 + 5 - 2) - 1
    assert fold_cycles("pipelined", "ws", 5, 4, 4, 3) == (8 + 4 + 5 - 2) - 1 + 2 * 5
    assert fold_cycles("pipelined", "ws", 2, 4, 4, 3) == (8 + 4 + 2 - 2) - 1 + 2 * 4
    assert fold_cycles("scalesim", "os", 5, 4, 4, 3) == 3 * (4 + 4 + 5 - 2) - 1
    assert fold_cycles("pipelined", "os", 5, 4, 4, 3) == (4 + 4 + 5 - 2) - 1 + 2 * 5


def test_blocks_per_fold():
    assert blocks_per_fold(32, 32, 128, 128) == 4
    assert blocks_per_fold(32, 8, 128, 128) == 4  # diagonal: min(128 // 32, 128 // 8)
    assert blocks_per_fold(8, 8, 32, 32) == 4
    assert blocks_per_fold(64, 64, 32, 32) == 1  # larger than the array: folded alone
    assert blocks_per_fold(16, 64, 32, 32) == 1
    assert blocks_per_fold(32, 32, 32, 32) == 1
    assert blocks_per_fold(1, 1, 4, 8) == 4


def test_plan_gemm_block_gemm():
    # 32 Clos blocks of 32 -> 32 at batch 256, ws on 128x128: Sr=Sc=32, 4 blocks per fold
    plan = plan_gemm("scalesim", "ws", 256, 32, 32, 128, 128, blocks=32)
    assert plan == FoldPlan(32, 32, 256, 8, 4, 8 * (256 + 128 + 256 - 2) - 1, 0)
    unpacked = plan_gemm("scalesim", "ws", 256, 32, 32, 128, 128, blocks=32, packing=False)
    assert unpacked.folds == 32
    assert unpacked.blocks_per_fold == 1
    # os: Sr = batch 256 > 128 rows, so no packing; each block folds 2 x 1
    plan_os = plan_gemm("scalesim", "os", 256, 32, 32, 128, 128, blocks=32)
    assert (plan_os.blocks_per_fold, plan_os.folds) == (1, 64)
    # a block larger than the array folds on its own
    big = plan_gemm("pipelined", "ws", 8, 100, 70, 32, 32, blocks=3)
    assert (big.blocks_per_fold, big.folds) == (1, 3 * 4 * 3)
    assert big.fill_cycles == fold_latency("ws", 8, 32, 32) - 1 - 32
    assert big.cycles - big.fill_cycles == big.folds * 32


@pytest.mark.parametrize(
    "call",
    [
        lambda: spatial_temporal("rs", 1, 1, 1),
        lambda: spatial_temporal("ws", 0, 1, 1),
        lambda: fold_count(1, 1, 0, 4),
        lambda: fold_cycles("fast", "ws", 1, 4, 4, 1),
        lambda: fold_cycles("scalesim", "ws", 1, 4, 4, -1),
        lambda: plan_gemm("scalesim", "ws", 4, 4, 4, 4, 4, blocks=0),
        lambda: blocks_per_fold(1, 1.5, 4, 4),
    ],
)
def test_invalid_arguments(call):
    with pytest.raises(ValueError):
        call()


dims = st.integers(1, 300)
arrays = st.sampled_from([1, 2, 3, 4, 8, 16, 32, 128])
flows = st.sampled_from(DATAFLOWS)
models = st.sampled_from(FOLD_MODELS)


@settings(max_examples=300, deadline=None)
@given(flows, dims, dims, dims, arrays, arrays)
def test_pipelined_never_slower_and_equal_for_one_fold(dataflow, m, k, n, rows, cols):
    sc_cycles = scalesim_compute_cycles(dataflow, m, k, n, rows, cols)
    pl_cycles = pipelined_compute_cycles(dataflow, m, k, n, rows, cols)
    assert pl_cycles <= sc_cycles
    sr, sc, _t = spatial_temporal(dataflow, m, k, n)
    if fold_count(sr, sc, rows, cols) == 1:
        assert pl_cycles == sc_cycles


@settings(max_examples=300, deadline=None)
@given(models, flows, dims, dims, dims, arrays, arrays, st.sampled_from(["m", "k", "n"]))
def test_monotone_in_gemm_dimensions(fold_model, dataflow, m, k, n, rows, cols, which):
    def cycles(mm, kk, nn):
        return plan_gemm(fold_model, dataflow, mm, kk, nn, rows, cols).cycles

    bigger = {"m": (m + 1, k, n), "k": (m, k + 1, n), "n": (m, k, n + 1)}[which]
    assert cycles(*bigger) >= cycles(m, k, n)


@settings(max_examples=300, deadline=None)
@given(models, flows, st.integers(1, 64), st.integers(1, 8), arrays, arrays, st.integers(1, 2000))
def test_each_extra_fold_adds_one_period(fold_model, dataflow, t, folds, rows, cols, _seed):
    step = fold_cycles(fold_model, dataflow, t, rows, cols, folds + 1) - fold_cycles(
        fold_model, dataflow, t, rows, cols, folds
    )
    assert step == fold_period(fold_model, dataflow, t, rows, cols)
    if fold_model == "pipelined":
        assert step == max(t, preload_cycles(dataflow, rows, cols))
    else:
        assert step == fold_latency(dataflow, t, rows, cols)
    one = fold_cycles(fold_model, dataflow, t, rows, cols, 1)
    assert one == fold_latency(dataflow, t, rows, cols) - 1


@settings(max_examples=300, deadline=None)
@given(models, flows, st.integers(1, 64), st.integers(1, 64), st.integers(1, 64), arrays, arrays,
       st.integers(1, 40))  # fmt: skip
def test_packing_never_slower(fold_model, dataflow, m, k, n, rows, cols, blocks):
    packed = plan_gemm(fold_model, dataflow, m, k, n, rows, cols, blocks=blocks)
    loose = plan_gemm(fold_model, dataflow, m, k, n, rows, cols, blocks=blocks, packing=False)
    assert packed.cycles <= loose.cycles
    assert packed.folds <= loose.folds
    sr, sc, t = spatial_temporal(dataflow, m, k, n)
    assert loose.folds == blocks * fold_count(sr, sc, rows, cols)
    assert (packed.sr, packed.sc, packed.t) == (sr, sc, t)
    bpf = packed.blocks_per_fold
    if sr <= rows and sc <= cols:  # fits: bpf blocks on the diagonal, and no room for one more
        assert bpf * sr <= rows and bpf * sc <= cols
        assert (bpf + 1) * sr > rows or (bpf + 1) * sc > cols
        assert packed.folds == -(-blocks // bpf)
    else:
        assert bpf == 1
    # a plan chained after another (pipelined) costs its folds' periods
    period = fold_period(fold_model, dataflow, t, rows, cols)
    if fold_model == "pipelined":
        assert packed.cycles - packed.fill_cycles == packed.folds * period
        assert packed.fill_cycles >= -1
    else:
        assert packed.fill_cycles == 0
        assert packed.cycles == packed.folds * period - 1

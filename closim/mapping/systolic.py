"""Systolic-array fold timing (docs/architecture.md §5): SCALE-Sim's analytical model, a
pipelined variant and block packing. Pure integer arithmetic; every count is in cycles of the
array clock.

A GEMM ``C[M, N] = A[M, K] @ B[K, N]`` maps onto a ``rows x cols`` array as a spatial grid of
``Sr x Sc`` and a temporal length ``T`` (SCALE-Sim's names):

=========  ======  ======  ======  ====================================================
dataflow   Sr      Sc      T       stationary in the PEs
=========  ======  ======  ======  ====================================================
``os``     M       N       K       outputs (accumulate in place)
``ws``     K       N       M       weights ``B`` (preloaded each fold)
``is``     K       M       N       inputs ``A`` (preloaded each fold)
=========  ======  ======  ======  ====================================================

The grid is cut into ``folds = ceil(Sr/rows) * ceil(Sc/cols)`` array-sized pieces, run one after
the other. A partial fold (an edge piece, or a GEMM smaller than the array) costs as much as a full
one: data still crosses every row and column of the array.

**scalesim** (``fold_model="scalesim"``) reproduces SCALE-Sim v3's compute cycles exactly, verified
against the real tool (``pip install scalesim==3.0.0``, 477 GEMMs on 8 array shapes, all three
dataflows; see tests/test_systolic.py). One fold lasts

* ws, is: ``2*rows + cols + T - 2`` (``rows`` cycles to preload the stationary operand, then
  ``rows + cols + T - 2`` to stream ``T`` vectors through the skewed array),
* os: ``rows + cols + T - 2`` (no preload; SCALE-Sim ends a fold with its last MAC),

folds do not overlap, and SCALE-Sim reports ``folds * fold_latency - 1`` (the index of the last
cycle, counted from 0).

**pipelined** (``fold_model="pipelined"``) is hardware that double-buffers the stationary operand,
as TPU's weight FIFO: while a fold streams, the next fold's operand is loaded behind it (weights or
inputs shifted in over ``rows`` cycles for ws/is; for os the finished accumulators are read out of
each column, one per cycle, over ``rows`` cycles). Consecutive folds therefore start every
``max(T, preload)`` cycles with ``preload = rows``, and the fill and drain of the pipeline are paid
once per run of back-to-back folds::

    pipelined(f folds) = fold_latency - 1 + (f - 1) * max(T, rows)

so one fold costs exactly what SCALE-Sim charges, each further fold ``max(T, rows)``, and a GEMM is
never slower than under ``scalesim``. A register-level simulation in the tests checks that this
schedule is feasible with two buffers per PE when the next fold's operand is loaded along the same
diagonal wavefront as the data (as TPU's weight swap does).

**Block packing**: a block of a block-diagonal stage occupies ``Sr`` rows and ``Sc`` columns of the
array exclusively, because a row carries one input stream and a column accumulates one output
stream. Several blocks therefore share a fold only along the array's diagonal (block ``i`` on rows
``[i*Sr, (i+1)*Sr)`` and columns ``[i*Sc, (i+1)*Sc)``, zeros elsewhere), which computes each block's
GEMM independently, and only blocks with the same temporal length ``T`` can share it, as the fold
streams for ``T`` cycles as one unit. Hence at most ``min(rows // Sr, cols // Sc)`` blocks per fold.
"""

from __future__ import annotations

from dataclasses import dataclass

from closim.mapping.dataflow import dataflow_spec
from closim.model.hw import DATAFLOWS, FOLD_MODELS, Dataflow, FoldModel

__all__ = [
    "DATAFLOWS",
    "FOLD_MODELS",
    "FoldPlan",
    "blocks_per_fold",
    "fold_count",
    "fold_cycles",
    "fold_latency",
    "fold_period",
    "pipelined_compute_cycles",
    "plan_gemm",
    "preload_cycles",
    "scalesim_compute_cycles",
    "spatial_temporal",
]


def _check_dataflow(dataflow: Dataflow) -> None:
    if dataflow not in DATAFLOWS:
        raise ValueError(f"unknown dataflow {dataflow!r}: expected one of {', '.join(DATAFLOWS)}")


def _check_fold_model(fold_model: FoldModel) -> None:
    if fold_model not in FOLD_MODELS:
        raise ValueError(
            f"unknown fold model {fold_model!r}: expected one of {', '.join(FOLD_MODELS)}"
        )


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer (got {v!r})")


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def spatial_temporal(dataflow: Dataflow, m: int, k: int, n: int) -> tuple[int, int, int]:
    """The spatial rows ``Sr``, spatial columns ``Sc`` and temporal length ``T`` (in cycles) of the
    GEMM ``(M, K, N)`` under ``dataflow``: os ``(M, N, K)``, ws ``(K, N, M)``, is ``(K, M, N)``."""
    _check_dataflow(dataflow)
    _check_positive(m=m, k=k, n=n)
    return dataflow_spec(dataflow).spatial_temporal(m, k, n)


def fold_count(sr: int, sc: int, rows: int, cols: int) -> int:
    """Number of folds of an ``sr x sc`` spatial grid on a ``rows x cols`` array:
    ``ceil(sr/rows) * ceil(sc/cols)``."""
    _check_positive(sr=sr, sc=sc, rows=rows, cols=cols)
    return _cdiv(sr, rows) * _cdiv(sc, cols)


def fold_latency(dataflow: Dataflow, t: int, rows: int, cols: int) -> int:
    """Cycles one fold of temporal length ``t`` occupies the array in SCALE-Sim's model:
    ``2*rows + cols + t - 2`` for ws and is (preload included), ``rows + cols + t - 2`` for os."""
    _check_dataflow(dataflow)
    _check_positive(t=t, rows=rows, cols=cols)
    base = rows + cols + t - 2
    return base + rows if dataflow_spec(dataflow).preload else base


def preload_cycles(dataflow: Dataflow, rows: int, cols: int) -> int:
    """Cycles to swap the stationary operand of one fold in the pipelined model: ``rows`` for every
    dataflow (ws/is: the next operand shifted down the ``rows`` rows; os: the ``rows`` finished
    accumulators of a column read out one per cycle). ``cols`` does not enter: all columns load in
    parallel."""
    _check_dataflow(dataflow)
    _check_positive(rows=rows, cols=cols)
    return rows


def fold_period(fold_model: FoldModel, dataflow: Dataflow, t: int, rows: int, cols: int) -> int:
    """Cycles between the starts of two consecutive folds of temporal length ``t``: the full
    ``fold_latency`` under scalesim (no overlap), ``max(t, preload_cycles)`` under pipelined."""
    _check_fold_model(fold_model)
    if fold_model == "scalesim":
        return fold_latency(dataflow, t, rows, cols)
    _check_positive(t=t)
    return max(t, preload_cycles(dataflow, rows, cols))


def fold_cycles(
    fold_model: FoldModel, dataflow: Dataflow, t: int, rows: int, cols: int, folds: int
) -> int:
    """Cycles of ``folds`` back-to-back folds of temporal length ``t`` on one ``rows x cols`` array,
    as one run (0 for no folds).

    scalesim: ``folds * fold_latency - 1``; pipelined: ``fold_latency - 1 + (folds - 1) *
    max(t, rows)``. The ``- 1`` is SCALE-Sim's (it reports the index of the last cycle); it is paid
    once per run, so split one GEMM's folds over several calls only where they really are separate
    runs (and see ``FoldPlan.fill_cycles`` for chaining runs under pipelined).
    """
    _check_fold_model(fold_model)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 0:
        raise ValueError(f"folds must be a non-negative integer (got {folds!r})")
    latency = fold_latency(dataflow, t, rows, cols)
    if folds == 0:
        return 0
    if fold_model == "scalesim":
        return folds * latency - 1
    return latency - 1 + (folds - 1) * fold_period(fold_model, dataflow, t, rows, cols)


def scalesim_compute_cycles(
    dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int
) -> int:
    """SCALE-Sim v3's compute cycles for the GEMM ``(M, K, N)`` on one ``rows x cols`` array (the
    "Total Cycles" column of its COMPUTE_REPORT.csv with no stalls): ``folds * (2*rows + cols + T
    - 2) - 1`` for ws and is, ``folds * (rows + cols + T - 2) - 1`` for os."""
    sr, sc, t = spatial_temporal(dataflow, m, k, n)
    return fold_cycles("scalesim", dataflow, t, rows, cols, fold_count(sr, sc, rows, cols))


def pipelined_compute_cycles(
    dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int
) -> int:
    """Compute cycles of the GEMM ``(M, K, N)`` on one array that double-buffers the stationary
    operand: ``fold_latency - 1 + (folds - 1) * max(T, rows)``. Equal to
    ``scalesim_compute_cycles`` for one fold, never larger."""
    sr, sc, t = spatial_temporal(dataflow, m, k, n)
    return fold_cycles("pipelined", dataflow, t, rows, cols, fold_count(sr, sc, rows, cols))


def blocks_per_fold(sr: int, sc: int, rows: int, cols: int) -> int:
    """How many equal blocks of ``sr x sc`` spatial PEs share one fold on the array's diagonal:
    ``max(1, min(rows // sr, cols // sc))`` when a block fits the array, else 1 (a block larger than
    the array is folded on its own). Only blocks of equal temporal length may share a fold."""
    _check_positive(sr=sr, sc=sc, rows=rows, cols=cols)
    if sr > rows or sc > cols:
        return 1
    return max(1, min(rows // sr, cols // sc))


@dataclass(frozen=True)
class FoldPlan:
    """How a batched block GEMM runs on one array.

    ``sr``, ``sc``, ``t``: spatial rows, spatial columns and temporal length (cycles) of one block;
    ``folds``: folds run; ``blocks_per_fold``: blocks sharing a fold on the diagonal; ``cycles``:
    compute cycles of the whole plan run alone (``fold_cycles``); ``fill_cycles``: the cycles this
    plan saves when it runs right after another plan on the same array, its pipeline fill
    overlapping the previous plan's last fold: ``fold_latency - 1 - max(t, rows)`` under pipelined
    (the plan then costs ``folds * max(t, rows)``; -1 only for os on a one-column array with
    ``t`` or ``rows`` equal to 1), 0 under scalesim (folds never overlap).
    """

    sr: int
    sc: int
    t: int
    folds: int
    blocks_per_fold: int
    cycles: int
    fill_cycles: int = 0


def plan_gemm(
    fold_model: FoldModel,
    dataflow: Dataflow,
    m: int,
    k: int,
    n: int,
    rows: int,
    cols: int,
    blocks: int = 1,
    packing: bool = True,
) -> FoldPlan:
    """Plan ``blocks`` independent equal GEMMs ``(M, K, N)`` (a batched block GEMM) on one
    ``rows x cols`` array: ``folds = ceil(blocks / blocks_per_fold) * fold_count`` of one block
    (``blocks_per_fold`` is 1 without ``packing``; ``fold_count`` is 1 when a block fits), and their
    cycles under ``fold_model``. With ``blocks=1`` and scalesim, ``cycles`` equals
    ``scalesim_compute_cycles``."""
    _check_fold_model(fold_model)
    _check_positive(blocks=blocks, rows=rows, cols=cols)
    sr, sc, t = spatial_temporal(dataflow, m, k, n)
    bpf = blocks_per_fold(sr, sc, rows, cols) if packing else 1
    folds = _cdiv(blocks, bpf) * fold_count(sr, sc, rows, cols)
    cycles = fold_cycles(fold_model, dataflow, t, rows, cols, folds)
    fill = 0
    if fold_model == "pipelined":
        fill = (
            fold_latency(dataflow, t, rows, cols)
            - 1
            - fold_period(fold_model, dataflow, t, rows, cols)
        )
    return FoldPlan(sr, sc, t, folds, bpf, cycles, fill)

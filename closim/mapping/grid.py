"""The candidate grid of one GEMM orientation for the closed-form search (docs/architecture.md
§5): every tile size on the dataflow's granules, the fold timing of each in NumPy and the
per-shape base the search scores from (``_base``, cached per GEMM shape and array)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from closim.mapping.dataflow import dataflow_spec
from closim.mapping.tiling import ArraySpec, GemmShape, _cdiv, candidates
from closim.mapping.walk import K_INNER_ORDERS, ORDERS, folds_v, loop_nest


def _granules(arr: ArraySpec) -> tuple[int, int, int]:
    """Tile-size granules (m, k, n) that keep tile edges on fold edges for the dataflow."""
    return dataflow_spec(arr.dataflow).granules(arr.rows, arr.cols)


def _vcdiv(a, b):
    return -(-a // b)


def _fold_cycles_v(arr: ArraySpec, bt, mt, kt, nt):
    """Vectorized ``plan_gemm`` (systolic.py) over arrays of tile sizes: (cycles of one tile
    alone, fill cycles a following tile saves)."""
    spec = dataflow_spec(arr.dataflow)
    sr, sc, t = spec.spatial_temporal(mt, kt, nt)
    rows, cols = arr.rows, arr.cols
    if arr.packing:
        fits = (sr <= rows) & (sc <= cols)
        bpf = np.where(fits, np.maximum(1, np.minimum(rows // sr, cols // sc)), 1)
    else:
        bpf = np.ones_like(sr)
    folds = _vcdiv(bt, bpf) * _vcdiv(sr, rows) * _vcdiv(sc, cols)
    latency = rows + cols + t - 2 + (rows if spec.preload else 0)
    if arr.fold_model == "scalesim":
        return folds * latency - 1, np.zeros_like(folds)
    period = np.maximum(t, rows)
    return latency - 1 + (folds - 1) * period, latency - 1 - period


#: Per loop order (``ORDERS``): the nest position (0 outer .. 2 inner) of m, n and k.
_POSITIONS = np.array([[loop_nest(o).index(d) for d in "mnk"] for o in ORDERS], dtype=np.int64)


def _grid(shape: GemmShape, arr: ArraySpec) -> tuple[np.ndarray, ...]:
    """The tile sizes tried per dimension, as 1-D arrays broadcast along their own axis of a
    (blocks, m, k, n) grid: blocks on the array count and halvings, m/k/n from ``candidates``
    on the dataflow's granules."""
    gm, gk, gn = _granules(arr)
    b_sizes = sorted(
        {shape.blocks}
        | {_cdiv(shape.blocks, d) for d in (arr.count, 2 * arr.count, 4 * arr.count)}
        | {_cdiv(shape.blocks, 2**i) for i in range(1, 8)}
    )
    axes = (
        b_sizes,
        candidates(shape.m, gm, arr.legacy, arr.fine),
        candidates(shape.k, gk, arr.legacy, arr.fine),
        candidates(shape.n, gn, arr.legacy, arr.fine),
    )
    return tuple(
        np.array(v, dtype=np.int64).reshape([-1 if i == j else 1 for j in range(4)])
        for i, v in enumerate(axes)
    )


@dataclass(frozen=True)
class _Base:
    """What every tiling (tile sizes and loop order, unpinned) of one oriented GEMM on one array
    is, whatever its operands, as flat arrays: tile sizes, order; partial-sum elements C needs
    in SRAM (two consecutive steps' p-tiles, at most the whole output); each operand's first
    step's elements (distinct sub-tiles); how often A and B are read (re-fetch factors); steps
    that load each operand (unpinned and pinned) and spilled partial sums; the partial sums
    spilled, the busiest array's compute, arrays per step, SRAM feed elements of X and Y over
    all tiles and the tile count."""

    bt: np.ndarray
    mt: np.ndarray
    kt: np.ndarray
    nt: np.ndarray
    order: np.ndarray
    c_elems: np.ndarray
    a_first: np.ndarray
    b_first: np.ndarray
    refetch_a: np.ndarray
    refetch_b: np.ndarray
    steps_a: np.ndarray
    steps_b: np.ndarray
    steps_a_pinned: np.ndarray
    steps_b_pinned: np.ndarray
    steps_spill: np.ndarray
    spilled: np.ndarray  # partial sums spilled, as multiples of the output (0: none)
    busiest: np.ndarray
    per_step: np.ndarray
    feed_x: np.ndarray
    feed_y: np.ndarray
    tiles: np.ndarray


def _rows_spanned(window, row):
    """Most rows of length ``row`` that ``window`` consecutive items starting at a multiple of
    ``window`` can touch (a wave of p-tiles over the inner loop's rows)."""
    return (row - np.gcd(window, row) + window - 1) // row + 1


@lru_cache(maxsize=512)
def _base(shape: GemmShape, arr: ArraySpec) -> _Base:
    """Every tiling at once, on a broadcast (order, blocks, m, k, n) grid: the figures each
    needs whatever its operands, flat over the tilings worth trying (a reduction-outer order
    only where K has several tiles and a group more waves than one; on one array, k outermost
    scores as k in the middle, so only the latter)."""
    bt, mt, kt, nt = (v[None] for v in _grid(shape, arr))
    tb, tm, tk, tn = (_vcdiv(e, t) for e, t in zip((shape.blocks, shape.m, shape.k, shape.n),
                                                   (bt, mt, kt, nt), strict=True))  # fmt: skip
    orders = K_INNER_ORDERS if arr.legacy else ORDERS
    order = np.arange(len(orders)).reshape(-1, 1, 1, 1, 1)
    pos_m, pos_n, pos_k = (_POSITIONS[: len(orders), j].reshape(-1, 1, 1, 1, 1)
                           for j in range(3))  # fmt: skip
    full = np.broadcast_shapes(order.shape, bt.shape, mt.shape, kt.shape, nt.shape)
    count = arr.count
    k_inner, k_mid = pos_k == 2, pos_k == 1
    n_inner = pos_n > pos_m  # p-tiles (b, outer, inner) with n inner
    # a trivial inner loop leaves the outer one innermost (not within a (b, outer) group)
    n_inner = n_inner ^ (~k_mid & (np.where(n_inner, tn, tm) == 1))
    t_in, t_out = np.where(n_inner, tn, tm), np.where(n_inner, tm, tn)
    p_all = tb * tm * tn
    group = np.where(k_inner, count, np.where(k_mid, t_in, t_in * t_out))
    groups = np.where(k_inner, _vcdiv(p_all, count), np.where(k_mid, tb * t_out, tb))
    waves = np.where(k_inner, 1, _vcdiv(group, count))
    window = np.minimum(count, np.where(k_inner, p_all, group))  # p-tiles per step
    keep = np.broadcast_to(k_inner | ((tk > 1) & (waves > 1) & (k_mid | (count > 1))), full)
    spills = ~k_inner & (tk > 1)  # (where kept: a group has several waves)
    # distinct sub-tiles per step: of the operand the inner loop indexes (with b), at most one
    # per p-tile and t_in per block touched; of the other, the rows the wave touches
    blocks_touched = np.where(k_inner, np.minimum(tb, (window - 1) // (t_in * t_out) + 2), 1)
    d_inner = np.minimum(window, t_in * blocks_touched)
    d_outer = np.where(k_mid, 1, np.minimum(_rows_spanned(window, t_in),
                                            np.where(k_inner, tb * t_out, t_out)))  # fmt: skip
    distinct_a = np.where(n_inner, d_outer, d_inner)  # A is indexed by m
    distinct_b = np.where(n_inner, d_inner, d_outer)
    # re-fetches: an operand is read again for each iteration of the loop it does not index
    # when that loop is outside its own innermost (non-trivial) loop
    inner_a = np.maximum(np.where(tm > 1, pos_m, -1), np.where(tk > 1, pos_k, -1))
    inner_b = np.maximum(np.where(tn > 1, pos_n, -1), np.where(tk > 1, pos_k, -1))
    # ... and at most once per step that needs it (arrays computing together share a load)
    refetch_a = np.minimum(np.where((tn > 1) & (pos_n < inner_a), tn, 1),
                           _vcdiv(groups * waves * distinct_a, tb * tm))  # fmt: skip
    refetch_b = np.minimum(np.where((tm > 1) & (pos_m < inner_b), tm, 1),
                           _vcdiv(groups * waves * distinct_b, tb * tn))  # fmt: skip
    cycles, fill = _fold_cycles_v(arr, bt, mt, kt, nt)
    seq = groups * tk * waves  # tiles the busiest array (the first) runs in a row
    runs = _fold_runs(arr, folds_v(arr, bt, mt, kt, nt) == 1, (tb, tk), seq,
                      (n_inner, t_in, t_out, k_inner, k_mid, waves, groups, window))  # fmt: skip
    spec = dataflow_spec(arr.dataflow)
    t_len = spec.spatial_temporal(mt, kt, nt)[2]
    if arr.fold_model == "scalesim":
        busiest = runs * (cycles + 1) + (seq - runs) * t_len - 1
    else:
        busiest = cycles + (runs - 1) * (cycles - fill) + (seq - runs) * t_len
    fx, fy, _ = spec.feeds(bt, mt, kt, nt, arr.rows, arr.cols)
    a_first, b_first = distinct_a * bt * mt * kt, distinct_b * bt * kt * nt
    sub_a, sub_b = tb * tm * tk, tb * tk * tn
    elems = (shape.blocks * shape.m * shape.k, shape.blocks * shape.k * shape.n,
             shape.blocks * shape.m * shape.n)  # fmt: skip
    fields = {
        "bt": bt, "mt": mt, "kt": kt, "nt": nt, "order": order,
        "spilled": np.where(spills, 2 * (tk - 1), 0), "per_step": window, "busiest": busiest,
        "refetch_a": refetch_a, "refetch_b": refetch_b, "a_first": a_first, "b_first": b_first,
        "c_elems": np.minimum(2 * window * bt * mt * nt, elems[2]),
        "steps_a": _vcdiv(sub_a * refetch_a, distinct_a),
        "steps_b": _vcdiv(sub_b * refetch_b, distinct_b),
        "steps_a_pinned": _vcdiv(sub_a, distinct_a), "steps_b_pinned": _vcdiv(sub_b, distinct_b),
        "steps_spill": np.where(spills, np.minimum(_vcdiv(p_all * (tk - 1), window), seq), 0),
        "feed_x": fx * (tb * tm * tk * tn), "feed_y": fy * (tb * tm * tk * tn),
        "tiles": tb * tm * tk * tn,
    }  # fmt: skip
    return _Base(**{name: np.broadcast_to(v, full)[keep] for name, v in fields.items()})


def _fold_runs(arr: ArraySpec, single, counts, seq, structure):
    """Per candidate, how many of the first array's ``seq`` tiles start a new fold; the others
    chain onto their predecessor's fold (``closim.mapping.walk``): single-fold tiles one after
    another on the same stationary data, which only the loop over the dimension the stationary
    operand does not index (ws m, is n, os k) changes."""
    if arr.legacy:
        return seq
    tb, tk = counts
    n_inner, t_in, t_out, k_inner, k_mid, waves, groups, window = structure
    chain = {"y": "m", "x": "n", "c": "k"}[dataflow_spec(arr.dataflow).stationary]
    if chain == "k":  # output stationary: a p-tile's k-tiles, when its array keeps it
        runs = np.where(k_inner | (waves == 1), groups, seq)
    else:
        along_inner = n_inner if chain == "n" else ~n_inner
        rows = np.where(window <= t_in, t_out * np.where(k_inner, tb, tb * tk), seq)
        runs = np.where(k_mid, groups * tk, np.where(k_inner & (tk > 1), seq, rows))
        runs = np.where(along_inner, runs, seq)
    return np.where(single, np.minimum(runs, seq), seq)

"""The tile walk of a tiling: which tile each array computes at each lockstep step, where partial
sums spill to DRAM, which tiles chain onto the previous fold, and the compute cycles of every
tile (docs/architecture.md §5).

Loop nests (b outermost always; then the tiling's ``order``, outer -> inner):

* ``mn`` / ``nm``: p-tiles (b, m, n) in that order, dealt round-robin in waves of one per array;
  each wave runs all its k-tiles back to back (reduction innermost: partial sums stay on chip).
* ``mkn`` / ``nkm``: for each (b, outer) the inner dimension's p-tiles form a group; for each
  k-tile, the group's waves run one after another.
* ``kmn`` / ``knm``: all p-tiles of a block form a group; for each k-tile, its waves.

When a group has more waves than one and K has several tiles, a p-tile's partial sums leave for
DRAM after each k-tile but the last and come back before each but the first (a spill). Otherwise
the same arrays keep the same p-tiles across k-tiles, on chip.

**Fold chaining.** A tile of a single fold whose predecessor on the same array has the same
stationary data (ws: the same B sub-tile, is: the same A sub-tile, os: the same output tile, its
next k-range) continues that fold: the array keeps streaming, so the tile costs only its temporal
length ``T`` (no new preload, fill or drain). A run of chained tiles thus costs exactly what one
fold over their summed ``T`` costs, which is how SCALE-Sim streams a whole operand through a fold
however small its buffers; a tile that starts a new fold costs its fold plan as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from closim.mapping.dataflow import dataflow_spec
from closim.mapping.systolic import FoldPlan
from closim.mapping.tiling import ArraySpec, GemmShape, TileStep, Tiling, _cdiv, tile_fold_plan

#: Loop orders with the reduction innermost, and all loop orders the search tries.
K_INNER_ORDERS = ("mn", "nm")
ORDERS = ("mn", "nm", "mkn", "nkm", "kmn", "knm")


def loop_nest(order: str) -> tuple[str, str, str]:
    """The loops of ``order`` outer -> inner over m, n, k (b is always outermost)."""
    if order in K_INNER_ORDERS:
        return order[0], order[1], "k"
    if order not in ORDERS:
        raise ValueError(f"unknown loop order {order!r}: expected one of {', '.join(ORDERS)}")
    return order[0], order[1], order[2]


def folds_v(arr: ArraySpec, bt, mt, kt, nt):
    """Folds of tiles (scalars or NumPy arrays of sizes) alone on one array, as ``plan_gemm``."""
    sr, sc, _ = dataflow_spec(arr.dataflow).spatial_temporal(mt, kt, nt)
    if arr.packing:
        fits = (sr <= arr.rows) & (sc <= arr.cols)
        bpf = np.where(fits, np.maximum(1, np.minimum(arr.rows // sr, arr.cols // sc)), 1)
    else:
        bpf = 1
    return -(-bt // bpf) * -(-sr // arr.rows) * -(-sc // arr.cols)


def tile_sequence_cycles(
    arr: ArraySpec, fps: list[FoldPlan], chained: list[bool] | None = None
) -> list[int]:
    """Cycles of consecutive tiles on one array within one GEMM.

    A tile alone costs ``fp.cycles``. SCALE-Sim's count for a run of folds ends one cycle early
    (folds x fold latency - 1): when several tiles of one GEMM follow each other on an array,
    only the last keeps that -1. Under the pipelined model a tile's fill overlaps the previous
    tile's last fold, so every tile after the first saves ``fp.fill_cycles``. A ``chained`` tile
    continues the previous tile's fold and costs its temporal length ``fp.t`` under both models.
    """
    chained = chained or [False] * len(fps)
    out = []
    for i, (fp, chain) in enumerate(zip(fps, chained, strict=True)):
        if chain:
            c = fp.t
        elif arr.fold_model == "scalesim":
            c = fp.cycles + 1
        else:
            c = fp.cycles - (fp.fill_cycles if i > 0 else 0)
        out.append(c)
    if out and arr.fold_model == "scalesim":
        out[-1] -= 1
    return out


def _sizes(extent: int, tile: int) -> np.ndarray:
    """Extent of every tile along one dimension (the last may be partial)."""
    count = _cdiv(extent, tile)
    sizes = np.full(count, tile, dtype=np.int64)
    sizes[-1] = extent - (count - 1) * tile
    return sizes


@dataclass
class WalkPlan:
    """A walk as arrays over (group, k-tile, wave, lane): step ``(g * tk + k) * waves + w``,
    lane ``l`` computes the p-tile at ``(g, w, l)`` (where one ``exists``: the last wave of a
    group, or the last group, may be short). Per p-tile position: its tile indices along b, m,
    n and its shape class (edge or full along b, m, n); per tile (4-D): whether it chains onto
    the previous tile's fold on its array, whether the next one chains onto it, and its compute
    cycles in its array's sequence (0 where no tile exists); per class: folds per k class."""

    sizes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    groups: int
    waves: int
    lanes: int
    exists: np.ndarray  # (G, W, L)
    b: np.ndarray  # (G, W, L) tile index along each dimension
    m: np.ndarray
    n: np.ndarray
    pclass: np.ndarray  # (G, W, L): edge along b (4), m (2), n (1)
    kclass: np.ndarray  # (tk,): 1 for a short last k-tile
    folds: np.ndarray  # (8, 2): folds per (pclass, kclass)
    chained: np.ndarray  # (G, tk, W, L)
    chains_on: np.ndarray  # (G, tk, W, L)
    cycles: np.ndarray  # (G, tk, W, L)
    spills: bool
    # the existing p-tile positions, flat in trace order: wave position g * W + w, tile indices
    # along b, m, n, and output elements
    at_omega: np.ndarray = None  # type: ignore[assignment]
    at_b: np.ndarray = None  # type: ignore[assignment]
    at_m: np.ndarray = None  # type: ignore[assignment]
    at_n: np.ndarray = None  # type: ignore[assignment]
    at_out: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        ex = self.exists
        omega = np.arange(self.groups)[:, None, None] * self.waves + np.arange(self.waves)[
            None, :, None]  # fmt: skip
        self.at_omega = np.broadcast_to(omega, ex.shape)[ex]
        self.at_b, self.at_m, self.at_n = self.b[ex], self.m[ex], self.n[ex]
        sb, sm, _, sn = self.sizes
        self.at_out = sb[self.at_b] * sm[self.at_m] * sn[self.at_n]

    @property
    def tk(self) -> int:
        return len(self.sizes[2])

    @property
    def steps(self) -> int:
        return self.groups * self.tk * self.waves

    def step_of(self, k) -> np.ndarray:
        """Steps of the p-tile positions (G, W, L) at k-tile ``k`` (an int or a (tk,) array,
        then (G, tk, W, L))."""
        g = np.arange(self.groups)[:, None, None]
        w = np.arange(self.waves)[None, :, None]
        if np.ndim(k) == 0:
            return np.broadcast_to((g * self.tk + k) * self.waves + w, self.exists.shape)
        k4 = np.asarray(k)[None, :, None, None]
        return (g[:, None] * self.tk + k4) * self.waves + w[:, None]

    def tiles(self) -> dict[str, np.ndarray]:
        """Every tile in trace order (steps in order, arrays in order within a step), flat:
        tile indices ``b``, ``m``, ``k``, ``n``, ``step``, ``lane``, ``chained``,
        ``chains_on``, ``cycles``."""
        shape4 = self.cycles.shape
        ex = np.broadcast_to(self.exists[:, None], shape4)

        def flat(v):
            return np.broadcast_to(v, shape4)[ex]

        g, k, w, lane = np.indices(shape4, sparse=True)
        return {
            "b": flat(self.b[:, None]), "m": flat(self.m[:, None]), "n": flat(self.n[:, None]),
            "k": flat(k), "step": flat((g * self.tk + k) * self.waves + w), "lane": flat(lane),
            "chained": flat(self.chained), "chains_on": flat(self.chains_on),
            "cycles": flat(self.cycles),
        }  # fmt: skip


def walk_plan(shape: GemmShape, arr: ArraySpec, tiling: Tiling) -> WalkPlan:
    """The walk of ``tiling`` over ``shape`` on ``arr`` (see the module docstring), remembered
    for the last few tilings (scoring, totals and emission walk the same one)."""
    key = (shape, arr, tiling.order, tiling.bt, tiling.mt, tiling.kt, tiling.nt)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _walk_plan(shape, arr, tiling)
        if plan.cycles.size <= _PLAN_CACHE_TILES:
            _PLANS[key] = plan
            while len(_PLANS) > _PLAN_CACHE_ENTRIES:
                del _PLANS[next(iter(_PLANS))]
    return plan


#: Walk plans remembered (oldest forgotten first), and the largest one remembered, in tiles.
_PLANS: dict[tuple, WalkPlan] = {}
_PLAN_CACHE_ENTRIES = 32
_PLAN_CACHE_TILES = 50_000


def clear_plans() -> None:
    """Forgets the remembered walk plans."""
    _PLANS.clear()


def _walk_plan(shape: GemmShape, arr: ArraySpec, tiling: Tiling) -> WalkPlan:
    sizes = tuple(_sizes(e, t) for e, t in zip((shape.blocks, shape.m, shape.k, shape.n),
                                              (tiling.bt, tiling.mt, tiling.kt, tiling.nt),
                                              strict=True))  # fmt: skip
    sb, sm, sk, sn = sizes
    tb, tm, tk, tn = (len(s) for s in sizes)
    nest = loop_nest(tiling.order)
    outer = nest[0] if nest[0] != "k" else nest[1]
    t_out, t_in = (tm, tn) if outer == "m" else (tn, tm)
    count = arr.count
    n_p = tb * t_out * t_in
    # p-tiles in p-order (b, outer, inner); a group runs its k-tiles wave by wave
    group_size = {2: count, 1: t_in, 0: t_out * t_in}[nest.index("k")]
    waves = _cdiv(group_size, count)
    lanes = min(count, group_size, n_p)
    n_g = _cdiv(n_p, group_size)
    pos = np.arange(waves)[:, None] * count + np.arange(lanes)[None, :]  # (W, L)
    p = np.arange(n_g)[:, None, None] * group_size + pos[None]  # (G, W, L)
    exists = (pos[None] < group_size) & (p < n_p)
    p = np.where(exists, p, 0)
    bi, rest = np.divmod(p, t_out * t_in)
    o_i, i_i = np.divmod(rest, t_in)
    mi, ni = (o_i, i_i) if outer == "m" else (i_i, o_i)
    # fold plans of the few distinct tile shapes: edge or full along b, m, n (p-tile), k
    pclass = (bi == tb - 1) * 4 + (mi == tm - 1) * 2 + (ni == tn - 1)
    kclass = np.zeros(tk, dtype=np.int64)
    kclass[-1] = 1 if tk > 1 else 0
    k_sizes = (int(sk[0]), int(sk[-1]))
    table = np.zeros((8, 2, 4), dtype=np.int64)
    for c in np.flatnonzero(np.bincount(pclass[exists], minlength=8)).tolist():
        for j in range(2 if tk > 1 else 1):
            fp = tile_fold_plan(arr, int(sb[-1] if c & 4 else sb[0]),
                                int(sm[-1] if c & 2 else sm[0]), k_sizes[j],
                                int(sn[-1] if c & 1 else sn[0]))  # fmt: skip
            table[c, j] = (fp.cycles, fp.fill_cycles, fp.folds, fp.t)
    per = table[pclass[:, None], kclass[None, :, None, None]]  # (G, tk, W, L, 4)
    cyc, fill, folds, t_len = (per[..., j] for j in range(4))
    single = folds == 1
    ex4 = exists[:, None]
    shape4 = (n_g, tk, waves, lanes)
    stationary = dataflow_spec(arr.dataflow).stationary
    k4 = np.arange(tk)[None, :, None, None]
    if arr.legacy:
        chained = np.zeros(shape4, dtype=bool)
        chains_on = chained
    elif stationary == "c":  # the same p-tile's next k-tile on the same array (one wave)
        chained = ex4 & single & (k4 > 0) & (waves == 1)
        chains_on = ex4 & single & (k4 < tk - 1) & (waves == 1)
    else:  # the same stationary sub-tile in the previous wave at the same k-tile
        key = (bi * tn + ni) if stationary == "y" else (bi * tm + mi)
        flat_key = key.reshape(n_g * waves, lanes)
        flat_ex = exists.reshape(n_g * waves, lanes)
        w_of = np.tile(np.arange(waves), n_g)[:, None]
        link = np.zeros(flat_key.shape, dtype=bool)
        link[1:] = (flat_ex[1:] & flat_ex[:-1] & (flat_key[1:] == flat_key[:-1])
                    & ((w_of[1:] > 0) | (tk == 1)))  # fmt: skip
        link_on = np.zeros(flat_key.shape, dtype=bool)
        link_on[:-1] = link[1:]
        link, link_on = (v.reshape(n_g, 1, waves, lanes) for v in (link, link_on))
        chained = link & single
        chains_on = link_on & single
    chained = np.broadcast_to(chained, shape4)
    chains_on = np.broadcast_to(chains_on, shape4)
    # each array's first tile, and its last: in the last wave position where it has a p-tile
    first = np.zeros(shape4, dtype=bool)
    first[0, 0, 0, :] = True
    flat_ex = exists.reshape(n_g * waves, lanes)
    last_pos = n_g * waves - 1 - np.argmax(flat_ex[::-1], axis=0)  # per lane
    last = np.zeros(shape4, dtype=bool)
    last[last_pos // waves, tk - 1, last_pos % waves, np.arange(lanes)] = True
    if arr.fold_model == "scalesim":
        cycles = np.where(chained, t_len, cyc + 1) - last
    else:
        cycles = np.where(chained, t_len, cyc - np.where(first, 0, fill))
    cycles = np.where(ex4, cycles, 0)
    spills = nest.index("k") < 2 and waves > 1 and tk > 1
    return WalkPlan(sizes, n_g, waves, lanes, exists, bi, mi, ni, pclass, kclass,
                    table[..., 2], chained, chains_on, cycles, spills)  # fmt: skip


def walk(shape: GemmShape, arr: ArraySpec, tiling: Tiling) -> Iterator[list[TileStep]]:
    """The tiles of a GEMM as lockstep steps: each step is the list of tiles the arrays compute
    together (one k-tile of one p-tile per array)."""
    plan = walk_plan(shape, arr, tiling)
    t = plan.tiles()
    bounds = [np.concatenate(([0], np.cumsum(s))).tolist() for s in plan.sizes]
    tk, spills = plan.tk, plan.spills
    cols = (t["b"], t["m"], t["k"], t["n"], t["step"], t["lane"], t["chained"], t["chains_on"])
    current: list[TileStep] = []
    at = 0
    for bi, mi, ki, ni, step, lane, chained, chains_on in zip(*(c.tolist() for c in cols),
                                                              strict=True):  # fmt: skip
        if step != at and current:
            yield current
            current = []
        at = step
        rng = [(b[i], b[i + 1]) for b, i in zip(bounds, (bi, mi, ki, ni), strict=True)]
        current.append(TileStep(
            lane, rng[0], rng[1], rng[2], rng[3], ki == 0, ki == tk - 1,
            spill_in=spills and ki > 0, spill_out=spills and ki < tk - 1,
            chained=chained, chains_on=chains_on,
        ))  # fmt: skip
    if current:
        yield current

"""The per-operation pipeline formula (docs/architecture.md §7): how long one
operation (trace group) takes when its tiles form a load / compute / store pipeline.

Used by the mapper to score candidate mappings, by the analytic engine as its whole model and by
the DES to report each operation's critical compute.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from closim.cost.dram import burst_bytes, latency_cycles, vector_cycles
from closim.model.hw import Accelerator
from closim.trace import PipelineParts, Trace, TraceRow


def groups(trace: Trace) -> Iterator[tuple[int, int, list[TraceRow]]]:
    """The trace's operations in order: (group, trace id of its first row, its rows). The mapper
    emits each operation's rows contiguously."""
    current: list[TraceRow] = []
    gid = None
    start = 0
    for rid, row in enumerate(trace.rows):
        if row.group != gid and current:
            yield gid, start, current
            current = []
            start = rid
        gid = row.group
        current.append(row)
    if current:
        yield gid, start, current


def group_work(rows: list[TraceRow], hw: Accelerator) -> int:
    """Critical compute cycles of one operation: the busiest of its units (each array, the vector
    unit with its index decode), which run side by side: no schedule of the operation is
    shorter."""
    per_array: dict[int, int] = {}
    vec = 0
    for r in rows:
        if r.op == "compute":
            per_array[r.array] = per_array.get(r.array, 0) + r.compute_cycles
        elif r.op == "vector":
            vec += r.compute_cycles
        elif r.op == "load" and r.vector_ops:
            vec += vector_cycles(r.vector_ops, hw)
    return max(max(per_array.values(), default=0), vec)


def group_cycles(rows: list[TraceRow], hw: Accelerator, first_id: int = 0) -> tuple[int, int]:
    """(cycles, critical compute cycles) of one operation whose first row has trace id
    ``first_id`` (``group_parts``' cycles alone)."""
    parts, work = group_parts(rows, hw, first_id)
    return parts.cycles, work


def group_parts(
    rows: list[TraceRow], hw: Accelerator, first_id: int = 0
) -> tuple[PipelineParts, int]:
    """(pipeline parts, critical compute cycles) of one operation whose first row has trace id
    ``first_id``.

    Per array ``a`` the tiles form a pipeline over the operation's lockstep steps ``i``: loads of
    step ``i+1`` and stores of step ``i-1`` share the DRAM while step ``i`` computes, so
    ``T_a = latency + L_0 + sum_i max(C_a,i, D_i, (latency + L_i+1 / p_i+1) / d) + S_last`` with
    ``D_i = L_i+1 + S_i-1``: ``L``, ``S`` the DRAM cycles (whole bursts; index decode counted
    with its load) of a step's loads and stores, ``C_a,i`` the array's compute in the step,
    ``p`` the arrays that compute in a step (each issues its own loads, so one array's
    transfer overlaps another's latency and an array waits the latency plus its share) and
    ``d`` the steps the loads may run ahead (the rows' ``prefetch_steps``; with double
    buffering, d = 1, every step that loads exposes the read latency; with d steps in flight
    they share it). Divisions round up. The operation takes ``max_a T_a``: never less than its
    DRAM time or the busiest array's compute, and equal to the latter with unlimited bandwidth.
    """
    burst = hw.dram.burst_bytes
    steps = _steps_from(rows, first_id)
    n = max(steps, default=-1) + 1
    loads = [0] * (n + 1)
    stores = [0] * (n + 1)
    compute: dict[int, list[int]] = {}
    any_dram = False
    for r, i in zip(rows, steps, strict=True):
        read = write = 0
        for t in r.transfers:  # one pass; reads and writes round to bursts separately
            if t[0] == "dram":
                if t[1] == "read":
                    read += t[3]
                else:
                    write += t[3]
        moved = burst_bytes(read, burst) + burst_bytes(write, burst)
        any_dram = any_dram or moved > 0
        if r.op == "load":
            loads[i] += moved
        elif r.op == "store":
            stores[i] += moved
        elif r.op in ("compute", "vector"):
            lane = r.array if r.op == "compute" else -1
            per_step = compute.get(lane)
            if per_step is None:  # not setdefault: that would build an n-list per row
                per_step = compute[lane] = [0] * n
            per_step[i] += r.compute_cycles
    vector_c = [0] * (n + 1)
    for r, i in zip(rows, steps, strict=True):
        if r.op == "load" and r.vector_ops:
            vector_c[i] += vector_cycles(r.vector_ops, hw)
    lanes = np.array(list(compute.values()), dtype=np.int64).reshape(len(compute), n)
    ahead = max((r.prefetch_steps for r in rows if r.op in ("compute", "vector")), default=1)
    parts = pipeline_parts(hw, np.array(loads), np.array(stores[:n]), lanes,
                           np.array(vector_c), any_dram, ahead,
                           _level_steps(rows, steps, n, hw))  # fmt: skip
    return parts, (group_work(rows, hw) if compute else 0)


def _level_steps(
    rows: list[TraceRow], steps: list[int], n: int, hw: Accelerator
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per timed level other than the DRAM: the bytes (whole bursts) each step's loads move
    there (``n + 1`` entries) and each step's stores (``n``); levels nothing moves at left out."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for level in hw.timed_levels[1:]:
        loads = np.zeros(n + 1, dtype=np.int64)
        stores = np.zeros(n + 1, dtype=np.int64)
        for r, i in zip(rows, steps, strict=True):
            if r.op not in ("load", "store"):
                continue
            read = r.moved(level.name, "read")
            write = r.moved(level.name, "write")
            moved = burst_bytes(read, level.burst_bytes) + burst_bytes(write, level.burst_bytes)
            (loads if r.op == "load" else stores)[i] += moved
        if loads.any() or stores.any():
            out[level.name] = (loads, stores[:n])
    return out


def pipeline_parts(
    hw: Accelerator,
    load_bytes: np.ndarray,
    store_bytes: np.ndarray,
    compute_cycles: np.ndarray,
    load_vector_cycles: np.ndarray | None = None,
    any_dram: bool | None = None,
    prefetch_steps: int = 1,
    levels: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> PipelineParts:
    """One operation's pipeline (the formula of ``group_cycles``) from its lockstep steps, in
    parts (``closim.trace.PipelineParts``; ``.cycles`` is the operation alone).

    ``load_bytes``: per step (``n + 1`` entries, the last 0), the DRAM bytes (whole bursts) the
    step's loads move; ``store_bytes``: per step (``n``), its stores' bytes; ``compute_cycles``:
    one row per lane (PE array, or the vector unit) with its compute in each of the ``n`` steps;
    ``load_vector_cycles``: vector-unit cycles (index decode) of each step's loads. The read
    latency counts when any byte moves (``any_dram``, default: any load or store bytes).
    ``prefetch_steps``: how many steps ahead of the compute the loads may be issued.
    ``levels``: per other timed level (an L2, ...), its (load, store) bytes per step, shaped as
    the DRAM's: each level is its own server, so a step's transfers take the longest level's
    cycles, and a step's loads wait the longest latency of the levels they read.
    """
    load_c = _dram_cycles_v(load_bytes, hw)
    if load_vector_cycles is not None:
        load_c = load_c + load_vector_cycles
    store_c = _dram_cycles_v(store_bytes, hw)
    if any_dram is None:
        any_dram = bool(load_bytes.any() or store_bytes.any())
    lat = latency_cycles(hw) if any_dram else 0
    dram = int(load_c.sum() + store_c.sum())
    loads = bool(np.asarray(load_bytes).any())
    # the read latency each step's loads wait: the DRAM's alone, or with other levels the
    # longest of the levels that step reads from
    step_lat: np.ndarray | int = lat
    level_cycles: list[tuple[str, int]] = []
    if levels:
        step_lat = np.where(np.asarray(load_bytes) > 0, lat, 0)
    for name, (level_loads, level_stores) in (levels or {}).items():
        level = hw.level(name)
        lc = _cycles_at_v(level_loads, level.bytes_per_cycle)
        sc = _cycles_at_v(level_stores, level.bytes_per_cycle)
        load_c, store_c = np.maximum(load_c, lc), np.maximum(store_c, sc)
        level_lat = math.ceil(level.latency_cycles)
        step_lat = np.maximum(step_lat, np.where(level_loads > 0, level_lat, 0))
        if level_loads.any() or level_stores.any():
            lat = max(lat, level_lat)
        level_cycles.append((name, int(lc.sum() + sc.sum())))
        loads = loads or bool(level_loads.any())
    head_lat = lat if np.isscalar(step_lat) or not load_c[0] else int(step_lat[0])
    if compute_cycles.shape[0] == 0:
        return PipelineParts(
            int(lat + load_c.sum()), 0, int(store_c.sum()), None, None, dram, loads,
            tuple(level_cycles),
        )  # fmt: skip
    n = compute_cycles.shape[1]
    # with two buffers a step's loads start when the previous step starts, so every step that
    # loads waits out the read latency too; with d steps in flight, d steps share one latency
    # (in steady state d * period >= latency + transfer), while the transfer itself still
    # holds the DRAM for its whole time.
    # Lanes issue their loads independently: in the DRAM's queue one lane's transfer overlaps
    # another's latency, so a lane waits the latency plus its own share of the step's loads,
    # while the bus carries all of the step's traffic. Stores are posted: they fill the bus
    # while the loads wait out their latency, so they add to the bus time, not to the wait.
    moved = load_c[1 : n + 1].copy()
    moved[1:] += store_c[: n - 1]
    lanes = np.maximum(1, np.count_nonzero(compute_cycles, axis=0))
    lanes_next = np.append(lanes[1:], 1)  # the lanes that read step i+1's loads
    wait_lat = step_lat if np.isscalar(step_lat) else step_lat[1 : n + 1]
    next_loads = load_c[1 : n + 1]
    waited = np.where(next_loads > 0, wait_lat + -(-next_loads // lanes_next), 0)
    waited = np.maximum(moved, -(-waited // prefetch_steps))
    per_step = np.maximum(compute_cycles, waited[None, :])
    per_lane = per_step.sum(axis=1)
    busiest = per_step[int(per_lane.argmax())] if n else per_lane
    body = int(per_lane.max()) if n else 0
    d = prefetch_steps
    # the loads of step n-1 are issued when step n-1-d starts; a following operation's first
    # tile on this unit is d tiles after step n-d
    issued = body - int(busiest[n - 1 - d :].sum()) if n - 1 - d >= 0 else None
    gate = body - int(busiest[n - d :].sum()) if n - d >= 0 else None
    last_store = int(store_c[n - 1]) if n else 0
    return PipelineParts(
        int(head_lat + load_c[0]), body, last_store, issued, gate, dram, loads,
        tuple(level_cycles), int(compute_cycles.shape[0]),
    )  # fmt: skip


def _dram_cycles_v(nbytes: np.ndarray, hw: Accelerator) -> np.ndarray:
    """``dram_cycles`` over an array of burst-rounded byte counts."""
    return _cycles_at_v(nbytes, hw.dram_bytes_per_cycle)


def _cycles_at_v(nbytes: np.ndarray, bpc: float) -> np.ndarray:
    """Cycles to move each of ``nbytes`` (burst-rounded) at ``bpc`` bytes per cycle."""
    nbytes = np.asarray(nbytes, dtype=np.int64)
    if math.isinf(bpc):
        return np.zeros_like(nbytes)
    return np.ceil(nbytes / bpc).astype(np.int64)


def _steps_from(rows: list[TraceRow], first_id: int) -> list[int]:
    step_of = [0] * len(rows)
    step = -1
    first_reader: dict[int, int] = {}
    for i, r in enumerate(rows):
        if r.op == "vector" or (r.op == "compute" and r.array == 0):
            step += 1
        if r.op in ("compute", "vector"):
            step_of[i] = max(step, 0)
            for dep in r.depends_on:
                first_reader.setdefault(dep - first_id, step_of[i])
    for i, r in enumerate(rows):
        if r.op == "load":
            step_of[i] = first_reader.get(i, 0)
        elif r.op == "store" and r.depends_on:
            producer = r.depends_on[0] - first_id
            if 0 <= producer < len(rows):
                step_of[i] = step_of[producer]
    return step_of


def trace_cycles(trace: Trace, hw: Accelerator) -> int:
    """Cycles of the whole trace with its operations back to back: the mapper's score of a plan
    (the analytic engine then overlaps the operations, ``closim.cost.schedule``)."""
    return sum(group_cycles(rows, hw, first)[0] for _, first, rows in groups(trace))

"""The discrete-event engine (SimPy): PE arrays, SRAM and DRAM play the trace (see
docs/architecture.md §7).

Time is integer PE-clock cycles. Components (in ``closim.engines.des_parts``):

* :class:`Memory`: per timed level (the DRAM, and any added level such as an L2), one
  :class:`LevelServer` for all its channels (interleaving spreads every transfer over them):
  transfers are served in issue order at the full bandwidth, each for its bytes in whole bursts,
  as one timed event. The latency then delays a read's completion without holding the
  bandwidth, as pipelined memory does; writes are posted. A row that moves bytes at several
  levels is done when the slowest is.
* :class:`Sram`: the free bytes of the global buffer. A load reserves its tile's bytes before it
  starts and gives them back when the last tile that reads it is done, so a full buffer stalls the
  loader (back-pressure) and double buffering comes out of the capacity. Tensors the mapper keeps
  resident are not moved by the engine; the bytes they occupy while an operation loads are set
  aside before its first load.
* :class:`PEArray`: one per array (its compute process runs one tile at a time) and one for the
  vector unit, a ``simpy.Resource(capacity=1)`` shared by vector passes and index decode.

One DMA process issues the loads in trace order, each once its inputs exist, the lane's tile
``prefetch_steps`` before it has started (1, double buffering: one tile loads while one
computes; a deeper DMA prefetches more steps) and the SRAM has room. Per
array (and for the vector unit) a compute process runs the lane's tiles in trace order, each once
its loads are in SRAM, and hands finished tiles to the lane's store unit, which writes their
outputs back in order; a lane whose store queue holds ``STORE_QUEUE`` tiles stalls
(back-pressure). A tile starts only after the operations that produce its inputs
(``after_groups``) are complete.

Events are spent only where something waits: a load or a store is one timed event whose callback
finishes it, free SRAM is taken without one, and a tile waits on an event only while one of its
loads is missing. Nothing is printed, nothing is random and no NumPy math runs here; the
components count what they do.
"""

from __future__ import annotations

import functools
from collections import defaultdict, deque
from dataclasses import dataclass

import simpy

from closim.cost.dram import vector_cycles
from closim.cost.pipeline import group_work, groups
from closim.engines.base import Timing
from closim.engines.des_parts import (
    DesResult,
    Interval,
    Memory,
    PEArray,
    Sram,
    sequential_peak_hold_bytes,
)
from closim.model.hw import Accelerator
from closim.trace import Trace, TraceRow

VECTOR_LANE = -1  # the lane id of the vector unit in timelines
STORE_QUEUE = 2  # finished tiles a lane may leave for its store unit before it stalls


class _Engine:
    def __init__(self, trace: Trace, hw: Accelerator) -> None:
        self.env = simpy.Environment()
        self.hw = hw
        self.trace = trace
        self.rows = trace.rows
        self.intervals: list[Interval] = []
        self.memory = Memory(self.env, hw, self.intervals)
        self.live = trace.resident_live_bytes
        peaks = sequential_peak_hold_bytes(trace)
        # the sequential schedule must fit, or the model would deadlock where hardware would not
        fits = max((self.live[g] + p for g, p in peaks.items()), default=0)
        self.sram = Sram(self.env, max(hw.sram.capacity_bytes, fits))
        self.vector_unit = PEArray(self.env, "vector")
        self.lanes: dict[int, PEArray] = {}
        self.consumers: dict[int, int] = defaultdict(int)
        self.dependents: dict[int, list[int]] = defaultdict(list)
        self.lane_work: dict[int, list[int]] = defaultdict(list)
        self.loads: list[int] = []
        remaining: dict[int, int] = defaultdict(int)
        for rid, row in enumerate(self.rows):
            remaining[row.group] += 1
            for dep in row.depends_on:
                self.dependents[dep].append(rid)
                if self.rows[dep].op == "load":
                    self.consumers[dep] += 1
            if row.op == "compute":
                self.lane_work[row.array].append(rid)
            elif row.op == "vector":
                self.lane_work[VECTOR_LANE].append(rid)
            elif row.op == "load":
                self.loads.append(rid)
        self.remaining = dict(remaining)
        self.group_done = {g: self.env.event() for g in self.remaining}
        self.group_end: dict[int, int] = {}
        self.group_start: dict[int, int] = {}
        # a tile waits for its loads: per reader, how many are still missing
        self.readers: dict[int, list[int]] = defaultdict(list)
        self.missing = [0] * len(self.rows)
        for rid in self.loads:
            for reader in self.dependents[rid]:
                if self.rows[reader].op in ("compute", "vector"):
                    self.readers[rid].append(reader)
                    self.missing[reader] += 1
        self.ready_waits: dict[int, simpy.Event] = {}
        # double buffering: a tile's loads start once the lane's previous tile has started
        self.has_started = [False] * len(self.rows)
        self.start_waits: dict[int, simpy.Event] = {}
        # per lane, finished tiles waiting for the store unit (at most STORE_QUEUE)
        self.store_queue: dict[int, deque[int]] = {lane: deque() for lane in self.lane_work}
        self.store_busy = dict.fromkeys(self.lane_work, False)
        self.store_slot: dict[int, simpy.Event] = {}
        # a tile's loads may be issued once the lane's tile ``prefetch_steps`` before it has
        # started (1: double buffering)
        earlier: dict[int, int] = {}
        for work in self.lane_work.values():
            for pos, rid in enumerate(work):
                ahead = self.rows[rid].prefetch_steps
                if pos >= ahead:
                    earlier[rid] = work[pos - ahead]
        self.gate: dict[int, int] = {}
        for rid in self.loads:
            readers = [d for d in self.dependents[rid] if self.rows[d].op in ("compute", "vector")]
            if readers and min(readers) in earlier:
                self.gate[rid] = earlier[min(readers)]

    def _finish(self, rid: int) -> None:
        group = self.rows[rid].group
        self.remaining[group] -= 1
        if self.remaining[group] == 0:
            self.group_end[group] = int(self.env.now)
            self.group_done[group].succeed()

    def _begin(self, group: int) -> None:
        """Notes the cycle of an operation's first action (its span starts there)."""
        if group not in self.group_start:
            self.group_start[group] = int(self.env.now)

    def _after(self, row: TraceRow) -> simpy.Event | None:
        """An event for the producers of ``row``'s inputs still running, or None if all are
        done (waiting on finished ones would only add events)."""
        pending = [self.group_done[g] for g in row.after_groups if not self.group_done[g].processed]
        return self.env.all_of(pending) if pending else None

    def _dma(self):
        """The loader: issues every load in trace order once its inputs exist and SRAM has room.
        Before an operation's first load it sets aside the bytes of the tensors resident then."""
        resident = 0
        group = None
        for rid in self.loads:
            row = self.rows[rid]
            after = self._after(row)
            if after is not None:
                yield after
            gate = self.gate.get(rid)
            if gate is not None and not self.has_started[gate]:
                yield self.start_waits.setdefault(gate, self.env.event())
            if row.group != group:
                group = row.group
                want = self.live[group]
                if want > resident:
                    room = self.sram.reserve(want - resident)
                    if room is not None:
                        yield room
                elif want < resident:
                    self.sram.release(resident - want)
                resident = want
            if row.sram_hold_bytes:
                room = self.sram.reserve(row.sram_hold_bytes)
                if room is not None:
                    yield room
            self._begin(row.group)
            if row.vector_ops:  # index decode: the vector unit is shared, so a process
                self.env.process(self._decoded_load(rid))
                continue
            delay = self.memory.issue(row, False)
            if delay:
                self.env.timeout(delay).callbacks.append(functools.partial(self._loaded, rid))
            else:
                self._loaded(rid)

    def _decoded_load(self, rid: int):
        row = self.rows[rid]
        yield from self.memory.transfer(row, False)
        with self.vector_unit.resource.request() as req:
            yield req
            start = self.env.now
            yield self.env.timeout(vector_cycles(row.vector_ops, self.hw))
            self.intervals.append(
                Interval("vector", "busy", start, self.env.now, row.group, row.layer)
            )
        self._loaded(rid)

    def _loaded(self, rid: int, _event: simpy.Event | None = None) -> None:
        """A load's data is in SRAM: its readers may start."""
        row = self.rows[rid]
        self.sram.write_bytes += row.moved("sram", "write")
        if not self.consumers[rid]:
            self.sram.release(row.sram_hold_bytes)
        for reader in self.readers[rid]:
            self.missing[reader] -= 1
            if self.missing[reader] == 0 and reader in self.ready_waits:
                self.ready_waits.pop(reader).succeed()
        self._finish(rid)

    def _compute(self, lane: int):
        """Computes the lane's tiles in trace order, each once its loads are in SRAM; hands each
        finished tile to the lane's store queue, waiting while that queue is full."""
        unit = self.vector_unit if lane == VECTOR_LANE else self.lanes[lane]
        for rid in self.lane_work[lane]:
            row = self.rows[rid]
            after = self._after(row)
            if after is not None:
                yield after
            ready = self.env.now  # inputs exist: from here on, waiting is waiting on memory
            if self.missing[rid]:
                yield self.ready_waits.setdefault(rid, self.env.event())
            if lane == VECTOR_LANE:  # shared with index decode
                request = unit.resource.request()
                yield request
            if self.env.now > ready:
                self.intervals.append(
                    Interval(unit.name, "stall", ready, self.env.now, row.group, row.layer)
                )
            start = self.env.now
            self._begin(row.group)
            self.has_started[rid] = True
            waiting = self.start_waits.pop(rid, None)
            if waiting is not None:
                waiting.succeed()
            if row.compute_cycles:
                yield self.env.timeout(row.compute_cycles)
            if lane == VECTOR_LANE:
                unit.resource.release(request)
            self.intervals.append(
                Interval(unit.name, "busy", start, self.env.now, row.group, row.layer)
            )
            unit.macs += row.macs
            self.sram.read_bytes += row.moved("sram", "read")
            self.sram.write_bytes += row.moved("sram", "write")
            for dep in row.depends_on:
                if self.rows[dep].op == "load":
                    self.consumers[dep] -= 1
                    if self.consumers[dep] == 0:
                        self.sram.release(self.rows[dep].sram_hold_bytes)
            self._finish(rid)
            queue = self.store_queue[lane]
            if self.store_busy[lane] and len(queue) >= STORE_QUEUE:  # back-pressure
                self.store_slot[lane] = slot = self.env.event()
                yield slot
            if self.store_busy[lane]:
                queue.append(rid)
            else:
                self._store_tile(lane, rid)

    def _store_tile(self, lane: int, rid: int) -> None:
        """Writes one finished tile's outputs back to DRAM, one store row after another."""
        self.store_busy[lane] = True
        self._store_next(lane, list(self.dependents[rid]))

    def _store_next(self, lane: int, pending: list[int], _event: simpy.Event | None = None):
        while pending:
            nxt = pending.pop(0)
            row = self.rows[nxt]
            self.sram.read_bytes += row.moved("sram", "read")
            delay = self.memory.issue(row, True)
            if delay:
                callback = functools.partial(self._stored, lane, nxt, pending)
                self.env.timeout(delay).callbacks.append(callback)
                return
            self._finish(nxt)
        queue = self.store_queue[lane]
        if not queue:
            self.store_busy[lane] = False
            return
        following = queue.popleft()
        slot = self.store_slot.pop(lane, None)
        if slot is not None:
            slot.succeed()  # the queue has room again: the lane may go on
        self._store_tile(lane, following)

    def _stored(self, lane: int, rid: int, pending: list[int], _event: simpy.Event) -> None:
        self._finish(rid)
        self._store_next(lane, pending)

    def run(self) -> DesResult:
        for lane in self.lane_work:
            if lane != VECTOR_LANE:
                self.lanes[lane] = PEArray(self.env, f"array{lane}")
        self.env.process(self._dma())
        for lane in self.lane_work:
            self.env.process(self._compute(lane))
        self.env.run()
        if any(self.remaining.values()):
            stuck = sorted(g for g, left in self.remaining.items() if left)
            raise RuntimeError(f"DES stopped with unfinished operations {stuck[:5]} (deadlock)")
        units = [*self.lanes.values(), self.vector_unit]
        return DesResult(
            cycles=int(self.env.now),
            group_end=self.group_end,
            group_start=self.group_start,
            macs=sum(u.macs for u in units),
            read_bytes={**self.memory.bytes_moved("read"), "sram": self.sram.read_bytes},
            write_bytes={**self.memory.bytes_moved("write"), "sram": self.sram.write_bytes},
            events=_event_count(self.env),
            intervals=self.intervals,
        )


def _event_count(env: simpy.Environment) -> int:
    # SimPy numbers every scheduled event (its event id counter): the number of events processed
    return int(getattr(env, "_eid", None).__next__()) if hasattr(env, "_eid") else 0


def run(trace: Trace, hw: Accelerator) -> DesResult:
    """Plays ``trace`` on ``hw`` as a discrete-event simulation."""
    return _Engine(trace, hw).run()


@dataclass(frozen=True)
class DesEngine:
    """The discrete-event engine behind the ``Engine`` interface; its record is the DesResult."""

    name: str = "des"
    description: str = "discrete-event (SimPy): contention, back-pressure, overlap"

    def run(self, trace: Trace, hw: Accelerator) -> Timing:
        """Per operation: the cycle its last row finished, and its critical compute."""
        played = run(trace, hw)
        work = {gid: group_work(rows, hw) for gid, _, rows in groups(trace)}
        return Timing(
            played.cycles, played.group_end, work, played.events, played, played.group_start
        )


ENGINE = DesEngine()

"""The components the discrete-event engine (``closim.engines.des``) is built from: the DRAM
bandwidth server, the SRAM's free bytes, the PE arrays, the records of what they did, and the
in-order SRAM peak that sizes the buffer so the model cannot deadlock."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import simpy

from closim.cost.dram import burst_bytes
from closim.model.hw import Accelerator, MemoryLevel
from closim.trace import Trace, TraceRow


@dataclass
class Interval:
    """One busy or stall interval of a resource, in cycles."""

    resource: str
    kind: str  # busy | stall | transfer
    start: int
    end: int
    group: int
    layer: str


@dataclass
class DesResult:
    """Cycles and what the components counted."""

    cycles: int
    group_end: dict[int, int]
    group_start: dict[int, int] = field(default_factory=dict)  # cycle of each op's first action
    macs: int = 0
    read_bytes: dict[str, int] = field(default_factory=dict)  # per memory level it models
    write_bytes: dict[str, int] = field(default_factory=dict)
    events: int = 0
    intervals: list[Interval] = field(default_factory=list)


class LevelServer:
    """A timed memory level (the DRAM, or an added level such as an L2) as one bandwidth server:
    transfers are served in the order they are issued, each at the full bandwidth of the level
    (address interleaving spreads a transfer's bursts over every channel, so the channels act as
    one wide pipe); counts bytes moved.

    The server is a timeline (the cycle it is next free), not a SimPy resource: a transfer is
    one timed event however many channels the level has."""

    def __init__(self, env: simpy.Environment, level: MemoryLevel, record: list[Interval]) -> None:
        self.env = env
        self.name = level.name
        self.bytes_per_cycle = level.bytes_per_cycle
        self.burst = level.burst_bytes
        self.latency = math.ceil(level.latency_cycles)
        self.free_at = 0.0  # the cycle the bandwidth is next free, fractions kept
        self.read_bytes = 0
        self.write_bytes = 0
        self.record = record

    def _serve(self, nbytes: int) -> tuple[int, int]:
        """Books the bandwidth for ``nbytes`` (whole bursts) after what is queued: (start, end)
        in whole cycles. The server keeps its free time in fractions of a cycle, so that many
        small transfers cost their bytes, not one rounded-up cycle each."""
        now = self.env.now
        start = max(float(now), self.free_at)
        if nbytes and not math.isinf(self.bytes_per_cycle):
            self.free_at = start + burst_bytes(nbytes, self.burst) / self.bytes_per_cycle
        else:
            self.free_at = start
        # 1e-9: a sum of fractions that lands on a whole cycle stays on it
        return max(now, math.ceil(start - 1e-9)), max(now, math.ceil(self.free_at - 1e-9))

    def issue(self, nbytes: int, write: bool, row: TraceRow) -> int:
        """Queues a transfer of ``nbytes`` now; returns the cycles until it is done (a read
        includes the latency). Bytes count when issued (the totals at the end are the same)."""
        now = self.env.now
        start, end = self._serve(nbytes)
        self.record.append(Interval(self.name, "transfer", start, end, row.group, row.layer))
        if write:
            self.write_bytes += nbytes
            return end - now
        self.read_bytes += nbytes
        return end + self.latency - now

    def transfer(self, nbytes: int, write: bool, row: TraceRow):
        """Process: moves ``nbytes`` once the transfers issued before it are through. A read
        then waits the latency (which holds no bandwidth: pipelined memory); a write is posted
        (done once the level has taken it), as memory controllers do."""
        if nbytes == 0:
            return
        now = self.env.now
        start, end = self._serve(nbytes)
        self.record.append(Interval(self.name, "transfer", start, end, row.group, row.layer))
        done = end if write else end + self.latency
        if done > now:
            yield self.env.timeout(done - now)
        if write:
            self.write_bytes += nbytes
        else:
            self.read_bytes += nbytes


class Memory:
    """Every timed level's server; a row's transfers go to the levels they name, side by side,
    and the row is done when the slowest is (the DRAM alone when nothing else is timed)."""

    def __init__(self, env: simpy.Environment, hw: Accelerator, record: list[Interval]) -> None:
        self.env = env
        self.servers = [LevelServer(env, level, record) for level in hw.timed_levels]
        self.dram = self.servers[0]
        self.others = self.servers[1:]

    def issue(self, row: TraceRow, write: bool) -> int:
        """Queues ``row``'s transfers (its writes if ``write``, else its reads) at every timed
        level; returns the cycles until the last is done. A row that moves nothing at an added
        level is the DRAM's alone (its latency included even for zero bytes, as a read request
        that finds nothing to move still waits for the answer); one that moves bytes only at an
        added level does not wait for the DRAM."""
        direction = "write" if write else "read"
        others = [(s, row.moved(s.name, direction)) for s in self.others]
        others = [(s, n) for s, n in others if n]
        dram_bytes = row.moved("dram", direction)
        delay = self.dram.issue(dram_bytes, write, row) if dram_bytes or not others else 0
        for server, nbytes in others:
            delay = max(delay, server.issue(nbytes, write, row))
        return delay

    def transfer(self, row: TraceRow, write: bool):
        """Process: ``row``'s transfers at every timed level; done when the slowest is."""
        direction = "write" if write else "read"
        dram_bytes = row.moved("dram", direction)
        others = [(s, row.moved(s.name, direction)) for s in self.others]
        others = [(s, n) for s, n in others if n]
        if not others:  # the DRAM alone: no extra process
            yield from self.dram.transfer(dram_bytes, write, row)
            return
        moving = [(self.dram, dram_bytes), *others] if dram_bytes else others
        yield self.env.all_of([self.env.process(s.transfer(n, write, row)) for s, n in moving])

    def bytes_moved(self, direction: str) -> dict[str, int]:
        """Bytes read (``direction`` read) or written at each timed level."""
        return {
            s.name: s.read_bytes if direction == "read" else s.write_bytes for s in self.servers
        }


class Sram:
    """The global buffer's free bytes; counts bytes read and written. Only the DMA process
    reserves space, so at most one reservation waits: space that is free is taken without an
    event, and a release that makes room for the waiting one wakes it (first come, first
    served, as a ``simpy.Container`` would)."""

    def __init__(self, env: simpy.Environment, capacity_bytes: int) -> None:
        self.env = env
        self.capacity_bytes = max(1, capacity_bytes)
        self.free = self.capacity_bytes
        self.waiting: tuple[int, simpy.Event] | None = None
        self.read_bytes = 0
        self.write_bytes = 0

    def reserve(self, nbytes: int) -> simpy.Event | None:
        """Sets ``nbytes`` (clamped to the capacity) aside: None when done at once, else an
        event that fires once the space is free."""
        n = min(nbytes, self.capacity_bytes)
        if self.waiting is None and self.free >= n:
            self.free -= n
            return None
        event = self.env.event()
        self.waiting = (n, event)
        return event

    def release(self, nbytes: int) -> None:
        """Gives ``nbytes`` (as reserved) back."""
        if not nbytes:
            return
        self.free += min(nbytes, self.capacity_bytes)
        if self.waiting is not None and self.free >= self.waiting[0]:
            n, event = self.waiting
            self.waiting = None
            self.free -= n
            event.succeed()


class PEArray:
    """One systolic array (or the vector unit): one tile at a time; counts the MACs it runs."""

    def __init__(self, env: simpy.Environment, name: str) -> None:
        self.name = name
        self.resource = simpy.Resource(env, capacity=1)
        self.macs = 0


def sequential_peak_hold_bytes(trace: Trace) -> dict[int, int]:
    """Per group, the peak SRAM bytes its loads hold when the trace runs strictly in order: a
    load holds its bytes from its issue until the last row that reads it is done."""
    last_use: dict[int, int] = {}
    for rid, row in enumerate(trace.rows):
        for dep in row.depends_on:
            last_use[dep] = rid
    release_at: dict[int, int] = defaultdict(int)
    held = 0
    peak: dict[int, int] = defaultdict(int)
    for rid, row in enumerate(trace.rows):
        if row.op == "load":
            held += row.sram_hold_bytes
            peak[row.group] = max(peak[row.group], held)
            release_at[last_use.get(rid, rid)] += row.sram_hold_bytes
        held -= release_at.pop(rid, 0)
    return peak

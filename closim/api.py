"""``simulate`` and ``compare``: the one entry that the CLI, sweeps and claims call. Composes the
lowering, the mapper, an engine and the energy table; engines only ever see a trace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from closim.accounting.attribution import attribute
from closim.accounting.counting import count_rows
from closim.accounting.energy import energy_breakdown_pj
from closim.accounting.footprint import footprint_bytes
from closim.accounting.metrics import flatten, metrics
from closim.accounting.stats import Stats
from closim.engines import des
from closim.engines.base import Timing
from closim.engines.registry import get_engine
from closim.lowering import Program, lower
from closim.mapping.mapper import map_program
from closim.model.errors import ConfigError
from closim.model.hw import Accelerator
from closim.model.workload import MODES, Workload
from closim.topology import LayerPlan, plan_layer
from closim.trace import Trace

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class LayerResult:
    """One layer's share of a simulated step."""

    name: str
    topology: str
    params: int
    stats: Stats
    energy_pj: dict[str, float]
    weight_bytes: int
    index_bytes: int
    footprint_bytes: int


@dataclass
class Result:
    """A simulated step: totals, per-layer results, the trace it played and the mapper's choices."""

    hw: Accelerator
    workload: Workload
    mode: str
    engine: str
    batch: int
    totals: Stats
    energy_pj: dict[str, float]
    layers: list[LayerResult]
    trace: Trace
    footprint: dict[str, int]
    des_record: des.DesResult | None = None  # intervals and events, when the DES ran
    timing: Timing | None = None  # what the engine reported

    @property
    def seconds(self) -> float:
        """Simulated time of the step in seconds."""
        return self.hw.seconds(self.totals.cycles)

    def to_dict(self) -> dict[str, Any]:
        """The step as ``closim run --format json`` prints it: totals and per-layer metrics."""
        hw = self.hw
        layers = []
        for layer in self.layers:
            entry: dict[str, Any] = {
                "name": layer.name, "topology": layer.topology, "params": layer.params,
            }  # fmt: skip
            entry.update(
                metrics(layer.stats, hw, layer.energy_pj, layer.weight_bytes, layer.index_bytes,
                        layer.footprint_bytes)
            )  # fmt: skip
            layers.append(entry)
        totals = metrics(
            self.totals, hw, self.energy_pj, sum(x.weight_bytes for x in self.layers),
            sum(x.index_bytes for x in self.layers), self.footprint["total"],
        )  # fmt: skip
        return {
            "hw": hw.name, "workload": self.workload.name, "mode": self.mode,
            "engine": self.engine, "batch": self.batch, "clock_mhz": hw.clock_mhz,
            "totals": totals, "layers": layers,
        }  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        """One row per layer plus a ``total`` row, metrics flattened (the CSV of ``closim run``)."""
        import pandas as pd  # lazy: only exports need pandas

        data = self.to_dict()
        rows = [{"layer": "total", "topology": "", "params": None, **flatten(data["totals"])}]
        for layer in data["layers"]:
            rows.append(flatten(layer) | {"layer": layer["name"]})
        return pd.DataFrame(rows).drop(columns=["name"], errors="ignore")


def layer_plans(workload: Workload) -> list[tuple[str, LayerPlan]]:
    """(name, plan) of every layer of ``workload``, validated."""
    plans = []
    for layer in workload.layers:
        try:
            plans.append(
                (layer.name, plan_layer(layer.topology, layer.in_features, layer.out_features))
            )
        except ConfigError as err:
            raise err.located(prefix=f"workload.layers.{layer.name}") from None
    return plans


def lower_workload(
    hw: Accelerator,
    workload: Workload,
    mode: str,
    batch: int,
    plans: list[tuple[str, LayerPlan]] | None = None,
) -> Program:
    """The program of one step of ``workload`` (inference or training) at ``batch``; ``plans``
    are its layer plans when the caller has them already."""
    return lower(
        plans if plans is not None else layer_plans(workload),
        batch,
        mode == "training",
        workload.optimizer,
        hw.widths,
        shuffle=hw.mapping.shuffle,
    )


def _group_layers(trace: Trace) -> dict[int, str]:
    """Each operation's layer (from the totals when present: no rows needed)."""
    if trace.totals:  # every operation's layer, whether or not rows were built
        return {t.group: t.layer for t in trace.totals}
    return {r.group: r.layer for r in trace.rows}


def _peak_sram(trace: Trace) -> list[int]:
    """Per group (operation): resident bytes plus the operation's own buffers."""
    return [
        live + own for live, own in zip(trace.resident_live_bytes, trace.buffer_bytes, strict=True)
    ]


def simulate(
    hw: Accelerator,
    workload: Workload,
    *,
    engine: str = "des",
    mode: str | None = None,
    batch: int | None = None,
) -> Result:
    """Simulates one step of ``workload`` on ``hw``: cycles, energy (pJ), bytes, per layer."""
    mode = mode or workload.mode
    batch = batch or workload.batch
    runner = get_engine(engine)
    if mode not in MODES:
        raise ConfigError(f"unknown mode, expected one of {', '.join(MODES)} (got {mode!r})")
    plan_list = layer_plans(workload)
    program = lower_workload(hw, workload, mode, batch, plan_list)
    trace = map_program(program, hw)
    played = runner.run(trace, hw)
    split = attribute(played.starts(), played.group_end, played.group_work, played.cycles)
    per_layer_counts = count_rows(trace)
    group_layer = _group_layers(trace)
    peaks = _peak_sram(trace)
    totals = Stats()
    layers: list[LayerResult] = []
    plans = dict(plan_list)
    for spec in workload.layers:
        name = spec.name
        s = per_layer_counts.get(name, Stats())
        mine = [g for g, layer in group_layer.items() if layer == name]
        s.cycles = sum(split.span_cycles[g] for g in mine)
        s.critical_compute_cycles = sum(split.work_cycles[g] for g in mine)
        s.stall_cycles = s.cycles - s.critical_compute_cycles
        s.static_cycles = sum(split.share_cycles[g] for g in mine)
        s.overlap_cycles = round(s.cycles - s.static_cycles)
        s.peak_sram_bytes = max((peaks[g] for g in mine), default=0)
        plan = plans[name]
        own = program.of_layer(name)
        weights = sum(t.nbytes for t in own if t.kind == "weight")
        layer_fp = sum(t.nbytes for t in own if t.kind in ("weight", "index", "optimizer_state"))
        layers.append(
            LayerResult(
                name=name,
                topology=plan.kind,
                params=plan.num_params,
                stats=s,
                energy_pj=energy_breakdown_pj(s, hw),
                weight_bytes=weights,
                index_bytes=plan.index_bytes,
                footprint_bytes=layer_fp,
            )
        )
        totals.add_counts(s)
    totals.cycles = played.cycles
    totals.critical_compute_cycles = sum(split.work_cycles.values())
    totals.stall_cycles = sum(split.stall_cycles(g) for g in split.span_cycles)
    totals.overlap_cycles = split.overlap_cycles
    totals.static_cycles = played.cycles
    totals.peak_sram_bytes = max(peaks, default=0)
    footprint = footprint_bytes(program, mode == "training")
    result = Result(
        hw=hw,
        workload=workload,
        mode=mode,
        engine=engine,
        batch=batch,
        totals=totals,
        energy_pj=energy_breakdown_pj(totals, hw),
        layers=layers,
        trace=trace,
        footprint=footprint,
        des_record=played.record if isinstance(played.record, des.DesResult) else None,
        timing=played,
    )
    return result


def compare(
    hw: Accelerator,
    workload: Workload,
    *,
    engine: str = "des",
    mode: str | None = None,
    batch: int | None = None,
) -> tuple[Result, Result]:
    """The workload as written and with every layer dense, on the same hardware and mapper."""
    written = simulate(hw, workload, engine=engine, mode=mode, batch=batch)
    dense = simulate(hw, workload.densified(), engine=engine, mode=mode, batch=batch)
    return written, dense

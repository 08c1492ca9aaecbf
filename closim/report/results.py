"""Results of ``simulate`` and ``compare`` as the JSON-ready dicts of DESIGN.md §8, and as tables
(pandas) for CSV export."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd

from closim.accounting.stats import STANDARD_LEVELS, Stats
from closim.api import Result
from closim.model.hw import Accelerator

RATIO_KEYS = ("cycles", "energy_pj", "weight_bytes", "footprint_bytes", "dram_read_bytes", "macs")


def _level_bytes(stats: Stats) -> dict[str, int]:
    """``{level}_read_bytes`` and ``{level}_write_bytes`` of every level counted, the standard
    ones (dram, sram, accumulator) always."""
    levels = dict.fromkeys([*STANDARD_LEVELS, *stats.read_bytes, *stats.write_bytes])
    out: dict[str, int] = {}
    for level in levels:
        out[f"{level}_read_bytes"] = stats.read_bytes.get(level, 0)
        out[f"{level}_write_bytes"] = stats.write_bytes.get(level, 0)
    return out


def _metrics(
    stats: Stats,
    hw: Accelerator,
    energy: dict[str, float],
    weight_bytes: int,
    index_bytes: int,
    footprint: int,
) -> dict[str, Any]:
    pes = hw.total_pes
    return {
        "cycles": stats.cycles,
        "compute_cycles": stats.compute_cycles,
        "critical_compute_cycles": stats.critical_compute_cycles,
        "seconds": hw.seconds(stats.cycles),
        "macs": stats.macs,
        "array_macs": stats.array_macs,
        "pe_utilization": stats.macs / (stats.cycles * pes) if stats.cycles else 0.0,
        "stall_cycles": stats.stall_cycles,
        "energy_pj": sum(energy.values()),
        "energy_breakdown_pj": dict(energy),
        **_level_bytes(stats),
        "vector_ops": stats.vector_ops,
        "peak_sram_bytes": stats.peak_sram_bytes,
        "weight_bytes": weight_bytes,
        "index_bytes": index_bytes,
        "footprint_bytes": footprint,
        "traffic_bytes": copy.deepcopy(stats.traffic_bytes),
    }


def result_dict(result: Result) -> dict[str, Any]:
    """``closim run --format json``: one object with totals and per-layer metrics."""
    hw = result.hw
    layers = []
    for layer in result.layers:
        entry = {"name": layer.name, "topology": layer.topology, "params": layer.params}
        entry.update(
            _metrics(
                layer.stats,
                hw,
                layer.energy_pj,
                layer.weight_bytes,
                layer.index_bytes,
                layer.footprint_bytes,
            )
        )
        layers.append(entry)
    totals = _metrics(
        result.totals,
        hw,
        result.energy_pj,
        sum(x.weight_bytes for x in result.layers),
        sum(x.index_bytes for x in result.layers),
        result.footprint["total"],
    )
    return {
        "hw": hw.name,
        "workload": result.workload.name,
        "mode": result.mode,
        "engine": result.engine,
        "batch": result.batch,
        "clock_mhz": hw.clock_mhz,
        "totals": totals,
        "layers": layers,
    }


def _ratios(written: dict[str, Any], dense: dict[str, Any]) -> dict[str, float | None]:
    return {key: (written[key] / dense[key] if dense[key] else None) for key in RATIO_KEYS}


def compare_dict(written: Result, dense: Result) -> dict[str, Any]:
    """``closim compare --format json``: as written, dense, and ratios as written / dense."""
    w, d = result_dict(written), result_dict(dense)
    layers = []
    for lw, ld in zip(w["layers"], d["layers"], strict=True):
        layers.append(
            {
                "name": lw["name"],
                "topology": lw["topology"],
                "as_written": lw,
                "dense": ld,
                "ratios": _ratios(lw, ld),
            }
        )
    return {
        "hw": w["hw"],
        "workload": w["workload"],
        "mode": w["mode"],
        "engine": w["engine"],
        "batch": w["batch"],
        "totals": {
            "as_written": w["totals"],
            "dense": d["totals"],
            "ratios": _ratios(w["totals"], d["totals"]),
        },
        "layers": layers,
    }


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts flattened with dotted keys (``traffic_bytes.dram.weights``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def result_frame(result: Result) -> pd.DataFrame:
    """One row per layer plus a ``total`` row, metrics flattened: the CSV of ``closim run``."""
    data = result_dict(result)
    rows = [{"layer": "total", "topology": "", "params": None, **flatten(data["totals"])}]
    for layer in data["layers"]:
        rows.append(flatten(layer) | {"layer": layer["name"]})
    frame = pd.DataFrame(rows)
    frame = frame.drop(columns=["name"], errors="ignore")
    return frame

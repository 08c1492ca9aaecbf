"""Results of ``simulate`` and ``compare`` as the JSON-ready dicts of docs/architecture.md §10,
and as tables (pandas) for CSV export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from closim.accounting.metrics import flatten
from closim.api import Result

if TYPE_CHECKING:
    import pandas as pd

RATIO_KEYS = ("cycles", "energy_pj", "weight_bytes", "footprint_bytes", "dram_read_bytes", "macs")


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


def result_dict(result: Result) -> dict[str, Any]:
    """``closim run --format json``: one object with totals and per-layer metrics."""
    return result.to_dict()


def result_frame(result: Result) -> pd.DataFrame:
    """One row per layer plus a ``total`` row, metrics flattened: the CSV of ``closim run``."""
    return result.to_frame()


__all__ = ["RATIO_KEYS", "compare_dict", "flatten", "result_dict", "result_frame"]

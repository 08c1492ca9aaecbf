"""Records the regression values: the JSON totals and per-layer figures of every bundled hw x
workload x mode (analytic engine) and of a DES sample. Run from the repository root:

    python tests/regression/record.py            # writes tests/regression/values.json

Only a commit that changes the model on purpose re-records, and its message names the mechanism.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from closim.api import simulate
from closim.config import load_hw, load_workload
from closim.report.results import flatten, result_dict

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_name("values.json")
MODES = ("inference", "training")
#: Workloads the DES sample plays on every accelerator (small enough to replay in CI).
DES_WORKLOADS = ("gemm", "lenet-300-100", "closnet-1024", "closnet-1024-clos", "alexnet-fc-clos")
#: Keys of a layer's figures kept besides the totals.
LAYER_KEYS = ("cycles", "critical_compute_cycles", "energy_pj", "dram_read_bytes", "macs")


def figures(hw_path: Path, wl_path: Path, mode: str, engine: str) -> dict:
    """The flattened totals and per-layer figures of one simulated step, and its seconds."""
    start = time.perf_counter()
    result = simulate(load_hw(hw_path), load_workload(wl_path), engine=engine, mode=mode)
    seconds = time.perf_counter() - start
    data = result_dict(result)
    values = flatten(data["totals"])
    for layer in data["layers"]:
        for key in LAYER_KEYS:
            values[f"layer.{layer['name']}.{key}"] = layer[key]
    return {"seconds": round(seconds, 3), "values": values}


def main() -> None:
    hws = sorted((ROOT / "hw_configs").glob("*.yaml"))
    wls = sorted((ROOT / "workloads").glob("*.yaml"))
    cases = []
    for hw in hws:
        for wl in wls:
            for mode in MODES:
                cases.append((hw, wl, mode, "analytic"))
                if wl.stem in DES_WORKLOADS:
                    cases.append((hw, wl, mode, "des"))
    out = {}
    for hw, wl, mode, engine in cases:
        key = f"{hw.stem}/{wl.stem}/{mode}/{engine}"
        out[key] = figures(hw, wl, mode, engine)
        print(f"{key}: {out[key]['seconds']} s", file=sys.stderr, flush=True)
        OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()

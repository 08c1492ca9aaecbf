"""closim: a hardware simulator and cost model for a priori sparse neural-network layers.

Public API: ``load_hw``, ``load_workload`` (validated configs), ``build_layer`` / ``plan_layer``
(the layer math), ``simulate`` and ``compare`` (one step on a modeled accelerator), ``run_sweep``
and ``load_results`` (YAML sweeps and their SQLite store).
"""

from typing import Any

from closim.api import compare, simulate
from closim.config import load_hw, load_workload
from closim.model.errors import ConfigError
from closim.model.version import VERSION
from closim.topology import Layer, LayerPlan, Stage, StagePlan, build_layer, plan_layer

__version__ = VERSION

__all__ = [
    "ConfigError",
    "Layer",
    "LayerPlan",
    "Stage",
    "StagePlan",
    "__version__",
    "build_layer",
    "compare",
    "load_hw",
    "load_results",
    "load_workload",
    "plan_layer",
    "run_sweep",
    "simulate",
]


def __getattr__(name: str) -> Any:
    # the sweep machinery pulls in Dask: load it only when asked for
    if name in ("run_sweep", "load_results"):
        from closim import sweep

        return getattr(sweep, name)
    raise AttributeError(f"module 'closim' has no attribute {name!r}")

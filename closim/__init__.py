"""closim: a hardware simulator and cost model for a priori sparse neural-network layers.

Public API: ``load_hw``, ``load_workload`` (validated configs), ``build_layer`` / ``plan_layer``
(the layer math), ``simulate`` and ``compare`` (one step on a modeled accelerator, returning
``Result`` records with ``Stats``, a ``Trace`` and ``to_dict()`` / ``to_frame()``), the engine
interface (``Engine``, ``Timing``, ``register_engine``, ``engine_names``), and ``run_sweep`` /
``load_results`` (YAML sweeps and their SQLite store).

The names load on first use (PEP 562 ``__getattr__``): ``import closim.cli`` runs this file first,
and the ``closim`` script must not pay for the simulator, the config schemas or the sweep
machinery (Dask) before it has parsed its arguments. ``benchmarks/import_time.py`` measures it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from closim.model.version import VERSION

if TYPE_CHECKING:
    from closim.accounting.stats import Stats
    from closim.api import LayerResult, Result, compare, simulate
    from closim.config import load_hw, load_workload
    from closim.engines.base import Engine, Timing
    from closim.engines.registry import engine_names
    from closim.engines.registry import register as register_engine
    from closim.mapping.record import GemmMapping
    from closim.model.errors import ConfigError
    from closim.model.hw import Accelerator, MemoryLevel
    from closim.model.workload import LayerSpec, Workload
    from closim.sweep import load_results, run_sweep
    from closim.topology import Layer, LayerPlan, Stage, StagePlan, build_layer, plan_layer
    from closim.trace import Trace, TraceRow, Transfer

__version__ = VERSION

# public name -> (module, attribute in it); tests/test_lazy_imports.py checks it matches __all__
_LAZY: dict[str, tuple[str, str]] = {
    "Stats": ("closim.accounting.stats", "Stats"),
    "LayerResult": ("closim.api", "LayerResult"),
    "Result": ("closim.api", "Result"),
    "compare": ("closim.api", "compare"),
    "simulate": ("closim.api", "simulate"),
    "load_hw": ("closim.config", "load_hw"),
    "load_workload": ("closim.config", "load_workload"),
    "Engine": ("closim.engines.base", "Engine"),
    "Timing": ("closim.engines.base", "Timing"),
    "engine_names": ("closim.engines.registry", "engine_names"),
    "register_engine": ("closim.engines.registry", "register"),
    "GemmMapping": ("closim.mapping.record", "GemmMapping"),
    "ConfigError": ("closim.model.errors", "ConfigError"),
    "Accelerator": ("closim.model.hw", "Accelerator"),
    "MemoryLevel": ("closim.model.hw", "MemoryLevel"),
    "LayerSpec": ("closim.model.workload", "LayerSpec"),
    "Workload": ("closim.model.workload", "Workload"),
    "Layer": ("closim.topology", "Layer"),
    "LayerPlan": ("closim.topology", "LayerPlan"),
    "Stage": ("closim.topology", "Stage"),
    "StagePlan": ("closim.topology", "StagePlan"),
    "build_layer": ("closim.topology", "build_layer"),
    "plan_layer": ("closim.topology", "plan_layer"),
    "Trace": ("closim.trace", "Trace"),
    "TraceRow": ("closim.trace", "TraceRow"),
    "Transfer": ("closim.trace", "Transfer"),
    # the sweep machinery pulls in Dask
    "load_results": ("closim.sweep", "load_results"),
    "run_sweep": ("closim.sweep", "run_sweep"),
}

__all__ = [
    "Accelerator",
    "ConfigError",
    "Engine",
    "GemmMapping",
    "Layer",
    "LayerPlan",
    "LayerResult",
    "LayerSpec",
    "MemoryLevel",
    "Result",
    "Stage",
    "StagePlan",
    "Stats",
    "Timing",
    "Trace",
    "TraceRow",
    "Transfer",
    "Workload",
    "__version__",
    "build_layer",
    "compare",
    "engine_names",
    "load_hw",
    "load_results",
    "load_workload",
    "plan_layer",
    "register_engine",
    "run_sweep",
    "simulate",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'closim' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

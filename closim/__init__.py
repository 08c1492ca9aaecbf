"""closim: a hardware simulator and cost model for a priori sparse neural-network layers."""

from closim.errors import ConfigError
from closim.topology import Layer, LayerPlan, Stage, StagePlan, build_layer, plan_layer

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Layer",
    "LayerPlan",
    "Stage",
    "StagePlan",
    "__version__",
    "build_layer",
    "plan_layer",
]

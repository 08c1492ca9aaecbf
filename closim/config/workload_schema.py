"""The schema of a workload file (``workloads/*.yaml``): an MLP as a mapping of named layers.

Each layer's topology is checked against its widths by ``closim.topology.plan_layer`` (cheap: no
weights), and consecutive layers must chain (out_features of one = in_features of the next).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from closim.config.errors import CrossKeyError, describe
from closim.config.validate import PositiveInt, Schema, Text
from closim.model.errors import ConfigError
from closim.model.workload import DType, Mode, Optimizer

LAYER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


class LayerModel(Schema):
    """One layer ``y = x @ W``, W of shape (in_features, out_features)."""

    in_features: PositiveInt = Field(description="input width of the layer (integer > 0)")
    out_features: PositiveInt = Field(description="output width of the layer (integer > 0)")
    topology: Any = Field(
        "dense",
        description='the weight topology: "dense" or a mapping such as {kind: clos, r: 64, m: 64}'
        " (kinds: dense, clos, monarch, butterfly, block_diagonal, low_rank, unstructured, custom)",
    )

    @model_validator(mode="after")
    def _topology_fits(self) -> LayerModel:
        check_topology(self.topology, self.in_features, self.out_features)
        return self


class WorkloadConfig(Schema):
    """A workload file."""

    name: Text | None = Field(None, description="short name; default: the file name without .yaml")
    description: Text = Field("", description="one line shown by closim list")
    source: Text = Field("", description="citation of the network and of its batch and optimizer")
    batch: PositiveInt = Field(
        description="rows of every forward GEMM (M): samples, or tokens for transformer layers"
    )
    mode: Mode = Field("inference", description="inference (forward only) or training")
    optimizer: Optimizer = Field(
        "sgd", description="training update: sgd (no state), momentum (1x) or adam (2x weights)"
    )
    dtype: DType = Field(
        "fp32",
        description="the source's number format, for the record; element widths come from the "
        "hw config, because the accelerator decides its datapath",
    )
    layers: dict[str, LayerModel] = Field(
        min_length=1, description="the layers in order, keyed by name"
    )

    @field_validator("layers", mode="before")
    @classmethod
    def _names_are_paths(cls, layers: Any) -> Any:
        if isinstance(layers, dict):
            for name in layers:
                if isinstance(name, str) and not LAYER_NAME.fullmatch(name):
                    raise ConfigError(
                        "a layer name is a letter or _ then letters, digits, _ or - (one key "
                        f"of a dotted path: workload.layers.NAME.topology) (got {name!r})",
                        key_path=name,
                    )
        return layers

    @model_validator(mode="after")
    def _layers_chain(self) -> WorkloadConfig:
        items = list(self.layers.items())
        for (prev_name, prev), (name, layer) in itertools.pairwise(items):
            if layer.in_features != prev.out_features:
                raise CrossKeyError(
                    [
                        (f"layers.{name}.in_features",
                         f"must equal the out_features of the previous layer {prev_name!r} "
                         f"({prev.out_features}): layers chain in order (got {layer.in_features})"),
                        (f"layers.{prev_name}.out_features",
                         f"must equal the in_features of the next layer {name!r} "
                         f"({layer.in_features}): layers chain in order (got {prev.out_features})"),
                    ]
                )  # fmt: skip
        return self


def check_topology(spec: Any, in_features: int, out_features: int) -> None:
    """Raises ConfigError (key path from ``topology``) unless ``spec`` fits the layer widths."""
    from closim.topology import plan_layer  # lazy: the topology package imports numpy

    try:
        plan_layer(spec, in_features, out_features)
    except ConfigError as err:
        if err.key_path is None:  # the spec as a whole
            raise err.located(prefix="topology") from None
        raise
    except Exception as exc:  # a spec the planner did not expect: still the user's config
        raise ConfigError(
            f"topology rejected: {type(exc).__name__}: {exc} (got {describe(spec)})",
            key_path="topology",
        ) from None

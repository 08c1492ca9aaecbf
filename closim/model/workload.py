"""The workload as the simulator sees it: frozen records of an MLP's layers, batch and mode.

Built by ``closim.config.load_workload`` from a validated workload file. A layer's topology is
kept as the spec the file gave (``"dense"`` or a mapping such as ``{kind: clos, r: 64, m: 64}``),
frozen so that records stay hashable; ``closim.topology.plan_layer`` / ``build_layer`` take it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, NoReturn

Mode = Literal["inference", "training"]
Optimizer = Literal["sgd", "momentum", "adam"]
DType = Literal["int4", "int8", "int16", "int32", "fp8", "fp16", "bf16", "tf32", "fp32", "fp64"]

MODES: tuple[Mode, ...] = ("inference", "training")
OPTIMIZERS: tuple[Optimizer, ...] = ("sgd", "momentum", "adam")
DTYPES: tuple[DType, ...] = (
    "int4", "int8", "int16", "int32", "fp8", "fp16", "bf16", "tf32", "fp32", "fp64",
)  # fmt: skip


class FrozenSpec(dict):
    """A topology spec mapping that cannot change and can be hashed (a frozen record's field).

    A dict subclass, so that code which checks ``isinstance(spec, dict)`` accepts it.
    """

    __slots__ = ("_hash",)

    def _readonly(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a topology spec in a Workload is read-only; use dataclasses.replace")

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = __ior__ = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            text = json.dumps(self, sort_keys=True, default=repr)
            object.__setattr__(self, "_hash", hash(text))
            return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenSpec, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenSpec({dict.__repr__(self)})"


def freeze_spec(spec: object) -> str | FrozenSpec | object:
    """A topology spec made immutable at the top level (mappings become ``FrozenSpec``)."""
    if isinstance(spec, FrozenSpec):
        return spec
    if isinstance(spec, Mapping):
        return FrozenSpec(spec)
    return spec


def topology_kind(spec: object) -> str:
    """The kind named by a topology spec: ``"dense"`` -> dense, ``{kind: clos, ...}`` -> clos."""
    if isinstance(spec, Mapping):
        return str(spec.get("kind", "?"))
    return str(spec)


@dataclass(frozen=True)
class LayerSpec:
    """One layer: ``y = x @ W`` with ``W`` of shape ``(in_features, out_features)``."""

    name: str
    in_features: int
    out_features: int
    topology: Any = "dense"

    def __post_init__(self) -> None:
        object.__setattr__(self, "topology", freeze_spec(self.topology))

    @property
    def kind(self) -> str:
        """The topology kind (``dense``, ``clos``, ``monarch``...)."""
        return topology_kind(self.topology)

    def densified(self) -> LayerSpec:
        """The same layer with a dense weight matrix."""
        return replace(self, topology="dense")


@dataclass(frozen=True)
class Workload:
    """An MLP step: ``layers`` in order (each layer's output feeds the next), ``batch`` rows.

    ``batch`` is the GEMM M of every forward layer (samples, or tokens for transformers).
    ``dtype`` records the source's number format only; element widths come from the hw config,
    because the accelerator decides its datapath.
    """

    name: str
    batch: int
    layers: tuple[LayerSpec, ...]
    mode: Mode = "inference"
    optimizer: Optimizer = "sgd"
    dtype: DType = "fp32"
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))

    @property
    def training(self) -> bool:
        """True when a step runs forward, backward and the optimizer update."""
        return self.mode == "training"

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Layer names in order."""
        return tuple(layer.name for layer in self.layers)

    def layer(self, name: str) -> LayerSpec:
        """The layer called ``name`` (KeyError if none)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def densified(self) -> Workload:
        """The same workload with every layer dense (``closim compare``'s baseline)."""
        return replace(self, layers=tuple(layer.densified() for layer in self.layers))

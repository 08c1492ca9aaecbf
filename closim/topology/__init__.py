"""Layer math of a priori sparse topologies: stages of block-diagonal GEMMs joined by permutations.

A layer maps ``x`` (batch, in_features) to ``x @ W``, ``W = layer.dense()``. Every topology is a
chain of stages; a stage is ``blocks`` dense blocks (one batched GEMM) followed by an optional fixed
permutation (a reshape-transpose, never an index table). The layer is **linear**: there is no
nonlinearity between its stages; one activation, if the workload has one, follows the whole layer.

Kinds: dense, clos, monarch, butterfly, block_diagonal, low_rank, unstructured (a seeded mask with
its stored indices, the pruning baseline; ``format`` csr, relative (EIE) or bitmask sets only the
index bytes), custom. See each kind's module for its spec keys and defaults, and
``initialization.py`` for the weight init schemes.

- :func:`plan_layer` validates a spec and sizes the stages without weights (cheap);
- :func:`build_layer` adds seeded weights and returns a :class:`Layer` with forward, backward,
  ``dense()`` and ``path_counts()``.
"""

from closim.topology.layer import Layer
from closim.topology.permutation import Permutation
from closim.topology.plan import LayerPlan, StagePlan
from closim.topology.registry import KINDS, build_layer, plan_layer
from closim.topology.stage import SparseStage, Stage

__all__ = [
    "KINDS",
    "Layer",
    "LayerPlan",
    "Permutation",
    "SparseStage",
    "Stage",
    "StagePlan",
    "build_layer",
    "plan_layer",
]

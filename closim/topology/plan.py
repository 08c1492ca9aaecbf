"""Shapes of a layer without its weights: what the config loader validates and the mapper lowers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from closim.topology.permutation import Permutation


@dataclass(frozen=True)
class StagePlan:
    """One block-diagonal stage: ``blocks`` dense blocks of ``(block_in, block_out)`` weights.

    Block ``b`` reads input columns ``b*block_in:(b+1)*block_in`` and writes output columns
    ``b*block_out:(b+1)*block_out``; ``perm_out`` (if any) then permutes the stage's outputs before
    the next stage reads them. ``sparse`` is True only for an unstructured layer: one dense-shaped
    ``(block_in, block_out)`` matrix of which only ``nnz`` entries are stored, with ``index_bytes``
    of index arrays. Every other stage has ``nnz = blocks * block_in * block_out`` and no index.
    """

    name: str
    blocks: int
    block_in: int
    block_out: int
    perm_out: Permutation | None
    sparse: bool
    nnz: int
    index_bytes: int

    def __post_init__(self) -> None:
        if min(self.blocks, self.block_in, self.block_out) < 1:
            raise ValueError(f"stage {self.name}: blocks and block sizes must be positive")
        if self.sparse:
            if self.blocks != 1 or not 0 < self.nnz <= self.block_in * self.block_out:
                raise ValueError(f"sparse stage {self.name}: one block with 0 < nnz <= in*out")
        elif self.nnz != self.blocks * self.block_in * self.block_out or self.index_bytes:
            raise ValueError(f"stage {self.name}: a block stage stores all its weights, no indices")
        if self.perm_out is not None and self.perm_out.size != self.out_features:
            raise ValueError(
                f"stage {self.name}: perm_out must permute {self.out_features} features"
            )

    @property
    def in_features(self) -> int:
        """Width of the stage's input (features)."""
        return self.blocks * self.block_in

    @property
    def out_features(self) -> int:
        """Width of the stage's output (features)."""
        return self.blocks * self.block_out


def block_stage(
    name: str, blocks: int, block_in: int, block_out: int, perm_out: Permutation | None = None
) -> StagePlan:
    """A dense-block stage: stores every weight of its blocks and no index."""
    return StagePlan(
        name=name,
        blocks=blocks,
        block_in=block_in,
        block_out=block_out,
        perm_out=perm_out,
        sparse=False,
        nnz=blocks * block_in * block_out,
        index_bytes=0,
    )


@dataclass(frozen=True)
class LayerPlan:
    """A validated layer topology: its normalized ``spec`` and the shapes of its stages.

    The layer is linear: there is no nonlinearity between stages (one activation, if any, follows
    the whole layer in the workload).
    """

    kind: str
    spec: dict[str, Any]
    in_features: int
    out_features: int
    stages: tuple[StagePlan, ...]

    @property
    def num_params(self) -> int:
        """Stored weights (elements), summed over stages."""
        return sum(s.nnz for s in self.stages)

    @property
    def index_bytes(self) -> int:
        """Bytes of index arrays stored next to the weights (0 for every structured topology)."""
        return sum(s.index_bytes for s in self.stages)

    def weight_bytes(self, bytes_per_element: int) -> int:
        """Bytes of stored weight values at ``bytes_per_element`` bytes each (indices excluded)."""
        return self.num_params * bytes_per_element

    def macs(self, batch: int) -> int:
        """Useful multiply-accumulates of one forward pass over ``batch`` samples.

        Every stored weight is used once per sample, so this is ``batch * num_params``; for an
        unstructured layer that is ``batch * nnz`` (the zeros a dense-array mapping would also
        multiply are the mapper's business, not counted here).
        """
        return batch * self.num_params

"""``unstructured``: a seeded random mask stored with its index arrays (pruning baseline).

Exactly one of ``density`` (0 < d <= 1; ``nnz = round(d * in * out)``, at least 1), ``nnz`` (exact
count) or ``like`` (another topology spec: as many stored weights as its ``num_params``) sets the
count; ``seed`` (default 0) seeds the mask, independently of ``build_layer``'s weight seed.

``format`` (default ``csr``) sets how the mask is *stored*, i.e. ``index_bytes``; the layer math,
the mask, the weights and ``nnz`` are the same for every format (docs/references.md §23). The
matrix is ``(in_features, out_features)``; a row is one input feature, so a row is what EIE calls a
column (it stores ``W`` as ``out x in`` in CSC). Pointer width ``p``: 4 bytes while the array it
points into has fewer than ``2**31`` entries, else 8.

- ``csr``: one column index per non-zero and ``in_features + 1`` row pointers,
  ``index_bytes = nnz * c + (in_features + 1) * p``; ``c`` is the narrowest unsigned width that
  holds every column index: 2 bytes (uint16) while ``out_features <= 65,536``, 4 while
  ``out_features <= 2**32``, else 8.
- ``relative`` (EIE, Han et al., ISCA 2016): each stored entry carries a 4-bit count of the zeros
  between it and the previous stored entry of its row (for the first, the zeros from column 0).
  A run of ``g`` zeros longer than 15 is bridged by padding entries, a stored zero weight with
  index 15 after every 15 zeros, so a run of ``g`` zeros before a non-zero costs ``g // 16``
  padding entries (EIE's example: 18 zeros -> one padding entry, then index 2). Zeros after a
  row's last non-zero cost nothing (the row pointer ends the row). The padding depends on the
  actual mask, so it is counted from the seeded mask (:func:`mask_positions`, the same helper
  :func:`build_stage` uses). ``nnz`` stays the real non-zero count (the layer's weights, MACs and
  training are unchanged); the padding zeros' *values* are charged to ``index_bytes`` at
  :data:`PADDING_VALUE_BYTES` each. ``index_bytes = ceil((nnz + padding) * 4 / 8)
  + (in_features + 1) * p + padding * PADDING_VALUE_BYTES``, ``p`` for ``nnz + padding`` entries.
  One stream per row: EIE splits each column over its PEs, which lengthens the gaps; closim
  encodes a row as one PE would (assumed).
- ``bitmask``: one bit per dense position, ``ceil(in_features * out_features / 8)`` bytes, plus
  ``in_features + 1`` row pointers into the packed values (so a row's values are found without
  counting the bits of every row before it; SparTen-style formats keep one pointer per chunk,
  here a chunk is a row): ``index_bytes = ceil(in * out / 8) + (in_features + 1) * p``.

Only the *stored* byte count depends on ``format``: the arrays the layer executes on are SciPy
CSR with int32 (int64 from ``2**31`` non-zeros) ``indices`` and ``indptr`` for every format.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from closim.topology.plan import LayerPlan, StagePlan
from closim.topology.spec_reader import SpecReader
from closim.topology.stage import SparseStage

NAME = "unstructured"
KEYS = ("density", "nnz", "like", "seed", "format")
FORMATS = ("csr", "relative", "bitmask")
DEFAULT_FORMAT = "csr"
_COUNT_KEYS = ("density", "nnz", "like")

RELATIVE_INDEX_BITS = 4  # EIE's relative index
RELATIVE_MAX_RUN = 2**RELATIVE_INDEX_BITS - 1  # 15: the most zeros one index can skip
# A padding entry's stored zero value, charged to index_bytes (the plan does not know the hardware's
# weight width): 2 bytes, the widest ``widths.weights_bytes`` of the bundled hw_configs (bf16 /
# 16-bit); an int8 config is overcharged 1 byte per padding entry (docs/references.md §23).
PADDING_VALUE_BYTES = 2


def index_width(nnz: int) -> int:
    """Bytes per *executed* index (SciPy's ``indices``, ``indptr``): 4 below 2**31, else 8."""
    return 4 if nnz < 2**31 else 8


def pointer_width(entries: int) -> int:
    """Bytes per stored row pointer into an array of ``entries``: 4 while it fits int32, else 8."""
    return 4 if entries < 2**31 else 8


def column_width(out_features: int) -> int:
    """Bytes per stored CSR column index: the narrowest unsigned width holding every index."""
    if out_features <= 2**16:
        return 2
    return 4 if out_features <= 2**32 else 8


@dataclass(frozen=True)
class IndexStorage:
    """The stored index arrays of one unstructured stage, by part; ``index_bytes`` is their sum.

    ``padding`` is the number of EIE padding entries (``relative`` only, else 0); their values are
    ``padding_value_bytes``. ``entry_index_bytes`` holds the per-entry indices (column indices,
    4-bit relative indices, or the bitmask), ``pointer_bytes`` the ``in_features + 1`` row pointers.
    """

    format: str
    nnz: int
    padding: int
    entry_index_bytes: int
    pointer_bytes: int
    padding_value_bytes: int

    @property
    def index_bytes(self) -> int:
        """Bytes of everything stored beside the ``nnz`` weight values."""
        return self.entry_index_bytes + self.pointer_bytes + self.padding_value_bytes


def mask_positions(rows: int, cols: int, nnz: int, seed: int) -> np.ndarray:
    """The mask: ``nnz`` distinct flat positions ``row * cols + col``, ascending (CSR order).

    The one place the mask is drawn: :func:`build_stage` and the ``relative`` padding count both
    read it from here, so they cannot diverge.
    """
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows * cols, size=nnz, replace=False))


def padding_entries(flat: np.ndarray, cols: int) -> int:
    """EIE padding entries of the mask ``flat`` (ascending flat positions, ``cols`` per row).

    Before each non-zero, ``g`` zeros since the previous non-zero of its row (or column 0) need
    ``g // 16`` padding entries: one after every 15 zeros, itself taking the 16th position.
    """
    if flat.size == 0:
        return 0
    flat = np.asarray(flat, dtype=np.int64)
    row, col = flat // cols, flat % cols
    prev = np.empty_like(col)
    prev[0] = -1
    prev[1:] = np.where(row[1:] == row[:-1], col[:-1], -1)
    zeros = col - prev - 1
    return int((zeros // (RELATIVE_MAX_RUN + 1)).sum())


@functools.lru_cache(maxsize=64)
def _relative_padding(rows: int, cols: int, nnz: int, seed: int) -> int:
    # cached: a layer is planned many times (config load, lowering, mapping) and this draws the mask
    return padding_entries(mask_positions(rows, cols, nnz, seed), cols)


def index_storage(fmt: str, rows: int, cols: int, nnz: int, seed: int) -> IndexStorage:
    """The stored index arrays of a ``rows x cols`` mask of ``nnz`` non-zeros in format ``fmt``."""
    if fmt == "csr":
        entry, pointers, padding = nnz * column_width(cols), (rows + 1) * pointer_width(nnz), 0
    elif fmt == "relative":
        padding = _relative_padding(rows, cols, nnz, seed)
        entries = nnz + padding
        entry = -(-entries * RELATIVE_INDEX_BITS // 8)
        pointers = (rows + 1) * pointer_width(entries)
    elif fmt == "bitmask":
        entry, pointers, padding = -(-rows * cols // 8), (rows + 1) * pointer_width(nnz), 0
    else:
        raise ValueError(f"unknown unstructured format {fmt!r} (formats: {', '.join(FORMATS)})")
    return IndexStorage(fmt, nnz, padding, entry, pointers, padding * PADDING_VALUE_BYTES)


def layer_index_storage(layer: LayerPlan) -> IndexStorage:
    """:func:`index_storage` of a planned unstructured layer (its one stage)."""
    if layer.kind != NAME:
        raise ValueError(f"index_storage needs an unstructured layer (got {layer.kind!r})")
    stage = layer.stages[0]
    fmt = layer.spec.get("format", DEFAULT_FORMAT)
    return index_storage(fmt, stage.block_in, stage.block_out, stage.nnz, layer.spec["seed"])


def plan(
    reader: SpecReader, in_features: int, out_features: int
) -> tuple[dict[str, Any], tuple[StagePlan, ...]]:
    """Validate the count key, ``seed`` and ``format`` and size the stage."""
    given = [k for k in _COUNT_KEYS if reader.has(k)]
    if len(given) != 1:
        key = given[1] if len(given) > 1 else "density"
        raise reader.fail(
            key,
            "unstructured needs exactly one of density, nnz or like "
            f"(given: {', '.join(given) or 'none'})",
            given,
        )
    total = in_features * out_features
    key = given[0]
    value = reader.raw[key]
    params: dict[str, Any] = {}
    if key == "density":
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
            raise reader.fail("density", "density must be a number with 0 < density <= 1", value)
        nnz = max(1, round(float(value) * total))
        params["density"] = float(value)
    elif key == "nnz":
        nnz = reader.positive_int("nnz")
        if nnz > total:
            raise reader.fail(
                "nnz",
                f"nnz={nnz} must be at most in_features*out_features={total} "
                f"(valid nnz: 1 to {total})",
                nnz,
            )
        params["nnz"] = nnz
    else:
        # imported here: the registry imports this module, and `like` plans another spec through it
        from closim.topology.registry import plan_spec

        like = plan_spec(value, in_features, out_features, prefix=reader.path("like"))
        nnz = like.num_params
        if nnz > total:
            raise reader.fail(
                "like",
                f"like has {nnz} weights, more than in_features*out_features={total}",
                like.spec,
            )
        params["like"] = like.spec
    params["seed"] = reader.non_negative_int("seed", 0)
    fmt = reader.choice("format", FORMATS, DEFAULT_FORMAT)
    if fmt != DEFAULT_FORMAT:  # like init: the default is left out of the normalized spec
        params["format"] = fmt
    storage = index_storage(fmt, in_features, out_features, nnz, params["seed"])
    stage = StagePlan(
        name="csr",
        blocks=1,
        block_in=in_features,
        block_out=out_features,
        perm_out=None,
        sparse=True,
        nnz=nnz,
        index_bytes=storage.index_bytes,
    )
    return params, (stage,)


def build_stage(layer: LayerPlan, stage: StagePlan, values: np.ndarray) -> SparseStage:
    """The stage with its seeded mask (``layer.spec['seed']``) and the given ``values``.

    Whatever the stored ``format``, the executed arrays are SciPy CSR ones (int32 or int64).
    """
    rows, cols = stage.block_in, stage.block_out
    index_dtype = np.int32 if index_width(stage.nnz) == 4 else np.int64
    flat = mask_positions(rows, cols, stage.nnz, layer.spec["seed"])
    indices = (flat % cols).astype(index_dtype)
    indptr = np.zeros(rows + 1, dtype=index_dtype)
    np.cumsum(np.bincount(flat // cols, minlength=rows), out=indptr[1:])
    return SparseStage(stage, indptr, indices, values)

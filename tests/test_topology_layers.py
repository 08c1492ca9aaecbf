"""Layer math of every topology kind, checked against matrices built independently in the test.

The reference for a layer is the product, stage by stage, of its block-diagonal weight matrix
(``scipy.linalg.block_diag``) and its permutation matrix (from ``Permutation.indices``, itself
checked element by element in test_topology_permutation.py). Path counts are checked against the
same product of 0/1 masks; weight gradients against central finite differences and against the
analytic gradient of the reference product.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from closim.topology import Layer, Stage, build_layer, plan_layer
from closim.topology.unstructured import (
    FORMATS,
    PADDING_VALUE_BYTES,
    layer_index_storage,
    padding_entries,
)

# (spec, in_features, out_features): every kind, square and rectangular
CASES = [
    ("dense", 6, 4),
    ("dense", 5, 5),
    ({"kind": "clos", "r": 4, "m": 3}, 8, 12),
    ({"kind": "clos", "r": 3, "m": 5}, 9, 6),
    ("clos", 16, 16),
    ({"kind": "monarch"}, 16, 16),
    ({"kind": "monarch", "blocks": 2}, 8, 12),
    ({"kind": "monarch", "blocks": 3}, 9, 6),
    ({"kind": "butterfly"}, 16, 16),
    ({"kind": "butterfly", "radix": 3}, 27, 27),
    ({"kind": "butterfly", "radix": 4}, 16, 16),
    ({"kind": "block_diagonal", "blocks": 3}, 6, 9),
    ({"kind": "block_diagonal", "blocks": 4, "shuffle": True}, 8, 8),
    ({"kind": "low_rank", "rank": 2}, 7, 5),
    ({"kind": "unstructured", "density": 0.3}, 8, 6),
    ({"kind": "unstructured", "nnz": 17}, 5, 9),
    ({"kind": "unstructured", "like": {"kind": "clos", "r": 2, "m": 2}}, 8, 8),
    ({"kind": "unstructured", "density": 0.3, "format": "relative"}, 8, 6),
    ({"kind": "unstructured", "density": 0.3, "format": "bitmask"}, 6, 8),
    (
        {
            "kind": "custom",
            "stages": [
                {"blocks": 2, "block_in": 3, "block_out": 4, "shuffle": [2, 4]},
                {"blocks": 4, "block_in": 2, "block_out": 3},
                {
                    "blocks": 3,
                    "block_in": 4,
                    "block_out": 2,
                    "shuffle": {"shape": [3, 2], "axes": [1, 0]},
                },
            ],
        },
        6,
        6,
    ),
]
IDS = [f"{s if isinstance(s, str) else s['kind']}-{i}x{o}-{n}" for n, (s, i, o) in enumerate(CASES)]


def stage_matrix(stage: Stage, ones: bool = False) -> np.ndarray:
    """The stage's (in, out) matrix (before its permutation), or its 0/1 mask."""
    if stage.sparse:
        dtype = np.int64 if ones else stage.weights.dtype
        mat = np.zeros((stage.block_in, stage.block_out), dtype=dtype)
        rows = np.repeat(np.arange(stage.block_in), np.diff(stage.indptr))
        mat[rows, stage.indices] = 1 if ones else stage.weights
        return mat
    blocks = np.ones(stage.weights.shape, dtype=np.int64) if ones else stage.weights
    return scipy.linalg.block_diag(*blocks)


def perm_matrix(stage: Stage) -> np.ndarray | None:
    """P with perm_out.apply(v) == v @ P, or None."""
    if stage.perm_out is None:
        return None
    idx = stage.perm_out.indices()
    p = np.zeros((idx.size, idx.size), dtype=np.int64)
    p[idx, np.arange(idx.size)] = 1
    return p


def reference_factors(layer: Layer, ones: bool = False) -> list[np.ndarray]:
    """The layer as a list of matrices: stage, permutation, stage, ... (in order)."""
    factors = []
    for stage in layer.stages:
        factors.append(stage_matrix(stage, ones))
        p = perm_matrix(stage)
        if p is not None:
            factors.append(p)
    return factors


def chain(factors: list[np.ndarray], width: int, dtype: type = np.float64) -> np.ndarray:
    out = np.eye(width, dtype=dtype)
    for f in factors:
        out = out @ f
    return out


def reference_dense(layer: Layer) -> np.ndarray:
    return chain([f.astype(np.float64) for f in reference_factors(layer)], layer.in_features)


def reference_paths(layer: Layer) -> np.ndarray:
    return chain(reference_factors(layer, ones=True), layer.in_features, np.int64)


def tolerance(dtype: type) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize(("spec", "n_in", "n_out"), CASES, ids=IDS)
def test_forward_backward_dense_match_reference(
    spec: object, n_in: int, n_out: int, batch: int, dtype: type
) -> None:
    layer = build_layer(spec, n_in, n_out, seed=3, dtype=dtype)
    ref = reference_dense(layer)
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, n_in)).astype(dtype)
    g = rng.standard_normal((batch, n_out)).astype(dtype)
    y = layer.forward(x)
    assert y.dtype == dtype and y.shape == (batch, n_out)
    np.testing.assert_allclose(y, x @ ref, **tolerance(dtype))
    np.testing.assert_allclose(layer.dense(), ref, **tolerance(dtype))
    grad_x = layer.backward(g)
    assert grad_x.dtype == dtype
    np.testing.assert_allclose(grad_x, g @ ref.T, **tolerance(dtype))
    assert [gr.shape for gr in layer.grads] == [s.weights.shape for s in layer.stages]
    assert all(
        gr.dtype == dtype and s.weights.dtype == dtype
        for gr, s in zip(layer.grads, layer.stages, strict=True)
    )


def analytic_weight_grads(layer: Layer, x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    """dL/dW for L = sum(g * (x @ W_eff)), from the reference factors, restricted to each stage's
    stored weights: for stage matrix B with A before and C after, dL/dB = (x A)^T (g C^T)."""
    factors = [f.astype(np.float64) for f in reference_factors(layer)]
    grads, position = [], 0
    for stage in layer.stages:
        before = chain(factors[:position], layer.in_features)
        after = chain(factors[position + 1 :], factors[position].shape[1])
        full = (x @ before).T @ (g @ after.T)
        if stage.sparse:
            rows = np.repeat(np.arange(stage.block_in), np.diff(stage.indptr))
            grads.append(full[rows, stage.indices])
        else:
            bi, bo = stage.block_in, stage.block_out
            grads.append(
                np.stack(
                    [
                        full[b * bi : (b + 1) * bi, b * bo : (b + 1) * bo]
                        for b in range(stage.blocks)
                    ]
                )
            )
        position += 2 if stage.perm_out is not None else 1
    return grads


@pytest.mark.parametrize(("spec", "n_in", "n_out"), CASES, ids=IDS)
def test_weight_gradients_match_finite_differences(spec: object, n_in: int, n_out: int) -> None:
    layer = build_layer(spec, n_in, n_out, seed=5)
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((3, n_in)), rng.standard_normal((3, n_out))
    layer.forward(x)
    layer.backward(g)
    for stage, grad, analytic in zip(
        layer.stages, layer.grads, analytic_weight_grads(layer, x, g), strict=True
    ):
        np.testing.assert_allclose(grad, analytic, rtol=1e-10, atol=1e-10)
        weights = stage.weights.copy()
        numeric = np.empty_like(weights)
        eps = 1e-6
        for index in np.ndindex(weights.shape):
            w = weights.copy()
            w[index] += eps
            stage.weights = w
            plus = np.sum(g * layer.forward(x))
            w[index] -= 2 * eps
            stage.weights = w
            numeric[index] = (plus - np.sum(g * layer.forward(x))) / (2 * eps)
        stage.weights = weights
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("spec", "n_in", "n_out"), CASES, ids=IDS)
def test_path_counts_and_params_match_stage_masks(spec: object, n_in: int, n_out: int) -> None:
    layer = build_layer(spec, n_in, n_out)
    counts = layer.path_counts()
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, reference_paths(layer))
    assert layer.path_count_range() == (counts.min(), counts.max())
    mask_nnz = sum(int(np.count_nonzero(stage_matrix(s, ones=True))) for s in layer.stages)
    assert layer.num_params == mask_nnz == layer.plan.num_params
    # with random weights, the dense matrix is nonzero exactly where some path exists
    np.testing.assert_array_equal(layer.dense() != 0, counts > 0)


@pytest.mark.parametrize(
    ("r", "m", "n_in", "n_out"),
    [(4, 4, 4, 4), (2, 3, 4, 5), (8, 2, 1, 3), (1, 3, 5, 2), (3, 7, 2, 2)],
)
def test_clos_params_closed_form_and_m_paths(r: int, m: int, n_in: int, n_out: int) -> None:
    layer = build_layer({"kind": "clos", "r": r, "m": m}, r * n_in, r * n_out)
    assert layer.num_params == r * m * n_in + m * r**2 + r * m * n_out
    assert np.all(layer.path_counts() == m)


def test_clos_square_example_from_design() -> None:
    plan = plan_layer({"kind": "clos", "r": 32, "m": 32}, 1024, 1024)
    assert plan.num_params == 98_304 == 3 * 1024**1.5
    assert plan_layer("dense", 1024, 1024).num_params == 1_048_576


@pytest.mark.parametrize(
    ("spec", "n"),
    [
        ({"kind": "monarch"}, 16),
        ({"kind": "monarch"}, 64),
        ({"kind": "monarch", "blocks": 2}, 32),
        ({"kind": "butterfly"}, 32),
        ({"kind": "butterfly", "radix": 3}, 9),
        ({"kind": "butterfly", "radix": 4}, 64),
    ],
)
def test_monarch_and_butterfly_have_exactly_one_path(spec: dict, n: int) -> None:
    assert np.all(build_layer(spec, n, n).path_counts() == 1)


def test_rectangular_monarch_has_one_path() -> None:
    assert np.all(build_layer({"kind": "monarch", "blocks": 2}, 8, 12).path_counts() == 1)


def test_butterfly_stage_shapes() -> None:
    plan = plan_layer({"kind": "butterfly", "radix": 2}, 1024, 1024)
    assert len(plan.stages) == 10
    assert all((s.blocks, s.block_in, s.block_out) == (512, 2, 2) for s in plan.stages)
    # stride permutation S(N/k, k) between stages: the next base-k digit becomes the block offset
    assert [s.perm_out.shape if s.perm_out else None for s in plan.stages] == [(512, 2)] * 9 + [
        None
    ]
    assert plan.num_params == 10 * 1024 * 2


@pytest.mark.parametrize("shuffle", [False, True])
def test_block_diagonal_is_not_fully_connected(shuffle: bool) -> None:
    layer = build_layer({"kind": "block_diagonal", "blocks": 4, "shuffle": shuffle}, 8, 12)
    counts = layer.path_counts()
    assert counts.min() == 0 and counts.max() == 1
    assert counts.sum() == 4 * 2 * 3  # each input reaches its own block's 3 outputs
    if not shuffle:
        np.testing.assert_array_equal(counts, np.kron(np.eye(4, dtype=np.int64), np.ones((2, 3))))


def test_low_rank_paths_equal_rank() -> None:
    layer = build_layer({"kind": "low_rank", "rank": 3}, 10, 7)
    assert layer.num_params == 3 * (10 + 7)
    assert np.all(layer.path_counts() == 3)


def test_index_bytes() -> None:
    for spec, n_in, n_out in CASES:
        plan = plan_layer(spec, n_in, n_out)
        if plan.kind != "unstructured":
            assert plan.index_bytes == 0, spec
    layer = build_layer({"kind": "unstructured", "density": 0.25}, 40, 30)
    stage = layer.stages[0]
    assert layer.num_params == 300 == stage.weights.size == stage.indices.size
    # Stored CSR (the default format): 30 columns fit uint16, so 2 bytes per column index, and
    # 41 int32 row pointers. The executed SciPy arrays stay int32 (4 bytes each), so they are no
    # longer the stored count: indices.nbytes is twice what the stored uint16 indices take.
    assert stage.indices.dtype == np.int32 and stage.indptr.dtype == np.int32
    assert stage.indices.max() < 2**16
    stored = stage.indices.size * np.dtype(np.uint16).itemsize + stage.indptr.nbytes
    assert layer.index_bytes == stored == 300 * 2 + 41 * 4 >= layer.num_params * 2


# --------------------------------------------- unstructured index formats against brute force


def rows_of(layer: Layer) -> list[np.ndarray]:
    """The column indices of every row, read from the built CSR arrays."""
    stage = layer.stages[0]
    ptr = stage.indptr
    return [stage.indices[ptr[i] : ptr[i + 1]] for i in range(stage.block_in)]


def eie_encode(row_mask: np.ndarray) -> list[tuple[bool, int]]:
    """EIE's relative encoding of one row, literally: (is_real_entry, zeros_before) per entry.

    Walk the dense row; a run reaching 16 zeros is cut by a padding entry (a stored zero with
    index 15) taking the 16th zero's position; padding after the row's last non-zero is dropped.
    """
    out: list[tuple[bool, int]] = []
    zeros = 0
    for nonzero in row_mask:
        if nonzero:
            out.append((True, zeros))
            zeros = 0
        elif zeros == 15:
            out.append((False, 15))
            zeros = 0
        else:
            zeros += 1
    while out and not out[-1][0]:
        out.pop()
    return out


def eie_decode(entries: list[tuple[bool, int]]) -> list[int]:
    """Positions of the real entries of an encoded row (the check that the encoding is right)."""
    pos, real = -1, []
    for is_real, zeros in entries:
        assert 0 <= zeros <= 15
        pos += zeros + 1
        if is_real:
            real.append(pos)
    return real


def test_eie_encoder_reproduces_the_papers_example() -> None:
    """Han et al., ISCA 2016: [0,0,1,2, 18 zeros, 3] -> v = [1, 2, 0, 3], z = [2, 0, 15, 2]."""
    row = np.array([0, 0, 1, 2] + [0] * 18 + [3]) != 0
    encoded = eie_encode(row)
    assert [z for _, z in encoded] == [2, 0, 15, 2]
    assert [real for real, _ in encoded] == [True, True, False, True]
    assert eie_decode(encoded) == [2, 3, 22]
    assert padding_entries(np.flatnonzero(row), row.size) == 1


@pytest.mark.parametrize(("gap", "padding"), [(0, 0), (15, 0), (16, 1), (17, 1), (31, 1), (32, 2)])
def test_relative_padding_at_the_run_boundaries(gap: int, padding: int) -> None:
    # one row: a non-zero after `gap` zeros, then (gap) zeros more at the end, which cost nothing
    flat = np.array([gap])
    row = np.zeros(2 * gap + 1, dtype=bool)
    row[gap] = True
    assert padding_entries(flat, row.size) == padding
    assert sum(not real for real, _ in eie_encode(row)) == padding
    # the same run between two non-zeros of a row, and again in the next row (from column 0)
    cols = gap + 2
    flat = np.array([0, gap + 1, cols + gap])
    assert padding_entries(flat, cols) == 2 * padding


# (spec without format, in, out): densities from very sparse (long runs, several paddings per gap)
# to dense, square and rectangular, with empty rows
FORMAT_CASES = [
    ({"density": 0.3, "seed": 1}, 8, 6),
    ({"density": 0.02, "seed": 2}, 30, 200),
    ({"density": 0.005, "seed": 3}, 40, 700),
    ({"nnz": 3, "seed": 4}, 12, 100),
    ({"like": {"kind": "clos", "r": 8, "m": 8}, "seed": 5}, 64, 64),
    ({"density": 1.0}, 5, 9),
]


@pytest.mark.parametrize(("count", "n_in", "n_out"), FORMAT_CASES)
def test_index_bytes_of_every_format_match_a_brute_force_count(
    count: dict, n_in: int, n_out: int
) -> None:
    base = {"kind": "unstructured", **count}
    layers = {f: build_layer({**base, "format": f}, n_in, n_out) for f in FORMATS}
    rows = rows_of(layers["csr"])
    nnz = sum(r.size for r in rows)
    assert all(layer.num_params == nnz for layer in layers.values())
    mask = np.zeros((n_in, n_out), dtype=bool)
    for i, cols in enumerate(rows):
        mask[i, cols] = True
    assert np.array_equal(mask, layers["csr"].dense() != 0)
    pointers = (n_in + 1) * 4  # int32 row pointers: every case has far fewer than 2**31 entries

    # csr: the narrowest unsigned integer holding the largest possible column index
    col_bytes = next(w for w in (2, 4, 8) if n_out - 1 < 2 ** (8 * w))
    assert layers["csr"].index_bytes == nnz * col_bytes + pointers

    # relative: encode every row of the actual mask, entry by entry, and decode it back
    padding = 0
    for i, cols in enumerate(rows):
        encoded = eie_encode(mask[i])
        assert eie_decode(encoded) == cols.tolist()
        padding += sum(not real for real, _ in encoded)
    entries = nnz + padding
    expected = -(-entries * 4 // 8) + pointers + padding * PADDING_VALUE_BYTES
    assert layers["relative"].index_bytes == expected
    assert layer_index_storage(layers["relative"].plan).padding == padding

    # bitmask: the packed mask itself, plus the row pointers
    assert np.packbits(mask.ravel()).nbytes == -(-n_in * n_out // 8)
    assert layers["bitmask"].index_bytes == np.packbits(mask.ravel()).nbytes + pointers


def test_relative_padding_follows_the_mask_seed() -> None:
    """The padding is counted from the seeded mask: another seed gives another count."""
    spec = {"kind": "unstructured", "density": 0.02, "format": "relative"}
    counts = {
        seed: layer_index_storage(plan_layer({**spec, "seed": seed}, 64, 400)).padding
        for seed in range(4)
    }
    assert len(set(counts.values())) > 1, counts


@pytest.mark.parametrize(("n_out", "col_bytes"), [(65_536, 2), (65_537, 4)])
def test_csr_column_index_width_boundary(n_out: int, col_bytes: int) -> None:
    # uint16 holds column indices 0..65,535: enough for 65,536 columns, not for 65,537 (plan only)
    plan = plan_layer({"kind": "unstructured", "nnz": 10}, 3, n_out)
    assert plan.index_bytes == 10 * col_bytes + 4 * 4


@pytest.mark.parametrize(("nnz", "ptr_bytes"), [(2**31 - 1, 4), (2**31, 8)])
def test_row_pointer_width_boundary(nnz: int, ptr_bytes: int) -> None:
    # a row pointer holds a count up to nnz: int32 up to 2**31 - 1 (plan only, nothing built)
    rows = cols = 2**16
    csr = plan_layer({"kind": "unstructured", "nnz": nnz}, rows, cols)
    assert csr.index_bytes == nnz * 2 + (rows + 1) * ptr_bytes
    bitmask = plan_layer({"kind": "unstructured", "nnz": nnz, "format": "bitmask"}, rows, cols)
    assert bitmask.index_bytes == rows * cols // 8 + (rows + 1) * ptr_bytes


@pytest.mark.parametrize(("n_in", "n_out"), [(5, 9), (8, 8), (1, 1), (3, 7), (1000, 1000)])
def test_bitmask_closed_form(n_in: int, n_out: int) -> None:
    # one bit per dense position, whatever the count, rounded up to whole bytes; 4-byte pointers
    for count in ({"nnz": 1}, {"density": 1.0}):
        plan = plan_layer({"kind": "unstructured", "format": "bitmask", **count}, n_in, n_out)
        bits = n_in * n_out
        assert plan.index_bytes == (bits + 7) // 8 + (n_in + 1) * 4


def test_layer_math_is_the_same_for_every_format() -> None:
    spec = {"kind": "unstructured", "density": 0.1, "seed": 3}
    x = np.random.default_rng(0).standard_normal((5, 50))
    g = np.random.default_rng(1).standard_normal((5, 40))
    results = []
    for fmt in FORMATS:
        layer = build_layer({**spec, "format": fmt}, 50, 40, seed=9)
        stage = layer.stages[0]
        y = layer.forward(x).copy()
        dx = layer.backward(g).copy()
        results.append((y, dx, layer.dense(), stage.weights, stage.indices, stage.indptr))
        assert layer.plan.macs(5) == 5 * 200 and stage.indices.dtype == np.int32
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)
    sizes = {f: plan_layer({**spec, "format": f}, 50, 40).index_bytes for f in FORMATS}
    assert len(set(sizes.values())) == 3, sizes  # only the stored byte count differs


def test_unstructured_like_copies_the_nonzero_count() -> None:
    for like, n in [
        ({"kind": "clos", "r": 4, "m": 4}, 16),
        ({"kind": "monarch"}, 64),
        ("butterfly", 32),
    ]:
        target = plan_layer(like, n, n).num_params
        layer = build_layer({"kind": "unstructured", "like": like}, n, n)
        assert layer.num_params == target == int(np.count_nonzero(layer.dense()))
        assert layer.path_counts().sum() == target


def test_unstructured_mask_seed_is_independent_of_weight_seed() -> None:
    spec = {"kind": "unstructured", "density": 0.2, "seed": 7}
    a, b = build_layer(spec, 20, 20, seed=0), build_layer(spec, 20, 20, seed=1)
    np.testing.assert_array_equal(a.path_counts(), b.path_counts())
    assert not np.array_equal(a.stages[0].weights, b.stages[0].weights)
    other = build_layer({**spec, "seed": 8}, 20, 20)
    assert not np.array_equal(a.path_counts(), other.path_counts())


def test_weight_gradient_ignores_unstored_entries() -> None:
    layer = build_layer({"kind": "unstructured", "nnz": 5}, 6, 4)
    x, g = np.ones((2, 6)), np.ones((2, 4))
    layer.forward(x)
    layer.backward(g)
    assert layer.grads[0].shape == (5,)
    np.testing.assert_allclose(layer.grads[0], 2.0)  # sum over batch of x_i * g_j = 2


def test_build_is_seeded_and_dtype_follows() -> None:
    a = build_layer("clos", 16, 16, seed=1, dtype=np.float32)
    b = build_layer("clos", 16, 16, seed=1, dtype=np.float32)
    c = build_layer("clos", 16, 16, seed=2, dtype=np.float32)
    assert all(s.weights.dtype == np.float32 for s in a.stages)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a.dense(), b.dense())
    assert not np.array_equal(a.dense(), c.dense())
    assert a.weight_bytes(4) == 4 * a.num_params
    assert a.macs(32) == 32 * a.num_params


@pytest.mark.parametrize(
    ("spec", "n_in", "n_out"),
    [
        ("dense", 256, 128),
        ({"kind": "clos", "r": 16, "m": 16}, 256, 256),
        ({"kind": "clos", "r": 8}, 128, 256),
        ({"kind": "monarch"}, 256, 256),
        ({"kind": "butterfly", "radix": 4}, 256, 256),
        ({"kind": "low_rank", "rank": 64}, 256, 256),
        ({"kind": "unstructured", "like": {"kind": "clos", "r": 16}}, 256, 256),
    ],
)
def test_default_init_keeps_dense_glorot_variance(spec: object, n_in: int, n_out: int) -> None:
    """The layer scales the signal variance as a dense Glorot layer does (2 * in / (in + out)), and
    where every pair has the same number of paths, the entries of dense() have the Glorot variance
    2 / (in + out). (low_rank entries are strongly correlated and unstructured ones are zero off
    the mask, so only their gain is checked.)"""
    glorot = 2.0 / (n_in + n_out)
    layer = build_layer(spec, n_in, n_out, seed=11)
    w = layer.dense()
    # the output variance for unit-variance inputs is the sum over inputs of W_ij^2, averaged
    gain = np.mean(np.sum(w**2, axis=0))
    assert gain == pytest.approx(n_in * glorot, rel=0.15)
    if layer.kind not in ("low_rank", "unstructured"):
        assert np.var(w) == pytest.approx(glorot, rel=0.15)


def test_init_schemes() -> None:
    ones = build_layer({"kind": "clos", "r": 2, "m": 3, "init": "ones"}, 4, 6)
    assert all(np.all(s.weights == 1) for s in ones.stages)
    np.testing.assert_array_equal(ones.dense(), ones.path_counts())
    block = build_layer({"kind": "clos", "r": 8, "m": 8, "init": "block_glorot"}, 64, 64, seed=0)
    for stage in block.stages:
        assert np.var(stage.weights) == pytest.approx(
            2 / (stage.block_in + stage.block_out), rel=0.1
        )


@pytest.mark.parametrize(("spec", "n_in", "n_out"), CASES, ids=IDS)
def test_stage_inputs_and_output_grads_follow_the_convention(
    spec: object, n_in: int, n_out: int
) -> None:
    """Block b of stage s reads stage_inputs[s][:, b*bi:(b+1)*bi]; perm_out of the block outputs
    feeds the next stage; the weight gradient is built from stage_output_grads."""
    layer = build_layer(spec, n_in, n_out, seed=2)
    rng = np.random.default_rng(4)
    x, g = rng.standard_normal((5, n_in)), rng.standard_normal((5, n_out))
    y = layer.forward(x)
    layer.backward(g)
    inputs, out_grads = layer.stage_inputs, layer.stage_output_grads
    np.testing.assert_array_equal(inputs[0], x)
    for s, stage in enumerate(layer.stages):
        assert inputs[s].shape == (5, stage.in_features)
        assert out_grads[s].shape == (5, stage.out_features)
        block_out = inputs[s] @ stage_matrix(stage)
        fed = block_out if stage.perm_out is None else stage.perm_out.apply(block_out)
        following = inputs[s + 1] if s + 1 < len(inputs) else y
        np.testing.assert_allclose(fed, following, rtol=1e-12, atol=1e-12)
        if not stage.sparse:
            bi, bo = stage.block_in, stage.block_out
            for b in range(stage.blocks):
                expected = (
                    inputs[s][:, b * bi : (b + 1) * bi].T @ out_grads[s][:, b * bo : (b + 1) * bo]
                )
                np.testing.assert_allclose(layer.grads[s][b], expected, rtol=1e-12, atol=1e-12)
    last = layer.stages[-1]
    expected_last = g if last.perm_out is None else last.perm_out.apply_inverse(g)
    np.testing.assert_array_equal(out_grads[-1], expected_last)


def test_repeated_calls_and_batch_changes_do_not_leak_state() -> None:
    layer = build_layer({"kind": "clos", "r": 4, "m": 4}, 16, 16, seed=0)
    ref = reference_dense(layer)
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((3, 16)), rng.standard_normal((8, 16))
    y1 = layer.forward(x1)
    kept_inputs = layer.stage_inputs
    y2 = layer.forward(x2)
    np.testing.assert_allclose(y1, x1 @ ref, rtol=1e-12)  # the first output was not overwritten
    np.testing.assert_allclose(
        kept_inputs[1], (x1 @ stage_matrix(layer.stages[0]))[:, layer.stages[0].perm_out.indices()]
    )
    g = rng.standard_normal((8, 16))
    np.testing.assert_allclose(layer.backward(g), g @ ref.T, rtol=1e-10)
    g1 = layer.grads
    layer.backward(2 * g)
    np.testing.assert_allclose(layer.grads[0], 2 * g1[0], rtol=1e-12)
    np.testing.assert_allclose(y2, x2 @ ref, rtol=1e-12)
    with pytest.raises(ValueError, match="rows"):
        layer.backward(np.zeros((3, 16)))
    with pytest.raises(ValueError, match="16"):
        layer.forward(np.zeros((3, 15)))


def test_backward_before_forward_is_an_error() -> None:
    layer = build_layer("dense", 3, 3)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((1, 3)))


def test_weights_are_settable_and_checked() -> None:
    layer = build_layer({"kind": "clos", "r": 2, "m": 2}, 4, 4, dtype=np.float32)
    stage = layer.stages[1]
    stage.weights = np.zeros(stage.weights.shape)
    assert stage.weights.dtype == np.float32
    np.testing.assert_array_equal(layer.dense(), 0)
    with pytest.raises(ValueError, match="shape"):
        stage.weights = np.zeros((1, 2, 2))


def test_large_plans_are_cheap() -> None:
    """plan_layer sizes a VGG fc6-sized layer without allocating weights."""
    for spec in ("dense", "clos", "monarch", {"kind": "unstructured", "like": "clos"}):
        plan = plan_layer(spec, 25088, 4096)
        assert plan.in_features == 25088 and plan.num_params > 0
    plan = plan_layer("clos", 25088, 4096)
    assert plan.spec == {"kind": "clos", "r": 128, "m": 196}
    assert plan.num_params == 128 * 196 * 196 + 196 * 128**2 + 128 * 196 * 32


# ---------------------------------------------------------------- property tests over valid specs


@st.composite
def valid_layers(draw: st.DrawFn) -> tuple[object, int, int]:
    """A random valid (spec, in_features, out_features) with small widths."""
    small = st.integers(1, 4)
    kind = draw(
        st.sampled_from(
            [
                "dense",
                "clos",
                "monarch",
                "butterfly",
                "block_diagonal",
                "low_rank",
                "unstructured",
                "custom",
            ]
        )
    )
    if kind == "dense":
        return "dense", draw(st.integers(1, 10)), draw(st.integers(1, 10))
    if kind == "clos":
        r, m, n_in, n_out = draw(small), draw(small), draw(small), draw(small)
        return {"kind": "clos", "r": r, "m": m}, r * n_in, r * n_out
    if kind == "monarch":
        b, p, q = draw(small), draw(small), draw(small)
        return {"kind": "monarch", "blocks": b}, b * p, p * q
    if kind == "butterfly":
        radix = draw(st.integers(2, 4))
        levels = draw(st.integers(1, 3 if radix < 4 else 2))
        return {"kind": "butterfly", "radix": radix}, radix**levels, radix**levels
    if kind == "block_diagonal":
        blocks, bi, bo = draw(small), draw(small), draw(small)
        return (
            {"kind": "block_diagonal", "blocks": blocks, "shuffle": draw(st.booleans())},
            blocks * bi,
            blocks * bo,
        )
    if kind == "low_rank":
        n_in, n_out = draw(st.integers(1, 8)), draw(st.integers(1, 8))
        return {"kind": "low_rank", "rank": draw(st.integers(1, min(n_in, n_out)))}, n_in, n_out
    if kind == "unstructured":
        n_in, n_out = draw(st.integers(1, 8)), draw(st.integers(1, 8))
        count = draw(
            st.one_of(
                st.builds(lambda d: {"density": d}, st.floats(0.01, 1.0)),
                st.builds(lambda n: {"nnz": n}, st.integers(1, n_in * n_out)),
            )
        )
        seed, fmt = draw(st.integers(0, 5)), draw(st.sampled_from(FORMATS))
        return {"kind": "unstructured", "seed": seed, "format": fmt, **count}, n_in, n_out
    # custom: a chain of 1 to 3 stages, each taking what the previous one gives
    blocks, block_in = draw(small), draw(small)
    n_in = width = blocks * block_in
    stages = []
    for _ in range(draw(st.integers(1, 3))):
        blocks = draw(st.sampled_from([d for d in range(1, 5) if width % d == 0]))
        block_out = draw(small)
        out = blocks * block_out
        divisors = [d for d in range(1, out + 1) if out % d == 0]
        a = draw(st.sampled_from(divisors))
        b = draw(st.sampled_from([d for d in divisors if (out // a) % d == 0]))
        shuffle = draw(
            st.sampled_from(
                [None, [a, out // a], {"shape": [a, b, out // (a * b)], "axes": [2, 0, 1]}]
            )
        )
        stages.append(
            {
                "blocks": blocks,
                "block_in": width // blocks,
                "block_out": block_out,
                "shuffle": shuffle,
            }
        )
        width = out
    return {"kind": "custom", "stages": stages}, n_in, width


@settings(max_examples=40, deadline=None)
@given(case=valid_layers(), batch=st.integers(1, 4), use_f32=st.booleans())
def test_property_layer_matches_reference(
    case: tuple[object, int, int], batch: int, use_f32: bool
) -> None:
    spec, n_in, n_out = case
    dtype = np.float32 if use_f32 else np.float64
    layer = build_layer(spec, n_in, n_out, seed=batch, dtype=dtype)
    ref = reference_dense(layer)
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((batch, n_in)), rng.standard_normal((batch, n_out))
    np.testing.assert_allclose(layer.forward(x), x @ ref, **tolerance(dtype))
    np.testing.assert_allclose(layer.backward(g), g @ ref.T, **tolerance(dtype))
    for grad, analytic in zip(
        layer.grads, analytic_weight_grads(layer, x.astype(dtype), g.astype(dtype)), strict=True
    ):
        np.testing.assert_allclose(grad, analytic, **tolerance(dtype))
    np.testing.assert_array_equal(layer.path_counts(), reference_paths(layer))
    assert layer.num_params == sum(
        int(np.count_nonzero(stage_matrix(s, ones=True))) for s in layer.stages
    )
    # the normalized spec plans the same layer again
    again = plan_layer(layer.plan.spec, n_in, n_out)
    assert again == layer.plan

"""Permutation: reshape-transpose semantics checked against an element-by-element definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closim.topology import Permutation


def reference_indices(shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    """idx with out[k] = v[idx[k]], written one element at a time from the definition."""
    out_shape = [shape[a] for a in axes]
    idx = np.empty(math.prod(shape), dtype=np.int64)
    for k in range(idx.size):
        out_pos = np.unravel_index(k, out_shape)
        src = [0] * len(shape)
        for t, a in enumerate(axes):
            src[a] = out_pos[t]
        idx[k] = np.ravel_multi_index(src, shape)
    return idx


@st.composite
def permutations(draw: st.DrawFn) -> Permutation:
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    axes = tuple(draw(st.permutations(range(len(shape)))))
    return Permutation(shape, axes)


def test_shuffle_is_the_design_formula() -> None:
    a, b = 3, 5
    v = np.arange(2 * a * b).reshape(2, a * b)
    expected = np.stack([row.reshape(a, b).T.reshape(-1) for row in v])
    assert np.array_equal(Permutation.shuffle(a, b).apply(v), expected)
    # S(a, b) sends entry i*b + j to position j*a + i
    idx = Permutation.shuffle(a, b).indices()
    assert all(idx[j * a + i] == i * b + j for i in range(a) for j in range(b))


@settings(max_examples=50, deadline=None)
@given(perm=permutations(), batch=st.integers(0, 3))
def test_apply_matches_elementwise_definition(perm: Permutation, batch: int) -> None:
    idx = reference_indices(perm.shape, perm.axes)
    assert np.array_equal(perm.indices(), idx)
    v = np.random.default_rng(0).standard_normal((batch, perm.size))
    assert np.array_equal(perm.apply(v), v[:, idx])
    assert np.array_equal(perm.apply_inverse(perm.apply(v)), v)
    out = np.empty_like(v)
    assert perm.apply(v, out=out) is out
    assert np.array_equal(out, v[:, idx])


@settings(max_examples=50, deadline=None)
@given(perm=permutations(), data=st.data())
def test_apply_blocked_equals_flatten_then_apply(perm: Permutation, data: st.DataObject) -> None:
    divisors = [d for d in range(1, perm.size + 1) if perm.size % d == 0]
    width = data.draw(st.sampled_from(divisors))
    blocks, batch = perm.size // width, 3
    rng = np.random.default_rng(1)
    # a padded, strided block-major buffer, as a layer uses
    padded = rng.standard_normal((blocks, batch + 1, width))
    vb = padded[:, :batch]
    flat = vb.transpose(1, 0, 2).reshape(batch, perm.size)
    out = np.empty((batch, perm.size))
    perm.apply_blocked(vb, out=out)
    assert np.array_equal(out, flat[:, reference_indices(perm.shape, perm.axes)])


def test_invalid_permutations_are_rejected() -> None:
    with pytest.raises(ValueError, match="axes"):
        Permutation((2, 3), (0, 0))
    with pytest.raises(ValueError, match="positive"):
        Permutation((0, 3), (1, 0))
    with pytest.raises(ValueError, match="batch"):
        Permutation.shuffle(2, 3).apply(np.zeros((2, 5)))

"""Embedding kernels (kernels/{reference,cpu}/embedding.py): Numba against the reference
on hypothesis-drawn shapes, repeated indices, out-of-range indices.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.cpu import embedding as nat_emb
from minigrad.kernels.reference import embedding as ref_emb
from _kernel_cases import SIZES


# ----------------------------------------------------------------------------- embedding

@given(num=st.integers(1, 20), D=SIZES, idx_shape=st.lists(st.integers(0, 6), min_size=0, max_size=3),
       seed=st.integers(0, 2 ** 31), pad=st.booleans())
def test_embedding_native_matches_reference(num, D, idx_shape, seed, pad):
    rng = np.random.default_rng(seed)
    for dtype in (np.float64, np.float32):
        w = rng.standard_normal((num, D)).astype(dtype)
        idx = rng.integers(0, num, tuple(idx_shape))      # repeats are likely: they must add up
        out = nat_emb.embedding_forward(w, idx)
        assert out.shape == tuple(idx_shape) + (D,) and out.dtype == dtype
        np.testing.assert_array_equal(out, ref_emb.embedding_forward(w, idx))
        gy = rng.standard_normal(out.shape).astype(dtype)
        pidx = int(rng.integers(0, num)) if pad else None
        gw = nat_emb.embedding_backward(gy, idx, num, pidx)
        rgw = ref_emb.embedding_backward(gy, idx, num, pidx)
        assert gw.shape == (num, D) and gw.dtype == dtype
        np.testing.assert_allclose(gw, rgw, rtol=0, atol=1e-10 if dtype == np.float64 else 1e-5)
        if pidx is not None:
            assert np.all(gw[pidx] == 0)


def test_embedding_backward_accumulates_repeats():
    gy = np.arange(8.0).reshape(4, 2)
    idx = np.array([1, 1, 0, 1])
    for mod in (ref_emb, nat_emb):
        gw = mod.embedding_backward(gy, idx, 3, None)
        np.testing.assert_array_equal(gw, [[4, 5], [0 + 2 + 6, 1 + 3 + 7], [0, 0]])


def test_embedding_rejects_out_of_range():
    with pytest.raises(IndexError, match="out of range"):
        nat_emb.embedding_forward(np.zeros((3, 2)), np.array([0, 3]))
    with pytest.raises(IndexError, match="out of range"):
        nat_emb.embedding_backward(np.zeros((2, 2)), np.array([0, -1]), 3, None)

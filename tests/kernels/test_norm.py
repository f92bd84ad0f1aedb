"""Layer norm kernels (kernels/{reference,cpu}/norm.py): Numba against the reference on
hypothesis-drawn shapes (float64 to 1e-10, float32 within 1e-5 relative to max(1,
largest entry) of the float64 result), and PyTorch's values.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.cpu import norm as nat_norm
from minigrad.kernels.reference import norm as ref_norm
from _kernel_cases import SIZES, _arr, _rel


# ----------------------------------------------------------------------------- layer norm

@given(rows=st.integers(0, 9), cols=SIZES, seed=st.integers(0, 2 ** 31), contiguous=st.booleans(),
       affine=st.sampled_from(["both", "weight", "bias", "none"]), offset=st.sampled_from([0.0, 100.0]))
def test_layer_norm_native_matches_reference(rows, cols, seed, contiguous, affine, offset):
    rng = np.random.default_rng(seed)
    x = _arr(rng, (rows, cols), contiguous=contiguous) + offset
    w = rng.standard_normal(cols) if affine in ("both", "weight") else None
    b = rng.standard_normal(cols) if affine in ("both", "bias") else None
    g = _arr(rng, (rows, cols), contiguous=contiguous)
    out = nat_norm.layer_norm_forward(x, w, b, 1e-5)
    ref = ref_norm.layer_norm_forward(x, w, b, 1e-5)
    for a, r in zip(out, ref):
        assert a.shape == r.shape
        np.testing.assert_allclose(a, r, rtol=0, atol=1e-10)
    grads = nat_norm.layer_norm_backward(g, x, w, ref[1], ref[2])
    rgrads = ref_norm.layer_norm_backward(g, x, w, ref[1], ref[2])
    for a, r in zip(grads, rgrads):
        assert a.shape == r.shape
        np.testing.assert_allclose(a, r, rtol=0, atol=1e-10 * max(1.0, rows))


@given(rows=st.integers(1, 9), cols=st.integers(2, 67), seed=st.integers(0, 2 ** 31))
def test_layer_norm_float32_within_1e5(rows, cols, seed):
    rng = np.random.default_rng(seed)
    x = _arr(rng, (3, rows, cols), np.float32)
    w = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)
    g = _arr(rng, (3, rows, cols), np.float32)
    up = [a.astype(np.float64) for a in (x, w, b, g)]
    y, mean, rstd = nat_norm.layer_norm_forward(x, w, b, 1e-5)
    ry, rmean, rrstd = ref_norm.layer_norm_forward(up[0], up[1], up[2], 1e-5)
    assert y.dtype == np.float32 and mean.shape == (3, rows)
    assert _rel(y, ry) < 1e-5 and _rel(mean, rmean) < 1e-5 and _rel(rstd, rrstd) < 1e-5
    gx, gw, gb = nat_norm.layer_norm_backward(g, x, w, mean, rstd)
    rgx, rgw, rgb = ref_norm.layer_norm_backward(up[3], up[0], up[1], rmean, rrstd)
    assert gx.dtype == gw.dtype == gb.dtype == np.float32
    # gx = rstd * (a sum of O(|g w|) terms that nearly cancel): its float32 error
    # scales with rstd * |g w|, which is large for rows whose values nearly coincide
    scale = max(1.0, float(np.max(rrstd)) * float(np.max(np.abs(up[3] * up[1]))))
    assert np.max(np.abs(gx - rgx)) / scale < 1e-5
    assert _rel(gw, rgw) < 1e-5 and _rel(gb, rgb) < 1e-5


@pytest.mark.oracle
def test_layer_norm_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 6, 10)) * 3 + 2
    w, b = rng.standard_normal(10), rng.standard_normal(10)
    g = rng.standard_normal(x.shape)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.layer_norm(tx, (10,), tw, tb, 1e-5)
    ty.backward(torch.tensor(g))
    for mod in (ref_norm, nat_norm):
        y, mean, rstd = mod.layer_norm_forward(x, w, b, 1e-5)
        np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-10)
        gx, gw, gb = mod.layer_norm_backward(g, x, w, mean, rstd)
        for a, t in zip((gx, gw, gb), (tx, tw, tb)):
            np.testing.assert_allclose(a, t.grad.numpy(), atol=1e-10)

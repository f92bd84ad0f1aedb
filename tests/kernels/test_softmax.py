"""Softmax / log-softmax / softmax-cross-entropy kernels (kernels/{reference,cpu}/softmax.py):
Numba against the reference on hypothesis-drawn shapes (float64 to 1e-10, float32
within 1e-5 relative to max(1, largest entry) of the float64 result), numerical
stability for logits of 1e4, fast_exp's accuracy, and PyTorch's values.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.cpu import softmax as nat_sm
from minigrad.kernels.reference import softmax as ref_sm
from _kernel_cases import SIZES, _arr, _rel


# ----------------------------------------------------------------------------- fast exp

@pytest.mark.parametrize("dtype,lo,hi,tol", [(np.float32, -87.0, 88.3, 4e-7), (np.float64, -708.0, 709.0, 5e-16)])
def test_fast_exp_accuracy(dtype, lo, hi, tol):
    x = np.random.default_rng(0).uniform(lo, hi, 100_000).astype(dtype)
    x[:4] = [0.0, 1.0, -1.0, lo]
    y = nat_sm.exp(x)
    r = np.exp(x.astype(np.float64))
    assert y.dtype == dtype
    assert np.max(np.abs(y - r) / r) < tol


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_exp_special_values(dtype):
    x = np.array([-np.inf, np.inf, np.nan, -1e4, 1e4, 0.0], dtype)
    y = nat_sm.exp(x)
    assert y[0] == 0 and y[1] == np.inf and np.isnan(y[2]) and y[3] == 0 and y[4] == np.inf and y[5] == 1


# ----------------------------------------------------------------------------- softmax

@given(rows=st.integers(0, 9), cols=SIZES, seed=st.integers(0, 2 ** 31), contiguous=st.booleans(),
       lead=st.booleans())
def test_softmax_family_native_matches_reference(rows, cols, seed, contiguous, lead):
    rng = np.random.default_rng(seed)
    shape = (2, rows, cols) if lead else (rows, cols)
    x = _arr(rng, shape, contiguous=contiguous)
    g = _arr(rng, shape, contiguous=contiguous)
    for name in ("softmax", "log_softmax"):
        y = getattr(nat_sm, name)(x)
        r = getattr(ref_sm, name)(x)
        assert y.shape == x.shape
        np.testing.assert_allclose(y, r, rtol=0, atol=1e-10)
        bname = name + "_backward"
        np.testing.assert_allclose(getattr(nat_sm, bname)(g, r), getattr(ref_sm, bname)(g, r), rtol=0, atol=1e-10)


@given(rows=st.integers(1, 9), cols=SIZES, seed=st.integers(0, 2 ** 31))
def test_softmax_float32_within_1e5(rows, cols, seed):
    rng = np.random.default_rng(seed)
    x = _arr(rng, (rows, cols), np.float32)
    g = _arr(rng, (rows, cols), np.float32)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    for name in ("softmax", "log_softmax"):
        y = getattr(nat_sm, name)(x)
        assert y.dtype == np.float32
        assert _rel(y, getattr(ref_sm, name)(x64)) < 1e-5
        r64 = getattr(ref_sm, name)(x64)
        gx = getattr(nat_sm, name + "_backward")(g, r64.astype(np.float32))
        assert gx.dtype == np.float32
        assert _rel(gx, getattr(ref_sm, name + "_backward")(g64, r64)) < 1e-5


@pytest.mark.parametrize("mod", [ref_sm, nat_sm], ids=["reference", "native"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_stable_for_huge_logits(mod, dtype):
    x = np.array([[1e4, -1e4, 0.0, 1e4 - 1], [-1e4, -1e4, -1e4, -1e4]], dtype)
    y = mod.softmax(x)
    ly = mod.log_softmax(x)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(ly))
    np.testing.assert_allclose(y.sum(-1), 1, rtol=1e-6)
    e = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(y[0], [e, 0, 0, 1 - e], rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(y[1], 0.25, rtol=1e-6)
    np.testing.assert_allclose(ly[0, 1], -2e4 - np.log1p(np.exp(-1.0)), rtol=1e-6)


# ----------------------------------------------------------------------------- cross-entropy

@st.composite
def ce_cases(draw):
    N = draw(st.integers(0, 9))
    C = draw(st.integers(1, 67))
    soft = draw(st.booleans())
    weighted = draw(st.booleans())
    eps = draw(st.sampled_from([0.0, 0.1, 1.0]))
    seed = draw(st.integers(0, 2 ** 31))
    return N, C, soft, weighted, eps, seed


def _ce_inputs(case, dtype=np.float64):
    N, C, soft, weighted, eps, seed = case
    rng = np.random.default_rng(seed)
    x = _arr(rng, (N, C), dtype)
    if soft:
        t = rng.random((N, C))
        t = (t / t.sum(-1, keepdims=True)).astype(dtype)
    else:
        t = rng.integers(0, C, N)
        t[rng.random(N) < 0.25] = -100
    w = rng.uniform(0.2, 2.0, C).astype(dtype) if weighted else None
    g = rng.standard_normal(N).astype(dtype)
    return x, t, w, eps, g


@given(case=ce_cases())
def test_cross_entropy_native_matches_reference(case):
    x, t, w, eps, g = _ce_inputs(case)
    loss, lse = nat_sm.cross_entropy_forward(x, t, w, -100, eps)
    rloss, rlse = ref_sm.cross_entropy_forward(x, t, w, -100, eps)
    np.testing.assert_allclose(loss, rloss, rtol=0, atol=1e-10)
    np.testing.assert_allclose(lse, rlse, rtol=0, atol=1e-10)
    dx = nat_sm.cross_entropy_backward(g, x, t, w, -100, eps, lse)
    np.testing.assert_allclose(dx, ref_sm.cross_entropy_backward(g, x, t, w, -100, eps, rlse), rtol=0, atol=1e-10)


@given(case=ce_cases())
def test_cross_entropy_float32_within_1e5(case):
    x, t, w, eps, g = _ce_inputs(case, np.float32)
    up = lambda a: None if a is None else (a.astype(np.float64) if a.dtype.kind == "f" else a)  # noqa: E731
    loss, lse = nat_sm.cross_entropy_forward(x, t, w, -100, eps)
    rloss, rlse = ref_sm.cross_entropy_forward(up(x), up(t), up(w), -100, eps)
    assert loss.dtype == np.float32 and lse.dtype == np.float64  # lse is kept in float64
    assert _rel(loss, rloss) < 1e-5 and _rel(lse, rlse) < 1e-5
    dx = nat_sm.cross_entropy_backward(g, x, t, w, -100, eps, lse)
    assert dx.dtype == np.float32
    assert _rel(dx, ref_sm.cross_entropy_backward(up(g), up(x), up(t), up(w), -100, eps, rlse)) < 1e-5


def test_cross_entropy_reference_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    t = np.array([2, -100])
    loss, lse = ref_sm.cross_entropy_forward(x, t, None, -100, 0.0)
    expect = np.log(np.exp(1) + np.exp(2) + np.exp(3)) - 3
    np.testing.assert_allclose(loss, [expect, 0.0], rtol=1e-14)
    np.testing.assert_allclose(lse[1], np.log(3), rtol=1e-14)
    dx = ref_sm.cross_entropy_backward(np.ones(2), x, t, None, -100, 0.0, lse)
    p = np.exp(x[0] - lse[0])
    np.testing.assert_allclose(dx[0], p - [0, 0, 1], rtol=1e-14)
    assert np.all(dx[1] == 0)


@pytest.mark.parametrize("mod", [ref_sm, nat_sm], ids=["reference", "native"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_stable_for_huge_logits(mod, dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype)
    t = np.array([1, 0])
    loss, lse = mod.cross_entropy_forward(x, t, None, -100, 0.1)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(lse))
    np.testing.assert_allclose(loss[0], 0.9 * 2e4 + 0.1 / 3 * (2e4 + 1e4), rtol=1e-5)
    dx = mod.cross_entropy_backward(np.ones(2, dtype), x, t, None, -100, 0.1, lse)
    assert np.all(np.isfinite(dx))
    np.testing.assert_allclose(dx.sum(-1), 0, atol=1e-5)


@pytest.mark.oracle
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_against_torch(soft, weighted, eps):
    torch = pytest.importorskip("torch")
    x, t, w, _, g = _ce_inputs((7, 5, soft, weighted, eps, 3))
    tx = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tx, torch.tensor(t), weight=None if w is None else torch.tensor(w),
                                           reduction="none", label_smoothing=eps)
    tl.backward(torch.tensor(g))
    for mod in (ref_sm, nat_sm):
        loss, lse = mod.cross_entropy_forward(x, t, w, -100, eps)
        np.testing.assert_allclose(loss, tl.detach().numpy(), rtol=1e-10, atol=1e-12)
        dx = mod.cross_entropy_backward(g, x, t, w, -100, eps, lse)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)

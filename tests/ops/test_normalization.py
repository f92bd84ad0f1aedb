"""minigrad.ops.normalization: layer_norm gradcheck (float64, hypothesis-drawn shapes, both kernel
sets), second derivatives, errors, and PyTorch as an oracle."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.ops.normalization import layer_norm
from _ops_helpers import A, check_zero_size, MODES, t64


# ----------------------------------------------------------------------------- layer norm

@st.composite
def ln_cases(draw):
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    norm = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    affine = draw(st.sampled_from(["both", "weight", "bias", "none"]))
    seed = draw(st.integers(0, 2 ** 31))
    return lead, norm, affine, seed


def _ln_inputs(case):
    lead, norm, affine, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(lead + norm) * 2 + 1
    w = t64(rng.standard_normal(norm)) if affine in ("both", "weight") else None
    b = t64(rng.standard_normal(norm)) if affine in ("both", "bias") else None
    return x, w, b, norm


@pytest.mark.parametrize("mode", MODES)
@given(case=ln_cases())
def test_layer_norm_gradcheck(mode, case):
    x, w, b, norm = _ln_inputs(case)
    params = [p for p in (w, b) if p is not None]

    def f(xx, *ps):
        it = iter(ps)
        ww = next(it) if w is not None else None
        bb = next(it) if b is not None else None
        return layer_norm(xx, norm, ww, bb, eps=1e-5)

    with mg.kernels.use(mode):
        mg.gradcheck(f, (t64(x), *params))


@settings(max_examples=10)
@given(case=ln_cases())
def test_layer_norm_second_derivatives(case):
    x, w, b, norm = _ln_inputs(case)
    ww = w if w is not None else t64(np.ones(norm))
    bb = b if b is not None else t64(np.zeros(norm))
    mg.gradgradcheck(lambda xx, w1, b1: layer_norm(xx, norm, w1, b1), (t64(x), ww, bb))


def test_layer_norm_normalises_and_validates():
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 3, 5)) * 7 + 3)
    y = layer_norm(x, (3, 5))
    r = y.array.reshape(4, -1)
    np.testing.assert_allclose(r.mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(r.std(1), 1, rtol=1e-3)
    with pytest.raises(ValueError, match="normalized_shape"):
        layer_norm(x, (4,))
    with pytest.raises(ValueError, match="weight"):
        layer_norm(x, 5, weight=mg.ones(4))
    with pytest.raises(TypeError, match="floating"):
        layer_norm(mg.tensor([[1, 2]]), 2)


@pytest.mark.oracle
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
@pytest.mark.parametrize("norm", [(6,), (3, 6)], ids=["1d", "2d"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_layer_norm_against_torch(mode, affine, norm, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 4) + norm) * 3 + 2).astype(dtype)
    w = rng.standard_normal(norm).astype(dtype) if affine in ("both", "weight") else None
    b = rng.standard_normal(norm).astype(dtype) if affine in ("both", "bias") else None
    g = rng.standard_normal(x.shape).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    tw = None if w is None else torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    ty = torch.nn.functional.layer_norm(tx, norm, tw, tb, 1e-5)
    ty.backward(torch.tensor(g))
    mx = mg.tensor(x, requires_grad=True)
    mw = None if w is None else mg.tensor(w, requires_grad=True)
    mb = None if b is None else mg.tensor(b, requires_grad=True)
    with mg.kernels.use(mode):
        y = layer_norm(mx, norm, mw, mb, 1e-5)
        y.backward(mg.tensor(g))
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y.array, ty.detach().numpy(), **tol)
    for ours, theirs in ((mx, tx), (mw, tw), (mb, tb)):
        if ours is not None:
            np.testing.assert_allclose(ours.grad.array, theirs.grad.numpy(), **tol)


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.

@pytest.mark.parametrize("scale", [1e19, 1e25, 1e36])
def test_layer_norm_of_huge_values(kernel_set, scale):
    r = np.random.default_rng(0).standard_normal((3, 7))
    x = mg.tensor((r * scale).astype(np.float32), requires_grad=True)
    y = F.layer_norm(x, (7,))
    expect = (r - r.mean(1, keepdims=True)) / r.std(1, keepdims=True)
    assert np.allclose(A(y), expect, atol=1e-4)
    (y * mg.tensor(np.arange(21, dtype=np.float32).reshape(3, 7))).sum().backward()
    assert np.isfinite(A(x.grad)).all()


# ----------------------------------------------------------------------------- zero-size dimensions

ZERO_SIZE = [
    ("layer_norm empty rows", lambda x: F.layer_norm(x, (0,)), [(3, 0)], (3, 0)),
    ("layer_norm no rows", lambda x: F.layer_norm(x, (4,)), [(0, 4)], (0, 4)),
]


@pytest.mark.parametrize("name, fn, shapes, out", ZERO_SIZE, ids=[c[0] for c in ZERO_SIZE])
def test_zero_size_dimensions(kernel_set, name, fn, shapes, out):
    check_zero_size(fn, shapes, out)

"""minigrad.ops.softmax: softmax / log_softmax gradcheck (float64, hypothesis-drawn shapes, both
kernel sets), second derivatives, stability for logits of 1e4, errors, and PyTorch as an oracle."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.ops.softmax import log_softmax, softmax
from _ops_helpers import check_zero_size, MODES, t64


# ----------------------------------------------------------------------------- softmax

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn", [softmax, log_softmax], ids=["softmax", "log_softmax"])
@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=4), seed=st.integers(0, 2 ** 31),
       data=st.data())
def test_softmax_gradcheck_any_dim(mode, fn, shape, seed, data):
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    x = np.random.default_rng(seed).standard_normal(shape) * 2
    with mg.kernels.use(mode):
        mg.gradcheck(lambda t: fn(t, dim), (t64(x),))


@pytest.mark.parametrize("fn", [softmax, log_softmax], ids=["softmax", "log_softmax"])
@settings(max_examples=10)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2 ** 31))
def test_softmax_second_derivatives(fn, shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    mg.gradgradcheck(lambda t: fn(t, 0), (t64(x),))


@pytest.mark.parametrize("mode", MODES)
def test_softmax_values_and_stability(mode):
    x = mg.tensor([[1e4, 0.0, 1e4 - 2.0], [-1e4, -1e4, -1e4]], dtype=mg.float32, requires_grad=True)
    with mg.kernels.use(mode):
        y = softmax(x, dim=1)
        ly = log_softmax(x, dim=1)
        assert np.all(np.isfinite(y.array)) and np.all(np.isfinite(ly.array))
        e = 1 / (1 + np.exp(-2.0))
        np.testing.assert_allclose(y.array[0], [e, 0, 1 - e], rtol=1e-5)
        np.testing.assert_allclose(y.array[1], 1 / 3, rtol=1e-6)
        np.testing.assert_allclose(ly.array[0, 0], -np.log1p(np.exp(-2.0)), rtol=1e-5)
        (y[:, 0].sum() + ly.sum()).backward()
    assert np.all(np.isfinite(x.grad.array))


def test_softmax_rejects_integers_and_bad_dims():
    with pytest.raises(TypeError, match="softmax"):
        softmax(mg.tensor([1, 2, 3]))
    with pytest.raises(IndexError, match="softmax"):
        softmax(mg.tensor([1.0, 2.0]), dim=1)
    y = softmax(mg.tensor([1, 2, 3]), dtype=mg.float64)   # dtype converts first
    assert y.dtype == mg.float64


def test_softmax_methods_when_bound():
    x = mg.tensor([[1.0, 2.0], [3.0, 5.0]])
    if hasattr(mg.Tensor, "softmax"):
        np.testing.assert_allclose(x.softmax(1).array, softmax(x, 1).array)
    np.testing.assert_allclose(softmax(x, 0).array.sum(0), 1, rtol=1e-6)


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_against_torch(mode, dim):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((3, 4, 5)) * 3
    g = np.random.default_rng(1).standard_normal((3, 4, 5))
    for ours, theirs in ((softmax, torch.softmax), (log_softmax, torch.log_softmax)):
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx, dim)
        ty.backward(torch.tensor(g))
        mx = t64(x)
        with mg.kernels.use(mode):
            y = ours(mx, dim)
            y.backward(mg.tensor(g))
        np.testing.assert_allclose(y.array, ty.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(mx.grad.array, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.
#
# zero-size dimensions

ZERO_SIZE = [
    ("softmax empty rows", lambda x: F.softmax(x, dim=-1), [(3, 0)], (3, 0)),
    ("log_softmax empty rows", lambda x: F.log_softmax(x, dim=-1), [(3, 0)], (3, 0)),
    ("softmax no rows", lambda x: F.softmax(x, dim=-1), [(0, 3)], (0, 3)),
]


@pytest.mark.parametrize("name, fn, shapes, out", ZERO_SIZE, ids=[c[0] for c in ZERO_SIZE])
def test_zero_size_dimensions(kernel_set, name, fn, shapes, out):
    check_zero_size(fn, shapes, out)

"""minigrad.ops.embedding: gradcheck (float64, both kernel sets), padding_idx, second derivative,
errors, and PyTorch as an oracle."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.ops.embedding import embedding
from _ops_helpers import check_zero_size, MODES, t64


# ----------------------------------------------------------------------------- embedding

@pytest.mark.parametrize("mode", MODES)
@given(num=st.integers(1, 8), D=st.integers(1, 5), idx_shape=st.lists(st.integers(0, 4), max_size=3),
       seed=st.integers(0, 2 ** 31))
def test_embedding_gradcheck(mode, num, D, idx_shape, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((num, D))
    idx = rng.integers(0, num, tuple(idx_shape))      # repeated indices are likely
    with mg.kernels.use(mode):
        mg.gradcheck(lambda ww: embedding(mg.tensor(idx), ww), (t64(w),))


@pytest.mark.parametrize("mode", MODES)
def test_embedding_padding_idx_gets_no_gradient(mode):
    w = t64(np.arange(12.0).reshape(4, 3))
    idx = mg.tensor([[0, 3, 3], [1, 3, 0]])
    with mg.kernels.use(mode):
        y = embedding(idx, w, padding_idx=-1)        # -1 means row 3
        assert y.shape == (2, 3, 3)
        np.testing.assert_array_equal(y.array[0, 1], [9, 10, 11])
        (y * y).sum().backward()
    np.testing.assert_array_equal(w.grad.array[3], 0)
    np.testing.assert_allclose(w.grad.array[0], 2 * 2 * w.array[0])   # used twice
    np.testing.assert_allclose(w.grad.array[2], 0)


def test_embedding_second_derivative_and_errors():
    w = t64(np.random.default_rng(0).standard_normal((5, 2)))
    mg.gradgradcheck(lambda ww: embedding(mg.tensor([1, 1, 4]), ww) ** 2, (w,))
    with pytest.raises(IndexError, match="out of range"):
        embedding(mg.tensor([5]), w)
    with pytest.raises(TypeError, match="integers"):
        embedding(mg.tensor([0.0]), w)
    with pytest.raises(ValueError, match="padding_idx"):
        embedding(mg.tensor([0]), w, padding_idx=5)


@pytest.mark.oracle
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_against_torch(mode, padding_idx):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w = rng.standard_normal((7, 4)).astype(np.float32)
    idx = rng.integers(0, 7, (3, 5))
    g = rng.standard_normal((3, 5, 4)).astype(np.float32)
    tw = torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=padding_idx)
    ty.backward(torch.tensor(g))
    mw = mg.tensor(w, requires_grad=True)
    with mg.kernels.use(mode):
        y = embedding(mg.tensor(idx), mw, padding_idx=padding_idx)
        y.backward(mg.tensor(g))
    np.testing.assert_array_equal(y.array, ty.detach().numpy())
    np.testing.assert_allclose(mw.grad.array, tw.grad.numpy(), rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.
#
# zero-size dimensions

ZERO_SIZE = [
    ("embedding no indices", lambda w: F.embedding(mg.tensor(np.zeros(0, np.int64)), w), [(5, 3)], (0, 3)),
]


@pytest.mark.parametrize("name, fn, shapes, out", ZERO_SIZE, ids=[c[0] for c in ZERO_SIZE])
def test_zero_size_dimensions(kernel_set, name, fn, shapes, out):
    check_zero_size(fn, shapes, out)

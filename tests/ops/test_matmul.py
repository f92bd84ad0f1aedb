"""minigrad.ops.matmul: gradcheck (float64, hypothesis-drawn) of matmul and the fused linear op."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from strategies import arrays, shapes, tensor
from _ops_helpers import A, check_zero_size


@given(data=st.data())
def test_matmul_shapes(data):
    kind = data.draw(st.sampled_from(["1d1d", "1d2d", "2d1d", "2d2d", "batched", "broadcast"]))
    m, k, n = (data.draw(st.integers(1, 5)) for _ in range(3))
    sa, sb = {
        "1d1d": ((k,), (k,)), "1d2d": ((k,), (k, n)), "2d1d": ((m, k), (k,)), "2d2d": ((m, k), (k, n)),
        "batched": ((2, m, k), (2, k, n)), "broadcast": ((3, 1, m, k), (2, k, n)),
    }[kind]
    a, b = tensor(data.draw(arrays(sa))), tensor(data.draw(arrays(sb)))
    mg.gradcheck(lambda a, b: a @ b, (a, b))
    np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy(), rtol=1e-12)


def test_matmul_second_derivative():
    a = tensor(np.random.default_rng(0).normal(size=(3, 4)))
    b = tensor(np.random.default_rng(1).normal(size=(4, 2)))
    mg.gradgradcheck(lambda a, b: (a @ b).tanh(), (a, b))


@given(data=st.data())
def test_linear_fused_op(data):
    lead = data.draw(shapes(min_dims=0, max_dims=2, max_side=3))
    n_in, n_out = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    x = tensor(data.draw(arrays(tuple(lead) + (n_in,))))
    w = tensor(data.draw(arrays((n_out, n_in))))
    b = tensor(data.draw(arrays((n_out,))))
    mg.gradcheck(lambda x, w, b: mg.linear(x, w, b), (x, w, b))
    mg.gradcheck(lambda x, w: mg.linear(x, w), (x, w))
    np.testing.assert_allclose(mg.linear(x, w, b).numpy(), x.numpy() @ w.numpy().T + b.numpy(), rtol=1e-12)
    if len(lead) <= 1:
        mg.gradgradcheck(lambda x, w, b: mg.linear(x, w, b).tanh(), (x, w, b))


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.
#
# zero-size dimensions

ZERO_SIZE = [
    ("linear 0 in-features", lambda x, w, b: F.linear(x, w, b), [(2, 0), (3, 0), (3,)], (2, 3)),
    ("linear 0 in-features 3-D", lambda x, w: F.linear(x, w), [(2, 2, 0), (3, 0)], (2, 2, 3)),
]


@pytest.mark.parametrize("name, fn, shapes, out", ZERO_SIZE, ids=[c[0] for c in ZERO_SIZE])
def test_zero_size_dimensions(kernel_set, name, fn, shapes, out):
    check_zero_size(fn, shapes, out)


def test_linear_with_no_inputs_is_its_bias(kernel_set):
    y = F.linear(mg.tensor(np.ones((2, 0), np.float32)), mg.tensor(np.ones((3, 0), np.float32)),
                 mg.tensor(np.arange(3, dtype=np.float32)))
    assert np.array_equal(A(y), [[0, 1, 2], [0, 1, 2]])

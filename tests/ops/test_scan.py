"""minigrad.ops.scan: cumprod, logcumsumexp and diff: gradcheck on hypothesis-drawn float64 inputs
(zeros included), the PyTorch oracle, and the errors bad input gets."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from strategies import arrays, shapes, tensor
from _ops_helpers import _check, _pair, check_unary_against_torch, rng


@given(data=st.data())
def test_gradcheck_cumprod_logcumsumexp_diff(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(arrays(shape, -1.5, 1.5, away_from=[0.0], margin=0.2))
    mg.gradcheck(lambda t: t.cumprod(dim), (tensor(x),))
    mg.gradcheck(lambda t: mg.logcumsumexp(t, dim), (tensor(x * 3),))
    n = data.draw(st.integers(0, 3))
    mg.gradcheck(lambda t: t.diff(n=n, dim=dim), (tensor(x),))
    pre = tensor(data.draw(arrays(shape[:dim % len(shape)] + (2,) + shape[dim % len(shape) + 1:])))
    mg.gradcheck(lambda t, p: mg.diff(t, dim=dim, prepend=p, append=p), (tensor(x), pre))


def test_gradcheck_cumprod_through_zeros():
    x = tensor(np.array([[1.5, 0.0, 2.0, -1.0], [0.0, 0.0, 3.0, 0.5], [0.7, -2.0, 1.1, 0.0]]))
    mg.gradcheck(lambda t: t.cumprod(1), (x,))
    mg.gradcheck(lambda t: t.cumprod(0), (x,))
    mg.gradgradcheck(lambda t: t.cumprod(1), (tensor(rng.uniform(0.5, 1.5, (2, 4))),))


@pytest.mark.oracle
def test_oracle_logcumsumexp_extremes():
    torch = pytest.importorskip("torch")
    a = np.array([[-1000.0, 0.0, 1000.0, 3.0], [-np.inf, -np.inf, 2.0, -np.inf]], np.float32)
    u = np.array([[1.0, -2.0, 0.5, 0.0], [0.3, 1.0, -1.0, 2.0]], np.float32)
    m, t = _pair(a)
    y, ty = m.logcumsumexp(1), t.logcumsumexp(1)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    y.backward(mg.tensor(u))
    ty.backward(torch.tensor(u))
    # an element at -inf has slope exp(-inf - y) = 0; PyTorch's backward gives nan there
    np.testing.assert_array_equal(m.grad.numpy()[1, :2], [0.0, 0.0])
    np.testing.assert_allclose(m.grad.numpy(), np.nan_to_num(t.grad.numpy()), atol=1e-4)


# ----------------------------------------------------------------------------- oracle

@pytest.mark.oracle
@pytest.mark.parametrize("name,shape,args", [
    ("cumprod", (3, 4), (1,)), ("logcumsumexp", (3, 5), (1,)), ("logcumsumexp", (4, 2), (0,)), ("diff", (3, 5), ()),
])
def test_oracle_unary(name, shape, args):
    check_unary_against_torch(name, shape, args)


@pytest.mark.oracle
def test_oracle_diff_options_and_bool():
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((3, 4)).astype(np.float32)
    p = rng.standard_normal((3, 1)).astype(np.float32)
    m, t = _pair(a)
    mp, tp = _pair(p)
    _check(mg.diff(m, n=2, dim=1, prepend=mp, append=mp), torch.diff(t, n=2, dim=1, prepend=tp, append=tp),
           [m, mp], [t, tp])
    b = np.array([[True, False, False, True]])
    assert mg.diff(mg.tensor(b)).tolist() == torch.diff(torch.tensor(b)).tolist()


@pytest.mark.parametrize("call,err,match", [
    (lambda: mg.diff(mg.ones(3), n=-1), RuntimeError, "diff: order n must be a non-negative"),
    (lambda: mg.diff(mg.ones(3, 2), prepend=mg.ones(2)), RuntimeError, "diff: prepend/append must have 2 dims"),
    (lambda: mg.cumprod(mg.ones(3), 1), IndexError, "cumprod: dim 1"),
    (lambda: mg.logcumsumexp(mg.tensor([1, 2]), 0), TypeError, "logcumsumexp: needs a floating-point"),
])
def test_errors_name_the_op(call, err, match):
    with pytest.raises(err, match=match):
        call()

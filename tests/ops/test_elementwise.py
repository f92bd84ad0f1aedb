"""minigrad.ops.elementwise: gradcheck (float64, hypothesis-drawn shapes and values) for every
elementwise op; type promotion of mixed-kind operands; nan_to_num and lerp against PyTorch."""
import math

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from strategies import arrays, broadcast_pairs, shapes, tensor
from _ops_helpers import A, _check, check_unary_against_torch, _pair, rng

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": mg.maximum,
    "minimum": mg.minimum,
    "pow": lambda a, b: a ** b,
    "add_alpha": lambda a, b: mg.add(a, b, alpha=0.5),
    "sub_alpha": lambda a, b: mg.sub(a, b, alpha=2.0),
}


@pytest.mark.parametrize("name", list(BINARY))
@given(data=st.data())
def test_binary_ops_broadcast(name, data):
    sa, sb = data.draw(broadcast_pairs())
    if name == "pow":  # base > 0 keeps log(base) real
        a = data.draw(arrays(sa, 0.3, 2.0))
    else:
        a = data.draw(arrays(sa))
    b = data.draw(arrays(sb, away_from=[0.0], margin=0.3) if name in ("div",) else arrays(sb))
    if name in ("maximum", "minimum"):  # keep away from ties, where the derivative jumps
        ab = np.broadcast_arrays(a, b)
        assume(np.all(np.abs(ab[0] - ab[1]) > 1e-3))
    mg.gradcheck(BINARY[name], (tensor(a), tensor(b)))


@pytest.mark.parametrize("name", ["add", "mul", "div", "pow"])
@given(data=st.data())
def test_binary_second_derivatives(name, data):
    sa, sb = data.draw(broadcast_pairs(max_dims=3, max_side=3))
    a = data.draw(arrays(sa, 0.5, 2.0))
    b = data.draw(arrays(sb, 0.5, 2.0))
    mg.gradgradcheck(BINARY[name], (tensor(a), tensor(b)))


# (function, low, high, points to stay away from)
UNARY = {
    "neg": (lambda x: -x, -2, 2, None),
    "abs": (mg.abs, -2, 2, [0.0]),
    "exp": (mg.exp, -2, 2, None),
    "log": (mg.log, 0.2, 3, None),
    "log1p": (mg.log1p, -0.7, 3, None),
    "sqrt": (mg.sqrt, 0.2, 3, None),
    "rsqrt": (mg.rsqrt, 0.2, 3, None),
    "sin": (mg.sin, -3, 3, None),
    "cos": (mg.cos, -3, 3, None),
    "tanh": (mg.tanh, -3, 3, None),
    "sigmoid": (mg.sigmoid, -5, 5, None),
    "relu": (mg.relu, -2, 2, [0.0]),
    "leaky_relu": (lambda x: mg.leaky_relu(x, 0.1), -2, 2, [0.0]),
    "elu": (lambda x: mg.elu(x, 0.7), -2, 2, [0.0]),
    "gelu": (mg.gelu, -3, 3, None),
    "gelu_tanh": (lambda x: mg.gelu(x, approximate="tanh"), -3, 3, None),
    "silu": (mg.silu, -4, 4, None),
    "softplus": (lambda x: mg.softplus(x, beta=2.0, threshold=3.0), -3, 3, [1.5]),
    "erf": (mg.erf, -2, 2, None),
    "clamp": (lambda x: mg.clamp(x, -0.5, 0.8), -2, 2, [-0.5, 0.8]),
    "clamp_min": (lambda x: x.clamp(min=0.1), -2, 2, [0.1]),
    "pow_scalar": (lambda x: x ** 3, -2, 2, None),
    "pow_frac": (lambda x: x ** 1.5, 0.2, 2, None),
    "rpow": (lambda x: 2.0 ** x, -2, 2, None),
    "rsub": (lambda x: 1.0 - x, -2, 2, None),
    "rdiv": (lambda x: 1.0 / x, 0.3, 2, None),
    "scalar_mul": (lambda x: 3.0 * x * 0.5, -2, 2, None),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(data=st.data())
def test_unary_ops(name, data):
    fn, lo, hi, away = UNARY[name]
    x = data.draw(arrays(data.draw(shapes()), lo, hi, away_from=away, margin=0.05))
    mg.gradcheck(fn, (tensor(x),))


SMOOTH = ["exp", "log", "sqrt", "rsqrt", "sin", "tanh", "sigmoid", "gelu", "silu", "softplus", "erf",
          "pow_scalar", "rdiv", "elu"]


@pytest.mark.parametrize("name", SMOOTH)
@given(data=st.data())
def test_unary_second_derivatives(name, data):
    fn, lo, hi, away = UNARY[name]
    x = data.draw(arrays(data.draw(shapes(max_dims=2, max_side=3)), lo, hi, away_from=away, margin=0.05))
    mg.gradgradcheck(fn, (tensor(x),))


@given(data=st.data())
def test_where(data):
    sc, sa = data.draw(broadcast_pairs(max_dims=3))
    cond = mg.tensor(data.draw(arrays(sc)) > 0)
    a = tensor(data.draw(arrays(sa)))
    b = tensor(data.draw(arrays(sc)))
    mg.gradcheck(lambda a, b: mg.where(cond, a, b), (a, b))


def test_comparisons_have_no_grad():
    x = mg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    for y in (x > 0, x >= 1, x < 0, x <= 1, x == 1, x != 1):
        assert y.dtype == np.bool_
        assert not y.requires_grad
    assert (x > 0).tolist() == [True, False, True]


def test_relu_gelu_values_match_formulas():
    x = mg.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=mg.float64)
    from math import erf, sqrt
    np.testing.assert_allclose(mg.gelu(x).numpy(), [v * 0.5 * (1 + erf(v / sqrt(2))) for v in x.tolist()], rtol=1e-12)
    np.testing.assert_array_equal(mg.relu(x).numpy(), [0, 0, 0, 0.5, 2])


def test_sigmoid_softplus_stable_for_large_inputs():
    x = mg.tensor([-1e4, -100.0, 0.0, 100.0, 1e4])
    s = mg.sigmoid(x).numpy()
    assert np.all(np.isfinite(s)) and s[0] == 0 and s[-1] == 1
    sp = mg.softplus(x).numpy()
    assert np.all(np.isfinite(sp)) and sp[-1] == 1e4


# ----------------------------------------------------------------------------- type promotion
#
# Mixed-kind operands follow PyTorch's promotion: the result takes the dtype of the
# operand of the higher kind (bool < integer < float), not NumPy's wider common type.

OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("fdtype", ["float32", "float64"])
@pytest.mark.parametrize("other", ["int64", "int32", "bool"])
def test_float_with_integer_or_bool_keeps_the_float_dtype(name, fdtype, other):
    x = mg.tensor(np.array([1.5, 2.0, 3.0], dtype=fdtype))
    i = mg.tensor(np.array([1, 2, 3]).astype(other))
    assert OPS[name](x, i).dtype == np.dtype(fdtype)
    assert OPS[name](i, x).dtype == np.dtype(fdtype)


def test_gradient_flows_through_the_float_operand():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    p = mg.arange(3)
    (x ** p).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1.0, 6.0])


def test_same_kind_keeps_numpys_rule():
    a = mg.tensor(np.ones(2, np.float32))
    b = mg.tensor(np.ones(2, np.float64))
    assert (a + b).dtype == np.float64
    assert (mg.arange(3) + True).dtype == np.int64


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(OPS))
def test_dtypes_match_pytorch(name):
    torch = pytest.importorskip("torch")
    xs = np.array([1.5, 2.0, 3.0], np.float32)
    ps = np.array([1, 2, 3], np.int64)
    ours = OPS[name](mg.tensor(xs), mg.tensor(ps))
    theirs = OPS[name](torch.tensor(xs), torch.tensor(ps))
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_relu_double_backward_uses_tensor_path():
    x = mg.tensor([-1.0, 2.0, 3.0], dtype=mg.float64, requires_grad=True)
    (g,) = mg.grad((mg.relu(x) ** 2).sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    assert g.tolist() == [0.0, 4.0, 6.0] and h.tolist() == [0.0, 2.0, 2.0]


@given(data=st.data())
def test_gradcheck_nan_to_num_repeat_interleave(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    x = tensor(data.draw(arrays(shape)))
    mg.gradcheck(lambda t: t.nan_to_num(posinf=1.0), (x,))
    dim = data.draw(st.integers(0, len(shape) - 1))
    reps = data.draw(st.lists(st.integers(0, 3), min_size=shape[dim], max_size=shape[dim]))
    mg.gradcheck(lambda t: t.repeat_interleave(mg.tensor(reps), dim=dim), (x,))
    mg.gradcheck(lambda t: mg.repeat_interleave(t, 2), (x,))


def test_nan_to_num_gradient_is_zero_where_replaced():
    x = mg.tensor([1.0, float("nan"), float("inf"), -float("inf"), -2.0], dtype=mg.float64, requires_grad=True)
    y = x.nan_to_num(nan=0.5, posinf=9.0, neginf=-9.0)
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.5, 9.0, -9.0, -2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 0, 0, 1])


# ----------------------------------------------------------------------------- oracle

@pytest.mark.oracle
@pytest.mark.parametrize("name,shape,args", [
    ("nan_to_num", (3, 4), ()),
])
def test_oracle_unary(name, shape, args):
    check_unary_against_torch(name, shape, args)


@pytest.mark.oracle
def test_oracle_lerp_and_repeat_interleave():
    torch = pytest.importorskip("torch")
    ins = [_pair(rng.standard_normal(s).astype(np.float32)) for s in [(3, 4), (4,), (3, 1)]]
    _check(mg.lerp(*[p[0] for p in ins]), torch.lerp(*[p[1] for p in ins]), [p[0] for p in ins],
           [p[1] for p in ins])
    m, t = _pair(rng.standard_normal((3, 2)).astype(np.float32))
    reps = np.array([2, 0, 3])
    _check(m.repeat_interleave(mg.tensor(reps), dim=0), t.repeat_interleave(torch.tensor(reps), dim=0), [m], [t])
    assert mg.repeat_interleave(mg.tensor([1, 0, 2])).tolist() == torch.repeat_interleave(torch.tensor([1, 0, 2])).tolist()
    assert mg.repeat_interleave(mg.tensor([[1, 2], [3, 4]]), 2).tolist() == \
        torch.repeat_interleave(torch.tensor([[1, 2], [3, 4]]), 2).tolist()


@pytest.mark.oracle
def test_oracle_nan_to_num_defaults():
    torch = pytest.importorskip("torch")
    a = np.array([np.nan, np.inf, -np.inf, 1.5], np.float32)
    np.testing.assert_array_equal(mg.nan_to_num(mg.tensor(a)).numpy(), torch.nan_to_num(torch.tensor(a)).numpy())
    np.testing.assert_array_equal(mg.nan_to_num(mg.tensor(a), 1.0, 2.0, -3.0).numpy(),
                                  torch.nan_to_num(torch.tensor(a), 1.0, 2.0, -3.0).numpy())


@pytest.mark.parametrize("call,err,match", [
    (lambda: mg.lerp(mg.ones(2), mg.ones(2, dtype=mg.float64), 0.5), TypeError, "lerp: input and end must have the same dtype"),
])
def test_errors_name_the_op(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ----------------------------------------------------------------------------- logaddexp

@given(data=st.data())
def test_logaddexp_gradcheck_broadcast(data):
    sa, sb = data.draw(broadcast_pairs())
    a, b = data.draw(arrays(sa, -5.0, 5.0)), data.draw(arrays(sb, -5.0, 5.0))
    mg.gradcheck(mg.logaddexp, (tensor(a), tensor(b)))
    mg.gradgradcheck(mg.logaddexp, (tensor(a), tensor(b)))


def test_logaddexp_values_without_overflow_and_errors():
    x = mg.tensor([1000.0, -1000.0, 0.0, -np.inf], requires_grad=True)
    y = mg.tensor([1000.0, -1000.0, np.log(3.0), 0.0], requires_grad=True)
    z = mg.logaddexp(x, y)
    assert z.dtype == mg.float32
    np.testing.assert_allclose(z.detach().numpy(), [1000 + np.log(2), -1000 + np.log(2), np.log(4), 0.0], rtol=1e-6)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.5, 0.25, 0.0], rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), [0.5, 0.5, 0.75, 1.0], rtol=1e-6)
    assert x.logaddexp(2.0).shape == (4,)
    with pytest.raises(TypeError, match="logaddexp: needs floating-point"):
        mg.logaddexp(mg.tensor([1, 2]), mg.tensor([3, 4]))
    with pytest.raises(ValueError, match=r"logaddexp: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        mg.logaddexp(mg.ones(2, 3), mg.ones(4))


@pytest.mark.oracle
def test_logaddexp_against_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(3).standard_normal((3, 1, 4)) * 30
    b = np.random.default_rng(4).standard_normal((5, 1)) * 30
    g = np.random.default_rng(5).standard_normal((3, 5, 4))
    ma, mb = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    mz, tz = mg.logaddexp(ma, mb), torch.logaddexp(ta, tb)
    mz.backward(mg.tensor(g))
    tz.backward(torch.tensor(g))
    np.testing.assert_allclose(mz.numpy(), tz.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ma.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.

def test_gelu_tanh_of_inf(kernel_set):
    y = F.gelu(mg.tensor(np.array([np.inf, 1.0, np.nan], np.float32)), approximate="tanh")
    assert A(y)[0] == np.inf and np.isnan(A(y)[2])


def test_pow_gradient_at_zero_to_the_zero():
    x = mg.tensor(np.array([0.0, 0.0, 2.0]), requires_grad=True)
    y = mg.tensor(np.array([0.0, 1.0, 0.0]), requires_grad=True)
    (x ** y).sum().backward()
    assert np.array_equal(A(x.grad), [0.0, 1.0, 0.0])
    assert np.allclose(A(y.grad), [0.0, 0.0, math.log(2)])

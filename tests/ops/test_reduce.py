"""minigrad.ops.reduce: gradcheck (float64, hypothesis-drawn) of the reductions, their values and edge cases."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from strategies import arrays, distinct_arrays, shapes, tensor
from _ops_helpers import A, check_raises_naming, _x


def dims_of(data, ndim, allow_none=True, allow_tuple=True):
    choices = [st.integers(-ndim, ndim - 1)] if ndim else []
    if allow_none or not ndim:
        choices.append(st.none())
    if allow_tuple and ndim:
        choices.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple))
    return data.draw(st.one_of(*choices))


@pytest.mark.parametrize("op", ["sum", "mean", "var", "std", "logsumexp", "amax", "norm"])
@given(data=st.data())
def test_reductions(op, data):
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(distinct_arrays(shape)) if op in ("amax", "norm", "std", "var") else data.draw(arrays(shape))
    dim = dims_of(data, len(shape))
    keepdim = data.draw(st.booleans())
    if op in ("var", "std"):
        n = int(np.prod([shape[d] for d in ((dim,) if isinstance(dim, int) else (dim or range(len(shape))))]))
        if n < 2:
            dim, keepdim = None, keepdim
            if x.size < 2:
                return
        fn = lambda t: getattr(t, op)(dim=dim, keepdim=keepdim)  # noqa: E731
    elif op == "logsumexp":
        fn = lambda t: mg.logsumexp(t, dim=dim, keepdim=keepdim)  # noqa: E731
    elif op == "norm":
        fn = lambda t: t.norm(dim=dim, keepdim=keepdim)  # noqa: E731
    else:
        fn = lambda t: getattr(t, op)(dim=dim, keepdim=keepdim)  # noqa: E731
    mg.gradcheck(fn, (tensor(x),))


@pytest.mark.parametrize("op", ["max", "min", "prod", "cumsum"])
@given(data=st.data())
def test_single_dim_reductions(op, data):
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(distinct_arrays(shape, 0.3, 1.5))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    if op in ("max", "min"):
        fn = lambda t: getattr(t, op)(dim=dim, keepdim=keepdim).values  # noqa: E731
    elif op == "prod":
        fn = lambda t: t.prod(dim=dim, keepdim=keepdim)  # noqa: E731
    else:
        fn = lambda t: t.cumsum(dim)  # noqa: E731
    mg.gradcheck(fn, (tensor(x),))
    mg.gradcheck(lambda t: getattr(t, op)() if op != "cumsum" else t.cumsum(0), (tensor(x),))


def test_prod_with_zeros():
    x = mg.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 4.0]], dtype=mg.float64, requires_grad=True)
    mg.gradcheck(lambda t: t.prod(dim=1), (x,))
    x.prod(dim=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 6, 0], [0, 0, 0], [8, 4, 2]])


def test_norm_p_values_and_zero():
    x = tensor(np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]))
    for p in (1, 3, float("inf")):
        mg.gradcheck(lambda t: t.norm(p=p, dim=1), (x,))
    z = mg.zeros(3, dtype=mg.float64, requires_grad=True)
    z.norm().backward()
    np.testing.assert_array_equal(z.grad.numpy(), 0)


def test_argmax_argmin_values():
    x = mg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert x.argmax().item() == 3
    assert x.argmax(dim=1).tolist() == [1, 0]
    assert x.argmin(dim=0, keepdim=True).tolist() == [[0, 1, 0]]
    v, i = x.max(dim=1)
    assert v.tolist() == [5.0, 7.0] and i.tolist() == [1, 0]


def test_logsumexp_finite_for_huge_logits():
    x = mg.tensor([[1e4, -1e4, 0.0], [1e4, 1e4, 1e4]], requires_grad=True)
    y = mg.logsumexp(x, dim=1)
    assert np.all(np.isfinite(y.numpy()))
    np.testing.assert_allclose(y.numpy(), [1e4, 1e4 + np.log(3)], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1, 0, 0], [1 / 3] * 3], rtol=1e-6)


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.

def test_var_std_of_huge_equal_values():
    x = mg.full((4,), 3e38)
    assert float(x.var().item()) == 0.0 and float(x.std().item()) == 0.0
    assert np.all(A(mg.full((2, 4), 3e38).var(1)) == 0)


@pytest.mark.parametrize("fn, err", [("amax", RuntimeError), ("amin", RuntimeError)])
def test_amax_amin_of_empty_tensors_name_the_op(fn, err):
    x = mg.tensor(np.ones((0, 3), np.float32))
    with pytest.raises(err, match=fn):
        getattr(x, fn)()
    with pytest.raises(IndexError, match=fn):
        getattr(x, fn)(dim=0)
    assert getattr(x, fn)(dim=1).shape == (0,)


# ----------------------------------------------------------------------------- errors name the op

ERRORS = [
    ("all", lambda: _x().all(dim=5), IndexError),
    ("any", lambda: _x().any(dim=5), IndexError),
    ("count_nonzero", lambda: mg.count_nonzero(_x(), dim=5), IndexError),
    ("std", lambda: _x().std(dim=5), IndexError),
    ("var", lambda: mg.tensor(np.arange(3)).var(), TypeError),
]


@pytest.mark.parametrize("op, call, err", ERRORS, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERRORS)])
def test_bad_arguments_raise_naming_the_op(kernel_set, op, call, err):
    check_raises_naming(op, call, err)


def test_logsumexp_of_bool_and_int_like_pytorch():
    assert abs(float(mg.logsumexp(mg.tensor(np.array([True, False])), dim=0).item()) - 1.3132616) < 1e-6

"""minigrad.ops.index: gradcheck (float64, hypothesis-drawn) of indexing, gather, scatter and masks."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from strategies import arrays, shapes, tensor
from _ops_helpers import check_raises_naming, _x


@given(data=st.data())
def test_getitem(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3, max_side=5))
    x = tensor(data.draw(arrays(shape)))
    n0 = shape[0]
    idx = data.draw(st.lists(st.integers(-n0, n0 - 1), min_size=1, max_size=6))  # repeats accumulate
    mg.gradcheck(lambda t: t[idx], (x,))
    mg.gradcheck(lambda t: t[mg.tensor(idx)], (x,))
    mg.gradcheck(lambda t: t[1:, ...] if n0 > 1 else t[0], (x,))
    mg.gradcheck(lambda t: t[None, ::2], (x,))
    mask = data.draw(arrays(shape)) > 0
    mg.gradcheck(lambda t: t[mg.tensor(mask)], (x,))
    if len(shape) >= 2:
        j = data.draw(st.lists(st.integers(0, shape[1] - 1), min_size=len(idx), max_size=len(idx)))
        mg.gradcheck(lambda t: t[idx, j], (x,))
        mg.gradcheck(lambda t: t[..., -1], (x,))


def test_getitem_repeated_indices_accumulate():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


@given(data=st.data())
def test_gather_index_select_masked_fill(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    x = tensor(data.draw(arrays(shape)))
    dim = data.draw(st.integers(0, len(shape) - 1))
    ishape = tuple(data.draw(st.integers(1, 4)) if i == dim else s for i, s in enumerate(shape))
    index = np.asarray(data.draw(st.lists(st.integers(0, shape[dim] - 1), min_size=int(np.prod(ishape)),
                                          max_size=int(np.prod(ishape))))).reshape(ishape)
    mg.gradcheck(lambda t: t.gather(dim, mg.tensor(index)), (x,))
    sel = mg.tensor(index.reshape(-1)[:3])
    mg.gradcheck(lambda t: t.index_select(dim, sel), (x,))
    mask = mg.tensor(data.draw(arrays(shape)) > 0.5)
    mg.gradcheck(lambda t: t.masked_fill(mask, -7.0), (x,))
    mg.gradgradcheck(lambda t: (t.gather(dim, mg.tensor(index)) ** 2), (x,))


def test_scatter_add_and_one_hot():
    x = mg.zeros(3, 4, dtype=mg.float64, requires_grad=True)
    src = mg.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    idx = mg.tensor([[0, 0], [1, 3], [2, 1]])
    y = mg.scatter_add(x, 1, idx, src)
    assert y.tolist() == [[1, 0, 0, 0], [0, 2, 0, 3], [0, 5, 4, 0]]
    mg.gradcheck(lambda x, s: mg.scatter_add(x, 1, idx, s) ** 2, (x, src))
    oh = mg.one_hot(mg.tensor([0, 2, 1]), 4)
    assert oh.dtype == mg.int64 and oh.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]
    with pytest.raises(ValueError, match="num_classes"):
        mg.one_hot(mg.tensor([5]), 3)


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.
#
# errors name the op

ERRORS = [
    ("index", lambda: _x()[::0], ValueError),
    ("scatter_add", lambda: mg.zeros(3).scatter_add(0, mg.tensor(np.array([0, 5])), mg.ones(2)), IndexError),
    ("scatter_add", lambda: mg.zeros(3).scatter_add(0, mg.tensor(np.array([0, -1])), mg.ones(2)), IndexError),
    ("scatter_add", lambda: mg.zeros(3).scatter_add(0, mg.tensor(np.array([0, 1, 2])), mg.ones(2)), ValueError),
    ("scatter_add", lambda: mg.zeros(3, 2).scatter_add(0, mg.tensor(np.array([0, 1])), mg.ones(3, 2)), ValueError),
    ("index_select", lambda: mg.tensor(np.arange(3.0)).index_select(0, mg.tensor(np.array([-1]))), IndexError),
]


@pytest.mark.parametrize("op, call, err", ERRORS, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERRORS)])
def test_bad_arguments_raise_naming_the_op(kernel_set, op, call, err):
    check_raises_naming(op, call, err)

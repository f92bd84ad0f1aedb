"""minigrad.ops.sort: sort/argsort/topk and searchsorted/bucketize/isin: gradcheck on
hypothesis-drawn float64 inputs, the PyTorch oracle (ties and NaN), and the errors bad input gets."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from strategies import distinct_arrays, shapes, tensor
from _ops_helpers import _check, _pair, rng


@given(data=st.data())
def test_gradcheck_sort_topk(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    x = tensor(data.draw(distinct_arrays(shape)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    desc = data.draw(st.booleans())
    mg.gradcheck(lambda t: t.sort(dim=dim, descending=desc).values, (x,))
    k = data.draw(st.integers(0, shape[dim]))
    largest = data.draw(st.booleans())
    mg.gradcheck(lambda t: t.topk(k, dim=dim, largest=largest).values, (x,))


# ----------------------------------------------------------------------------- oracle

@pytest.mark.oracle
@pytest.mark.parametrize("descending", [False, True])
def test_oracle_sort_argsort_topk(descending):
    torch = pytest.importorskip("torch")
    a = rng.permutation(24).reshape(2, 3, 4).astype(np.float32)
    for dim in (0, 1, -1):
        m, t = _pair(a)
        mv, mi = m.sort(dim=dim, descending=descending)
        tv, ti = t.sort(dim=dim, descending=descending)
        np.testing.assert_array_equal(mi.numpy(), ti.numpy())
        _check(mv, tv, [m], [t])
        assert mg.argsort(m, dim=dim, descending=descending).tolist() == torch.argsort(t, dim, descending).tolist()
        for k in (0, 1, a.shape[dim]):
            m, t = _pair(a)
            mv, mi = m.topk(k, dim=dim, largest=not descending)
            tv, ti = t.topk(k, dim=dim, largest=not descending)
            np.testing.assert_array_equal(mi.numpy(), ti.numpy())
            _check(mv, tv, [m], [t])


@pytest.mark.oracle
def test_oracle_sort_ties_and_nan():
    torch = pytest.importorskip("torch")
    a = np.array([3.0, 1.0, np.nan, 1.0, 3.0, -np.inf, 1.0], dtype=np.float32)
    for desc in (False, True):
        v, i = mg.sort(mg.tensor(a), descending=desc, stable=True)
        tv, ti = torch.sort(torch.tensor(a), descending=desc, stable=True)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


@pytest.mark.oracle
@pytest.mark.parametrize("right", [False, True])
def test_oracle_searchsorted_bucketize_isin(right):
    torch = pytest.importorskip("torch")
    seq = np.array([1.0, 2.0, 2.0, 4.0, 7.0], np.float32)
    vals = np.array([[0.0, 2.0, 3.0], [7.0, 8.0, 1.0]], np.float32)
    ms, ts = mg.tensor(seq), torch.tensor(seq)
    mv, tv = mg.tensor(vals), torch.tensor(vals)
    assert mg.searchsorted(ms, mv, right=right).tolist() == torch.searchsorted(ts, tv, right=right).tolist()
    assert mg.searchsorted(ms, 2.0, right=right).item() == torch.searchsorted(ts, 2.0, right=right).item()
    side = "right" if right else "left"
    assert mg.searchsorted(ms, mv, side=side, out_int32=True).dtype == mg.int32
    rows = np.sort(rng.standard_normal((2, 6)).astype(np.float32), axis=1)
    assert mg.searchsorted(mg.tensor(rows), mv, right=right).tolist() == \
        torch.searchsorted(torch.tensor(rows), tv, right=right).tolist()
    unsorted = np.array([4.0, 1.0, 7.0, 2.0], np.float32)
    order = np.argsort(unsorted)
    assert mg.searchsorted(mg.tensor(unsorted), mv, sorter=mg.tensor(order)).tolist() == \
        torch.searchsorted(torch.tensor(unsorted), tv, sorter=torch.tensor(order)).tolist()
    assert mg.bucketize(mv, ms, right=right).tolist() == torch.bucketize(tv, ts, right=right).tolist()
    a, b = np.array([[1, 2], [3, 4]]), np.array([2, 3, 9])
    for invert in (False, True):
        assert mg.isin(mg.tensor(a), mg.tensor(b), invert=invert).tolist() == \
            torch.isin(torch.tensor(a), torch.tensor(b), invert=invert).tolist()
    assert mg.isin(mg.tensor(a), 3).tolist() == torch.isin(torch.tensor(a), 3).tolist()


@pytest.mark.parametrize("call,err,match", [
    (lambda: mg.ones(2, 4).topk(5), RuntimeError, r"topk: k \(5\) is out of range"),
    (lambda: mg.ones(2, 4).topk(2, dim=2), IndexError, "topk: dim 2 is out of range"),
    (lambda: mg.ones(2, 4).sort(dim=-3), IndexError, "sort: dim -3"),
    (lambda: mg.searchsorted(mg.ones(2, 3), mg.ones(3, 1)), RuntimeError, "searchsorted: boundaries of shape"),
    (lambda: mg.searchsorted(mg.ones(3), mg.ones(2), side="middle"), ValueError, "side must be"),
    (lambda: mg.bucketize(mg.ones(2), mg.ones(2, 2)), RuntimeError, "bucketize: boundaries must be a 1-D"),
    (lambda: mg.isin(1, 2), TypeError, "isin: at least one"),
])
def test_errors_name_the_op(call, err, match):
    with pytest.raises(err, match=match):
        call()

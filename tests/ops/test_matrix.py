"""minigrad.ops.matrix: tril/triu, einsum, addmm/baddbmm and cdist: gradcheck on hypothesis-drawn
float64 inputs, the PyTorch oracle, and the errors bad input gets."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import minigrad as mg
from strategies import arrays, distinct_arrays, shapes, tensor
from _ops_helpers import _check, _pair, check_unary_against_torch, rng


def mats(min_dims=2, max_dims=3):
    return shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=4)


# ----------------------------------------------------------------------------- gradcheck

@given(data=st.data())
def test_gradcheck_tril_triu_roll(data):
    shape = data.draw(mats())
    x = tensor(data.draw(arrays(shape)))
    k = data.draw(st.integers(-3, 3))
    mg.gradcheck(lambda t: t.tril(k), (x,))
    mg.gradcheck(lambda t: mg.triu(t, diagonal=k), (x,))
    shift = data.draw(st.integers(-5, 5))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    mg.gradcheck(lambda t: t.roll(shift, dim), (x,))
    mg.gradcheck(lambda t: mg.roll(t, shift), (x,))
    mg.gradcheck(lambda t: mg.roll(t, (shift, 1), (0, -1)), (x,))


EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("ij,kj", [(3, 4), (2, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (3, 4, 2)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(4, 4)]),
    ("iij->j", [(3, 3, 2)]),
    ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(5,), (5,)]),
    ("ijk,ik->j", [(2, 3, 4), (2, 4)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("ij,ij->ij", [(1, 3), (4, 3)]),
]


@pytest.mark.parametrize("eq,shapes_", EINSUM_CASES)
def test_gradcheck_einsum(eq, shapes_):
    xs = [tensor(rng.uniform(-1, 1, s)) for s in shapes_]
    mg.gradcheck(lambda *ts: mg.einsum(eq, *ts), tuple(xs))


def test_gradgradcheck_einsum_tril_roll():
    a, b = tensor(rng.uniform(-1, 1, (3, 4))), tensor(rng.uniform(-1, 1, (4, 2)))
    mg.gradgradcheck(lambda x, y: mg.einsum("ij,jk->ik", x, y), (a, b))
    mg.gradgradcheck(lambda x: mg.einsum("ii->i", x[:, :3]), (a,))
    mg.gradgradcheck(lambda x: x.tril(1) * x.roll(1, 0), (a,))
    mg.gradgradcheck(lambda x: x.logcumsumexp(1), (tensor(rng.uniform(-3, 3, (3, 4))),))


@settings(max_examples=12)
@given(data=st.data())
def test_gradcheck_addmm_baddbmm_lerp(data):
    n, m, p, b = (data.draw(st.integers(1, 4)) for _ in range(4))
    beta = data.draw(st.sampled_from([0.0, 1.0, -0.5]))
    alpha = data.draw(st.sampled_from([1.0, 2.0]))
    inp = tensor(data.draw(arrays(data.draw(st.sampled_from([(n, p), (p,), (1, p), (n, 1)])))))
    m1, m2 = tensor(data.draw(arrays((n, m)))), tensor(data.draw(arrays((m, p))))
    mg.gradcheck(lambda i, x, y: mg.addmm(i, x, y, beta=beta, alpha=alpha), (inp, m1, m2))
    b1, b2 = tensor(data.draw(arrays((b, n, m)))), tensor(data.draw(arrays((b, m, p))))
    inp3 = tensor(data.draw(arrays((n, p))))
    mg.gradcheck(lambda i, x, y: i.baddbmm(x, y, beta=beta, alpha=alpha), (inp3, b1, b2))
    sa, sb = data.draw(st.sampled_from([((2, 3), (2, 3)), ((2, 3), (3,)), ((1, 3), (2, 1))]))
    start, end = tensor(data.draw(arrays(sa))), tensor(data.draw(arrays(sb)))
    w = tensor(data.draw(arrays(sb, 0.0, 1.0)))
    mg.gradcheck(lambda s, e, ww: mg.lerp(s, e, ww), (start, end, w))
    mg.gradcheck(lambda s, e: s.lerp(e, 0.3), (start, end))


@given(data=st.data())
def test_gradcheck_cdist(data):
    bsz = data.draw(st.sampled_from([(), (2,)]))
    pr, r, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    both = data.draw(distinct_arrays(bsz + (pr + r, m)))
    x1, x2 = tensor(both[..., :pr, :]), tensor(both[..., pr:, :] + 0.5)
    p = data.draw(st.sampled_from([1.0, 2.0, 3.0, float("inf")]))
    if p == float("inf") and m > 1:  # two near-equal largest |differences| are a kink: no finite difference
        top = np.sort(np.abs(x1.array[..., :, None, :] - x2.array[..., None, :, :]), axis=-1)
        assume((top[..., -1] - top[..., -2]).min() > 1e-3)
    mg.gradcheck(lambda a, b: mg.cdist(a, b, p=p), (x1, x2))


# ----------------------------------------------------------------------------- oracle

@pytest.mark.oracle
@pytest.mark.parametrize("name,shape,args", [
    ("tril", (4, 5), (1,)), ("triu", (2, 4, 3), (-1,)),
])
def test_oracle_unary(name, shape, args):
    check_unary_against_torch(name, shape, args)


@pytest.mark.oracle
@pytest.mark.parametrize("eq,shapes_", EINSUM_CASES)
def test_oracle_einsum(eq, shapes_):
    torch = pytest.importorskip("torch")
    arrs = [rng.standard_normal(s).astype(np.float32) for s in shapes_]
    pairs = [_pair(a) for a in arrs]
    ours = mg.einsum(eq, *[p[0] for p in pairs])
    theirs = torch.einsum(eq, *[p[1] for p in pairs])
    assert ours.shape == tuple(theirs.shape)
    _check(ours, theirs, [p[0] for p in pairs], [p[1] for p in pairs], atol=1e-4)
    assert mg.einsum(eq, [p[0].detach() for p in pairs]).shape == ours.shape  # operands as one list


@pytest.mark.oracle
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1)])
def test_oracle_addmm_baddbmm(beta, alpha):
    torch = pytest.importorskip("torch")
    ins = [_pair(rng.standard_normal(s).astype(np.float32)) for s in [(3,), (2, 4), (4, 3)]]
    _check(mg.addmm(*[p[0] for p in ins], beta=beta, alpha=alpha),
           torch.addmm(*[p[1] for p in ins], beta=beta, alpha=alpha), [p[0] for p in ins], [p[1] for p in ins])
    ins = [_pair(rng.standard_normal(s).astype(np.float32)) for s in [(5, 2, 3), (5, 2, 4), (5, 4, 3)]]
    _check(ins[0][0].baddbmm(ins[1][0], ins[2][0], beta=beta, alpha=alpha),
           ins[0][1].baddbmm(ins[1][1], ins[2][1], beta=beta, alpha=alpha),
           [p[0] for p in ins], [p[1] for p in ins], atol=1e-4)


@pytest.mark.oracle
def test_oracle_addmm_beta_zero_ignores_nan():
    torch = pytest.importorskip("torch")
    inp = np.full((2, 2), np.nan, np.float32)
    a, b = np.eye(2, dtype=np.float32), np.ones((2, 2), np.float32)
    ours = mg.addmm(mg.tensor(inp), mg.tensor(a), mg.tensor(b), beta=0)
    np.testing.assert_array_equal(ours.numpy(), torch.addmm(*map(torch.tensor, (inp, a, b)), beta=0).numpy())


@pytest.mark.oracle
@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.0, float("inf")])
@pytest.mark.parametrize("s1,s2", [((4, 3), (5, 3)), ((2, 4, 3), (2, 5, 3)), ((2, 4, 3), (5, 3))])
def test_oracle_cdist(p, s1, s2):
    torch = pytest.importorskip("torch")
    m1, t1 = _pair(rng.standard_normal(s1).astype(np.float32))
    m2, t2 = _pair(rng.standard_normal(s2).astype(np.float32))
    _check(mg.cdist(m1, m2, p=p), torch.cdist(t1, t2, p=p), [m1, m2], [t1, t2], atol=1e-4)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,match", [
    (lambda: mg.tril(mg.ones(3)), RuntimeError, "tril: input tensor must have at least 2 dimensions"),
    (lambda: mg.ones(3, 3).triu(0.5), TypeError, "triu: diagonal must be an int"),
    (lambda: mg.einsum("ij,jk->ik", mg.ones(2, 3)), ValueError, "names 2 operand"),
    (lambda: mg.einsum("ij,jk->ik", mg.ones(2, 3), mg.ones(4, 2)), ValueError, "subscript 'j' has size"),
    (lambda: mg.einsum("ijk->i", mg.ones(2, 3)), ValueError, "operand 0 has 2 dim"),
    (lambda: mg.einsum("ij->iz", mg.ones(2, 3)), ValueError, "appear in no operand"),
    (lambda: mg.einsum("i$->i", mg.ones(2, 3)), ValueError, "invalid character"),
    (lambda: mg.addmm(mg.ones(2, 2), mg.ones(2, 3), mg.ones(2, 2)), ValueError, r"addmm: mat1 \(2, 3\)"),
    (lambda: mg.addmm(mg.ones(3, 3), mg.ones(2, 3), mg.ones(3, 2)), ValueError, "addmm: input of shape"),
    (lambda: mg.baddbmm(mg.ones(2, 2), mg.ones(2, 2), mg.ones(2, 2)), ValueError, "baddbmm: batch1 and batch2 must be 3-D"),
    (lambda: mg.cdist(mg.ones(2, 3), mg.ones(2, 4)), ValueError, "cdist: x1 and x2 must have the same number of columns"),
    (lambda: mg.cdist(mg.ones(3), mg.ones(2, 3)), ValueError, "cdist: x1 and x2 need at least 2 dims"),
    (lambda: mg.cdist(mg.ones(2, 3), mg.ones(2, 3), p=-1), ValueError, "non-negative"),
])
def test_errors_name_the_op(call, err, match):
    with pytest.raises(err, match=match):
        call()

"""The PyTorch functions real programs reach for: tril/triu, sort/argsort/topk, einsum,
cumprod/logcumsumexp/diff, roll, lerp, addmm/baddbmm, cdist, nan_to_num,
repeat_interleave, searchsorted/bucketize/isin, multinomial, Generator, randint forms,
Tensor.new_*: gradcheck on hypothesis-drawn float64 inputs, the PyTorch oracle, and the
errors bad input gets."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
from strategies import arrays, distinct_arrays, shapes, tensor

rng = np.random.default_rng(7)


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
    mg.gradcheck(lambda a, b: mg.cdist(a, b, p=p), (x1, x2))


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

def _pair(a, requires_grad=True):
    import torch

    return mg.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def _check(ours, theirs, m_in, t_in, atol=1e-5):
    """Compare outputs, then the gradients of sum(out * u) for a random cotangent u."""
    import torch

    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5, atol=atol)
    if not theirs.requires_grad:
        return
    u = rng.standard_normal(theirs.shape).astype(np.float32)
    ours.backward(mg.tensor(u))
    theirs.backward(torch.tensor(u))
    for m, t in zip(m_in, t_in):
        if t.grad is not None:
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=atol)


@pytest.mark.oracle
@pytest.mark.parametrize("name,shape,args", [
    ("tril", (4, 5), (1,)), ("triu", (2, 4, 3), (-1,)), ("cumprod", (3, 4), (1,)),
    ("logcumsumexp", (3, 5), (1,)), ("logcumsumexp", (4, 2), (0,)), ("diff", (3, 5), ()),
    ("roll", (3, 4), (2, 1)), ("roll", (3, 4), (-5,)), ("roll", (2, 3, 4), ((1, -2), (0, 2))),
    ("nan_to_num", (3, 4), ()),
])
def test_oracle_unary(name, shape, args):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal(shape).astype(np.float32)
    m, t = _pair(a)
    _check(getattr(mg, name)(m, *args), getattr(torch, name)(t, *args), [m], [t])
    m2, t2 = _pair(a)
    _check(getattr(m2, name)(*args), getattr(t2, name)(*args), [m2], [t2])


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


# ----------------------------------------------------------------------------- random: multinomial, Generator, randint

def test_multinomial_frequencies_and_validity():
    probs = mg.tensor([0.1, 0.0, 0.6, 0.3])
    draws = mg.multinomial(probs, 20000, replacement=True).numpy()
    assert draws.shape == (20000,) and draws.dtype == np.int64
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.02)
    rows = mg.tensor([[1.0, 1.0, 0.0, 2.0], [0.0, 5.0, 5.0, 0.0]])
    out = rows.multinomial(2).numpy()  # without replacement: distinct, never a zero weight when avoidable
    assert out.shape == (2, 2)
    for r, row in zip(out, rows.numpy()):
        assert len(set(r)) == 2 and (row[r] > 0).all()
    firsts = np.array([mg.multinomial(mg.tensor([1.0, 3.0]), 2).tolist() for _ in range(2000)])
    np.testing.assert_allclose((firsts[:, 0] == 1).mean(), 0.75, atol=0.04)  # first draw ~ the weights
    assert sorted(mg.multinomial(mg.tensor([0.0, 1.0]), 2).tolist()) == [0, 1]


@pytest.mark.parametrize("probs,n,repl,match", [
    ([[[1.0]]], 1, False, "1 or 2 dim"),
    ([1.0, -0.5], 1, True, "element < 0"),
    ([1.0, float("nan")], 1, True, "nan"),
    ([0.0, 0.0], 1, True, "sum of probabilities"),
    ([1.0, 1.0], 3, False, "without replacement"),
    ([1.0, 1.0], 0, True, "n_sample <= 0"),
])
def test_multinomial_errors(probs, n, repl, match):
    with pytest.raises(RuntimeError, match=match):
        mg.multinomial(mg.tensor(probs), n, replacement=repl)


def test_generator_reproducible_and_independent():
    g = mg.Generator()
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    a = [mg.randperm(10, generator=g).tolist(), mg.rand(3, generator=g).tolist(), mg.randn(2, generator=g).tolist(),
         mg.randint(0, 9, (4,), generator=g).tolist(), mg.multinomial(mg.ones(5), 3, generator=g).tolist()]
    g.manual_seed(5)
    mg.rand(7)  # the global generator does not disturb g
    b = [mg.randperm(10, generator=g).tolist(), mg.rand(3, generator=g).tolist(), mg.randn(2, generator=g).tolist(),
         mg.randint(0, 9, (4,), generator=g).tolist(), mg.multinomial(mg.ones(5), 3, generator=g).tolist()]
    assert a == b
    state = g.get_state()
    assert state.dtype == mg.uint8
    x = mg.rand(4, generator=g).tolist()
    g.set_state(state)
    assert mg.rand(4, generator=g).tolist() == x
    s = g.seed()
    assert g.initial_seed() == s
    with pytest.raises(TypeError, match="manual_seed"):
        g.manual_seed(1.5)
    with pytest.raises(ValueError, match="37-byte"):
        g.set_state(mg.zeros(3, dtype=mg.uint8))
    with pytest.raises(TypeError, match="generator"):
        mg.rand(2, generator="seed")
    assert mg.Generator().device.type == "cpu" and mg.Generator(device="cuda").device.type == "cuda"
    with pytest.raises(ValueError, match="unknown device type"):
        mg.Generator(device="tpu")


def test_generator_in_dataloader_and_random_split():
    from minigrad.data import DataLoader, TensorDataset, random_split

    ds = TensorDataset(mg.arange(20))
    g = mg.Generator().manual_seed(0)
    loader = DataLoader(ds, batch_size=20, shuffle=True, generator=g)
    first = next(iter(loader))[0].tolist()
    g.manual_seed(0)  # re-seeding the same generator restarts the loader's order
    assert next(iter(loader))[0].tolist() == first
    assert sorted(first) == list(range(20)) and first != list(range(20))
    parts = random_split(ds, [15, 5], generator=mg.Generator().manual_seed(3))
    again = random_split(ds, [15, 5], generator=mg.Generator().manual_seed(3))
    assert list(parts[1].indices) == list(again[1].indices)
    assert sorted(list(parts[0].indices) + list(parts[1].indices)) == list(range(20))


def test_randint_forms():
    a = mg.randint(5, (300,))
    assert a.shape == (300,) and a.dtype == mg.int64 and set(a.tolist()) == set(range(5))
    b = mg.randint(3, 6, (2, 50))
    assert b.shape == (2, 50) and b.numpy().min() >= 3 and b.numpy().max() <= 5
    assert mg.randint(10, size=(4,)).shape == (4,)
    assert mg.randint(low=2, high=4, size=(3,)).numpy().min() >= 2
    assert mg.randint(4, (2,), dtype=mg.int32).dtype == mg.int32
    with pytest.raises(TypeError, match="tuple"):
        mg.randint(5, 3)
    with pytest.raises(TypeError, match="size is missing"):
        mg.randint(5)
    with pytest.raises(ValueError, match="greater than low"):
        mg.randint(5, 2, (3,))


# ----------------------------------------------------------------------------- new_*, is_tensor, numel

def test_new_tensor_family():
    x = mg.zeros(2, dtype=mg.float64)
    z = x.new_zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == mg.float64 and not z.numpy().any()
    assert x.new_ones((4,)).tolist() == [1.0] * 4 and x.new_ones(1).dtype == mg.float64
    assert x.new_empty(3).shape == (3,)
    f = x.new_full((2, 2), 7)
    assert f.dtype == mg.float64 and f.tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert x.new_full((1,), 1, dtype=mg.int64).dtype == mg.int64
    t = x.new_tensor([1, 2])
    assert t.dtype == mg.float64 and t.tolist() == [1.0, 2.0] and t.is_leaf
    src = mg.ones(2, requires_grad=True)
    c = x.new_tensor(src)
    assert not c.requires_grad and c.dtype == mg.float64
    assert x.new_zeros(2, requires_grad=True).requires_grad
    assert mg.is_tensor(x) and not mg.is_tensor(np.zeros(2)) and mg.numel(mg.ones(2, 3)) == 6


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,match", [
    (lambda: mg.tril(mg.ones(3)), RuntimeError, "tril: input tensor must have at least 2 dimensions"),
    (lambda: mg.ones(3, 3).triu(0.5), TypeError, "triu: diagonal must be an int"),
    (lambda: mg.ones(2, 4).topk(5), RuntimeError, r"topk: k \(5\) is out of range"),
    (lambda: mg.ones(2, 4).topk(2, dim=2), IndexError, "topk: dim 2 is out of range"),
    (lambda: mg.ones(2, 4).sort(dim=-3), IndexError, "sort: dim -3"),
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
    (lambda: mg.roll(mg.ones(2, 3), (1, 2), 0), ValueError, "roll: shifts and dims must align"),
    (lambda: mg.roll(mg.ones(2, 3), 1, 2), IndexError, "roll: dim 2"),
    (lambda: mg.diff(mg.ones(3), n=-1), RuntimeError, "diff: order n must be a non-negative"),
    (lambda: mg.diff(mg.ones(3, 2), prepend=mg.ones(2)), RuntimeError, "diff: prepend/append must have 2 dims"),
    (lambda: mg.cumprod(mg.ones(3), 1), IndexError, "cumprod: dim 1"),
    (lambda: mg.logcumsumexp(mg.tensor([1, 2]), 0), TypeError, "logcumsumexp: needs a floating-point"),
    (lambda: mg.lerp(mg.ones(2), mg.ones(2, dtype=mg.float64), 0.5), TypeError, "lerp: input and end must have the same dtype"),
    (lambda: mg.ones(3).repeat_interleave(mg.tensor([1, 2])), ValueError, "repeat_interleave: repeats must be"),
    (lambda: mg.ones(3).repeat_interleave(-1), ValueError, "non-negative"),
    (lambda: mg.searchsorted(mg.ones(2, 3), mg.ones(3, 1)), RuntimeError, "searchsorted: boundaries of shape"),
    (lambda: mg.searchsorted(mg.ones(3), mg.ones(2), side="middle"), ValueError, "side must be"),
    (lambda: mg.bucketize(mg.ones(2), mg.ones(2, 2)), RuntimeError, "bucketize: boundaries must be a 1-D"),
    (lambda: mg.isin(1, 2), TypeError, "isin: at least one"),
])
def test_errors_name_the_op(call, err, match):
    with pytest.raises(err, match=match):
        call()

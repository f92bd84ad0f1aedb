"""scaled_dot_product_attention: gradcheck (float64, hypothesis-drawn shapes, masks,
causal, broadcast batch dims; both kernel sets), the fully-masked-row convention,
the composed path (dropout, a mask that needs a gradient), errors, and PyTorch as
an oracle for values and gradients of every option."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.ops.attention import scaled_dot_product_attention as sdpa
from _ops_helpers import A, check_zero_size, MODES, t64

@st.composite
def sdpa_cases(draw):
    nb = draw(st.integers(0, 3))
    batch = tuple(draw(st.lists(st.integers(1, 2), min_size=nb, max_size=nb)))
    L, S, E, Ev = (draw(st.integers(1, 5)) for _ in range(4))

    def maybe_broadcast(shape):  # some batch dims of k or v may be 1 or missing
        shape = tuple(1 if draw(st.booleans()) else n for n in shape)
        return shape[draw(st.integers(0, len(shape))):]

    qb = batch
    kb = maybe_broadcast(batch)
    vb = maybe_broadcast(batch)
    mask_kind = draw(st.sampled_from([None, "bool", "float"]))
    mshape = maybe_broadcast(batch + (L, S))
    causal = draw(st.booleans())
    scale = draw(st.one_of(st.none(), st.floats(0.2, 2.0)))
    seed = draw(st.integers(0, 2 ** 31))
    return (qb + (L, E), kb + (S, E), vb + (S, Ev)), mask_kind, mshape, causal, scale, seed


def _inputs(case):
    shapes, mask_kind, mshape, causal, scale, seed = case
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal(s) for s in shapes)
    mask = None
    if mask_kind == "bool":
        mask = rng.random(mshape) > 0.3
    elif mask_kind == "float":
        mask = rng.standard_normal(mshape)
    return q, k, v, mask, causal, scale


@pytest.mark.parametrize("mode", MODES)
@given(case=sdpa_cases())
def test_sdpa_gradcheck(mode, case):
    q, k, v, mask, causal, scale = _inputs(case)
    with mg.kernels.use(mode):
        mg.gradcheck(lambda a, b, c: sdpa(a, b, c, attn_mask=mask, is_causal=causal, scale=scale),
                     (t64(q), t64(k), t64(v)))


@settings(max_examples=10)
@given(case=sdpa_cases())
def test_kernel_sets_agree(case):
    q, k, v, mask, causal, scale = _inputs(case)
    outs = []
    for mode in MODES:
        qt, kt, vt = t64(q), t64(k), t64(v)
        with mg.kernels.use(mode):
            out = sdpa(qt, kt, vt, attn_mask=mask, is_causal=causal, scale=scale)
            out.sum().backward()
        outs.append([out.array, qt.grad.array, kt.grad.array, vt.grad.array])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def _explicit(q, k, v, mask, causal, scale):
    """softmax(q k^T * scale + mask) v in NumPy, fully masked rows -> 0."""
    s = q @ np.swapaxes(k, -1, -2) * (scale if scale is not None else 1 / np.sqrt(q.shape[-1]))
    if mask is not None:
        s = s + (np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    dead = np.all(np.isneginf(s), -1, keepdims=True)
    s = np.where(dead, 0, s)
    p = np.exp(s - s.max(-1, keepdims=True))
    p = np.where(dead, 0, p / p.sum(-1, keepdims=True))
    return p @ v


@settings(max_examples=20)
@given(case=sdpa_cases())
def test_values_match_explicit_formula(case):
    q, k, v, mask, causal, scale = _inputs(case)
    out = sdpa(t64(q, False), t64(k, False), t64(v, False), attn_mask=mask, is_causal=causal, scale=scale)
    np.testing.assert_allclose(out.array, _explicit(q, k, v, mask, causal, scale), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_fully_masked_rows_are_zero_with_zero_grad(mode):
    rng = np.random.default_rng(0)
    q = t64(rng.standard_normal((2, 4, 3)))
    k, v = t64(rng.standard_normal((2, 5, 3))), t64(rng.standard_normal((2, 5, 2)))
    mask = np.ones((2, 4, 5), bool)
    mask[0, 2] = False
    with mg.kernels.use(mode):
        out = sdpa(q, k, v, attn_mask=mask)
        out.sum().backward()
    assert np.all(out.array[0, 2] == 0) and np.all(np.isfinite(out.array))
    assert np.all(q.grad.array[0, 2] == 0) and np.all(np.isfinite(k.grad.array))


def test_float_mask_with_grad_uses_composed_path():
    rng = np.random.default_rng(1)
    q, k, v = (t64(rng.standard_normal((2, 3, 4))) for _ in range(3))
    m = t64(rng.standard_normal((3, 3)))
    mg.gradcheck(lambda a, b, c, mm: sdpa(a, b, c, attn_mask=mm, is_causal=True), (q, k, v, m))
    fused = sdpa(q, k, v, attn_mask=m.detach(), is_causal=True)
    composed = sdpa(q, k, v, attn_mask=m, is_causal=True)
    np.testing.assert_allclose(fused.array, composed.array, atol=1e-12)


def test_dropout_path():
    rng = np.random.default_rng(2)
    q, k, v = (t64(rng.standard_normal((1, 2, 8, 4))) for _ in range(3))
    mg.manual_seed(0)
    a = sdpa(q, k, v, dropout_p=0.5)
    mg.manual_seed(0)
    b = sdpa(q, k, v, dropout_p=0.5)
    np.testing.assert_array_equal(a.array, b.array)          # reproducible with the seed
    full = sdpa(q, k, v)
    assert not np.allclose(a.array, full.array)              # something was dropped
    a.sum().backward()
    assert q.grad is not None and np.all(np.isfinite(q.grad.array))
    # on average over many draws, inverted dropout keeps the expectation
    big_q, big_k = t64(np.zeros((1, 1, 1, 4)), False), t64(np.zeros((1, 1, 200, 4)), False)
    big_v = t64(np.ones((1, 1, 200, 1)), False)
    mean = np.mean([sdpa(big_q, big_k, big_v, dropout_p=0.3).item() for _ in range(50)])
    assert abs(mean - 1.0) < 0.05


def test_errors():
    x = mg.randn(2, 3, 4)
    with pytest.raises(ValueError, match="do not fit"):
        sdpa(x, mg.randn(2, 3, 5), x)
    with pytest.raises(ValueError, match="broadcast"):
        sdpa(x, mg.randn(3, 3, 4), mg.randn(3, 3, 4))
    with pytest.raises(ValueError, match="attn_mask"):
        sdpa(x, x, x, attn_mask=np.ones((4, 4), bool))
    with pytest.raises(TypeError, match="dtype"):
        sdpa(x, x.double(), x)
    with pytest.raises(ValueError, match="dropout_p"):
        sdpa(x, x, x, dropout_p=1.0)
    with pytest.raises(ValueError, match="at least 2"):
        sdpa(mg.randn(4), x, x)


def test_float32_stays_float32_and_long_sequences():
    rng = np.random.default_rng(3)
    q, k, v = (mg.tensor(rng.standard_normal((2, 2, 150, 40)).astype(np.float32), requires_grad=True) for _ in range(3))
    out = sdpa(q, k, v, is_causal=True)
    out.sum().backward()
    assert out.dtype == mg.float32 and q.grad.dtype == mg.float32
    ref = _explicit(*(t.array.astype(np.float64) for t in (q, k, v)), None, True, None)
    np.testing.assert_allclose(out.array, ref, atol=1e-5)


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mask_kind", [None, "bool", "float"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("layout", ["4d", "3d", "broadcast_kv"])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_against_torch(mode, mask_kind, causal, layout, scale):
    torch = pytest.importorskip("torch")
    if causal and mask_kind is not None:
        pytest.skip("PyTorch refuses attn_mask together with is_causal")
    rng = np.random.default_rng(4)
    if layout == "4d":
        qs, ks, vs, ms = (2, 3, 7, 5), (2, 3, 9, 5), (2, 3, 9, 4), (2, 1, 7, 9)
    elif layout == "3d":
        qs, ks, vs, ms = (3, 7, 5), (3, 9, 5), (3, 9, 4), (7, 9)
    else:
        qs, ks, vs, ms = (2, 3, 7, 5), (1, 3, 9, 5), (2, 1, 9, 4), (1, 3, 1, 9)
    q, k, v = (rng.standard_normal(s) for s in (qs, ks, vs))
    mask = None
    if mask_kind == "bool":
        mask = rng.random(ms) > 0.3
        mask[..., 0] = True                     # PyTorch gives NaN on fully masked rows
    elif mask_kind == "float":
        mask = rng.standard_normal(ms)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tout = torch.nn.functional.scaled_dot_product_attention(
        tq, tk, tv, attn_mask=None if mask is None else torch.tensor(mask), is_causal=causal, scale=scale)
    g = rng.standard_normal(tout.shape)
    tout.backward(torch.tensor(g))
    mq, mk, mv = t64(q), t64(k), t64(v)
    with mg.kernels.use(mode):
        out = sdpa(mq, mk, mv, attn_mask=mask, is_causal=causal, scale=scale)
        out.backward(mg.tensor(g))
    np.testing.assert_allclose(out.array, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in ((mq, tq), (mk, tk), (mv, tv)):
        np.testing.assert_allclose(ours.grad.array, theirs.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.oracle
def test_float_mask_gradient_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    q, k = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 6, 3))
    v, m = rng.standard_normal((2, 6, 2)), rng.standard_normal((4, 6))
    tq, tk, tv, tm = (torch.tensor(a, requires_grad=True) for a in (q, k, v, m))
    torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm).sum().backward()
    mq, mk, mv, mm = t64(q), t64(k), t64(v), t64(m)
    sdpa(mq, mk, mv, attn_mask=mm).sum().backward()
    for ours, theirs in ((mq, tq), (mk, tk), (mv, tv), (mm, tm)):
        np.testing.assert_allclose(ours.grad.array, theirs.grad.numpy(), rtol=1e-9, atol=1e-11)


# ----------------------------------------------------------------------------- hostile inputs
# NaN/inf and huge values, zero-size dimensions, arguments refused with the op named.
#
# NaN, inf, huge

def test_attention_propagates_nan_and_inf_query_rows(kernel_set):
    q = np.random.default_rng(0).standard_normal((1, 1, 3, 4)).astype(np.float32)
    q[0, 0, 1, 2] = np.nan
    q[0, 0, 2, 0] = np.inf
    k = np.ones((1, 1, 3, 4), np.float32)
    v = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    qt = mg.tensor(q, requires_grad=True)
    out = F.scaled_dot_product_attention(qt, mg.tensor(k), mg.tensor(v))
    o = A(out)[0, 0]
    assert np.allclose(o[0], [4, 5, 6, 7]) and np.isnan(o[1]).all() and np.isnan(o[2]).all()
    out.sum().backward()
    assert np.isnan(A(qt.grad)[0, 0, 1:]).all() and np.isfinite(A(qt.grad)[0, 0, 0]).all()


def test_attention_propagates_nan_in_a_float_mask(kernel_set):
    q = mg.tensor(np.ones((1, 1, 2, 4), np.float32))
    mask = np.zeros((2, 2), np.float32)
    mask[0, 1] = np.nan
    o = A(F.scaled_dot_product_attention(q, q, q, attn_mask=mg.tensor(mask)))[0, 0]
    assert np.isnan(o[0]).all() and np.allclose(o[1], 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_huge_queries_give_finite_gradients(kernel_set, dtype):
    for seed in range(4):
        r = np.random.default_rng(seed)
        q = mg.tensor((r.standard_normal((2, 2, 5, 8)) * 1e30).astype(dtype), requires_grad=True)
        k = mg.tensor(r.standard_normal((2, 2, 6, 8)).astype(dtype), requires_grad=True)
        v = mg.tensor(r.standard_normal((2, 2, 6, 8)).astype(dtype), requires_grad=True)
        F.scaled_dot_product_attention(q, k, v).sum().backward()
        for t in (q, k, v):
            assert np.isfinite(A(t.grad)).all()


# ----------------------------------------------------------------------------- zero-size dimensions

ZERO_SIZE = [
    ("sdpa 0 keys", lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [(1, 2, 3, 4), (1, 2, 0, 4), (1, 2, 0, 4)],
     (1, 2, 3, 4)),
]


@pytest.mark.parametrize("name, fn, shapes, out", ZERO_SIZE, ids=[c[0] for c in ZERO_SIZE])
def test_zero_size_dimensions(kernel_set, name, fn, shapes, out):
    check_zero_size(fn, shapes, out)

"""MultiheadAttention (minigrad/nn/attention.py).

* gradcheck (float64, hypothesis-drawn small sizes and masks) on both paths
  (explicit weights / fused kernel);
* behaviour: masks really hide what they hide, fully masked rows give zeros, error
  messages;
* PyTorch oracle (``-m oracle``): a torch module's state_dict is loaded into ours
  through NumPy (names, shapes and order must match) and outputs and every
  parameter's gradient are compared to float32 tolerance.
"""


import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad
import minigrad as mg
from minigrad import nn
from minigrad.nn.attention import MultiheadAttention

from _attention_helpers import ATOL, GRAD_ATOL, GRAD_RTOL, RTOL, T, _check_grads, _load, _tmask
from _ops_helpers import A, check_raises_naming

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")  # torch's note on bool + float masks


# ----------------------------------------------------------------------------- masks used below

def _masks(rng, kind, N, H, L, S, dtype=np.float64):
    """(attn_mask, key_padding_mask, is_causal) as NumPy arrays, MHA convention (True = hidden).
    Key 0 is never hidden, so no query row is fully masked."""
    attn = kpm = None
    causal = False
    if kind in ("bool2d", "bool2d+kpm"):
        attn = rng.random((L, S)) < 0.35
        attn[:, 0] = False
    if kind == "float3d":
        attn = rng.normal(size=(N * H, L, S)).astype(dtype)
        hide = rng.random((N * H, L, S)) < 0.25
        hide[..., 0] = False
        attn[hide] = -np.inf
    if kind in ("kpm", "bool2d+kpm", "causal+kpm", "floatkpm"):
        kpm = rng.random((N, S)) < 0.4
        kpm[:, 0] = False
        if kind == "floatkpm":
            kpm = np.where(kpm, -np.inf, 0.0).astype(dtype)
    if kind in ("causal", "causal+kpm"):
        attn = np.triu(np.full((L, S), -np.inf, dtype=dtype), k=1)
        causal = True
    return attn, kpm, causal


MASK_KINDS = ["none", "bool2d", "float3d", "kpm", "floatkpm", "bool2d+kpm", "causal", "causal+kpm"]


# ----------------------------------------------------------------------------- gradcheck

@settings(max_examples=8, deadline=None)
@given(N=st.integers(1, 2), L=st.integers(1, 3), S=st.integers(1, 3), H=st.sampled_from([1, 2]),
       kind=st.sampled_from(MASK_KINDS), need_weights=st.booleans(), batch_first=st.booleans(),
       mode=st.sampled_from(["self", "cross"]), seed=st.integers(0, 2 ** 16))
def test_mha_gradcheck(N, L, S, H, kind, need_weights, batch_first, mode, seed):
    rng = np.random.default_rng(seed)
    E = 2 * H
    if mode == "self" or kind.startswith("causal"):
        S = L
    mha = MultiheadAttention(E, H, batch_first=batch_first).double()
    attn, kpm, causal = _masks(rng, kind, N, H, L, S)

    def inp(T_):
        shape = (N, T_, E) if batch_first else (T_, N, E)
        return T(rng.normal(size=shape), requires_grad=True)

    q = inp(L)
    k, v = (q, q) if mode == "self" else (inp(S), inp(S))
    params = list(mha.parameters())

    def fn(*_):
        out, w = mha(q, k, v, key_padding_mask=kpm, attn_mask=attn, need_weights=need_weights, is_causal=causal)
        return (out, w) if w is not None else out

    inputs = (q,) + (() if mode == "self" else (k, v)) + tuple(params)
    with minigrad.kernels.use("reference"):
        assert minigrad.gradcheck(fn, inputs, atol=1e-6, rtol=1e-4)


# ----------------------------------------------------------------------------- behaviour

def test_need_weights_paths_agree(kernel_set):
    """The explicit-softmax path and the fused kernel give the same output."""
    rng = np.random.default_rng(0)
    mha = MultiheadAttention(8, 2).double()
    x = T(rng.normal(size=(5, 3, 8)))
    for kind in MASK_KINDS:
        attn, kpm, causal = _masks(rng, kind, 3, 2, 5, 5)
        a, w = mha(x, x, x, key_padding_mask=kpm, attn_mask=attn, need_weights=True, is_causal=causal)
        b, none = mha(x, x, x, key_padding_mask=kpm, attn_mask=attn, need_weights=False, is_causal=causal)
        assert none is None
        np.testing.assert_allclose(a.array, b.array, rtol=1e-10, atol=1e-12, err_msg=kind)
        np.testing.assert_allclose(w.array.sum(-1), 1.0, rtol=1e-12)


def test_weights_shapes_and_head_average():
    mha = MultiheadAttention(6, 3, batch_first=True, kdim=4, vdim=5)
    q, k, v = minigrad.randn(2, 3, 6), minigrad.randn(2, 7, 4), minigrad.randn(2, 7, 5)
    out, w = mha(q, k, v)
    assert out.shape == (2, 3, 6) and w.shape == (2, 3, 7)
    out2, wh = mha(q, k, v, average_attn_weights=False)
    assert wh.shape == (2, 3, 3, 7)
    np.testing.assert_allclose(wh.array.mean(1), w.array, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out2.array, out.array)
    # unbatched
    o, w1 = mha(q[0], k[0], v[0])
    assert o.shape == (3, 6) and w1.shape == (3, 7)
    np.testing.assert_allclose(o.array, out.array[0], rtol=1e-5, atol=1e-6)


def test_key_padding_mask_hides_keys():
    """Changing a padded key/value changes nothing; changing an unpadded one does."""
    rng = np.random.default_rng(1)
    mha = MultiheadAttention(4, 2, batch_first=True)
    q = rng.normal(size=(2, 3, 4)).astype(np.float32)
    kv = rng.normal(size=(2, 5, 4)).astype(np.float32)
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[0, 3:] = True
    for need_weights in (True, False):
        a = mha(T(q), T(kv), T(kv), key_padding_mask=kpm, need_weights=need_weights)[0].array
        kv2 = kv.copy()
        kv2[0, 3:] += 10.0
        b = mha(T(q), T(kv2), T(kv2), key_padding_mask=kpm, need_weights=need_weights)[0].array
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        kv2[0, 0] += 1.0
        c = mha(T(q), T(kv2), T(kv2), key_padding_mask=kpm, need_weights=need_weights)[0].array
        assert np.abs(c[0] - a[0]).max() > 1e-3


def test_fully_masked_row_gives_zeros_not_nan():
    mha = MultiheadAttention(4, 2)
    minigrad.nn.init.zeros_(mha.out_proj.bias)
    x = minigrad.randn(3, 1, 4, requires_grad=True)
    kpm = np.array([[True, True, True]])
    for need_weights in (True, False):
        out, w = mha(x, x, x, key_padding_mask=kpm, need_weights=need_weights)
        assert np.all(out.array == 0)
        if w is not None:
            assert np.all(w.array == 0)
        out.sum().backward()
        assert np.all(np.isfinite(x.grad.array))
        x.grad = None


def test_mha_init_matches_torch_statistics():
    mha = MultiheadAttention(64, 4, add_bias_kv=True)
    bound = math.sqrt(6 / (64 + 192))  # xavier_uniform on (3E, E)
    w = mha.in_proj_weight.array
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.all(mha.in_proj_bias.array == 0) and np.all(mha.out_proj.bias.array == 0)
    assert mha.bias_k.shape == (1, 1, 64) and mha.bias_k.array.std() > 0
    sep = MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
    assert sep.in_proj_weight is None and sep.in_proj_bias is None and sep.out_proj.bias is None
    assert (sep.q_proj_weight.shape, sep.k_proj_weight.shape, sep.v_proj_weight.shape) == ((8, 8), (8, 3), (8, 5))


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("make, exc, match", [
    (lambda: MultiheadAttention(10, 3), ValueError, "divisible"),
    (lambda: MultiheadAttention(4, 2)(minigrad.zeros(3, 2, 4), minigrad.zeros(3, 2, 4), minigrad.zeros(3, 2, 4),
                                      attn_mask=np.zeros((3, 4), dtype=bool)), ValueError, "attn_mask"),
    (lambda: MultiheadAttention(4, 2)(minigrad.zeros(3, 2, 4), minigrad.zeros(3, 2, 4), minigrad.zeros(3, 2, 4),
                                      key_padding_mask=np.zeros((2, 3), dtype=np.int64)), TypeError, "bool"),
    (lambda: MultiheadAttention(4, 2)(minigrad.zeros(3, 2, 5), minigrad.zeros(3, 2, 4), minigrad.zeros(3, 2, 4)),
     ValueError, "embed_dim"),
])
def test_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


ERRORS = [
    ("MultiheadAttention", lambda: nn.MultiheadAttention(4, 2)(*[mg.tensor(np.ones((2, 1, 4)))] * 3), TypeError),
]


@pytest.mark.parametrize("op, call, err", ERRORS, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERRORS)])
def test_bad_arguments_raise_naming_the_op(kernel_set, op, call, err):
    check_raises_naming(op, call, err)


# ----------------------------------------------------------------------------- hostile inputs

def test_multihead_attention_with_no_keys(kernel_set):
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    q = mg.tensor(np.ones((2, 3, 8), np.float32))
    k = mg.tensor(np.ones((2, 0, 8), np.float32))
    y, w = mha(q, k, k)
    assert y.shape == (2, 3, 8) and w.shape == (2, 3, 0)
    assert np.allclose(A(y), A(mha.out_proj.bias))  # attention over nothing is 0, then the bias


# ----------------------------------------------------------------------------- PyTorch oracle

MHA_CASES = [
    # (mode, kdim, vdim, bias, add_bias_kv, add_zero_attn, batch_first)
    ("self", None, None, True, False, False, False),
    ("self", None, None, True, False, False, True),
    ("kv", None, None, False, False, False, True),
    ("cross", None, None, True, False, False, False),
    ("cross", 3, 5, True, False, False, True),
    ("cross", 3, 5, False, False, False, False),
    ("self", None, None, True, True, False, False),
    ("cross", None, None, True, False, True, True),
    ("cross", 3, 5, True, True, True, False),
]


@pytest.mark.oracle
@pytest.mark.parametrize("case", MHA_CASES)
@settings(max_examples=6, deadline=None)
@given(N=st.integers(1, 3), L=st.integers(1, 5), S=st.integers(1, 6), H=st.sampled_from([1, 2, 4]),
       kind=st.sampled_from(MASK_KINDS), need_weights=st.booleans(), average=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_oracle_mha(case, N, L, S, H, kind, need_weights, average, seed):
    torch = pytest.importorskip("torch")
    mode, kdim, vdim, bias, add_bias_kv, add_zero_attn, batch_first = case
    E = 2 * H
    if mode != "cross" or kind.startswith("causal"):
        S = L
    rng = np.random.default_rng(seed)
    kw = dict(bias=bias, add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn, kdim=kdim, vdim=vdim,
              batch_first=batch_first)
    tm = torch.nn.MultiheadAttention(E, H, **kw)
    mm = MultiheadAttention(E, H, **kw)
    _load(mm, tm)
    attn, kpm, causal = _masks(rng, kind, N, H, L, S, dtype=np.float32)

    def arr(T_, d):
        return rng.normal(size=(N, T_, d) if batch_first else (T_, N, d)).astype(np.float32)

    q = arr(L, E)
    if mode == "self":
        arrays = [q]
    elif mode == "kv":
        arrays = [q, arr(S, E)]
    else:
        arrays = [q, arr(S, kdim or E), arr(S, vdim or E)]
    tin = [torch.from_numpy(a).requires_grad_() for a in arrays]
    min_ = [T(a, requires_grad=True) for a in arrays]

    def qkv(xs):
        return (xs[0], xs[0], xs[0]) if mode == "self" else (xs[0], xs[1], xs[1]) if mode == "kv" else tuple(xs)

    call = dict(need_weights=need_weights, average_attn_weights=average, is_causal=causal)
    to, tw = tm(*qkv(tin), key_padding_mask=_tmask(torch, kpm), attn_mask=_tmask(torch, attn), **call)
    mo, mw = mm(*qkv(min_), key_padding_mask=kpm, attn_mask=attn, **call)
    np.testing.assert_allclose(mo.array, to.detach().numpy(), rtol=RTOL, atol=ATOL)
    assert (mw is None) == (tw is None)
    r = rng.normal(size=to.shape).astype(np.float32)
    tl = (to * torch.from_numpy(r)).sum()
    ml = (mo * T(r)).sum()
    if tw is not None:
        np.testing.assert_allclose(mw.array, tw.detach().numpy(), rtol=RTOL, atol=ATOL)
        rw = rng.normal(size=tw.shape).astype(np.float32)
        tl = tl + (tw * torch.from_numpy(rw)).sum()
        ml = ml + (mw * T(rw)).sum()
    tl.backward()
    ml.backward()
    _check_grads(mm, tm)
    for a, b in zip(min_, tin):
        np.testing.assert_allclose(a.grad.array, b.grad.numpy(), rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.oracle
@pytest.mark.parametrize("need_weights", [True, False])
def test_oracle_mha_unbatched_learned_float_mask(need_weights):
    """Unbatched input with a per-head (H, L, S) float mask that itself gets a gradient
    (a learned attention bias): the mask's gradient matches torch on both paths."""
    torch = pytest.importorskip("torch")
    tm, mm = torch.nn.MultiheadAttention(6, 3), MultiheadAttention(6, 3)
    _load(mm, tm)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 6)).astype(np.float32)
    am = rng.normal(size=(3, 4, 4)).astype(np.float32)
    tam, mam = torch.from_numpy(am).requires_grad_(), T(am, requires_grad=True)
    tx = torch.from_numpy(x)
    to, tw = tm(tx, tx, tx, attn_mask=tam, need_weights=need_weights)
    mx = T(x)
    mo, mw = mm(mx, mx, mx, attn_mask=mam, need_weights=need_weights)
    np.testing.assert_allclose(mo.array, to.detach().numpy(), rtol=RTOL, atol=ATOL)
    if need_weights:
        assert mw.shape == (4, 4)
        np.testing.assert_allclose(mw.array, tw.detach().numpy(), rtol=RTOL, atol=ATOL)
    to.sum().backward()
    mo.sum().backward()
    np.testing.assert_allclose(mam.grad.array, tam.grad.numpy(), rtol=GRAD_RTOL, atol=GRAD_ATOL)
    _check_grads(mm, tm)

"""Embedding, MultiheadAttention and the Transformer layers.

* gradcheck (float64, hypothesis-drawn small sizes and masks) of MultiheadAttention
  on both paths (explicit weights / fused kernel) and of an encoder and a decoder layer;
* behaviour: masks really hide what they hide, causal layers ignore the future,
  fully masked rows give zeros, error messages;
* PyTorch oracle (``-m oracle``): a torch module's state_dict is loaded into ours
  through NumPy (names, shapes and order must match) and outputs and every
  parameter's gradient are compared to float32 tolerance.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad
from minigrad import nn
from minigrad.nn.sparse import Embedding
from minigrad.nn.attention import MultiheadAttention
from minigrad.nn.transformer import (Transformer, TransformerEncoderLayer, TransformerDecoderLayer,
                                     TransformerEncoder, TransformerDecoder, PositionalEncoding,
                                     LearnedPositionalEncoding)

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")  # torch's note on bool + float masks

RTOL, ATOL = 2e-4, 2e-5          # float32 forward
GRAD_RTOL, GRAD_ATOL = 1e-3, 1e-4  # float32 gradients (sums over many terms)


def T(a, requires_grad=False):
    return minigrad.tensor(np.asarray(a), requires_grad=requires_grad)


# ============================================================================ masks used below

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


# ============================================================================ gradcheck
# What is checked here is the layers' math (projections, head split, masks, residuals),
# so these run on the reference kernels: on tiny float64 shapes they are ~50x faster
# than the threaded native ones, and the native kernels are checked against the
# reference ones in their own tests (and against torch below).

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


@settings(max_examples=4, deadline=None)
@given(norm_first=st.booleans(), activation=st.sampled_from(["relu", "gelu"]), seed=st.integers(0, 2 ** 16),
       use_kpm=st.booleans())
def test_encoder_layer_gradcheck(norm_first, activation, seed, use_kpm):
    rng = np.random.default_rng(seed)
    layer = TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, activation=activation,
                                    norm_first=norm_first).double()
    src = T(rng.normal(size=(3, 2, 4)), requires_grad=True)
    mask = Transformer.generate_square_subsequent_mask(3, dtype=np.float64)
    kpm = np.array([[False, False, True], [False, False, False]]) if use_kpm else None
    params = list(layer.parameters())
    with minigrad.kernels.use("reference"):
        assert minigrad.gradcheck(lambda *_: layer(src, src_mask=mask, src_key_padding_mask=kpm, is_causal=True),
                                  (src, *params), atol=1e-6, rtol=1e-4)


@settings(max_examples=3, deadline=None)
@given(norm_first=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_decoder_layer_gradcheck(norm_first, seed):
    rng = np.random.default_rng(seed)
    layer = TransformerDecoderLayer(4, 2, dim_feedforward=5, dropout=0.0, activation="gelu",
                                    norm_first=norm_first, batch_first=True).double()
    tgt = T(rng.normal(size=(2, 3, 4)), requires_grad=True)
    mem = T(rng.normal(size=(2, 4, 4)), requires_grad=True)
    tgt_mask = Transformer.generate_square_subsequent_mask(3, dtype=np.float64)
    mem_kpm = np.array([[False, False, False, True], [False, True, False, False]])
    params = list(layer.parameters())
    with minigrad.kernels.use("reference"):
        assert minigrad.gradcheck(
            lambda *_: layer(tgt, mem, tgt_mask=tgt_mask, memory_key_padding_mask=mem_kpm, tgt_is_causal=True),
            (tgt, mem, *params), atol=1e-6, rtol=1e-4)


def test_embedding_and_positional_gradcheck():
    emb = Embedding(5, 3).double()
    pos = LearnedPositionalEncoding(3, dropout=0.0, max_len=6, batch_first=True).double()
    idx = minigrad.tensor([[0, 1, 4, 4], [2, 2, 1, 3]])
    assert minigrad.gradcheck(lambda *_: PositionalEncoding(3, dropout=0.0, batch_first=True)(pos(emb(idx))),
                              (emb.weight, pos.weight))
    # the padding row gets no gradient even though index 1 occurs
    emb = Embedding(5, 3, padding_idx=1).double()
    emb(idx).sum().backward()
    assert np.all(emb.weight.grad.array[1] == 0)
    assert np.all(emb.weight.grad.array[4] == 2) and np.all(emb.weight.grad.array[2] == 2)


# ============================================================================ behaviour

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


def test_causal_layers_ignore_the_future():
    rng = np.random.default_rng(2)
    enc = TransformerEncoder(TransformerEncoderLayer(8, 2, 16, dropout=0.0), 2)
    mask = Transformer.generate_square_subsequent_mask(6)
    x = rng.normal(size=(6, 2, 8)).astype(np.float32)
    a = enc(T(x), mask=mask).array
    x2 = x.copy()
    x2[4:] += 5.0
    b = enc(T(x2), mask=mask).array
    np.testing.assert_allclose(a[:4], b[:4], rtol=1e-5, atol=1e-5)
    assert np.abs(a[4:] - b[4:]).max() > 1e-2
    # the hint alone is not enough (as in PyTorch): the mask must be given
    with pytest.raises(RuntimeError, match="attn_mask"):
        enc.layers[0].self_attn(T(x), T(x), T(x), is_causal=True)


def test_generate_square_subsequent_mask():
    m = Transformer.generate_square_subsequent_mask(4)
    assert m.dtype == np.float32 and m.shape == (4, 4)
    expect = np.array([[0, -np.inf, -np.inf, -np.inf], [0, 0, -np.inf, -np.inf],
                       [0, 0, 0, -np.inf], [0, 0, 0, 0]], dtype=np.float32)
    np.testing.assert_array_equal(m.array, expect)


def test_stack_deep_copies_layers():
    layer = TransformerEncoderLayer(8, 2, 16)
    enc = TransformerEncoder(layer, 3, norm=nn.LayerNorm(8))
    ws = [l.self_attn.in_proj_weight for l in enc.layers]
    assert len({id(w) for w in ws}) == 3 and all(w is not layer.self_attn.in_proj_weight for w in ws)
    for w in ws:  # same starting values, as torch's deep copies
        np.testing.assert_array_equal(w.array, layer.self_attn.in_proj_weight.array)
    names = [n for n, _ in enc.named_parameters()]
    assert "layers.2.linear2.bias" in names and "norm.weight" in names
    assert len(names) == 3 * 12 + 2
    dec = TransformerDecoder(TransformerDecoderLayer(8, 2, 16), 2)
    names = [n for n, _ in dec.named_parameters()]
    assert "layers.1.multihead_attn.in_proj_weight" in names and "layers.0.norm3.bias" in names
    assert len(names) == 2 * 18 and dec.norm is None


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


def test_embedding_basics():
    emb = Embedding(10, 4, padding_idx=-2)
    assert emb.padding_idx == 8 and np.all(emb.weight.array[8] == 0)
    assert 0.5 < emb.weight.array.std() < 1.5  # N(0, 1)
    out = emb(minigrad.tensor([[1, 8], [3, 3]]))
    assert out.shape == (2, 2, 4)
    np.testing.assert_array_equal(out.array[0, 0], emb.weight.array[1])
    pre = Embedding.from_pretrained(minigrad.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not pre.weight.requires_grad and pre.num_embeddings == 2 and pre.embedding_dim == 2
    assert Embedding.from_pretrained(np.eye(3, dtype=np.float32), freeze=False).weight.requires_grad
    capped = Embedding(5, 3, max_norm=1.0)
    capped(minigrad.tensor([0, 2]))
    norms = np.linalg.norm(capped.weight.array, axis=1)
    assert norms[0] <= 1.0 + 1e-5 and norms[2] <= 1.0 + 1e-5
    assert "padding_idx=8" in repr(emb)


def test_positional_encoding_values_and_layouts():
    pe = PositionalEncoding(6, dropout=0.0, max_len=10)
    t, i = 3, 1
    assert pe.pe.array[t, 2 * i] == pytest.approx(math.sin(t / 10000 ** (2 * i / 6)), rel=1e-6)
    assert pe.pe.array[t, 2 * i + 1] == pytest.approx(math.cos(t / 10000 ** (2 * i / 6)), rel=1e-6)
    assert "pe" not in pe.state_dict()
    x = np.random.default_rng(0).normal(size=(4, 2, 6)).astype(np.float32)
    seq_first = pe(T(x)).array
    pe_bf = PositionalEncoding(6, dropout=0.0, max_len=10, batch_first=True)
    np.testing.assert_allclose(pe_bf(T(x.transpose(1, 0, 2))).array.transpose(1, 0, 2), seq_first)
    np.testing.assert_allclose(pe(T(x[:, 0])).array, seq_first[:, 0])
    assert PositionalEncoding(5, max_len=4).pe.shape == (4, 5)  # odd d_model
    with pytest.raises(ValueError, match="max_len"):
        pe(minigrad.zeros(11, 1, 6))


@pytest.mark.parametrize("make, exc, match", [
    (lambda: MultiheadAttention(10, 3), ValueError, "divisible"),
    (lambda: Embedding(4, 2, padding_idx=4), ValueError, "padding_idx"),
    (lambda: TransformerEncoderLayer(4, 2, activation="tanh"), RuntimeError, "activation"),
    (lambda: MultiheadAttention(4, 2)(minigrad.zeros(3, 2, 4), minigrad.zeros(3, 2, 4), minigrad.zeros(3, 2, 4),
                                      attn_mask=np.zeros((3, 4), dtype=bool)), ValueError, "attn_mask"),
    (lambda: MultiheadAttention(4, 2)(minigrad.zeros(3, 2, 4), minigrad.zeros(3, 2, 4), minigrad.zeros(3, 2, 4),
                                      key_padding_mask=np.zeros((2, 3), dtype=np.int64)), TypeError, "bool"),
    (lambda: MultiheadAttention(4, 2)(minigrad.zeros(3, 2, 5), minigrad.zeros(3, 2, 4), minigrad.zeros(3, 2, 4)),
     ValueError, "embed_dim"),
    (lambda: Transformer(8, 2, 1, 1, 16)(minigrad.zeros(3, 2, 8), minigrad.zeros(3, 4, 8)), RuntimeError, "batch"),
])
def test_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


# ============================================================================ PyTorch oracle

def _load(ours, theirs):
    """Copy torch's state_dict into ours through NumPy; the names, order and shapes must match."""
    sd = theirs.state_dict()
    assert list(sd.keys()) == list(ours.state_dict().keys())
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname and tuple(p.shape) == tuple(tp.shape)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in sd.items()})


def _check_grads(ours, theirs, rtol=GRAD_RTOL, atol=GRAD_ATOL):
    tp = dict(theirs.named_parameters())
    n = 0
    for name, p in ours.named_parameters():
        tg = tp[name].grad
        if tg is None:
            assert p.grad is None or np.all(p.grad.array == 0), name
            continue
        np.testing.assert_allclose(p.grad.array, tg.numpy(), rtol=rtol, atol=atol, err_msg=name)
        n += 1
    assert n > 0


def _tmask(torch, a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


@pytest.mark.oracle
def test_oracle_embedding():
    torch = pytest.importorskip("torch")
    te = torch.nn.Embedding(7, 5, padding_idx=2)
    me = Embedding(7, 5, padding_idx=2)
    assert te.padding_idx == me.padding_idx
    _load(me, te)
    idx = np.array([[0, 2, 6, 6], [1, 1, 2, 5]])
    r = np.random.default_rng(0).normal(size=(2, 4, 5)).astype(np.float32)
    to = te(torch.from_numpy(idx))
    (to * torch.from_numpy(r)).sum().backward()
    mo = me(minigrad.tensor(idx))
    (mo * T(r)).sum().backward()
    np.testing.assert_allclose(mo.array, to.detach().numpy())
    _check_grads(me, te, rtol=1e-6, atol=1e-6)
    # max_norm renormalises the looked-up rows in place, as torch
    te2, me2 = torch.nn.Embedding(6, 4, max_norm=1.5), Embedding(6, 4, max_norm=1.5)
    _load(me2, te2)
    te2(torch.tensor([0, 3, 3])), me2(minigrad.tensor([0, 3, 3]))
    np.testing.assert_allclose(me2.weight.array, te2.weight.detach().numpy(), rtol=1e-5, atol=1e-6)


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


def _layer_io(rng, batch_first, N, L, E):
    shape = (N, L, E) if batch_first else (L, N, E)
    return rng.normal(size=shape).astype(np.float32)


@pytest.mark.oracle
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_oracle_encoder_layer(norm_first, activation, batch_first):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    kw = dict(dim_feedforward=24, dropout=0.1, activation=activation, norm_first=norm_first,
              batch_first=batch_first, layer_norm_eps=1e-6)
    tl, ml = torch.nn.TransformerEncoderLayer(16, 4, **kw), TransformerEncoderLayer(16, 4, **kw)
    _load(ml, tl)
    tl.eval(), ml.eval()
    N, L = 3, 5
    x = _layer_io(rng, batch_first, N, L, 16)
    mask = np.triu(np.full((L, L), -np.inf, dtype=np.float32), k=1)
    kpm = np.zeros((N, L), dtype=bool)
    kpm[1, 3:] = True
    tx, mx = torch.from_numpy(x).requires_grad_(), T(x, requires_grad=True)
    for is_causal, use_kpm in ((True, False), (False, True)):
        k = kpm if use_kpm else None
        to = tl(tx, src_mask=torch.from_numpy(mask), src_key_padding_mask=_tmask(torch, k), is_causal=is_causal)
        mo = ml(mx, src_mask=mask, src_key_padding_mask=k, is_causal=is_causal)
        np.testing.assert_allclose(mo.array, to.detach().numpy(), rtol=RTOL, atol=1e-4)
        r = rng.normal(size=to.shape).astype(np.float32)
        (to * torch.from_numpy(r)).sum().backward()
        (mo * T(r)).sum().backward()
        _check_grads(ml, tl)
        np.testing.assert_allclose(mx.grad.array, tx.grad.numpy(), rtol=GRAD_RTOL, atol=GRAD_ATOL)
        tl.zero_grad(), ml.zero_grad()
        tx.grad, mx.grad = None, None


@pytest.mark.oracle
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_oracle_decoder_layer(norm_first, activation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    kw = dict(dim_feedforward=20, dropout=0.2, activation=activation, norm_first=norm_first, batch_first=True)
    tl, ml = torch.nn.TransformerDecoderLayer(12, 3, **kw), TransformerDecoderLayer(12, 3, **kw)
    _load(ml, tl)
    tl.eval(), ml.eval()
    N, L, S = 2, 4, 6
    tgt, mem = _layer_io(rng, True, N, L, 12), _layer_io(rng, True, N, S, 12)
    tgt_mask = np.triu(np.full((L, L), -np.inf, dtype=np.float32), k=1)
    tkpm = np.array([[False, False, False, True], [False, False, False, False]])
    mkpm = np.array([[False] * 6, [False, False, True, False, True, True]])
    tt, tm_ = (torch.from_numpy(a).requires_grad_() for a in (tgt, mem))
    mt, mm_ = T(tgt, requires_grad=True), T(mem, requires_grad=True)
    to = tl(tt, tm_, tgt_mask=torch.from_numpy(tgt_mask), tgt_key_padding_mask=torch.from_numpy(tkpm),
            memory_key_padding_mask=torch.from_numpy(mkpm), tgt_is_causal=True)
    mo = ml(mt, mm_, tgt_mask=tgt_mask, tgt_key_padding_mask=tkpm, memory_key_padding_mask=mkpm, tgt_is_causal=True)
    np.testing.assert_allclose(mo.array, to.detach().numpy(), rtol=RTOL, atol=1e-4)
    r = rng.normal(size=to.shape).astype(np.float32)
    (to * torch.from_numpy(r)).sum().backward()
    (mo * T(r)).sum().backward()
    _check_grads(ml, tl)
    np.testing.assert_allclose(mt.grad.array, tt.grad.numpy(), rtol=GRAD_RTOL, atol=GRAD_ATOL)
    np.testing.assert_allclose(mm_.grad.array, tm_.grad.numpy(), rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.oracle
@pytest.mark.parametrize("batch_first, norm_first", [(False, False), (True, True)])
def test_oracle_transformer(batch_first, norm_first):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    kw = dict(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32, dropout=0.0,
              batch_first=batch_first, norm_first=norm_first)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's enable_nested_tensor note
        tt = torch.nn.Transformer(**kw)
    mt = Transformer(**kw)
    _load(mt, tt)
    N, S, L = 3, 7, 5
    src, tgt = _layer_io(rng, batch_first, N, S, 16), _layer_io(rng, batch_first, N, L, 16)
    tgt_mask = Transformer.generate_square_subsequent_mask(L)
    np.testing.assert_array_equal(tgt_mask.array, torch.nn.Transformer.generate_square_subsequent_mask(L).numpy())
    skpm = np.zeros((N, S), dtype=bool)
    skpm[0, 5:] = True
    skpm[2, 6:] = True
    tkpm = np.zeros((N, L), dtype=bool)
    tkpm[1, 4:] = True
    masks = dict(src_key_padding_mask=skpm, tgt_key_padding_mask=tkpm, memory_key_padding_mask=skpm)
    to = tt(torch.from_numpy(src), torch.from_numpy(tgt), tgt_mask=torch.from_numpy(tgt_mask.array),
            **{k: torch.from_numpy(v) for k, v in masks.items()})
    mo = mt(T(src), T(tgt), tgt_mask=tgt_mask, **masks)
    np.testing.assert_allclose(mo.array, to.detach().numpy(), rtol=RTOL, atol=1e-4)
    r = rng.normal(size=to.shape).astype(np.float32)
    (to * torch.from_numpy(r)).sum().backward()
    (mo * T(r)).sum().backward()
    _check_grads(mt, tt)


def test_transformer_init_distribution():
    """Every matrix is Xavier-uniform after construction, as torch's _reset_parameters."""
    mt = Transformer(d_model=32, nhead=4, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64)
    for name, p in mt.named_parameters():
        if p.ndim > 1:
            fan_out, fan_in = p.shape
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert np.abs(p.array).max() <= bound + 1e-7, name
            assert p.array.std() == pytest.approx(bound / math.sqrt(3), rel=0.15), name
        elif "norm" in name:
            assert np.all(p.array == (1 if name.endswith("weight") else 0)), name


# ============================================================================ the examples

def test_reverse_data_and_exact_match():
    from minigrad.examples.transformer import make_reverse_data, exact_match, EOS, BOS, PAD
    src, tgt = make_reverse_data(20, 2, 5, seed=3)
    for s, t in zip(src, tgt):
        n = int(np.argmax(s == EOS))
        assert 2 <= n <= 5 and np.all(s[n + 1:] == PAD)
        assert t[0] == BOS and t[n + 1] == EOS and np.array_equal(t[1:n + 1], s[:n][::-1])
    pred = tgt[:, 1:].copy()
    assert exact_match(pred, tgt) == 1.0
    pred[0, 0] += 1                        # one wrong token
    pred[1, int(np.argmax(pred[1] == EOS))] = 5   # a missing <eos>
    assert exact_match(pred, tgt) == pytest.approx(18 / 20)


def test_transformer_example_runs_tiny():
    from minigrad.examples.transformer import run
    res = run(steps=3, n_test=8, d_model=16, nhead=2, num_layers=1, max_len=4, batch_size=8)
    assert set(res) >= {"what", "final_loss", "accuracy", "seconds"}
    assert np.isfinite(res["final_loss"]) and 0.0 <= res["accuracy"] <= 1.0 and res["seconds"] > 0


def test_charlm_sample_and_tiny_run():
    from minigrad.examples.charlm import CharLM, sample, run, load_text
    text = load_text()
    assert len(text) > 90_000 and "Hippolyta" in text
    model = CharLM("abc \n", block_size=8, d_model=8, nhead=2, num_layers=1)
    out = sample(model, "ab", 20, temperature=0.7, top_k=2, generator=np.random.default_rng(0))
    assert out.startswith("ab") and len(out) == 22 and set(out) <= set("abc \n")
    greedy = [sample(model, "a", 10, top_k=1, generator=np.random.default_rng(s)) for s in (1, 2)]
    assert greedy[0] == greedy[1]          # top_k=1 is argmax: no randomness left
    for bad in (dict(prompt="xyz"), dict(temperature=0.0), dict(top_k=0)):
        kw = dict(prompt="a", temperature=1.0, top_k=None) | bad
        with pytest.raises(ValueError):
            sample(model, kw["prompt"], 3, temperature=kw["temperature"], top_k=kw["top_k"])
    res = run(steps=2, block_size=16, d_model=16, num_layers=1, batch_size=4, sample_chars=10)
    assert set(res) >= {"what", "final_loss", "accuracy", "seconds", "sample"}
    assert np.isfinite(res["final_loss"]) and res["sample"].startswith("THESEUS:")


@pytest.mark.slow
def test_transformer_example_quick_reaches_99_percent():
    from minigrad.examples.transformer import run
    res = run(quick=True)
    assert res["accuracy"] >= 0.99, res


@pytest.mark.slow
def test_charlm_example_quick_learns():
    from minigrad.examples.charlm import run
    res = run(quick=True, sample_chars=50)
    assert res["final_loss"] < 2.4 and res["val_loss"] < 2.5 and res["accuracy"] > 0.3, res

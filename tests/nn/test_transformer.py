"""The Transformer layers (minigrad/nn/transformer.py): encoder and decoder layers,
their stacks, the full Transformer and the positional encodings.

* gradcheck (float64, hypothesis-drawn small sizes) of an encoder and a decoder layer;
* behaviour: causal layers ignore the future, the stacks deep-copy their layer, the
  causal mask, the positional encodings' values and layouts, error messages;
* PyTorch oracle (``-m oracle``): outputs and every parameter's gradient of torch's
  layers with the same weights, to float32 tolerance.
"""


import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad
from minigrad import nn
from minigrad.nn.sparse import Embedding
from minigrad.nn.transformer import (Transformer, TransformerEncoderLayer, TransformerDecoderLayer,
                                     TransformerEncoder, TransformerDecoder, PositionalEncoding,
                                     LearnedPositionalEncoding)

from _attention_helpers import GRAD_ATOL, GRAD_RTOL, RTOL, T, _check_grads, _load, _tmask

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")  # torch's note on bool + float masks


# ----------------------------------------------------------------------------- gradcheck

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


# ----------------------------------------------------------------------------- behaviour

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


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("make, exc, match", [
    (lambda: TransformerEncoderLayer(4, 2, activation="tanh"), RuntimeError, "activation"),
    (lambda: Transformer(8, 2, 1, 1, 16)(minigrad.zeros(3, 2, 8), minigrad.zeros(3, 4, 8)), RuntimeError, "batch"),
])
def test_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


# ----------------------------------------------------------------------------- PyTorch oracle

def _layer_io(rng, batch_first, N, L, E):
    shape = (N, L, E) if batch_first else (L, N, E)
    return rng.normal(size=shape).astype(np.float32)


def _check_outputs_and_grads(torch, rng, to, mo, ours, theirs):
    """Our output equals torch's; after backward of the same randomly weighted sum,
    every parameter's gradient does too."""
    np.testing.assert_allclose(mo.array, to.detach().numpy(), rtol=RTOL, atol=1e-4)
    r = rng.normal(size=to.shape).astype(np.float32)
    (to * torch.from_numpy(r)).sum().backward()
    (mo * T(r)).sum().backward()
    _check_grads(ours, theirs)


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
        _check_outputs_and_grads(torch, rng, to, mo, ml, tl)
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
    _check_outputs_and_grads(torch, rng, to, mo, ml, tl)
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
    _check_outputs_and_grads(torch, rng, to, mo, mt, tt)


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

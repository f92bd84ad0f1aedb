"""The Transformer ("Attention Is All You Need", Vaswani et al. 2017), as ``torch.nn.Transformer``.

An **encoder layer** refines a sequence by letting every position look at every
other (self-attention) and then transforming each position on its own (a small
two-layer MLP, the *feed-forward* block)::

    x = norm1(x + dropout(self_attn(x, x, x)))       # "post-norm" (the paper, the default)
    x = norm2(x + dropout(linear2(dropout(act(linear1(x))))))

Each sub-block is *residual* (its output is added to its input), so a deep stack
starts out close to the identity and gradients reach the bottom layers directly.
With ``norm_first=True`` the LayerNorm moves inside the branch
(``x = x + block(norm(x))``, "pre-norm"), which trains more stably without warm-up.

A **decoder layer** adds one more sub-block between the two: cross-attention, where
the queries come from the decoder and the keys and values from the encoder's output
(the *memory*). Its self-attention is usually causal (``tgt_mask`` =
:meth:`Transformer.generate_square_subsequent_mask`), so position i of the output
sees only positions <= i: that is what lets the model be trained on a whole target
sequence at once and still generate it one token at a time.

:class:`Transformer` stacks N encoder layers and N decoder layers (each stack ends
with a LayerNorm) and leaves embedding the tokens and predicting them to you.
Parameter names match PyTorch (``encoder.layers.0.self_attn.in_proj_weight``...), so
a ``state_dict`` moves between the two through NumPy arrays.

Attention has no notion of order (permuting the keys permutes nothing in the
output), so a model adds the position to each token's embedding:
:class:`PositionalEncoding` (fixed sinusoids, the paper's choice) or
:class:`LearnedPositionalEncoding` (a learned vector per position, as in GPT).
"""
from __future__ import annotations

import copy
import math

import numpy as np

from minigrad import creation
from minigrad.backend import to_device
from minigrad.tensor import Tensor
from minigrad.nn import functional as F
from minigrad.nn import init
from minigrad.nn.attention import MultiheadAttention
from minigrad.nn.containers import ModuleList
from minigrad.nn.dropout import Dropout
from minigrad.nn.linear import Linear
from minigrad.nn.module import Module
from minigrad.nn.normalization import LayerNorm
from minigrad.nn.parameter import Parameter

__all__ = ["TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder",
           "Transformer", "PositionalEncoding", "LearnedPositionalEncoding"]


def _get_activation_fn(activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if callable(activation) and not isinstance(activation, str):
        return activation
    raise RuntimeError(f"Transformer: activation should be 'relu', 'gelu' or a callable, not {activation!r}")


def _get_clones(module, n):
    """``n`` independent deep copies of ``module`` (each with its own parameters)."""
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _get_seq_len(x, batch_first):
    if x.ndim == 2:  # unbatched (S, E)
        return x.shape[0]
    return x.shape[1 if batch_first else 0]


def _detect_is_causal_mask(mask, is_causal=None, size=None):
    """``is_causal`` if given; otherwise whether ``mask`` equals the float causal mask of
    its size (PyTorch's rule: a bool mask is never taken for the causal one)."""
    make_causal = is_causal is True
    if is_causal is None and mask is not None:
        sz = size if size is not None else mask.shape[-2]
        arr = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
        if tuple(arr.shape) == (sz, sz):
            causal = np.triu(np.full((sz, sz), -np.inf), k=1)
            make_causal = bool(np.array_equal(to_device(arr, "cpu"), causal))
    return make_causal


# ---------------------------------------------------------------------------- layers

class _TransformerLayer(Module):
    """What the encoder and decoder layers share: the sub-modules' construction (in
    PyTorch's registration order), the self-attention block and the feed-forward block.
    ``_BLOCKS`` residual blocks each have their own ``norm{i}`` and ``dropout{i}``."""

    _BLOCKS = 2

    def __init__(self, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                 norm_first, bias, device, dtype):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        if self._BLOCKS == 3:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                     batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        for i in range(1, self._BLOCKS + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        for i in range(1, self._BLOCKS + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _get_activation_fn(activation)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        last_dropout = getattr(self, f"dropout{self._BLOCKS}")
        return last_dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention + feed-forward, each residual with a LayerNorm (see the module docstring).

    Sub-modules (PyTorch's names): ``self_attn`` (MultiheadAttention), ``linear1``
    (d_model -> dim_feedforward), ``dropout``, ``linear2`` (dim_feedforward -> d_model),
    ``norm1``, ``norm2``, ``dropout1``, ``dropout2``.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: src is
    (S, N, E), (N, S, E) with ``batch_first=True``, or (S, E); masks as in
    :class:`MultiheadAttention` (bool True = not allowed, float added).
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                         norm_first, bias, device, dtype)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, cross-attention over the encoder output (``memory``), feed-forward;
    each residual with a LayerNorm.

    Sub-modules (PyTorch's names): ``self_attn``, ``multihead_attn``, ``linear1``,
    ``dropout``, ``linear2``, ``norm1``, ``norm2``, ``norm3``, ``dropout1``,
    ``dropout2``, ``dropout3``.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.
    """

    _BLOCKS = 3

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                         norm_first, bias, device, dtype)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)


# ---------------------------------------------------------------------------- stacks

class _LayerStack(Module):
    """What TransformerEncoder and TransformerDecoder share: ``num_layers`` deep copies
    of one layer (in ``layers``), run in turn, then ``norm`` if given."""

    def __init__(self, who, arg, layer, num_layers, norm):
        super().__init__()
        if not isinstance(layer, Module):
            raise TypeError(f"{who}: {arg} must be a Module, got {type(layer).__name__}")
        self.layers = _get_clones(layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def _batch_first(self):
        """Whether the layers take batch-first input (read from the first one's self-attention)."""
        if not len(self.layers):
            return False
        return getattr(getattr(self.layers[0], "self_attn", None), "batch_first", False)

    def _run(self, x, *args, **kwargs):
        for mod in self.layers:
            x = mod(x, *args, **kwargs)
        return x if self.norm is None else self.norm(x)


class TransformerEncoder(_LayerStack):
    """``num_layers`` deep copies of ``encoder_layer`` (in ``layers``), applied in turn,
    then ``norm`` if given. ``enable_nested_tensor`` and ``mask_check`` are accepted
    for PyTorch compatibility (minigrad has no nested tensors)."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__("TransformerEncoder", "encoder_layer", encoder_layer, num_layers, norm)
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        """``is_causal=None`` means: detect whether ``mask`` is the causal mask."""
        is_causal = _detect_is_causal_mask(mask, is_causal, _get_seq_len(src, self._batch_first()))
        return self._run(src, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)


class TransformerDecoder(_LayerStack):
    """``num_layers`` deep copies of ``decoder_layer`` (in ``layers``), then ``norm`` if given."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__("TransformerDecoder", "decoder_layer", decoder_layer, num_layers, norm)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        """``tgt_is_causal=None`` means: detect whether ``tgt_mask`` is the causal mask."""
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _get_seq_len(tgt, self._batch_first()))
        return self._run(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)


class Transformer(Module):
    """An encoder-decoder Transformer: ``encoder`` (TransformerEncoder with a final
    LayerNorm) and ``decoder`` (TransformerDecoder with a final LayerNorm), as
    ``torch.nn.Transformer``. Every parameter with more than one dimension is
    re-initialised Xavier-uniform.

    ``forward(src, tgt, ...)``: src (S, N, E) and tgt (T, N, E) (or batch first, or
    unbatched) -> (T, N, E). The token embedding, positional encoding and output head
    are the caller's.

    >>> model = nn.Transformer(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
    ...                        dim_feedforward=64, batch_first=True)
    >>> tgt_mask = nn.Transformer.generate_square_subsequent_mask(7)
    >>> out = model(src, tgt, tgt_mask=tgt_mask)         # src (N, 9, 32), tgt (N, 7, 32)
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)

        def stack(layer_cls, stack_cls, num_layers):
            """``num_layers`` copies of a default layer, then a final LayerNorm."""
            layer = layer_cls(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                              norm_first, bias, **kw)
            return stack_cls(layer, num_layers, LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))

        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = stack(TransformerEncoderLayer, TransformerEncoder, num_encoder_layers)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = stack(TransformerDecoderLayer, TransformerDecoder, num_decoder_layers)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        is_batched = src.ndim == 3
        if is_batched and tgt.ndim == 3:
            b = 0 if self.batch_first else 1
            if src.shape[b] != tgt.shape[b]:
                raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal, got src "
                                   f"{src.shape} and tgt {tgt.shape} (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to d_model="
                               f"{self.d_model}, got src {src.shape} and tgt {tgt.shape}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """The causal mask for a sequence of length ``sz``: a float (sz, sz) tensor with
        -inf above the diagonal (position i may not look at j > i) and 0 elsewhere."""
        dtype = np.dtype(np.float32) if dtype is None else np.dtype(dtype)
        mask = np.triu(np.full((sz, sz), -np.inf, dtype=dtype), k=1)
        return Tensor(to_device(mask, device) if device is not None else mask)


# ---------------------------------------------------------------------------- positions

def _seq_axis(x, batch_first):
    if x.ndim == 2:
        return 0
    if x.ndim != 3:
        raise ValueError(f"positional encoding: expected a (T, N, E), (N, T, E) or (T, E) input, got shape {x.shape}")
    return 1 if batch_first else 0


class _PositionTable(Module):
    """What the two positional encodings share: their sizes (checked), the rows of a
    (max_len, d_model) table added to a sequence, then dropout, and the repr."""

    def __init__(self, d_model, max_len, batch_first):
        super().__init__()
        if d_model <= 0 or max_len <= 0:
            raise ValueError(f"{type(self).__name__}: d_model and max_len must be positive, got {d_model}, {max_len}")
        self.d_model = d_model
        self.max_len = max_len
        self.batch_first = batch_first

    def _add_rows(self, x, table, cast=False):
        """``x`` plus row t of ``table`` at every position t (cast to x's dtype if asked), then dropout."""
        axis = _seq_axis(x, self.batch_first)
        T = x.shape[axis]
        if T > self.max_len:
            raise ValueError(f"{type(self).__name__}: sequence length {T} exceeds max_len={self.max_len}")
        pe = table[:T]
        if cast and pe.dtype != x.dtype:
            pe = pe.to(x.dtype)
        if x.ndim == 3:
            pe = pe.unsqueeze(1 if axis == 0 else 0)
        return self.dropout(x + pe)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class PositionalEncoding(_PositionTable):
    """Add fixed sinusoidal position vectors, then dropout (the original Transformer's)::

        pe[t, 2i]     = sin(t / 10000^(2i / d_model))
        pe[t, 2i + 1] = cos(t / 10000^(2i / d_model))

    Each pair of features is a clock turning at its own speed (wavelengths from 2 pi
    to 10000 * 2 pi), so every position gets a distinct pattern and ``pe[t + k]`` is a
    fixed rotation of ``pe[t]``: relative offsets are easy for attention to read.

    Input (T, N, d_model), (N, T, d_model) with ``batch_first=True``, or (T, d_model);
    T <= ``max_len``. The table is a non-persistent buffer ``pe`` (max_len, d_model):
    it is not saved in ``state_dict`` (it can always be recomputed).
    """

    def __init__(self, d_model, dropout=0.1, max_len=5000, batch_first=False):
        super().__init__(d_model, max_len, batch_first)
        self.dropout = Dropout(dropout)
        pos = np.arange(max_len, dtype=np.float64)[:, None]
        freq = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2, dtype=np.float64) / d_model)
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(pos * freq)
        pe[:, 1::2] = np.cos(pos * freq[: d_model // 2])
        self.register_buffer("pe", Tensor(pe.astype(np.float32)), persistent=False)

    def forward(self, x):
        return self._add_rows(x, self.pe, cast=True)


class LearnedPositionalEncoding(_PositionTable):
    """Add a learned vector per position (GPT's choice), then dropout.

    Parameter ``weight`` (max_len, d_model), initialised N(0, 0.02^2). Input as
    :class:`PositionalEncoding`; it cannot extrapolate past ``max_len``.
    """

    def __init__(self, d_model, dropout=0.1, max_len=512, batch_first=False, device=None, dtype=None):
        super().__init__(d_model, max_len, batch_first)
        self.weight = Parameter(creation.zeros(max_len, d_model, dtype=dtype, device=device))
        self.dropout = Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self):
        """Draw ``weight`` afresh from N(0, 0.02²), in place."""
        init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x):
        return self._add_rows(x, self.weight)

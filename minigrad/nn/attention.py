"""Multi-head attention, as ``torch.nn.MultiheadAttention``.

Attention lets every position of a sequence look at every position of another (or
the same) sequence and take a weighted average of what it finds there. One *head*::

    q = x_q W_q + b_q,   k = x_kv W_k + b_k,   v = x_kv W_v + b_v     (projections)
    s_ij = q_i . k_j / sqrt(d) + mask_ij                              (scores)
    p_ij = softmax_j(s_ij)                                            (weights, rows sum to 1)
    o_i  = sum_j p_ij v_j

*Multi*-head attention splits the ``embed_dim`` features into ``num_heads`` groups
of ``head_dim = embed_dim / num_heads``, runs one such attention per group (each
head can learn to look for something different), puts the heads' outputs side by
side again and mixes them with one more linear layer, ``out_proj``.

The math of the middle two lines is :func:`minigrad.ops.attention.scaled_dot_product_attention`,
a fused kernel that never stores the (L x S) weight matrix. When the caller asks
for the weights (``need_weights=True``, the default, as in PyTorch), they must be
built anyway, so that path computes ``p`` with an explicit softmax instead. The
Transformer layers pass ``need_weights=False`` and get the fused kernel.

Masks (PyTorch's conventions for this module)
---------------------------------------------
* ``attn_mask``: (L, S) for every batch entry and head, or (N * num_heads, L, S).
  A **bool** mask marks with ``True`` the pairs that may **not** attend (the
  opposite of ``scaled_dot_product_attention``'s bool mask!); a **float** mask is
  added to the scores (``-inf`` forbids, other values bias).
* ``key_padding_mask``: (N, S); ``True`` (or ``-inf``) marks padding keys that no
  query may look at.
* ``is_causal=True`` is a *hint* that ``attn_mask`` is the causal mask: as in PyTorch
  it needs ``attn_mask`` too, and lets the fused kernel skip the future blocks.

Both masks are turned into one additive float mask (0 = allowed, -inf = not)
broadcast to (N, num_heads, L, S), which is the form the fused kernel takes.

A query row that may attend to nothing gets zero weights and a zero attention
output (before ``out_proj``), in both paths. PyTorch returns the same zeros from
its fused path but NaN from its ``need_weights=True`` path.

Layouts: inputs are (L, N, E) (sequence first, PyTorch's default), (N, L, E) with
``batch_first=True``, or unbatched (L, E).
"""
from __future__ import annotations

import math

import numpy as np

from minigrad.backend import to_device, xp_of
from minigrad.tensor import Tensor
from minigrad.ops import elementwise as _ew
from minigrad.ops import reduce as _red
from minigrad.ops import shape as _shape
from minigrad.ops.attention import scaled_dot_product_attention
from minigrad.ops.matmul import matmul as _matmul
from minigrad.nn import functional as F
from minigrad.nn import init
from minigrad.nn.linear import Linear
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad import creation

__all__ = ["MultiheadAttention", "multi_head_attention_forward"]


# ---------------------------------------------------------------------------- masks

def _canonical_mask(mask, name, like):
    """Turn a bool mask (True = NOT allowed) or a float mask into an additive float
    Tensor of ``like``'s dtype and device: 0 where allowed, -inf where not."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        mask = Tensor(to_device(np.asarray(mask), like.device))
    kind = mask.dtype.kind
    if kind == "b":
        xp = xp_of(mask.array)
        return Tensor(xp.where(mask.array, -np.inf, 0.0).astype(like.dtype))
    if kind != "f":
        raise TypeError(f"MultiheadAttention: only bool and floating types of {name} are supported, "
                        f"got dtype {mask.dtype}")
    return mask if mask.dtype == like.dtype else mask.to(like.dtype)


def _shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """Is the input batched? Checks the ranks of every argument, as PyTorch does."""
    if query.ndim not in (2, 3):
        raise ValueError(f"MultiheadAttention: query must be unbatched 2-D (L, E) or batched 3-D, "
                         f"got a {query.ndim}-D query of shape {query.shape}")
    batched = query.ndim == 3
    which = "a batched (3-D)" if batched else "an unbatched (2-D)"
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(f"MultiheadAttention: for {which} query, key and value must be {query.ndim}-D "
                         f"too, got {key.ndim}-D and {value.ndim}-D")
    kpm_rank, kpm_shape = (2, "(N, S)") if batched else (1, "(S,)")
    if key_padding_mask is not None and np.ndim(key_padding_mask) != kpm_rank:
        raise ValueError(f"MultiheadAttention: for {which} query, key_padding_mask must be None "
                         f"or {kpm_rank}-D {kpm_shape}, got {np.ndim(key_padding_mask)}-D")
    if attn_mask is not None and np.ndim(attn_mask) not in (2, 3):
        raise ValueError(f"MultiheadAttention: attn_mask must be None, 2-D (L, S) or 3-D "
                         f"({'N * ' if batched else ''}num_heads, L, S), got {np.ndim(attn_mask)}-D")
    if not batched and attn_mask is not None and np.ndim(attn_mask) == 3:
        expected = (num_heads, query.shape[0], key.shape[0])
        if tuple(np.shape(attn_mask)) != expected:
            raise ValueError(f"MultiheadAttention: expected a 3-D attn_mask of shape {expected}, "
                             f"got {tuple(np.shape(attn_mask))}")
    return batched


# ---------------------------------------------------------------------------- projections

def _in_projection(query, key, value, w_q, w_k, w_v, b_q, b_k, b_v):
    return F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)


def _in_projection_packed(query, key, value, w, b, same_qkv, same_kv):
    """Project with the packed (3E, E) ``in_proj_weight``. Self-attention (query is key
    is value) does all three projections in one matrix product."""
    E = query.shape[-1]
    if same_qkv:
        return tuple(_shape.chunk(F.linear(query, w, b), 3, dim=-1))
    if same_kv:
        q = F.linear(query, w[:E], None if b is None else b[:E])
        k, v = _shape.chunk(F.linear(key, w[E:], None if b is None else b[E:]), 2, dim=-1)
        return q, k, v
    w_q, w_k, w_v = _shape.chunk(w, 3, dim=0)
    b_q, b_k, b_v = (None, None, None) if b is None else _shape.chunk(b, 3, dim=0)
    return _in_projection(query, key, value, w_q, w_k, w_v, b_q, b_k, b_v)


# ---------------------------------------------------------------------------- the steps

def _add_batch_dim(query, key, value, key_padding_mask):
    """Unbatched (T, E) inputs as a batch of one: (T, 1, E), and the padding mask (1, S)."""
    query, key, value = _shape.unsqueeze(query, 1), _shape.unsqueeze(key, 1), _shape.unsqueeze(value, 1)
    if key_padding_mask is not None:
        if not isinstance(key_padding_mask, Tensor):
            key_padding_mask = Tensor(to_device(np.asarray(key_padding_mask), query.device))
        key_padding_mask = _shape.unsqueeze(key_padding_mask, 0)
    return query, key, value, key_padding_mask


def _check_sizes(query, key, value, embed_dim, num_heads, use_separate_proj_weight):
    """The feature, head, sequence and batch sizes agree; returns ``head_dim``."""
    N, E = query.shape[1], query.shape[2]
    if E != embed_dim:
        raise ValueError(f"MultiheadAttention: expected the query's last dim to be embed_dim="
                         f"{embed_dim}, got query of shape {query.shape}")
    head_dim = E // num_heads
    if head_dim * num_heads != E:
        raise ValueError(f"MultiheadAttention: embed_dim {E} is not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"MultiheadAttention: key's sequence and batch dims {key.shape[:2]} do not match "
                             f"value's {value.shape[:2]}")
    elif key.shape != value.shape:
        raise ValueError(f"MultiheadAttention: key shape {key.shape} does not match value shape {value.shape}")
    if key.shape[1] != N:
        raise ValueError(f"MultiheadAttention: query has batch size {N} but key has {key.shape[1]} "
                         f"(query {query.shape}, key {key.shape})")
    return head_dim


def _prepare_masks(key_padding_mask, attn_mask, is_causal, need_weights, query):
    """Both masks in additive float form; drops the causal ``attn_mask`` when the fused
    kernel can apply it itself. Returns (key_padding_mask, attn_mask, is_causal)."""
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query)
    if is_causal and attn_mask is None:
        raise RuntimeError("MultiheadAttention: is_causal=True is a hint that attn_mask is the causal mask, "
                           "so attn_mask is needed too; build it with "
                           "nn.Transformer.generate_square_subsequent_mask(L)")
    if is_causal and key_padding_mask is None and not need_weights:
        return None, None, is_causal    # the fused kernel applies the causal mask itself, block by block
    attn_mask = _canonical_mask(attn_mask, "attn_mask", query)
    if key_padding_mask is not None:
        is_causal = False               # the merged mask is no longer the causal one
    return key_padding_mask, attn_mask, is_causal


def _project(query, key, value, same_qkv, same_kv, use_separate_proj_weight, in_proj_weight, in_proj_bias,
             q_proj_weight, k_proj_weight, v_proj_weight):
    """q, k, v = the inputs times their projection weights, plus the biases."""
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise ValueError("MultiheadAttention: use_separate_proj_weight=False needs in_proj_weight")
        return _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias, same_qkv, same_kv)
    if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
        raise ValueError("MultiheadAttention: use_separate_proj_weight=True needs q_proj_weight, "
                         "k_proj_weight and v_proj_weight")
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = _shape.chunk(in_proj_bias, 3, dim=0)
    return _in_projection(query, key, value, q_proj_weight, k_proj_weight, v_proj_weight, b_q, b_k, b_v)


def _attn_mask_4d(attn_mask, L, S, N, num_heads):
    """The (L, S) or (N * num_heads, L, S) attention mask as (1, 1, L, S) or (N, num_heads, L, S)."""
    if attn_mask is None:
        return None
    if attn_mask.ndim == 2:
        if tuple(attn_mask.shape) != (L, S):
            raise ValueError(f"MultiheadAttention: the 2-D attn_mask has shape {tuple(attn_mask.shape)}, "
                             f"but should be {(L, S)}")
        return _shape.reshape(attn_mask, (1, 1, L, S))
    if tuple(attn_mask.shape) != (N * num_heads, L, S):
        raise ValueError(f"MultiheadAttention: the 3-D attn_mask has shape {tuple(attn_mask.shape)}, "
                         f"but should be {(N * num_heads, L, S)}")
    return _shape.reshape(attn_mask, (N, num_heads, L, S))


def _append_key(k, v, extra_k, extra_v, dim, masks):
    """One more key and value at the end of the sequence axis ``dim``, and an "allowed"
    column for it in each of ``masks``. Returns (k, v, masks)."""
    k, v = _shape.cat([k, extra_k], dim=dim), _shape.cat([v, extra_v], dim=dim)
    return k, v, [None if m is None else _shape.pad(m, (0, 1)) for m in masks]


def _heads(x, n, h, d):
    """(T, N, h * d) -> (N, h, T, d): one attention problem per (batch entry, head).
    Both steps are views: the reshape splits the last axis, the permute reorders."""
    return _shape.permute(_shape.reshape(x, (x.shape[0], n, h, d)), (1, 2, 0, 3))


def _heads_or_static(x, static, name, N, num_heads, head_dim):
    """``x`` split into heads, or the caller's ``static`` keys or values (N * num_heads, S, head_dim)."""
    if static is None:
        return _heads(x, N, num_heads, head_dim)
    if tuple(static.shape[::2]) != (N * num_heads, head_dim):
        raise ValueError(f"MultiheadAttention: {name} must be (N * num_heads, S, head_dim) = "
                         f"({N * num_heads}, S, {head_dim}), got {tuple(static.shape)}")
    return _shape.reshape(static, (N, num_heads, static.shape[1], head_dim))


def _merge_heads(out):
    """(N, H, L, D) -> (L, N, H * D): the heads side by side again. The permute is a view;
    the reshape copies once, since the heads' features are not adjacent in memory."""
    N, H, L, D = out.shape
    return _shape.reshape(_shape.permute(out, (2, 0, 1, 3)), (L, N, H * D))


def _with_padding_mask(attn_mask, key_padding_mask, N, S):
    """The key padding mask (N, S) added to the attention mask as (N, 1, 1, S)."""
    if key_padding_mask is None:
        return attn_mask
    if tuple(key_padding_mask.shape) != (N, S):
        raise ValueError(f"MultiheadAttention: expected key_padding_mask of shape (N, S) = {(N, S)}, "
                         f"got {tuple(key_padding_mask.shape)}")
    kpm = _shape.reshape(key_padding_mask, (N, 1, 1, S))
    return kpm if attn_mask is None else attn_mask + kpm


def _attend(q, k, v, mask, dropout_p, need_weights, is_causal):
    """The attention of every head: (output (N, H, L, D), weights (N, H, L, S) or None).
    The fused op when no weights are asked for; the explicit softmax when they are."""
    if need_weights:
        return _attention_with_weights(q, k, v, mask, dropout_p)
    return scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                        is_causal=bool(is_causal)), None


# ---------------------------------------------------------------------------- the function

def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight,
                                 out_proj_bias, training=True, key_padding_mask=None, need_weights=True,
                                 attn_mask=None, use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None,
                                 average_attn_weights=True, is_causal=False):
    """Multi-head attention on sequence-first inputs, as ``torch.nn.functional.multi_head_attention_forward``.

    query (L, N, E) or (L, E); key (S, N, kdim) or (S, kdim); value (S, N, vdim) or (S, vdim).
    Returns ``(attn_output (L, N, E), attn_weights)``: the weights are (N, L, S) averaged
    over heads (or (N, num_heads, L, S) with ``average_attn_weights=False``), and None
    when ``need_weights=False``. See :class:`MultiheadAttention` for the masks.
    """
    same_qkv, same_kv = query is key and key is value, key is value
    is_batched = _shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value, key_padding_mask = _add_batch_dim(query, key, value, key_padding_mask)
    L, N, E = query.shape
    head_dim = _check_sizes(query, key, value, embed_dim_to_check, num_heads, use_separate_proj_weight)
    key_padding_mask, attn_mask, is_causal = _prepare_masks(key_padding_mask, attn_mask, is_causal,
                                                            need_weights, query)
    # 1. project; the masks to (1 or N, 1 or num_heads, L, S)
    q, k, v = _project(query, key, value, same_qkv, same_kv, use_separate_proj_weight, in_proj_weight,
                       in_proj_bias, q_proj_weight, k_proj_weight, v_proj_weight)
    attn_mask = _attn_mask_4d(attn_mask, L, key.shape[0], N, num_heads)
    if (bias_k is None) != (bias_v is None):
        raise ValueError("MultiheadAttention: bias_k and bias_v must be given together")
    if bias_k is not None:
        if static_k is not None or static_v is not None:
            raise ValueError("MultiheadAttention: bias_k/bias_v cannot be added to a static key/value")
        k, v, (attn_mask, key_padding_mask) = _append_key(
            k, v, _shape.expand(bias_k, (1, N, E)), _shape.expand(bias_v, (1, N, E)), 0,
            (attn_mask, key_padding_mask))
    # 2. split the heads: (T, N, E) -> (N, num_heads, T, head_dim)
    q = _heads(q, N, num_heads, head_dim)
    k = _heads_or_static(k, static_k, "static_k", N, num_heads, head_dim)
    v = _heads_or_static(v, static_v, "static_v", N, num_heads, head_dim)
    if add_zero_attn:
        zeros = creation.zeros(N, num_heads, 1, head_dim, dtype=k.dtype, device=k.device)
        k, v, (attn_mask, key_padding_mask) = _append_key(k, v, zeros, zeros, 2, (attn_mask, key_padding_mask))
    attn_mask = _with_padding_mask(attn_mask, key_padding_mask, N, k.shape[2])
    # 3. attend; 4. merge the heads and mix them
    out, weights = _attend(q, k, v, attn_mask, dropout_p if training else 0.0, need_weights, is_causal)
    out = F.linear(_merge_heads(out), out_proj_weight, out_proj_bias)
    if weights is not None and average_attn_weights:
        weights = _red.mean(weights, dim=1)
    if not is_batched:
        out = _shape.squeeze(out, 1)
        weights = None if weights is None else _shape.squeeze(weights, 0)
    return out, weights


def _attention_with_weights(q, k, v, mask, dropout_p):
    """The attention with the (N, H, L, S) weight matrix built explicitly (what
    ``need_weights=True`` returns). Returns ``(output, weights)``; the weights are the
    ones after dropout, as in PyTorch."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = _matmul(q * scale, _shape.transpose(k, -2, -1))
    if mask is not None:
        scores = scores + mask
    # A row with every score -inf would give 0/0 = NaN in softmax; give it zero weights.
    any_dead = False
    if mask is not None:
        xp = xp_of(scores.array)
        dead = xp.all(xp.isneginf(scores.array), axis=-1, keepdims=True)
        any_dead = bool(dead.any())
    if any_dead:
        scores = _ew.where(Tensor(dead), 0.0, scores)
    weights = F.softmax(scores, dim=-1)
    if any_dead:
        weights = weights * Tensor((~dead).astype(weights.dtype))
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return _matmul(weights, v), weights


# ---------------------------------------------------------------------------- the module

class MultiheadAttention(Module):
    """Multi-head attention (see the module docstring), with PyTorch's parameters:

    * ``in_proj_weight`` (3 * embed_dim, embed_dim): W_q, W_k, W_v stacked, when
      ``kdim == vdim == embed_dim``; otherwise ``q_proj_weight`` (embed_dim, embed_dim),
      ``k_proj_weight`` (embed_dim, kdim), ``v_proj_weight`` (embed_dim, vdim);
    * ``in_proj_bias`` (3 * embed_dim) (None when ``bias=False``);
    * ``out_proj``: a Linear(embed_dim, embed_dim);
    * ``bias_k``, ``bias_v`` (1, 1, embed_dim) with ``add_bias_kv=True``: one extra
      learned key/value appended to every sequence.

    Initialisation as PyTorch: Xavier-uniform projection weights, zero biases,
    Xavier-normal ``bias_k``/``bias_v``, ``out_proj.weight`` as a Linear's.

    ``forward(query, key, value)`` returns ``(attn_output, attn_weights)``; with
    ``need_weights=False`` the weights are None and the fused kernel is used.

    >>> mha = nn.MultiheadAttention(16, 4, batch_first=True)
    >>> x = minigrad.randn(2, 5, 16)
    >>> out, w = mha(x, x, x)          # out (2, 5, 16), w (2, 5, 5)
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        for name, val in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val <= 0:
                raise ValueError(f"MultiheadAttention: {name} must be a positive int, got {val!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be between 0 and 1, got {dropout}")
        self.embed_dim = int(embed_dim)
        self.kdim = int(kdim) if kdim is not None else self.embed_dim
        self.vdim = int(vdim) if vdim is not None else self.embed_dim
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.num_heads = int(num_heads)
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = self.embed_dim // self.num_heads
        if self.head_dim * self.num_heads != self.embed_dim:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")

        def empty(*shape):
            return Parameter(creation.zeros(*shape, dtype=dtype, device=device))

        E = self.embed_dim
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = empty(E, E)
            self.k_proj_weight = empty(E, self.kdim)
            self.v_proj_weight = empty(E, self.vdim)
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = empty(3 * E, E)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = empty(3 * E)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = empty(1, 1, E)
            self.bias_v = empty(1, 1, E)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        """query (L, N, E), key (S, N, kdim), value (S, N, vdim) (batch first: (N, L, E) ...;
        unbatched: (L, E) ...). Returns ``(attn_output, attn_weights)``: output shaped like
        the query; weights (N, L, S), or (N, num_heads, L, S) with
        ``average_attn_weights=False``, or None with ``need_weights=False``."""
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"MultiheadAttention: {name} must be a Tensor, got {type(t).__name__}")
            if t.dtype != self.out_proj.weight.dtype:
                raise TypeError(f"MultiheadAttention: {name} has dtype {t.dtype} but the layer's parameters are "
                                f"{self.out_proj.weight.dtype}; convert one of them (e.g. layer.to(...))")
        is_batched = query.ndim == 3
        if self.batch_first and is_batched:
            # keep "key is value" / "query is key" true: it picks the one-GEMM projection
            if key is value:
                if query is key:
                    query = key = value = _shape.transpose(query, 0, 1)
                else:
                    query, key = _shape.transpose(query, 0, 1), _shape.transpose(key, 0, 1)
                    value = key
            else:
                query, key, value = (_shape.transpose(x, 0, 1) for x in (query, key, value))
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal)
        if self.batch_first and is_batched:
            out = _shape.transpose(out, 0, 1)
        return out, weights

    def extra_repr(self):
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if not self._qkv_same_embed_dim:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        if self.batch_first:
            s += ", batch_first=True"
        return s

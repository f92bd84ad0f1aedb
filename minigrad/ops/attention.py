"""Scaled dot-product attention, fused: the heart of a transformer in one op.

For queries q (L x E), keys k (S x E) and values v (S x Ev) of one (batch, head):

    scores = q @ k^T * scale + mask          (L x S; scale defaults to 1/sqrt(E))
    p      = softmax(scores, dim=-1)         (each query's weights over the keys)
    out    = p @ v                           (L x Ev)

Written as four ops, the forward stores the (L x S) scores and weights of every
head for the backward: memory that grows with the square of the sequence length.
The fused kernels keep only ``out`` and one log-sum-exp per query row, and
recompute the weights block by block in the backward (FlashAttention's idea; see
``minigrad/kernels/cpu/attention.py`` and ``docs/kernels-attention.md``).
Backward, with g = dL/dout and D_i = sum_c g_ic out_ic:

    dv = p^T g,   ds = p * (g v^T - D),   dq = ds k * scale,   dk = ds^T q * scale

Masks follow PyTorch: a **bool** ``attn_mask`` is True where a query *may* attend,
a **float** mask is added to the scores (-inf forbids). ``is_causal=True`` lets query
i see keys 0..i only. A query row that may attend to nothing gets an output of
zeros (PyTorch gives NaN), and no gradient.
"""
from __future__ import annotations

import math

import numpy as np

from minigrad.autograd import Function, is_grad_enabled, kernel_gradients
from minigrad.backend import device_of, get_kernel, xp_of
from minigrad.creation import rand
from minigrad.ops.elementwise import where
from minigrad.ops.matmul import matmul
from minigrad.ops.shape import expand, reshape, transpose
from minigrad.ops.softmax import softmax
from minigrad.tensor import Tensor

__all__ = ["scaled_dot_product_attention"]


class ScaledDotProductAttention(Function):
    """out = softmax(q k^T * scale + mask) v over (B, H, L, E) arrays;
    dv = p^T g,  ds = p * (g v^T - rowsum(g * out)),  dq = scale * ds k,  dk = scale * ds^T q"""

    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale):
        out, lse = get_kernel("sdpa_forward", device_of(q))(q, k, v, mask, is_causal, scale)
        ctx.save_for_backward(q, k, v, out, lse, mask)
        ctx.is_causal, ctx.scale = is_causal, scale
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, out, lse, mask = ctx.saved_tensors
        return kernel_gradients(ctx, *get_kernel("sdpa_backward", device_of(q.array))(
            g.array, q.array, k.array, v.array, out.array, lse.array, None if mask is None else mask.array,
            ctx.is_causal, ctx.scale))


def _to_4d(shape_batch):
    """Map batch dims to the kernels' (B, H): () -> (1, 1); (N,) -> (1, N); (..., H) -> (prod, H)."""
    if len(shape_batch) == 0:
        return 1, 1
    if len(shape_batch) == 1:
        return 1, shape_batch[0]
    return int(np.prod(shape_batch[:-1])), shape_batch[-1]


def _mask_4d(mask, batch, L, S, xp):
    """The additive mask as a (B or 1, H or 1, L or 1, S or 1) array without materialising
    broadcast axes (only batch dims folded into B are expanded, if the mask has them)."""
    nb = len(batch)
    m = mask.reshape((1,) * (nb + 2 - mask.ndim) + mask.shape)
    lead, rest = m.shape[:nb], m.shape[nb:]
    if nb == 0:
        return m.reshape((1, 1) + rest)
    if nb == 1:
        return m.reshape((1,) + lead + rest)
    if all(s == 1 for s in lead[:-1]):
        return m.reshape((1, lead[-1]) + rest)
    m = xp.broadcast_to(m, tuple(batch[:-1]) + m.shape[nb - 1:])
    return m.reshape((int(np.prod(batch[:-1])), m.shape[nb - 1]) + rest)


def _composed(q, k, v, mask_t, is_causal, scale, dropout_p, L, S):
    """Attention from ordinary ops (used for dropout and for masks that need a gradient)."""
    xp = xp_of(q.array)
    scores = matmul(q, transpose(k, -2, -1)) * scale
    if mask_t is not None:
        scores = scores + mask_t
    if is_causal:
        causal = xp.where(xp.tril(xp.ones((L, S), dtype=bool)), 0.0, -np.inf).astype(q.dtype)
        scores = scores + Tensor(causal)
    dead = xp.all(xp.isneginf(scores.array), axis=-1, keepdims=True)
    any_dead = bool(dead.any())
    if any_dead:  # rows with nothing to attend to: zero weights instead of NaN
        scores = where(Tensor(xp.broadcast_to(dead, scores.shape)), 0.0, scores)
    weights = softmax(scores, -1)
    if any_dead:
        weights = weights * Tensor((~dead).astype(q.dtype))
    if dropout_p > 0.0:
        keep = rand(*weights.shape, dtype=q.dtype, device=q.device).array >= dropout_p
        weights = weights * Tensor(keep.astype(q.dtype) / q.dtype.type(1.0 - dropout_p))
    return matmul(weights, v)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(query @ key^T * scale + mask) @ value, as ``torch.nn.functional.scaled_dot_product_attention``.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the
    leading (batch, head, ...) dims broadcast. ``attn_mask``: None, bool (True = may
    attend) or float (added to the scores), broadcastable to (..., L, S).
    ``is_causal``: query i sees keys 0..i (may be combined with ``attn_mask``, which
    PyTorch refuses). ``scale`` defaults to 1/sqrt(E).

    The fused kernels run unless ``dropout_p > 0`` or a float ``attn_mask`` requires
    a gradient: those cases use a composed (non-fused) path of ordinary Tensor ops,
    which stores the (L, S) weights. Pass ``dropout_p=0`` at evaluation time (the
    function does not know about training mode, as in PyTorch). Double backward is
    not supported through the fused path.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"scaled_dot_product_attention: {name} must have at least 2 dims (..., T, E), "
                             f"got shape {tuple(t.shape)}")
    q, k, v = query, key, value
    if not (q.dtype == k.dtype == v.dtype) or q.dtype.kind != "f":
        raise TypeError(f"scaled_dot_product_attention: query, key and value must share one floating dtype, "
                        f"got {q.dtype}, {k.dtype}, {v.dtype}")
    L, E = q.shape[-2:]
    S = k.shape[-2]
    if k.shape[-1] != E or v.shape[-2] != S:
        raise ValueError(f"scaled_dot_product_attention: shapes query {tuple(q.shape)}, key {tuple(k.shape)}, "
                         f"value {tuple(v.shape)} do not fit (need (..., L, E), (..., S, E), (..., S, Ev))")
    try:
        batch = tuple(np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]))
    except ValueError:
        raise ValueError(f"scaled_dot_product_attention: batch dims of query {tuple(q.shape)}, key "
                         f"{tuple(k.shape)} and value {tuple(v.shape)} cannot be broadcast together") from None
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    if scale is None:
        scale = 1.0 / math.sqrt(E) if E > 0 else 1.0
    xp = xp_of(q.array)

    mask_t = None      # the mask as a Tensor for the composed path
    mask_a = None      # the additive mask as an array for the kernels
    if attn_mask is not None:
        m = attn_mask.array if isinstance(attn_mask, Tensor) else xp.asarray(attn_mask)
        try:
            np.broadcast_shapes(m.shape, batch + (L, S))
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {tuple(m.shape)} cannot be "
                             f"broadcast to {batch + (L, S)}") from None
        if m.ndim > len(batch) + 2 or np.broadcast_shapes(m.shape, batch + (L, S)) != batch + (L, S):
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {tuple(m.shape)} cannot be "
                             f"broadcast to {batch + (L, S)}")
        if m.dtype == np.bool_:
            mask_a = xp.where(m, 0.0, -np.inf).astype(q.dtype)
            mask_t = Tensor(mask_a)
        elif m.dtype.kind == "f":
            mask_a = m.astype(q.dtype, copy=False)
            mask_t = attn_mask if isinstance(attn_mask, Tensor) else Tensor(mask_a)
        else:
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or floating, got {m.dtype}")

    mask_needs_grad = isinstance(attn_mask, Tensor) and attn_mask.requires_grad and is_grad_enabled()
    if dropout_p > 0.0 or mask_needs_grad:
        return _composed(q, k, v, mask_t, is_causal, scale, dropout_p, L, S)

    Ev = v.shape[-1]
    B, H = _to_4d(batch)
    q4, k4, v4 = (reshape(t if t.shape[:-2] == batch else expand(t, batch + t.shape[-2:]),
                          (B, H) + t.shape[-2:]) for t in (q, k, v))
    m4 = None if mask_a is None else _mask_4d(mask_a, batch, L, S, xp)
    out = ScaledDotProductAttention.apply(q4, k4, v4, m4, bool(is_causal), float(scale))
    return reshape(out, batch + (L, Ev))

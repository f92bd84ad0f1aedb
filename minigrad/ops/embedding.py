"""Embedding lookup: rows of a table picked by integer indices.

    out[..., :] = weight[indices[...], :]
    gweight     = scatter-add of g into the rows that were picked

A lookup is a gather, so its gradient is the opposite, a scatter: each output
row's gradient is added into the table row it came from, and an index that was
used k times receives k gradients added together. The row ``padding_idx`` (if
given) receives none, as in PyTorch, so a padding vector stays as initialised.
The indices are not differentiable.
"""
from __future__ import annotations

import numpy as np

from minigrad.autograd import Function, is_grad_enabled, kernel_gradients
from minigrad.backend import device_of, get_kernel, xp_of
from minigrad.ops.index import scatter_add
from minigrad.ops.shape import reshape
from minigrad.tensor import Tensor

__all__ = ["embedding"]


class Embedding(Function):
    """y = weight[indices];  gweight = scatter_add(zeros_like(weight), indices, g), row padding_idx zeroed"""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        ctx.save_for_backward(indices)
        ctx.padding_idx, ctx.num = padding_idx, weight.shape[0]
        return get_kernel("embedding_forward", device_of(weight))(weight, indices)

    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        indices = indices.array
        if is_grad_enabled():  # create_graph: a scatter-add in Tensor ops (g enters linearly)
            xp = xp_of(g.array)
            D = g.shape[-1]
            idx = xp.broadcast_to(indices.reshape(-1, 1), (indices.size, D))
            zeros = Tensor(xp.zeros((ctx.num, D), dtype=g.dtype))
            gw = scatter_add(zeros, 0, idx, reshape(g, (-1, D)))
            if ctx.padding_idx is not None:
                keep = xp.ones((ctx.num, 1), dtype=g.dtype)
                keep[ctx.padding_idx] = 0
                gw = gw * Tensor(keep)
            return gw
        return kernel_gradients(ctx, get_kernel("embedding_backward", device_of(g.array))(
            g.array, indices, ctx.num, ctx.padding_idx))


def embedding(input, weight, padding_idx=None):
    """Look up rows of ``weight`` (num_embeddings, D) at the integer ``input`` indices.

    Returns shape ``input.shape + (D,)``. ``padding_idx`` (may be negative, counted
    from the end) marks a row that gets no gradient.
    """
    if not isinstance(weight, Tensor):
        raise TypeError(f"embedding: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim != 2:
        raise ValueError("embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                         f"got shape {tuple(weight.shape)}")
    idx = input.array if isinstance(input, Tensor) else np.asarray(input)
    xp = xp_of(weight.array)
    if xp is not np and isinstance(idx, np.ndarray):
        idx = xp.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    num = weight.shape[0]
    if idx.size and (bool((idx < 0).any()) or bool((idx >= num).any())):
        bad = int(idx[(idx < 0) | (idx >= num)].reshape(-1)[0])
        raise IndexError(f"embedding: index {bad} is out of range for {num} embeddings (valid: 0..{num - 1})")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within -{num}..{num - 1}")
        padding_idx = int(padding_idx) % num
    return Embedding.apply(weight, idx.astype(np.int64, copy=False), padding_idx)

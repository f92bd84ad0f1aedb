"""Indexing ops: ``x[key]``, gather, index_select, masked_fill, one_hot.

Reading elements is linear, so every backward is a *scatter*: start from zeros of
the input's shape and add each gradient element back where it was read from.
When an index repeats (``x[[0, 0, 1]]``) the gradients of the copies must add up,
which is why the scatter uses ``add.at`` (unbuffered) and not ``z[idx] = g``.
Scatter and gather are each other's backward, so both differentiate again.
"""
from __future__ import annotations

import numpy as np

from minigrad import _checks
from minigrad.autograd import Function
from minigrad.backend import xp_of
from minigrad.tensor import Tensor


def _normalize_key(key):
    """Replace Tensors (and lists) in an index by arrays so NumPy/CuPy can use them."""
    if isinstance(key, tuple):
        return tuple(_normalize_key_item(k) for k in key)
    return _normalize_key_item(key)


def _normalize_key_item(k):
    if isinstance(k, Tensor):
        if k.array.dtype.kind == "f":
            raise IndexError(f"index: tensors used as indices must be integer or bool, got {k.dtype}")
        return k.array
    if isinstance(k, list):
        arr = np.asarray(k)
        if arr.dtype.kind == "f":
            raise IndexError("index: lists used as indices must hold integers or bools")
        return arr
    return k


def _is_basic(key):
    """True when the key has only ints, slices, None and Ellipsis (no repeated elements)."""
    items = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, (int, np.integer, slice)) or k is None or k is Ellipsis for k in items)


class GetItem(Function):
    """y = x[key];  gx = zeros like x with gy added at x[key] (a scatter-add)"""

    @staticmethod
    def forward(ctx, x, key):
        ctx.key = key
        ctx.in_shape = x.shape
        y = x[key]
        if not isinstance(y, type(x)):  # a NumPy scalar: keep it an array
            y = xp_of(x).asarray(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        return IndexAdd.apply(gy, ctx.in_shape, ctx.key)


class IndexAdd(Function):
    """y = zeros(shape) with g added at [key];  gg = gy[key]  (the adjoint of GetItem)"""

    @staticmethod
    def forward(ctx, g, shape, key):
        ctx.key = key
        xp = xp_of(g)
        z = xp.zeros(shape, dtype=g.dtype)
        if _is_basic(key):
            z[key] = g
        else:
            xp.add.at(z, key, g) if xp is np else _cupy_add_at(z, key, g)
        return z

    @staticmethod
    def backward(ctx, gy):
        return GetItem.apply(gy, ctx.key)


def _cupy_add_at(z, key, g):
    import cupyx

    cupyx.scatter_add(z, key, g)


def getitem(input, key):
    """``input[key]`` with ints, slices, None, Ellipsis, integer tensors and bool masks."""
    key = _normalize_key(key)
    try:
        return GetItem.apply(input, key)
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor shape {input.shape})") from None
    except ValueError as e:  # e.g. a slice step of 0
        raise ValueError(f"index: {e} (tensor shape {input.shape}, key {key!r})") from None


def narrow(input, dim, start, length):
    """The slice ``start:start+length`` along ``dim``."""
    d = _checks.dim(dim, input.ndim, "narrow")
    if start < 0:
        start += input.shape[d]
    if not 0 <= start <= start + length <= input.shape[d]:
        raise IndexError(f"narrow: start {start} + length {length} exceeds dim {dim} of size {input.shape[d]}")
    key = (slice(None),) * d + (slice(start, start + length),)
    return GetItem.apply(input, key)


def select(input, dim, index):
    """The slice at ``index`` along ``dim``, with that dim removed."""
    d = _checks.dim(dim, input.ndim, "select")
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} is out of range for dim {dim} of size {n}")
    return GetItem.apply(input, (slice(None),) * d + (int(index),))


def index_select(input, dim, index):
    """Pick entries along ``dim`` at the positions in the 1-D integer tensor ``index``."""
    d = _checks.dim(dim, input.ndim, "index_select")
    idx = index.array if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise IndexError(f"index_select: index must be a 1-D integer tensor, got shape {idx.shape} "
                         f"dtype {idx.dtype}")
    _checks.index_array(idx, input.shape[d], "index_select", dim)   # negatives too, as PyTorch
    return GetItem.apply(input, (slice(None),) * d + (idx,))


class Gather(Function):
    """``y[i][j][k] = x[i][index[i][j][k]][k]``  (dim=1);  gx = scatter-add of gy at index"""

    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.save_for_backward(index)
        ctx.dim, ctx.in_shape = dim, x.shape
        return xp_of(x).take_along_axis(x, index, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        (index,) = ctx.saved_tensors
        return ScatterAdd.apply(gy, ctx.dim, index, ctx.in_shape)


class ScatterAdd(Function):
    """``y = zeros(shape); y[i][index[i][j][k]][k] += g[i][j][k]``  (dim=1);  gg = gather(gy)"""

    @staticmethod
    def forward(ctx, g, dim, index, shape):
        ctx.save_for_backward(index)
        ctx.dim = dim
        xp = xp_of(g)
        z = xp.zeros(shape, dtype=g.dtype)
        full = list(xp.indices(index.shape, sparse=True))
        full[dim] = index
        if xp is np:
            np.add.at(z, tuple(full), g)
        else:
            _cupy_add_at(z, tuple(full), g)
        return z

    @staticmethod
    def backward(ctx, gy):
        (index,) = ctx.saved_tensors
        return Gather.apply(gy, ctx.dim, index)


def gather(input, dim, index):
    """Gather values along ``dim`` at ``index`` (same number of dims as input)."""
    d = _checks.dim(dim, input.ndim, "gather")
    idx = _scatter_gather_index(input, d, index, "gather")
    if idx.shape != input.shape:
        input = getitem(input, tuple(slice(0, s) if i != d else slice(None) for i, s in enumerate(idx.shape)))
    return Gather.apply(input, d, idx)


def scatter_add(input, dim, index, src):
    """``input`` plus ``src`` added at ``index`` along ``dim`` (out of place)."""
    d = _checks.dim(dim, input.ndim, "scatter_add")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add: src must be a Tensor, got {type(src).__name__}")
    idx = _scatter_gather_index(input, d, index, "scatter_add", src)
    if src.shape != idx.shape:  # as PyTorch: only src's leading index.shape block is used
        src = getitem(src, tuple(slice(0, s) for s in idx.shape))
    return input + ScatterAdd.apply(src, d, idx, input.shape)


def _scatter_gather_index(input, d, index, op, src=None):
    """The index array of gather/scatter_add, checked as PyTorch does: an integer tensor
    with input's number of dims, no larger than input on every dim but ``d`` (and no
    larger than ``src`` on any dim), every entry in 0..input.shape[d]-1."""
    idx = index.array if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu" or idx.ndim != input.ndim:
        raise ValueError(f"{op}: index must be an integer tensor with {input.ndim} dims, got "
                         f"shape {idx.shape} dtype {idx.dtype}")
    for i, (a, b) in enumerate(zip(idx.shape, input.shape)):
        if i != d and a > b:
            raise ValueError(f"{op}: index shape {idx.shape} exceeds input shape {input.shape} at dim {i}")
    if src is not None:
        if src.ndim != idx.ndim or any(a > b for a, b in zip(idx.shape, src.shape)):
            raise ValueError(f"{op}: index shape {idx.shape} must be no larger than src shape "
                             f"{src.shape} in every dim")
    return _checks.index_array(idx, input.shape[d], op, d)


class MaskedFill(Function):
    """y = value where mask else x;  gx = gy where not mask else 0"""

    @staticmethod
    def forward(ctx, x, mask, value):
        ctx.save_for_backward(mask)
        xp = xp_of(x)
        return xp.where(mask, xp.asarray(value, dtype=x.dtype), x)

    @staticmethod
    def backward(ctx, gy):
        (mask,) = ctx.saved_tensors
        mask = mask.array
        keep = Tensor(~xp_of(mask).broadcast_to(mask, gy.shape))
        return gy * keep.to(gy.dtype)


def masked_fill(input, mask, value):
    """Put ``value`` where the bool ``mask`` (broadcastable to input) is True."""
    m = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        np.broadcast_shapes(m.shape, input.shape)
    except ValueError:
        raise ValueError(f"masked_fill: mask of shape {m.shape} cannot be broadcast to {input.shape}") from None
    if np.broadcast_shapes(m.shape, input.shape) != input.shape:
        raise ValueError(f"masked_fill: mask of shape {m.shape} cannot be broadcast to {input.shape}")
    if isinstance(value, Tensor):
        value = value.item()
    return MaskedFill.apply(input, m, value)


def one_hot(tensor, num_classes=-1):
    """Integer class indices (any shape) -> int64 tensor with a trailing one-hot dim."""
    idx = tensor.array if isinstance(tensor, Tensor) else np.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expects an integer tensor of class indices, got dtype {idx.dtype}")
    xp = xp_of(idx)
    if idx.size and int(idx.min()) < 0:
        raise ValueError("one_hot: class indices must be non-negative")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    elif idx.size and int(idx.max()) >= num_classes:
        raise ValueError(f"one_hot: class index {int(idx.max())} is out of range for num_classes={num_classes}")
    out = (idx[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor(out)

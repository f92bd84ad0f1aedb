"""Reductions: sum, mean, prod, max/min, var/std, logsumexp, cumsum, norm, argmax.

A reduction's backward has to put the gradient back on every element that was
reduced. For ``sum`` every element gets the whole gradient (a broadcast); for
``max`` only the winning element does; for ``prod`` each element gets the product
of all the others.
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from minigrad import _checks
from minigrad.autograd import Function, kernel_gradients
from minigrad.backend import xp_of
from minigrad.tensor import Tensor
from minigrad.ops.shape import _norm_dim, expand, reshape, flip
from minigrad.ops import elementwise as ew


def _axes(dim, ndim, op):
    """dim (None, int or tuple) -> a sorted tuple of non-negative axes."""
    return _checks.dims(dim, ndim, op)


def _kept_shape(shape, axes):
    """The shape of a reduction with keepdim=True."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _grow(g: Tensor, in_shape, axes, keepdim) -> Tensor:
    """Broadcast a reduction's gradient back to the input's shape."""
    if not keepdim:
        g = reshape(g, _kept_shape(in_shape, axes))
    return expand(g, in_shape)


class Sum(Function):
    """y = sum of x over axes;  dy/dx_i = 1, so gx = gy broadcast back to x's shape"""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.in_shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        y = x.sum(axis=axes, keepdims=keepdim)
        return y if type(y) is type(x) else xp_of(x).asarray(y)

    @staticmethod
    def backward(ctx, gy):
        return _grow(gy, ctx.in_shape, ctx.axes, ctx.keepdim)


def sum(input, dim=None, keepdim=False, dtype=None):
    """Sum over all elements or over ``dim`` (an int or a tuple)."""
    if dtype is not None:
        input = input.to(dtype)
    elif input.array.dtype.kind in "biu":
        input = input.to(np.int64)
    axes = _axes(dim, input.ndim, "sum")
    return Sum.apply(input, axes, keepdim)


def mean(input, dim=None, keepdim=False, dtype=None):
    """Average over all elements or over ``dim``."""
    if dtype is not None:
        input = input.to(dtype)
    if input.array.dtype.kind != "f":
        raise TypeError(f"mean: needs a floating-point tensor, got dtype {input.dtype} "
                        "(convert with .float())")
    axes = _axes(dim, input.ndim, "mean")
    n = 1
    for a in axes:
        n *= input.shape[a]
    s = Sum.apply(input, axes, keepdim)
    return s * (1.0 / n) if n else s * float("nan")


class Prod(Function):
    """y = prod of x over one axis (or all);  dy/dx_i = prod of the other elements"""

    @staticmethod
    def forward(ctx, x, axis, keepdim):
        ctx.axis, ctx.keepdim, ctx.in_shape = axis, keepdim, x.shape
        y = x.prod(axis=axis, keepdims=keepdim)
        y = y if type(y) is type(x) else xp_of(x).asarray(y)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        axes = tuple(range(x.ndim)) if ctx.axis is None else (ctx.axis,)
        if not bool((x.array == 0).any()):
            # No zeros: the product of the others is y / x_i (differentiable twice).
            return _grow(gy, ctx.in_shape, axes, ctx.keepdim) * _grow(y, ctx.in_shape, axes, ctx.keepdim) / x
        # With zeros, y / x is 0/0: use exclusive products from the left and the right.
        xp = xp_of(x.array)
        a = x.array.reshape(-1) if ctx.axis is None else x.array
        ax = 0 if ctx.axis is None else ctx.axis
        ones = xp.ones_like(xp.take(a, [0], axis=ax))
        left = xp.cumprod(xp.concatenate([ones, xp.take(a, range(a.shape[ax] - 1), axis=ax)], axis=ax), axis=ax)
        rf = xp.flip(a, axis=ax)
        right = xp.flip(xp.cumprod(xp.concatenate([ones, xp.take(rf, range(a.shape[ax] - 1), axis=ax)],
                                                  axis=ax), axis=ax), axis=ax)
        others = (left * right).reshape(x.shape)
        g = _grow(gy, ctx.in_shape, axes, ctx.keepdim).array
        return kernel_gradients(ctx, g * others)


def prod(input, dim=None, keepdim=False, dtype=None):
    """Product over all elements or over one ``dim``."""
    if dtype is not None:
        input = input.to(dtype)
    axis = None if dim is None else _norm_dim(dim, input.ndim, "prod")
    return Prod.apply(input, axis, keepdim)


class MaxMin(Function):
    """y = max (or min) over axes;  the gradient goes to the extreme element(s):
    for one ``dim`` to the index that argmax picked, for a full reduction split
    equally among ties (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, is_max, split_ties):
        ctx.in_shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        xp = xp_of(x)
        y = x.max(axis=axes, keepdims=True) if is_max else x.min(axis=axes, keepdims=True)
        if split_ties:
            hit = (x == y)
            w = hit / hit.sum(axis=axes, keepdims=True)
        else:
            ax = axes[0]
            idx = (x.argmax(axis=ax) if is_max else x.argmin(axis=ax))
            idx = xp.expand_dims(idx, ax)
            w = xp.zeros(x.shape, dtype=x.dtype)
            xp.put_along_axis(w, idx, 1, axis=ax) if xp is np else _put(w, idx, ax)
        ctx.save_for_backward(w.astype(x.dtype, copy=False))
        return y if keepdim else y.reshape(tuple(s for i, s in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, gy):
        (weight,) = ctx.saved_tensors
        return _grow(gy, ctx.in_shape, ctx.axes, ctx.keepdim) * weight


def _put(w, idx, ax):
    xp = xp_of(w)
    full = list(xp.indices(idx.shape, sparse=True))
    full[ax] = idx
    w[tuple(full)] = 1


_MinMax = namedtuple("MinMax", ["values", "indices"])


def _maxmin(input, dim, keepdim, is_max, name):
    if isinstance(dim, Tensor):  # torch.max(a, b) is the elementwise maximum
        return ew.maximum(input, dim) if is_max else ew.minimum(input, dim)
    if input.array.size == 0:
        raise RuntimeError(f"{name}: cannot reduce an empty tensor (shape {input.shape})")
    if dim is None:
        return MaxMin.apply(input, tuple(range(input.ndim)), False, is_max, True)
    d = _norm_dim(dim, input.ndim, name)
    values = MaxMin.apply(input, (d,), keepdim, is_max, False)
    idx = (argmax if is_max else argmin)(input, d, keepdim)
    return _MinMax(values, idx)


def max(input, dim=None, keepdim=False):
    """The largest element; with ``dim``, a (values, indices) pair like PyTorch."""
    return _maxmin(input, dim, keepdim, True, "max")


def min(input, dim=None, keepdim=False):
    """The smallest element; with ``dim``, a (values, indices) pair like PyTorch."""
    return _maxmin(input, dim, keepdim, False, "min")


def _nonempty_axes(input, dim, op):
    """The axes of a max/min-like reduction, refusing an empty one (it has no identity)."""
    axes = _axes(dim, input.ndim, op)
    if input.array.size == 0:
        if dim is None:
            raise RuntimeError(f"{op}: cannot reduce an empty tensor (shape {input.shape}) over all "
                               "dims; give the dim to reduce")
        for a in axes:
            if input.shape[a] == 0:
                raise IndexError(f"{op}: cannot reduce dim {a} of size 0 (shape {input.shape})")
    return axes


def amax(input, dim=None, keepdim=False):
    """Max over one or more dims (ties share the gradient)."""
    return MaxMin.apply(input, _nonempty_axes(input, dim, "amax"), keepdim, True, True)


def amin(input, dim=None, keepdim=False):
    """Min over one or more dims (ties share the gradient)."""
    return MaxMin.apply(input, _nonempty_axes(input, dim, "amin"), keepdim, False, True)


def _arg_extreme(input, dim, keepdim, op):
    """argmax / argmin (``op``): the index of the extreme element, as int64, not differentiable."""
    data = input.array
    if dim is None:
        return Tensor(xp_of(data).asarray(getattr(data, op)(), dtype=np.int64))
    d = _norm_dim(dim, input.ndim, op)
    out = getattr(data, op)(axis=d).astype(np.int64)
    return Tensor(xp_of(data).expand_dims(out, d) if keepdim else out)


def argmax(input, dim=None, keepdim=False):
    """Index of the largest element (flattened when dim is None). Not differentiable."""
    return _arg_extreme(input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim=False):
    """Index of the smallest element (flattened when dim is None). Not differentiable."""
    return _arg_extreme(input, dim, keepdim, "argmin")


def var(input, dim=None, unbiased=None, keepdim=False, correction=None):
    """Variance: sum((x - mean)^2) / (N - correction). ``unbiased=True`` means correction=1
    (the default, as in PyTorch); ``unbiased=False`` means 0."""
    return _var(input, dim, unbiased, keepdim, correction, "var")


def _var(input, dim, unbiased, keepdim, correction, op):
    """Variance: sum((x - mean)^2) / (N - correction). ``unbiased=True`` means correction=1
    (the default, as in PyTorch); ``unbiased=False`` means 0.

    The data are first shifted by one of their own values (the first along ``dim``):
    the variance does not change, but the sums stay small, so ``full((4,), 3e38)``
    has variance 0 instead of the inf that ``sum(x) / n`` would overflow to."""
    if input.array.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating-point tensor, got dtype {input.dtype} (convert with .float())")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    axes = _axes(dim, input.ndim, op)
    n = 1
    for a in axes:
        n *= input.shape[a]
    if n:
        first = input.array[tuple(slice(0, 1) if i in axes else slice(None) for i in range(input.ndim))]
        input = input - Tensor(first)
    d = input - mean(input, dim=axes, keepdim=True)
    denom = builtins.max(n - correction, 0)
    s = sum(d * d, dim=axes, keepdim=keepdim)
    return s * (1.0 / denom) if denom else s * float("nan")


def std(input, dim=None, unbiased=None, keepdim=False, correction=None):
    """Standard deviation: sqrt(var)."""
    return ew.sqrt(_var(input, dim, unbiased, keepdim, correction, "std"))


def var_mean(input, dim=None, unbiased=None, keepdim=False, correction=None):
    """``(var(input, dim, ...), mean(input, dim, keepdim))`` in one call, as ``torch.var_mean``."""
    return var(input, dim, unbiased, keepdim, correction), mean(input, dim, keepdim)


def logsumexp(input, dim=None, keepdim=False):
    """log(sum(exp(x))) computed stably: m + log(sum(exp(x - m))) with m = max(x)
    (m is a constant for the gradient, which is softmax(x) either way)."""
    axes = _axes(dim, input.ndim, "logsumexp")
    if input.array.dtype.kind in "biu":  # as PyTorch: integers and bools in, floats out
        input = input.to(np.float32)
    xp = xp_of(input.array)
    m = input.array.max(axis=axes, keepdims=True) if input.array.size else xp.zeros(_kept_shape(input.shape, axes), input.dtype)
    m = xp.where(xp.isfinite(m), m, 0).astype(input.dtype)
    mt = Tensor(m)
    out = ew.log(sum(ew.exp(input - mt), dim=axes, keepdim=True)) + mt
    return out if keepdim else reshape(out, tuple(s for i, s in enumerate(input.shape) if i not in axes))


class Cumsum(Function):
    """y_i = x_0 + ... + x_i along dim;  gx_i = gy_i + ... + gy_last (a reversed cumsum)"""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return xp_of(x).cumsum(x, axis=dim)

    @staticmethod
    def backward(ctx, gy):
        return flip(Cumsum.apply(flip(gy, ctx.dim), ctx.dim), ctx.dim)


def cumsum(input, dim):
    """Running sum along ``dim``."""
    d = _norm_dim(dim, input.ndim, "cumsum")
    if input.array.dtype.kind in "biu":
        input = input.to(np.int64)
    return Cumsum.apply(input, d)


class Norm2(Function):
    """y = sqrt(sum x^2);  dy/dx = x / y  (0 where y = 0, as PyTorch)"""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.in_shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        xp = xp_of(x)
        y = xp.sqrt((x * x).sum(axis=axes, keepdims=keepdim))
        y = y if type(y) is type(x) else xp.asarray(y)
        ctx.save_for_backward(x, y)
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        safe = ew.where(Tensor(y.array == 0), float("inf"), y)
        return x * _grow(gy / safe, ctx.in_shape, ctx.axes, ctx.keepdim)


def norm(input, p="fro", dim=None, keepdim=False):
    """Vector p-norm over ``dim`` (all elements by default): p = 2/'fro' (default), 1,
    inf, -inf, or any positive number."""
    axes = _axes(dim, input.ndim, "norm")
    if p in ("fro", 2, 2.0):
        return Norm2.apply(input, axes, keepdim)
    if p in (float("inf"), "inf"):
        return amax(ew.abs_(input), dim=axes, keepdim=keepdim)
    if p in (float("-inf"), "-inf"):
        return amin(ew.abs_(input), dim=axes, keepdim=keepdim)
    if p == 1:
        return sum(ew.abs_(input), dim=axes, keepdim=keepdim)
    if isinstance(p, (int, float)) and p > 0:
        return ew.pow(sum(ew.pow(ew.abs_(input), float(p)), dim=axes, keepdim=keepdim), 1.0 / p)
    raise ValueError(f"norm: unsupported p={p!r}; use 'fro', a positive number, inf or -inf")


def all(input, dim=None, keepdim=False):
    """True where every element (along ``dim``) is nonzero; a bool Tensor, not differentiable."""
    data = input.array
    axes = _axes(dim, input.ndim, "all")
    return Tensor(xp_of(data).asarray(data.all(axis=axes, keepdims=keepdim)))


def any(input, dim=None, keepdim=False):
    """True where some element (along ``dim``) is nonzero; a bool Tensor, not differentiable."""
    data = input.array
    axes = _axes(dim, input.ndim, "any")
    return Tensor(xp_of(data).asarray(data.any(axis=axes, keepdims=keepdim)))


def count_nonzero(input, dim=None):
    """The number of nonzero elements (along ``dim``), as an int64 Tensor."""
    data = input.array
    axes = _axes(dim, input.ndim, "count_nonzero")
    return Tensor(xp_of(data).asarray(xp_of(data).count_nonzero(data, axis=axes), dtype=np.int64))

"""Running ops along one dimension: cumprod, logcumsumexp, diff.

Output ``i`` of a running op depends on inputs ``0..i``, so input ``j`` receives
gradient from every output ``i >= j``: each backward below is a sum running the other
way (a reversed cumulative sum), the mirror of the forward. ``cumsum`` itself lives
with the reductions in :mod:`minigrad.ops.reduce`.
"""
from __future__ import annotations

import numpy as np

from minigrad.autograd import Function
from minigrad.backend import xp_of
from minigrad.tensor import Tensor
from minigrad.ops import elementwise as ew
from minigrad.ops.reduce import cumsum
from minigrad.ops.shape import _norm_dim, flip, cat
from minigrad.ops.index import narrow

__all__ = ["cumprod", "logcumsumexp", "diff"]


def _reverse_cumsum(t, dim):
    """z_j = t_j + t_{j+1} + ... + t_last along ``dim``."""
    return flip(cumsum(flip(t, dim), dim), dim)


class Cumprod(Function):
    """y_i = x_0 * x_1 * ... * x_i along dim;
    gx_j = sum over i >= j of gy_i * y_i / x_j (a reversed cumsum of gy * y, divided by x).

    Dividing by x fails where x = 0, so when the input has zeros the same sum is
    formed without division: gx_j = (x_0 ... x_{j-1}) * S_j with S_last = gy_last and
    S_j = gy_j + x_{j+1} S_{j+1}."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        y = xp_of(x).cumprod(x, axis=dim)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        d = ctx.dim
        if not bool((x.array == 0).any()):
            return _reverse_cumsum(gy * y, d) / x
        xp = xp_of(x.array)
        xa, ga = xp.moveaxis(x.array, d, 0), xp.moveaxis(gy.array, d, 0)
        n = xa.shape[0]
        s = xp.empty_like(ga)
        s[n - 1] = ga[n - 1]
        for j in range(n - 2, -1, -1):
            s[j] = ga[j] + xa[j + 1] * s[j + 1]
        before = xp.concatenate([xp.ones_like(xa[:1]), xp.cumprod(xa[:-1], axis=0)], axis=0)
        return Tensor(xp.moveaxis(before * s, 0, d))


def cumprod(input, dim, *, dtype=None):
    """Running product along ``dim``: ``y_i = x_0 * ... * x_i``. Integer and bool inputs
    give int64 (as in PyTorch) unless ``dtype`` is given."""
    d = _norm_dim(dim, input.ndim, "cumprod")
    if dtype is not None:
        input = input.to(dtype)
    elif input.array.dtype.kind in "biu":
        input = input.to(np.int64)
    if input.ndim == 0:
        return input * 1
    return Cumprod.apply(input, d)


class LogCumSumExp(Function):
    """y_i = log(exp(x_0) + ... + exp(x_i)) along dim;
    dy_i/dx_j = exp(x_j - y_i) for j <= i, so gx_j = sum over i >= j of gy_i exp(x_j - y_i).

    That sum is formed in log space so that nothing overflows: split gy into its positive
    and negative parts g+ and g-, then gx = exp(x + R(log g+ - y)) - exp(x + R(log g- - y)),
    where R is logcumsumexp run backwards (from the last element). Written with Tensor
    ops (this Function included), so it differentiates again."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        xp = xp_of(x)
        if xp is np:
            y = np.logaddexp.accumulate(x, axis=dim)
        else:  # CuPy has no logaddexp.accumulate: shift by the max, then cumsum
            m = x.max(axis=dim, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
            y = xp.log(xp.cumsum(xp.exp(x - m), axis=dim)) + m
        ctx.save_for_backward(x, y)
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        d = ctx.dim

        # log(0) would be -inf (and its slope inf): the smallest positive number stands in
        # for 0, adding at most that number to each sum and keeping double backward finite.
        tiny = float(np.finfo(gy.dtype).tiny)
        # Where y_i = -inf every x_j (j <= i) is -inf too and gets nothing from output i;
        # any finite stand-in for y_i keeps -inf - (-inf) = nan out of the sums.
        y = ew.where(Tensor(y.array == -np.inf), 0.0, y)

        def part(g):  # sum over i >= j of g_i exp(x_j - y_i), for g >= 0
            r = flip(LogCumSumExp.apply(flip(ew.log(ew.clamp(g, min=tiny)) - y, d), d), d)
            return ew.exp(x + r)

        return part(gy) - part(-gy)


def logcumsumexp(input, dim):
    """``log(cumsum(exp(input), dim))`` computed without overflow (floating inputs). An
    element at -inf gets gradient 0, its true slope (PyTorch's backward gives nan there)."""
    d = _norm_dim(dim, input.ndim, "logcumsumexp")
    if input.array.dtype.kind != "f":
        raise TypeError(f"logcumsumexp: needs a floating-point tensor, got dtype {input.dtype} "
                        "(convert with .float())")
    if input.ndim == 0:
        return input * 1
    return LogCumSumExp.apply(input, d)


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim``: ``out[i] = x[i + 1] - x[i]``, applied
    ``n`` times (bool tensors use ``!=``). ``prepend``/``append`` are joined to ``input``
    along ``dim`` first (same shape except along ``dim``)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise RuntimeError(f"diff: order n must be a non-negative int, got {n!r}")
    if input.ndim == 0:
        raise RuntimeError("diff: expects input to be at least one-dimensional")
    d = _norm_dim(dim, input.ndim, "diff")
    parts = [p for p in (prepend, input, append) if p is not None]
    for p in parts:
        if not isinstance(p, Tensor):
            raise TypeError(f"diff: prepend and append must be Tensors, got {type(p).__name__}")
        if p.ndim != input.ndim:
            raise RuntimeError(f"diff: prepend/append must have {input.ndim} dims like input, got shape {p.shape}")
    out = cat(parts, dim=d) if len(parts) > 1 else input
    for _ in range(int(n)):
        m = out.shape[d]
        if m == 0:
            break
        hi, lo = narrow(out, d, 1, m - 1), narrow(out, d, 0, m - 1)
        out = ew.ne(hi, lo) if out.dtype == np.bool_ else hi - lo
    return out

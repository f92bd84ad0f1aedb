"""Native layer normalisation over the last axis (Numba).

Same signatures and maths as :mod:`minigrad.kernels.reference.norm` (formulas there).

* Forward: one ``prange`` task per row. The row is read three times (mean, variance
  of ``x - mean``, output) but only the first read comes from memory; the two-pass
  variance avoids the cancellation of ``E[x^2] - E[x]^2`` on rows with a large mean.
* Backward: ``gx`` is again row by row, but ``gw`` and ``gb`` are sums over *all*
  rows: if every task added into one shared (D,) vector, two threads would race.
  So the rows are cut into a few chunks, each chunk sums into its own row of a
  (chunks, D) scratch array, and the chunks are added at the end (a parallel
  reduction done by hand).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from . import _runtime
from .._arrays import as_rows
from ..reference import norm as _ref
from .softmax import FASTMATH, lane_dot, lane_sum, serial_below
from .._families import native_tables

__all__ = ["layer_norm_forward", "layer_norm_backward", "KERNELS", "PREFERRED", "warmup"]

_JIT = dict(cache=True, nogil=True, fastmath=FASTMATH)


@njit(**_JIT)
def _ln_wide_row(row, eps, out):
    """Mean and rstd of a finite row whose sums overflow (|x| near 1e19 and up in
    float32): computed on x / s with s = max |x|, where they cannot overflow (layer norm
    does not change when x is scaled, except for eps, which is scaled with it). Leaves
    xhat in ``out`` and returns (mean, rstd, s > 0); s = 0 or inf/NaN: (0, 0, False)."""
    dt = row.dtype.type
    D = row.shape[0]
    s = dt(0.0)
    for c in range(D):
        s = max(s, abs(row[c]))
    if not (s > 0 and s < np.inf):
        return dt(0.0), dt(0.0), False
    for c in range(D):
        out[c] = row[c] / s
    mu = lane_sum(out) / dt(D)
    for c in range(D):
        out[c] -= mu
    rs = dt(1.0) / np.sqrt(lane_dot(out, out) / dt(D) + dt(eps) / s / s)
    for c in range(D):
        out[c] *= rs
    return mu * s, rs / s, True


@njit(parallel=True, **_JIT)
def _ln_forward(x, w, b, has_w, has_b, eps, y, mean, rstd):
    N, D = x.shape
    dt = x.dtype.type
    for n in prange(N):
        row = x[n]
        out = y[n]
        mu = lane_sum(row) / dt(D)
        for c in range(D):                 # out holds x - mean for now
            out[c] = row[c] - mu
        var = lane_dot(out, out) / dt(D)
        r = dt(1.0) / np.sqrt(var + dt(eps))
        mean[n] = mu
        rstd[n] = r
        if not np.isfinite(var):           # overflowed (or the row holds inf/NaN)
            m2, r2, ok = _ln_wide_row(row, eps, out)
            if ok:                         # out now holds xhat: scale by 1 below
                mean[n] = m2
                rstd[n] = r2
                r = dt(1.0)
        if has_w and has_b:
            for c in range(D):
                out[c] = out[c] * r * w[c] + b[c]
        elif has_w:
            for c in range(D):
                out[c] = out[c] * r * w[c]
        elif has_b:
            for c in range(D):
                out[c] = out[c] * r + b[c]
        else:
            for c in range(D):
                out[c] = out[c] * r


@njit(parallel=True, **_JIT)
def _ln_backward(gy, x, w, has_w, mean, rstd, gx, gw_part, gb_part):
    N, D = x.shape
    dt = x.dtype.type
    chunks = gw_part.shape[0]
    per = (N + chunks - 1) // chunks
    for k in prange(chunks):
        gwk = gw_part[k]
        gbk = gb_part[k]
        for c in range(D):
            gwk[c] = 0
            gbk[c] = 0
        xh = np.empty(D, x.dtype)
        gh = np.empty(D, x.dtype)
        for n in range(k * per, min(N, (k + 1) * per)):
            row = x[n]
            g = gy[n]
            out = gx[n]
            mu = mean[n]
            r = rstd[n]
            for c in range(D):
                xc = (row[c] - mu) * r
                xh[c] = xc
                gh[c] = g[c] * w[c] if has_w else g[c]
                gwk[c] += g[c] * xc
                gbk[c] += g[c]
            s1 = lane_sum(gh) / dt(D)        # mean(gh)
            s2 = lane_dot(gh, xh) / dt(D)    # mean(gh * xhat)
            for c in range(D):
                out[c] = r * (gh[c] - s1 - xh[c] * s2)


def _param(p, D, dt):
    if p is None:
        return np.ones(1, dt), False
    return np.ascontiguousarray(p, dtype=dt).reshape(D), True


def layer_norm_forward(x, weight, bias, eps):
    """Returns ``(y, mean, rstd)`` normalising over the last axis."""
    _runtime.configure()
    if x.dtype not in (np.float32, np.float64):   # e.g. float16: the reference handles it
        return _ref.layer_norm_forward(x, weight, bias, eps)
    shape = x.shape
    x2 = as_rows(x)
    N, D = x2.shape
    dt = x2.dtype
    w, has_w = _param(weight, D, dt)
    b, has_b = _param(bias, D, dt)
    y = np.empty_like(x2)
    mean = np.empty(N, dt)
    rstd = np.empty(N, dt)
    if x2.size:
        with serial_below(x2.size):
            _ln_forward(x2, w, b, has_w, has_b, float(eps), y, mean, rstd)
    return y.reshape(shape), mean.reshape(shape[:-1]), rstd.reshape(shape[:-1])


def layer_norm_backward(gy, x, weight, mean, rstd):
    """Returns ``(gx, gw, gb)``; gw and gb are (D,) sums over all rows."""
    _runtime.configure()
    if x.dtype not in (np.float32, np.float64):
        return _ref.layer_norm_backward(gy, x, weight, mean, rstd)
    shape = x.shape
    x2 = as_rows(x)
    N, D = x2.shape
    dt = x2.dtype
    g2 = as_rows(gy, dt)
    w, has_w = _param(weight, D, dt)
    m = np.ascontiguousarray(mean, dtype=dt).reshape(N)
    r = np.ascontiguousarray(rstd, dtype=dt).reshape(N)
    chunks = max(1, min(N, 4 * numba.get_num_threads()))
    gx = np.empty_like(x2)
    gw_part = np.empty((chunks, D), dt)
    gb_part = np.empty((chunks, D), dt)
    if N == 0 or D == 0:
        return gx.reshape(shape), np.zeros(D, dt), np.zeros(D, dt)
    with serial_below(x2.size):
        _ln_backward(g2, x2, w, has_w, m, r, gx, gw_part, gb_part)
    return gx.reshape(shape), gw_part.sum(axis=0), gb_part.sum(axis=0)


KERNELS, PREFERRED = native_tables("norm", globals())   # every op above; native unless measured slower


def warmup(dtypes=(np.float32, np.float64)):
    """Compile (or load from Numba's cache) the layer-norm kernels, forward and backward, with
    and without weight and bias, on tiny inputs of each of ``dtypes``."""
    for dt in dtypes:
        x = np.zeros((2, 3), dt)
        w = np.ones(3, dt)
        for ww, bb in ((w, w), (w, None), (None, w), (None, None)):
            y, m, r = layer_norm_forward(x, ww, bb, 1e-5)
        layer_norm_backward(x, x, w, m, r)
        layer_norm_backward(x, x, None, m, r)

"""Native 2-D max and average pooling for the CPU (Numba).

Same signatures and results as :mod:`minigrad.kernels.reference.pool`. The reference
builds a (N, C, H_out, W_out, kH, kW) view of every window and reduces over the last
two axes; here a worker walks the windows of a range of (n, c) planes directly, and
large inputs split the planes into one contiguous range per thread.

For every window row (and column) the range of kernel taps that land on the image is
computed once per call (``_tap_table``), so the inner loops need no bounds tests
and padding is never materialized: a max over the real taps equals a max over a
window padded with -inf, and a sum over the real taps equals a sum over a
zero-padded window.

Each plane is independent (a pooling window never crosses channels), which also
makes the backward passes race-free in parallel: the scatter-adds of one plane only
touch that plane.
"""
import numpy as np
from numba import njit, prange

from .._contracts import check_grad_shape, max_pool_backward_shapes, pool_geometry
from ..reference import pool as _ref
from . import _runtime
from .._families import native_tables


@njit(cache=True)
def _tap_table(n_out, stride, pad, dil, k, size):
    """For every window i along one axis: the taps a in [lo[i], hi[i]) whose input index
    start[i] + a*dil lies in [0, size), with start[i] = i*stride - pad.

    Computed once per call (the divisions are slow), shared by all planes and rows.
    """
    lo = np.empty(n_out, np.int64)
    hi = np.empty(n_out, np.int64)
    start = np.empty(n_out, np.int64)
    for i in range(n_out):
        s0 = i * stride - pad
        a_lo = 0 if s0 >= 0 else (-s0 + dil - 1) // dil
        a_hi = 0 if s0 >= size else min((size - 1 - s0) // dil + 1, k)
        lo[i] = min(a_lo, a_hi)
        hi[i] = a_hi
        start[i] = s0
    return lo, hi, start


@njit(cache=True)
def _max_pool_fwd(x, y, ind, geo, lo, hi):
    """x (NC, H, W) -> y, ind (NC, H_out, W_out); ind is row*W + col, or -1 (no real tap)."""
    kH, kW, sh, sw, ph, pw, dh, dw = geo
    NC, H, W = x.shape
    _, H_out, W_out = y.shape
    a_lo, a_hi, r_start = _tap_table(H_out, sh, ph, dh, kH, H)
    b_lo, b_hi, c_start = _tap_table(W_out, sw, pw, dw, kW, W)
    for p in range(lo, hi):
        plane = x[p]
        yp = y[p]
        ip = ind[p]
        for i in range(H_out):
            for j in range(W_out):
                if a_lo[i] == a_hi[i] or b_lo[j] == b_hi[j]:
                    yp[i, j] = -np.inf           # the window covers padding only
                    ip[i, j] = -1
                    continue
                # Start from the first real tap; a strictly larger value wins (so ties
                # keep the first) and a NaN beats any number. Written as selects, not
                # branches: on random data a branch here is mispredicted half the time.
                r = r_start[i] + a_lo[i] * dh
                c = c_start[j] + b_lo[j] * dw
                best = plane[r, c]
                k = r * W + c
                for a in range(a_lo[i], a_hi[i]):
                    r = r_start[i] + a * dh
                    row = plane[r]
                    for b in range(b_lo[j], b_hi[j]):
                        c = c_start[j] + b * dw
                        v = row[c]
                        take = (v > best) | ((v != v) & (best == best))
                        best = v if take else best
                        k = r * W + c if take else k
                yp[i, j] = best
                ip[i, j] = k


@njit(cache=True)
def _max_pool_bwd(gy, ind, gx, lo, hi):
    """gx (NC, H*W) zeroed; gx[p, ind[p, o]] += gy[p, o] for every output o of plane p."""
    for p in range(lo, hi):
        g = gx[p]
        src = gy[p]
        where = ind[p]
        for o in range(src.shape[0]):
            k = where[o]
            if k >= 0:
                g[k] += src[o]


@njit(cache=True, inline="always")
def _divisor(i, j, H, W, kH, kW, sh, sw, ph, pw, count_include_pad):
    """What window (i, j)'s sum is divided by (PyTorch's rule; see the reference)."""
    h0 = i * sh - ph
    w0 = j * sw - pw
    h1 = min(h0 + kH, H + ph)
    w1 = min(w0 + kW, W + pw)
    if count_include_pad:
        return (h1 - h0) * (w1 - w0)
    return (min(h1, H) - max(h0, 0)) * (min(w1, W) - max(w0, 0))


@njit(cache=True)
def _avg_divisors(H, W, H_out, W_out, kH, kW, sh, sw, ph, pw, count_include_pad):
    """(H_out, W_out) table of what each window's sum is divided by (element counts)."""
    d = np.empty((H_out, W_out), dtype=np.int64)
    for i in range(H_out):
        for j in range(W_out):
            d[i, j] = _divisor(i, j, H, W, kH, kW, sh, sw, ph, pw, count_include_pad)
    return d


@njit(cache=True)
def _avg_pool_fwd(x, y, geo, lo, hi):
    kH, kW, sh, sw, ph, pw, count_include_pad = geo
    NC, H, W = x.shape
    _, H_out, W_out = y.shape
    a_lo, a_hi, r_start = _tap_table(H_out, sh, ph, 1, kH, H)
    b_lo, b_hi, c_start = _tap_table(W_out, sw, pw, 1, kW, W)
    div = _avg_divisors(H, W, H_out, W_out, kH, kW, sh, sw, ph, pw, count_include_pad)
    for p in range(lo, hi):
        plane = x[p]
        for i in range(H_out):
            for j in range(W_out):
                s = x.dtype.type(0)
                for a in range(a_lo[i], a_hi[i]):
                    row = plane[r_start[i] + a]
                    for b in range(b_lo[j], b_hi[j]):
                        s += row[c_start[j] + b]
                y[p, i, j] = s / x.dtype.type(div[i, j])


@njit(cache=True)
def _avg_pool_bwd(gy, gx, geo, lo, hi):
    """gx (NC, H, W) zeroed; every real tap of window (i, j) gets gy[i, j] / divisor."""
    kH, kW, sh, sw, ph, pw, count_include_pad = geo
    NC, H, W = gx.shape
    _, H_out, W_out = gy.shape
    a_lo, a_hi, r_start = _tap_table(H_out, sh, ph, 1, kH, H)
    b_lo, b_hi, c_start = _tap_table(W_out, sw, pw, 1, kW, W)
    div = _avg_divisors(H, W, H_out, W_out, kH, kW, sh, sw, ph, pw, count_include_pad)
    for p in range(lo, hi):
        plane = gx[p]
        for i in range(H_out):
            for j in range(W_out):
                g = gy[p, i, j] / gy.dtype.type(div[i, j])
                for a in range(a_lo[i], a_hi[i]):
                    row = plane[r_start[i] + a]
                    for b in range(b_lo[j], b_hi[j]):
                        row[c_start[j] + b] += g


@njit(cache=True, inline="always")
def _chunk(n, T, t):
    return t * n // T, (t + 1) * n // T


@njit(cache=True, parallel=True)
def _parallel_max_fwd(x, y, ind, geo, T):
    for t in prange(T):
        lo, hi = _chunk(x.shape[0], T, t)
        _max_pool_fwd(x, y, ind, geo, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_max_bwd(gy, ind, gx, T):
    for t in prange(T):
        lo, hi = _chunk(gy.shape[0], T, t)
        _max_pool_bwd(gy, ind, gx, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_avg_fwd(x, y, geo, T):
    for t in prange(T):
        lo, hi = _chunk(x.shape[0], T, t)
        _avg_pool_fwd(x, y, geo, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_avg_bwd(gy, gx, geo, T):
    for t in prange(T):
        lo, hi = _chunk(gy.shape[0], T, t)
        _avg_pool_bwd(gy, gx, geo, lo, hi)


# Below this many window taps a call runs on the calling thread only.
PARALLEL_MIN_TAPS = 200_000


def _threads(planes, taps):
    _runtime.configure()
    if planes < 2 or taps < PARALLEL_MIN_TAPS:
        return 1
    return min(_runtime.get_num_threads(), planes)


def _native_dtype(a):
    return a.dtype in (np.float32, np.float64)


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Returns ``(y, indices)`` exactly as the reference kernel does."""
    if not _native_dtype(x):
        return _ref.max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode)
    H_out, W_out = pool_geometry("max_pool2d_forward", x.shape, kernel_size, stride, padding,
                                   dilation, ceil_mode)
    N, C, H, W = x.shape
    y = np.empty((N * C, H_out, W_out), dtype=x.dtype)
    ind = np.empty((N * C, H_out, W_out), dtype=np.int64)
    x3 = np.ascontiguousarray(x).reshape(N * C, H, W)
    geo = tuple(int(v) for v in (*kernel_size, *stride, *padding, *dilation))
    T = _threads(N * C, y.size * kernel_size[0] * kernel_size[1])
    if T == 1:
        _max_pool_fwd(x3, y, ind, geo, 0, N * C)
    else:
        _parallel_max_fwd(x3, y, ind, geo, T)
    return y.reshape(N, C, H_out, W_out), ind.reshape(N, C, H_out, W_out)


def max_pool2d_backward(gy, indices, x_shape):
    """dL/dx: each gy goes to the input position its window's max came from."""
    if not _native_dtype(gy):
        return _ref.max_pool2d_backward(gy, indices, x_shape)
    max_pool_backward_shapes(gy, indices, x_shape)
    N, C, H, W = x_shape
    gx = np.zeros((N * C, H * W), dtype=gy.dtype)
    g2 = np.ascontiguousarray(gy).reshape(N * C, -1)
    i2 = np.ascontiguousarray(indices, dtype=np.int64).reshape(N * C, -1)
    T = _threads(N * C, 4 * g2.size)
    if T == 1:
        _max_pool_bwd(g2, i2, gx, 0, N * C)
    else:
        _parallel_max_bwd(g2, i2, gx, T)
    return gx.reshape(N, C, H, W)


def avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """The mean of every window (see the reference kernel for the divisor rule)."""
    if not _native_dtype(x):
        return _ref.avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad)
    H_out, W_out = pool_geometry("avg_pool2d_forward", x.shape, kernel_size, stride, padding,
                                   (1, 1), ceil_mode)
    N, C, H, W = x.shape
    y = np.empty((N * C, H_out, W_out), dtype=x.dtype)
    x3 = np.ascontiguousarray(x).reshape(N * C, H, W)
    geo = tuple(int(v) for v in (*kernel_size, *stride, *padding, bool(count_include_pad)))
    T = _threads(N * C, y.size * kernel_size[0] * kernel_size[1])
    if T == 1:
        _avg_pool_fwd(x3, y, geo, 0, N * C)
    else:
        _parallel_avg_fwd(x3, y, geo, T)
    return y.reshape(N, C, H_out, W_out)


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """dL/dx: each output gradient, divided by its window's count, added to every real tap."""
    if not _native_dtype(gy):
        return _ref.avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, ceil_mode,
                                        count_include_pad)
    H_out, W_out = pool_geometry("avg_pool2d_backward", x_shape, kernel_size, stride, padding,
                                   (1, 1), ceil_mode)
    N, C, H, W = x_shape
    check_grad_shape("avg_pool2d_backward", gy, (N, C, H_out, W_out))
    gx = np.zeros((N * C, H, W), dtype=gy.dtype)
    g3 = np.ascontiguousarray(gy).reshape(N * C, H_out, W_out)
    geo = tuple(int(v) for v in (*kernel_size, *stride, *padding, bool(count_include_pad)))
    T = _threads(N * C, g3.size * kernel_size[0] * kernel_size[1])
    if T == 1:
        _avg_pool_bwd(g3, gx, geo, 0, N * C)
    else:
        _parallel_avg_bwd(g3, gx, geo, T)
    return gx.reshape(N, C, H, W)


# Measured on the development machine (2 vCPUs): see docs/kernels-conv.md.
KERNELS, PREFERRED = native_tables("pool", globals())   # every op above; native unless measured slower


def warmup(dtypes=(np.float32, np.float64)):
    """Compile (or load from cache) every worker for each of ``dtypes``, and the
    parallel drivers for float32 (tiny inputs take the single-thread path, so those
    are called directly; float64 ones compile on first use)."""
    for dt in dtypes:
        x = np.zeros((1, 2, 4, 4), dt)
        y, ind = max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
        max_pool2d_backward(y, ind, x.shape)
        y = avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True)
        avg_pool2d_backward(y, x.shape, (2, 2), (2, 2), (0, 0), False, True)
        if dt == np.float32:
            x3, y3, i3 = x.reshape(2, 4, 4), y.reshape(2, 2, 2), ind.reshape(2, 2, 2)
            _parallel_max_fwd(x3, y3, i3, (2, 2, 2, 2, 0, 0, 1, 1), 2)
            _parallel_max_bwd(y3.reshape(2, 4), i3.reshape(2, 4), np.zeros((2, 16), dt), 2)
            _parallel_avg_fwd(x3, y3, (2, 2, 2, 2, 0, 0, 1), 2)
            _parallel_avg_bwd(y3, np.zeros_like(x3), (2, 2, 2, 2, 0, 0, 1), 2)

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

The fast path: MaxPool2d(2)
--------------------------
2x2 windows at stride 2 without padding or dilation (``_tiles_2x2``) are the max
pooling of nearly every CNN, and for them the general walk is slow: per window it
reads the tap tables, runs one tap per loop iteration and carries the NaN rule (three
compares) in the dependency chain of every tap. There, tap (a, b) of window (i, j) is
simply input (2i + a, 2j + b), so ``_max_pool_2x2_fwd`` loads the two input rows of an
output row and computes each output column with straight-line compares and selects.
Nothing is carried from one column to the next, so LLVM vectorizes the column loop
(even and odd columns split by a shuffle), 8 windows per instruction in float32. It
compares with a plain ``>`` (a tie keeps the first tap in row-major order) and notes
whether a plane held a NaN; such a plane is done again with the full NaN rule (the
first NaN wins). Results are identical to the general walk, bit for bit; an input full
of NaN pays for both passes (about the general walk's time).

The same scheme for any kernel == stride (a scalar tap loop without tables) ran
1.9-3x faster than the general walk for 3x3 and 4x4 windows, but its specialisations
added about 2 s more to the cold compile of every first run for rare geometries; it
was left out. The 2x2 path itself adds about 1.5 s to a cold ``warmup()`` (9-10 s ->
10.3-11.2 s here).

The backward needs no geometry (the indices say where each gradient goes), so one
worker serves every case: gx comes uninitialized, and each plane is zeroed just before
its scatter, while it is in L1, instead of a separate ``np.zeros`` pass first. Writing
gx in one pass of selects per 2x2 window was tried and lost: with rows of 7-14 windows
the vector loops barely start and the scalar remainder is slower than the scatter.

Measured on an AMD EPYC Zen 4, AVX-512, 2 cores, shared with other work: float32
standard-normal input, malloc thresholds raised (``benchmarks/_common.py``'s
``set_malloc_thresholds``), milliseconds, the median of 30 calls, three rounds
alternating in one process between the kernel before this fast path, this one and
PyTorch 2.13, with ``_runtime.set_num_threads(n)`` and ``torch.set_num_threads(n)``::

    max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    max_pool2d_backward(gy, ind, x.shape)
    torch.nn.functional.max_pool2d(tx, 2, 2, return_indices=True)
    torch.ops.aten.max_pool2d_with_indices_backward(tgy, tx, [2, 2], [2, 2], [0, 0], [1, 1],
                                                    False, tind)

    input             threads   forward: before  after  PyTorch   backward: before  after  PyTorch
    (64, 32, 28, 28)     1               5.9      0.42   8.8                0.31    0.29   0.43-0.56
    (64, 64, 14, 14)     1               2.9      0.39   4.6                0.16    0.14   0.17
    (64, 32, 28, 28)     2               2.9      0.22   4.4                0.19    0.15   0.23-0.26
    (64, 64, 14, 14)     2               1.4-1.6  0.21   2.3                0.11    0.08   0.15-0.18

The forward is 13-14x faster (the 14x14 rows, 7 windows each, mostly miss the
8-wide vector loop); the backward 10-25% (the zero fill that moved into the worker).
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
    """gx (NC, H*W), uninitialized: plane p is zeroed, then gx[p, ind[p, o]] += gy[p, o]
    for every output o of the plane.

    Zeroing each plane right before its scatter (instead of ``np.zeros`` for the whole
    gradient first) writes gx once: the scatter's read-modify-writes find the plane's
    few kilobytes still in L1 instead of fetching lines that a separate fill pushed out.
    """
    zero = gx.dtype.type(0)
    for p in range(lo, hi):
        g = gx[p]
        src = gy[p]
        where = ind[p]
        for e in range(g.shape[0]):
            g[e] = zero
        for o in range(src.shape[0]):
            k = where[o]
            if k >= 0:
                g[k] += src[o]


def _tiles_2x2(kernel_size, stride, padding, dilation, H, W, H_out, W_out):
    """True for ``MaxPool2d(2)``'s geometry: 2x2 windows at stride 2, no padding, no
    dilation, every window whole (ceil mode adds no partial window). Then the windows
    tile the image: window (i, j) covers rows 2i, 2i+1 and columns 2j, 2j+1, and each
    input element belongs to at most one window (a last odd row or column to none)."""
    return (tuple(kernel_size) == (2, 2) and tuple(stride) == (2, 2) and tuple(padding) == (0, 0)
            and tuple(dilation) == (1, 1) and 2 * H_out <= H and 2 * W_out <= W)


@njit(cache=True, inline="always")
def _max_pool_2x2_plane_nan(x, y, ind, p):
    """Plane p of :func:`_max_pool_2x2_fwd` (below) with the full rule: the taps in
    row-major order, and a tap wins when it is larger, or when it is the first NaN.
    Only planes that hold a NaN come here."""
    NC, H, W = x.shape
    _, H_out, W_out = y.shape
    for i in range(H_out):
        for j in range(W_out):
            best = x[p, 2 * i, 2 * j]
            k = 2 * i * W + 2 * j
            for a in range(2):
                for b in range(2):
                    v = x[p, 2 * i + a, 2 * j + b]
                    take = (v > best) | ((v != v) & (best == best))
                    best = v if take else best
                    k = (2 * i + a) * W + 2 * j + b if take else k
            y[p, i, j] = best
            ind[p, i, j] = k


@njit(cache=True)
def _max_pool_2x2_fwd(x, y, ind, lo, hi):
    """The fast path for tiling 2x2 windows (see :func:`_tiles_2x2`).

    For output row i the two input rows 2i and 2i+1 are loaded once; the loop over the
    output columns j is straight-line code with no branch and nothing carried from one
    column to the next, so LLVM vectorizes it along j: the even and odd columns of a row
    come out of two vector loads and a shuffle (an interleaved access), and every
    compare/select works on 8 windows at once in float32 (4 on the last few).

    The winner of window (i, j) is found as a small tree: the better of the two top taps,
    the better of the two bottom taps, then the better of those. "Better" is a strictly
    larger value, so a tie keeps the earlier tap in row-major window order; the index is
    assembled from the two comparison bits at the end (``row*W + col``).

    A NaN must win, and a strict ``>`` never picks one. Rather than spend two more
    compares per tap inside the chain, each plane records whether it saw any NaN (one
    compare per tap, off the chain), and a plane that did is done again by
    :func:`_max_pool_2x2_plane_nan`, which applies the NaN rule.
    """
    NC, H, W = x.shape
    _, H_out, W_out = y.shape
    for p in range(lo, hi):
        nan = False
        for i in range(H_out):
            top = x[p, 2 * i]
            bottom = x[p, 2 * i + 1]
            yr = y[p, i]
            ir = ind[p, i]
            base = 2 * i * W
            for j in range(W_out):
                c = 2 * j
                a0 = top[c]
                a1 = top[c + 1]
                b0 = bottom[c]
                b1 = bottom[c + 1]
                nan |= (a0 != a0) | (a1 != a1) | (b0 != b0) | (b1 != b1)
                ta = a1 > a0                   # right beats left in the top row
                va = a1 if ta else a0
                tb = b1 > b0                   # ... in the bottom row
                vb = b1 if tb else b0
                t = vb > va                    # bottom beats top
                yr[j] = vb if t else va
                ir[j] = base + c + ((W + tb) if t else np.int64(ta))
        if nan:
            _max_pool_2x2_plane_nan(x, y, ind, p)


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



@njit(cache=True, parallel=True)
def _parallel_max_fwd(x, y, ind, geo, fast, T):
    for t in prange(T):
        lo, hi = _runtime.thread_share(x.shape[0], T, t)
        if fast:
            _max_pool_2x2_fwd(x, y, ind, lo, hi)
        else:
            _max_pool_fwd(x, y, ind, geo, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_max_bwd(gy, ind, gx, T):
    for t in prange(T):
        lo, hi = _runtime.thread_share(gy.shape[0], T, t)
        _max_pool_bwd(gy, ind, gx, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_avg_fwd(x, y, geo, T):
    for t in prange(T):
        lo, hi = _runtime.thread_share(x.shape[0], T, t)
        _avg_pool_fwd(x, y, geo, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_avg_bwd(gy, gx, geo, T):
    for t in prange(T):
        lo, hi = _runtime.thread_share(gy.shape[0], T, t)
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
    fast = _tiles_2x2(kernel_size, stride, padding, dilation, H, W, H_out, W_out)
    T = _threads(N * C, y.size * kernel_size[0] * kernel_size[1])
    if T > 1:
        _parallel_max_fwd(x3, y, ind, geo, fast, T)
    elif fast:
        _max_pool_2x2_fwd(x3, y, ind, 0, N * C)
    else:
        _max_pool_fwd(x3, y, ind, geo, 0, N * C)
    return y.reshape(N, C, H_out, W_out), ind.reshape(N, C, H_out, W_out)


def max_pool2d_backward(gy, indices, x_shape):
    """dL/dx: each gy goes to the input position its window's max came from."""
    if not _native_dtype(gy):
        return _ref.max_pool2d_backward(gy, indices, x_shape)
    max_pool_backward_shapes(gy, indices, x_shape)
    N, C, H, W = x_shape
    gx = np.empty((N * C, H * W), dtype=gy.dtype)     # each plane is zeroed by the worker
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
        max_pool2d_forward(x, (3, 3), (1, 1), (1, 1), (1, 1), False)    # the general walk
        y, ind = max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)   # the 2x2 path
        max_pool2d_backward(y, ind, x.shape)
        y = avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True)
        avg_pool2d_backward(y, x.shape, (2, 2), (2, 2), (0, 0), False, True)
        if dt == np.float32:
            x3, y3, i3 = x.reshape(2, 4, 4), y.reshape(2, 2, 2), ind.reshape(2, 2, 2)
            _parallel_max_fwd(x3, y3, i3, (2, 2, 2, 2, 0, 0, 1, 1), True, 2)
            _parallel_max_bwd(y3.reshape(2, 4), i3.reshape(2, 4), np.empty((2, 16), dt), 2)
            _parallel_avg_fwd(x3, y3, (2, 2, 2, 2, 0, 0, 1), 2)
            _parallel_avg_bwd(y3, np.zeros_like(x3), (2, 2, 2, 2, 0, 0, 1), 2)

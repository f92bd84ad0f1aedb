"""Native 2-D convolution for the CPU (Numba): im2col of a few samples + a cache-sized GEMM.

Same signatures and results as :mod:`minigrad.kernels.reference.conv` (read that file
first: it explains im2col). What changes here is *where the data lives* while we work:

* **A few samples at a time, one thread per chunk of the batch.** The reference
  builds the im2col matrix of the whole batch (14 MB for a 32->64 channel 3x3 layer
  on 14x14 images at batch 64) and multiplies once. Here a worker builds the patches
  of S samples side by side (S*P columns, S chosen so that they fit in the core's
  L2 cache: 4 samples, 900 KB, for that layer), multiplies, and moves on; each
  thread runs a worker on its own contiguous chunk of the batch. The scratch buffers
  are allocated once and reused (``_runtime.workspace``): a fresh multi-megabyte
  temporary per call costs page faults that can double the time on a VM.

* **im2col from a zero-padded copy, "k-major".** ``cols[(c, a, b), pixel]``: row
  (c, a, b) is channel c of the sample seen through kernel tap (a, b), i.e. the image
  shifted by (a, b). Padding the sample once means every row is built from plain
  runs of W_out numbers with no "is this tap off the image?" tests.

* **Two small GEMMs, each reading memory in order**, both on the register-tile
  micro-kernels of the general matmul (``kernels/cpu/matmul.py``).
  ``_gemm_ab`` (C = A @ B) works as "row of C += number * row of B", four rows of C
  and four k at a time, vectorized along the rows; it computes the output
  ``y = W @ cols`` and the patch gradients ``dcols = W^T @ gy``. ``_gemm_abt``
  (C += A @ B.T) is a 4x4 block of dot products along the contiguous last axis of
  both operands; it suits the weight gradient ``gW += gy @ cols^T``, a long sum over
  every pixel of every sample.

The accumulation order differs from NumPy's, so float32 results agree with the
reference to rounding (about 1e-6 relative), not bit for bit. float32 and float64
are compiled; any other dtype, or mixed dtypes, runs the reference kernel.

About the GEMM: the kernels use these two small GEMMs, fused with im2col on
cache-sized blocks of a few samples. The textbook alternative, one big im2col + the
general matmul, was slower (docs/kernels-conv.md); ``benchmarks/_bench_conv.py``
keeps it to time both.
"""
import numpy as np
from numba import njit, prange

from .._contracts import check_grad_shape, conv_geometry, fold_geometry, unfold_geometry
from ..reference import conv as _ref
from . import _runtime
from .matmul import _axpy_4x4, _axpy_edge, _dot_4x1, _dot_4x4, _four_rows
from .._families import native_tables

# Floating-point flags for the GEMM loops: allow reassociation (needed to vectorize a
# sum) and fused multiply-add, but keep NaN/inf semantics (no "nnan"/"ninf").
_FM = {"reassoc", "contract", "nsz"}


# ----------------------------------------------------------------------------- GEMMs
# Both products run on the 4x4 register-tile micro-kernels of the general matmul
# (``kernels/cpu/matmul.py`` explains them), on flat views of C-contiguous 2-D arrays.

@njit(cache=True, fastmath=_FM)
def _gemm_ab(A, B, C, accumulate):
    """C (+)= A @ B; A (M, K), B (K, N), C (M, N), all C-contiguous.

    matmul's "axpy" micro-kernel: "row of C += number * row of B", four rows of C and
    four k at a time, so each loaded piece of a C row receives 16 multiply-adds
    before it is stored again. The sweep along a row of C is what gets vectorized.
    """
    M, K = A.shape
    N = B.shape[1]
    a, b, c = A.reshape(-1), B.reshape(-1), C.reshape(-1)
    K4 = K - K % 4
    M4 = M - M % 4
    for i in range(0, M4, 4):
        c0, c1, c2, c3 = C[i], C[i + 1], C[i + 2], C[i + 3]
        for k in range(0, K4, 4):
            _axpy_4x4(a, i * K + k, K, 1, B[k], B[k + 1], B[k + 2], B[k + 3], c0, c1, c2, c3,
                      k == 0 and not accumulate)
        if K4 < K:
            _axpy_edge(a, i * K + K4, K, 1, 4, K - K4, b, K4 * N, N, c, i * N, N, N,
                       K4 == 0 and not accumulate)
    if M4 < M:
        _axpy_edge(a, M4 * K, K, 1, M - M4, K, b, 0, N, c, M4 * N, N, N, not accumulate)


@njit(cache=True, fastmath=_FM)
def _gemm_abt(A, B, C):
    """C += A @ B.T; A (M, K), B (N, K), C (M, N), all C-contiguous.

    matmul's "dot" micro-kernel: a 4x4 block of C held in 16 scalars, each a dot
    product along the contiguous last axis of both operands, so each loaded number
    is used 4 times; it suits a long reduction (the weight gradient sums over every
    pixel). Rows past the last one repeat it (their results are dropped); the
    columns left over after the 4-wide tiles take matmul's 4x1 tile.
    """
    M, K = A.shape
    N = B.shape[0]
    a, b, c = A.reshape(-1), B.reshape(-1), C.reshape(-1)
    z = C.dtype.type(0)
    N4 = N - N % 4
    for i in range(0, M, 4):
        mi = min(4, M - i)
        pa0, pa1, pa2, pa3 = _four_rows(0, i, M - 1, K)
        for j in range(0, N4, 4):
            pb0, pb1, pb2, pb3 = _four_rows(0, j, N - 1, K)
            _dot_4x4(a, pa0, pa1, pa2, pa3, b, pb0, pb1, pb2, pb3, K, c, i * N + j, N, mi, 4, True, z)
        for j in range(N4, N):   # 1-3 lone columns (a 1-channel 3x3 layer has 9): 4x1 tiles
            col = _dot_4x1(a, pa0, pa1, pa2, pa3, b, j * K, K, z)
            for r in range(mi):
                C[i + r, j] += col[r]


@njit(cache=True, inline="always")
def _fill(row, value):
    for j in range(row.shape[0]):
        row[j] = value


# ----------------------------------------------------------------------------- im2col / col2im
# Both work on a zero-padded copy of one sample (one group of channels), so the inner
# loops need no "is this tap off the image?" tests: padding once costs far less than
# testing every tap (measured 2.5x faster im2col than bounds tests per row segment).

@njit(cache=True)
def _pad_into(x, xp, ph, pw):
    """xp = x with ph zero rows above and below and pw zero columns left and right.

    x (C, H, W); xp (C, H + 2*ph, W + 2*pw).
    """
    C, H, W = x.shape
    xp[:] = 0
    for c in range(C):
        for r in range(H):
            src = x[c, r]
            dst = xp[c, r + ph, pw:pw + W]
            for t in range(W):
                dst[t] = src[t]


@njit(cache=True)
def _crop_from(xp, x, ph, pw):
    """x = the interior of xp (the inverse of :func:`_pad_into`)."""
    C, H, W = x.shape
    for c in range(C):
        for r in range(H):
            src = xp[c, r + ph, pw:pw + W]
            dst = x[c, r]
            for t in range(W):
                dst[t] = src[t]


@njit(cache=True)
def _im2col(xp, cols, geo, col0):
    """cols[(c, a, b), col0 + i*W_out + j] = xp[c, i*sh + a*dh, j*sw + b*dw].

    xp: (C, Hp, Wp) one padded sample (one group); cols: (C*kH*kW, >= col0 + H_out*W_out).
    Row (c, a, b) of cols is "channel c of the image shifted by kernel tap (a, b)";
    each (row, i) is one run of W_out numbers, contiguous in xp when the stride is 1.
    ``col0`` lets several samples sit side by side in one matrix.
    """
    kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out = geo
    C = xp.shape[0]
    for c in range(C):
        for a in range(kH):
            for b in range(kW):
                row = cols[(c * kH + a) * kW + b]
                for i in range(H_out):
                    src = xp[c, i * sh + a * dh, b * dw:]
                    dst = row[col0 + i * W_out:col0 + (i + 1) * W_out]
                    if sw == 1:
                        for j in range(W_out):
                            dst[j] = src[j]
                    else:
                        for j in range(W_out):
                            dst[j] = src[j * sw]


@njit(cache=True)
def _col2im(dcols, dxp, geo, col0):
    """The adjoint of :func:`_im2col`: dxp[c, i*sh + a*dh, j*sw + b*dw] += dcols[(c, a, b), col0 + i*W_out + j].

    dxp is not cleared first. Overlapping windows add into the same pixels.
    """
    kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out = geo
    C = dxp.shape[0]
    for c in range(C):
        for a in range(kH):
            for b in range(kW):
                row = dcols[(c * kH + a) * kW + b]
                for i in range(H_out):
                    dst = dxp[c, i * sh + a * dh, b * dw:]
                    src = row[col0 + i * W_out:col0 + (i + 1) * W_out]
                    if sw == 1:
                        for j in range(W_out):
                            dst[j] += src[j]
                    else:
                        for j in range(W_out):
                            dst[j * sw] += src[j]


# ----------------------------------------------------------------------------- per-sample workers
# Each worker handles the samples n in [lo, hi) with its own scratch buffers. Per
# group of channels, for S samples at a time:
#
#   forward       y     (Co_g, S*P)  = W      (Co_g, K) @ cols   (K, S*P)
#   grad_input    dcols (K, S*P)     = W^T    (K, Co_g) @ gy     (Co_g, S*P)   then col2im
#   grad_weight   gW    (Co_g, K)   += gy     (Co_g, S*P) @ cols^T (S*P, K)
#
# where the S samples' patch matrices sit side by side (P = H_out*W_out columns
# each). Wider matrices make both GEMMs faster (longer vector loops, fewer final
# sums: measured 68 -> 86 GF/s forward and 58 -> 88 GF/s weight gradient for a
# 32->64 channel 14x14 layer, S = 4 instead of 1) while S is kept small enough for
# the patches to stay in the L2 cache. With S = 1 the gradient rows and output rows
# are used in place; otherwise they are copied in and out of scratch rows. A last,
# smaller group leaves stale columns at the end of the scratch matrices: ignored by
# the forward and input-gradient passes, zeroed for the weight gradient (a sum).
#
# Small problems call a worker once for the whole batch; large ones run one worker
# per thread on a contiguous chunk of the batch (the ``_parallel_*`` drivers below).

@njit(cache=True, fastmath=_FM)
def _forward_samples(x, w3, bias, y, xp, cols, ys, geo, lo, hi):
    """y[n, g-block] = w3[g] @ im2col(pad(x[n, g-block])) (+ bias) for n in [lo, hi).

    x (N, C, H, W); w3 (G, Co_g, K); bias (C_out,) or empty; y (N, C_out, P);
    scratch xp (C_g, Hp, Wp), cols (K, S*P), ys (Co_g, S*P).
    """
    ph, pw = geo[4], geo[5]
    G, Cog, K = w3.shape
    Cg = x.shape[1] // G
    P = y.shape[2]
    S = cols.shape[1] // P
    for n0 in range(lo, hi, S):
        m = min(S, hi - n0)
        for g in range(G):
            for s in range(m):
                _pad_into(x[n0 + s, g * Cg:(g + 1) * Cg], xp, ph, pw)
                _im2col(xp, cols, geo, s * P)
            out = y[n0, g * Cog:(g + 1) * Cog] if S == 1 else ys
            for o in range(Cog):      # start each output row at its bias, then add W @ cols
                _fill(out[o], bias[g * Cog + o] if bias.shape[0] else 0)
            _gemm_ab(w3[g], cols, out, True)
            if S > 1:                 # copy the m samples out (columns past m*P: leftovers)
                for s in range(m):
                    for o in range(Cog):
                        y[n0 + s, g * Cog + o] = ys[o, s * P:(s + 1) * P]


@njit(cache=True, fastmath=_FM)
def _grad_input_samples(gy, wt, dx, dxp, dcols, gys, geo, lo, hi):
    """dx[n, g-block] = crop(col2im(wt[g] @ gy[n, g-block])) for n in [lo, hi).

    gy (N, C_out, P); wt (G, K, Co_g) (the transposed weights); dx (N, C, H, W);
    scratch dxp (C_g, Hp, Wp), dcols (K, S*P), gys (Co_g, S*P).
    """
    ph, pw = geo[4], geo[5]
    G, K, Cog = wt.shape
    Cg = dx.shape[1] // G
    P = gy.shape[2]
    S = dcols.shape[1] // P
    for n0 in range(lo, hi, S):
        m = min(S, hi - n0)
        for g in range(G):
            if S == 1:
                _gemm_ab(wt[g], gy[n0, g * Cog:(g + 1) * Cog], dcols, False)
            else:
                for s in range(m):
                    for o in range(Cog):
                        gys[o, s * P:(s + 1) * P] = gy[n0 + s, g * Cog + o]
                _gemm_ab(wt[g], gys, dcols, False)   # columns past m*P: unused leftovers
            for s in range(m):
                dxp[:] = 0
                _col2im(dcols, dxp, geo, s * P)
                _crop_from(dxp, dx[n0 + s, g * Cg:(g + 1) * Cg], ph, pw)


@njit(cache=True, fastmath=_FM)
def _grad_weight_samples(gy, x, gw, xp, cols, gys, geo, lo, hi):
    """gw[g-block] += gy[n, g-block] @ im2col(pad(x[n, g-block])).T for n in [lo, hi).

    gy (N, C_out, P); x (N, C, H, W); gw (C_out, K); scratch xp (C_g, Hp, Wp),
    cols (K, S*P), gys (Co_g, S*P).
    """
    ph, pw = geo[4], geo[5]
    Cg = xp.shape[0]
    G = x.shape[1] // Cg
    Cog = gw.shape[0] // G
    P = gy.shape[2]
    S = cols.shape[1] // P
    for n0 in range(lo, hi, S):
        m = min(S, hi - n0)
        for g in range(G):
            for s in range(m):
                _pad_into(x[n0 + s, g * Cg:(g + 1) * Cg], xp, ph, pw)
                _im2col(xp, cols, geo, s * P)
            if S == 1:
                _gemm_abt(gy[n0, g * Cog:(g + 1) * Cog], cols, gw[g * Cog:(g + 1) * Cog])
                continue
            for s in range(m):
                for o in range(Cog):
                    gys[o, s * P:(s + 1) * P] = gy[n0 + s, g * Cog + o]
            if m < S:
                cols[:, m * P:] = 0
                gys[:, m * P:] = 0
            _gemm_abt(gys, cols, gw[g * Cog:(g + 1) * Cog])


@njit(cache=True)
def _unfold_samples(x, out, xp, geo, lo, hi):
    """out[n] = im2col(pad(x[n])) for n in [lo, hi); out (N, C*kH*kW, P)."""
    for n in range(lo, hi):
        _pad_into(x[n], xp, geo[4], geo[5])
        _im2col(xp, out[n], geo, 0)


@njit(cache=True)
def _fold_samples(cols, out, dxp, geo, lo, hi):
    """out[n] = crop(col2im(cols[n])) for n in [lo, hi); out (N, C, H, W)."""
    for n in range(lo, hi):
        dxp[:] = 0
        _col2im(cols[n], dxp, geo, 0)
        _crop_from(dxp, out[n], geo[4], geo[5])


@njit(cache=True, fastmath=_FM)
def _sum_planes(gy, out, lo, hi):
    """out[o] = sum over n and pixels of gy[n, o, :] for channels o in [lo, hi); gy (N, C, P)."""
    for o in range(lo, hi):
        s = gy.dtype.type(0)
        for n in range(gy.shape[0]):
            row = gy[n, o]
            for p in range(row.shape[0]):
                s += row[p]
        out[o] = s


# ----------------------------------------------------------------------------- parallel drivers
# prange(T) with T = number of threads: thread t takes the t-th contiguous chunk of
# the batch and the t-th slice of every scratch buffer. (Only the three GEMM-heavy
# passes have one: each parallel driver costs seconds of compilation, and unfold,
# fold and the bias sum are memory-bound copies.)

@njit(cache=True, inline="always")
def _chunk(n, T, t):
    return t * n // T, (t + 1) * n // T


@njit(cache=True, parallel=True)
def _parallel_forward(x, w3, bias, y, ws_pad, ws_cols, ws_y, geo):
    T = ws_cols.shape[0]
    for t in prange(T):
        lo, hi = _chunk(x.shape[0], T, t)
        _forward_samples(x, w3, bias, y, ws_pad[t], ws_cols[t], ws_y[t], geo, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_grad_input(gy, wt, dx, ws_pad, ws_cols, ws_gy, geo):
    T = ws_cols.shape[0]
    for t in prange(T):
        lo, hi = _chunk(gy.shape[0], T, t)
        _grad_input_samples(gy, wt, dx, ws_pad[t], ws_cols[t], ws_gy[t], geo, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_grad_weight(gy, x, gw_parts, ws_pad, ws_cols, ws_gy, geo):
    """gw_parts (T, C_out, K): one partial sum per thread (the caller adds them)."""
    T = ws_cols.shape[0]
    for t in prange(T):
        lo, hi = _chunk(gy.shape[0], T, t)
        _grad_weight_samples(gy, x, gw_parts[t], ws_pad[t], ws_cols[t], ws_gy[t], geo, lo, hi)


# ----------------------------------------------------------------------------- scratch memory

def _scratch(dtype, T, shapes):
    """Reusable per-thread scratch buffers (``_runtime.workspace``): one (T, *shape) view each.

    A training loop then allocates its scratch memory once instead of on every call
    (fresh multi-megabyte temporaries cost page faults on every call).
    """
    views = []
    for i, shape in enumerate(shapes):
        n = T * int(np.prod(shape))
        views.append(_runtime.workspace(f"conv{i}", n, dtype).reshape((T,) + tuple(shape)))
    return views


# ----------------------------------------------------------------------------- entry points

# Below this much arithmetic a call runs on the calling thread only: waking the
# thread pool costs more than it saves (and on a busy machine it can wait for a
# time slice).
PARALLEL_MIN_FLOPS = 2_000_000
# Samples side by side in one product (see the workers): up to this many columns,
# and at most this many bytes of patches per thread.
SAMPLE_COLUMNS = 1024
COLS_BYTES = 1 << 20


def _native_dtype(*arrays):
    """True when every array is float32, or every array is float64."""
    dts = {a.dtype for a in arrays if a is not None}
    return len(dts) == 1 and dts.pop() in (np.float32, np.float64)


def _threads(n, flops):
    """How many chunks to split a batch of n samples into (1: run on this thread)."""
    _runtime.configure()
    if n < 2 or flops < PARALLEL_MIN_FLOPS:
        return 1
    return max(1, min(_runtime.get_num_threads(), n))


def _samples_per_product(N, T, P, K, itemsize):
    return max(1, min(-(-N // T), SAMPLE_COLUMNS // P, COLS_BYTES // (P * K * itemsize)))


def _geometry(kH, kW, stride, padding, dilation, H_out, W_out):
    return (int(kH), int(kW), int(stride[0]), int(stride[1]), int(padding[0]), int(padding[1]),
            int(dilation[0]), int(dilation[1]), int(H_out), int(W_out))


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y = conv2d(x, w) + b (NCHW; see the reference kernel for the exact definition)."""
    if not _native_dtype(x, w, b):
        return _ref.conv2d_forward(x, w, b, stride, padding, dilation, groups)
    N, C, H, W, Cout, kH, kW, H_out, W_out = conv_geometry(
        "conv2d_forward", x.shape, w.shape, stride, padding, dilation, groups)
    Cg, P = C // groups, H_out * W_out
    K = Cg * kH * kW
    geo = _geometry(kH, kW, stride, padding, dilation, H_out, W_out)
    x = np.ascontiguousarray(x)
    w3 = np.ascontiguousarray(w).reshape(groups, Cout // groups, K)
    bias = np.zeros(0, x.dtype) if b is None else np.ascontiguousarray(b)
    y = np.empty((N, Cout, P), dtype=x.dtype)
    T = _threads(N, 2 * N * Cout * K * P)
    S = _samples_per_product(N, T, P, K, x.itemsize)
    xp, cols, ys = _scratch(x.dtype, T, [(Cg, H + 2 * geo[4], W + 2 * geo[5]), (K, S * P),
                                         (Cout // groups, S * P)])
    if T == 1:
        _forward_samples(x, w3, bias, y, xp[0], cols[0], ys[0], geo, 0, N)
    else:
        _parallel_forward(x, w3, bias, y, xp, cols, ys, geo)
    return y.reshape(N, Cout, H_out, W_out)


def conv2d_grad_input(gy, w, x_shape, stride, padding, dilation, groups):
    """dL/dx given dL/dy (same definition as the reference kernel)."""
    if not _native_dtype(gy, w):
        return _ref.conv2d_grad_input(gy, w, x_shape, stride, padding, dilation, groups)
    N, C, H, W, Cout, kH, kW, H_out, W_out = conv_geometry(
        "conv2d_grad_input", x_shape, w.shape, stride, padding, dilation, groups)
    check_grad_shape("conv2d_grad_input", gy, (N, Cout, H_out, W_out))
    Cg, Cog, P = C // groups, Cout // groups, H_out * W_out
    K = Cg * kH * kW
    geo = _geometry(kH, kW, stride, padding, dilation, H_out, W_out)
    gy = np.ascontiguousarray(gy).reshape(N, Cout, P)
    # wt[g, (c, a, b), o] = w[g*Co_g + o, c, a, b]: the transposed weights of each group
    wt = np.ascontiguousarray(w.reshape(groups, Cog, K).transpose(0, 2, 1))
    dx = np.empty((N, C, H, W), dtype=gy.dtype)
    T = _threads(N, 2 * N * Cout * K * P)
    S = _samples_per_product(N, T, P, K, gy.itemsize)
    dxp, dcols, gys = _scratch(gy.dtype, T, [(Cg, H + 2 * geo[4], W + 2 * geo[5]), (K, S * P),
                                             (Cog, S * P)])
    if T == 1:
        _grad_input_samples(gy, wt, dx, dxp[0], dcols[0], gys[0], geo, 0, N)
    else:
        _parallel_grad_input(gy, wt, dx, dxp, dcols, gys, geo)
    return dx


def conv2d_grad_weight(gy, x, w_shape, stride, padding, dilation, groups):
    """dL/dw given dL/dy (same definition as the reference kernel)."""
    if not _native_dtype(gy, x):
        return _ref.conv2d_grad_weight(gy, x, w_shape, stride, padding, dilation, groups)
    N, C, H, W, Cout, kH, kW, H_out, W_out = conv_geometry(
        "conv2d_grad_weight", x.shape, w_shape, stride, padding, dilation, groups)
    check_grad_shape("conv2d_grad_weight", gy, (N, Cout, H_out, W_out))
    Cg, P = C // groups, H_out * W_out
    K = Cg * kH * kW
    geo = _geometry(kH, kW, stride, padding, dilation, H_out, W_out)
    gy = np.ascontiguousarray(gy).reshape(N, Cout, P)
    x = np.ascontiguousarray(x)
    T = _threads(N, 2 * N * Cout * K * P)
    S = _samples_per_product(N, T, P, K, gy.itemsize)
    gw = np.zeros((T, Cout, K), dtype=gy.dtype)           # one partial sum per thread
    xp, cols, gys = _scratch(gy.dtype, T, [(Cg, H + 2 * geo[4], W + 2 * geo[5]), (K, S * P),
                                           (Cout // groups, S * P)])
    if T == 1:
        _grad_weight_samples(gy, x, gw[0], xp[0], cols[0], gys[0], geo, 0, N)
        return gw[0].reshape(tuple(w_shape))
    _parallel_grad_weight(gy, x, gw, xp, cols, gys, geo)
    return gw.sum(axis=0).reshape(tuple(w_shape))


def conv2d_grad_bias(gy):
    """dL/db: gy summed over batch and pixels (one pass over memory, on this thread)."""
    if not _native_dtype(gy) or gy.ndim != 4:
        return _ref.conv2d_grad_bias(gy)
    N, C = gy.shape[:2]
    out = np.empty(C, dtype=gy.dtype)
    _sum_planes(np.ascontiguousarray(gy).reshape(N, C, -1), out, 0, C)
    return out


def unfold(x, kernel_size, stride, padding, dilation):
    """Sliding blocks as columns, (N, C*kH*kW, L): as the reference kernel."""
    if not _native_dtype(x):
        return _ref.unfold(x, kernel_size, stride, padding, dilation)
    H_out, W_out = unfold_geometry("unfold", x.shape, kernel_size, stride, padding, dilation)
    N, C, H, W = x.shape
    geo = _geometry(kernel_size[0], kernel_size[1], stride, padding, dilation, H_out, W_out)
    out = np.empty((N, C * kernel_size[0] * kernel_size[1], H_out * W_out), dtype=x.dtype)
    (xp,) = _scratch(x.dtype, 1, [(C, H + 2 * geo[4], W + 2 * geo[5])])
    _unfold_samples(np.ascontiguousarray(x), out, xp[0], geo, 0, N)    # a copy: one thread
    return out


def fold(cols, output_size, kernel_size, stride, padding, dilation):
    """Columns summed back into an image, (N, C, H, W): as the reference kernel."""
    if not _native_dtype(cols):
        return _ref.fold(cols, output_size, kernel_size, stride, padding, dilation)
    C, H_out, W_out = fold_geometry(cols.shape, output_size, kernel_size, stride, padding, dilation)
    N = cols.shape[0]
    H, W = (int(v) for v in output_size)
    geo = _geometry(kernel_size[0], kernel_size[1], stride, padding, dilation, H_out, W_out)
    out = np.empty((N, C, H, W), dtype=cols.dtype)
    (dxp,) = _scratch(cols.dtype, 1, [(C, H + 2 * geo[4], W + 2 * geo[5])])
    _fold_samples(np.ascontiguousarray(cols), out, dxp[0], geo, 0, N)  # a sum of copies: one thread
    return out


# Measured on the development machine (2 vCPUs): see docs/kernels-conv.md.
KERNELS, PREFERRED = native_tables("conv", globals())   # every op above; native unless measured slower


def warmup(dtypes=(np.float32, np.float64)):
    """Compile (or load from cache) the kernels: every worker for each of ``dtypes``,
    and the parallel drivers for float32.

    Tiny inputs take the single-thread path, so the three parallel drivers are called
    directly. (Each parallel driver costs several seconds to compile; float64 ones,
    used only by float64 layers big enough to be split across threads, compile on
    first use.)
    """
    geo = (3, 3, 1, 1, 1, 1, 1, 1, 5, 5)
    for dt in dtypes:
        x = np.zeros((2, 2, 5, 5), dt)
        w = np.zeros((3, 2, 3, 3), dt)
        b = np.zeros(3, dt)
        y = conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1), 1)
        conv2d_grad_input(y, w, x.shape, (1, 1), (1, 1), (1, 1), 1)
        conv2d_grad_weight(y, x, w.shape, (1, 1), (1, 1), (1, 1), 1)
        conv2d_grad_bias(y)
        cols = unfold(x, (3, 3), (1, 1), (1, 1), (1, 1))
        fold(cols, (5, 5), (3, 3), (1, 1), (1, 1), (1, 1))
        if dt == np.float32:
            T = 2
            xp, ws, ys = np.zeros((T, 2, 7, 7), dt), np.zeros((T, 18, 25), dt), np.zeros((T, 3, 25), dt)
            y3 = y.reshape(2, 3, 25)
            _parallel_forward(x, w.reshape(1, 3, 18), b, y3, xp, ws, ys, geo)
            _parallel_grad_input(y3, np.zeros((1, 18, 3), dt), np.zeros_like(x), xp, ws, ys, geo)
            _parallel_grad_weight(y3, x, np.zeros((T, 3, 18), dt), xp, ws, ys, geo)

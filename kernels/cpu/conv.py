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

* **Two small GEMMs, each reading memory in order.**
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
cache-sized blocks of a few samples. The textbook alternative, one big im2col + a general
matmul (``kernels/cpu/matmul.py``'s ``matmul``, or NumPy/OpenBLAS when that module
is not available), is :func:`conv2d_forward_im2col_gemm` below; it is not
registered, and ``benchmarks/_bench_conv.py`` times both (see docs/kernels-conv.md).
"""
import numpy as np
from numba import njit, prange

from ..reference import conv as _ref
from . import _runtime

# Our own general GEMM, when the matmul kernel module exists and imports. Until then
# (or if it fails to import) the im2col + GEMM variant falls back to np.matmul, i.e.
# OpenBLAS. The fused kernels below do not need it.
try:
    from .matmul import matmul as _own_matmul
    GEMM_SOURCE = "kernels/cpu/matmul.py"
except Exception:  # ImportError, or an error inside that module: fall back explicitly
    _own_matmul = None
    GEMM_SOURCE = "numpy.matmul (fallback: kernels/cpu/matmul.py unavailable)"

# Floating-point flags for the GEMM loops: allow reassociation (needed to vectorize a
# sum) and fused multiply-add, but keep NaN/inf semantics (no "nnan"/"ninf").
_FM = {"reassoc", "contract", "nsz"}


# ----------------------------------------------------------------------------- GEMMs

@njit(cache=True, fastmath=_FM)
def _gemm_ab(A, B, C, accumulate):
    """C (+)= A @ B; A (M, K), B (K, N), C (M, N) with contiguous rows.

    "Row of C += number * row of B", four rows of C and four k at a time, so each
    loaded piece of a C row receives 16 multiply-adds before it is stored again. The
    j loop over a row is what gets vectorized.
    """
    M, K = A.shape
    N = B.shape[1]
    K4 = K - K % 4
    for i in range(0, M, 4):
        if i + 4 <= M:
            c0 = C[i]
            c1 = C[i + 1]
            c2 = C[i + 2]
            c3 = C[i + 3]
            if not accumulate:
                c0[:] = 0
                c1[:] = 0
                c2[:] = 0
                c3[:] = 0
            a0 = A[i]
            a1 = A[i + 1]
            a2 = A[i + 2]
            a3 = A[i + 3]
            for k in range(0, K4, 4):
                b0 = B[k]
                b1 = B[k + 1]
                b2 = B[k + 2]
                b3 = B[k + 3]
                x00, x01, x02, x03 = a0[k], a0[k + 1], a0[k + 2], a0[k + 3]
                x10, x11, x12, x13 = a1[k], a1[k + 1], a1[k + 2], a1[k + 3]
                x20, x21, x22, x23 = a2[k], a2[k + 1], a2[k + 2], a2[k + 3]
                x30, x31, x32, x33 = a3[k], a3[k + 1], a3[k + 2], a3[k + 3]
                for j in range(N):
                    y0 = b0[j]
                    y1 = b1[j]
                    y2 = b2[j]
                    y3 = b3[j]
                    c0[j] += x00 * y0 + x01 * y1 + x02 * y2 + x03 * y3
                    c1[j] += x10 * y0 + x11 * y1 + x12 * y2 + x13 * y3
                    c2[j] += x20 * y0 + x21 * y1 + x22 * y2 + x23 * y3
                    c3[j] += x30 * y0 + x31 * y1 + x32 * y2 + x33 * y3
            for k in range(K4, K):
                b0 = B[k]
                x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
                for j in range(N):
                    y0 = b0[j]
                    c0[j] += x0 * y0
                    c1[j] += x1 * y0
                    c2[j] += x2 * y0
                    c3[j] += x3 * y0
        else:
            for ii in range(i, M):
                c0 = C[ii]
                if not accumulate:
                    c0[:] = 0
                a0 = A[ii]
                for k in range(K):
                    x0 = a0[k]
                    b0 = B[k]
                    for j in range(N):
                        c0[j] += x0 * b0[j]


@njit(cache=True, fastmath=_FM)
def _gemm_abt(A, B, C):
    """C[i, j] += sum_k A[i, k] * B[j, k]  (C += A @ B.T); A (M, K), B (N, K), C (M, N).

    Dot products along the contiguous last axis of both operands; suits a long
    reduction (the weight gradient sums over every pixel). A 4x4 block of C is held
    in 16 scalars, so each loaded number is used 4 times; LLVM turns the k loop into
    vector FMAs with 16 vector accumulators and adds up each one at the end.
    """
    M, K = A.shape
    N = B.shape[0]
    M4 = M - M % 4
    N4 = N - N % 4
    for i in range(0, M4, 4):
        a0 = A[i]
        a1 = A[i + 1]
        a2 = A[i + 2]
        a3 = A[i + 3]
        for j in range(0, N4, 4):
            b0 = B[j]
            b1 = B[j + 1]
            b2 = B[j + 2]
            b3 = B[j + 3]
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = C.dtype.type(0)
            c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = C.dtype.type(0)
            for k in range(K):
                x0 = a0[k]
                x1 = a1[k]
                x2 = a2[k]
                x3 = a3[k]
                y0 = b0[k]
                y1 = b1[k]
                y2 = b2[k]
                y3 = b3[k]
                c00 += x0 * y0
                c01 += x0 * y1
                c02 += x0 * y2
                c03 += x0 * y3
                c10 += x1 * y0
                c11 += x1 * y1
                c12 += x1 * y2
                c13 += x1 * y3
                c20 += x2 * y0
                c21 += x2 * y1
                c22 += x2 * y2
                c23 += x2 * y3
                c30 += x3 * y0
                c31 += x3 * y1
                c32 += x3 * y2
                c33 += x3 * y3
            C[i, j] += c00
            C[i, j + 1] += c01
            C[i, j + 2] += c02
            C[i, j + 3] += c03
            C[i + 1, j] += c10
            C[i + 1, j + 1] += c11
            C[i + 1, j + 2] += c12
            C[i + 1, j + 3] += c13
            C[i + 2, j] += c20
            C[i + 2, j + 1] += c21
            C[i + 2, j + 2] += c22
            C[i + 2, j + 3] += c23
            C[i + 3, j] += c30
            C[i + 3, j + 1] += c31
            C[i + 3, j + 2] += c32
            C[i + 3, j + 3] += c33
        for j in range(N4, N):  # leftover columns: 4x1 blocks
            b0 = B[j]
            c0 = c1 = c2 = c3 = C.dtype.type(0)
            for k in range(K):
                y0 = b0[k]
                c0 += a0[k] * y0
                c1 += a1[k] * y0
                c2 += a2[k] * y0
                c3 += a3[k] * y0
            C[i, j] += c0
            C[i + 1, j] += c1
            C[i + 2, j] += c2
            C[i + 3, j] += c3
    for i in range(M4, M):  # leftover rows: one dot product per output
        a0 = A[i]
        for j in range(N):
            b0 = B[j]
            c0 = C.dtype.type(0)
            for k in range(K):
                c0 += a0[k] * b0[k]
            C[i, j] += c0


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


def _check_grad(op, gy, N, Cout, H_out, W_out):
    if tuple(gy.shape) != (N, Cout, H_out, W_out):
        raise ValueError(f"{op}: gradient shape {tuple(gy.shape)} does not match the output "
                         f"shape {(N, Cout, H_out, W_out)}")


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y = conv2d(x, w) + b (NCHW; see the reference kernel for the exact definition)."""
    if not _native_dtype(x, w, b):
        return _ref.conv2d_forward(x, w, b, stride, padding, dilation, groups)
    N, C, H, W, Cout, kH, kW, H_out, W_out = _ref._check(
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
    N, C, H, W, Cout, kH, kW, H_out, W_out = _ref._check(
        "conv2d_grad_input", x_shape, w.shape, stride, padding, dilation, groups)
    _check_grad("conv2d_grad_input", gy, N, Cout, H_out, W_out)
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
    N, C, H, W, Cout, kH, kW, H_out, W_out = _ref._check(
        "conv2d_grad_weight", x.shape, w_shape, stride, padding, dilation, groups)
    _check_grad("conv2d_grad_weight", gy, N, Cout, H_out, W_out)
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
    H_out, W_out = _ref._unfold_check("unfold", x.shape, kernel_size, stride, padding, dilation)
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
    H, W = (int(v) for v in output_size)
    H_out, W_out = _ref._unfold_check("fold", (H, W), kernel_size, stride, padding, dilation)
    kk = kernel_size[0] * kernel_size[1]
    N, CK, L = cols.shape
    if CK % kk or L != H_out * W_out:
        raise ValueError(f"fold: input of shape {tuple(cols.shape)} does not fit kernel {tuple(kernel_size)} "
                         f"and output size {(H, W)}: expected (N, C*{kk}, {H_out * W_out})")
    geo = _geometry(kernel_size[0], kernel_size[1], stride, padding, dilation, H_out, W_out)
    out = np.empty((N, CK // kk, H, W), dtype=cols.dtype)
    (dxp,) = _scratch(cols.dtype, 1, [(CK // kk, H + 2 * geo[4], W + 2 * geo[5])])
    _fold_samples(np.ascontiguousarray(cols), out, dxp[0], geo, 0, N)  # a sum of copies: one thread
    return out


# ----------------------------------------------------------------------------- im2col + GEMM variant

def conv2d_forward_im2col_gemm(x, w, b, stride, padding, dilation, groups):
    """The textbook alternative, for comparison: im2col of the whole batch + one GEMM.

    Uses ``kernels/cpu/matmul.py``'s ``matmul`` when it is available, else np.matmul
    (see ``GEMM_SOURCE``). Not registered as a kernel; the benchmark times it.
    """
    N, C, H, W, Cout, kH, kW, H_out, W_out = _ref._check(
        "conv2d_forward", x.shape, w.shape, stride, padding, dilation, groups)
    geo = _geometry(kH, kW, stride, padding, dilation, H_out, W_out)
    Cg, Cog, P = C // groups, Cout // groups, H_out * W_out
    K = Cg * kH * kW
    x = np.ascontiguousarray(x)
    cols = np.empty((groups, K, N * P), dtype=x.dtype)
    xp = np.empty((Cg, H + 2 * geo[4], W + 2 * geo[5]), dtype=x.dtype)
    _im2col_batch(x, xp, cols, geo)
    mm = _own_matmul if _own_matmul is not None else np.matmul
    w3 = np.ascontiguousarray(w).reshape(groups, Cog, K)
    y = np.stack([mm(w3[g], cols[g]) for g in range(groups)])       # (G, Co_g, N*P)
    y = y.reshape(groups, Cog, N, P).transpose(2, 0, 1, 3).reshape(N, Cout, H_out, W_out)
    if b is not None:
        y = y + b.reshape(1, Cout, 1, 1)
    return np.ascontiguousarray(y)


@njit(cache=True)
def _im2col_batch(x, xp, cols, geo):
    """cols[g, k, n*P + p] for the whole batch (k-major), one sample at a time."""
    N, C = x.shape[:2]
    G, K, NP = cols.shape
    P = NP // N
    Cg = C // G
    for g in range(G):
        for n in range(N):
            _pad_into(x[n, g * Cg:(g + 1) * Cg], xp, geo[4], geo[5])
            _im2col(xp, cols[g], geo, n * P)


KERNELS = {
    "conv2d_forward": conv2d_forward,
    "conv2d_grad_input": conv2d_grad_input,
    "conv2d_grad_weight": conv2d_grad_weight,
    "conv2d_grad_bias": conv2d_grad_bias,
    "unfold": unfold,
    "fold": fold,
}

# Measured on the development machine (2 vCPUs): see docs/kernels-conv.md.
PREFERRED = {
    "conv2d_forward": "native",
    "conv2d_grad_input": "native",
    "conv2d_grad_weight": "native",
    "conv2d_grad_bias": "native",
    "unfold": "native",
    "fold": "native",
}


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

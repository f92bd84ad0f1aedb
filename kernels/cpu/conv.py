"""Native 2-D convolution for the CPU (Numba): a register-tiled "implicit GEMM".

Same signatures and results as :mod:`minigrad.kernels.reference.conv` (read that file
first: it explains im2col, the matrix that turns a convolution into a matrix product).
Here the im2col matrix is never built. The product reads the zero-padded image
directly, and a small register tile does the arithmetic. How, step by step:

* **Patches as offsets.** Pad one sample once (``xp``, C x Hp x Wp, flattened). Entry
  (pixel p, tap k) of the im2col matrix is then ``xp[pos[p] + tap[k]]``, with
  ``pos[p] = i*stride_h*Wp + j*stride_w`` for output pixel p = (i, j) and
  ``tap[k] = c*Hp*Wp + a*dil_h*Wp + b*dil_w`` for tap k = (c, a, b): one addition, for
  every stride and dilation. The two small integer tables are built once per call.

* **The register tile** (``_tile``): 6 output pixels x one vector of output channels
  (16 float32 / 8 float64). For every tap it broadcasts 6 pixel values, loads one
  row of the (transposed) weights and does 6 fused multiply-adds into 6 vector
  accumulators that stay in registers for the whole sum; only the result is stored.
  Vectors are 64 bytes: one AVX-512 register, two AVX2 registers (then the tile holds
  12 accumulators + 2 weight halves + 1 broadcast: 15 of AVX2's 16 registers, no spills).
  LLVM does not keep accumulators in registers across a loop on its own, so the tile
  is written with explicit vector values (the float-vector intrinsics of ``_simd.py``,
  LLVM IR built with llvmlite, imported here as ``_vload``, ``_vfma``, ...).

* **Three passes, one tile.** The tile computes ``C[r, :] = sum_t a[row_r + red_a[t]] *
  B[row t, :]`` (``red_a``: a table of offsets for the summed index); the passes
  differ in what plays rows, reduction and B:

  ====================  ==============  ==================  ===========================
  pass                  tile rows       summed over         B (vectors along channels)
  ====================  ==============  ==================  ===========================
  forward               output pixels   taps (c, a, b)      W^T (taps x C_out)
  grad_weight           taps            output pixels       gy^T (pixels x C_out), per sample
  grad_input, stride 1  input pixels    taps (o, a', b')    W flipped (o,a',b') x C_in
  ====================  ==============  ==================  ===========================

  The input gradient of a stride-1 convolution is a convolution of the output
  gradient, padded by ``dil*(k - 1) - pad``, with the weights flipped in both spatial
  axes and their channel axes swapped. Other strides, paddings wider than the
  dilated kernel, and fewer than half a vector of input channels per group scatter
  ``W^T @ gy`` back with col2im, on matmul's axpy micro-kernel (``_gemm_ab``). The
  tile's output (pixels x channels) is turned into NCHW by an in-register 8 x 8
  transpose (``_simd.transpose_flat``), which also makes gy^T for the weight gradient.

* **Skipping the padding.** In the forward pass and the flipped input gradient the
  output pixels are grouped by which taps land on the image (interior, border rows
  and columns: ``_classes``), and each group sums over those taps only: 8% less
  arithmetic for a 3x3 layer on 14x14.

* **Edges without special cases.** Channel counts are rounded up to whole vectors by
  zero columns in B (the extra lanes are never stored); a group's last 6 pixels may
  overlap the previous ones (they are written twice, identically); the weight
  gradient's tap rows are rounded up to a multiple of 6 with repeats of tap 0 whose
  results are dropped. B matrices start on 64-byte boundaries (vector loads that
  straddle cache lines cost 4-10% of the forward pass).

* **Threads and memory.** One contiguous chunk of the batch per thread (``prange``),
  scratch buffers from ``_runtime.workspace`` (reused: fresh multi-megabyte temporaries
  cost page faults on every call in a VM).

Measured on an AMD EPYC Zen 4 with AVX-512, 2 cores, shared with other work (so
noisy); one thread; conv 32->64 channels, 3x3, padding 1, 14x14, batch 64, float32;
each pass timed alone (best of 3 x 5 runs), the old and new kernels and PyTorch 2.13
alternating in one process; "AVX2": AVX2 code generation emulated on the same CPU
(Numba told ``haswell`` with every AVX-512 feature off, OpenBLAS ``Haswell``,
PyTorch/oneDNN limited to AVX2):

===================  ==========================  ==========================  ===========
pass (ms)            before: im2col + matmul's   register tile, no im2col    PyTorch CPU
                     4x4 tiles
===================  ==========================  ==========================  ===========
forward              6.2   (AVX2: 6.8-7.0)       4.3   (AVX2: 5.1)           4.1  (4.8-5.1)
grad_input           6.0   (6.1-6.6)             4.4   (4.8-5.2)             4.1  (4.6)
grad_weight          6.4   (9.3-10.4)            4.4   (4.7)                 4.8  (5.3-5.4)
total / PyTorch's    1.39-1.44  (1.53-1.57)      1.00-1.01  (0.99)
===================  ==========================  ==========================  ===========

Through the op and autograd (``python benchmarks/steps.py --quick --threads 1 --only
conv``, four runs alternating with the previous version): minigrad / PyTorch
1.17-1.35 -> 0.96-1.11 natively, 1.47-1.62 -> 0.99-1.04 with AVX2 emulated.

The tile itself runs at about 112 GF/s, 97% of the measured FMA peak of one core
(115 GF/s), natively; the rest is padding, transposes and the ragged edges. The old
4x4 dot tile kept 16 vector accumulators: on AVX2 (16 registers) they spilled, hence
its 10 ms weight gradient. Where the tile is a poor fit: channel counts well below a
vector (16 float32) waste lanes. Measured against the previous kernels, one thread:
a 16->3 layer on 32x32 (batch 32) forward 1.3 -> 1.5 ms and weight gradient 1.1 ->
1.6 ms; depthwise 32 channels on 14x14 weight gradient 1.9 -> 2.7 ms; a 1->32 first
layer on 28x28 forward 0.52-0.60 -> 0.61-0.65 ms, weight gradient 0.46 -> 0.63 ms;
every pass of every layer tried with 8 or more input and output channels per group got
faster (64->64 on 7x7: 13.1 -> 7.5 ms for the three passes; 32->32 with a 5x5 kernel:
35.6 -> 17.4 ms; 32->64 stride 2: forward 2.6 -> 1.3 ms).

float32 and float64 are compiled; any other dtype, or mixed dtypes, runs the reference
kernel. The sums run in another order than NumPy's, so float32 results agree with the
reference to rounding (about 1e-6 relative), not bit for bit.
"""
import functools

import numpy as np
from numba import njit, prange

from .._contracts import check_grad_shape, conv_geometry, fold_geometry, unfold_geometry
from ..reference import conv as _ref
from . import _runtime
from .matmul import _axpy_4x4, _axpy_edge
from .._families import native_tables

# Floating-point flags for the GEMM loops: allow reassociation (needed to vectorize a
# sum) and fused multiply-add, but keep NaN/inf semantics (no "nnan"/"ninf").
_FM = {"reassoc", "contract", "nsz"}


# ----------------------------------------------------------------------------- vectors
# The tile works on whole vector registers of floats (``_simd.py``: a Numba type whose
# machine value is one LLVM vector of 64 bytes, and the operations the tile needs).

from ._simd import VECTOR_BYTES  # noqa: E402
from ._simd import (fvadd as _vadd, fvfma as _vfma, fvload as _vload, fvsplat as _vsplat,  # noqa: E402
                    fvstore as _vstore, fvzero as _vzero, transpose_flat as _transpose_into)


# ----------------------------------------------------------------------------- the register tile

@njit(cache=True, inline="always", fastmath=_FM)
def _tile(a, r0, r1, r2, r3, r4, r5, red_a, b, red_b, pb, ldb):
    """Six vectors: ``sum_t a[r_i + red_a[t]] * b[q_t:q_t + lanes]`` for i = 0..5, with
    ``q_t = pb + red_b[t]``, or ``pb + t*ldb`` when ``red_b`` is None (B's rows in order:
    one table load less per step, 4% faster).

    ``a`` and ``b`` are flat arrays; ``r0..r5`` are where the 6 rows of the tile start
    in ``a``; ``red_a`` holds, for each step t of the sum, the offset in ``a``. Per
    step: 1 load of B, 6 broadcasts, 6 FMAs; the 6 accumulators never leave the
    registers.
    """
    c0 = c1 = c2 = c3 = c4 = c5 = _vzero(b)
    for t in range(red_a.shape[0]):
        o = red_a[t]
        if red_b is None:
            y = _vload(b, pb + t * ldb)
        else:
            y = _vload(b, pb + red_b[t])
        c0 = _vfma(c0, _vsplat(a, r0 + o), y)
        c1 = _vfma(c1, _vsplat(a, r1 + o), y)
        c2 = _vfma(c2, _vsplat(a, r2 + o), y)
        c3 = _vfma(c3, _vsplat(a, r3 + o), y)
        c4 = _vfma(c4, _vsplat(a, r4 + o), y)
        c5 = _vfma(c5, _vsplat(a, r5 + o), y)
    return c0, c1, c2, c3, c4, c5


@njit(cache=True, inline="always")
def _six(idx, i, n):
    """The 6 entries of ``idx`` from ``i`` on; positions past ``n - 1`` repeat entry n - 1."""
    e = n - 1
    return idx[i], idx[min(i + 1, e)], idx[min(i + 2, e)], idx[min(i + 3, e)], idx[min(i + 4, e)], idx[min(i + 5, e)]


@njit(cache=True, fastmath=_FM)
def _pixels_by_channels(a, pix, cls, red_a, red_b, bmat, init, out):
    """``out[pix[1, p], j] = init[j] + sum_t a[pix[0, p] + red_a[t]] * bmat[t', j]`` (t' the
    row at red_b[t]): the forward pass, and the input gradient of stride-1 convolutions.

    Pixels come in classes: class k is pixels cls[k, 0]..cls[k+1, 0] of ``pix`` with
    the taps cls[k, 1]..cls[k+1, 1] of ``red_a``/``red_b`` (those that land on the
    image; see ``_classes``). bmat (T, Jp) and out (P, Jp), Jp a whole number of
    vectors. Pixels go 6 at a time (a class's last 6 may overlap the previous ones:
    those rows are computed and written twice, identically). The caller transposes
    out into NCHW.
    """
    Jp = bmat.shape[1]
    L = VECTOR_BYTES // bmat.itemsize
    b, c = bmat.reshape(-1), out.reshape(-1)
    pos, row = pix[0], pix[1]
    for j in range(0, Jp, L):
        base = _vload(init, j)
        for k in range(cls.shape[0] - 1):
            lo, hi = cls[k, 0], cls[k + 1, 0]
            ra, rb = red_a[cls[k, 1]:cls[k + 1, 1]], red_b[cls[k, 1]:cls[k + 1, 1]]
            for p in range(lo, hi, 6):
                p0 = max(lo, min(p, hi - 6))
                r0, r1, r2, r3, r4, r5 = _six(pos, p0, hi)
                c0, c1, c2, c3, c4, c5 = _tile(a, r0, r1, r2, r3, r4, r5, ra, b, rb, j, 0)
                o0, o1, o2, o3, o4, o5 = _six(row, p0, hi)
                _vstore(c, o0 * Jp + j, _vadd(c0, base))
                _vstore(c, o1 * Jp + j, _vadd(c1, base))
                _vstore(c, o2 * Jp + j, _vadd(c2, base))
                _vstore(c, o3 * Jp + j, _vadd(c3, base))
                _vstore(c, o4 * Jp + j, _vadd(c4, base))
                _vstore(c, o5 * Jp + j, _vadd(c5, base))


@njit(cache=True, fastmath=_FM)
def _taps_by_channels(a, rows, pos, bmat, acc):
    """``acc[k, j] += sum_p a[rows[k] + pos[p]] * bmat[p, j]``: the
    weight gradient of one sample, tap rows k (len(rows) a multiple of 6) by channel
    columns j. acc: (len(rows), Jp)."""
    Kp, Jp = acc.shape
    L = VECTOR_BYTES // bmat.itemsize
    b = bmat.reshape(-1)
    c = acc.reshape(-1)
    for j in range(0, Jp, L):
        for k in range(0, Kp, 6):
            c0, c1, c2, c3, c4, c5 = _tile(a, rows[k], rows[k + 1], rows[k + 2], rows[k + 3], rows[k + 4],
                                           rows[k + 5], pos, b, None, j, Jp)
            q = k * Jp + j
            _vstore(c, q, _vadd(_vload(c, q), c0))
            _vstore(c, q + Jp, _vadd(_vload(c, q + Jp), c1))
            _vstore(c, q + 2 * Jp, _vadd(_vload(c, q + 2 * Jp), c2))
            _vstore(c, q + 3 * Jp, _vadd(_vload(c, q + 3 * Jp), c3))
            _vstore(c, q + 4 * Jp, _vadd(_vload(c, q + 4 * Jp), c4))
            _vstore(c, q + 5 * Jp, _vadd(_vload(c, q + 5 * Jp), c5))


@njit(cache=True, fastmath=_FM)
def _gemm_ab(A, B, C, accumulate):
    """C (+)= A @ B; A (M, K), B (K, N), C (M, N), all C-contiguous (the col2im path).

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
# Each worker handles the samples n in [lo, hi) with its own scratch buffers, one
# group of channels at a time: pad the sample (or its output gradient), then one
# tile driver per (sample, group).

@njit(cache=True, fastmath=_FM)
def _forward_samples(x, wt, bias, y, xp, yt, pix, cls, red_a, red_b, pad, lo, hi):
    """y[n, group g] = bias[g] + W[g] applied at every output pixel of pad(x[n, g]), n in [lo, hi).

    x (N, C, H, W); wt (G, C_g*kH*kW, Jp) the transposed weights; bias (G, Jp);
    y (N, C_out, P); scratch xp (C_g, Hp, Wp) and yt (P, Jp) (the output, transposed).
    """
    G, _, Jp = wt.shape
    Cg = xp.shape[0]
    Cout, P = y.shape[1], y.shape[2]
    Cog = Cout // G
    yf, xpf, ytf = y.reshape(-1), xp.reshape(-1), yt.reshape(-1)
    for n in range(lo, hi):
        for g in range(G):
            _pad_into(x[n, g * Cg:(g + 1) * Cg], xp, pad[0], pad[1])
            _pixels_by_channels(xpf, pix, cls, red_a, red_b, wt[g], bias[g], yt)
            _transpose_into(ytf, 0, Jp, P, Cog, yf, (n * Cout + g * Cog) * P, P)


@njit(cache=True, fastmath=_FM)
def _grad_input_samples(gy, wf, zero, dx, gyp, dxt, pix, cls, red_a, red_b, pad, lo, hi):
    """dx[n, group g] = the stride-1 convolution of pad(gy[n, g]) with the flipped weights wf[g].

    gy (N, C_out, H_out, W_out); wf (G, Co_g*kH*kW, Jp); zero (Jp,) zeros;
    dx (N, C, H*W); scratch gyp (Co_g, Hq, Wq) and dxt (H*W, Jp).
    """
    G, _, Jp = wf.shape
    Cog = gyp.shape[0]
    C, HW = dx.shape[1], dx.shape[2]
    Cg = C // G
    dxf, gpf, dtf = dx.reshape(-1), gyp.reshape(-1), dxt.reshape(-1)
    for n in range(lo, hi):
        for g in range(G):
            _pad_into(gy[n, g * Cog:(g + 1) * Cog], gyp, pad[0], pad[1])
            _pixels_by_channels(gpf, pix, cls, red_a, red_b, wf[g], zero, dxt)
            _transpose_into(dtf, 0, Jp, HW, Cg, dxf, (n * C + g * Cg) * HW, HW)


@njit(cache=True, fastmath=_FM)
def _grad_weight_samples(gy, x, acc, xp, gyt, rows, pos, pad, lo, hi):
    """acc[g] += (taps of pad(x[n, g])) . gy[n, g]^T over every output pixel, n in [lo, hi).

    gy (N, C_out, P); x (N, C, H, W); acc (G, Kp, Jp), row k = tap k, column = output
    channel; scratch xp (C_g, Hp, Wp) and gyt (P, Jp) (the transposed output gradient).
    """
    G, _, Jp = acc.shape
    Cg = xp.shape[0]
    Cout, P = gy.shape[1], gy.shape[2]
    Cog = Cout // G
    xpf, gyf, gtf = xp.reshape(-1), gy.reshape(-1), gyt.reshape(-1)
    gyt[:, Cog:] = 0
    for n in range(lo, hi):
        for g in range(G):
            _pad_into(x[n, g * Cg:(g + 1) * Cg], xp, pad[0], pad[1])
            _transpose_into(gyf, (n * Cout + g * Cog) * P, P, Cog, P, gtf, 0, Jp)
            _taps_by_channels(xpf, rows, pos, gyt, acc[g])


@njit(cache=True, fastmath=_FM)
def _col2im_grad_input_samples(gy, wt, dx, dxp, dcols, gys, geo, lo, hi):
    """dx[n, g-block] = crop(col2im(wt[g] @ gy[n, g-block])) for n in [lo, hi): the input
    gradient of strided convolutions.

    gy (N, C_out, P); wt (G, K, Co_g) (the transposed weights); dx (N, C, H, W);
    scratch dxp (C_g, Hp, Wp), dcols (K, S*P), gys (Co_g, S*P): S samples side by side
    make the product wider (longer vector loops).
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
# the batch and the t-th slice of every scratch buffer. (Only the GEMM-heavy passes
# have one: each parallel driver costs seconds of compilation, and unfold, fold and
# the bias sum are memory-bound copies.)


@njit(cache=True, parallel=True)
def _parallel_forward(x, wt, bias, y, ws_pad, ws_out, pix, cls, red_a, red_b, pad):
    T = ws_pad.shape[0]
    for t in prange(T):
        lo, hi = _runtime.thread_share(x.shape[0], T, t)
        _forward_samples(x, wt, bias, y, ws_pad[t], ws_out[t], pix, cls, red_a, red_b, pad, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_grad_input(gy, wf, zero, dx, ws_pad, ws_out, pix, cls, red_a, red_b, pad):
    T = ws_pad.shape[0]
    for t in prange(T):
        lo, hi = _runtime.thread_share(gy.shape[0], T, t)
        _grad_input_samples(gy, wf, zero, dx, ws_pad[t], ws_out[t], pix, cls, red_a, red_b, pad, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_col2im_grad_input(gy, wt, dx, ws_pad, ws_cols, ws_gy, geo):
    T = ws_cols.shape[0]
    for t in prange(T):
        lo, hi = _runtime.thread_share(gy.shape[0], T, t)
        _col2im_grad_input_samples(gy, wt, dx, ws_pad[t], ws_cols[t], ws_gy[t], geo, lo, hi)


@njit(cache=True, parallel=True)
def _parallel_grad_weight(gy, x, acc, ws_pad, ws_gyt, rows, pos, pad):
    """acc (T, G, Kp, Jp): one partial sum per thread (the caller adds them)."""
    T = ws_pad.shape[0]
    for t in prange(T):
        lo, hi = _runtime.thread_share(gy.shape[0], T, t)
        _grad_weight_samples(gy, x, acc[t], ws_pad[t], ws_gyt[t], rows, pos, pad, lo, hi)


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
# The col2im path (strided input gradients): samples side by side in one product, up
# to this many columns and at most this many bytes of patches per thread.
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


def _width(n, dtype):
    """n rounded up to whole vectors of ``dtype`` (the tile's column count)."""
    lanes = VECTOR_BYTES // np.dtype(dtype).itemsize
    return -(-n // lanes) * lanes


def _taps(C, Hp, Wp, kH, kW, dh, dw):
    """tap[(c, a, b)] = c*Hp*Wp + a*dh*Wp + b*dw: where kernel tap (c, a, b) of the
    window at output pixel (0, 0) lies in a flattened padded sample (C, Hp, Wp)."""
    c = np.arange(C, dtype=np.int64)[:, None, None] * (Hp * Wp)
    a = np.arange(kH, dtype=np.int64)[None, :, None] * (dh * Wp)
    b = np.arange(kW, dtype=np.int64)[None, None, :] * dw
    return (c + a + b).reshape(-1)


def _pixels(H_out, W_out, sh, sw, Wp):
    """pos[(i, j)] = i*sh*Wp + j*sw: where the window of output pixel (i, j) starts."""
    return (np.arange(H_out, dtype=np.int64)[:, None] * (sh * Wp)
            + np.arange(W_out, dtype=np.int64)[None, :] * sw).reshape(-1)


def _inside(n_out, n_in, stride, pad, dil, k):
    """(n_out, k) booleans along one axis: does tap a of output index i land on the image
    (input index i*stride + a*dil - pad inside [0, n_in)) rather than on the padding?"""
    src = np.arange(n_out)[:, None] * stride + np.arange(k)[None, :] * dil - pad
    return (src >= 0) & (src < n_in)


@functools.lru_cache(maxsize=64)
def _classes(C, k, out, image, step, pad, dil, padded, Jp, mode):
    """The tables of :func:`_pixels_by_channels` for C channels, kernel k = (kH, kW),
    output size ``out``, image size ``image`` inside the padded size ``padded``, strides
    ``step``, paddings ``pad``, dilations ``dil`` (all (h, w) pairs): (pix, cls, red_a, red_b).

    Output pixels are grouped by which taps land on the image (for a 3x3 kernel: the
    interior, each border row and column, each corner) and each group sums over
    those taps only, skipping the products with the zeros of the padding (9% of the
    work of a 3x3 layer on 14x14, 17% on 7x7). ``mode``:

    * "exact": every group exactly so (a lone corner pixel then fills a tile of 6);
    * "merged": groups of fewer than 6 pixels join a larger group whose taps include
      theirs (the corners join the border rows): for finite weights only, whose
      products with the padding are exact zeros;
    * "all": one group, every tap (0 * inf gives NaN at the borders, as in the reference).
    """
    (kH, kW), (H_out, W_out), (Hp, Wp) = k, out, padded
    taps = _taps(C, Hp, Wp, kH, kW, dil[0], dil[1])
    pos = _pixels(H_out, W_out, step[0], step[1], Wp)
    rows = _inside(H_out, image[0], step[0], pad[0], dil[0], kH) | (mode == "all")
    cols = _inside(W_out, image[1], step[1], pad[1], dil[1], kW) | (mode == "all")
    row_kinds, row_kind = np.unique(rows, axis=0, return_inverse=True)
    col_kinds, col_kind = np.unique(cols, axis=0, return_inverse=True)
    kind = (row_kind.reshape(-1)[:, None] * len(col_kinds) + col_kind.reshape(-1)[None, :]).reshape(-1)
    kinds, counts = np.unique(kind, return_counts=True)
    masks = [row_kinds[kd // len(col_kinds)][:, None] & col_kinds[kd % len(col_kinds)][None, :] for kd in kinds]
    if mode == "merged":
        for i in np.flatnonzero(counts < 6):
            hosts = [h for h in range(len(kinds)) if counts[h] >= 6 and (masks[h] >= masks[i]).all()]
            if hosts:
                host = min(hosts, key=lambda h: masks[h].sum())
                kind[kind == kinds[i]] = kinds[host]
    order = np.argsort(kind, kind="stable")
    bounds, red = [(0, 0)], []
    for kd, count in zip(*np.unique(kind, return_counts=True)):
        t = np.flatnonzero(np.broadcast_to(masks[int(np.searchsorted(kinds, kd))], (C, kH, kW)))
        red.append(t)
        bounds.append((bounds[-1][0] + int(count), bounds[-1][1] + len(t)))
    t = np.concatenate(red)
    return (np.stack([pos[order], order]), np.array(bounds, dtype=np.int64), taps[t],
            t.astype(np.int64) * Jp)


def _padded_columns(m, width):
    """m (G, R, J) copied into zeros (G, R, width): B matrices of whole vectors, starting
    on a 64-byte boundary so that no vector load straddles two cache lines (unaligned,
    the forward pass took 4.4-4.7 ms instead of 4.25)."""
    out = _runtime.aligned_empty(m.shape[:2] + (width,), m.dtype)
    out[:, :, m.shape[2]:] = 0
    out[:, :, :m.shape[2]] = m
    return out


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y = conv2d(x, w) + b (NCHW; see the reference kernel for the exact definition)."""
    if not _native_dtype(x, w, b):
        return _ref.conv2d_forward(x, w, b, stride, padding, dilation, groups)
    N, C, H, W, Cout, kH, kW, H_out, W_out = conv_geometry(
        "conv2d_forward", x.shape, w.shape, stride, padding, dilation, groups)
    _, _, sh, sw, ph, pw, dh, dw, _, _ = _geometry(kH, kW, stride, padding, dilation, H_out, W_out)
    G, Cg, Cog, P = groups, C // groups, Cout // groups, H_out * W_out
    K = Cg * kH * kW
    Hp, Wp = H + 2 * ph, W + 2 * pw
    x = np.ascontiguousarray(x)
    Jp = _width(Cog, x.dtype)
    wt = _padded_columns(np.ascontiguousarray(w).reshape(G, Cog, K).transpose(0, 2, 1), Jp)
    bias = _padded_columns(np.zeros((G, 1, Cog), x.dtype) if b is None else b.reshape(G, 1, Cog), Jp)[:, 0]
    tables = _classes(Cg, (kH, kW), (H_out, W_out), (H, W), (sh, sw), (ph, pw), (dh, dw), (Hp, Wp), Jp,
                      "merged" if np.isfinite(w).all() else "all")
    y = np.empty((N, Cout, P), dtype=x.dtype)
    T = _threads(N, 2 * N * Cout * K * P)
    xp, yt = _scratch(x.dtype, T, [(Cg, Hp, Wp), (P, Jp)])
    if T == 1:
        _forward_samples(x, wt, bias, y, xp[0], yt[0], *tables, (ph, pw), 0, N)
    else:
        _parallel_forward(x, wt, bias, y, xp, yt, *tables, (ph, pw))
    return y.reshape(N, Cout, H_out, W_out)


def conv2d_grad_input(gy, w, x_shape, stride, padding, dilation, groups):
    """dL/dx given dL/dy (same definition as the reference kernel)."""
    if not _native_dtype(gy, w):
        return _ref.conv2d_grad_input(gy, w, x_shape, stride, padding, dilation, groups)
    N, C, H, W, Cout, kH, kW, H_out, W_out = conv_geometry(
        "conv2d_grad_input", x_shape, w.shape, stride, padding, dilation, groups)
    check_grad_shape("conv2d_grad_input", gy, (N, Cout, H_out, W_out))
    geo = _geometry(kH, kW, stride, padding, dilation, H_out, W_out)
    _, _, sh, sw, ph, pw, dh, dw, _, _ = geo
    qh, qw = dh * (kH - 1) - ph, dw * (kW - 1) - pw     # the padding of the flipped convolution
    G, Cg, Cog = groups, C // groups, Cout // groups
    gy = np.ascontiguousarray(gy)
    if not _flipped_pays(sh, sw, qh, qw, Cg, w.itemsize):
        return _col2im_grad_input(gy, w, geo, N, C, H, W, groups)
    Hq, Wq = H_out + 2 * qh, W_out + 2 * qw
    # wf[g, (o, a, b), c] = w[g*Co_g + o, c, kH-1-a, kW-1-b]: flipped taps, channels swapped
    wf = np.ascontiguousarray(w).reshape(G, Cog, Cg, kH, kW)[:, :, :, ::-1, ::-1]
    wf = _padded_columns(wf.transpose(0, 1, 3, 4, 2).reshape(G, Cog * kH * kW, Cg), _width(Cg, gy.dtype))
    # the groups of dx pixels sum over the taps that land on gy, not on its padding:
    # 0 * inf must not make NaNs where col2im (and PyTorch) has none
    tables = _classes(Cog, (kH, kW), (H, W), (H_out, W_out), (1, 1), (qh, qw), (dh, dw), (Hq, Wq),
                      wf.shape[2], "merged" if np.isfinite(w).all() else "exact")
    zero = np.zeros(wf.shape[2], dtype=gy.dtype)
    dx = np.empty((N, C, H * W), dtype=gy.dtype)
    T = _threads(N, 2 * N * Cout * Cg * kH * kW * H_out * W_out)
    gyp, dxt = _scratch(gy.dtype, T, [(Cog, Hq, Wq), (H * W, wf.shape[2])])
    if T == 1:
        _grad_input_samples(gy, wf, zero, dx, gyp[0], dxt[0], *tables, (qh, qw), 0, N)
    else:
        _parallel_grad_input(gy, wf, zero, dx, gyp, dxt, *tables, (qh, qw))
    return dx.reshape(N, C, H, W)


def _flipped_pays(sh, sw, qh, qw, Cg, itemsize):
    """Whether the input gradient runs as the flipped stride-1 convolution (else col2im).

    It needs stride 1 and a padding no wider than the dilated kernel (qh, qw >= 0), and
    at least half a vector of input channels per group (the tile's columns: with 1-3
    channels col2im was 3-10x faster, measured on 1->32 and 3->16 layers).
    """
    return sh == 1 and sw == 1 and qh >= 0 and qw >= 0 and 2 * Cg >= VECTOR_BYTES // itemsize


def _col2im_grad_input(gy, w, geo, N, C, H, W, groups):
    """The input gradient as ``W^T @ gy`` scattered back by col2im (strided convolutions)."""
    kH, kW, _, _, ph, pw, _, _, H_out, W_out = geo
    Cout = w.shape[0]
    Cg, Cog, P = C // groups, Cout // groups, H_out * W_out
    K = Cg * kH * kW
    gy = gy.reshape(N, Cout, P)
    # wt[g, (c, a, b), o] = w[g*Co_g + o, c, a, b]: the transposed weights of each group
    wt = np.ascontiguousarray(w.reshape(groups, Cog, K).transpose(0, 2, 1))
    dx = np.empty((N, C, H, W), dtype=gy.dtype)
    T = _threads(N, 2 * N * Cout * K * P)
    S = _samples_per_product(N, T, P, K, gy.itemsize)
    dxp, dcols, gys = _scratch(gy.dtype, T, [(Cg, H + 2 * ph, W + 2 * pw), (K, S * P), (Cog, S * P)])
    if T == 1:
        _col2im_grad_input_samples(gy, wt, dx, dxp[0], dcols[0], gys[0], geo, 0, N)
    else:
        _parallel_col2im_grad_input(gy, wt, dx, dxp, dcols, gys, geo)
    return dx


def conv2d_grad_weight(gy, x, w_shape, stride, padding, dilation, groups):
    """dL/dw given dL/dy (same definition as the reference kernel)."""
    if not _native_dtype(gy, x):
        return _ref.conv2d_grad_weight(gy, x, w_shape, stride, padding, dilation, groups)
    N, C, H, W, Cout, kH, kW, H_out, W_out = conv_geometry(
        "conv2d_grad_weight", x.shape, w_shape, stride, padding, dilation, groups)
    check_grad_shape("conv2d_grad_weight", gy, (N, Cout, H_out, W_out))
    _, _, sh, sw, ph, pw, dh, dw, _, _ = _geometry(kH, kW, stride, padding, dilation, H_out, W_out)
    G, Cg, Cog, P = groups, C // groups, Cout // groups, H_out * W_out
    K = Cg * kH * kW
    Hp, Wp = H + 2 * ph, W + 2 * pw
    gy = np.ascontiguousarray(gy).reshape(N, Cout, P)
    x = np.ascontiguousarray(x)
    Jp = _width(Cog, gy.dtype)
    taps = _taps(Cg, Hp, Wp, kH, kW, dh, dw)
    rows = np.concatenate([taps, np.full(-K % 6, taps[0])])  # whole tiles of 6 taps
    pos = _pixels(H_out, W_out, sh, sw, Wp)
    T = _threads(N, 2 * N * Cout * K * P)
    acc = _runtime.aligned_empty((T, G, rows.shape[0], Jp), gy.dtype)   # one partial sum per thread
    acc[...] = 0
    xp, gyt = _scratch(gy.dtype, T, [(Cg, Hp, Wp), (P, Jp)])
    if T == 1:
        _grad_weight_samples(gy, x, acc[0], xp[0], gyt[0], rows, pos, (ph, pw), 0, N)
    else:
        _parallel_grad_weight(gy, x, acc, xp, gyt, rows, pos, (ph, pw))
    gw = acc[0] if T == 1 else acc.sum(axis=0)
    return np.ascontiguousarray(gw[:, :K, :Cog].transpose(0, 2, 1)).reshape(tuple(w_shape))


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

    Tiny inputs take the single-thread path, so for float32 the same calls run again
    with the parallel threshold at 0. (Each parallel driver costs seconds to compile;
    float64 ones, used only by float64 layers big enough to be split across threads,
    compile on first use.)
    """
    global PARALLEL_MIN_FLOPS
    for dt in dtypes:
        x = np.zeros((2, 2, 5, 5), dt)
        w = np.zeros((3, 2, 3, 3), dt)
        b = np.zeros(3, dt)
        runs = (2_000_000, 0) if dt == np.float32 else (PARALLEL_MIN_FLOPS,)
        saved = PARALLEL_MIN_FLOPS
        try:
            for threshold in runs:
                PARALLEL_MIN_FLOPS = threshold
                y = conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1), 1)
                conv2d_grad_input(y, w, x.shape, (1, 1), (1, 1), (1, 1), 1)
                conv2d_grad_input(y[:, :, ::2, ::2], w, x.shape, (2, 2), (1, 1), (1, 1), 1)
                conv2d_grad_weight(y, x, w.shape, (1, 1), (1, 1), (1, 1), 1)
        finally:
            PARALLEL_MIN_FLOPS = saved
        conv2d_grad_bias(y)
        cols = unfold(x, (3, 3), (1, 1), (1, 1), (1, 1))
        fold(cols, (5, 5), (3, 3), (1, 1), (1, 1), (1, 1))

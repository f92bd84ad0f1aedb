"""Whole int8 layers in one kernel call: ``qconv2d_float`` and ``qlinear_float``.

A quantized layer's forward goes from float32 to float32: quantize the input, the int8
product, and the way back (int32 + zero-point correction -> float32 * scale + bias, and
a ReLU when one is fused into the layer). Done as separate NumPy steps, the steps cost
more than the product itself (measured on the seed CNN: each pass over a layer's output
takes about as long as its int8 GEMM). Here the input is quantized straight into the
GEMM's operand layout and the int32 sums go from the registers to float32 memory: no
int8 or int32 array of a whole layer is ever written.

Three paths, chosen by the CPU Numba compiles for (``_simd.has_vnni`` / ``has_avx2``):

* **AVX-512 VNNI**, ``vpdpbusd``: 64 uint8 x int8 multiply-adds per instruction. The
  operands are int32 arrays whose elements hold four consecutive k ("quads"): the
  weights as (R, Q) rows (Q = K/4), the activations as (Q, L) columns, so one vector
  load gives 16 columns x 4 k and one broadcast gives 4 k of one output row. A tile of
  8 output rows x 32 columns keeps 16 accumulators in registers (``_vnni_tile``).
* **AVX2**, ``vpmaddwd``: 16 int16 x int16 multiply-adds per instruction; the int32
  elements hold two consecutive k as int16 ("pairs"; the activation codes 0..255 and
  the weights -128..127 fit int16 exactly). A tile of 6 rows x 16 columns keeps 12
  accumulators, which with 2 loads and a broadcast fill AVX2's 16 registers.
* **Portable**: quantize in Numba, the int8 GEMM/convolution of ``quant.py``, and one
  Numba pass back to float (ARM, or a CPU without AVX2).

The activations enter as uint8 codes ``q_x + 128`` (the instructions want one unsigned
operand); the correction ``-(z_x + 128) * sum_k q_w[o, k]`` starts every sum, and int32
wrap-around cancels exactly (``quant.py``'s docstring). Results are bit for bit those of
``kernels/reference/quant.py``: the same float32 operations in the same order.

The convolution works per sample (a thread takes a contiguous chunk of the batch): the
sample is quantized into zero-point-padded planes (C, Hp, Wp), im2col builds the packed
columns straight from them, and the GEMM runs per group. With stride 1 the columns of
output row i are taken Wp wide instead of W_out (pixel p = (p // Wp, p % Wp)): every
packed row is then the planes shifted by a constant, one long loop that vectorises; the
few junk columns are computed and dropped by the epilogue (``_segments``).
"""
from __future__ import annotations

import os

import numpy as np

from . import _runtime  # first: it may configure Numba before Numba is imported
from numba import njit, prange  # noqa: E402

from ..reference import quant as _ref  # noqa: E402
from . import _simd  # noqa: E402
from ._simd import (vbroadcast8, vbroadcast16, vdpbusd, vload8, vload16, vpmaddwd,  # noqa: E402
                    vstore_dequant8, vstore_dequant16, vzero8, vzero16)

__all__ = ["qconv2d_float", "qlinear_float", "path", "warmup"]

_JIT = dict(cache=True, nogil=True)
# The GEMM drivers allocate nothing and take every array from their caller, so they run
# without reference counting: with it, Numba increfs and decrefs the arrays passed to the
# inlined tile code around every tile, and those calls made LLVM spill the 16 vector
# accumulators to the stack each time (conv 1->32 on 28x28, one sample: 10 -> 8 us with
# VNNI, 30 -> 17 us with AVX2 code).
_GEMM_JIT = dict(_JIT, _nrt=False)
SMALL_WORK = 1 << 18   # multiply-adds below which a layer runs on the calling thread

#: per path: (k per int32, tile rows, tile columns, lanes per vector)
GEOMETRY = {"vnni": (4, 8, 32, 16), "avx2": (2, 6, 16, 8)}


def path():
    """The int8 path this CPU takes: "vnni", "avx2" or "portable" (worked out once per
    setting of the variables it depends on: asking every call cost 10-20 us)."""
    from numba.core import config

    key = (os.environ.get("MINIGRAD_INT8_VNNI"), os.environ.get("MINIGRAD_INT8_AVX2"), config.CPU_NAME,
           config.CPU_FEATURES)
    if key not in _PATHS:
        _PATHS[key] = "vnni" if _simd.has_vnni() else "avx2" if _simd.has_avx2() else "portable"
    return _PATHS[key]


_PATHS = {}


# ----------------------------------------------------------------------------- scalar pieces

@njit(**_JIT)
def _quantize_u8(v, scale, zp):
    """The uint8 code (int8 code + 128) of float32 ``v``: rint(v / scale) + zp clamped to
    [-128, 127], NaN -> zp; the float32 arithmetic of the reference ``quantize_input``."""
    r = np.rint(v / scale) + np.float32(zp)
    if r != r:
        r = np.float32(zp)
    r = min(max(r, np.float32(-128.0)), np.float32(127.0))
    return np.uint8(np.int32(r) + 128)


@njit(inline="always", **_JIT)
def _to_float(acc, init, scale, bias, relu):
    """One output: float32(acc + init) * scale + bias, then ReLU (NaN stays NaN)."""
    v = np.float32(np.int32(acc + init)) * scale + bias
    if relu and v < 0:
        v = np.float32(0.0)
    return v


@njit(inline="always", **_JIT)
def _segments(p, n_cols, wide, width, lanes, seg):
    """Where the lanes of the vector of columns p..p+lanes-1 go: column c is pixel
    (c // wide, c % wide) of an output ``width`` pixels wide, stored at
    (c // wide) * width + c % wide; columns with c % wide >= width (junk) or c >= n_cols
    are dropped. seg = [count, then (first lane, end lane, offset) per run of kept
    lanes], the offset such that lane i of the run goes to offset + i."""
    n = 0
    lane = 0
    end = min(lanes, n_cols - p)
    while lane < end:
        row, col = divmod(p + lane, wide)
        k = min(end - lane, wide - col)
        if col < width:
            seg[3 * n + 1] = lane
            seg[3 * n + 2] = lane + min(k, width - col)
            seg[3 * n + 3] = row * width + col - lane
            n += 1
        lane += k
    seg[0] = n


# ----------------------------------------------------------------------------- VNNI tile

@njit(inline="always", **_JIT)
def _emit16(out, va, vb, o, rs, init, scale, bias, relu, seg):
    """Output row o's two 16-lane vectors as floats into out (``seg``: see ``_segments``)."""
    a, m, b = init[o], scale[o], bias[o]
    for s in range(seg[0, 0]):
        vstore_dequant16(out, o * rs + seg[0, 3 * s + 3], va, a, m, b, relu, seg[0, 3 * s + 1], seg[0, 3 * s + 2])
    for s in range(seg[1, 0]):
        vstore_dequant16(out, o * rs + seg[1, 3 * s + 3], vb, a, m, b, relu, seg[1, 3 * s + 1], seg[1, 3 * s + 2])


@njit(inline="always", **_JIT)
def _vnni_tile(W, X, Q, L, r, l, nr, out, rs, init, scale, bias, relu, seg):
    """The 8 x 32 tile of W @ X at rows r.., columns l.. (W, X: flat int32 quads, W's bytes
    signed, X's unsigned), accumulated in 16 vector registers, then its first nr rows
    converted to float straight from the registers."""
    a0 = vzero16(); b0 = vzero16(); a1 = vzero16(); b1 = vzero16()   # noqa: E702
    a2 = vzero16(); b2 = vzero16(); a3 = vzero16(); b3 = vzero16()   # noqa: E702
    a4 = vzero16(); b4 = vzero16(); a5 = vzero16(); b5 = vzero16()   # noqa: E702
    a6 = vzero16(); b6 = vzero16(); a7 = vzero16(); b7 = vzero16()   # noqa: E702
    w = r * Q
    for q in range(Q):
        x0 = vload16(X, q * L + l)
        x1 = vload16(X, q * L + l + 16)
        s = vbroadcast16(W, w + q)
        a0 = vdpbusd(a0, x0, s); b0 = vdpbusd(b0, x1, s)               # noqa: E702
        s = vbroadcast16(W, w + Q + q)
        a1 = vdpbusd(a1, x0, s); b1 = vdpbusd(b1, x1, s)               # noqa: E702
        s = vbroadcast16(W, w + 2 * Q + q)
        a2 = vdpbusd(a2, x0, s); b2 = vdpbusd(b2, x1, s)               # noqa: E702
        s = vbroadcast16(W, w + 3 * Q + q)
        a3 = vdpbusd(a3, x0, s); b3 = vdpbusd(b3, x1, s)               # noqa: E702
        s = vbroadcast16(W, w + 4 * Q + q)
        a4 = vdpbusd(a4, x0, s); b4 = vdpbusd(b4, x1, s)               # noqa: E702
        s = vbroadcast16(W, w + 5 * Q + q)
        a5 = vdpbusd(a5, x0, s); b5 = vdpbusd(b5, x1, s)               # noqa: E702
        s = vbroadcast16(W, w + 6 * Q + q)
        a6 = vdpbusd(a6, x0, s); b6 = vdpbusd(b6, x1, s)               # noqa: E702
        s = vbroadcast16(W, w + 7 * Q + q)
        a7 = vdpbusd(a7, x0, s); b7 = vdpbusd(b7, x1, s)               # noqa: E702
    _emit16(out, a0, b0, r, rs, init, scale, bias, relu, seg)
    if nr > 1:
        _emit16(out, a1, b1, r + 1, rs, init, scale, bias, relu, seg)
    if nr > 2:
        _emit16(out, a2, b2, r + 2, rs, init, scale, bias, relu, seg)
    if nr > 3:
        _emit16(out, a3, b3, r + 3, rs, init, scale, bias, relu, seg)
    if nr > 4:
        _emit16(out, a4, b4, r + 4, rs, init, scale, bias, relu, seg)
    if nr > 5:
        _emit16(out, a5, b5, r + 5, rs, init, scale, bias, relu, seg)
    if nr > 6:
        _emit16(out, a6, b6, r + 6, rs, init, scale, bias, relu, seg)
    if nr > 7:
        _emit16(out, a7, b7, r + 7, rs, init, scale, bias, relu, seg)


@njit(**_GEMM_JIT)
def _vnni_gemm(W, X, Q, L, n_cols, r_lo, r_hi, n_rows, init, scale, bias, relu, out, rs, wide, width, seg):
    """Rows r_lo..r_hi (multiples of 8) of out = epilogue(W @ X): W (R8, Q) and X (Q, L)
    flat int32 quads, L a multiple of 32; only rows < n_rows and columns < n_cols are
    stored, row o from o * rs on (see ``_segments`` for the columns). Column tiles
    outside, row tiles inside: a 32-column strip of X (Q x 128 bytes) stays in L1 while
    the weights stream past it. ``seg``: (2, 49) int64 scratch for ``_segments``."""
    for l in range(0, n_cols, 32):
        _segments(l, n_cols, wide, width, 16, seg[0])
        _segments(l + 16, n_cols, wide, width, 16, seg[1])
        for r in range(r_lo, r_hi, 8):
            _vnni_tile(W, X, Q, L, r, l, min(8, n_rows - r), out, rs, init, scale, bias, relu, seg)


# ----------------------------------------------------------------------------- AVX2 tile

@njit(inline="always", **_JIT)
def _emit8(out, va, vb, o, rs, init, scale, bias, relu, seg):
    """Output row o's two 8-lane vectors as floats into out (``seg``: see ``_segments``)."""
    a, m, b = init[o], scale[o], bias[o]
    for s in range(seg[0, 0]):
        vstore_dequant8(out, o * rs + seg[0, 3 * s + 3], va, a, m, b, relu, seg[0, 3 * s + 1], seg[0, 3 * s + 2])
    for s in range(seg[1, 0]):
        vstore_dequant8(out, o * rs + seg[1, 3 * s + 3], vb, a, m, b, relu, seg[1, 3 * s + 1], seg[1, 3 * s + 2])


@njit(inline="always", **_JIT)
def _avx2_tile(W, X, Q, L, r, l, nr, out, rs, init, scale, bias, relu, seg):
    """The 6 x 16 tile of W @ X at rows r.., columns l.. (W, X: flat int32 pairs of int16),
    12 accumulators + 2 loads + 1 broadcast = 15 of AVX2's 16 registers."""
    a0 = vzero8(); b0 = vzero8(); a1 = vzero8(); b1 = vzero8()   # noqa: E702
    a2 = vzero8(); b2 = vzero8(); a3 = vzero8(); b3 = vzero8()   # noqa: E702
    a4 = vzero8(); b4 = vzero8(); a5 = vzero8(); b5 = vzero8()   # noqa: E702
    w = r * Q
    for q in range(Q):
        x0 = vload8(X, q * L + l)
        x1 = vload8(X, q * L + l + 8)
        s = vbroadcast8(W, w + q)
        a0 = vpmaddwd(a0, x0, s); b0 = vpmaddwd(b0, x1, s)               # noqa: E702
        s = vbroadcast8(W, w + Q + q)
        a1 = vpmaddwd(a1, x0, s); b1 = vpmaddwd(b1, x1, s)               # noqa: E702
        s = vbroadcast8(W, w + 2 * Q + q)
        a2 = vpmaddwd(a2, x0, s); b2 = vpmaddwd(b2, x1, s)               # noqa: E702
        s = vbroadcast8(W, w + 3 * Q + q)
        a3 = vpmaddwd(a3, x0, s); b3 = vpmaddwd(b3, x1, s)               # noqa: E702
        s = vbroadcast8(W, w + 4 * Q + q)
        a4 = vpmaddwd(a4, x0, s); b4 = vpmaddwd(b4, x1, s)               # noqa: E702
        s = vbroadcast8(W, w + 5 * Q + q)
        a5 = vpmaddwd(a5, x0, s); b5 = vpmaddwd(b5, x1, s)               # noqa: E702
    _emit8(out, a0, b0, r, rs, init, scale, bias, relu, seg)
    if nr > 1:
        _emit8(out, a1, b1, r + 1, rs, init, scale, bias, relu, seg)
    if nr > 2:
        _emit8(out, a2, b2, r + 2, rs, init, scale, bias, relu, seg)
    if nr > 3:
        _emit8(out, a3, b3, r + 3, rs, init, scale, bias, relu, seg)
    if nr > 4:
        _emit8(out, a4, b4, r + 4, rs, init, scale, bias, relu, seg)
    if nr > 5:
        _emit8(out, a5, b5, r + 5, rs, init, scale, bias, relu, seg)


@njit(**_GEMM_JIT)
def _avx2_gemm(W, X, Q, L, n_cols, r_lo, r_hi, n_rows, init, scale, bias, relu, out, rs, wide, width, seg):
    """``_vnni_gemm`` with int16 pairs and 6 x 16 tiles (r_lo, r_hi multiples of 6, L of 16)."""
    for l in range(0, n_cols, 16):
        _segments(l, n_cols, wide, width, 8, seg[0])
        _segments(l + 8, n_cols, wide, width, 8, seg[1])
        for r in range(r_lo, r_hi, 6):
            _avx2_tile(W, X, Q, L, r, l, min(6, n_rows - r), out, rs, init, scale, bias, relu, seg)


# ----------------------------------------------------------------------------- packed operands

@njit(**_JIT)
def _quantize_planes(xn, scale, zp, ph, pw, u):
    """u[c, ph:ph + H, pw:pw + W] = the uint8 codes of plane xn[c] (the border of u, the
    padding, holds the zero point's code already). One loop per row: it vectorises."""
    C, H, W = xn.shape
    for c in range(C):
        for h in range(H):
            src = xn[c, h]
            dst = u[c, ph + h, pw:pw + W]
            for k in range(W):
                dst[k] = _quantize_u8(src[k], scale, zp)


@njit(inline="always", **_JIT)
def _patch_sources(q, E, K, kk, kW, c0, Hp, Wp, dh, dw, starts):
    """starts[jj] = where, in the flat padded planes, patch entry k = E*q + jj of output
    pixel (0, 0) is (k = (c, a, b) in the order of ``w.reshape(C_out, -1)``); an entry
    past K repeats the last one (its weight is 0)."""
    for jj in range(E):
        k = min(E * q + jj, K - 1)
        c, t = divmod(k, kk)
        a, b = divmod(t, kW)
        starts[jj] = ((c0 + c) * Hp + a * dh) * Wp + b * dw


@njit(inline="always", **_JIT)
def _pack(E, s, p):
    """The codes at offsets s[0..E) + p, packed into one int32 (first in the low bits):
    4 bytes, or 2 int16 halves."""
    if E == 4:
        return (np.int32(s[0][p]) | (np.int32(s[1][p]) << 8) | (np.int32(s[2][p]) << 16)
                | (np.int32(s[3][p]) << 24))
    return np.int32(s[0][p]) | (np.int32(s[1][p]) << 16)


@njit(**_JIT)
def _packed_columns(flat, Hp, Wp, c0, cg, cols, geo, wide, E):
    """cols[q, p] = patch entries k = E*q..E*q+E-1 of output pixel p, packed into one int32
    (``_pack``): im2col by groups of E k, from the padded planes (C, Hp, Wp) stored flat
    in ``flat`` (plus one spare row), so no test for the image's edge is needed.

    With stride 1 (``wide``) pixel p is (p // Wp, p % Wp): every source is then the flat
    planes shifted by a constant, and one long loop over p vectorises (the columns
    p % Wp >= W_out are junk, computed and dropped by the epilogue). Otherwise p is
    (p // W_out, p % W_out), one row of outputs at a time."""
    kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out = geo
    K = cg * kH * kW
    st = np.zeros(4, np.int64)
    for q in range(cols.shape[0]):
        _patch_sources(q, E, K, kH * kW, kW, c0, Hp, Wp, dh, dw, st)
        row = cols[q]
        if wide:
            n = H_out * Wp
            srcs = (flat[st[0]:st[0] + n], flat[st[1]:st[1] + n], flat[st[2]:st[2] + n], flat[st[3]:st[3] + n])
            for p in range(n):
                row[p] = _pack(E, srcs, p)
            continue
        for i in range(H_out):
            for j in range(W_out):
                s = i * sh * Wp + j * sw
                srcs = (flat[st[0] + s:], flat[st[1] + s:], flat[st[2] + s:], flat[st[3] + s:])
                row[i * W_out + j] = _pack(E, srcs, 0)


@njit(**_JIT)
def _packed_rows(x, scale, zp, u, tmp, cols, E):
    """cols[q, m] = the codes of x[m, E*q..E*q+E-1] packed into one int32 (``_pack``; past
    K: 0): each row quantized into the bytes u (one contiguous loop: it vectorises), packed
    into tmp (M, Q) (for E = 4 the bytes already are the int32s), then tmp transposed."""
    M, K = x.shape
    Q = cols.shape[0]
    for m in range(M):
        src = x[m]
        dst = u[m]
        for k in range(K):
            dst[k] = _quantize_u8(src[k], scale, zp)
        dst[K:] = 0
        if E == 2:
            row = tmp[m]
            for q in range(Q):
                row[q] = np.int32(dst[2 * q]) | (np.int32(dst[2 * q + 1]) << 16)
    if E == 4:
        tmp = u.view(np.int32)
    for q in range(Q):
        row = cols[q]
        for m in range(M):
            row[m] = tmp[m, q]



# ----------------------------------------------------------------------------- drivers
# One copy per SIMD path (a kernel that calls vdpbusd must not even be compiled for a CPU
# without it); they differ only in the GEMM they call and the packing E.

@njit(inline="always", **_JIT)
def _conv_setup(x, y, u, Hp, Wp, geo):
    """(planes view of u, columns computed per row, output row stride for the epilogue,
    whether stride 1 lets im2col run Wp wide)."""
    wide = geo[2] == 1 and geo[3] == 1
    n_cols, stride = (geo[8] * Wp, Wp) if wide else (y.shape[2], geo[9])
    return u[:x.shape[1] * Hp * Wp].reshape((x.shape[1], Hp, Wp)), n_cols, stride, wide


@njit(**_JIT)
def _vnni_conv(x, scale, zp, Wq, init, mult, bias, relu, y, u, Hp, Wp, cols, geo, lo, hi):
    """y[n] (C_out, P) for samples lo..hi on the VNNI path: quantize into the padded
    planes (u: flat, one spare row), im2col in quads, GEMM per group into floats."""
    G, R, Q = Wq.shape
    cg, cog, P = x.shape[1] // G, y.shape[1] // G, y.shape[2]
    planes, n_cols, stride, wide = _conv_setup(x, y, u, Hp, Wp, geo)
    seg = np.empty((2, 3 * 16 + 1), np.int64)
    for n in range(lo, hi):
        _quantize_planes(x[n], scale, zp, geo[4], geo[5], planes)
        yn = y[n].ravel()
        for g in range(G):
            _packed_columns(u, Hp, Wp, g * cg, cg, cols, geo, wide, 4)
            o = g * cog
            _vnni_gemm(Wq[g].ravel(), cols.ravel(), Q, cols.shape[1], n_cols, 0, R, cog, init[o:], mult[o:],
                       bias[o:], relu, yn[o * P:], P, stride, geo[9], seg)


@njit(**_JIT)
def _avx2_conv(x, scale, zp, Wq, init, mult, bias, relu, y, u, Hp, Wp, cols, geo, lo, hi):
    """``_vnni_conv`` on the AVX2 path (int16 pairs)."""
    G, R, Q = Wq.shape
    cg, cog, P = x.shape[1] // G, y.shape[1] // G, y.shape[2]
    planes, n_cols, stride, wide = _conv_setup(x, y, u, Hp, Wp, geo)
    seg = np.empty((2, 3 * 8 + 1), np.int64)
    for n in range(lo, hi):
        _quantize_planes(x[n], scale, zp, geo[4], geo[5], planes)
        yn = y[n].ravel()
        for g in range(G):
            _packed_columns(u, Hp, Wp, g * cg, cg, cols, geo, wide, 2)
            o = g * cog
            _avx2_gemm(Wq[g].ravel(), cols.ravel(), Q, cols.shape[1], n_cols, 0, R, cog, init[o:], mult[o:],
                       bias[o:], relu, yn[o * P:], P, stride, geo[9], seg)


@njit(parallel=True, **_JIT)
def _vnni_conv_parallel(x, scale, zp, Wq, init, mult, bias, relu, y, u, Hp, Wp, cols, geo):
    T = cols.shape[0]
    for t in prange(T):
        lo, hi = _runtime.thread_share(x.shape[0], T, t)
        _vnni_conv(x, scale, zp, Wq, init, mult, bias, relu, y, u[t], Hp, Wp, cols[t], geo, lo, hi)


@njit(parallel=True, **_JIT)
def _avx2_conv_parallel(x, scale, zp, Wq, init, mult, bias, relu, y, u, Hp, Wp, cols, geo):
    T = cols.shape[0]
    for t in prange(T):
        lo, hi = _runtime.thread_share(x.shape[0], T, t)
        _avx2_conv(x, scale, zp, Wq, init, mult, bias, relu, y, u[t], Hp, Wp, cols[t], geo, lo, hi)


@njit(parallel=True, **_JIT)
def _vnni_linear(x, scale, zp, Wq, init, mult, bias, relu, y_t, u, tmp, cols, T):
    """y_t (N, M) = the float epilogue of Wq @ cols on the VNNI path, rows over T tasks."""
    R, Q = Wq.shape
    N, M = y_t.shape
    _packed_rows(x, scale, zp, u, tmp, cols, 4)
    tiles = R // 8
    for t in prange(T):
        seg = np.empty((2, 3 * 16 + 1), np.int64)
        _vnni_gemm(Wq.ravel(), cols.ravel(), Q, cols.shape[1], M, t * tiles // T * 8, (t + 1) * tiles // T * 8, N,
                   init, mult, bias, relu, y_t.ravel(), M, M, M, seg)


@njit(parallel=True, **_JIT)
def _avx2_linear(x, scale, zp, Wq, init, mult, bias, relu, y_t, u, tmp, cols, T):
    """``_vnni_linear`` on the AVX2 path."""
    R, Q = Wq.shape
    N, M = y_t.shape
    _packed_rows(x, scale, zp, u, tmp, cols, 2)
    tiles = R // 6
    for t in prange(T):
        seg = np.empty((2, 3 * 8 + 1), np.int64)
        _avx2_gemm(Wq.ravel(), cols.ravel(), Q, cols.shape[1], M, t * tiles // T * 6, (t + 1) * tiles // T * 6, N,
                   init, mult, bias, relu, y_t.ravel(), M, M, M, seg)


_CONV = {"vnni": _vnni_conv_parallel, "avx2": _avx2_conv_parallel}
_LINEAR = {"vnni": _vnni_linear, "avx2": _avx2_linear}


# ----------------------------------------------------------------------------- portable path

@njit(**_JIT)
def _quantize_int8(x, scale, zp, out):
    """out = the int8 codes of x (flat arrays)."""
    for i in range(x.shape[0]):
        out[i] = np.int8(np.int32(_quantize_u8(x[i], scale, zp)) - 128)


@njit(**_JIT)
def _dequantize_rows(acc, init, mult, bias, relu, out):
    """out[r, :] = float32(acc[r, :] + init[r]) * mult[r] + bias[r] (ReLU if asked)."""
    for r in range(acc.shape[0]):
        a, m, b = init[r], mult[r], bias[r]
        src = acc[r]
        dst = out[r]
        for j in range(src.shape[0]):
            dst[j] = _to_float(src[j], a, m, b, relu)


def _quantized(x, x_scale, zp):
    xq = np.empty(x.size, np.int8)
    _quantize_int8(np.ascontiguousarray(x).reshape(-1), np.float32(x_scale), zp, xq)
    return xq.reshape(x.shape)


# ----------------------------------------------------------------------------- Python side

def _round_up(n, m):
    return -(-n // m) * m


def _layer_params(n_out, init, out_scale, bias, rows):
    """(init, mult, bias) as int32/float32 arrays of ``rows`` entries (zero past n_out)."""
    i = np.zeros(rows, np.int32)
    m = np.zeros(rows, np.float32)
    b = np.zeros(rows, np.float32)
    i[:n_out] = init
    m[:n_out] = out_scale
    if bias is not None:
        b[:n_out] = bias
    return i, m, b


def _packed_weights(w2, rows, E):
    """(G, R, K) int8 weights -> (G, rows, ceil(K/E)) int32: E consecutive k per element
    (bytes for E = 4, int16 halves for E = 2), zero rows and k past the ends."""
    G, R, K = w2.shape
    dt = np.int8 if E == 4 else np.int16
    wp = np.zeros((G, rows, _round_up(K, E)), dt)
    wp[:, :R, :K] = w2
    return wp.view(np.int32)


def _prepacked(packed, key, make):
    """``make()``, kept in the caller's dict ``packed`` under ``key`` (a layer passes one
    dict per weight, and a new one when its weight changes: the packed weights of
    fbgemm-style libraries, without the kernel ever guessing whether a weight changed)."""
    if packed is None:
        return make()
    if key not in packed:
        packed[key] = make()
    return packed[key]


def qconv2d_float(x, x_scale, x_zero_point, w, out_scale, bias, stride, padding, dilation, groups, relu,
                  packed=None):
    """A whole int8 Conv2d layer, float32 in and out; see the reference."""
    from . import quant as _quant

    x, w = np.asarray(x), np.asarray(w)
    _ref._check_layer("qconv2d_float", x, out_scale, bias, w.shape[0] if w.ndim == 4 else -1)
    (N, C, H, W, C_out, kH, kW, H_out, W_out), zp = _ref._check_qconv(np.broadcast_to(np.int8(0), x.shape), w,
                                                                       x_zero_point, stride, padding, dilation,
                                                                       groups)
    _runtime.configure()
    how = path()
    if how == "portable":
        acc = _quant.qconv2d_int8(_quantized(x, x_scale, zp), w, zp, stride, padding, dilation, groups)
        i, m, b = _layer_params(C_out, 0, out_scale, bias, C_out)
        y = np.empty(acc.shape, np.float32)
        for n in range(N):
            _dequantize_rows(acc[n].reshape(C_out, -1), i, m, b, bool(relu), y[n].reshape(C_out, -1))
        return y
    E, RT, LT, _ = GEOMETRY[how]
    geo = (int(kH), int(kW), int(stride[0]), int(stride[1]), int(padding[0]), int(padding[1]),
           int(dilation[0]), int(dilation[1]), int(H_out), int(W_out))
    P, cog = H_out * W_out, C_out // groups
    Wq, sums = _prepacked(packed, (how, groups), lambda: (
        _packed_weights(w.reshape(groups, cog, -1), _round_up(cog, RT), E), _ref.weight_row_sums(w).astype(np.int64)))
    init = (-(zp + 128) * sums).astype(np.int32)
    i, m, b = _layer_params(C_out, init, out_scale, bias, C_out + RT)
    y = np.empty((N, C_out, P), np.float32)
    T = 1 if N < 2 or N * C_out * P * w[0].size < SMALL_WORK else min(_runtime.get_num_threads(), N)
    Hp, Wp = H + 2 * geo[4], W + 2 * geo[5]
    # the planes, padded with the zero point's code, and one spare row: a stride-1 im2col
    # reads past the last plane's edge for the junk columns (see _packed_columns)
    u = _runtime.workspace("qconvf_planes", T * (C * Hp + 1) * Wp, np.uint8).reshape(T, (C * Hp + 1) * Wp)
    u[...] = zp + 128
    L = _round_up(max(P, H_out * Wp), LT)
    cols = _runtime.workspace("qconvf_cols", T * Wq.shape[2] * L, np.int32).reshape(T, Wq.shape[2], L)
    _CONV[how](np.ascontiguousarray(x), np.float32(x_scale), zp, Wq, i, m, b, bool(relu), y, u, Hp, Wp, cols, geo)
    return y.reshape(N, C_out, H_out, W_out)


def qlinear_float(x, x_scale, x_zero_point, w, out_scale, bias, relu, packed=None):
    """A whole int8 Linear layer, float32 in and out; see the reference."""
    from . import quant as _quant

    x, w = np.asarray(x), np.asarray(w)
    if x.ndim != 2 or w.ndim != 2:
        return _ref.qlinear_float(x, x_scale, x_zero_point, w, out_scale, bias, relu)   # raises its error
    _ref._check_layer("qlinear_float", x, out_scale, bias, w.shape[0])
    M, N, K = _ref._check_qmatmul(np.broadcast_to(np.int8(0), x.shape), w)   # shapes and K only
    zp = int(x_zero_point)
    _runtime.configure()
    how = path()
    E, RT = GEOMETRY.get(how, (1, 1, 0, 0))[:2]
    Wq, rows = _prepacked(packed, (how,), lambda: (
        _packed_weights(w[None], _round_up(N, RT), E)[0] if how != "portable" else None,
        _ref.weight_row_sums(w).astype(np.int64)))
    if how == "portable":
        i, m, b = _layer_params(N, (-zp * rows).astype(np.int32), out_scale, bias, N)
        acc = _quant.qmatmul_int8(_quantized(x, x_scale, zp), w)
        y_t = np.empty((N, M), np.float32)
        _dequantize_rows(np.ascontiguousarray(acc.T), i, m, b, bool(relu), y_t)
        return np.ascontiguousarray(y_t.T)
    LT = GEOMETRY[how][2]
    r_pad, Q = _round_up(N, RT), _round_up(K, E) // E
    i, m, b = _layer_params(N, (-(zp + 128) * rows).astype(np.int32), out_scale, bias, r_pad)
    y_t = np.empty((N, M), np.float32)
    T = 1 if M * N * K < SMALL_WORK else max(1, min(_runtime.get_num_threads(), r_pad // RT))
    cols = _runtime.workspace("qlinf_cols", Q * _round_up(M, LT), np.int32).reshape(Q, _round_up(M, LT))
    u = _runtime.workspace("qlinf_codes", M * E * Q, np.uint8).reshape(M, E * Q)
    tmp = _runtime.workspace("qlinf_rows", M * Q, np.int32).reshape(M, Q)
    _LINEAR[how](np.ascontiguousarray(x), np.float32(x_scale), zp, Wq, i, m, b, bool(relu), y_t, u, tmp, cols, T)
    return np.ascontiguousarray(y_t.T)


def warmup():
    """Compile (or load) the whole-layer kernels of the path this CPU takes."""
    s = np.ones(3, np.float32)
    w = np.ones((3, 2, 3, 3), np.int8)
    qconv2d_float(np.ones((2, 2, 5, 5), np.float32), 0.1, 1, w, s, s, (1, 1), (1, 1), (1, 1), 1, True)
    qlinear_float(np.ones((5, 20), np.float32), 0.1, 1, np.ones((3, 20), np.int8), s, None, False)

"""Native CPU int8 kernels in Numba: an int8 GEMM and an int8 convolution.

Same signatures and results (bit for bit) as ``kernels/reference/quant.py``, whose
docstring explains the arithmetic: ``C = A @ B^T`` on int8 matrices with int32
accumulators, and convolutions as im2col + that product, the input padded with its
zero point.

How the GEMM is written
-----------------------
Both operands are contiguous along k (A is (M, K), B^T is (N, K): a Linear layer's
input and weight as they are stored), so the micro-kernel is a *dot* kernel: a 4 x 4
tile of C kept in 16 int32 accumulators while 4 rows of A and 4 rows of B are walked
together along k (8 loads, 16 multiply-adds per step, the same shape as the float
GEMM's ``_dot_4x4`` in ``matmul.py``).

The widening needs care. Numba types ``int32 * int32`` as int64, so a plain
``acc += a[k] * b[k]`` would accumulate in 64 bits (half as many lanes per vector).
Writing ``acc = np.int32(acc + np.int32(a[k]) * np.int32(b[k]))`` says that only the
low 32 bits are wanted, and LLVM then keeps 16 vectors of int32 lanes: each step
sign-extends the int8 loads to int32 (``vpmovsxbd``) and multiplies with
``vpmulld``. Wrap-around never happens because K is bounded (see ``MAX_K``), so the
truncation is exact.

Which vector instructions that becomes depends on the operands' signedness. With
both operands int8, LLVM sign-extends each to int32 and multiplies with ``vpmulld``
(16 products per 512-bit instruction, and a slow one). With one operand *unsigned*
(uint8) it knows the upper 17 bits of that operand's int32 lanes are zero, so each
product fits the 16-bit multiplier of ``vpmaddwd`` (multiply int16 pairs, add
neighbours into int32): it widens both to int16 and emits ``vpmaddwd`` on AVX2, or
``vpdpwssd`` (the same multiply-add fused with the accumulation, AVX-512 VNNI) where
the CPU has it; ``kernel.inspect_asm(sig)`` shows them. So the activations are moved
to uint8 by adding 128 (an exclusive-or with ``0x80`` of their bytes) and the sum is
corrected afterwards, exactly: ``sum_k (a + 128) b = sum_k a b + 128 sum_k b``, and
``128 sum_k b`` (a row sum of the weights) is subtracted once per output. int32
arithmetic wraps modulo 2^32 here, and the true result fits int32 (``MAX_K``), so the
corrected result is bit for bit the reference's even when a partial sum wrapped.
(``vpdpbusd``, four uint8 x int8 products per lane, would be faster still; LLVM does
not form it from this loop.)

Around the micro-kernel: k is walked in blocks of ``KC`` bytes so the 4 rows of B
stay in L1 while the kernel walks down the rows of A; the parallel version gives each
task an ``MC x NC`` block of C (``prange`` over blocks, so no two threads write the
same memory). Products smaller than ``SMALL_WORK`` multiply-adds run on the calling
thread: waking the thread pool would cost more than the arithmetic (the threading
policy of ``_runtime.py``).

The convolution works per sample, like the float one in ``conv.py``: a thread takes
a contiguous chunk of the batch and computes, for each sample, the output's
(C_out, H_out*W_out) plane directly (NCHW needs no transpose), starting from
``-(z_x + 128) * sum_k q_w[o, k]`` so the zero-point correction costs nothing. Long
patches (K >= ``DOT_MIN_K``) are gathered as *rows* (P, K) for the dot GEMM above,
from a channels-last copy of the input: each patch is kH*kW runs of C contiguous
bytes, and the weights are reordered to (kh, kw, c) to match (a byte-by-byte
transpose of (K, P) columns cost several times the GEMM itself). Short ones (a first
layer: K = 9) are gathered as columns (K, P), each row one kernel tap over all
pixels, and use ``_axpy_rows``, which vectorises along the pixels.
"""
from __future__ import annotations

import numpy as np

from . import _runtime  # first: it may configure Numba before Numba is imported
from numba import njit, prange  # noqa: E402

from ..reference import quant as _ref  # noqa: E402
from . import _simd  # noqa: E402
from ._simd import LANES, vbroadcast, vdpbusd, vload, vstore_dequant, vzero  # noqa: E402
from .matmul import _store_row  # noqa: E402
from .._families import native_tables

__all__ = ["qmatmul_int8", "qconv2d_int8", "qlinear_float", "qconv2d_float", "KERNELS", "PREFERRED", "warmup"]

MC, NC = 64, 64      # block of C per parallel task (shrunk until every thread has 2 tasks)
KC = 2048            # k-block in int8 elements (bytes): 4 rows of B = 8 KiB stay in L1
SMALL_WORK = 1 << 18  # below this many multiply-adds (M*N*K) a product runs serially
DOT_MIN_K = 64       # convolutions with shorter patches use the pixel-wise axpy kernel
MAX_K = _ref.MAX_K

_JIT = dict(cache=True, nogil=True)


# ----------------------------------------------------------------------------- micro-kernel

@njit(inline="always", **_JIT)
def _block(A, B, C, i0, i1, j0, j1, K, kc):
    """C[i0:i1, j0:j1] = A[i0:i1] @ B[j0:j1]^T (int8 in, int32 out), in 4 x 4 tiles.

    Rows past the block's edge repeat the last valid one (their results are dropped),
    so every tile runs the same vectorised loop.
    """
    for k0 in range(0, K, kc):
        kk = min(kc, K - k0)
        first = k0 == 0
        for j in range(j0, j1, 4):
            nj = min(4, j1 - j)
            b0 = B[j, k0:k0 + kk]
            b1 = B[min(j + 1, j1 - 1), k0:k0 + kk]
            b2 = B[min(j + 2, j1 - 1), k0:k0 + kk]
            b3 = B[min(j + 3, j1 - 1), k0:k0 + kk]
            for i in range(i0, i1, 4):
                mi = min(4, i1 - i)
                a0 = A[i, k0:k0 + kk]
                a1 = A[min(i + 1, i1 - 1), k0:k0 + kk]
                a2 = A[min(i + 2, i1 - 1), k0:k0 + kk]
                a3 = A[min(i + 3, i1 - 1), k0:k0 + kk]
                c00 = c01 = c02 = c03 = np.int32(0)
                c10 = c11 = c12 = c13 = np.int32(0)
                c20 = c21 = c22 = c23 = np.int32(0)
                c30 = c31 = c32 = c33 = np.int32(0)
                for k in range(kk):
                    x0 = np.int32(a0[k])
                    x1 = np.int32(a1[k])
                    x2 = np.int32(a2[k])
                    x3 = np.int32(a3[k])
                    y0 = np.int32(b0[k])
                    y1 = np.int32(b1[k])
                    y2 = np.int32(b2[k])
                    y3 = np.int32(b3[k])
                    # np.int32(...) keeps the sums 32-bit (see the module docstring)
                    c00 = np.int32(c00 + x0 * y0)
                    c01 = np.int32(c01 + x0 * y1)
                    c02 = np.int32(c02 + x0 * y2)
                    c03 = np.int32(c03 + x0 * y3)
                    c10 = np.int32(c10 + x1 * y0)
                    c11 = np.int32(c11 + x1 * y1)
                    c12 = np.int32(c12 + x1 * y2)
                    c13 = np.int32(c13 + x1 * y3)
                    c20 = np.int32(c20 + x2 * y0)
                    c21 = np.int32(c21 + x2 * y1)
                    c22 = np.int32(c22 + x2 * y2)
                    c23 = np.int32(c23 + x2 * y3)
                    c30 = np.int32(c30 + x3 * y0)
                    c31 = np.int32(c31 + x3 * y1)
                    c32 = np.int32(c32 + x3 * y2)
                    c33 = np.int32(c33 + x3 * y3)
                _store_row(C[i], j, nj, c00, c01, c02, c03, not first)
                if mi > 1:
                    _store_row(C[i + 1], j, nj, c10, c11, c12, c13, not first)
                if mi > 2:
                    _store_row(C[i + 2], j, nj, c20, c21, c22, c23, not first)
                if mi > 3:
                    _store_row(C[i + 3], j, nj, c30, c31, c32, c33, not first)


@njit(**_JIT)   # not inlined: the serial and the parallel GEMM share one compiled copy
def _tile(A, B, C, t, nt, mc, nc, kc):
    """Block number t (row-major over an (M/mc) x (N/nc) grid) of C = A @ B^T."""
    M, K = A.shape
    N = B.shape[0]
    ti = t // nt
    tj = t - ti * nt
    _block(A, B, C, ti * mc, min(ti * mc + mc, M), tj * nc, min(tj * nc + nc, N), K, kc)


@njit(inline="always", **_JIT)
def _gemm_tiles(A, B, C, mc, nc, kc):
    """C = A @ B^T block by block on the calling thread (the blocks keep the rows of A
    a tile reuses in L1/L2 instead of sweeping all of A for every 4 rows of B)."""
    nt = (B.shape[0] + nc - 1) // nc
    for t in range((A.shape[0] + mc - 1) // mc * nt):
        _tile(A, B, C, t, nt, mc, nc, kc)


@njit(**_JIT)
def _qgemm_serial(A, B, C, mc, nc, kc):
    _gemm_tiles(A, B, C, mc, nc, kc)


@njit(parallel=True, **_JIT)
def _qgemm_parallel(A, B, C, mc, nc, kc):
    nt = (B.shape[0] + nc - 1) // nc
    for t in prange((A.shape[0] + mc - 1) // mc * nt):
        _tile(A, B, C, t, nt, mc, nc, kc)


# ----------------------------------------------------------------------------- convolution

@njit(inline="always", **_JIT)
def _im2col_t_int8(x, n, c0, cg, cols, zp, geo):
    """cols[(c, a, b), p] = x[n, c0 + c, i*sh + a*dh - ph, j*sw + b*dw - pw], or zp where
    that pixel lies in the padding (p = i*W_out + j): the patches as *columns*, so
    that each row of cols is one kernel tap seen by every output pixel."""
    kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out = geo
    H, W = x.shape[2], x.shape[3]
    q = 0
    for c in range(cg):
        plane = x[n, c0 + c]
        for a in range(kH):
            for b in range(kW):
                row = cols[q]
                for i in range(H_out):
                    r = i * sh + a * dh - ph
                    dst = row[i * W_out:(i + 1) * W_out]
                    if r < 0 or r >= H:          # this output row sees padding only
                        for j in range(W_out):
                            dst[j] = zp
                    else:
                        line = plane[r]
                        for j in range(W_out):
                            s = j * sw + b * dw - pw
                            dst[j] = line[s] if 0 <= s < W else zp
                q += 1


@njit(inline="always", **_JIT)
def _im2row_nhwc(xh, n, c0, cg, rows, zp, geo):
    """rows[p, (a, b, c)] = xh[n, i*sh + a*dh - ph, j*sw + b*dw - pw, c0 + c], or zp in the
    padding (p = i*W_out + j), from a channels-last (N, H, W, C) input: each patch is
    kH*kW contiguous runs of cg channel bytes, copied straight into its row, so the dot
    GEMM gets its (P, K) operand without a byte-by-byte transpose."""
    kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out = geo
    H, W = xh.shape[1], xh.shape[2]
    for i in range(H_out):
        for j in range(W_out):
            dst = rows[i * W_out + j]
            q = 0
            for a in range(kH):
                r = i * sh + a * dh - ph
                for b in range(kW):
                    s = j * sw + b * dw - pw
                    seg = dst[q:q + cg]
                    if 0 <= r < H and 0 <= s < W:
                        src = xh[n, r, s, c0:c0 + cg]
                        for c in range(cg):
                            seg[c] = src[c]
                    else:
                        for c in range(cg):
                            seg[c] = zp
                    q += cg


@njit(inline="always", **_JIT)
def _axpy_rows(wg, cols, out, init, K, P):
    """out[o, :] = init[o] + sum_k wg[o, k] * cols[k, :] for every row o of out.

    Four output channels at a time: each row of cols (one kernel tap, all pixels) is
    loaded once and multiplied into 4 rows of out, vectorised along the pixels. (The
    dot kernel of qmatmul vectorises along k instead, which is a poor fit here: a
    first-layer convolution has k = 9.)
    """
    O = out.shape[0]
    O4 = O // 4 * 4
    for o in range(0, O4, 4):
        r0, r1, r2, r3 = out[o], out[o + 1], out[o + 2], out[o + 3]
        w0, w1, w2, w3 = wg[o], wg[o + 1], wg[o + 2], wg[o + 3]
        i0, i1, i2, i3 = init[o], init[o + 1], init[o + 2], init[o + 3]
        for p in range(P):
            r0[p] = i0
            r1[p] = i1
            r2[p] = i2
            r3[p] = i3
        for k in range(K):
            c = cols[k]
            a0 = np.int32(w0[k])
            a1 = np.int32(w1[k])
            a2 = np.int32(w2[k])
            a3 = np.int32(w3[k])
            for p in range(P):
                v = np.int32(c[p])
                r0[p] = np.int32(r0[p] + a0 * v)
                r1[p] = np.int32(r1[p] + a1 * v)
                r2[p] = np.int32(r2[p] + a2 * v)
                r3[p] = np.int32(r3[p] + a3 * v)
    for o in range(O4, O):                 # the last 1-3 channels, one at a time
        r0 = out[o]
        w0 = wg[o]
        i0 = init[o]
        for p in range(P):
            r0[p] = i0
        for k in range(K):
            c = cols[k]
            a0 = np.int32(w0[k])
            for p in range(P):
                r0[p] = np.int32(r0[p] + a0 * np.int32(c[p]))


@njit(**_JIT)   # not inlined: the serial and the parallel convolution share one compiled copy
def _conv_samples(x, w3, init, zp, y, cols_t, cols, geo, lo, hi, use_dot):
    """y[n] for samples lo..hi: y[n, g] = init[g] + W_g (Co_g, K) @ patches, where
    init[g, o] = -z_x sum_k q_w[o, k]. The patches are gathered as columns (K, P)
    (fast: each row is a shifted copy of input rows). Long patches (K >= DOT_MIN_K)
    are transposed to rows (P, K) for the dot GEMM; short ones, such as a first
    layer's K = 9, go through _axpy_rows, which vectorises along the pixels.
    (y is (N, G, Co_g, P) and every operand is indexed down to C-contiguous rows:
    a sliced view like y[n, o0:o1] is typed as "any layout" by Numba, and its rows
    then compile to strided loops that do not vectorise.)"""
    G, cog, K = w3.shape
    cg = (x.shape[3] if use_dot else x.shape[1]) // G
    P = y.shape[3]
    for n in range(lo, hi):
        for g in range(G):
            out = y[n, g]
            if use_dot:
                _im2row_nhwc(x, n, g * cg, cg, cols, zp, geo)             # (P, K)
                _gemm_tiles(w3[g], cols, out, MC, NC, KC)
                for o in range(cog):
                    row = out[o]
                    v = init[g, o]
                    for p in range(P):
                        row[p] += v
            else:
                _im2col_t_int8(x, n, g * cg, cg, cols_t, zp, geo)       # (K, P)
                _axpy_rows(w3[g], cols_t, out, init[g], K, P)


@njit(inline="always", **_JIT)
def _chunk(n, T, t):
    return t * n // T, (t + 1) * n // T


@njit(**_JIT)
def _qconv_serial(x, w3, init, zp, y, cols_t, cols, geo, use_dot):
    _conv_samples(x, w3, init, zp, y, cols_t[0], cols[0], geo, 0, x.shape[0], use_dot)


@njit(parallel=True, **_JIT)
def _qconv_parallel(x, w3, init, zp, y, cols_t, cols, geo, use_dot):
    T = cols_t.shape[0]
    for t in prange(T):
        lo, hi = _chunk(x.shape[0], T, t)
        _conv_samples(x, w3, init, zp, y, cols_t[t], cols[t], geo, lo, hi, use_dot)


# ----------------------------------------------------------------------------- Python side

def _plan(M, N, threads):
    """Block of C per task: halve it until every thread has at least two tasks."""
    mc, nc = MC, NC
    while (-(-M // mc)) * (-(-N // nc)) < 2 * threads:
        if mc > 8 and M > mc // 2:
            mc //= 2
        elif nc > 8 and N > nc // 2:
            nc //= 2
        else:
            break
    return mc, nc


def _c_int8(a):
    """A C-contiguous, read-only int8 view (one compiled specialisation per kernel)."""
    a = np.ascontiguousarray(a)
    v = a.view()
    v.flags.writeable = False
    return v


def _offset_u8(a):
    """``a + 128`` as a C-contiguous, read-only uint8 array (int8 bytes XOR 0x80): the
    unsigned operand that lets LLVM use ``vpmaddwd`` / ``vpdpwssd`` (module docstring)."""
    u = np.bitwise_xor(np.ascontiguousarray(a).view(np.uint8), np.uint8(0x80))
    u.flags.writeable = False
    return u


def qmatmul_int8(a, b_t):
    """``a @ b_t.T`` for int8 (M, K) and (N, K) -> exact int32 (M, N); see the reference."""
    a = np.asarray(a)
    b_t = np.asarray(b_t)
    M, N, K = _ref._check_qmatmul(a, b_t)
    out = np.empty((M, N), dtype=np.int32)
    if out.size == 0:
        return out
    if K == 0:
        out[...] = 0
        return out
    _runtime.configure()
    A, B = _offset_u8(a), _c_int8(b_t)   # (a + 128) @ b_t.T, corrected below
    threads = _runtime.get_num_threads()
    if M * N * K < SMALL_WORK or threads == 1:
        _qgemm_serial(A, B, out, MC, NC, KC)
    else:
        mc, nc = _plan(M, N, threads)
        _qgemm_parallel(A, B, out, mc, nc, KC)
    corr = (128 * B.sum(axis=1, dtype=np.int64)).astype(np.int32)
    np.subtract(out, corr, out=out)       # wraps modulo 2^32 like the kernel: exact
    return out


def qconv2d_int8(x, w, x_zero_point, stride, padding, dilation, groups):
    """Integer convolution, int8 in, exact int32 (N, C_out, H_out, W_out) out; see the reference."""
    x = np.asarray(x)
    w = np.asarray(w)
    (N, C, H, W, C_out, kH, kW, H_out, W_out), zp = _ref._check_qconv(x, w, x_zero_point, stride, padding,
                                                                       dilation, groups)
    P = H_out * W_out
    K = w.shape[1] * kH * kW
    y = np.empty((N, groups, C_out // groups, P), dtype=np.int32)
    geo = (int(kH), int(kW), int(stride[0]), int(stride[1]), int(padding[0]), int(padding[1]),
           int(dilation[0]), int(dilation[1]), int(H_out), int(W_out))
    _runtime.configure()
    threads = _runtime.get_num_threads()
    T = 1 if N < 2 or N * C_out * P * K < SMALL_WORK else min(threads, N)
    use_dot = K >= DOT_MIN_K
    # the patches are uint8 (x + 128, padded with z_x + 128): see the module docstring
    # long patches: rows (P, K) gathered from a channels-last copy, K ordered (kh, kw, c),
    # the weights reordered to match; short ones: columns (K, P) from NCHW
    shape_t = (T, 1, 1) if use_dot else (T, K, P)
    cols_t = _runtime.workspace("qconv_cols_t", shape_t[0] * shape_t[1] * shape_t[2], np.uint8).reshape(shape_t)
    shape = (T, P, K) if use_dot else (T, 1, 1)
    cols = _runtime.workspace("qconv_cols", shape[0] * shape[1] * shape[2], np.uint8).reshape(shape)
    cog, cg = C_out // groups, C // groups
    if use_dot:
        w3 = _c_int8(np.ascontiguousarray(
            np.asarray(w).reshape(groups, cog, cg, kH, kW).transpose(0, 1, 3, 4, 2)).reshape(groups, cog, K))
        xu = np.empty((N, H, W, C), np.uint8)
        np.bitwise_xor(np.asarray(x).view(np.uint8).transpose(0, 2, 3, 1), np.uint8(0x80), out=xu)
        xu.flags.writeable = False
    else:
        w3 = _c_int8(w).reshape(groups, cog, K)
        xu = _offset_u8(x)
    # sum_k w (x - z_x) = sum_k w (x + 128) - (z_x + 128) sum_k w: the second term starts each output
    init = (-(zp + 128) * _ref.weight_row_sums(w).astype(np.int64)).astype(np.int32).reshape(groups, -1)
    zu = np.uint8(zp + 128)
    if T == 1:
        _qconv_serial(xu, w3, init, zu, y, cols_t, cols, geo, use_dot)
    else:
        _qconv_parallel(xu, w3, init, zu, y, cols_t, cols, geo, use_dot)
    return y.reshape(N, C_out, H_out, W_out)


# ============================================================================ whole int8 layers
#
# qconv2d_float / qlinear_float: a quantized layer's forward from float32 to float32 in
# one kernel call: quantize the input, the int8 product, and the way back to float32
# (int32 + zero-point correction -> float32 * scale + bias, ReLU if fused), with no int8
# or int32 array of the whole output ever written to memory.
#
# On CPUs with AVX-512 VNNI the product runs on ``vpdpbusd`` (``_simd.py``): 64 uint8 x
# int8 multiply-adds per instruction. Its operands are int32 arrays whose elements hold
# four consecutive k of one dot product: the weights as (R, Q) rows (Q = K/4 quads), the
# activations as (Q, L) columns, so that one vector load gives 16 columns x 4 k and one
# broadcast gives 4 k of one output row. A tile of 8 output rows x 32 columns keeps 16
# accumulators in registers (``_vnni_tile``); the epilogue turns them into floats.
# Elsewhere the same ops quantize in Numba, run the kernels above and convert back in
# one pass (``_fallback_*``).

RT, LT = 8, 32   # a VNNI tile: 8 output rows x 32 output columns (two 16-lane vectors)


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
def _emit_row(out, va, vb, o, rs, init, scale, bias, relu, seg):
    """Output row o's two vectors as floats into out (``seg``: see ``_segments``)."""
    a, m, b = init[o], scale[o], bias[o]
    for s in range(seg[0, 0]):
        vstore_dequant(out, o * rs + seg[0, 3 * s + 3], va, a, m, b, relu, seg[0, 3 * s + 1], seg[0, 3 * s + 2])
    for s in range(seg[1, 0]):
        vstore_dequant(out, o * rs + seg[1, 3 * s + 3], vb, a, m, b, relu, seg[1, 3 * s + 1], seg[1, 3 * s + 2])


@njit(inline="always", **_JIT)
def _vnni_tile(W, X, Q, L, r, l, nr, out, rs, init, scale, bias, relu, seg):
    """The 8 x 32 tile of W @ X at rows r.., columns l.. (W, X: flat int32 quads, W's bytes
    signed, X's unsigned), accumulated in 16 vector registers, then its first nr rows
    converted to float straight from the registers (``_emit_row``)."""
    a0 = vzero(); b0 = vzero(); a1 = vzero(); b1 = vzero()   # noqa: E702
    a2 = vzero(); b2 = vzero(); a3 = vzero(); b3 = vzero()   # noqa: E702
    a4 = vzero(); b4 = vzero(); a5 = vzero(); b5 = vzero()   # noqa: E702
    a6 = vzero(); b6 = vzero(); a7 = vzero(); b7 = vzero()   # noqa: E702
    w = r * Q
    for q in range(Q):
        x0 = vload(X, q * L + l)
        x1 = vload(X, q * L + l + 16)
        s = vbroadcast(W, w + q)
        a0 = vdpbusd(a0, x0, s); b0 = vdpbusd(b0, x1, s)               # noqa: E702
        s = vbroadcast(W, w + Q + q)
        a1 = vdpbusd(a1, x0, s); b1 = vdpbusd(b1, x1, s)               # noqa: E702
        s = vbroadcast(W, w + 2 * Q + q)
        a2 = vdpbusd(a2, x0, s); b2 = vdpbusd(b2, x1, s)               # noqa: E702
        s = vbroadcast(W, w + 3 * Q + q)
        a3 = vdpbusd(a3, x0, s); b3 = vdpbusd(b3, x1, s)               # noqa: E702
        s = vbroadcast(W, w + 4 * Q + q)
        a4 = vdpbusd(a4, x0, s); b4 = vdpbusd(b4, x1, s)               # noqa: E702
        s = vbroadcast(W, w + 5 * Q + q)
        a5 = vdpbusd(a5, x0, s); b5 = vdpbusd(b5, x1, s)               # noqa: E702
        s = vbroadcast(W, w + 6 * Q + q)
        a6 = vdpbusd(a6, x0, s); b6 = vdpbusd(b6, x1, s)               # noqa: E702
        s = vbroadcast(W, w + 7 * Q + q)
        a7 = vdpbusd(a7, x0, s); b7 = vdpbusd(b7, x1, s)               # noqa: E702
    _emit_row(out, a0, b0, r, rs, init, scale, bias, relu, seg)
    if nr > 1:
        _emit_row(out, a1, b1, r + 1, rs, init, scale, bias, relu, seg)
    if nr > 2:
        _emit_row(out, a2, b2, r + 2, rs, init, scale, bias, relu, seg)
    if nr > 3:
        _emit_row(out, a3, b3, r + 3, rs, init, scale, bias, relu, seg)
    if nr > 4:
        _emit_row(out, a4, b4, r + 4, rs, init, scale, bias, relu, seg)
    if nr > 5:
        _emit_row(out, a5, b5, r + 5, rs, init, scale, bias, relu, seg)
    if nr > 6:
        _emit_row(out, a6, b6, r + 6, rs, init, scale, bias, relu, seg)
    if nr > 7:
        _emit_row(out, a7, b7, r + 7, rs, init, scale, bias, relu, seg)


@njit(inline="always", **_JIT)
def _to_float(acc, init, scale, bias, relu):
    """One output: float32(acc + init) * scale + bias, then ReLU (NaN stays NaN)."""
    v = np.float32(np.int32(acc + init)) * scale + bias
    if relu and v < 0:
        v = np.float32(0.0)
    return v


@njit(inline="always", **_JIT)
def _segments(p, n_cols, wide, width, seg):
    """Where the 16 lanes of the vector of columns p..p+15 go: column c is pixel
    (c // wide, c % wide) of an output ``width`` pixels wide, stored at
    (c // wide) * width + c % wide; columns with c % wide >= width (junk) or c >= n_cols
    are dropped. seg = [count, then (first lane, end lane, offset) per run of kept
    lanes], the offset such that lane i of the run goes to offset + i."""
    n = 0
    lane = 0
    end = min(LANES, n_cols - p)
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


@njit(**_JIT)
def _vnni_gemm(W, X, Q, L, n_cols, r_lo, r_hi, n_rows, init, scale, bias, relu, out, rs, wide, width):
    """Rows r_lo..r_hi (multiples of 8) of out = epilogue(W @ X): W (R8, Q) and X (Q, L)
    flat int32 quads, L a multiple of 32; only rows < n_rows and columns < n_cols are
    stored, row o from o * rs on (see ``_segments`` for the columns). Column tiles
    outside, row tiles inside: a 32-column strip of X (Q x 128 bytes) stays in L1 while
    the weights stream past it."""
    seg = np.empty((2, 3 * LANES + 1), np.int64)
    for l in range(0, n_cols, LT):
        _segments(l, n_cols, wide, width, seg[0])
        _segments(l + LANES, n_cols, wide, width, seg[1])
        for r in range(r_lo, r_hi, RT):
            _vnni_tile(W, X, Q, L, r, l, min(RT, n_rows - r), out, rs, init, scale, bias, relu, seg)


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
def _pack4(b0, b1, b2, b3):
    return np.int32(b0) | (np.int32(b1) << 8) | (np.int32(b2) << 16) | (np.int32(b3) << 24)


@njit(inline="always", **_JIT)
def _patch_sources(q, K, kk, kW, c0, Hp, Wp, dh, dw, starts):
    """starts[jj] = where, in the flat padded planes, patch entry k = 4q + jj of output
    pixel (0, 0) is (k = (c, a, b) in the order of ``w.reshape(C_out, -1)``); an entry
    past K repeats the last one (its weight is 0)."""
    for jj in range(4):
        k = min(4 * q + jj, K - 1)
        c, t = divmod(k, kk)
        a, b = divmod(t, kW)
        starts[jj] = ((c0 + c) * Hp + a * dh) * Wp + b * dw


@njit(**_JIT)
def _quad_columns(flat, Hp, Wp, c0, cg, cols, geo, wide):
    """cols[q, p] = patch entries k = 4q..4q+3 of output pixel p, their codes packed into
    one int32 (entry 4q in the low byte): im2col by quads of k, from the padded planes
    (C, Hp, Wp) stored flat in ``flat`` (plus one spare row), so no test for the image's
    edge is needed.

    With stride 1 (``wide``) pixel p is (p // Wp, p % Wp): every source is then the flat
    planes shifted by a constant, and one long loop over p vectorises (the columns
    p % Wp >= W_out are junk, computed and dropped by the epilogue). Otherwise p is
    (p // W_out, p % W_out), one row of outputs at a time."""
    kH, kW, sh, sw, ph, pw, dh, dw, H_out, W_out = geo
    K = cg * kH * kW
    st = np.empty(4, np.int64)
    for q in range(cols.shape[0]):
        _patch_sources(q, K, kH * kW, kW, c0, Hp, Wp, dh, dw, st)
        row = cols[q]
        if wide:
            n = H_out * Wp
            s0, s1, s2, s3 = flat[st[0]:st[0] + n], flat[st[1]:st[1] + n], flat[st[2]:st[2] + n], flat[st[3]:st[3] + n]
            for p in range(n):
                row[p] = _pack4(s0[p], s1[p], s2[p], s3[p])
            continue
        for i in range(H_out):
            o = i * sh * Wp
            for j in range(W_out):
                s = o + j * sw
                row[i * W_out + j] = _pack4(flat[st[0] + s], flat[st[1] + s], flat[st[2] + s], flat[st[3] + s])


@njit(**_JIT)
def _vnni_conv_samples(x, scale, zp, Wq, init, mult, bias, relu, y, u, Hp, Wp, cols, geo, lo, hi):
    """y[n] (C_out, P) for samples lo..hi: quantize into the padded planes (u: flat, one
    spare row), im2col in quads of k, VNNI GEMM per group with the float epilogue
    (init/mult/bias by output channel)."""
    G, R8, Q = Wq.shape
    C = x.shape[1]
    cog = y.shape[1] // G
    P = y.shape[2]
    L = cols.shape[1]
    W_out = geo[9]
    wide = geo[2] == 1 and geo[3] == 1
    n_cols, stride = (geo[8] * Wp, Wp) if wide else (P, W_out)
    planes = u[:C * Hp * Wp].reshape((C, Hp, Wp))
    for n in range(lo, hi):
        _quantize_planes(x[n], scale, zp, geo[4], geo[5], planes)
        yn = y[n].ravel()
        for g in range(G):
            _quad_columns(u, Hp, Wp, g * (C // G), C // G, cols, geo, wide)
            o = g * cog
            _vnni_gemm(Wq[g].ravel(), cols.ravel(), Q, L, n_cols, 0, R8, cog, init[o:], mult[o:], bias[o:],
                       relu, yn[o * P:], P, stride, W_out)


@njit(parallel=True, **_JIT)
def _vnni_conv_parallel(x, scale, zp, Wq, init, mult, bias, relu, y, u, Hp, Wp, cols, geo):
    T = cols.shape[0]
    for t in prange(T):
        lo, hi = _chunk(x.shape[0], T, t)
        _vnni_conv_samples(x, scale, zp, Wq, init, mult, bias, relu, y, u[t], Hp, Wp, cols[t], geo, lo, hi)


@njit(**_JIT)
def _quad_rows(x, scale, zp, u, cols):
    """cols[q, m] = the uint8 codes of x[m, 4q:4q+4] as one int32 (past K: 0): each row
    quantized into u (M, 4Q) bytes (vectorised), then the int32 view transposed."""
    M, K = x.shape
    u32 = u.view(np.int32)
    for m in range(M):
        src = x[m]
        dst = u[m]
        for k in range(K):
            dst[k] = _quantize_u8(src[k], scale, zp)
        dst[K:] = 0
    for q in range(cols.shape[0]):
        row = cols[q]
        for m in range(M):
            row[m] = u32[m, q]


@njit(parallel=True, **_JIT)
def _vnni_linear(x, scale, zp, Wq, init, mult, bias, relu, y_t, u, cols, T):
    """y_t (N, M) = the float epilogue of Wq @ cols, output rows split over T tasks."""
    R8, Q = Wq.shape
    N, M = y_t.shape
    _quad_rows(x, scale, zp, u, cols)
    tiles = R8 // RT
    for t in prange(T):
        r_lo = t * tiles // T * RT
        r_hi = (t + 1) * tiles // T * RT
        _vnni_gemm(Wq.ravel(), cols.ravel(), Q, cols.shape[1], M, r_lo, r_hi, N, init, mult, bias, relu,
                   y_t.ravel(), M, M, M)


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


def _round_up(n, m):
    return -(-n // m) * m


def _weight_quads(w, groups):
    """Conv weights (C_out, Cg, kH, kW) int8 -> (G, R8, Q) int32: each group's rows
    ``w.reshape(C_out, K)`` padded with zeros to 4Q columns and R8 rows, 4 bytes per int32."""
    C_out = w.shape[0]
    K = w[0].size
    cog = C_out // groups
    wp = np.zeros((groups, _round_up(cog, RT), _round_up(K, 4)), np.int8)
    wp[:, :cog, :K] = w.reshape(groups, cog, K)
    return wp.view(np.int32)


def qconv2d_float(x, x_scale, x_zero_point, w, out_scale, bias, stride, padding, dilation, groups, relu):
    """A whole int8 Conv2d layer, float32 in and out; see the reference."""
    x, w = np.asarray(x), np.asarray(w)
    _ref._check_layer("qconv2d_float", x, out_scale, bias, w.shape[0] if w.ndim == 4 else -1)
    (N, C, H, W, C_out, kH, kW, H_out, W_out), zp = _ref._check_qconv(np.broadcast_to(np.int8(0), x.shape), w,
                                                                       x_zero_point, stride, padding, dilation,
                                                                       groups)
    geo = (int(kH), int(kW), int(stride[0]), int(stride[1]), int(padding[0]), int(padding[1]),
           int(dilation[0]), int(dilation[1]), int(H_out), int(W_out))
    init = (-(zp + 128) * _ref.weight_row_sums(w).astype(np.int64)).astype(np.int32)
    if not _simd.has_vnni():
        return _fallback_conv(x, x_scale, zp, w, out_scale, bias, stride, padding, dilation, groups, relu)
    _runtime.configure()
    P = H_out * W_out
    Wq = _weight_quads(w, groups)
    i, m, b = _layer_params(C_out, init, out_scale, bias, C_out + RT)
    y = np.empty((N, C_out, P), np.float32)
    T = 1 if N < 2 or N * C_out * P * Wq.shape[2] * 4 < SMALL_WORK else min(_runtime.get_num_threads(), N)
    Hp, Wp = H + 2 * geo[4], W + 2 * geo[5]
    # the planes, padded with the zero point's code, and one spare row: a stride-1 im2col
    # reads past the last plane's edge for the junk columns (see _quad_columns)
    u = _runtime.workspace("qconvf_planes", T * (C * Hp + 1) * Wp, np.uint8).reshape(T, (C * Hp + 1) * Wp)
    u[...] = zp + 128
    L = _round_up(max(P, H_out * Wp), LT)
    cols = _runtime.workspace("qconvf_cols", T * Wq.shape[2] * L, np.int32).reshape(T, Wq.shape[2], L)
    xc = np.ascontiguousarray(x)
    _vnni_conv_parallel(xc, np.float32(x_scale), zp, Wq, i, m, b, bool(relu), y, u, Hp, Wp, cols, geo)
    return y.reshape(N, C_out, H_out, W_out)


def _fallback_conv(x, x_scale, zp, w, out_scale, bias, stride, padding, dilation, groups, relu):
    """qconv2d_float without VNNI: Numba quantize, the int8 conv, one pass back to float."""
    _runtime.configure()
    xq = np.empty(x.size, np.int8)
    _quantize_int8(np.ascontiguousarray(x).reshape(-1), np.float32(x_scale), zp, xq)
    acc = qconv2d_int8(xq.reshape(x.shape), w, zp, stride, padding, dilation, groups)
    N, C_out = acc.shape[:2]
    # qconv2d_int8 already subtracted z_x * row sums: only the float conversion is left
    i, m, b = _layer_params(C_out, 0, out_scale, bias, C_out)
    y = np.empty(acc.shape, np.float32)
    a3, y3 = acc.reshape(N, C_out, -1), y.reshape(N, C_out, -1)
    for n in range(N):
        _dequantize_rows(a3[n], i, m, b, bool(relu), y3[n])
    return y


def qlinear_float(x, x_scale, x_zero_point, w, out_scale, bias, relu):
    """A whole int8 Linear layer, float32 in and out; see the reference."""
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim != 2 or w.ndim != 2:
        return _ref.qlinear_float(x, x_scale, x_zero_point, w, out_scale, bias, relu)   # raises its error
    _ref._check_layer("qlinear_float", x, out_scale, bias, w.shape[0])
    M, N, K = _ref._check_qmatmul(np.broadcast_to(np.int8(0), x.shape), w)   # shapes and K only
    zp = int(x_zero_point)
    rows = _ref.weight_row_sums(w).astype(np.int64)
    if not _simd.has_vnni():
        i, m, b = _layer_params(N, (-zp * rows).astype(np.int32), out_scale, bias, N)
        _runtime.configure()
        xq = np.empty(x.size, np.int8)
        _quantize_int8(np.ascontiguousarray(x).reshape(-1), np.float32(x_scale), zp, xq)
        acc = qmatmul_int8(xq.reshape(M, K), w)
        y = np.empty((N, M), np.float32)
        _dequantize_rows(np.ascontiguousarray(acc.T), i, m, b, bool(relu), y)
        return np.ascontiguousarray(y.T)
    _runtime.configure()
    init = (-(zp + 128) * rows).astype(np.int32)
    r8, Q = _round_up(N, RT), _round_up(K, 4) // 4
    wp = np.zeros((r8, 4 * Q), np.int8)
    wp[:N, :K] = w
    Wq = wp.view(np.int32)
    i, m, b = _layer_params(N, init, out_scale, bias, r8)
    y_t = np.empty((N, M), np.float32)
    threads = _runtime.get_num_threads()
    T = 1 if M * N * K < SMALL_WORK else max(1, min(threads, r8 // RT))
    cols = _runtime.workspace("qlinf_cols", Q * _round_up(M, LT), np.int32).reshape(Q, _round_up(M, LT))
    u = _runtime.workspace("qlinf_codes", M * 4 * Q, np.uint8).reshape(M, 4 * Q)
    _vnni_linear(np.ascontiguousarray(x), np.float32(x_scale), zp, Wq, i, m, b, bool(relu), y_t, u, cols, T)
    return np.ascontiguousarray(y_t.T)


KERNELS, PREFERRED = native_tables("quant", globals())   # every op above; native unless measured slower


def warmup():
    """Compile (or load from the on-disk cache) the int8 kernels this CPU runs.

    The quantized layers call the whole-layer kernels: on a CPU with AVX-512 VNNI those
    need only the VNNI code (the int8 GEMM and convolution below compile on their first
    direct call); elsewhere they run on the int8 GEMM and convolution, compiled here.
    """
    s = np.ones(3, np.float32)
    w = np.ones((3, 2, 3, 3), np.int8)
    a = np.ones((5, 20), np.int8)
    qconv2d_float(np.ones((2, 2, 5, 5), np.float32), 0.1, 1, w, s, s, (1, 1), (1, 1), (1, 1), 1, True)
    qlinear_float(np.ones((5, 20), np.float32), 0.1, 1, a[:3], s, None, False)
    if not _simd.has_vnni():
        _warm_int8_kernels()


def _warm_int8_kernels():
    """Compile the int8 GEMM and convolution drivers (both layouts, serial and parallel)."""
    a = np.ones((5, 20), np.int8)
    qmatmul_int8(a, a)
    _qgemm_serial(_offset_u8(a), _c_int8(a), np.empty((5, 5), np.int32), MC, NC, KC)
    big = np.ones((80, 64), np.int8)
    _qgemm_parallel(_offset_u8(big), _c_int8(big), np.empty((80, 80), np.int32), 16, 16, KC)
    x = np.ones((2, 2, 5, 5), np.int8)
    w = np.ones((3, 2, 3, 3), np.int8)
    args = (x, w, 1, (1, 1), (1, 1), (1, 1), 1)
    qconv2d_int8(*args)
    geo = (3, 3, 1, 1, 1, 1, 1, 1, 5, 5)
    cols_t = np.empty((2, 18, 25), np.uint8)
    cols = np.empty((2, 25, 18), np.uint8)
    y = np.empty((2, 1, 3, 25), np.int32)
    init = np.zeros((1, 3), np.int32)
    w3 = _c_int8(w).reshape(1, 3, 18)
    for use_dot in (False, True):   # NCHW columns, then channels-last rows (same types)
        xu = _offset_u8(x.transpose(0, 2, 3, 1) if use_dot else x)
        _qconv_serial(xu, w3, init, np.uint8(129), y, cols_t, cols, geo, use_dot)
        _qconv_parallel(xu, w3, init, np.uint8(129), y, cols_t, cols, geo, use_dot)

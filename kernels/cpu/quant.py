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
from . import _qlayers  # noqa: E402
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



@njit(**_JIT)
def _qconv_serial(x, w3, init, zp, y, cols_t, cols, geo, use_dot):
    _conv_samples(x, w3, init, zp, y, cols_t[0], cols[0], geo, 0, x.shape[0], use_dot)


@njit(parallel=True, **_JIT)
def _qconv_parallel(x, w3, init, zp, y, cols_t, cols, geo, use_dot):
    T = cols_t.shape[0]
    for t in prange(T):
        lo, hi = _runtime.thread_share(x.shape[0], T, t)
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
# qconv2d_float / qlinear_float (quantize, the int8 product and the way back to float32 in
# one call, on vpdpbusd or vpmaddwd where the CPU has them) live in _qlayers.py.

from ._qlayers import qconv2d_float, qlinear_float  # noqa: E402


KERNELS, PREFERRED = native_tables("quant", globals())   # every op above; native unless measured slower


def warmup():
    """Compile (or load from the on-disk cache) the int8 kernels this CPU runs.

    The quantized layers call the whole-layer kernels (``_qlayers.py``): with AVX-512
    VNNI or AVX2 those need only their own code (the int8 GEMM and convolution below
    compile on their first direct call); elsewhere they run on the int8 GEMM and
    convolution, compiled here too.
    """
    _qlayers.warmup()
    if _qlayers.path() == "portable":
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

"""Native CPU matmul: a cache-blocked, register-tiled GEMM written in Numba.

``matmul(a, b)`` has NumPy's semantics (``a @ b``): the last two axes are matrices,
leading axes are a batch that broadcasts, 1-D operands are promoted to a row or a
column and the extra axis is removed again. float32 and float64 run here; any other
result dtype (integers, complex, float16) is handed to ``np.matmul``.

How it is fast (the long version, with measurements, is docs/kernels-matmul.md)
---------------------------------------------------------------------------
A GEMM does 2mnk flops on m k + k n + m n numbers, so each number loaded must be
reused many times from registers and caches. Two micro-kernels read the operands
in place (a third packs them first, see 3. below); each keeps a 4 x 4 piece of the
work in registers and lets LLVM turn one loop into vector instructions (``fastmath``
here only allows reassociating sums and fusing multiply-adds: inf and nan still
behave as in NumPy):

1. **dot** (``_dot_4x4``): 4 entries x 4 entries of C, each a dot product of a row
   of A and a column of B walked together along k. Per vector step: 8 loads, 16
   FMAs, 16 accumulators in registers, summed across lanes at the end. Needs both
   operands contiguous along k and a long k. It is the natural kernel for
   ``x @ W.T`` (Linear's forward pass), where both already are.
2. **axpy** (``_axpy_4x4``): a 4 x 4 block of A sits in 16 registers while the
   kernel sweeps along 4 rows of C: ``C[i, :] += A[i, s] * B[s, :]``. Per vector
   step: 4 loads of B, 4 loads + 4 stores of C, 16 FMAs. Needs rows of B
   contiguous along n, reads A with any strides, and works for any k (even 1).
   The natural kernel for ``x @ W``, ``A.T @ B`` and im2col convolutions.

Around them:

* **Layouts without copies.** An operand is described by a flat buffer, an offset
  per matrix and two strides, so transposed views (the ops layer passes
  ``b.swapaxes(-1, -2)`` in backward), slices and broadcast batch axes are read in
  place. Only when a kernel needs unit stride along an axis the operand does not
  have, that operand is *packed* into a 64-byte-aligned workspace (a blocked
  transpose: O(size of the operand), next to O(m n k) for the product).
* **Cache blocking.** Each parallel task owns a block of C; k is walked in blocks
  so the piece of B being reused stays in L1/L2 (sizes in the constants below).
* **Parallelism.** ``prange`` over the blocks of C (and over batch entries), so no
  two threads write the same memory; blocks shrink until every thread has two.
* ``_plan`` picks the kernel from the shapes and strides.

3. **packed** (``_gemm.py``), for products big in every direction (``PACKED_MIN``): both
   operands are copied into the order a 6-row register tile of explicit vectors reads
   them, as the BLAS libraries do. Packing costs O(m k + k n) next to the O(m n k)
   product, and the tile then runs at the CPU's FMA rate; 0.9-1.05x OpenBLAS's time on
   square products from 512 to 2048, on one thread and on two.

Indexing note: every slice is taken first (``row = A[p:p + kc]``) and indexed from
0. A loop like ``for k in range(k0, k1): A[k]`` makes LLVM keep negative-index
wrap-around checks, and it then emits slow gathers instead of vector loads.
"""
from __future__ import annotations

import numpy as np

from . import _runtime  # first: it may configure Numba before Numba is imported
from .._contracts import check_matmul
from numba import njit, prange  # noqa: E402
from .._families import native_tables
from . import _gemm  # noqa: E402

__all__ = ["matmul", "naive_matmul", "KERNELS", "PREFERRED", "warmup"]

# Block sizes (measured on a 2-core AVX-512 machine, see docs/kernels-matmul.md)
DOT_MC, DOT_NC = 64, 128   # dot kernel: block of C per parallel task
DOT_KC_BYTES = 2048        # dot kernel: k-block, in bytes of one row (512 float32)
AXPY_MC, AXPY_NC = 64, 512  # axpy kernel: block of C per parallel task
AXPY_KC = 128              # axpy kernel: k-block (a multiple of 4)
DOT_MIN_K = 128            # below this the dot kernel's lane sums cost too much
AXPY_MIN_N = 128           # below this the axpy kernel's sweeps along n are too short
DOT_PACK_MIN = (512, 256, 256)  # (m, n, k) from which transposing B for the dot kernel pays
PACKED_MIN = (96, 64, 64)  # (m, n, k) from which the packed kernel (_gemm.py) runs

_JIT = dict(cache=True, fastmath={"reassoc", "contract"}, nogil=True)


# ----------------------------------------------------------------------------- the "dot" kernel

@njit(inline="always", **_JIT)
def _dot_4x4(A, pa0, pa1, pa2, pa3, B, pb0, pb1, pb2, pb3, kc, C, pc, ldc, mi, nj, accumulate, z):
    """C[0:mi, 0:nj] (+)= 4 rows of A . 4 columns of B, over kc elements of k.

    ``pa*`` / ``pb*`` are where the rows of A / columns of B start in the flat
    buffers A and B, each contiguous along k (rows past the matrix edge repeat the
    last valid one; their results are dropped),
    ``pc`` the offset of C[0, 0] and ``ldc`` the row stride of C. ``mi``/``nj``
    (1..4) say how many rows/columns of the tile are inside C. ``z`` is a zero of
    C's dtype (``c = 0.0`` would make the accumulators float64).
    """
    a0 = A[pa0:pa0 + kc]
    a1 = A[pa1:pa1 + kc]
    a2 = A[pa2:pa2 + kc]
    a3 = A[pa3:pa3 + kc]
    b0 = B[pb0:pb0 + kc]
    b1 = B[pb1:pb1 + kc]
    b2 = B[pb2:pb2 + kc]
    b3 = B[pb3:pb3 + kc]
    c00 = c01 = c02 = c03 = z
    c10 = c11 = c12 = c13 = z
    c20 = c21 = c22 = c23 = z
    c30 = c31 = c32 = c33 = z
    for k in range(kc):
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
    # write back the part of the tile that lies inside C
    _store_row(C, pc, nj, c00, c01, c02, c03, accumulate)
    if mi > 1:
        _store_row(C, pc + ldc, nj, c10, c11, c12, c13, accumulate)
    if mi > 2:
        _store_row(C, pc + 2 * ldc, nj, c20, c21, c22, c23, accumulate)
    if mi > 3:
        _store_row(C, pc + 3 * ldc, nj, c30, c31, c32, c33, accumulate)


@njit(inline="always", **_JIT)
def _four_rows(p, i, last, ld):
    """Where rows i..i+3 of a matrix (first element at p, row stride ld) start, for the
    dot kernel; rows past ``last`` repeat it (their results are dropped)."""
    return p + i * ld, p + min(i + 1, last) * ld, p + min(i + 2, last) * ld, p + min(i + 3, last) * ld


@njit(inline="always", **_JIT)
def _dot_4x1(A, pa0, pa1, pa2, pa3, B, pb, kc, z):
    """The 4 dot products of rows pa0..pa3 of A with the one column of B at pb, over kc
    elements of k (contiguous in both): the dot kernel's tile for a last lone column."""
    a0 = A[pa0:pa0 + kc]
    a1 = A[pa1:pa1 + kc]
    a2 = A[pa2:pa2 + kc]
    a3 = A[pa3:pa3 + kc]
    b = B[pb:pb + kc]
    c0 = c1 = c2 = c3 = z
    for k in range(kc):
        y = b[k]
        c0 += a0[k] * y
        c1 += a1[k] * y
        c2 += a2[k] * y
        c3 += a3[k] * y
    return c0, c1, c2, c3


@njit(inline="always", **_JIT)
def _store_row(C, p, nj, v0, v1, v2, v3, accumulate):
    row = C[p:p + nj]
    if accumulate:
        row[0] += v0
        if nj > 1:
            row[1] += v1
        if nj > 2:
            row[2] += v2
        if nj > 3:
            row[3] += v3
    else:
        row[0] = v0
        if nj > 1:
            row[1] = v1
        if nj > 2:
            row[2] = v2
        if nj > 3:
            row[3] = v3


# ----------------------------------------------------------------------------- packing

@njit(inline="always", **_JIT)
def _lead(n, itemsize):
    """Row stride (in elements) of a packed buffer holding rows of n elements.

    Rounded up to a multiple of 64 bytes so every row starts aligned, plus one more
    cache line when the stride is a multiple of 2 KiB: the L1 cache maps addresses
    2-4 KiB apart to the same few sets, and the 8 rows the micro-kernel streams (or
    the 16 rows a transposing pack writes) would evict each other.
    """
    per_line = 64 // itemsize
    ld = (n + per_line - 1) // per_line * per_line
    if (ld * itemsize) % 2048 == 0:
        ld += per_line
    return ld


@njit(parallel=True, **_JIT)
def _pack(X, x_off, sr, sl, R, L, P, ld):
    """Copy the R x L matrices X[q] into P with each row contiguous.

    Element (r, l) of matrix q is ``X[x_off[q] + r*sr + l*sl]``; it goes to
    ``P[(q*R + r)*ld + l]``. Used to turn transposed views into k-contiguous rows.
    """
    nq = x_off.shape[0]
    rb = 16
    mt = (R + rb - 1) // rb
    for t in prange(nq * mt):
        q = t // mt
        r0 = (t - q * mt) * rb
        r1 = min(r0 + rb, R)
        base = x_off[q]
        if sl <= sr:
            # l is the faster axis in memory: copy row by row
            for r in range(r0, r1):
                dst = P[(q * R + r) * ld:(q * R + r) * ld + L]
                src = base + r * sr
                if sl == 1:
                    dst[:] = X[src:src + L]  # a vectorised copy
                else:
                    for l in range(L):
                        dst[l] = X[src + l * sl]
        else:
            # r is the faster axis (a transposed view): transpose 16 x 16 blocks
            # through a small tile that stays in L1. Reads are whole cache lines
            # along r, writes whole cache lines along l.
            tile = np.empty((rb, rb), dtype=P.dtype)
            nr = r1 - r0
            for l0 in range(0, L, rb):
                nl = min(rb, L - l0)
                if nr == rb and nl == rb and sr == 1:
                    for l in range(rb):
                        src = X[base + (l0 + l) * sl + r0:base + (l0 + l) * sl + r0 + rb]
                        for r in range(rb):
                            tile[r, l] = src[r]
                    for r in range(rb):
                        dst = P[(q * R + r0 + r) * ld + l0:(q * R + r0 + r) * ld + l0 + rb]
                        row = tile[r]
                        for l in range(rb):
                            dst[l] = row[l]
                else:  # edges and odd strides, one element at a time
                    for l in range(l0, l0 + nl):
                        for r in range(r0, r1):
                            P[(q * R + r) * ld + l] = X[base + r * sr + l * sl]


# ----------------------------------------------------------------------------- the "axpy" kernel

@njit(inline="always", **_JIT)
def _axpy_4x4(A, pa, sam, sak, b0, b1, b2, b3, c0, c1, c2, c3, first):
    """(c0, c1, c2, c3) (+)= A[0:4, 0:4] @ (b0, b1, b2, b3), sweeping along 4 rows of C.

    The 16 numbers of A are loaded once into registers; then every step j reads
    one element from each of the 4 rows b0..b3 of B and updates the 4 rows c0..c3 of
    C (row views of equal length; the caller slices the rows of C once for all the
    k-steps of a block). LLVM vectorises the j loop: per vector of C columns, 4 loads
    of B, 4 loads + 4 stores of C and 16 FMAs. Element (r, s) of A is
    ``A[pa + r*sam + s*sak]`` (any strides).
    """
    a00 = A[pa]
    a01 = A[pa + sak]
    a02 = A[pa + 2 * sak]
    a03 = A[pa + 3 * sak]
    p = pa + sam
    a10 = A[p]
    a11 = A[p + sak]
    a12 = A[p + 2 * sak]
    a13 = A[p + 3 * sak]
    p += sam
    a20 = A[p]
    a21 = A[p + sak]
    a22 = A[p + 2 * sak]
    a23 = A[p + 3 * sak]
    p += sam
    a30 = A[p]
    a31 = A[p + sak]
    a32 = A[p + 2 * sak]
    a33 = A[p + 3 * sak]
    n = c0.shape[0]
    if first:
        for j in range(n):
            x0 = b0[j]
            x1 = b1[j]
            x2 = b2[j]
            x3 = b3[j]
            c0[j] = a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
            c1[j] = a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
            c2[j] = a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
            c3[j] = a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
    else:
        for j in range(n):
            x0 = b0[j]
            x1 = b1[j]
            x2 = b2[j]
            x3 = b3[j]
            c0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
            c1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
            c2[j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
            c3[j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3


@njit(inline="always", **_JIT)
def _four_slices(C, p, ld, n):
    """Rows 0..3 of n elements of a matrix in the flat buffer C (first at p, row stride ld)."""
    return C[p:p + n], C[p + ld:p + ld + n], C[p + 2 * ld:p + 2 * ld + n], C[p + 3 * ld:p + 3 * ld + n]


@njit(inline="always", **_JIT)
def _axpy_edge(A, pa, sam, sak, mr, ks, B, pb, ldb, C, pc, ldc, n, first):
    """The same update for an mr x ks corner of A (rows or k-steps left over)."""
    for r in range(mr):
        c = C[pc + r * ldc:pc + r * ldc + n]
        for s in range(ks):
            x = A[pa + r * sam + s * sak]
            b = B[pb + s * ldb:pb + s * ldb + n]
            if first and s == 0:
                for j in range(n):
                    c[j] = x * b[j]
            else:
                for j in range(n):
                    c[j] += x * b[j]


# ----------------------------------------------------------------------------- parallel tasks

@njit(inline="always", **_JIT)
def _task_count(nb, M, N, mc, nc):
    """How many mc x nc blocks the nb matrices of C (M x N each) make: one task each."""
    return nb * ((M + mc - 1) // mc) * ((N + nc - 1) // nc)


@njit(inline="always", **_JIT)
def _task(t, M, N, mc, nc):
    """Task t as (batch entry, first row, end row, first column, end column) of C:
    the blocks of each matrix row by row, matrix after matrix."""
    mt = (M + mc - 1) // mc
    nt = (N + nc - 1) // nc
    bi = t // (mt * nt)
    r = t - bi * (mt * nt)
    i0 = (r // nt) * mc
    j0 = (r - (r // nt) * nt) * nc
    return bi, i0, min(i0 + mc, M), j0, min(j0 + nc, N)


@njit(parallel=True, **_JIT)
def _blocked_axpy(A, a_off, a_idx, sam, sak, B, b_off, b_idx, ldb, C, M, N, K, mc, nc, kcb):
    """C[b] = A[a_idx[b]] @ B[b_idx[b]] with rows of B contiguous along n.

    Element (i, k) of A's matrix q is ``A[a_off[q] + i*sam + k*sak]``; row k of
    B's matrix q starts at ``b_off[q] + k*ldb``. Each task owns an mc x nc block
    of C; inside, k goes in blocks of kcb (a multiple of 4) so that the kcb x nc
    block of B stays in L2 while 4 rows of C (in L1) are swept by _axpy_4x4.
    """
    for t in prange(_task_count(a_idx.shape[0], M, N, mc, nc)):
        bi, i0, i1, j0, j1 = _task(t, M, N, mc, nc)
        n = j1 - j0
        pa = a_off[a_idx[bi]]
        pb = b_off[b_idx[bi]] + j0
        pc = bi * M * N + j0
        for k0 in range(0, K, kcb):
            k1 = min(k0 + kcb, K)
            kq = k0 + (k1 - k0) // 4 * 4  # end of the whole groups of 4 k-steps
            i = i0
            while i + 4 <= i1:
                c0, c1, c2, c3 = _four_slices(C, pc + i * N, N, n)
                for k in range(k0, kq, 4):
                    b0, b1, b2, b3 = _four_slices(B, pb + k * ldb, ldb, n)
                    _axpy_4x4(A, pa + i * sam + k * sak, sam, sak, b0, b1, b2, b3, c0, c1, c2, c3, k == 0)
                if kq < k1:
                    _axpy_edge(A, pa + i * sam + kq * sak, sam, sak, 4, k1 - kq, B, pb + kq * ldb, ldb,
                               C, pc + i * N, N, n, kq == 0)
                i += 4
            if i < i1:
                _axpy_edge(A, pa + i * sam + k0 * sak, sam, sak, i1 - i, k1 - k0, B, pb + k0 * ldb, ldb,
                           C, pc + i * N, N, n, k0 == 0)


@njit(parallel=True, **_JIT)
def _blocked_dot(A, a_off, a_idx, lda, B, b_off, b_idx, ldb, C, M, N, K, mc, nc, kcb, z):
    """C[b] = A[a_idx[b]] @ B[b_idx[b]] with rows of A and columns of B contiguous
    along k: row i of A's matrix q at ``a_off[q] + i*lda``, column j of B's at
    ``b_off[q] + j*ldb``. Each task owns an mc x nc block of C; k goes in blocks of
    kcb so that the 4 columns of B of one micro-tile stay in L1 while _dot_4x4
    walks down the rows of A (whose mc x kcb block stays in L2)."""
    for t in prange(_task_count(a_idx.shape[0], M, N, mc, nc)):
        bi, i0, i1, j0, j1 = _task(t, M, N, mc, nc)
        pa = a_off[a_idx[bi]]
        pb = b_off[b_idx[bi]]
        pc = bi * M * N
        for k0 in range(0, K, kcb):
            kc = min(kcb, K - k0)
            accumulate = k0 > 0
            for j in range(j0, j1, 4):
                nj = min(4, j1 - j)
                # columns past the edge repeat the last one (their results are dropped)
                pb0, pb1, pb2, pb3 = _four_rows(pb + k0, j, N - 1, ldb)
                for i in range(i0, i1, 4):
                    mi = min(4, i1 - i)
                    pa0, pa1, pa2, pa3 = _four_rows(pa + k0, i, M - 1, lda)
                    _dot_4x4(A, pa0, pa1, pa2, pa3, B, pb0, pb1, pb2, pb3, kc,
                             C, pc + i * N + j, N, mi, nj, accumulate, z)


@njit(cache=True)
def _naive_2d(a, b, out):
    """out = a @ b with three plain loops: the textbook definition."""
    M, K = a.shape
    N = b.shape[1]
    for i in range(M):
        for j in range(N):
            s = a[i, 0] * b[0, j]
            for k in range(1, K):
                s += a[i, k] * b[k, j]
            out[i, j] = s


# ----------------------------------------------------------------------------- Python side

_ZERO = np.zeros(1, dtype=np.int64)


def _readonly(x):
    """A read-only view of x. Every operand reaches Numba read-only (packed copies
    too), so each kernel is compiled once per dtype, whether or not the caller's
    array was writeable (Numba types read-only arrays separately)."""
    v = x.view()
    v.flags.writeable = False
    return v


def _rows(x):
    """A stack of matrices x (..., R, L) as (flat read-only buffer, own matrix
    offsets, sr, sl): element (r, l) of matrix q is ``flat[off[q] + r*sr + l*sl]``.
    No copy, unless x has negative strides (then one contiguous copy)."""
    R, L = x.shape[-2:]
    nq = 1
    for n in x.shape[:-2]:
        nq *= n
    dense = _ZERO if x.ndim == 2 else None
    if x.flags.c_contiguous:
        off = dense if dense is not None else np.arange(nq, dtype=np.int64) * (R * L)
        return _readonly(x.reshape(-1)), off, L, 1
    xt = x.swapaxes(-1, -2)
    if xt.flags.c_contiguous:
        off = dense if dense is not None else np.arange(nq, dtype=np.int64) * (R * L)
        return _readonly(xt.reshape(-1)), off, 1, R
    isz = x.itemsize
    if all(s >= 0 and s % isz == 0 for s in x.strides):
        # any other non-negative strides (slices, np.broadcast_to, ...): describe
        # the memory from x's first element on as one flat array
        st = [s // isz for s in x.strides]
        span = 1 + sum((n - 1) * s for n, s in zip(x.shape, st))
        flat = np.lib.stride_tricks.as_strided(x, shape=(span,), strides=(isz,), writeable=False)
        off = np.zeros(1, dtype=np.int64)
        for n, s in zip(x.shape[:-2], st[:-2]):
            off = (off[:, None] + np.arange(n, dtype=np.int64)[None, :] * s).reshape(-1)
        return flat, off, st[-2], st[-1]
    return _rows(np.array(x, order="C"))  # negative strides


def _batch_index(own_batch, batch):
    """For each entry of the output batch (C order), which matrix of the operand."""
    n = int(np.prod(own_batch, dtype=np.int64))
    if own_batch == batch:
        return _ZERO if n == 1 else np.arange(n, dtype=np.int64)
    return np.ascontiguousarray(np.broadcast_to(np.arange(n, dtype=np.int64).reshape(own_batch), batch).reshape(-1))


def _plan(nb, M, N, K, b_sr, b_sk, threads, kernel=None):
    """Pick the kernel and the block of C per task for one product.

    The dot kernel needs columns of B contiguous along k and a long k: it runs when
    B already is k-contiguous (``x @ W.T``, the forward pass of a Linear layer),
    when n is too small for the axpy kernel, or when the product is big enough that
    transposing B costs little next to it. Everything else (``x @ W``, small k, odd
    strides) goes to the axpy kernel, which reads rows of B as they are.
    """
    m0, n0, k0 = DOT_PACK_MIN
    if K < DOT_MIN_K:
        use_dot = False                # too short for vectors along k
    elif b_sk == 1:
        use_dot = True                 # B^T already has contiguous rows: x @ W.T
    elif N < AXPY_MIN_N:
        use_dot = True                 # rows of C too short to sweep; B is small to pack
    else:
        use_dot = M >= m0 and N >= n0 and K >= k0  # packing B is cheap next to the product
    if kernel is not None:
        if kernel not in ("dot", "axpy"):
            raise ValueError(f"matmul: unknown kernel {kernel!r}; valid: 'dot', 'axpy', 'packed' or None")
        use_dot = kernel == "dot"
    if use_dot:
        mc, nc, mc_min, nc_min = DOT_MC, DOT_NC, 16, 32
    else:
        mc, nc, mc_min, nc_min = AXPY_MC, AXPY_NC, 8, 64
    # smaller blocks until every thread gets two tasks (or the blocks are small)
    while nb * (-(-M // mc)) * (-(-N // nc)) < 2 * threads:
        if mc > mc_min and M > mc // 2:
            mc //= 2
        elif nc > nc_min and N > nc // 2:
            nc //= 2
        else:
            break
    # then spread the rows/columns evenly over that many blocks (784 columns in
    # blocks of 512 would make one task of 512 and one of 272; 2 x 400 is fairer)
    mc = _even(M, mc, 4)
    nc = _even(N, nc, 16 if not use_dot else 4)
    return use_dot, mc, nc


def _packed_pays(M, N, K):
    """True when a product is big enough in every direction for the packed kernel: its
    packing is O(M K + K N), small next to the M N K multiply-adds, and its 6-row tiles
    and NR-column panels are mostly full."""
    return M >= PACKED_MIN[0] and N >= PACKED_MIN[1] and K >= PACKED_MIN[2]


def _even(n, block, multiple):
    """The smallest multiple of ``multiple`` that cuts n into as many blocks as ``block`` does."""
    count = -(-n // block)
    size = -(-n // count)
    return -(-size // multiple) * multiple


def matmul(a, b):
    """``a @ b`` with NumPy semantics, computed by the blocked Numba GEMM.

    Operands may be any strided views: transposes are read in place or packed block
    by block, never copied whole by NumPy. float32 and float64 run natively (mixed
    operands are promoted as NumPy does); other dtypes go to ``np.matmul``.
    The shapes are checked first, by ``_contracts.check_matmul``.
    """
    if type(a) is not np.ndarray:
        a = np.asarray(a)
    if type(b) is not np.ndarray:
        b = np.asarray(b)
    check_matmul(a, b)
    if a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and (
            a.size * b.shape[-1] <= SMALL_WORK or _skinny(a.shape[0], b.shape[1], a.shape[1])):
        # Tiny 2-D products (an RNN step, a 4x4 test): waking two Numba threads and planning
        # blocks costs more than the arithmetic, so one BLAS call (single-threaded under
        # our threading policy) does them; so do small skinny ones (see _skinny). The
        # blocked kernels are for real work; the tests exercise them on small shapes
        # too, through _matmul.
        return np.matmul(a, b)
    if (a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and b.shape[1] < AXPY_MIN_N <= a.shape[0]
            and a.shape[1] >= DOT_MIN_K and a.strides[1] != a.itemsize and b.strides[1] == b.itemsize):
        # (M, K) @ (K, N) with a long K, few columns N and A not contiguous along k:
        # the gradient of a Linear layer's weight, gy.T @ x, with more outputs than
        # inputs. The dot kernel would have to pack (transpose) both operands; the
        # transposed product C^T = B^T A^T runs on the axpy kernel reading both as they
        # are (its rows, M of them, are long enough to sweep). Measured 1.3-1.4x faster
        # for (192, 2048) @ (2048, 64); the final transpose copies only M x N numbers.
        return np.ascontiguousarray(_matmul(b.T, a.T, None).T)
    return _matmul(a, b, None)


#: below this many multiply-adds (batch * M * K * N) ``matmul`` hands the product to BLAS
SMALL_WORK = 32 * 32 * 32
#: a dimension below this is "skinny": a register tile 6 rows by 16-32 columns is mostly
#: padding along it, and the k loop is too short to pay for the blocking (see _skinny)
SKINNY = 16
SKINNY_WORK = 1 << 20   # multiply-adds up to which a skinny product goes to BLAS
SKINNY_K = 64           # ... and up to which k, whatever the work, when M or N is skinny


def _skinny(M, N, K):
    """True for 2-D products that one BLAS thread does faster than the native kernels on
    two: a classifier head and its gradients (448 x 64 by 64 x 13: 10 us in BLAS, 59 us
    native; the weight gradient 13 x 448 by 448 x 64: 9 against 51; AMD EPYC Zen 4, every
    operand layout, 2 threads and 1; ``python benchmarks/kernels.py --section skinny``
    times them). From about 10^6 multiply-adds with k >= 128 the native kernels win
    again (2048 x 256 by 256 x 8: 100 us against 200), as when only k is skinny and the
    product is big."""
    work = M * N * K
    if min(M, N) < SKINNY:
        return work <= SKINNY_WORK or K <= SKINNY_K
    return K < SKINNY and work <= SKINNY_WORK


def _matmul(a, b, kernel):
    """matmul with the kernel forced to "dot" or "axpy" (None: let _plan choose).
    The tests use this to check both kernels on every layout. The shapes must
    already have passed ``check_matmul`` (``matmul`` checks them on entry)."""
    if type(a) is not np.ndarray:
        a = np.asarray(a)
    if type(b) is not np.ndarray:
        b = np.asarray(b)
    dt = a.dtype
    if dt != b.dtype:
        dt = np.result_type(a.dtype, b.dtype)
    if dt != np.float32 and dt != np.float64:
        return np.matmul(a, b)
    squeeze_a = a.ndim == 1
    squeeze_b = b.ndim == 1
    if squeeze_a:
        a = a[None, :]
    if squeeze_b:
        b = b[:, None]
    if a.dtype != dt:
        a = a.astype(dt)
    if b.dtype != dt:
        b = b.astype(dt)
    M, K = a.shape[-2:]
    N = b.shape[-1]
    if a.ndim == 2 and b.ndim == 2:
        batch = ()
    else:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    out = np.empty(batch + (M, N), dtype=dt)
    if out.size:
        if K == 0:
            out[...] = 0
        else:
            _run(a, b, batch, out.reshape(-1), M, N, K, kernel)
    if squeeze_a or squeeze_b:
        shape = batch + ((M,) if not squeeze_a else ()) + ((N,) if not squeeze_b else ())
        return out.reshape(shape)
    return out


def _run(a, b, batch, C, M, N, K, kernel=None):
    """Describe the operands, pick a kernel, pack what it needs, run it.

    Operands travel as flat buffers plus strides (in elements): element (i, k) of
    matrix q of A is ``fa[a_off[q] + i*a_sr + k*a_sk]`` and element (k, j) of matrix
    q of B is ``fb[b_off[q] + j*b_sr + k*b_sk]``. a_idx/b_idx map each batch entry
    of C to a matrix of A/B: that is how batch broadcasting works, without copies.
    """
    _runtime.configure()
    dt = C.dtype
    isz = dt.itemsize
    fa, a_off, a_sr, a_sk = _rows(a)
    fb, b_off, b_sr, b_sk = _rows(b.swapaxes(-1, -2))  # B^T: element (j, k)
    if batch:
        a_idx = _batch_index(a.shape[:-2], batch)
        b_idx = _batch_index(b.shape[:-2], batch)
    else:
        a_idx = b_idx = _ZERO
    nb = C.shape[0] // (M * N)
    if kernel == "packed" or (kernel is None and _packed_pays(M, N, K)):
        threads = _runtime.get_num_threads()

        def work(name, n):
            return _runtime.workspace(name, n, dt)
        for q in range(nb):
            _gemm.gemm(fa, int(a_off[a_idx[q]]), a_sr, a_sk, fb, int(b_off[b_idx[q]]), b_sr, b_sk,
                       C, q * M * N, M, N, K, threads, work)
        return
    use_dot, mc, nc = _plan(nb, M, N, K, b_sr, b_sk, _runtime.get_num_threads(), kernel)
    if use_dot:
        # rows of A and columns of B must be contiguous along k
        lda, ldb = a_sr, b_sr
        if a_sk != 1 and K > 1:
            lda = _lead.py_func(K, isz)
            P = _runtime.workspace("matmul_a", a_off.shape[0] * M * lda, dt)
            _pack(fa, a_off, a_sr, a_sk, M, K, P, lda)
            fa, a_off = _readonly(P), np.arange(a_off.shape[0], dtype=np.int64) * (M * lda)
        if b_sk != 1 and K > 1:
            ldb = _lead.py_func(K, isz)
            P = _runtime.workspace("matmul_b", b_off.shape[0] * N * ldb, dt)
            _pack(fb, b_off, b_sr, b_sk, N, K, P, ldb)
            fb, b_off = _readonly(P), np.arange(b_off.shape[0], dtype=np.int64) * (N * ldb)
        _blocked_dot(fa, a_off, a_idx, lda, fb, b_off, b_idx, ldb, C, M, N, K,
                     mc, nc, DOT_KC_BYTES // isz, dt.type(0))
    else:
        # rows of B must be contiguous along n; A may have any strides
        ldb = b_sk
        if b_sr != 1 and N > 1:
            ldb = _lead.py_func(N, isz)
            P = _runtime.workspace("matmul_b", b_off.shape[0] * K * ldb, dt)
            _pack(fb, b_off, b_sk, b_sr, K, N, P, ldb)
            fb, b_off = _readonly(P), np.arange(b_off.shape[0], dtype=np.int64) * (K * ldb)
        _blocked_axpy(fa, a_off, a_idx, a_sr, a_sk, fb, b_off, b_idx, ldb, C, M, N, K, mc, nc, AXPY_KC)


def naive_matmul(a, b):
    """``a @ b`` for 2-D arrays with a plain triple loop in Numba (for teaching and
    for the benchmark's baseline): no blocking, no tiling, no threads."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"naive_matmul: expects two 2-D arrays, got shapes {a.shape} and {b.shape}")
    check_matmul(a, b, "naive_matmul")
    dt = np.result_type(a.dtype, b.dtype)
    out = np.zeros((a.shape[0], b.shape[1]), dtype=dt)
    if a.shape[1]:
        _naive_2d(a.astype(dt, copy=False), b.astype(dt, copy=False), out)
    return out


KERNELS, PREFERRED = native_tables("matmul", globals())   # every op above; native unless measured slower


def warmup(dtypes=(np.float32, np.float64)):
    """Compile (or load from the on-disk cache) every specialisation matmul uses, for each of ``dtypes``."""
    # through _matmul: shapes this small would go to BLAS through matmul, compiling nothing
    for dt in dtypes:
        x = np.ones((5, 20), dt)
        for kernel in ("dot", "axpy", "packed"):
            _matmul(x, x.T, kernel)            # operands read in place
            _matmul(x.T, x, kernel)            # operands packed first
            _matmul(x[:, :3], x[:3], kernel)   # small k
        y = np.ones((2, 5, 20), dt)
        _matmul(y, x.T, None)                  # a batch

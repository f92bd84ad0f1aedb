"""The "packed" GEMM of :mod:`minigrad.kernels.cpu.matmul`: the layout of the BLAS libraries,
for the big products where the last 15-30% of the hardware's speed is at stake.

``matmul``'s other two kernels (``dot`` and ``axpy``) read the operands where they lie
and let LLVM vectorise a loop of scalar multiply-adds. This one copies ("packs") both
operands into the order its register tile reads them, and spells the tile out in
vector registers (``_simd``'s ``fvload`` / ``fvsplat`` / ``fvfma``):

* **The register tile** is MR = 6 rows of C by NR columns: 2 vectors (NR = 32 float32)
  with AVX-512, 1 vector of 64 bytes elsewhere (NR = 16 float32: two 256-bit registers
  on AVX2). Its 12 accumulator registers stay in registers for the whole k loop; per
  step k it loads NR numbers of B, broadcasts 6 numbers of A and issues 12 FMAs. That
  fits AVX2's 16 vector registers (12 + 2 + 1) and leaves AVX-512's 32 half free.
* **Packed A**: a block of MC rows x KC of k, as panels of 6 rows, each stored k by k
  (``ap[panel, k, 0:6]``): the 6 numbers a step broadcasts are adjacent.
* **Packed B**: KC rows of k x all N columns, as panels of NR columns, each stored k by
  k (``bp[panel, k, 0:NR]``): the vector a step loads is contiguous, and a panel is
  read from start to end. Every thread packs part of it, then all use all of it.
* Zero padding past the last row of A and column of B keeps every tile full-size;
  tiles on the edge of C go through a small buffer, and only their part inside C is
  written.
* **Threads**: each thread takes a contiguous range of panels of C's rows (of its
  columns instead, when C is short and wide: fewer than 4 row panels per thread and
  more column panels than row panels) and its own packing buffer for A: no two threads
  write the same memory, and the work is split to within one panel.

Loop order, outside in: B packed (whole, up to PACK_ALL_BYTES, else one block of KC
steps of k at a time), then in each thread: blocks of KC along k (the first block
stores into C, the others add to it), blocks of MC rows (pack A), blocks of NC columns,
then the panels: for each panel of A (in L1), every panel of B in the column block (in
L2).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._runtime import thread_share
from ._simd import (VECTOR_BYTES, float_vector_bytes, fvadd, fvfma, fvload, fvsplat, fvstore, fvzero,
                    transpose_flat)

MR = 6                     # rows of the register tile
NV = 2 if float_vector_bytes() >= 64 else 1   # VECTOR_BYTES vectors per row of the tile
KC = 256                   # k per packed block
MC = 96                    # rows of A packed at once (a multiple of MR)
NC = 512                   # columns of B swept per packed block of A (a multiple of NR)
PACK_COLS = 256            # columns of B one packing task copies (a multiple of NR)
PACK_ALL_BYTES = 16 << 20  # B packed in one call up to this size, else one block of k at a time

_JIT = dict(cache=True, fastmath={"reassoc", "contract"}, nogil=True)   # as matmul.py: inf and nan as in NumPy


def tile_width(dtype) -> int:
    """NR: columns of C per register tile for ``dtype``."""
    return NV * VECTOR_BYTES // np.dtype(dtype).itemsize


# ----------------------------------------------------------------------------- the register tile

@njit(inline="always", **_JIT)
def _tile_6x2(ap, pa, bp, pb, kc, L):
    """Twelve vectors: rows 0..5 of the tile, columns 0..L-1 (c*) and L..2L-1 (d*)."""
    c0 = c1 = c2 = c3 = c4 = c5 = fvzero(bp)
    d0 = d1 = d2 = d3 = d4 = d5 = fvzero(bp)
    for k in range(kc):
        q = pb + k * 2 * L
        y = fvload(bp, q)
        z = fvload(bp, q + L)
        p = pa + k * MR
        x = fvsplat(ap, p)
        c0 = fvfma(c0, x, y)
        d0 = fvfma(d0, x, z)
        x = fvsplat(ap, p + 1)
        c1 = fvfma(c1, x, y)
        d1 = fvfma(d1, x, z)
        x = fvsplat(ap, p + 2)
        c2 = fvfma(c2, x, y)
        d2 = fvfma(d2, x, z)
        x = fvsplat(ap, p + 3)
        c3 = fvfma(c3, x, y)
        d3 = fvfma(d3, x, z)
        x = fvsplat(ap, p + 4)
        c4 = fvfma(c4, x, y)
        d4 = fvfma(d4, x, z)
        x = fvsplat(ap, p + 5)
        c5 = fvfma(c5, x, y)
        d5 = fvfma(d5, x, z)
    return c0, c1, c2, c3, c4, c5, d0, d1, d2, d3, d4, d5


@njit(inline="always", **_JIT)
def _tile_6x1(ap, pa, bp, pb, kc, L):
    """Six vectors: rows 0..5 of the tile, columns 0..L-1."""
    c0 = c1 = c2 = c3 = c4 = c5 = fvzero(bp)
    for k in range(kc):
        y = fvload(bp, pb + k * L)
        p = pa + k * MR
        c0 = fvfma(c0, fvsplat(ap, p), y)
        c1 = fvfma(c1, fvsplat(ap, p + 1), y)
        c2 = fvfma(c2, fvsplat(ap, p + 2), y)
        c3 = fvfma(c3, fvsplat(ap, p + 3), y)
        c4 = fvfma(c4, fvsplat(ap, p + 4), y)
        c5 = fvfma(c5, fvsplat(ap, p + 5), y)
    return c0, c1, c2, c3, c4, c5


@njit(inline="always", **_JIT)
def _put(c, q, v, first):
    """c[q:q + L] = v on the first block of k, += v after."""
    if first:
        fvstore(c, q, v)
    else:
        fvstore(c, q, fvadd(fvload(c, q), v))


@njit(inline="always", **_JIT)
def _put6(c, q, ld, v0, v1, v2, v3, v4, v5, first):
    """Six vectors into six rows ``ld`` apart, from c[q] on."""
    _put(c, q, v0, first)
    _put(c, q + ld, v1, first)
    _put(c, q + 2 * ld, v2, first)
    _put(c, q + 3 * ld, v3, first)
    _put(c, q + 4 * ld, v4, first)
    _put(c, q + 5 * ld, v5, first)


@njit(inline="always", **_JIT)
def _tile_into_6x2(dst, q, ld, ap, pa, bp, pb, kc, L, first):
    """The 6 x 2L tile of panels ap[pa..] and bp[pb..] into dst[q..] (rows ld apart)."""
    v0, v1, v2, v3, v4, v5, w0, w1, w2, w3, w4, w5 = _tile_6x2(ap, pa, bp, pb, kc, L)
    _put6(dst, q, ld, v0, v1, v2, v3, v4, v5, first)
    _put6(dst, q + L, ld, w0, w1, w2, w3, w4, w5, first)


@njit(inline="always", **_JIT)
def _tile_into_6x1(dst, q, ld, ap, pa, bp, pb, kc, L, first):
    """The 6 x L tile of panels ap[pa..] and bp[pb..] into dst[q..] (rows ld apart)."""
    v0, v1, v2, v3, v4, v5 = _tile_6x1(ap, pa, bp, pb, kc, L)
    _put6(dst, q, ld, v0, v1, v2, v3, v4, v5, first)


# chosen once: only the tile of this CPU is compiled
_tile_into = _tile_into_6x2 if NV == 2 else _tile_into_6x1


@njit(**_JIT)
def _panels(ap, pa0, npa, bp, pb0, npb, kc, c, pc, ldc, rows, cols, first, buf):
    """C (+)= npa panels of packed A times npb panels of packed B, over kc steps of k.

    The tile of panels (ia, ib) goes to rows 6 ia.., columns NR ib.. of the C block
    starting at c[pc] (row stride ldc), whose ``rows`` x ``cols`` entries lie inside C.
    """
    L = VECTOR_BYTES // c.itemsize
    NR = NV * L
    for ia in range(npa):
        pa = pa0 + ia * kc * MR
        r0 = ia * MR
        for ib in range(npb):
            pb = pb0 + ib * kc * NR
            c0 = ib * NR
            full = r0 + MR <= rows and c0 + NR <= cols
            # a tile on the edge of C is written to buf (rows of NR), then its inside part to C
            dst, q, ld = (c, pc + r0 * ldc + c0, ldc) if full else (buf, 0, NR)
            _tile_into(dst, q, ld, ap, pa, bp, pb, kc, L, first or not full)
            if not full:
                for r in range(min(MR, rows - r0)):
                    row = c[pc + (r0 + r) * ldc + c0:pc + (r0 + r) * ldc + min(cols, c0 + NR)]
                    src = buf[r * NR:r * NR + row.shape[0]]
                    if first:
                        row[:] = src
                    else:
                        for t in range(row.shape[0]):
                            row[t] += src[t]


# ----------------------------------------------------------------------------- packing

@njit(inline="always", **_JIT)
def _pack_a(A, pa, sam, sak, rows, kc, ap):
    """ap[panel, k, r] = A[pa + (6 panel + r) sam + k sak] for the ``rows`` x kc block; zeros
    in the rows past ``rows``. Walks A along its contiguous axis."""
    for p in range(0, rows, MR):
        base = (p // MR) * kc * MR
        nr = min(MR, rows - p)
        dst = ap[base:base + kc * MR]
        if sak == 1:                       # rows of A contiguous: read each row along k
            for r in range(nr):
                src = A[pa + (p + r) * sam:pa + (p + r) * sam + kc]
                for k in range(kc):
                    dst[k * MR + r] = src[k]
        else:
            for k in range(kc):
                s = pa + p * sam + k * sak
                for r in range(nr):
                    dst[k * MR + r] = A[s + r * sam]
        for r in range(nr, MR):
            for k in range(kc):
                dst[k * MR + r] = 0


@njit(inline="always", **_JIT)
def _pack_b_group(B, pb, sbn, sbk, N, kc, bp, NR, g, per, npan):
    """Panels g*per .. of one block of kc steps of k: bp[panel, k, t] = B[pb + (NR panel +
    t) sbn + k sbk]; zeros past column N."""
    p_end = min(npan, (g + 1) * per)
    if sbn == 1:                       # rows of B contiguous along n
        for k in range(kc):
            s = pb + k * sbk
            for p in range(g * per, p_end):
                dst = bp[(p * kc + k) * NR:(p * kc + k + 1) * NR]
                n0 = p * NR
                nt = min(NR, N - n0)
                src = B[s + n0:s + n0 + nt]
                for t in range(nt):
                    dst[t] = src[t]
                for t in range(nt, NR):
                    dst[t] = 0
    else:
        for p in range(g * per, p_end):
            n0 = p * NR
            nt = min(NR, N - n0)
            base = p * kc * NR
            if sbk == 1:                   # columns of B contiguous along k (B^T row-major)
                transpose_flat(B, pb + n0 * sbn, sbn, nt, kc, bp, base, NR)
            else:                          # any other strides: element by element
                for k in range(kc):
                    for t in range(nt):
                        bp[base + k * NR + t] = B[pb + (n0 + t) * sbn + k * sbk]
            for k in range(kc):
                for t in range(nt, NR):
                    bp[base + k * NR + t] = 0


@njit(parallel=True, **_JIT)
def _pack_b(B, pb, sbn, sbk, N, K, kcb, kb0, kb1, bp, NR, nthreads):
    """Blocks kb0..kb1-1 of kcb steps of k of B, all N columns, one after the other in bp
    (block kb at (kb - kb0) * npan * kcb * NR). One task per PACK_COLS columns (whole cache
    lines of a row of B when its columns are contiguous), fewer when that leaves a thread
    without two."""
    npan = (N + NR - 1) // NR
    per = max(1, min(PACK_COLS // NR, (npan + 2 * nthreads - 1) // (2 * nthreads)))   # 2 tasks per thread
    for g in prange((npan + per - 1) // per):
        for kb in range(kb0, kb1):
            k0 = kb * kcb
            _pack_b_group(B, pb + k0 * sbk, sbn, sbk, N, min(kcb, K - k0), bp[(kb - kb0) * npan * kcb * NR:],
                          NR, g, per, npan)


# ----------------------------------------------------------------------------- the driver

@njit(parallel=True, **_JIT)
def _compute(A, pa, sam, sak, K, kcb, kb0, kb1, bp, C, pc, M, N, nthreads, apw, bufw, split_m, NR):
    """Blocks kb0..kb1-1 of k (packed in bp by _pack_b): every thread multiplies its share
    of C's row (or column) panels, block after block; no thread waits for another."""
    mp = (M + MR - 1) // MR
    np_ = (N + NR - 1) // NR
    for th in prange(nthreads):
        ap = apw[th]
        buf = bufw[th]
        if split_m:
            lo, hi = thread_share(mp, nthreads, th)       # in panels of MR rows
            m_lo, m_hi = lo * MR, min(M, hi * MR)
            n_lo, n_hi = 0, N
        else:
            lo, hi = thread_share(np_, nthreads, th)      # in panels of NR columns
            m_lo, m_hi = 0, M
            n_lo, n_hi = lo * NR, min(N, hi * NR)
        for kb in range(kb0, kb1):
            k0 = kb * kcb
            kc = min(kcb, K - k0)
            bk = bp[(kb - kb0) * np_ * kcb * NR:]
            for i0 in range(m_lo, m_hi, MC):
                rows = min(MC, m_hi - i0)
                _pack_a(A, pa + i0 * sam + k0 * sak, sam, sak, rows, kc, ap)
                npa = (rows + MR - 1) // MR
                for j0 in range(n_lo, n_hi, NC):
                    cols = min(NC, n_hi - j0)
                    _panels(ap, 0, npa, bk, (j0 // NR) * kc * NR, (cols + NR - 1) // NR, kc,
                            C, pc + i0 * N + j0, N, rows, cols, kb == 0, buf)


def k_blocks(K):
    """(number of k blocks, their length kcb): K in equal blocks of at most KC."""
    nkb = -(-K // KC)
    return nkb, -(-K // nkb)


def pack_b_whole(B, pb, sbn, sbk, N, K, dtype, work):
    """All of B packed, every block of k (the layout ``_gemm_blocks`` uses when B fits), into
    ``work("gemm_shared_b", n)``, on the calling thread: for a small B that several
    products share. Returns ``(bp, kcb)`` for :func:`rows_times_packed`."""
    NR = tile_width(dtype)
    nkb, kcb = k_blocks(K)
    bp = work("gemm_shared_b", -(-N // NR) * NR * kcb * nkb)
    _pack_b_serial(B, pb, sbn, sbk, N, K, kcb, nkb, bp, NR)
    return bp, kcb


@njit(**_JIT)
def _pack_b_serial(B, pb, sbn, sbk, N, K, kcb, nkb, bp, NR):
    """What _pack_b does, on one thread."""
    npan = (N + NR - 1) // NR
    for kb in range(nkb):
        k0 = kb * kcb
        _pack_b_group(B, pb + k0 * sbk, sbn, sbk, N, min(kcb, K - k0), bp[kb * npan * kcb * NR:], NR, 0, npan, npan)


@njit(**_JIT)
def rows_times_packed(A, pa, sam, sak, rows, K, kcb, bp, N, C, pc, ldc, ap, buf):
    """C[pc + r ldc + j] = sum over k of A[pa + r sam + k sak] B[k, j], for r < rows and
    j < N, with all of B packed in ``bp`` by :func:`pack_b_whole`; on the calling
    thread (``ap``: MC x kcb of scratch, ``buf``: MR x NR). For products split by rows
    between threads that each go on with their own rows, as the steps of a recurrent
    layer do (``kernels/cpu/rnn.py``): no thread waits for another."""
    NR = NV * (VECTOR_BYTES // C.itemsize)
    npan = (N + NR - 1) // NR
    nkb = (K + kcb - 1) // kcb
    for kb in range(nkb):
        k0 = kb * kcb
        kc = min(kcb, K - k0)
        bk = bp[kb * npan * kcb * NR:]
        for i0 in range(0, rows, MC):
            r = min(MC, rows - i0)
            _pack_a(A, pa + i0 * sam + k0 * sak, sam, sak, r, kc, ap)
            npa = (r + MR - 1) // MR
            for j0 in range(0, N, NC):
                cols = min(NC, N - j0)
                _panels(ap, 0, npa, bk, (j0 // NR) * kc * NR, (cols + NR - 1) // NR, kc,
                        C, pc + i0 * ldc + j0, ldc, r, cols, kb == 0, buf)


@njit(**_JIT)
def _gemm_blocks(A, pa, sam, sak, B, pb, sbn, sbk, C, pc, M, N, K, nthreads, ws, NR, nkb, kcb, together, split_m):
    """The whole product in one call from Python: ``ws`` holds the packed B, every
    thread's packed A and tile buffer, one after the other; then the blocks of k,
    ``together`` at a time, are packed and multiplied. (Calling _pack_b and _compute
    from Python, with three scratch buffers asked for separately, cost 9 us a product:
    a third of a 448 x 64 x 64 product on two threads.)"""
    npan = (N + NR - 1) // NR
    nb = npan * kcb * NR * together
    na = MC * kcb
    bp = ws[:nb]
    apw = ws[nb:nb + nthreads * na].reshape((nthreads, na))
    nt = MR * NR
    bufw = ws[nb + nthreads * na:nb + nthreads * (na + nt)].reshape((nthreads, nt))
    for kb0 in range(0, nkb, together):
        kb1 = min(nkb, kb0 + together)
        _pack_b(B, pb, sbn, sbk, N, K, kcb, kb0, kb1, bp, NR, nthreads)
        _compute(A, pa, sam, sak, K, kcb, kb0, kb1, bp, C, pc, M, N, nthreads, apw, bufw, split_m, NR)


def gemm(A, pa, sam, sak, B, pb, sbn, sbk, C, pc, M, N, K, nthreads, work):
    """C[pc:pc + M*N] (as an M x N C-contiguous matrix) = A @ B.

    A and B are flat buffers: element (i, k) of A is ``A[pa + i*sam + k*sak]``, element
    (k, j) of B is ``B[pb + j*sbn + k*sbk]`` (matmul's operand descriptors). ``work(name,
    n)`` returns a scratch buffer of C's dtype (matmul passes its per-thread workspaces).
    """
    dt = C.dtype
    NR = tile_width(dt)
    npan = (N + NR - 1) // NR
    nkb, kcb = k_blocks(K)                # K in equal blocks of at most KC
    # B packed whole when it is small enough (two parallel calls per product, not two
    # per block of k: each call wakes the threads and waits for the slowest)
    together = nkb if npan * NR * kcb * nkb * dt.itemsize <= PACK_ALL_BYTES else 1
    ws = work("gemm", npan * kcb * NR * together + nthreads * (MC * kcb + MR * NR))
    split_m = (M + MR - 1) // MR >= npan or (M + MR - 1) // MR >= 4 * nthreads
    _gemm_blocks(A, pa, sam, sak, B, pb, sbn, sbk, C, pc, M, N, K, nthreads, ws, NR, nkb, kcb, together, split_m)

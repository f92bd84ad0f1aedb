"""Native fused scaled dot-product attention for the CPU (Numba): a FlashAttention-style
forward and backward that never builds the (Tq, Tk) score matrix.

Same signatures, mask convention and maths as :mod:`minigrad.kernels.reference.attention`
(read that docstring first). The design, with measurements, is in
``docs/kernels-attention.md``; the short version:

Forward (one task per (batch, head), or per chunk of query rows when B * H is small)
------------------------------------------------------------------------------------
For 4 query rows at a time, walk the keys in blocks of ``FWD_KEY_BLOCK``::

    S     = scale * Q4 @ K_blk^T + mask        (4 x FWD_KEY_BLOCK scores, in a small buffer)
    m_new = max(m, rowmax(S))                  (running max of each row)
    P     = exp(S - m_new)
    l     = l * exp(m - m_new) + rowsum(P)     (running sum, rescaled to the new max)
    O     = O * exp(m - m_new) + P @ V_blk     (running output, rescaled the same way)

and finish with ``out = O / l`` and ``lse = m + log(l)``, which the backward uses to
recompute P exactly. This is the *online softmax*: a row's normaliser is known only
after its last key, so everything accumulated so far is rescaled whenever the
running max grows. With ``is_causal`` the key loop stops at the diagonal (and the
last block is cut at the last key any of the 4 rows may see), so causal attention
does about half the work.

Backward (one task per chunk of (batch, head) pairs, a few chunks per thread)
-----------------------------------------------------------------------------
For each block of ``BWD_ROWS`` query rows (fewer for a short sequence: the rows up to
a multiple of 4) and each block of ``KEY_BLOCK`` keys, recompute
``P = exp(S - lse)``, then ``dP = dO @ V^T``, ``dS = P * (dP - D)`` with
``D = rowsum(dO * out)``, and accumulate ``dQ += dS @ K``, ``dK += dS^T @ Q``,
``dV += P^T @ dO``. All of a head's dK and dV are summed by one task, so no two
threads ever add into the same memory (the price: with fewer (batch, head) pairs
than cores, the backward leaves cores idle).

The register tile
-----------------
Every product above is done by :func:`_tile4`, which computes a 4 x ``TILE_W`` block
``C (+)= A @ B`` with ``B`` read along contiguous rows. Its 4 accumulator rows
live in :func:`stack_empty` arrays: small fixed-size arrays on the *stack* (an LLVM
``alloca``), which LLVM promotes to vector registers. The same loop over heap
arrays (``np.empty``) keeps the accumulators in memory and ran 3x slower. To give
every product that layout, each task first copies its operands into zero-padded
scratch buffers: K transposed (``KT``, keys along rows), V, Q and dO padded to
multiples of the tile sizes. The padding is what lets every tile be full-size;
padded keys are masked out (-inf) and padded rows are dropped.

Short sequences
---------------
Up to ``SHORT_T`` keys (a seq2seq batch of 7-token strings) the tiles' padding costs more
than the work, and :func:`_sdpa_fwd_short` / :func:`_sdpa_bwd_short` run instead: one
row's scores are the lanes of one vector (K copied transposed, zero-padded to
``SHORT_T`` columns), the softmax runs in flat loops over all of a pair's rows, and
the products are explicit vector multiply-adds (``_simd``'s float vectors).

Fully masked query rows give zeros (out, gradients) and lse = -inf (PyTorch: NaN). A NaN
or inf score (from a NaN/inf query or key, or a NaN in a float mask) makes its row NaN,
as in the reference and PyTorch's math path: a diverging model must not look healthy.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from . import _runtime
from ..reference import attention as _ref
from ._simd import VECTOR_BYTES, float_vector_bytes, fvfma, fvload, fvsplat, fvstore, fvzero
from .softmax import FASTMATH, fast_exp, fmaximum, lane_dot, lane_sum, serial_below, stack_empty
from .._contracts import sdpa_mask, sdpa_shapes
from .._families import native_tables

__all__ = ["sdpa_forward", "sdpa_backward", "KERNELS", "PREFERRED", "warmup"]

# Columns of a register tile, from the CPU Numba compiles for: 32 floats (2 x 512-bit
# vectors, 8 accumulators of 32 registers) with AVX-512; 16 elsewhere (2 x 256-bit
# vectors on AVX2: 32 columns there would take all 16 registers for accumulators and
# spill; measured at head dim 16: backward 2.77 -> 2.10 ms, forward 1.40 -> 1.24 ms).
TILE_W = 32 if float_vector_bytes() >= 64 else 16
KEY_BLOCK = 128  # keys per step of the online softmax (a multiple of TILE_W)
FWD_ROWS = 64    # fewest query rows per forward task (when heads alone are too few tasks)
BWD_ROWS = 32    # query rows per backward block (a multiple of 4): the reduction length
                 # of dK += dS^T Q and dV += P^T dO
FWD_KEY_BLOCK = 256  # keys per step of the forward's online softmax (a multiple of TILE_W):
                     # at T <= 256 one pass, no rescaling; the backward keeps KEY_BLOCK
SHORT_T = 16     # at most this many keys: the short-sequence kernels (no tiles; see
                 # _sdpa_fwd_short), 0.25 -> 0.05 ms forward for a seq2seq batch's heads
ROW_PAD = 16     # extra columns of the transposed scratch buffers KT and VT: without
                 # them a row is 1 KiB long at T = 256, and the 64 rows a tile reads
                 # fall into the same few L1 cache sets

_JIT = dict(cache=True, nogil=True, fastmath=FASTMATH)


# ----------------------------------------------------------------------------- the register tile

@njit(inline="always", **_JIT)
def _tile4(C, A, K, B, bc, accumulate):
    """C[0:4, 0:TILE_W] (+)= A[0:4, 0:K] @ B[0:K, bc:bc + TILE_W].

    ``B`` must have C-contiguous rows (each ``B[k, bc:bc + TILE_W]`` is one stream of
    vector loads); ``A`` and ``C`` may be any 2-D views. Per step k: one row of B
    is loaded, each of the 4 values A[r, k] is broadcast, and 4 x TILE_W
    multiply-adds go into the register-resident accumulators c0..c3.
    """
    dt = C.dtype
    c0 = stack_empty(1, TILE_W, dt)[0]
    c1 = stack_empty(1, TILE_W, dt)[0]
    c2 = stack_empty(1, TILE_W, dt)[0]
    c3 = stack_empty(1, TILE_W, dt)[0]
    if accumulate:
        for w in range(TILE_W):
            c0[w] = C[0, w]
            c1[w] = C[1, w]
            c2[w] = C[2, w]
            c3[w] = C[3, w]
    else:
        for w in range(TILE_W):
            c0[w] = 0
            c1[w] = 0
            c2[w] = 0
            c3[w] = 0
    for kk in range(K):
        b = B[kk, bc:bc + TILE_W]
        a0 = A[0, kk]
        a1 = A[1, kk]
        a2 = A[2, kk]
        a3 = A[3, kk]
        for w in range(TILE_W):
            bw = b[w]
            c0[w] += a0 * bw
            c1[w] += a1 * bw
            c2[w] += a2 * bw
            c3[w] += a3 * bw
    for w in range(TILE_W):
        C[0, w] = c0[w]
        C[1, w] = c1[w]
        C[2, w] = c2[w]
        C[3, w] = c3[w]


@njit(inline="always", **_JIT)
def _zero_pad(A, n, m, n_end, m_end):
    """Zero A[n:n_end, :m_end] and A[:n, m:m_end]: the padding around the n x m data of a
    scratch buffer that the tiles read (the buffers come from np.empty; zeroing only the
    margins instead of whole buffers saved about 2% of the backward)."""
    for j in range(n, n_end):
        row = A[j, :m_end]
        for c in range(m_end):
            row[c] = 0
    if m < m_end:
        for j in range(n):
            row = A[j, m:m_end]
            for c in range(m_end - m):
                row[c] = 0


@njit(inline="always", **_JIT)
def _transpose_into(src, dst, n):
    """dst[c, j] = src[j, c] for j < n (all columns c): 8 x 8 blocks, then the edges.

    Walking 8 rows of ``src`` together keeps every cache line that is read or
    written in use for 8 steps (measured: 0.3 ns per element, vs 1.0 ns for the
    plain double loop).
    """
    d = src.shape[1]
    n8 = n - n % 8
    d8 = d - d % 8
    for j0 in range(0, n8, 8):
        for c0 in range(0, d8, 8):
            for b in range(8):
                row = dst[c0 + b, j0:j0 + 8]
                for a in range(8):
                    row[a] = src[j0 + a, c0 + b]
        for c in range(d8, d):
            for a in range(8):
                dst[c, j0 + a] = src[j0 + a, c]
    for j in range(n8, n):
        for c in range(d):
            dst[c, j] = src[j, c]


@njit(inline="always", **_JIT)
def _mask_row(mask, mst, b, h, i, j0, nk, buf):
    """The additive mask of query row i for keys j0..j0+nk-1, as a contiguous 1-D array.

    ``mask`` is the flat data of a mask of shape (B or 1, H or 1, Tq or 1, Tk or 1) and
    ``mst`` its element strides, 0 along broadcast axes: the kernel reads a padding
    mask of shape (B, 1, 1, Tk) without it ever being expanded to (B, H, Tq, Tk).
    """
    base = b * mst[0] + h * mst[1] + i * mst[2] + j0 * mst[3]
    if mst[3] == 1:
        return mask[base:base + nk]
    for jj in range(nk):          # one value for every key
        buf[jj] = mask[base]
    return buf[:nk]


@njit(inline="always", **_JIT)
def _valid_keys(i, j0, Tk, is_causal, blk):
    """How many keys of the block of ``blk`` keys starting at j0 query row i may see (a prefix)."""
    lim = min(Tk, i + 1) if is_causal else Tk
    return min(max(lim - j0, 0), blk)


# ----------------------------------------------------------------------------- forward

def _signature(kind, dtype):
    """The explicit Numba signature for ``dtype``: q, k, v, gout, out and the gradients
    are typed as 4-D arrays of *any* layout ('A'), so that strided views (the heads of
    a multi-head attention, split off a (B, T, 3E) projection) are read in place
    instead of being copied, and C-contiguous arrays convert to the same
    signature: one compiled kernel per dtype, not one per layout combination.
    (The kernels copy each (batch, head) slice into padded local buffers anyway.)"""
    dt = numba.from_dtype(np.dtype(dtype))
    a4, a3 = numba.types.Array(dt, 4, "A"), numba.types.Array(dt, 3, "A")
    c1, i1 = numba.types.Array(dt, 1, "C"), numba.types.Array(numba.int64, 1, "C")
    b, f, i = numba.boolean, numba.float64, numba.int64
    if kind.startswith("fwd"):
        return numba.void(a4, a4, a4, c1, i1, b, b, f, i, a4, a3)
    return numba.void(a4, a4, a4, a4, a4, a3, c1, i1, b, b, f, a4, a4, a4, i)


_compiled = {}


def _kernel(kind, dtype):
    """The compiled forward ("fwd") or backward ("bwd") kernel for ``dtype``, or their
    short-sequence versions ("fwd_short", "bwd_short"), built on first use.

    Explicit signatures make Numba compile when the decorator runs; doing that here
    instead of at import keeps ``import minigrad`` (and every model without attention)
    from paying for the two largest kernels when the on-disk cache is cold. One
    dispatcher per dtype keeps a float32 model from compiling the float64 kernels too:
    compiling both kernels for float32 into an empty cache took 40 s of CPU instead of
    75 s with both dtypes (AMD EPYC, 2 cores)."""
    key = (kind, np.dtype(dtype).name)
    k = _compiled.get(key)
    if k is None:
        fn = {"fwd": _sdpa_fwd, "bwd": _sdpa_bwd, "fwd_short": _sdpa_fwd_short, "bwd_short": _sdpa_bwd_short}[kind]
        k = _compiled[key] = njit([_signature(kind, dtype)], parallel=True, **_JIT)(fn)
    return k


def _sdpa_fwd(q, k, v, mask, mst, has_mask, is_causal, scale, rows, out, lse):
    B, H, Tq, d = q.shape
    Tk = k.shape[2]
    dv = v.shape[3]
    dt = q.dtype.type
    ninf = dt(-np.inf)
    sc = dt(scale)
    Tkp = (Tk + TILE_W - 1) // TILE_W * TILE_W   # tiles read whole TILE_W-key groups
    dvp = (dv + TILE_W - 1) // TILE_W * TILE_W
    chunks = (Tq + rows - 1) // rows
    for task in prange(B * H * chunks):
        bh = task // chunks
        b = bh // H
        h = bh % H
        q0 = (task % chunks) * rows
        nq = min(rows, Tq - q0)
        kend = min(Tk, q0 + nq) if is_causal else Tk  # keys any row of this chunk sees
        # Operands, copied into padded layouts (see the module docstring).
        # (np.empty, then zeros only where a tile reads past the data: rows of Q up to
        # a multiple of 4, keys of KT up to a multiple of TILE_W, columns of V up to dvp)
        nqp = (nq + 3) // 4 * 4
        kendp = (kend + TILE_W - 1) // TILE_W * TILE_W
        Q = np.empty((nqp, d), q.dtype)
        Q[:nq] = q[b, h, q0:q0 + nq]
        _zero_pad(Q, nq, d, nqp, d)
        KT = np.empty((d, Tkp + ROW_PAD), q.dtype)
        _transpose_into(k[b, h], KT, kend)
        _zero_pad(KT, d, kend, d, kendp)
        V = np.empty((Tkp, dvp), q.dtype)
        V[:kend, :dv] = v[b, h, :kend]
        _zero_pad(V, kend, dv, kendp, dvp)
        S = np.empty((4, FWD_KEY_BLOCK), q.dtype)  # scores, then probabilities
        mbuf = np.empty(FWD_KEY_BLOCK, q.dtype)
        O = np.empty((4, dvp), q.dtype)          # running (unnormalised) outputs
        m = np.empty(4, q.dtype)                 # running max per row
        l = np.empty(4, q.dtype)                 # running sum per row
        for r0 in range(0, nq, 4):
            i0 = q0 + r0
            m[:] = ninf
            l[:] = 0
            O[:] = 0
            jend = min(Tk, i0 + 4) if is_causal else Tk
            for j0 in range(0, jend, FWD_KEY_BLOCK):
                kmax = min(FWD_KEY_BLOCK, jend - j0)   # keys of this block any of the 4 rows sees
                for w0 in range(0, kmax, TILE_W):
                    _tile4(S[:, w0:w0 + TILE_W], Q[r0:r0 + 4], d, KT, j0 + w0, False)
                for r in range(4):
                    srow = S[r]
                    i = i0 + r
                    nk = _valid_keys(i, j0, Tk, is_causal, FWD_KEY_BLOCK) if i < Tq else 0
                    mx = m[r]
                    if has_mask and nk > 0:
                        mrow = _mask_row(mask, mst, b, h, i, j0, nk, mbuf)
                        for jj in range(nk):
                            s = srow[jj] * sc + mrow[jj]
                            srow[jj] = s
                            mx = fmaximum(mx, s)
                    else:
                        for jj in range(nk):
                            s = srow[jj] * sc
                            srow[jj] = s
                            mx = fmaximum(mx, s)
                    if mx == ninf:           # nothing visible yet in this row
                        for jj in range(kmax):
                            srow[jj] = 0
                        continue
                    alpha = fast_exp(m[r] - mx)
                    for jj in range(nk):
                        srow[jj] = fast_exp(srow[jj] - mx)
                    for jj in range(nk, kmax):
                        srow[jj] = 0
                    l[r] = l[r] * alpha + lane_sum(srow[:nk])
                    m[r] = mx
                    if alpha != 1:
                        orow = O[r]
                        for c in range(dvp):
                            orow[c] *= alpha
                for c0 in range(0, dvp, TILE_W):
                    _tile4(O[:, c0:c0 + TILE_W], S, kmax, V[j0:j0 + FWD_KEY_BLOCK], c0, True)
            for r in range(min(4, nq - r0)):
                i = i0 + r
                dst = out[b, h, i]
                if l[r] > 0 or l[r] != l[r]:     # a NaN (from a NaN or inf score) propagates
                    inv = dt(1.0) / l[r]
                    for c in range(dv):
                        dst[c] = O[r, c] * inv
                    lse[b, h, i] = m[r] + np.log(l[r])
                else:                        # fully masked row: zeros, lse = -inf
                    for c in range(dv):
                        dst[c] = 0
                    lse[b, h, i] = ninf


# ----------------------------------------------------------------------------- backward

def _sdpa_bwd(gout, q, k, v, out, lse, mask, mst, has_mask, is_causal, scale, gq, gk, gv, chunks):
    B, H, Tq, d = q.shape
    Tk = k.shape[2]
    dv = v.shape[3]
    dt = q.dtype.type
    ninf = dt(-np.inf)
    one = dt(1.0)
    sc = dt(scale)
    Tqp = (Tq + BWD_ROWS - 1) // BWD_ROWS * BWD_ROWS
    Tkp = (Tk + TILE_W - 1) // TILE_W * TILE_W   # whole TILE_W-key groups (and 4-key dK/dV tiles)
    dp = (d + TILE_W - 1) // TILE_W * TILE_W
    dvp = (dv + TILE_W - 1) // TILE_W * TILE_W
    # (batch, head) pairs in ``chunks`` chunks (a few per thread): the scratch buffers are
    # allocated once per chunk, not per pair (12 allocations per pair cost as much as the
    # arithmetic of a 7-token sequence)
    nbh = B * H
    for ch in prange(chunks):
        Q = np.empty((Tqp, dp), q.dtype)
        dO = np.empty((Tqp, dvp), q.dtype)
        Kp = np.empty((Tkp, dp), q.dtype)
        KT = np.empty((d, Tkp + ROW_PAD), q.dtype)
        VT = np.empty((dv, Tkp + ROW_PAD), q.dtype)
        Drow = np.empty(Tqp, q.dtype)             # D_i = gout_i . out_i
        dQ = np.empty((Tqp, dp), q.dtype)
        dK = np.empty((Tkp, dp), q.dtype)
        dV = np.empty((Tkp, dvp), q.dtype)
        P = np.empty((BWD_ROWS, KEY_BLOCK), q.dtype)
        mbuf = np.empty(KEY_BLOCK, q.dtype)
        dS = np.empty((BWD_ROWS, KEY_BLOCK), q.dtype)
        PT = P.T
        dST = dS.T
        for bh in range(ch * nbh // chunks, (ch + 1) * nbh // chunks):
            b = bh // H
            h = bh % H
            # Padded copies: Q and dO serve as A (rows) and as B (contiguous rows) operands.
            # (written in place, then zeros only in the margins the tiles read: _zero_pad)
            Q[:Tq, :d] = q[b, h]
            _zero_pad(Q, Tq, d, Tqp, dp)
            dO[:Tq, :dv] = gout[b, h]
            _zero_pad(dO, Tq, dv, Tqp, dvp)
            Kp[:Tk, :d] = k[b, h]
            _zero_pad(Kp, Tk, d, Tkp, dp)
            _transpose_into(k[b, h], KT, Tk)
            _zero_pad(KT, d, Tk, d, Tkp)
            _transpose_into(v[b, h], VT, Tk)
            _zero_pad(VT, dv, Tk, dv, Tkp)
            Drow[:] = 0
            for i in range(Tq):
                Drow[i] = lane_dot(dO[i, :dv], out[b, h, i])
            dQ[:] = 0
            dK[:] = 0
            dV[:] = 0
            for i0 in range(0, Tq, BWD_ROWS):
                jend = min(Tk, i0 + BWD_ROWS) if is_causal else Tk
                # rows of this block, up to a multiple of 4: short sequences (a seq2seq batch
                # of 7 tokens) do not pay for a whole block of BWD_ROWS padding rows
                nr = min(BWD_ROWS, (Tq - i0 + 3) // 4 * 4)
                for j0 in range(0, jend, KEY_BLOCK):
                    kmax = min(KEY_BLOCK, jend - j0)   # keys of this block any row sees
                    zend = min(KEY_BLOCK, (kmax + TILE_W - 1) // TILE_W * TILE_W)   # columns the tiles read
                    # S -> P and dP -> dS for nr x kmax, 4 rows at a time
                    for r0 in range(0, nr, 4):
                        for w0 in range(0, kmax, TILE_W):
                            _tile4(P[r0:r0 + 4, w0:w0 + TILE_W], Q[i0 + r0:i0 + r0 + 4], d, KT, j0 + w0, False)
                            _tile4(dS[r0:r0 + 4, w0:w0 + TILE_W], dO[i0 + r0:i0 + r0 + 4], dv, VT, j0 + w0, False)
                    for r in range(nr):
                        i = i0 + r
                        prow = P[r]
                        srow = dS[r]
                        nk = 0
                        if i < Tq and lse[b, h, i] != ninf:
                            nk = _valid_keys(i, j0, Tk, is_causal, KEY_BLOCK)
                        if nk > 0:
                            li = lse[b, h, i]
                            Di = Drow[i]
                            # p <= 1 in exact arithmetic; a recomputed score can exceed lse by
                            # a rounding error, which exp() turns into inf when scores are
                            # huge (queries near 1e30), so p is capped at 1 (NaN stays NaN)
                            if has_mask:
                                mrow = _mask_row(mask, mst, b, h, i, j0, nk, mbuf)
                                for jj in range(nk):
                                    p = fast_exp(prow[jj] * sc + mrow[jj] - li)
                                    p = one if p > one else p
                                    prow[jj] = p
                                    srow[jj] = p * (srow[jj] - Di) * sc
                            else:
                                for jj in range(nk):
                                    p = fast_exp(prow[jj] * sc - li)
                                    p = one if p > one else p
                                    prow[jj] = p
                                    srow[jj] = p * (srow[jj] - Di) * sc
                        for jj in range(nk, zend):
                            prow[jj] = 0
                            srow[jj] = 0
                    # dQ[rows] += dS @ K[keys]
                    for r0 in range(0, nr, 4):
                        for c0 in range(0, dp, TILE_W):
                            _tile4(dQ[i0 + r0:i0 + r0 + 4, c0:c0 + TILE_W], dS[r0:r0 + 4], kmax,
                                   Kp[j0:j0 + KEY_BLOCK], c0, True)
                    # dK[keys] += dS^T @ Q[rows],  dV[keys] += P^T @ dO[rows]
                    for t0 in range(0, kmax, 4):
                        j = j0 + t0
                        for c0 in range(0, dp, TILE_W):
                            _tile4(dK[j:j + 4, c0:c0 + TILE_W], dST[t0:t0 + 4], nr,
                                   Q[i0:i0 + BWD_ROWS], c0, True)
                        for c0 in range(0, dvp, TILE_W):
                            _tile4(dV[j:j + 4, c0:c0 + TILE_W], PT[t0:t0 + 4], nr,
                                   dO[i0:i0 + BWD_ROWS], c0, True)
            gq[b, h] = dQ[:Tq, :d]
            gk[b, h] = dK[:Tk, :d]
            gv[b, h] = dV[:Tk, :dv]


# ----------------------------------------------------------------------------- short sequences

@njit(inline="always", **_JIT)
def _combine(dst, coef, c0, cstep, n, src, width):
    """dst[0:width] = sum over t < n of coef[c0 + t * cstep] * src[t * width:(t + 1) * width].

    Every product of the short-sequence kernels has this form (a row of scores from
    the transposed keys, an output row from the values, a gradient row from dS or P),
    all on flat C-contiguous buffers: whole ``FloatVector`` multiply-adds along the
    row (one vector of broadcast coefficient times one loaded vector per t), then
    scalars for the columns past the last whole vector. Written with explicit vectors
    because LLVM left the same loops over fixed 16-element rows scalar (115 ns per
    scores-and-exp row instead of 24)."""
    lanes = VECTOR_BYTES // dst.itemsize
    wv = width - width % lanes
    for w0 in range(0, wv, lanes):
        acc = fvzero(dst)
        for t in range(n):
            acc = fvfma(acc, fvsplat(coef, c0 + t * cstep), fvload(src, t * width + w0))
        fvstore(dst, w0, acc)
    for w in range(wv, width):
        a = dst.dtype.type(0)
        for t in range(n):
            a += coef[c0 + t * cstep] * src[t * width + w]
        dst[w] = a


@njit(inline="always", **_JIT)
def _short_scores(S, Qf, KTf, Tq, d, Tk, is_causal, scale, has_mask, Mf):
    """S[i, j] = scale * q_i . k_j (+ mask) for the keys row i may see, -inf for the rest
    (the rest of the SHORT_T lanes, and the future under ``is_causal``)."""
    ninf = S.dtype.type(-np.inf)
    sc = S.dtype.type(scale)
    for i in range(Tq):
        _combine(S[i * SHORT_T:(i + 1) * SHORT_T], Qf, i * d, 1, d, KTf, SHORT_T)
    for idx in range(Tq * SHORT_T):      # one flat loop: LLVM vectorises it
        j = idx % SHORT_T
        lim = min(Tk, idx // SHORT_T + 1) if is_causal else Tk
        v = S[idx] * sc
        if has_mask:
            v += Mf[idx]
        S[idx] = v if j < lim else ninf


@njit(inline="always", **_JIT)
def _spread(dst, src, n):
    """dst[i * SHORT_T + j] = src[i] for i < n and every lane j (vector broadcasts): a
    per-row value laid out beside the scores, so that the flat loops that use it read
    both contiguously (indexing src[idx // SHORT_T] there kept LLVM from vectorising
    the exp: 3.5 ns per score instead of under 1)."""
    lanes = VECTOR_BYTES // dst.itemsize
    for i in range(n):
        vec = fvsplat(src, i)
        for j0 in range(0, SHORT_T, lanes):
            fvstore(dst, i * SHORT_T + j0, vec)


@njit(inline="always", **_JIT)
def _short_pair(q, k, b, h, Tq, Tk, d, Qf, KTf, mask, mst, has_mask, Mf):
    """Copy one (batch, head) pair's queries and its keys, transposed, into the flat
    buffers (KTf keeps its zero columns Tk..SHORT_T), and its mask values into Mf."""
    for i in range(Tq):
        for c in range(d):
            Qf[i * d + c] = q[b, h, i, c]
    for j in range(Tk):
        for c in range(d):
            KTf[c * SHORT_T + j] = k[b, h, j, c]
    if has_mask:
        for i in range(Tq):
            base = b * mst[0] + h * mst[1] + i * mst[2]
            for j in range(Tk):
                Mf[i * SHORT_T + j] = mask[base + j * mst[3]]


def _sdpa_fwd_short(q, k, v, mask, mst, has_mask, is_causal, scale, chunks, out, lse):
    """The forward for at most ``SHORT_T`` keys: no tiles, no online softmax.

    With 7 keys and head size 16 the register tile's padding (keys and columns up to
    ``TILE_W``) costs more than the arithmetic. Here one row's scores are the
    ``SHORT_T`` lanes of a vector (keys along the lanes: K is copied transposed into a
    zero-padded (d, SHORT_T) buffer), the softmax runs on all rows' lanes at once in
    flat loops, and ``out_i = sum_j p_j v_j`` is one vector multiply-add along the head
    dimension per key. Tasks are chunks of (batch, head) pairs, their scratch
    allocated once per chunk."""
    B, H, Tq, d = q.shape
    Tk = k.shape[2]
    dv = v.shape[3]
    dt = q.dtype.type
    ninf = dt(-np.inf)
    nbh = B * H
    for ch in prange(chunks):
        Qf = np.empty(Tq * d, q.dtype)
        KTf = np.zeros(d * SHORT_T, q.dtype)
        Vf = np.empty(Tk * dv, q.dtype)
        Mf = np.zeros(Tq * SHORT_T, q.dtype)
        S = np.empty(Tq * SHORT_T, q.dtype)
        mx = np.empty(Tq, q.dtype)
        MX = np.empty(Tq * SHORT_T, q.dtype)
        acc = np.empty(dv, q.dtype)
        for bh in range(ch * nbh // chunks, (ch + 1) * nbh // chunks):
            b = bh // H
            h = bh % H
            _short_pair(q, k, b, h, Tq, Tk, d, Qf, KTf, mask, mst, has_mask, Mf)
            for j in range(Tk):
                for c in range(dv):
                    Vf[j * dv + c] = v[b, h, j, c]
            _short_scores(S, Qf, KTf, Tq, d, Tk, is_causal, scale, has_mask, Mf)
            for i in range(Tq):
                m = ninf
                for j in range(SHORT_T):
                    m = fmaximum(m, S[i * SHORT_T + j])
                mx[i] = m
            _spread(MX, mx, Tq)
            for idx in range(Tq * SHORT_T):
                S[idx] = fast_exp(S[idx] - MX[idx])   # 0 where S is -inf
            for i in range(Tq):
                dst = out[b, h, i]
                if mx[i] == ninf:            # fully masked row: zeros, lse = -inf
                    for c in range(dv):
                        dst[c] = 0
                    lse[b, h, i] = ninf
                    continue
                tot = dt(0)
                for j in range(SHORT_T):
                    tot += S[i * SHORT_T + j]
                nk = min(Tk, i + 1) if is_causal else Tk
                _combine(acc, S, i * SHORT_T, 1, nk, Vf, dv)
                inv = dt(1.0) / tot          # a NaN score made tot NaN: the row is NaN
                for c in range(dv):
                    dst[c] = acc[c] * inv
                lse[b, h, i] = mx[i] + np.log(tot)


def _sdpa_bwd_short(gout, q, k, v, out, lse, mask, mst, has_mask, is_causal, scale, gq, gk, gv, chunks):
    """The backward for at most ``SHORT_T`` keys, in the layout of :func:`_sdpa_fwd_short`:
    recompute the scores S and ``dP = dO @ V^T`` row by row on the key lanes, then in
    flat loops ``P = exp(S - lse)`` and ``dS = P (dP - D) * scale``, and finally
    ``dQ = dS @ K``, ``dK = dS^T @ Q`` and ``dV = P^T @ dO`` row by row."""
    B, H, Tq, d = q.shape
    Tk = k.shape[2]
    dv = v.shape[3]
    dt = q.dtype.type
    ninf = dt(-np.inf)
    one = dt(1.0)
    sc = dt(scale)
    nbh = B * H
    for ch in prange(chunks):
        Qf = np.empty(Tq * d, q.dtype)
        dOf = np.empty(Tq * dv, q.dtype)
        KTf = np.zeros(d * SHORT_T, q.dtype)
        VTf = np.zeros(dv * SHORT_T, q.dtype)
        Kf = np.empty(Tk * d, q.dtype)
        Mf = np.zeros(Tq * SHORT_T, q.dtype)
        S = np.empty(Tq * SHORT_T, q.dtype)    # scores, then P
        G = np.empty(Tq * SHORT_T, q.dtype)    # dP, then dS
        Lr = np.empty(Tq, q.dtype)
        Dr = np.empty(Tq, q.dtype)
        LL = np.empty(Tq * SHORT_T, q.dtype)
        DD = np.empty(Tq * SHORT_T, q.dtype)
        acc = np.empty(max(d, dv), q.dtype)
        for bh in range(ch * nbh // chunks, (ch + 1) * nbh // chunks):
            b = bh // H
            h = bh % H
            _short_pair(q, k, b, h, Tq, Tk, d, Qf, KTf, mask, mst, has_mask, Mf)
            for j in range(Tk):
                for c in range(d):
                    Kf[j * d + c] = k[b, h, j, c]
                for c in range(dv):
                    VTf[c * SHORT_T + j] = v[b, h, j, c]
            for i in range(Tq):
                a = dt(0)
                for c in range(dv):
                    g = gout[b, h, i, c]
                    dOf[i * dv + c] = g
                    a += g * out[b, h, i, c]
                Dr[i] = a
                Lr[i] = lse[b, h, i]
            _short_scores(S, Qf, KTf, Tq, d, Tk, is_causal, scale, has_mask, Mf)
            for i in range(Tq):
                _combine(G[i * SHORT_T:(i + 1) * SHORT_T], dOf, i * dv, 1, dv, VTf, SHORT_T)
            _spread(LL, Lr, Tq)
            _spread(DD, Dr, Tq)
            for idx in range(Tq * SHORT_T):
                li = LL[idx]
                p = fast_exp(S[idx] - li)
                p = one if p > one else p     # see _sdpa_bwd
                # no gradient through keys a row may not see, nor from a fully masked row
                p = p if (S[idx] != ninf and li != ninf) else dt(0)
                S[idx] = p
                G[idx] = p * (G[idx] - DD[idx]) * sc
            for i in range(Tq):
                _combine(acc, G, i * SHORT_T, 1, Tk, Kf, d)
                gqi = gq[b, h, i]
                for c in range(d):
                    gqi[c] = acc[c]
            for j in range(Tk):
                _combine(acc, G, j, SHORT_T, Tq, Qf, d)
                gkj = gk[b, h, j]
                for c in range(d):
                    gkj[c] = acc[c]
                _combine(acc, S, j, SHORT_T, Tq, dOf, dv)
                gvj = gv[b, h, j]
                for c in range(dv):
                    gvj[c] = acc[c]


# ----------------------------------------------------------------------------- wrappers

def _c(a, dtype=None):
    """C-contiguous and writeable (one array type per dtype for Numba: fewer compilations)."""
    a = np.asarray(a, dtype=dtype)
    if not (a.flags.c_contiguous and a.flags.writeable):
        a = np.array(a, order="C")
    return a


def _w(a, dtype=None):
    """Writeable, in any layout with non-negative strides (the kernels take strided
    views; Numba types read-only arrays separately, and negative strides would
    need their own code paths)."""
    a = np.asarray(a, dtype=dtype)
    if not a.flags.writeable or any(st < 0 for st in a.strides):
        a = np.array(a, order="C")
    return a


def _prepare(op, q, k, v, mask, scale):
    """Check shapes/dtypes; return contiguous q, k, v, the mask as (flat data, element
    strides), whether there is one, and the scale."""
    B, H, Tq, Tk, _ = sdpa_shapes(op, q, k, v)
    if q.dtype not in (np.float32, np.float64) or k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(f"{op}: q, k, v must share one dtype, float32 or float64; got "
                        f"{q.dtype}, {k.dtype}, {v.dtype}")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3])
    if mask is None:
        flat, mst, has_mask = np.zeros(1, q.dtype), np.zeros(4, np.int64), False
    else:
        sdpa_mask(op, mask, (B, H, Tq, Tk))
        if mask.dtype == np.bool_:
            mask = np.where(mask, 0.0, -np.inf)
        mask = np.asarray(mask, dtype=q.dtype)
        m4 = _c(mask.reshape((1,) * (4 - mask.ndim) + mask.shape))
        flat = m4.reshape(-1)
        mst = np.array([st // m4.itemsize if n > 1 else 0 for n, st in zip(m4.shape, m4.strides)], np.int64)
        has_mask = True
    return _w(q), _w(k), _w(v), flat, mst, has_mask, float(scale)


def sdpa_forward(q, k, v, mask=None, is_causal=False, scale=None):
    """Returns ``(out (B, H, Tq, dv), lse (B, H, Tq))``; see the module docstring."""
    _runtime.configure()
    if q.dtype == k.dtype == v.dtype and q.dtype.kind == "f" and q.dtype not in (np.float32, np.float64):
        return _ref.sdpa_forward(q, k, v, mask, is_causal, scale)     # e.g. float16
    q, k, v, mflat, mst, has_mask, scale = _prepare("sdpa_forward", q, k, v, mask, scale)
    B, H, Tq, _ = q.shape
    # the output in q's memory order (order='K'; see sdpa_backward)
    out = np.empty_like(q, shape=(B, H, Tq, v.shape[3]))
    lse = np.empty((B, H, Tq), q.dtype)
    if lse.size == 0:
        return out, lse
    if k.shape[2] == 0:              # nothing to attend to: every row is fully masked
        out[...] = 0
        lse[...] = -np.inf
        return out, lse
    if k.shape[2] <= SHORT_T:        # a few keys: row by row, chunks of (batch, head) pairs
        chunks = min(B * H, 4 * numba.get_num_threads())
        with serial_below(B * H * Tq * k.shape[2] * (q.shape[3] + v.shape[3]), 1 << 16):
            _kernel("fwd_short", q.dtype)(q, k, v, mflat, mst, has_mask, bool(is_causal), scale, chunks, out, lse)
        return out, lse
    # One task per (batch, head) when that is enough to keep every thread busy (each
    # task copies its K and V once); otherwise split the query rows into chunks.
    want = 2 * numba.get_num_threads()
    chunks = max(1, min(-(-Tq // FWD_ROWS), -(-want // (B * H))))
    rows = -(-Tq // chunks)
    with serial_below(B * H * Tq * k.shape[2] * (q.shape[3] + v.shape[3]), 1 << 20):
        _kernel("fwd", q.dtype)(q, k, v, mflat, mst, has_mask, bool(is_causal), scale, rows, out, lse)
    return out, lse


def sdpa_backward(gout, q, k, v, out, lse, mask=None, is_causal=False, scale=None):
    """Returns ``(gq, gk, gv)`` for the gradient ``gout`` of ``out``."""
    _runtime.configure()
    if q.dtype == k.dtype == v.dtype and q.dtype.kind == "f" and q.dtype not in (np.float32, np.float64):
        return _ref.sdpa_backward(gout, q, k, v, out, lse, mask, is_causal, scale)
    q, k, v, mflat, mst, has_mask, scale = _prepare("sdpa_backward", q, k, v, mask, scale)
    dt = q.dtype
    gout, out, lse = _w(gout, dt), _w(out, dt), _w(lse, dt)
    # gradients in the memory order of q, k, v (order='K'): when those are heads viewed
    # out of a (B, T, H, d) projection, so are the gradients, and merging them back is free
    gq = np.empty_like(q)
    gk = np.empty_like(k)
    gv = np.empty_like(v)
    if lse.size == 0 or k.shape[2] == 0:
        gq[...] = 0
        gk[...] = 0
        gv[...] = 0
        return gq, gk, gv
    B, H, Tq, d = q.shape
    short = k.shape[2] <= SHORT_T
    with serial_below(B * H * Tq * k.shape[2] * (d + v.shape[3]), 1 << (16 if short else 19)):
        chunks = min(B * H, 4 * numba.get_num_threads())    # see _sdpa_bwd
        _kernel("bwd_short" if short else "bwd", q.dtype)(gout, q, k, v, out, lse, mflat, mst, has_mask, bool(is_causal), scale, gq, gk, gv,
                                chunks)
    return gq, gk, gv


# Measured with benchmarks/_bench_attention.py (see docs/kernels-attention.md).
KERNELS, PREFERRED = native_tables("attention", globals())   # every op above; native unless measured slower


def warmup(dtypes=(np.float32, np.float64)):
    """Compile (or load from the cache) the forward and backward kernels, tiled and for
    short sequences, for each of ``dtypes``."""
    for dt in dtypes:
        for T in (3, SHORT_T + 1):        # the short-sequence kernels, then the tiled ones
            x = np.zeros((1, 1, T, 2), dt)
            o, l = sdpa_forward(x, x, x, None, True, None)
            sdpa_backward(x, x, x, x, o, l, None, True, None)

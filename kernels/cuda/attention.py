"""Fused scaled dot-product attention on the GPU: the kernels of ``attention.cu``.

Same signatures, mask convention and maths as :mod:`minigrad.kernels.reference.attention`
(read its docstring first): ``sdpa_forward(q, k, v, mask, is_causal, scale) -> (out, lse)``
and ``sdpa_backward(gout, q, k, v, out, lse, mask, is_causal, scale) -> (gq, gk, gv)``
on CuPy arrays q (B, H, Tq, d), k (B, H, Tk, d), v (B, H, Tk, dv).

* Forward: one block of 128 threads per (tile of query rows, batch, head); the keys
  are walked tile by tile with the online softmax, so the (Tq, Tk) score matrix is
  never written to global memory; the log-sum-exp of every row is saved.
* Backward (FlashAttention-2's recomputation): ``delta = rowsum(gout * out)``, then one
  kernel per key tile sums gk and gv over every query, and one kernel per query tile
  sums gq over every key, both recomputing P = exp(S - lse) on the fly. No atomics:
  every output element is summed by one thread, so results are deterministic.

Supported natively: float32 and float64, head dimensions up to 128 (each launch picks
the kernel compiled for 32, 64 or 128), any sequence lengths, strided q/k/v (as
produced by splitting heads out of a (B, T, H*d) projection), additive or boolean
masks broadcast over any axes, ``is_causal`` (top-left aligned, as PyTorch), both
together. Anything else (float16, head dimension > 128 or 0) runs the reference
kernel, which is valid on CuPy arrays too.

Importing this module does not import CuPy: it is imported inside the kernels.
"""
from __future__ import annotations

import math

import numpy as np

from ..reference import attention as _ref
from .._arrays import is_cupy
from ._loader import dtype_suffix
from .._contracts import sdpa_backward_shapes, sdpa_mask, sdpa_shapes
from .._families import native_tables

__all__ = ["sdpa_forward", "sdpa_backward", "CONFIGS", "KERNELS", "PREFERRED"]

THREADS = 128          # every attention kernel runs 128 threads (16 x 8) per block
DMAXES = (32, 64, 128)  # head-dimension variants compiled in attention.cu

# (dtype, DMAX) -> tile sizes (BM query rows, BN keys) of each kernel; attention.cu's
# ATT_FWD / ATT_BWD_KV / ATT_BWD_Q lines use the same numbers.
CONFIGS = {
    ("f32", 32): {"fwd": (64, 64), "kv": (64, 64), "q": (64, 64)},
    ("f32", 64): {"fwd": (64, 64), "kv": (64, 64), "q": (64, 64)},
    ("f32", 128): {"fwd": (64, 32), "kv": (32, 64), "q": (64, 32)},
    ("f64", 32): {"fwd": (32, 32), "kv": (32, 32), "q": (32, 32)},
    ("f64", 64): {"fwd": (32, 32), "kv": (32, 32), "q": (32, 32)},
    ("f64", 128): {"fwd": (32, 32), "kv": (32, 32), "q": (32, 32)},
}


def smem_bytes(kind, bm, bn, dmax, itemsize):
    """Dynamic shared memory of one block (the layouts at the top of each *_impl)."""
    ldd = dmax + 4
    if kind == "fwd":     # Q, K, V tiles + P
        n = bm * ldd + 2 * bn * ldd + bm * (bn + 4)
    elif kind == "kv":    # K, V, Q, gout tiles + P^T, dS^T + lse, delta
        n = 2 * bn * ldd + 2 * bm * ldd + 2 * bn * (bm + 4) + 2 * bm
    else:                 # Q, gout, K, V tiles + dS
        n = 2 * bm * ldd + 2 * bn * ldd + bm * (bn + 4)
    return n * itemsize


_kernels = {}


def _kernel(kind, sfx, dmax):
    """(RawKernel, (BM, BN), shared bytes) for one variant, cached per GPU; raises the
    48 KiB default limit on dynamic shared memory where the variant needs more."""
    import cupy as cp

    from ._loader import get_function

    bm, bn = CONFIGS[(sfx, dmax)][kind]
    smem = smem_bytes(kind, bm, bn, dmax, 4 if sfx == "f32" else 8)
    key = (kind, sfx, dmax, cp.cuda.runtime.getDevice())
    fn = _kernels.get(key)
    if fn is None:
        prefix = "sdpa_fwd" if kind == "fwd" else f"sdpa_bwd_{kind}"  # kinds: fwd, kv, q
        fn = get_function("attention", f"{prefix}_{sfx}_d{dmax}")
        if smem > 48 * 1024:
            fn.max_dynamic_shared_size_bytes = smem
        _kernels[key] = fn
    return fn, (bm, bn), smem


def _grid(tiles, bh):
    """Grid (tiles, y, z) with y * z >= B*H and y <= 65535 (the kernels compute bh = y + z * gridDim.y)."""
    gy = min(bh, 65535)
    return (tiles, gy, -(-bh // gy))


def _strides3(a):
    """Element strides of axes 0..2 of a 4-D array whose last axis is contiguous."""
    return tuple(np.int64(s // a.itemsize) for s in a.strides[:3])


def _last_contiguous(cp, a):
    if a.shape[-1] > 1 and a.strides[-1] != a.itemsize:
        return cp.ascontiguousarray(a)
    if any(s % a.itemsize for s in a.strides):
        return cp.ascontiguousarray(a)
    return a


def _check(op, q, k, v):
    sdpa_shapes(op, q, k, v)
    if q.dtype.kind != "f" or k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(f"{op}: q, k, v must share one floating dtype; got {q.dtype}, {k.dtype}, {v.dtype}")


def _native(q, v):
    """(suffix, DMAX) when the CUDA kernels handle these arrays, else None (NumPy arrays,
    other dtypes, head dimensions of 0 or above 128: the reference kernel runs)."""
    if not is_cupy(q) or q.dtype not in (np.float32, np.float64):
        return None
    sfx = dtype_suffix(q.dtype)
    d, dv = q.shape[3], v.shape[3]
    if d == 0 or dv == 0:
        return None
    for dm in DMAXES:
        if max(d, dv) <= dm:
            return sfx, dm
    return None


def _mask_args(cp, op, mask, q, full):
    """(array, 4 element strides, has_mask) of the additive mask (a dummy when None)."""
    if mask is None:
        return q, (np.int64(0),) * 4, np.int32(0)
    mask = cp.asarray(mask)
    if mask.dtype == np.bool_:
        mask = cp.where(mask, 0.0, -np.inf).astype(q.dtype)
    elif mask.dtype != q.dtype:
        mask = mask.astype(q.dtype)
    sdpa_mask(op, mask, tuple(full))
    m4 = mask.reshape((1,) * (4 - mask.ndim) + tuple(mask.shape))
    if any(s % m4.itemsize for s in m4.strides):
        m4 = cp.ascontiguousarray(m4)
    st = tuple(np.int64(s // m4.itemsize if n > 1 else 0) for n, s in zip(m4.shape, m4.strides))
    return m4, st, np.int32(1)


def _shape_args(q, k, v, mst, has_mask, causal):
    B, H, Tq, d = q.shape
    Tk, dv = k.shape[2], v.shape[3]
    i32 = np.int32
    return (i32(H), i32(B * H), i32(Tq), i32(Tk), i32(d), i32(dv),
            *_strides3(q), *_strides3(k), *_strides3(v), *mst, has_mask, i32(bool(causal)))


def sdpa_forward(q, k, v, mask=None, is_causal=False, scale=None):
    """Returns ``(out (B, H, Tq, dv), lse (B, H, Tq))``; see the module docstring."""
    _check("sdpa_forward", q, k, v)
    nat = _native(q, v)
    if nat is None:
        return _ref.sdpa_forward(q, k, v, mask, is_causal, scale)
    import cupy as cp

    sfx, dmax = nat
    B, H, Tq, d = q.shape
    Tk, dv = k.shape[2], v.shape[3]
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    q, k, v = (_last_contiguous(cp, cp.asarray(a)) for a in (q, k, v))
    mk, mst, has_mask = _mask_args(cp, "sdpa_forward", mask, q, (B, H, Tq, Tk))
    out = cp.empty((B, H, Tq, dv), q.dtype)
    lse = cp.empty((B, H, Tq), q.dtype)
    if lse.size == 0:
        return out, lse
    if Tk == 0:                           # nothing to attend to: every row is fully masked
        out.fill(0)
        lse.fill(-np.inf)
        return out, lse
    fn, (bm, _), smem = _kernel("fwd", sfx, dmax)
    fn(_grid(-(-Tq // bm), B * H), (THREADS,),
       (q, k, v, mk, out, lse, *_shape_args(q, k, v, mst, has_mask, is_causal), q.dtype.type(scale)),
       shared_mem=smem)
    return out, lse


def sdpa_backward(gout, q, k, v, out, lse, mask=None, is_causal=False, scale=None):
    """Returns ``(gq, gk, gv)`` for the gradient ``gout`` of ``out``."""
    _check("sdpa_backward", q, k, v)
    nat = _native(q, v)
    if nat is None:
        return _ref.sdpa_backward(gout, q, k, v, out, lse, mask, is_causal, scale)
    import cupy as cp

    sfx, dmax = nat
    B, H, Tq, d = q.shape
    Tk, dv = k.shape[2], v.shape[3]
    sdpa_backward_shapes(gout, out, lse, (B, H, Tq, dv))
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    dt = q.dtype
    q, k, v = (_last_contiguous(cp, cp.asarray(a)) for a in (q, k, v))
    gout, out, lse = (cp.ascontiguousarray(cp.asarray(a), dtype=dt) for a in (gout, out, lse))
    mk, mst, has_mask = _mask_args(cp, "sdpa_backward", mask, q, (B, H, Tq, Tk))
    gq = cp.empty((B, H, Tq, d), dt)
    gk = cp.empty((B, H, Tk, d), dt)
    gv = cp.empty((B, H, Tk, dv), dt)
    if B * H == 0 or Tq == 0 or Tk == 0:
        gq.fill(0)
        gk.fill(0)
        gv.fill(0)
        return gq, gk, gv
    from ._loader import get_function

    rows = B * H * Tq
    delta = cp.empty((B, H, Tq), dt)
    get_function("attention", f"sdpa_bwd_delta_{sfx}")(
        (-(-rows // 4),), (128,), (gout, out, delta, np.int64(rows), np.int32(dv)))
    shape = _shape_args(q, k, v, mst, has_mask, is_causal)
    sc = dt.type(scale)
    fn, (_, bn), smem = _kernel("kv", sfx, dmax)
    fn(_grid(-(-Tk // bn), B * H), (THREADS,), (q, k, v, gout, lse, delta, mk, gk, gv, *shape, sc),
       shared_mem=smem)
    fn, (bm, _), smem = _kernel("q", sfx, dmax)
    fn(_grid(-(-Tq // bm), B * H), (THREADS,), (q, k, v, gout, lse, delta, mk, gq, *shape, sc),
       shared_mem=smem)
    return gq, gk, gv


# Expected to beat the reference (which materialises B*H*Tq*Tk scores) everywhere;
# to be confirmed on a GPU with benchmarks/cuda.py.
KERNELS, PREFERRED = native_tables("attention", globals())   # every op above; native unless measured slower


def warmup():
    """Compile every attention kernel (one small call per dtype and head-size variant)."""
    import cupy as cp

    for dt in (np.float32, np.float64):
        for dm in DMAXES:
            x = cp.ones((1, 1, 3, dm), dt)
            o, l = sdpa_forward(x, x, x, None, True, None)
            sdpa_backward(o, x, x, x, o, l, None, True, None)

"""Native GPU matmul: the hand-written tiled GEMM in ``gemm.cu``, launched through CuPy.

``matmul(a, b)`` has the reference's semantics (NumPy's ``a @ b``): the last two axes
are matrices, leading axes are a batch that broadcasts, a 1-D operand is promoted to
a row (left) or a column (right) and the added axis is removed again. float32 and
float64 CuPy arrays run the kernels of ``gemm.cu``; everything else (other dtypes,
NumPy arrays, more than three batch axes that cannot be merged) is handed to the
reference kernel, i.e. CuPy's ``@`` (cuBLAS).

What this file does around the kernel (``gemm.cu`` explains the kernel itself):

* **Layouts without copies.** Each operand is described by a pointer, a leading
  dimension and whether its rows (``'n'``) or columns (``'t'``) are contiguous; the
  kernel has a variant per pair. Transposed views such as ``w.T`` are read in place.
  An operand with neither axis of unit stride is copied to a contiguous array first.
* **Batches without copies.** The broadcast batch shape is computed as NumPy would;
  each operand gets a stride per batch axis (0 where it is broadcast). Batch axes
  that are contiguous in both operands are merged, so most batches become one axis;
  up to three are passed to the kernel.
* **Tile choice.** float32 uses 128 x 128 tiles when they give at least one block per
  multiprocessor, otherwise 64 x 64 tiles (more, smaller blocks keep a small problem
  spread over the GPU). float64 uses 64 x 64 tiles.
"""
from __future__ import annotations

import numpy as np

from .._contracts import check_matmul
from ..reference import matmul as _ref
from .._families import native_tables

__all__ = ["matmul", "plan", "KERNELS", "PREFERRED"]

_THREADS = 256
_MAX_GRID_YZ = 65535
_sm_count: dict = {}


def _cupy_arrays(a, b):
    """CuPy (module) if both a and b are CuPy arrays, else None."""
    if type(a) is np.ndarray or type(b) is np.ndarray:
        return None
    try:
        import cupy
    except Exception:  # noqa: BLE001  (no CuPy: these cannot be CuPy arrays)
        return None
    if isinstance(a, cupy.ndarray) and isinstance(b, cupy.ndarray):
        return cupy
    return None


def _multiprocessors(cp, dev_id):
    n = _sm_count.get(dev_id)
    if n is None:
        n = _sm_count[dev_id] = int(cp.cuda.Device(dev_id).attributes["MultiProcessorCount"])
    return n


def _elem_strides(x):
    """Strides in elements, or None when a stride is not a whole number of elements."""
    out = []
    for s in x.strides:
        if s % x.itemsize:
            return None
        out.append(s // x.itemsize)
    return out


def _matrix_layout(shape2, strides2):
    """('n' or 't', leading dim) for a matrix of ``shape2`` = (rows, cols) with element
    strides ``strides2``, or None when neither axis has unit stride.

    For A (rows m, cols k) 'n' means cols contiguous. For B (rows k, cols n) the same.
    Size-1 axes may have any stride, so they count as contiguous.
    """
    (r, c), (sr, sc) = shape2, strides2
    if c == 1:
        sc = 1
    if r == 1:
        sr = c if sc == 1 else 1  # any leading dim is fine for one row
    if sc == 1:
        return "n", sr
    if sr == 1:
        return "t", sc
    return None


def _merge_batch(shape, sa, sb):
    """Drop size-1 batch axes and merge neighbours that are contiguous in both operands."""
    dims = [(n, x, y) for n, x, y in zip(shape, sa, sb) if n != 1]
    merged = []
    for n, x, y in dims:
        if merged:
            pn, px, py = merged[-1]
            if px == x * n and py == y * n:
                merged[-1] = (pn * n, x, y)
                continue
        merged.append((n, x, y))
    return merged


def plan(a, b, sm_count=108):
    """How ``matmul(a, b)`` would run (for tests and the curious): a dict with the
    kernel name, grid, the scalar arguments, and whether operands were copied; or
    None when the reference would run. ``a`` and ``b`` only need ``shape``,
    ``strides``, ``itemsize`` and ``dtype`` (NumPy arrays work), and must be at
    least 2-D with matching inner dimensions."""
    dtype = np.dtype(a.dtype)
    if dtype != b.dtype or dtype not in (np.float32, np.float64):
        return None
    M, K = a.shape[-2:]
    N = b.shape[-1]
    if max(M, N, K) >= 2 ** 31:  # the kernel takes int sizes
        return None
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    copied = []
    sa_all, sb_all = _elem_strides(a), _elem_strides(b)
    la = _matrix_layout((M, K), sa_all[-2:]) if sa_all is not None else None
    lb = _matrix_layout((K, N), sb_all[-2:]) if sb_all is not None else None
    if la is None:
        copied.append("a")
        sa_all = None
        la = ("n", K)
    if lb is None:
        copied.append("b")
        sb_all = None
        lb = ("n", N)

    def batch_strides(x, strides):
        if strides is None:  # will be a contiguous copy of x
            strides, acc = [], x.shape[-2] * x.shape[-1]
            for n in reversed(x.shape[:-2]):
                strides.insert(0, acc)
                acc *= n
        pad = len(batch) - (x.ndim - 2)
        out = [0] * pad
        for n, s in zip(x.shape[:-2], strides[:x.ndim - 2]):
            out.append(0 if n == 1 else s)
        return out

    dims = _merge_batch(batch, batch_strides(a, sa_all), batch_strides(b, sb_all))
    if len(dims) > 3:
        return None
    dims = [(1, 0, 0)] * (3 - len(dims)) + dims
    nbatch = int(np.prod([d[0] for d in dims]))
    if dtype == np.float64:
        tile, prefix = 64, "dgemm"
    else:
        blocks_big = -(-M // 128) * -(-N // 128) * nbatch
        tile, prefix = (128, "sgemm") if blocks_big >= sm_count else (64, "sgemm")
    grid = (-(-N // tile), -(-M // tile), min(nbatch, _MAX_GRID_YZ))
    if grid[1] > _MAX_GRID_YZ:
        return None
    return {
        "kernel": f"{prefix}_{tile}_{la[0]}{lb[0]}",
        "grid": grid,
        "block": (_THREADS,),
        "M": M, "N": N, "K": K, "lda": la[1], "ldb": lb[1],
        "batch": batch, "nbatch": nbatch,
        "n": tuple(d[0] for d in dims),
        "sa": tuple(d[1] for d in dims),
        "sb": tuple(d[2] for d in dims),
        "copied": tuple(copied),
    }


def _promote(a, b):
    """1-D operands as matrices, and the shape to give the result afterwards."""
    squeeze = None
    if a.ndim == 1 and b.ndim == 1:
        squeeze = "both"
        a, b = a.reshape(1, -1), b.reshape(-1, 1)
    elif a.ndim == 1:
        squeeze = "left"
        a = a.reshape(1, -1)
    elif b.ndim == 1:
        squeeze = "right"
        b = b.reshape(-1, 1)
    return a, b, squeeze


def _unpromote(out, squeeze):
    if squeeze == "both":
        return out.reshape(())
    if squeeze == "left":
        return out.reshape(out.shape[:-2] + out.shape[-1:])
    if squeeze == "right":
        return out.reshape(out.shape[:-1])
    return out


def matmul(a, b):
    """``a @ b`` with NumPy semantics, on the tiled CUDA GEMM for float32/float64 CuPy arrays.

    The shapes are checked first, by ``_contracts.check_matmul``."""
    cp = _cupy_arrays(a, b)
    if cp is None:
        return _ref.matmul(a, b)
    check_matmul(a, b)  # before anything runs on the GPU
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        return _ref.matmul(a, b)
    if a.device.id != b.device.id:
        raise ValueError(f"matmul: operands are on different GPUs (cuda:{a.device.id} and cuda:{b.device.id})")
    from . import _loader

    with cp.cuda.Device(a.device.id):
        a2, b2, squeeze = _promote(a, b)
        p = plan(a2, b2, _multiprocessors(cp, a.device.id))
        if p is None:
            return _ref.matmul(a, b)
        if "a" in p["copied"]:
            a2 = cp.ascontiguousarray(a2)
        if "b" in p["copied"]:
            b2 = cp.ascontiguousarray(b2)
        M, N, K = p["M"], p["N"], p["K"]
        out = cp.empty(p["batch"] + (M, N), dtype=a.dtype)
        if out.size == 0:
            return _unpromote(out, squeeze)
        if K == 0:
            out.fill(0)
            return _unpromote(out, squeeze)
        kern = _loader.get_function("gemm", p["kernel"])
        i64 = np.int64
        n0, n1, n2 = p["n"]
        args = (a2, b2, out, np.int32(M), np.int32(N), np.int32(K), i64(p["lda"]), i64(p["ldb"]),
                i64(p["nbatch"]), i64(n1), i64(n2),
                *(i64(s) for s in p["sa"]), *(i64(s) for s in p["sb"]))
        kern(p["grid"], p["block"], args)
        return _unpromote(out, squeeze)


KERNELS, PREFERRED = native_tables("matmul", globals())   # every op above; native unless measured slower


def warmup():
    """Compile gemm.cu for the current GPU and run each float kernel once on tiny inputs."""
    import cupy as cp

    for dt in (np.float32, np.float64):
        x = cp.ones((3, 5), dtype=dt)
        matmul(x, x.T)
        matmul(x.T, x)
    cp.cuda.Device().synchronize()

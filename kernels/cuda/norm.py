"""Layer normalisation on the GPU (``norm.cu``).

Same signatures and maths as :mod:`minigrad.kernels.reference.norm`:
``layer_norm_forward(x, weight, bias, eps) -> (y, mean, rstd)`` and
``layer_norm_backward(gy, x, weight, mean, rstd) -> (gx, gw, gb)`` normalising over
the last axis. Row kernels (one warp per row up to 1024 values, a block per row
beyond) compute y and gx; a column kernel sums gw and gb over the rows in chunks
(a (chunks, D) array of partial sums, added up by one CuPy reduction).

float32 and float64 CuPy arrays run natively; anything else runs the reference.
"""
from __future__ import annotations

import numpy as np

from .._arrays import as_rows
from .._contracts import check_grad_shape, ln_params
from ..reference import norm as _ref
from ._loader import dtype_suffix, launch_rows, on_gpu
from .._families import native_tables

__all__ = ["layer_norm_forward", "layer_norm_backward", "KERNELS", "PREFERRED"]

WARP_MAX_D = 1024
BLOCK_THREADS = 512
WARP_BLOCK = 128
COL_ROWS = 64          # rows per chunk of the gw/gb column kernel (at least)
MAX_CHUNKS = 1024      # at most this many partial sums per column


def _row_launch(name, dtype, rows, D, args):
    launch_rows("norm", name, dtype, rows, D, args,
                warp_max=WARP_MAX_D, block_threads=BLOCK_THREADS, warp_block=WARP_BLOCK)


def _param(cp, p, D, dt, x2):
    if p is None:
        return x2, np.int32(0)              # a dummy pointer, never read
    return cp.ascontiguousarray(cp.asarray(p), dtype=dt).reshape(-1), np.int32(1)


def layer_norm_forward(x, weight, bias, eps):
    """Returns ``(y, mean, rstd)``; ``weight``/``bias`` are (D,) arrays or None."""
    if not (on_gpu(x) and x.ndim >= 1):
        return _ref.layer_norm_forward(x, weight, bias, eps)
    import cupy as cp

    shape = x.shape
    ln_params("layer_norm_forward", x.shape, weight, bias)
    x2 = as_rows(x)
    rows, D = x2.shape
    dt = x2.dtype
    w, has_w = _param(cp, weight, D, dt, x2)
    b, has_b = _param(cp, bias, D, dt, x2)
    y = cp.empty_like(x2)
    mean = cp.empty(rows, dt)
    rstd = cp.empty(rows, dt)
    if rows and D:
        _row_launch("layer_norm_fwd", dt, rows, D, (x2, w, b, has_w, has_b, dt.type(eps), y, mean, rstd))
    elif rows:
        return _ref.layer_norm_forward(x, weight, bias, eps)
    return y.reshape(shape), mean.reshape(shape[:-1]), rstd.reshape(shape[:-1])


def layer_norm_backward(gy, x, weight, mean, rstd):
    """Returns ``(gx, gw, gb)``; gw and gb are (D,) sums over all rows."""
    if not (on_gpu(x) and x.ndim >= 1):
        return _ref.layer_norm_backward(gy, x, weight, mean, rstd)
    import cupy as cp

    from ._loader import get_function

    shape = x.shape
    x2 = as_rows(x)
    rows, D = x2.shape
    dt = x2.dtype
    check_grad_shape("layer_norm_backward", gy, shape)
    ln_params("layer_norm_backward", shape, weight)
    g2 = as_rows(gy, dt)
    m = cp.ascontiguousarray(mean, dtype=dt).reshape(rows)
    r = cp.ascontiguousarray(rstd, dtype=dt).reshape(rows)
    w, has_w = _param(cp, weight, D, dt, x2)
    gx = cp.empty_like(x2)
    if rows == 0 or D == 0:
        return gx.reshape(shape), cp.zeros(D, dt), cp.zeros(D, dt)
    _row_launch("layer_norm_bwd_rows", dt, rows, D, (g2, x2, w, has_w, m, r, gx))
    chunks = max(1, min(MAX_CHUNKS, -(-rows // COL_ROWS)))
    per = -(-rows // chunks)
    chunks = -(-rows // per)
    gw_part = cp.empty((chunks, D), dt)
    gb_part = cp.empty((chunks, D), dt)
    get_function("norm", f"layer_norm_bwd_cols_{dtype_suffix(dt)}")(
        (-(-D // 32), chunks), (32, 8),
        (g2, x2, m, r, gw_part, gb_part, np.int64(rows), np.int32(D), np.int64(per)))
    if chunks == 1:
        return gx.reshape(shape), gw_part[0], gb_part[0]
    return gx.reshape(shape), gw_part.sum(axis=0), gb_part.sum(axis=0)


KERNELS, PREFERRED = native_tables("norm", globals())   # every op above; native unless measured slower


def warmup():
    import cupy as cp

    for dt in (np.float32, np.float64):
        for D in (3, WARP_MAX_D + 1):
            x = cp.zeros((2, D), dt)
            w = cp.ones(D, dt)
            y, m, r = layer_norm_forward(x, w, w, 1e-5)
            layer_norm_backward(y, x, w, m, r)

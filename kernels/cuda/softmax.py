"""Softmax, log-softmax and fused softmax cross-entropy on the GPU (``softmax.cu``).

Same signatures and maths as :mod:`minigrad.kernels.reference.softmax` (formulas
there). Every kernel reduces along the last axis of a C-contiguous (rows, C) view:

* rows of up to ``WARP_MAX_C`` values: one warp per row, 4 rows per block of 128
  threads, every reduction a handful of warp shuffles;
* longer rows: one block of ``BLOCK_THREADS`` threads per row (shuffles, then one
  value per warp through shared memory).

float32 and float64 run natively; other dtypes (and NumPy arrays) run the reference.
CuPy is imported inside the functions, so importing this module needs no GPU.
"""
from __future__ import annotations

import numpy as np

from .._arrays import as_rows, is_cupy
from .._contracts import ce_shapes, check_grad_shape
from ..reference import softmax as _ref
from ._loader import launch_rows, on_gpu
from .._families import native_tables

__all__ = ["softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
           "cross_entropy_forward", "cross_entropy_backward", "KERNELS", "PREFERRED"]

WARP_MAX_C = 1024      # rows up to this long: a warp each; longer: a block each
BLOCK_THREADS = 512
WARP_BLOCK = 128       # threads per block in warp mode (4 rows per block)


def _launch(name, dtype, rows, C, args):
    """Launch ``<name>_<f32|f64>_<warp|block>`` over ``rows`` rows of length ``C``."""
    launch_rows("softmax", name, dtype, rows, C, args,
                warp_max=WARP_MAX_C, block_threads=BLOCK_THREADS, warp_block=WARP_BLOCK)


def _rows(cp, x):
    """x as a C-contiguous (rows, C) array (a view when x already is contiguous), rows, C."""
    x2 = as_rows(x)
    return (x2, *x2.shape)


def _softmax_impl(x, log):
    if not on_gpu(x) or x.ndim == 0:
        return (_ref.log_softmax if log else _ref.softmax)(x)
    import cupy as cp

    x2, rows, C = _rows(cp, x)
    y = cp.empty_like(x2)
    if x2.size:
        _launch("log_softmax" if log else "softmax", x.dtype, rows, C, (x2, y))
    return y.reshape(x.shape)


def softmax(x):
    """exp(x - m) / sum(exp(x - m)) over the last axis, m = the row max."""
    return _softmax_impl(x, False)


def log_softmax(x):
    """(x - m) - log(sum(exp(x - m))) over the last axis."""
    return _softmax_impl(x, True)


def _softmax_backward_impl(gy, y, log):
    if not on_gpu(y) or y.ndim == 0 or not is_cupy(gy):
        return (_ref.log_softmax_backward if log else _ref.softmax_backward)(gy, y)
    import cupy as cp

    check_grad_shape(f"{'log_' if log else ''}softmax_backward", gy, y.shape)
    y2, rows, C = _rows(cp, y)
    g2, _, _ = _rows(cp, gy.astype(y.dtype, copy=False))
    gx = cp.empty_like(y2)
    if y2.size:
        _launch("log_softmax_bwd" if log else "softmax_bwd", y.dtype, rows, C, (g2, y2, gx))
    return gx.reshape(y.shape)


def softmax_backward(gy, y):
    """y * (gy - sum(gy * y)) over the last axis."""
    return _softmax_backward_impl(gy, y, False)


def log_softmax_backward(gy, y):
    """gy - exp(y) * sum(gy) over the last axis."""
    return _softmax_backward_impl(gy, y, True)


# ----------------------------------------------------------------------------- cross-entropy

def _ce_args(cp, op, logits, target, weight):
    target = cp.asarray(target)
    ce_shapes(op, logits, target, weight)
    x = cp.ascontiguousarray(logits)
    if weight is None:
        w, has_w = x, np.int32(0)                 # a dummy pointer, never read
    else:
        w, has_w = cp.ascontiguousarray(cp.asarray(weight), dtype=x.dtype).reshape(-1), np.int32(1)
    if target.ndim == 2:
        probs, idx, soft = cp.ascontiguousarray(target, dtype=x.dtype), cp.zeros(1, np.int64), np.int32(1)
    else:
        probs, idx, soft = x, cp.ascontiguousarray(target, dtype=np.int64), np.int32(0)
    return x, idx, probs, w, has_w, soft


def cross_entropy_forward(logits, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """Per-sample softmax cross-entropy; returns ``(loss (N,), lse (N,) float64)``."""
    if not on_gpu(logits):
        return _ref.cross_entropy_forward(logits, target, weight, ignore_index, label_smoothing)
    import cupy as cp

    x, idx, probs, w, has_w, soft = _ce_args(cp, "cross_entropy_forward", logits, target, weight)
    N, C = x.shape
    loss = cp.empty(N, x.dtype)
    lse = cp.empty(N, np.float64)        # float64 even for float32 logits (see the reference)
    if N and C:
        _launch("ce_fwd", x.dtype, N, C, (x, idx, probs, w, has_w, soft, np.int64(ignore_index),
                                          x.dtype.type(label_smoothing), loss, lse))
    elif N:
        return _ref.cross_entropy_forward(logits, target, weight, ignore_index, label_smoothing)
    return loss, lse


def cross_entropy_backward(grad_loss, logits, target, weight, ignore_index, label_smoothing, lse):
    """d(sum_n grad_loss_n * loss_n) / d logits, shape (N, C); ``lse`` from the forward."""
    if not on_gpu(logits):
        return _ref.cross_entropy_backward(grad_loss, logits, target, weight, ignore_index, label_smoothing, lse)
    import cupy as cp

    x, idx, probs, w, has_w, soft = _ce_args(cp, "cross_entropy_backward", logits, target, weight)
    N, C = x.shape
    g = cp.ascontiguousarray(cp.broadcast_to(cp.asarray(grad_loss, dtype=x.dtype), (N,)))
    lse = cp.ascontiguousarray(cp.asarray(lse), dtype=np.float64)
    dx = cp.empty_like(x)
    if x.size:
        _launch("ce_bwd", x.dtype, N, C, (g, x, idx, probs, w, has_w, soft, np.int64(ignore_index),
                                          x.dtype.type(label_smoothing), lse, dx))
    return dx


# One pass per reduction instead of the reference's 4-6 separate CuPy kernels;
# to be confirmed on a GPU with benchmarks/cuda.py.
KERNELS, PREFERRED = native_tables("softmax", globals())   # every op above; native unless measured slower


def warmup():
    """Compile the module (one call of each kernel, float32 and float64, both modes)."""
    import cupy as cp

    for dt in (np.float32, np.float64):
        for C in (3, WARP_MAX_C + 1):
            x = cp.zeros((2, C), dt)
            for log in (False, True):
                y = _softmax_impl(x, log)
                _softmax_backward_impl(x, y, log)
            t = cp.zeros(2, np.int64)
            loss, lse = cross_entropy_forward(x, t)
            cross_entropy_backward(cp.ones(2, dt), x, t, None, -100, 0.0, lse)

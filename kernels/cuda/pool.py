"""2-D max and average pooling on the GPU (``pool.cu``).

Same signatures, geometry rules and results as :mod:`minigrad.kernels.reference.pool`
(ceil mode, dilation, padding, ``count_include_pad``; the argmax index is
``row * W + col`` inside the plane, -1 for a window that covers no input element).
One thread per output element (forward, max backward) or per input element
(average backward: it gathers from the windows covering it, so no atomics).
Max backward scatters into the argmax positions with atomicAdd (windows may overlap).

float32 and float64 CuPy arrays run natively; anything else runs the reference.
"""
from __future__ import annotations

import numpy as np

from .._contracts import check_grad_shape, max_pool_backward_shapes, pool_geometry
from ..reference import pool as _ref
from ._loader import launch_flat, on_gpu
from .._families import native_tables

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
           "KERNELS", "PREFERRED"]

BLOCK = 256


def _geo(H, W, Ho, Wo, kernel_size, stride, padding, dilation):
    return tuple(np.int32(v) for v in (H, W, Ho, Wo, *kernel_size, *stride, *padding, *dilation))


def _launch(name, dtype, total, args):
    launch_flat("pool", name, dtype, total, args, BLOCK)


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Returns ``(y, indices)`` exactly as the reference kernel does."""
    if not on_gpu(x):
        return _ref.max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode)
    import cupy as cp

    Ho, Wo = pool_geometry("max_pool2d_forward", x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    N, C, H, W = x.shape
    x = cp.ascontiguousarray(x)
    y = cp.empty((N, C, Ho, Wo), x.dtype)
    ind = cp.empty((N, C, Ho, Wo), np.int64)
    if y.size:
        _launch("max_pool2d_fwd", x.dtype, y.size,
                (x, y, ind, np.int64(y.size), *_geo(H, W, Ho, Wo, kernel_size, stride, padding, dilation)))
    return y, ind


def max_pool2d_backward(gy, indices, x_shape):
    """dL/dx: each gy goes to the input position its window's max came from."""
    if not on_gpu(gy):
        return _ref.max_pool2d_backward(gy, indices, x_shape)
    import cupy as cp

    max_pool_backward_shapes(gy, indices, x_shape)
    N, C, H, W = x_shape
    gx = cp.zeros((N, C, H, W), gy.dtype)
    g = cp.ascontiguousarray(gy)
    ind = cp.ascontiguousarray(cp.asarray(indices), dtype=np.int64)
    if g.size:
        _launch("max_pool2d_bwd", g.dtype, g.size,
                (g, ind, gx, np.int64(g.size), np.int64(g.shape[2] * g.shape[3]), np.int64(H * W)))
    return gx


def avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """The mean of every window (see the reference kernel for the divisor rule)."""
    if not on_gpu(x):
        return _ref.avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad)
    import cupy as cp

    Ho, Wo = pool_geometry("avg_pool2d_forward", x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    N, C, H, W = x.shape
    x = cp.ascontiguousarray(x)
    y = cp.empty((N, C, Ho, Wo), x.dtype)
    if y.size:
        _launch("avg_pool2d_fwd", x.dtype, y.size,
                (x, y, np.int64(y.size), *_geo(H, W, Ho, Wo, kernel_size, stride, padding, (1, 1)),
                 np.int32(bool(count_include_pad))))
    return y


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """dL/dx: each output gradient, divided by its window's count, added to every real tap."""
    if not on_gpu(gy):
        return _ref.avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad)
    import cupy as cp

    Ho, Wo = pool_geometry("avg_pool2d_backward", x_shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    N, C, H, W = x_shape
    check_grad_shape("avg_pool2d_backward", gy, (N, C, Ho, Wo))
    g = cp.ascontiguousarray(gy)
    gx = cp.empty((N, C, H, W), gy.dtype)
    if gx.size:
        _launch("avg_pool2d_bwd", g.dtype, gx.size,
                (g, gx, np.int64(gx.size), *_geo(H, W, Ho, Wo, kernel_size, stride, padding, (1, 1)),
                 np.int32(bool(count_include_pad))))
    return gx


KERNELS, PREFERRED = native_tables("pool", globals())   # every op above; native unless measured slower


def warmup():
    import cupy as cp

    for dt in (np.float32, np.float64):
        x = cp.zeros((1, 1, 4, 4), dt)
        y, ind = max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
        max_pool2d_backward(y, ind, x.shape)
        y = avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True)
        avg_pool2d_backward(y, x.shape, (2, 2), (2, 2), (0, 0), False, True)

"""Pooling: max_pool2d, avg_pool2d, their 1-D versions, and adaptive_avg_pool2d.

Pooling summarizes every window of every channel by one number:

* **max pooling** keeps the largest value. Its gradient flows only to the element
  that won (the *argmax*, remembered by the forward kernel as ``indices``);
  everything else in the window gets zero. An element that wins several
  overlapping windows collects the sum of their gradients.
* **average pooling** keeps the mean. Its gradient is shared equally: each element
  of a window receives ``gy / window_size``.

Both backward passes are linear in ``gy``, and each one's own derivative is simple
(gathering at the argmax; average pooling again), so they are written as Functions
too and second derivatives work.

The kernels (``max_pool2d_forward``/``_backward``, ``avg_pool2d_forward``/``_backward``)
come from the registry: readable NumPy in ``kernels/reference/pool.py``, Numba in
``kernels/cpu/pool.py``. ``adaptive_avg_pool2d`` needs no kernel: its windows are
separable, so it is two small matrix products.
"""
from __future__ import annotations

import numpy as np

from minigrad.autograd import Function
from minigrad.backend import array_module, device_of, get_kernel
from minigrad.ops.conv import _ntuple
from minigrad.ops.elementwise import mul
from minigrad.ops.index import Gather
from minigrad.ops.matmul import matmul
from minigrad.ops.shape import reshape, transpose
from minigrad.tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d"]


# ----------------------------------------------------------------------------- Functions

class MaxPool2d(Function):
    """y = max over each window;  gx = gy routed to each window's argmax (MaxPool2dBackward)

    ``indices_out`` (a list, or None) receives the argmax array: the second,
    non-differentiable output that ``return_indices=True`` hands to the caller."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode, indices_out=None):
        y, indices = get_kernel("max_pool2d_forward", device_of(x))(
            x, kernel_size, stride, padding, dilation, ceil_mode)
        ctx.save_for_backward(indices)
        ctx.x_shape = x.shape
        if indices_out is not None:
            indices_out.append(indices)
        return y

    @staticmethod
    def backward(ctx, gy):
        (indices,) = ctx.saved_tensors
        return MaxPool2dBackward.apply(gy, indices, ctx.x_shape)


class MaxPool2dBackward(Function):
    """gx = scatter-add of gy at the argmax positions;  d/dgy = h gathered at those positions"""

    @staticmethod
    def forward(ctx, gy, indices, x_shape):
        ctx.save_for_backward(indices)
        return get_kernel("max_pool2d_backward", device_of(gy))(gy, indices, x_shape)

    @staticmethod
    def backward(ctx, h):
        (indices,) = ctx.saved_tensors
        ind = indices.array
        N, C = ind.shape[:2]
        xp = array_module(device_of(ind))
        missing = ind < 0                         # a window that saw no input element
        flat = reshape(h, (N, C, -1))
        g = Gather.apply(flat, 2, xp.where(missing, 0, ind).reshape(N, C, -1))
        g = reshape(g, ind.shape)
        if missing.any():
            g = mul(g, Tensor((~missing).astype(h.dtype)))
        return g


class AvgPool2d(Function):
    """y = mean of each window;  gx = AvgPool2dBackward(gy) (each tap gets gy / count)"""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
        ctx.conf = (kernel_size, stride, padding, ceil_mode, count_include_pad)
        ctx.x_shape = x.shape
        return get_kernel("avg_pool2d_forward", device_of(x))(x, *ctx.conf)

    @staticmethod
    def backward(ctx, gy):
        return AvgPool2dBackward.apply(gy, ctx.x_shape, *ctx.conf)


class AvgPool2dBackward(Function):
    """gx = the transpose of average pooling applied to gy;  its own transpose is AvgPool2d"""

    @staticmethod
    def forward(ctx, gy, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad):
        ctx.conf = (kernel_size, stride, padding, ceil_mode, count_include_pad)
        return get_kernel("avg_pool2d_backward", device_of(gy))(gy, x_shape, *ctx.conf)

    @staticmethod
    def backward(ctx, h):
        return AvgPool2d.apply(h, *ctx.conf)


# ----------------------------------------------------------------------------- functional API

def _pool_out(size, k, s, p, d, ceil_mode):
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_args(op, input, kernel_size, stride, padding, dilation, ceil_mode, n):
    """Normalize and check pooling arguments for an n-D pool (n = 1 or 2)."""
    if input.ndim not in (n + 1, n + 2):
        names = "(C, L) or (N, C, L)" if n == 1 else "(C, H, W) or (N, C, H, W)"
        raise ValueError(f"{op}: expected a {n + 1}-D or {n + 2}-D input {names}, got shape {tuple(input.shape)}")
    k = _ntuple(kernel_size, n, "kernel_size", op, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        _ntuple(stride, n, "stride", op, 1)
    p = _ntuple(padding, n, "padding", op, 0)
    d = _ntuple(dilation, n, "dilation", op, 1)
    for i in range(n):
        if p[i] > k[i] // 2:
            raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k}")
    sizes = input.shape[-n:]
    outs = tuple(_pool_out(sizes[i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(n))
    if min(outs) < 1:
        raise ValueError(f"{op}: input of spatial size {tuple(sizes)} is too small for kernel {k} "
                         f"(padding {p}, dilation {d}): output size would be {outs}")
    return k, s, p, d


def _as_4d(input, n):
    """View an n-D pooling input as (N, C, H, W); returns it and a function undoing that."""
    shape = input.shape
    if n == 1:
        x = reshape(input, (-1,) + shape[-2:-1] + (1, shape[-1])) if input.ndim == 3 else \
            reshape(input, (1, shape[0], 1, shape[1]))
    else:
        x = input if input.ndim == 4 else reshape(input, (1,) + shape)

    def back(y):
        if n == 1:
            return reshape(y, shape[:-1] + (y.shape[-1],))
        return y if input.ndim == 4 else reshape(y, y.shape[1:])

    return x, back


def _max_pool(op, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, n):
    k, s, p, d = _pool_args(op, input, kernel_size, stride, padding, dilation, ceil_mode, n)
    if n == 1:
        k, s, p, d = (1,) + k, (1,) + s, (0,) + p, (1,) + d
    x, back = _as_4d(input, n)
    box = [] if return_indices else None
    y = back(MaxPool2d.apply(x, k, s, p, d, bool(ceil_mode), box))
    if return_indices:
        return y, Tensor(box[0].reshape(y.shape))
    return y


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over every (kH, kW) window of (N, C, H, W) or (C, H, W) input.

    ``stride`` defaults to ``kernel_size``; padding counts as -inf (it never wins) and
    may be at most half the kernel. ``return_indices=True`` also returns the argmax of
    each window as a flat index ``row * W + col`` into its input plane (int64), or -1
    for a (dilated) window that covers only padding. As ``torch.nn.functional.max_pool2d``.
    """
    return _max_pool("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, 2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over every window of length k of (N, C, L) or (C, L) input (indices index L)."""
    return _max_pool("max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, 1)


def _avg_pool(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad, n):
    k, s, p, _ = _pool_args(op, input, kernel_size, stride, padding, 1, ceil_mode, n)
    if n == 1:
        k, s, p = (1,) + k, (1,) + s, (0,) + p
    if input.array.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating-point input, got dtype {input.dtype}")
    x, back = _as_4d(input, n)
    return back(AvgPool2d.apply(x, k, s, p, bool(ceil_mode), bool(count_include_pad)))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over every (kH, kW) window of (N, C, H, W) or (C, H, W) input.

    Padding is zeros; ``count_include_pad`` says whether those zeros count in the
    divisor. As ``torch.nn.functional.avg_pool2d`` (without ``divisor_override``).
    """
    return _avg_pool("avg_pool2d", input, kernel_size, stride, padding, ceil_mode, count_include_pad, 2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over every window of length k of (N, C, L) or (C, L) input."""
    return _avg_pool("avg_pool1d", input, kernel_size, stride, padding, ceil_mode, count_include_pad, 1)


def _adaptive_matrix(xp, n_in, n_out, dtype):
    """(n_out, n_in) averaging matrix: row i averages inputs floor(i*n_in/n_out) ..
    ceil((i+1)*n_in/n_out) - 1 (PyTorch's adaptive windows; they may overlap)."""
    A = np.zeros((n_out, n_in), dtype=dtype)
    for i in range(n_out):
        start = (i * n_in) // n_out
        end = -((-(i + 1) * n_in) // n_out)
        A[i, start:end] = 1.0 / (end - start)
    return A if xp is np else xp.asarray(A)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (H_out, W_out), whatever the input size.

    ``output_size`` is an int or a pair; ``None`` keeps that input dimension. Window i
    along an axis of length n covers ``floor(i*n/out) .. ceil((i+1)*n/out) - 1``. When
    out divides n these are the windows of ``avg_pool2d(x, n // out)``; otherwise they
    vary in size (and may overlap), but each is a rectangle, so its mean is a mean
    over rows then over columns: ``y = A_h @ x @ A_w^T`` with averaging matrices
    A_h (H_out, H) and A_w (W_out, W).
    """
    op = "adaptive_avg_pool2d"
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {tuple(input.shape)}")
    if input.array.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating-point input, got dtype {input.dtype}")
    H, W = input.shape[-2:]
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
        size = (H if output_size[0] is None else output_size[0], W if output_size[1] is None else output_size[1])
    else:
        size = (output_size, output_size)
    Ho, Wo = _ntuple(size, 2, "output_size", op, 1)
    if min(H, W) < 1:
        raise ValueError(f"{op}: input has an empty spatial dimension: shape {tuple(input.shape)}")
    if H % Ho == 0 and W % Wo == 0:     # equal, non-overlapping windows: a plain average pool
        return avg_pool2d(input, (H // Ho, W // Wo))
    xp = array_module(input.device)
    A_h = Tensor(_adaptive_matrix(xp, H, Ho, input.dtype))
    A_w = Tensor(_adaptive_matrix(xp, W, Wo, input.dtype))
    return matmul(matmul(A_h, input), transpose(A_w, 0, 1))

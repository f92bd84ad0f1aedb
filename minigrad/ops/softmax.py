"""Softmax and log-softmax along any dimension.

    softmax(x)_i     = exp(x_i) / sum_j exp(x_j)
    log_softmax(x)_i = x_i - log sum_j exp(x_j)

The kernels (``softmax``, ``log_softmax`` and their backwards) work on the last
axis; these ops move ``dim`` there and back (two views, no copy). Both subtract the
row max before exponentiating, so logits of 1e4 give finite, exact results.

Derivatives, with y the output and g the incoming gradient, summing over ``dim``:

    softmax:      gx = y * (g - sum(g * y))      (dy_i/dx_j = y_i ([i = j] - y_j))
    log_softmax:  gx = g - exp(y) * sum(g)       (dy_i/dx_j = [i = j] - softmax_j)

Backward runs the fused kernel; when a graph of the backward itself is being
recorded (``create_graph=True``, for second derivatives) it uses the same formula
written with Tensor ops instead, so double backward works.
"""
from __future__ import annotations

from minigrad.autograd import Function, is_grad_enabled, kernel_gradients
from minigrad.backend import device_of, get_kernel
from minigrad.ops.elementwise import exp
from minigrad.ops.reduce import sum as _sum
from minigrad.ops.shape import _norm_dim, movedim, reshape

__all__ = ["softmax", "log_softmax"]


class _RowOp(Function):
    """y = the ``kernel`` applied to each row (the last axis); backward: the kernel
    ``<kernel>_backward``, or under ``create_graph=True`` the same formula in Tensor ops
    (``_grad``), so that double backward works."""

    kernel = None

    @staticmethod
    def _grad(g, y):
        """gx from the incoming gradient and the output, with Tensor ops."""
        raise NotImplementedError

    @staticmethod
    def forward(ctx, x):
        y = get_kernel(ctx.kernel, device_of(x))(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if is_grad_enabled():  # create_graph: differentiable Tensor ops
            return ctx._grad(g, y)
        return kernel_gradients(ctx, get_kernel(ctx.kernel + "_backward", device_of(y.array))(g.array, y.array))


class Softmax(_RowOp):
    """y = softmax(x) over the last axis;  gx = y * (g - sum(g * y, last axis))"""
    kernel = "softmax"
    _grad = staticmethod(lambda g, y: y * (g - _sum(g * y, dim=-1, keepdim=True)))


class LogSoftmax(_RowOp):
    """y = log_softmax(x) over the last axis;  gx = g - exp(y) * sum(g, last axis)"""
    kernel = "log_softmax"
    _grad = staticmethod(lambda g, y: g - exp(y) * _sum(g, dim=-1, keepdim=True))


def _along(fn, input, dim, dtype, op):
    if dtype is not None:
        input = input.to(dtype)
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got dtype {input.dtype} "
                        "(pass dtype=minigrad.float32 to convert)")
    if input.ndim == 0:
        return reshape(fn.apply(reshape(input, (1,))), ())
    d = _norm_dim(dim, input.ndim, op)
    last = input.ndim - 1
    if d == last:
        return fn.apply(input)
    return movedim(fn.apply(movedim(input, d, last)), last, d)


def softmax(input, dim=-1, dtype=None):
    """Softmax along ``dim``: non-negative values that sum to 1 along it.

    ``dtype`` (optional) converts the input first, as in PyTorch.
    """
    return _along(Softmax, input, dim, dtype, "softmax")


def log_softmax(input, dim=-1, dtype=None):
    """log(softmax(input)) along ``dim``, computed without forming the softmax (stable)."""
    return _along(LogSoftmax, input, dim, dtype, "log_softmax")


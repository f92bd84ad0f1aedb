"""Layer normalisation: normalise each sample over its last dimensions, then scale and shift.

    mean = mean(x),  var = mean((x - mean)^2)   over the ``normalized_shape`` axes
    y    = (x - mean) / sqrt(var + eps) * weight + bias

The op flattens ``normalized_shape`` into one last axis (a view) and calls the
``layer_norm_forward`` kernel, which returns y together with each row's mean and
1/sqrt(var + eps) (``rstd``) for the backward. With xhat = (x - mean) * rstd and
gh = g * weight (row by row, means over the normalised axis):

    gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat))
    gweight = sum over rows of g * xhat,     gbias = sum over rows of g

The first line is the whole trick of normalisation layers: every x of a row moves
the row's mean and variance, hence the two correction terms. Under
``create_graph=True`` the backward is the same formula in Tensor ops (so second
derivatives, e.g. gradient penalties, work); otherwise it is the fused kernel.
"""
from __future__ import annotations

from minigrad.autograd import Function, is_grad_enabled, kernel_gradients
from minigrad.backend import device_of, get_kernel
from minigrad.ops.elementwise import rsqrt
from minigrad.ops.reduce import mean as _mean, sum as _sum
from minigrad.ops.shape import reshape
from minigrad.tensor import Tensor

__all__ = ["layer_norm"]


class LayerNorm(Function):
    """y = (x - mean) * rstd * w + b over the last axis;
    gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)), gh = g * w;  gw = sum(g * xhat);  gb = sum(g)"""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        y, mean, rstd = get_kernel("layer_norm_forward", device_of(x))(x, weight, bias, eps)
        ctx.save_for_backward(x, weight, mean, rstd)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, mean, rstd = ctx.saved_tensors
        _, need_w, need_b = (ctx.needs_input_grad + (False, False, False))[:3]
        if is_grad_enabled():  # create_graph: the same formula, differentiable
            mu = _mean(x, dim=-1, keepdim=True)
            xc = x - mu
            rstd = rsqrt(_mean(xc * xc, dim=-1, keepdim=True) + ctx.eps)
            xhat = xc * rstd
            gh = g if w is None else g * w
            gx = rstd * (gh - _mean(gh, dim=-1, keepdim=True) - xhat * _mean(gh * xhat, dim=-1, keepdim=True))
            D = x.shape[-1]
            gw = _sum(reshape(g * xhat, (-1, D)), dim=0) if need_w else None
            gb = _sum(reshape(g, (-1, D)), dim=0) if need_b else None
            return gx, gw, gb
        gx, gw, gb = get_kernel("layer_norm_backward", device_of(x.array))(
            g.array, x.array, None if w is None else w.array, mean.array, rstd.array)
        return kernel_gradients(ctx, gx, (gw if need_w else None), (gb if need_b else None))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the trailing ``normalized_shape`` dimensions (as PyTorch).

    ``weight`` and ``bias`` (optional) have shape ``normalized_shape``.
    """
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    shape = tuple(int(s) for s in normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must match the last dimensions of the "
                         f"input, got input of shape {tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise TypeError(f"layer_norm: expected a floating point input, got dtype {input.dtype}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None:
            if not isinstance(p, Tensor):
                raise TypeError(f"layer_norm: {name} must be a Tensor or None, got {type(p).__name__}")
            if tuple(p.shape) != shape:
                raise ValueError(f"layer_norm: {name} must have shape normalized_shape {shape}, got {tuple(p.shape)}")
    D = 1
    for s in shape:
        D *= s
    x = reshape(input, input.shape[:input.ndim - k] + (D,)) if k != 1 else input
    w = None if weight is None else reshape(weight.to(input.dtype), (D,))
    b = None if bias is None else reshape(bias.to(input.dtype), (D,))
    y = LayerNorm.apply(x, w, b, float(eps))
    return reshape(y, input.shape) if k != 1 else y

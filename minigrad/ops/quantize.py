"""Fake quantization as a differentiable op: round a float tensor onto an integer grid
and back, with the straight-through estimator as its derivative.

The quantization scheme (``q = clamp(round(r / scale) + zero_point, qmin, qmax)``,
``r ~= scale * (q - zero_point)``), the observers that choose ``scale`` and
``zero_point``, and :func:`minigrad.compress.quantize.fake_quantize`, which checks the
arguments and calls this op, are in :mod:`minigrad.compress.quantize`. Training with
this op in the forward pass is quantization-aware training (QAT).
"""
from __future__ import annotations

from minigrad.autograd import Function
from minigrad.backend import xp_of

__all__ = ["FakeQuantizeFunction"]


class FakeQuantizeFunction(Function):
    """y = dequantize(quantize(x)) (float in, float out: x rounded onto the int grid);

    dy/dx = 1 where round(x / scale) + zero_point lies inside [qmin, qmax], 0 where it
    was clamped: the **straight-through estimator**. The rounding itself has
    derivative 0 almost everywhere, which would stop all learning; STE pretends it
    is the identity, and only clamping (which really does make y ignore x) blocks the
    gradient. scale and zero_point get no gradient (they come from observers)."""

    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        xp = xp_of(x)
        q = xp.rint(x / scale.astype(x.dtype)) + zero_point
        inside = (q >= qmin) & (q <= qmax)
        ctx.save_for_backward(inside)
        return ((xp.clip(q, qmin, qmax) - zero_point) * scale.astype(x.dtype)).astype(x.dtype)

    @staticmethod
    def backward(ctx, gy):
        (inside,) = ctx.saved_tensors
        return gy * inside.to(gy.dtype)
